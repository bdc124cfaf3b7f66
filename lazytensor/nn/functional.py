"""`lt.nn.functional`: activations and losses with PyTorch's signatures, over the Tensor API.

Each function is one tracked op (its grad_fn carries PyTorch's name); its gradient is the
compiler's derivative of the function's primitive graph. Where a textbook formula would overflow
(log(sigmoid(x)), BCE on logits, cross entropy on large logits) the forward graph is built in a
stable form (|x|-based softplus, log_softmax with the max subtracted), so that graph and its
derivative stay finite wherever PyTorch's are.
"""
from __future__ import annotations

import math

import lazytensor as lt
from lazytensor import autograd
from lazytensor.compiler.ops import Op, make
from lazytensor.tensor import Tensor, broadcast_shapes, const, wrap

__all__ = ["relu", "relu_", "leaky_relu", "gelu", "silu", "elu", "softplus", "sigmoid", "tanh", "softmax",
           "log_softmax", "logsigmoid", "dropout", "linear", "one_hot", "normalize", "pad",
           "binary_cross_entropy_with_logits", "binary_cross_entropy", "cross_entropy", "nll_loss", "mse_loss",
           "l1_loss", "smooth_l1_loss", "huber_loss", "kl_div"]


def _op(name):
    """Track the decorated function as one op whose grad_fn is named `name` (or name(*args))."""
    return lambda fn: autograd._tracked(fn, name)


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "none":
        return loss
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    raise ValueError(f"{reduction} is not a valid value for reduction")


def _legacy_reduction(size_average, reduce, reduction: str) -> str:
    """PyTorch's deprecated size_average/reduce arguments, mapped to `reduction`."""
    if size_average is None and reduce is None:
        return reduction
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    return ("mean" if size_average else "sum") if reduce else "none"


def _broadcast(a: Tensor, b: Tensor) -> tuple:
    shape = broadcast_shapes(tuple(a.shape), tuple(b.shape))
    return lt.broadcast_to(a, shape), lt.broadcast_to(b, shape)


def _softplus0(x: Tensor) -> Tensor:
    """log(1 + exp(x)) = max(x, 0) + log(1 + exp(-|x|)): no overflow for any x, and a derivative
    that stays finite (log1p's composite graph divides 0 by 0 where exp(-|x|) underflows)."""
    a = lt.abs(x)
    # max(x, 0) as (x + |x|) / 2: exact, and its derivative at 0 is 1/2, so the whole is sigmoid(0) there
    return 0.5 * (x + a) + lt.log(1 + lt.exp(-a))


def _same_shape(input: Tensor, target: Tensor, what: str) -> None:
    if tuple(input.shape) != tuple(target.shape):
        raise ValueError(f"Target size ({tuple(target.shape)}) must be the same as input size "
                         f"({tuple(input.shape)})")


# ---- activations ----

def relu(input: Tensor, inplace: bool = False) -> Tensor:
    """max(x, 0)."""
    return input.relu_() if inplace else lt.relu(input)


def relu_(input: Tensor) -> Tensor:
    """max(x, 0) in place."""
    return input.relu_()


@_op("LeakyReluBackward0")
def _leaky_relu(input: Tensor, negative_slope: float) -> Tensor:
    return lt.where(input > 0, input, input * negative_slope)


