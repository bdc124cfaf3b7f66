"""The layer functions that `lt.nn.functional` gets from the runtime: convolution, pooling,
normalization, embedding and bilinear, all written over the public Tensor API.

Convolution and pooling unfold the (padded) input into its kernel windows: one strided slice per
kernel offset (a view), stacked, so a window axis of size kh*kw sits beside the channels. A
convolution is then one batched matmul of the weight with those columns (im2col); a pooling is a
reduction over the window axis. Autograd differentiates the slices, the stack and the matmul.
"""
from __future__ import annotations

import math

import lazytensor as lt
from lazytensor import Tensor

__all__ = ["conv1d", "conv2d", "max_pool1d", "max_pool2d", "avg_pool1d", "avg_pool2d", "adaptive_avg_pool1d",
           "adaptive_avg_pool2d", "layer_norm", "batch_norm", "embedding", "bilinear"]


def _pair(x, name: str = "value") -> tuple:
    if isinstance(x, int):
        return (x, x)
    x = tuple(x)
    if len(x) == 1:
        return (x[0], x[0])
    if len(x) != 2:
        raise RuntimeError(f"expected {name} to be a single integer value or a list of 2 values")
    return x


def _out_size(size: int, k: int, s: int, d: int, pad: int, ceil_mode: bool = False) -> int:
    span = size + 2 * pad - d * (k - 1) - 1
    if ceil_mode:
        out = -(-span // s) + 1
        if (out - 1) * s >= size + pad:  # the last window must start inside the input or left padding
            out -= 1
        return out
    return span // s + 1


def _windows(x: Tensor, k: tuple, s: tuple, d: tuple, out: tuple) -> Tensor:
    """(N, C, H, W) -> (N, C, kh*kw, Ho, Wo): the kernel windows of an already padded input."""
    (kh, kw), (sh, sw), (dh, dw), (ho, wo) = k, s, d, out
    cols = []
    for i in range(kh):
        for j in range(kw):
            cols.append(x[:, :, i * dh: i * dh + (ho - 1) * sh + 1: sh, j * dw: j * dw + (wo - 1) * sw + 1: sw])
    return lt.stack(cols, dim=2)


def _same_pads(k: tuple, d: tuple) -> tuple:
    """F.pad's (left, right, top, bottom) for padding='same' (the odd one extra goes right/bottom)."""
    pads = []
    for kk, dd in zip(reversed(k), reversed(d)):
        total = dd * (kk - 1)
        pads += [total // 2, total - total // 2]
    return tuple(pads)


def _conv(input: Tensor, weight: Tensor, bias, stride, padding, dilation, groups: int, nd: int) -> Tensor:
    name = f"conv{nd}d"
    if input.dim() not in (nd + 1, nd + 2):
        raise RuntimeError(f"Expected {nd + 1}D (unbatched) or {nd + 2}D (batched) input to {name}, but got "
                           f"input of size: {list(input.shape)}")
    unbatched = input.dim() == nd + 1
    if unbatched:
        input = input.unsqueeze(0)
    if weight.dim() != nd + 2:
        raise RuntimeError(f"weight should have {nd + 2} dimensions for {name}, but got {list(weight.shape)}")
    if nd == 1:  # a 1-d convolution is a 2-d one over a height of 1
        input, weight = input.unsqueeze(2), weight.unsqueeze(2)
        stride, dilation = (1, _one(stride)), (1, _one(dilation))
        padding = padding if isinstance(padding, str) else (0, _one(padding))
    n, c, h, w = input.shape
    o, cg, kh, kw = weight.shape
    if groups < 1:
        raise RuntimeError("non-positive groups is not supported")
    if c != cg * groups:
        wshape = list(weight.shape) if nd == 2 else [o, cg, kw]
        ishape = list(input.shape) if nd == 2 else [n, c, w]
        raise RuntimeError(f"Given groups={groups}, weight of size {wshape}, expected input{ishape} to have "
                           f"{cg * groups} channels, but got {c} channels instead")
    if o % groups:
        raise RuntimeError("Given groups=%d, expected weight to be divisible by %d at dimension 0, but got "
                           "weight of size %s instead" % (groups, groups, list(weight.shape)))
    s, d = _pair(stride, "stride"), _pair(dilation, "dilation")
    if isinstance(padding, str):
        if padding == "valid":
            pads = (0, 0, 0, 0)
        elif padding == "same":
            if s != (1, 1):
                raise ValueError("padding='same' is not supported for strided convolutions")
            pads = _same_pads((kh, kw), d)
        else:
            raise ValueError(f"Invalid padding string '{padding}', should be one of {{'valid', 'same'}}")
    else:
        ph, pw = _pair(padding, "padding")
        pads = (pw, pw, ph, ph)
    x = lt.nn.functional.pad(input, pads) if any(pads) else input
    hp, wp = x.shape[2], x.shape[3]
    ho = (hp - d[0] * (kh - 1) - 1) // s[0] + 1
    wo = (wp - d[1] * (kw - 1) - 1) // s[1] + 1
    if ho <= 0 or wo <= 0:
        raise RuntimeError(f"Calculated padded input size per channel: ({hp} x {wp}). Kernel size: "
                           f"({d[0] * (kh - 1) + 1} x {d[1] * (kw - 1) + 1}). Kernel size can't be greater "
                           "than actual input size")
    cols = _windows(x, (kh, kw), s, d, (ho, wo)).reshape(n, groups, cg * kh * kw, ho * wo)
    out = weight.reshape(groups, o // groups, cg * kh * kw) @ cols  # (N, G, O/G, L)
    out = out.reshape(n, o, ho, wo)
    if bias is not None:
        out = out + bias.reshape(1, o, 1, 1)
    if nd == 1:
        out = out.squeeze(2)
    return out.squeeze(0) if unbatched else out


def _one(x) -> int:
    if isinstance(x, int):
        return x
    (v,) = tuple(x)
    return v


def conv1d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0, dilation=1,
           groups: int = 1) -> Tensor:
    """1-d convolution (cross-correlation) over (N, C, L) inputs."""
    return _conv(input, weight, bias, stride, padding, dilation, groups, 1)


def conv2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0, dilation=1,
           groups: int = 1) -> Tensor:
    """2-d convolution (cross-correlation) over (N, C, H, W) inputs."""
    return _conv(input, weight, bias, stride, padding, dilation, groups, 2)


def _pool_setup(input: Tensor, kernel_size, stride, padding, dilation, ceil_mode: bool, name: str):
    if input.dim() not in (3, 4):
        raise RuntimeError(f"{name}: Expected 3D or 4D (batch mode) tensor for input, but got: "
                           f"{list(input.shape)}")
    k = _pair(kernel_size, "kernel_size")
    s = k if stride is None or (not isinstance(stride, int) and len(tuple(stride)) == 0) else _pair(stride)
    p, d = _pair(padding, "padding"), _pair(dilation, "dilation")
    for i in range(2):
        if p[i] > (d[i] * (k[i] - 1) + 1) // 2:
            raise RuntimeError(f"pad should be at most half of effective kernel size, but got pad={p[i]}, "
                               f"kernel_size={k[i]} and dilation={d[i]}")
    h, w = input.shape[-2:]
    out = (_out_size(h, k[0], s[0], d[0], p[0], ceil_mode), _out_size(w, k[1], s[1], d[1], p[1], ceil_mode))
    if out[0] <= 0 or out[1] <= 0:
        raise RuntimeError(f"Given input size: ({input.shape[-3]}x{h}x{w}). Calculated output size: "
                           f"({input.shape[-3]}x{out[0]}x{out[1]}). Output size is too small")
    # extra right/bottom padding where ceil_mode lets the last window hang over the edge
    extra = tuple(max(0, (out[i] - 1) * s[i] + d[i] * (k[i] - 1) + 1 - ((h, w)[i] + 2 * p[i])) for i in range(2))
    return k, s, p, d, out, extra


def max_pool2d(input: Tensor, kernel_size, stride=None, padding=0, dilation=1, ceil_mode: bool = False,
               return_indices: bool = False):
    """Max over each kernel window (padding counts as -inf)."""
    k, s, p, d, out, extra = _pool_setup(input, kernel_size, stride, padding, dilation, ceil_mode, "max_pool2d")
    unbatched = input.dim() == 3
    x = input.unsqueeze(0) if unbatched else input
    pads = (p[1], p[1] + extra[1], p[0], p[0] + extra[0])
    if any(pads):
        x = lt.nn.functional.pad(x, pads, value=-math.inf)
    win = _windows(x, k, s, d, out)  # (N, C, K, Ho, Wo)
    result = win.amax(dim=2)
    if return_indices:
        # the flat index (row * W + col) in the unpadded input of each window's first maximum
        kidx = win.argmax(dim=2)
        w_in = input.shape[-1]
        oh = lt.arange(out[0]).reshape(out[0], 1) * s[0] - p[0]
        ow = lt.arange(out[1]).reshape(1, out[1]) * s[1] - p[1]
        row = oh + (kidx // k[1]) * d[0]
        col = ow + (kidx % k[1]) * d[1]
        indices = row * w_in + col
        if unbatched:
            return result.squeeze(0), indices.squeeze(0)
        return result, indices
    return result.squeeze(0) if unbatched else result


def max_pool1d(input: Tensor, kernel_size, stride=None, padding=0, dilation=1, ceil_mode: bool = False,
               return_indices: bool = False):
    """Max over each window of (N, C, L) inputs."""
    stride = kernel_size if stride is None else stride
    out = max_pool2d(input.unsqueeze(-2), (1, _one(kernel_size)), (1, _one(stride)), (0, _one(padding)),
                     (1, _one(dilation)), ceil_mode, return_indices)
    if return_indices:
        return out[0].squeeze(-2), out[1].squeeze(-2)
    return out.squeeze(-2)


def avg_pool2d(input: Tensor, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
               count_include_pad: bool = True, divisor_override: int | None = None) -> Tensor:
    """Mean over each kernel window."""
    k, s, p, d, out, extra = _pool_setup(input, kernel_size, stride, padding, 1, ceil_mode, "avg_pool2d")
    unbatched = input.dim() == 3
    x = input.unsqueeze(0) if unbatched else input
    pads = (p[1], p[1] + extra[1], p[0], p[0] + extra[0])
    if any(pads):
        x = lt.nn.functional.pad(x, pads)
    total = _windows(x, k, s, d, out).sum(dim=2)
    if divisor_override is not None:
        result = total / divisor_override
    elif not any(pads):
        result = total / (k[0] * k[1])
    else:
        # PyTorch divides by the window's cells inside the input (and inside the padding when
        # count_include_pad), never by those past the edge that ceil_mode adds: count them by pooling ones
        h, w = input.shape[-2:]
        ones = lt.ones(1, 1, h, w, dtype=input.dtype)
        ones = lt.nn.functional.pad(ones, (p[1], p[1], p[0], p[0]), value=1.0 if count_include_pad else 0.0)
        ones = lt.nn.functional.pad(ones, (0, extra[1], 0, extra[0]))
        result = total / _windows(ones, k, s, d, out).sum(dim=2)
    return result.squeeze(0) if unbatched else result


def avg_pool1d(input: Tensor, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
               count_include_pad: bool = True) -> Tensor:
    """Mean over each window of (N, C, L) inputs."""
    stride = kernel_size if stride is None else stride
    return avg_pool2d(input.unsqueeze(-2), (1, _one(kernel_size)), (1, _one(stride)), (0, _one(padding)),
                      ceil_mode, count_include_pad).squeeze(-2)


def _adaptive_mean(x: Tensor, dim: int, out: int) -> Tensor:
    size = x.shape[dim]
    if out == size:
        return x
    if size % out == 0:
        shape = list(x.shape)
        shape[dim:dim + 1] = [out, size // out]
        return x.reshape(shape).mean(dim + 1)
    parts = []
    for i in range(out):
        start, end = (i * size) // out, -(-((i + 1) * size) // out)
        parts.append(x.narrow(dim, start, end - start).mean(dim, keepdim=True))
    return lt.cat(parts, dim)


def adaptive_avg_pool2d(input: Tensor, output_size) -> Tensor:
    """Mean over the windows PyTorch picks so that the output has `output_size`."""
    if input.dim() not in (3, 4):
        raise RuntimeError(f"adaptive_avg_pool2d(): Expected 3D or 4D tensor, but got {list(input.shape)}")
    oh, ow = _pair(output_size, "output_size")
    oh = input.shape[-2] if oh is None else oh
    ow = input.shape[-1] if ow is None else ow
    return _adaptive_mean(_adaptive_mean(input, input.dim() - 2, oh), input.dim() - 1, ow)


def adaptive_avg_pool1d(input: Tensor, output_size) -> Tensor:
    """Mean over the windows PyTorch picks so that the output has `output_size`."""
    return _adaptive_mean(input, input.dim() - 1, _one(output_size))


def layer_norm(input: Tensor, normalized_shape, weight: Tensor | None = None, bias: Tensor | None = None,
               eps: float = 1e-5) -> Tensor:
    """Normalize over the last dims (biased variance), then scale and shift."""
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    nd = len(shape)
    if tuple(input.shape[input.dim() - nd:]) != shape or input.dim() < nd:
        raise RuntimeError(f"Given normalized_shape={list(shape)}, expected input with shape "
                           f"[*, {', '.join(str(s) for s in shape)}], but got input of size{list(input.shape)}")
    dims = tuple(range(input.dim() - nd, input.dim()))
    mean = input.mean(dims, keepdim=True)
    centered = input - mean
    var = (centered * centered).mean(dims, keepdim=True)
    out = centered * lt.rsqrt(var + eps)
    if weight is not None:
        out = out * weight
    if bias is not None:
        out = out + bias
    return out


def batch_norm(input: Tensor, running_mean: Tensor | None, running_var: Tensor | None,
               weight: Tensor | None = None, bias: Tensor | None = None, training: bool = False,
               momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Normalize each channel (dim 1) by the batch's statistics (training) or the running ones."""
    if input.dim() < 2:
        raise ValueError(f"expected 2D or more input (got {input.dim()}D input)")
    c = input.shape[1]
    dims = (0,) + tuple(range(2, input.dim()))
    shape = (1, c) + (1,) * (input.dim() - 2)
    if training:
        count = input.numel() // c
        if count <= 1:
            raise ValueError(f"Expected more than 1 value per channel when training, got input size {input.shape}")
        mean = input.mean(dims, keepdim=True)
        centered = input - mean
        var = (centered * centered).mean(dims, keepdim=True)
        if running_mean is not None and running_var is not None:
            with lt.no_grad():
                running_mean.mul_(1 - momentum).add_(mean.reshape(c).detach(), alpha=momentum)
                running_var.mul_(1 - momentum).add_(var.reshape(c).detach() * (count / (count - 1)),
                                                    alpha=momentum)
        out = centered * lt.rsqrt(var + eps)
    else:
        if running_mean is None or running_var is None:
            raise RuntimeError("running_mean and running_var must be defined in evaluation mode")
        out = (input - running_mean.reshape(shape)) * lt.rsqrt(running_var.reshape(shape) + eps)
    if weight is not None:
        out = out * weight.reshape(shape)
    if bias is not None:
        out = out + bias.reshape(shape)
    return out


def embedding(input: Tensor, weight: Tensor, padding_idx: int | None = None, max_norm: float | None = None,
              norm_type: float = 2.0, scale_grad_by_freq: bool = False, sparse: bool = False) -> Tensor:
    """Rows of `weight` picked by the integer `input`; the padding row gets no gradient."""
    if max_norm is not None or scale_grad_by_freq or sparse:
        raise NotImplementedError("embedding: max_norm, scale_grad_by_freq and sparse are not supported")
    if input.dtype not in (lt.int64, lt.int32):
        raise RuntimeError("Expected tensor for argument #1 'indices' to have one of the following scalar types: "
                           f"Long, Int; but got {input.dtype} instead (while checking arguments for embedding)")
    out = weight.index_select(0, input.reshape(-1)).reshape(*input.shape, weight.shape[1])
    if padding_idx is not None:
        if padding_idx < 0:
            padding_idx += weight.shape[0]
        # the padding row's value, but no gradient: a sum of a tracked and a detached part (a single
        # where(mask, out.detach(), out) loses the gradient: both branches are the same hash-consed node)
        pad = (input == padding_idx).unsqueeze(-1)
        out = lt.where(pad, 0.0, out) + lt.where(pad, out.detach(), 0.0)
    return out


def bilinear(input1: Tensor, input2: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """y = x1^T A x2 + b for each output feature."""
    o, i, j = weight.shape
    if input1.shape[-1] != i or input2.shape[-1] != j:
        raise RuntimeError(f"bilinear(): input size does not match weight size: got {input1.shape[-1]} and "
                           f"{input2.shape[-1]} but expected {i} and {j}")
    lead = tuple(input1.shape[:-1])
    x1, x2 = input1.reshape(-1, i), input2.reshape(-1, j)
    t = (x1 @ weight.permute(1, 0, 2).reshape(i, o * j)).reshape(-1, o, j)
    out = (t * x2.unsqueeze(1)).sum(-1)
    if bias is not None:
        out = out + bias
    return out.reshape(*lead, o)