def leaky_relu(input: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    """x where x > 0, else negative_slope * x."""
    out = _leaky_relu(input, negative_slope)
    return input.copy_(out) if inplace else out


# erf for float32/float64 inputs: Numerical Recipes' Chebyshev fit of erfc, |relative error| < 1.2e-7
_ERFC = (-1.26551223, 1.00002368, 0.37409196, 0.09678418, -0.18628806, 0.27886807, -1.13520398, 1.48851587,
         -0.82215223, 0.17087277)


def _erf(x: Tensor) -> Tensor:
    z = lt.abs(x)
    t = 1.0 / (1.0 + 0.5 * z)
    poly = t * 0 + _ERFC[-1]
    for c in reversed(_ERFC[:-1]):
        poly = poly * t + c
    erfc = t * lt.exp(-z * z + poly)
    return lt.sign(x) * (1.0 - erfc)


@_op("GeluBackward0")
def gelu(input: Tensor, approximate: str = "none") -> Tensor:
    """x * Phi(x) ('none', with a 1e-7-accurate erf) or its tanh approximation ('tanh')."""
    if approximate == "tanh":
        inner = math.sqrt(2.0 / math.pi) * (input + 0.044715 * input * input * input)
        return 0.5 * input * (1.0 + lt.tanh(inner))
    if approximate != "none":
        raise RuntimeError(f"approximate argument must be either none or tanh.")
    return 0.5 * input * (1.0 + _erf(input * (1.0 / math.sqrt(2.0))))


@_op("SiluBackward0")
def silu(input: Tensor, inplace: bool = False) -> Tensor:
    """x * sigmoid(x)."""
    return input * lt.sigmoid(input)


@_op("EluBackward0")
def elu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """x where x > 0, else alpha * (exp(x) - 1)."""
    return lt.where(input > 0, input, alpha * lt.expm1(lt.clamp_max(input, 0)))


@_op("SoftplusBackward0")
def softplus(input: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """log(1 + exp(beta x)) / beta, and x itself where beta x > threshold."""
    bx = input * beta
    return lt.where(bx > threshold, input, _softplus0(bx) / beta)


def sigmoid(input: Tensor) -> Tensor:
    """1 / (1 + exp(-x))."""
    return lt.sigmoid(input)


def tanh(input: Tensor) -> Tensor:
    """The hyperbolic tangent."""
    return lt.tanh(input)


def _softmax_dim(ndim: int) -> int:
    return 0 if ndim in (0, 1, 3) else 1


def softmax(input: Tensor, dim: int | None = None, _stacklevel: int = 3, dtype=None) -> Tensor:
    """exp(x) / sum(exp(x)) along `dim` (stable: the max is subtracted)."""
    return lt.softmax(input, _softmax_dim(input.ndim) if dim is None else dim, dtype=dtype)


def log_softmax(input: Tensor, dim: int | None = None, _stacklevel: int = 3, dtype=None) -> Tensor:
    """x - logsumexp(x) along `dim` (stable)."""
    return lt.log_softmax(input, _softmax_dim(input.ndim) if dim is None else dim, dtype=dtype)


@_op("LogSigmoidBackward0")
def logsigmoid(input: Tensor) -> Tensor:
    """log(sigmoid(x)) = -softplus(-x), finite for every x."""
    return -_softplus0(-input)


@_op("NativeDropoutBackward0")
def _dropout(input: Tensor, p: float) -> Tensor:
    keep = lt.rand_like(input) >= p
    return lt.where(keep, input * (1.0 / (1.0 - p)), 0.0) if p < 1 else input * 0.0


def dropout(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zero each element with probability p and scale the rest by 1 / (1 - p) (only while training)."""
    if p < 0.0 or p > 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not training or p == 0.0:
        return input
    out = _dropout(input, p)
    return input.copy_(out) if inplace else out


def _linear_name(input, weight, bias=None):
    if bias is None:
        return "MmBackward0" if input.ndim == 2 else ("SqueezeBackward4" if input.ndim == 1 else "UnsafeViewBackward0")
    return "AddmmBackward0" if input.ndim == 2 else ("ViewBackward0" if input.ndim > 2 else "AddBackward0")


@_op(_linear_name)
def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """input @ weight.T + bias."""
    out = lt.matmul(input, weight.t() if weight.ndim == 2 else weight)
    return out if bias is None else out + bias


def one_hot(tensor: Tensor, num_classes: int = -1) -> Tensor:
    """int64 one-hot rows: out[..., c] = (tensor[...] == c)."""
    if tensor.dtype is not lt.int64:
        raise RuntimeError("one_hot is only applicable to index tensor of type LongTensor.")
    if num_classes == -1:
        num_classes = int(tensor.max().item()) + 1 if tensor.numel() else 0
    if tensor.numel() and int(tensor.min().item()) < 0:
        raise RuntimeError("Class values must be non-negative.")
    if tensor.numel() and int(tensor.max().item()) >= num_classes:
        raise RuntimeError("Class values must be smaller than num_classes.")
    return (tensor.unsqueeze(-1) == lt.arange(num_classes)).long()


@_op("DivBackward0")
def normalize(input: Tensor, p: float = 2.0, dim: int = 1, eps: float = 1e-12, out=None) -> Tensor:
    """x / max(||x||_p along dim, eps)."""
    norm = lt.norm(input, p, dim, keepdim=True)
    return input / lt.clamp_min(norm, eps)


@_op("ConstantPadNdBackward0")
def _constant_pad(input: Tensor, pad: tuple, value: float) -> Tensor:
    n = input.node
    nd = len(n.shape)
    pairs = [(0, 0)] * nd
    for i in range(len(pad) // 2):
        pairs[nd - 1 - i] = (pad[2 * i], pad[2 * i + 1])
    # negative amounts crop
    crop = tuple((max(-lo, 0), d - max(-hi, 0)) for (lo, hi), d in zip(pairs, n.shape))
    if any(b > e for b, e in crop):
        raise RuntimeError(f"The input size {tuple(n.shape)} with padding {tuple(pad)} gives a negative output size")
    if crop != tuple((0, d) for d in n.shape):
        n = make(Op.SHRINK, (n,), crop)
    grow = tuple((max(lo, 0), max(hi, 0)) for lo, hi in pairs)
    if not any(lo or hi for lo, hi in grow):
        return wrap(n)
    padded = make(Op.PAD, (n,), grow)
    if value:
        inside = make(Op.PAD, (const(True, lt.bool, n.shape),), grow)
        padded = make(Op.WHERE, (inside, padded, const(value, n.dtype, padded.shape)))
    return wrap(padded)


def _index_pad(input: Tensor, pad: tuple, mode: str) -> Tensor:
    out = input
    for i in range(len(pad) // 2):
        d = input.ndim - 1 - i
        lo, hi = pad[2 * i], pad[2 * i + 1]
        size = out.shape[d]
        if mode == "reflect" and (lo >= size or hi >= size):
            raise RuntimeError(f"Argument #4: Padding size should be less than the corresponding input dimension, "
                               f"but got: padding ({lo}, {hi}) at dimension {d} of input {list(input.shape)}")
        pos = list(range(-lo, size + hi))
        if mode == "reflect":
            idx = [abs(j) if j < 0 else (2 * (size - 1) - j if j >= size else j) for j in pos]
        elif mode == "replicate":
            idx = [min(max(j, 0), size - 1) for j in pos]
        else:  # circular
            idx = [j % size for j in pos]
        out = lt.index_select(out, d, lt.tensor(idx, dtype=lt.int64))
    return out


_PAD_NAMES = {"reflect": "ReflectionPad{}dBackward0", "replicate": "ReplicationPad{}dBackward0",
              "circular": "IndexSelectBackward0"}


def pad(input: Tensor, pad: tuple, mode: str = "constant", value: float | None = None) -> Tensor:  # noqa: A002
    """Pad the last len(pad) // 2 dims: pad = (left, right, top, bottom, ...); constant, reflect,
    replicate or circular."""
    pad = tuple(int(p) for p in pad)
    if len(pad) % 2 or len(pad) // 2 > input.ndim:
        raise RuntimeError("Padding length must be divisible by 2 and at most twice the number of dimensions "
                           f"of the input, got {len(pad)} for {input.ndim} dims")
    if mode == "constant":
        return _constant_pad(input, pad, 0.0 if value is None else value)
    if mode not in _PAD_NAMES:
        raise NotImplementedError(f"pad(): mode {mode!r} is not supported (constant, reflect, replicate, circular)")
    if value:
        raise RuntimeError(f"Padding mode \"{mode}\" doesn't take in value argument.")
    name = _PAD_NAMES[mode].format(len(pad) // 2)
    return autograd._tracked(_index_pad, name)(input, pad, mode)


# ---- losses ----

@_op(lambda input, target, *a, **k: "MseLossBackward0")
def _mse(input, target, reduction):
    return _reduce((input - target) ** 2, reduction)


def mse_loss(input: Tensor, target: Tensor, size_average=None, reduce=None, reduction: str = "mean",
             weight=None) -> Tensor:
    """Mean squared error."""
    return _mse(*_broadcast(input, target), _legacy_reduction(size_average, reduce, reduction))


@_op("L1LossBackward0")
def _l1(input, target, reduction):
    return _reduce(lt.abs(input - target), reduction)


def l1_loss(input: Tensor, target: Tensor, size_average=None, reduce=None, reduction: str = "mean") -> Tensor:
    """Mean absolute error."""
    return _l1(*_broadcast(input, target), _legacy_reduction(size_average, reduce, reduction))


@_op("SmoothL1LossBackward0")
def _smooth_l1(input, target, reduction, beta):
    d = lt.abs(input - target)
    if beta == 0:
        return _reduce(d, reduction)
    return _reduce(lt.where(d < beta, 0.5 * d * d / beta, d - 0.5 * beta), reduction)


def smooth_l1_loss(input: Tensor, target: Tensor, size_average=None, reduce=None, reduction: str = "mean",
                   beta: float = 1.0) -> Tensor:
    """0.5 d**2 / beta where |d| < beta, else |d| - beta / 2."""
    if beta < 0:
        raise RuntimeError("smooth_l1_loss does not support negative values for beta.")
    return _smooth_l1(*_broadcast(input, target), _legacy_reduction(size_average, reduce, reduction), beta)


@_op("HuberLossBackward0")
def _huber(input, target, reduction, delta):
    d = lt.abs(input - target)
    return _reduce(lt.where(d < delta, 0.5 * d * d, delta * (d - 0.5 * delta)), reduction)


def huber_loss(input: Tensor, target: Tensor, reduction: str = "mean", delta: float = 1.0, weight=None) -> Tensor:
    """0.5 d**2 where |d| < delta, else delta (|d| - delta / 2)."""
    if delta <= 0:
        raise RuntimeError("huber_loss does not support non-positive values for delta.")
    return _huber(*_broadcast(input, target), reduction, delta)


def _kl_name(input, target, reduction="mean", log_target=False):
    return {"mean": "MeanBackward0", "sum": "SumBackward0", "batchmean": "DivBackward0"}.get(reduction, "SubBackward0")


@_op(_kl_name)
def _kl(input, target, reduction, log_target):
    if log_target:
        pointwise = lt.exp(target) * (target - input)
    else:
        safe = lt.where(target > 0, target, 1.0)
        pointwise = lt.where(target > 0, target * (lt.log(safe) - input), -target * input * 0.0 + 0.0 * safe)
        pointwise = lt.where(target > 0, pointwise, 0.0 * input)
    if reduction == "batchmean":
        return pointwise.sum() / (input.shape[0] if input.ndim else 1)
    return _reduce(pointwise, reduction)


def kl_div(input: Tensor, target: Tensor, size_average=None, reduce=None, reduction: str = "mean",
           log_target: bool = False) -> Tensor:
    """KL(target || exp(input)): target * (log target - input), summed as `reduction` says (input is log-probs)."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    if reduction not in ("mean", "sum", "none", "batchmean"):
        raise ValueError(f"{reduction} is not a valid value for reduction")
    return _kl(*_broadcast(input, target), reduction, log_target)


@_op("BinaryCrossEntropyWithLogitsBackward0")
def _bce_logits(input, target, weight, pos_weight, reduction):
    # -[pw t log s(x) + (1 - t) log(1 - s(x))] = (1 - t) x + (1 + (pw - 1) t) softplus(-x), stable for all x
    sp = _softplus0(-input)
    if pos_weight is None:
        loss = (1 - target) * input + sp
    else:
        loss = (1 - target) * input + (1 + (pos_weight - 1) * target) * sp
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


def binary_cross_entropy_with_logits(input: Tensor, target: Tensor, weight: Tensor | None = None,
                                     size_average=None, reduce=None, reduction: str = "mean",
                                     pos_weight: Tensor | None = None) -> Tensor:
    """Binary cross entropy on logits (sigmoid folded in, stable for any logit)."""
    _same_shape(input, target, "binary_cross_entropy_with_logits")
    return _bce_logits(input, target, weight, pos_weight, _legacy_reduction(size_average, reduce, reduction))


@_op("BinaryCrossEntropyBackward0")
def _bce(input, target, weight, reduction):
    # PyTorch clamps each log at -100, so 0 and 1 give finite losses
    log_p = lt.clamp_min(lt.log(input), -100.0)
    log_q = lt.clamp_min(lt.log(1 - input), -100.0)
    loss = -(target * log_p + (1 - target) * log_q)
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


def binary_cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None, size_average=None,
                         reduce=None, reduction: str = "mean") -> Tensor:
    """Binary cross entropy on probabilities (logs clamped at -100, as PyTorch)."""
    if tuple(input.shape) != tuple(target.shape):
        raise ValueError(f"Using a target size ({tuple(target.shape)}) that is different to the input size "
                         f"({tuple(input.shape)}) is deprecated. Please ensure they have the same size.")
    return _bce(input, target, weight, _legacy_reduction(size_average, reduce, reduction))


def _nll(logp: Tensor, target: Tensor, weight, ignore_index: int, reduction: str, cdim: int):
    """The negative log-likelihood of `logp` (classes along cdim) at integer targets."""
    valid = target != ignore_index
    safe = lt.where(valid, target, 0)
    picked = lt.gather(logp, cdim, safe.unsqueeze(cdim)).squeeze(cdim)
    w = lt.where(valid, 1.0, 0.0).to(logp.dtype)
    if weight is not None:
        w = w * weight[safe]
    loss = -picked * w
    if reduction == "none":
        return loss, w
    if reduction == "sum":
        return loss.sum(), w
    if reduction == "mean":
        return loss.sum() / w.sum(), w
    raise ValueError(f"{reduction} is not a valid value for reduction")


def _check_targets(input: Tensor, target: Tensor) -> int:
    cdim = 0 if input.ndim == 1 else 1
    if input.ndim == 0:
        raise RuntimeError("input tensor should be 1D or more")
    expect = tuple(input.shape[:cdim]) + tuple(input.shape[cdim + 1:])
    if tuple(target.shape) != expect:
        raise RuntimeError(f"Expected target size {list(expect)}, got {list(target.shape)}")
    return cdim


@_op("NllLossBackward0")
def _nll_loss(input, target, weight, ignore_index, reduction):
    return _nll(input, target, weight, ignore_index, reduction, 0 if input.ndim == 1 else 1)[0]


def nll_loss(input: Tensor, target: Tensor, weight: Tensor | None = None, size_average=None,
             ignore_index: int = -100, reduce=None, reduction: str = "mean") -> Tensor:
    """-input[n, target[n]] weighted, with `ignore_index` targets left out (mean over their weights)."""
    _check_targets(input, target)
    return _nll_loss(input, target, weight, ignore_index, _legacy_reduction(size_average, reduce, reduction))


def _ce_name(input, target, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
    if target.dtype.is_floating_point:
        return {"mean": "DivBackward1", "sum": "SumBackward0"}.get(reduction, "NegBackward0")
    return "NllLossBackward0" if label_smoothing == 0 else "AddBackward0"


@_op(_ce_name)
def _cross_entropy(input, target, weight, ignore_index, reduction, label_smoothing):
    cdim = 0 if input.ndim == 1 else 1
    logp = lt.log_softmax(input, cdim)
    classes = input.shape[cdim]
    wshape = [1] * input.ndim
    wshape[cdim] = classes
    if target.dtype.is_floating_point:  # class probabilities
        if label_smoothing:
            target = target * (1 - label_smoothing) + label_smoothing / classes
        terms = logp * target
        if weight is not None:
            terms = terms * weight.reshape(wshape)
        loss = -terms.sum(cdim)
        if reduction == "mean":
            return loss.sum() / (input.numel() // classes) if input.numel() else loss.sum() / 0.0
        return _reduce(loss, reduction)
    nll, w = _nll(logp, target, weight, ignore_index, reduction, cdim)
    if not label_smoothing:
        return nll
    valid = target != ignore_index
    terms = logp if weight is None else logp * weight.reshape(wshape)
    smooth = lt.where(valid, -terms.sum(cdim), 0.0)
    if reduction == "mean":
        smooth = smooth.sum() / (w.sum() if weight is not None else valid.sum().to(logp.dtype))
    elif reduction == "sum":
        smooth = smooth.sum()
    return (1 - label_smoothing) * nll + smooth * (label_smoothing / classes)


def cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None, size_average=None,
                  ignore_index: int = -100, reduce=None, reduction: str = "mean",
                  label_smoothing: float = 0.0) -> Tensor:
    """log_softmax over the class dim, then the NLL at class indices or against class probabilities."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"{reduction} is not a valid value for reduction")
    if not 0.0 <= label_smoothing <= 1.0:
        raise RuntimeError(f"label_smoothing must be between 0.0 and 1.0. Got: {label_smoothing}")
    if target.dtype.is_floating_point:
        if tuple(target.shape) != tuple(input.shape):
            raise RuntimeError(f"Expected target size {list(input.shape)}, got {list(target.shape)}")
    else:
        _check_targets(input, target)
    return _cross_entropy(input, target, weight, ignore_index, reduction, label_smoothing)


# Convolution, pooling, normalization, embedding and bilinear are written in the runtime, over the
# public Tensor API (ARCHITECTURE.md); they are part of `lt.nn.functional` all the same.
from lazytensor.runtime.nn.functional import (adaptive_avg_pool1d, adaptive_avg_pool2d, avg_pool1d,  # noqa: E402
                                              avg_pool2d, batch_norm, bilinear, conv1d, conv2d, embedding,
                                              layer_norm, max_pool1d, max_pool2d)

__all__ += ["conv1d", "conv2d", "max_pool1d", "max_pool2d", "avg_pool1d", "avg_pool2d", "adaptive_avg_pool1d",
            "adaptive_avg_pool2d", "layer_norm", "batch_norm", "embedding", "bilinear"]
