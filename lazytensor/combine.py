"""Joining, splitting, gathering and rearranging tensors: cat, stack, split, gather, scatter, flip, roll...

Joins are built over primitives so they fuse: each input is PADded to the output along the
joined dim and a balanced tree of WHEREs picks, at every position, the input that covers it
(WHERE rather than ADD, so -0.0 and nan survive exactly). Splits return views (they share the
input's storage, as PyTorch's do). gather/index_select/take_along_dim use the GATHER primitive;
scatter is a one-hot comparison of positions along the dim, reduced with SUM / PROD / MAX_REDUCE.
In-place forms (`masked_fill_`, `tril_`, `zero_`, `fill_`, `copy_`, `scatter_`...) go through
`tensor.assign`, so writes through a view reach its base.
"""
from __future__ import annotations

import numbers
from typing import Sequence

import numpy as np

from lazytensor import shape as shape_ops
from lazytensor.compiler import dtypes as dt
from lazytensor.compiler.ir import Node
from lazytensor.compiler.ops import Op, make
from lazytensor.creation import iota
from lazytensor.indexing import count_from_end
from lazytensor.tensor import (Tensor, _torch_name, assign, broadcast_shapes, cast_node, const, expand_node,
                               is_scalar, make_view, normalize_dim, wrap)

__all__ = ["cat", "concat", "concatenate", "stack", "hstack", "vstack", "dstack", "column_stack", "split", "chunk",
           "split_with_sizes", "unbind", "tensor_split", "hsplit", "vsplit", "dsplit", "gather", "index_select", "take_along_dim",
           "masked_fill", "tril", "triu", "tile", "repeat_interleave", "flip", "fliplr", "flipud", "roll", "rot90",
           "zero_", "fill_", "fill", "scatter", "scatter_add"]

_INDEX_DTYPES = (dt.int32, dt.int64)


# ---- small helpers over nodes ----

def _reshape(n: Node, shape: tuple) -> Node:
    shape = tuple(shape)
    return n if n.shape == shape else make(Op.RESHAPE, (n,), shape)


def _pads(ndim: int, dim: int, lo: int, hi: int) -> tuple:
    return tuple((lo, hi) if k == dim else (0, 0) for k in range(ndim))


def _numel(shape: Sequence[int]) -> int:
    out = 1
    for d in shape:
        out *= d
    return out


def _ramp(n: int, dtype: dt.DType, axis: int, shape: tuple) -> Node:
    """0..n-1 laid along `axis` and broadcast to `shape` (shape[axis] == n)."""
    lead = (1,) * axis + (n,) + (1,) * (len(shape) - axis - 1)
    return expand_node(_reshape(iota(n, dtype).node, lead), shape)


def _join(nodes: list[Node], dim: int) -> Node:
    """Nodes of one dtype, equal in every dim but `dim`, joined along `dim`.

    A balanced tree keeps the work O(total * log(count)): at each level the left half is padded
    at its end and the right half at its start, and a WHERE over a padded True mask picks.
    """
    if len(nodes) == 1:
        return nodes[0]
    mid = len(nodes) // 2
    left, right = _join(nodes[:mid], dim), _join(nodes[mid:], dim)
    ndim = len(left.shape)
    pad_left = _pads(ndim, dim, 0, right.shape[dim])
    pad_right = _pads(ndim, dim, left.shape[dim], 0)
    keep_left = make(Op.PAD, (const(True, dt.bool_, left.shape),), pad_left)
    return make(Op.WHERE, (keep_left, make(Op.PAD, (left,), pad_left), make(Op.PAD, (right,), pad_right)))


def _shrink_dim(n: Node, dim: int, start: int, stop: int) -> Node:
    bounds = tuple((start, stop) if k == dim else (0, d) for k, d in enumerate(n.shape))
    return make(Op.SHRINK, (n,), bounds)


def _int_arg(x, what: str) -> int:
    """A Python int from an int or a one-element integer tensor (PyTorch's TypeError otherwise)."""
    if isinstance(x, Tensor) and not x.dtype.is_floating_point and x.numel() == 1:
        return int(x.item())
    if isinstance(x, (bool, np.bool_)) or not isinstance(x, numbers.Integral):
        raise TypeError(f"{what} must be int, not {type(x).__name__}")
    return int(x)


def _int_list(xs, what: str) -> tuple[int, ...]:
    if isinstance(xs, Tensor):
        return tuple(int(v) for v in xs.tolist())
    if isinstance(xs, numbers.Integral) and not isinstance(xs, bool):
        return (int(xs),)
    if not isinstance(xs, (tuple, list)):
        raise TypeError(f"{what} must be tuple of ints, not {type(xs).__name__}")
    return tuple(_int_arg(x, what) for x in xs)


def _dims_arg(dims: tuple) -> tuple:
    """Method-style varargs dims: `f(1, 2)` or `f((1, 2))`."""
    if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
        return tuple(dims[0])
    return tuple(dims)


def _dim_of_nonscalar(dim: int, ndim: int) -> int:
    """`dim` normalized, refusing 0-d tensors as PyTorch's ops without a scalar case do."""
    if ndim == 0:
        raise IndexError(f"Dimension specified as {dim} but tensor has no dimensions")
    return normalize_dim(dim, ndim)


def _empty_result(dtype: dt.DType, shape: tuple) -> Tensor:
    return wrap(const(0, dtype, tuple(shape)))


# ---- joining ----

def _tensor_list(tensors, name: str) -> list[Tensor]:
    if isinstance(tensors, Tensor):
        raise TypeError(f"{name}(): argument 'tensors' (position 1) must be tuple of Tensors, not Tensor")
    if not isinstance(tensors, (list, tuple)):
        tensors = list(tensors)
    for i, t in enumerate(tensors):
        if not isinstance(t, Tensor):
            raise TypeError(f"expected Tensor as element {i} in argument 0, but got {type(t).__name__}")
    return list(tensors)


def _promote_all(tensors: list[Tensor]) -> dt.DType:
    out = tensors[0].dtype
    for t in tensors[1:]:
        out = dt.promote_types(out, t.dtype)
    return out


def _to_out(result: Tensor, out: Tensor | None) -> Tensor:
    """`result`, or written into `out` (same shape; cast to out's dtype) when given."""
    if out is None:
        return result
    if tuple(out.shape) != tuple(result.shape):
        raise RuntimeError(f"out= needs shape {list(result.shape)} here (resizing out is not supported), "
                           f"got {list(out.shape)}")
    return copy_(out, result)


def cat(tensors: Sequence[Tensor], dim: int = 0, *, out: Tensor | None = None) -> Tensor:
    """Tensors joined along `dim`, promoted to a common dtype (1-d empty tensors are skipped)."""
    return _to_out(_cat(tensors, dim), out)


def _cat(tensors: Sequence[Tensor], dim: int) -> Tensor:
    tensors = _tensor_list(tensors, "cat")
    if not tensors:
        raise ValueError("torch.cat(): expected a non-empty list of Tensors")
    for i, t in enumerate(tensors):
        if t.ndim == 0:
            raise RuntimeError(f"zero-dimensional tensor (at position {i}) cannot be concatenated")
    dtype = _promote_all(tensors)
    # PyTorch's legacy rule: tensors of shape (0,) join anything and are left out
    kept = [(i, t) for i, t in enumerate(tensors) if not (t.ndim == 1 and t.shape[0] == 0)]
    if not kept:
        return _empty_result(dtype, (0,))
    ref = tuple(kept[0][1].shape)
    d = normalize_dim(dim, len(ref))
    for i, t in kept[1:]:
        s = tuple(t.shape)
        if len(s) != len(ref):
            raise RuntimeError(f"Tensors must have same number of dimensions: got {len(ref)} and {len(s)}")
        for k in range(len(ref)):
            if k != d and s[k] != ref[k]:
                raise RuntimeError(f"Sizes of tensors must match except in dimension {d}. Expected size {ref[k]} "
                                   f"but got size {s[k]} for tensor number {i} in the list.")
    out_shape = ref[:d] + (sum(t.shape[d] for _, t in kept),) + ref[d + 1:]
    nodes = [cast_node(t.node, dtype) for _, t in kept if t.shape[d] > 0]
    if not nodes or _numel(out_shape) == 0:
        return _empty_result(dtype, out_shape)
    return wrap(_join(nodes, d))


concat = concatenate = cat


def stack(tensors: Sequence[Tensor], dim: int = 0, *, out: Tensor | None = None) -> Tensor:
    """Tensors of equal shape joined along a new dimension `dim`."""
    return _to_out(_stack(tensors, dim), out)


def _stack(tensors: Sequence[Tensor], dim: int) -> Tensor:
    tensors = _tensor_list(tensors, "stack")
    if not tensors:
        raise RuntimeError("stack expects a non-empty TensorList")
    ref = tuple(tensors[0].shape)
    d = normalize_dim(dim, len(ref) + 1)
    for i, t in enumerate(tensors[1:], 1):
        if tuple(t.shape) != ref:
            raise RuntimeError(f"stack expects each tensor to be equal size, but got {list(ref)} at entry 0 and "
                               f"{list(t.shape)} at entry {i}")
    dtype = _promote_all(tensors)
    out_shape = ref[:d] + (len(tensors),) + ref[d:]
    if _numel(out_shape) == 0:
        return _empty_result(dtype, out_shape)
    nodes = [_reshape(cast_node(t.node, dtype), ref[:d] + (1,) + ref[d:]) for t in tensors]
    return wrap(_join(nodes, d))


def _nonempty(tensors, name: str) -> list[Tensor]:
    tensors = _tensor_list(tensors, name)
    if not tensors:
        raise RuntimeError(f"{name} expects a non-empty TensorList")
    return tensors


def hstack(tensors: Sequence[Tensor]) -> Tensor:
    """Join along dim 1 (dim 0 for 1-d tensors); 0-d tensors count as 1-d."""
    tensors = [shape_ops.atleast_1d(t) for t in _nonempty(tensors, "hstack")]
    return cat(tensors, 0 if tensors[0].ndim == 1 else 1)


def vstack(tensors: Sequence[Tensor]) -> Tensor:
    """Join along dim 0 after making every tensor at least 2-d."""
    return cat([shape_ops.atleast_2d(t) for t in _nonempty(tensors, "vstack")], 0)


def dstack(tensors: Sequence[Tensor]) -> Tensor:
    """Join along dim 2 after making every tensor at least 3-d."""
    return cat([shape_ops.atleast_3d(t) for t in _nonempty(tensors, "dstack")], 2)


def column_stack(tensors: Sequence[Tensor]) -> Tensor:
    """Join along dim 1, with 0-d and 1-d tensors as columns."""
    tensors = _nonempty(tensors, "column_stack")
    return cat([shape_ops.reshape(t, (t.numel(), 1)) if t.ndim <= 1 else t for t in tensors], 1)


# ---- splitting: tuples of views ----

def split(tensor: Tensor, split_size_or_sections, dim: int = 0) -> tuple[Tensor, ...]:
    """Views of pieces of `split_size` along `dim` (the last may be smaller), or of the given sizes."""
    if isinstance(split_size_or_sections, (list, tuple)):
        return split_with_sizes(tensor, split_size_or_sections, dim)
    size = _int_arg(split_size_or_sections, "split_size")
    if tensor.ndim == 0:
        raise RuntimeError("split expects at least a 1-dimensional tensor")
    if size < 0:
        raise RuntimeError(f"split expects split_size be non-negative, but got split_size={size}")
    d = normalize_dim(dim, tensor.ndim)
    n = tensor.shape[d]
    if size == 0 and n != 0:
        raise RuntimeError(f"split_size can only be 0 if dimension size is 0, but got dimension size of {n}")
    count = max((n + size - 1) // size, 1) if size else 1
    return tuple(shape_ops.narrow(tensor, d, i * size, min(size, n - i * size)) for i in range(count))


def split_with_sizes(tensor: Tensor, split_sizes: Sequence[int], dim: int = 0) -> tuple[Tensor, ...]:
    """Views of consecutive pieces of the given sizes along `dim`."""
    sizes = _int_list(split_sizes, "split_sizes")
    if tensor.ndim == 0:
        raise RuntimeError("split expects at least a 1-dimensional tensor")
    d = normalize_dim(dim, tensor.ndim)
    n = tensor.shape[d]
    if any(s < 0 for s in sizes):
        raise RuntimeError(f"split_with_sizes expects split_sizes have only non-negative entries, but got "
                           f"split_sizes={list(sizes)}")
    if sum(sizes) != n:
        raise RuntimeError(f"split_with_sizes expects split_sizes to sum exactly to {n} (input tensor's size at "
                           f"dimension {d}), but got split_sizes={list(sizes)}")
    out, start = [], 0
    for s in sizes:
        out.append(shape_ops.narrow(tensor, d, start, s))
        start += s
    return tuple(out)


def chunk(input: Tensor, chunks: int, dim: int = 0) -> tuple[Tensor, ...]:
    """At most `chunks` views of equal size along `dim` (the last may be smaller)."""
    chunks = _int_arg(chunks, "chunk(): argument 'chunks' (position 2)")
    if input.ndim == 0:
        raise RuntimeError("chunk expects at least a 1-dimensional tensor")
    if chunks <= 0:
        raise RuntimeError(f"chunk expects `chunks` to be greater than 0, got: {chunks}")
    d = normalize_dim(dim, input.ndim)
    n = input.shape[d]
    size = (n + chunks - 1) // chunks
    if size == 0 and n == 0:
        # PyTorch keeps the number of chunks when they are all empty
        return split_with_sizes(input, [0] * chunks, d)
    return split(input, size, d)


def unbind(input: Tensor, dim: int = 0) -> tuple[Tensor, ...]:
    """Views of each index along `dim`, without that dimension."""
    d = _dim_of_nonscalar(dim, input.ndim)
    return tuple(shape_ops.select(input, d, i) for i in range(input.shape[d]))


def _slice_view(input: Tensor, d: int, start: int, stop: int) -> Tensor:
    """input[start:stop] along `d` with Python's slice rules (negative wrap, clamp, empty if reversed)."""
    n = input.shape[d]
    start = min(max(start + n if start < 0 else start, 0), n)
    stop = min(max(stop + n if stop < 0 else stop, 0), n)
    return shape_ops.narrow(input, d, start, max(stop - start, 0))


def tensor_split(input: Tensor, indices_or_sections, dim: int = 0) -> tuple[Tensor, ...]:
    """Views split into `sections` near-equal pieces, or at the given indices, along `dim`."""
    if input.ndim == 0:
        raise RuntimeError("tensor_split expected at least a 1-dimensional tensor, but got a tensor with 0 dims")
    if isinstance(indices_or_sections, Tensor):
        t = indices_or_sections
        if t.dtype is not dt.int64:
            raise RuntimeError(f"tensor_split expected tensor_indices_or_sections to have dtype of long, but got "
                               f"{_torch_name(t.dtype)}")
        if t.ndim > 1:
            raise RuntimeError(f"tensor_split expected tensor_indices_or_sections to be a zero-dimensional or "
                               f"one-dimensional tensor, but got a tensor with {t.ndim} dims")
        indices_or_sections = int(t.item()) if t.ndim == 0 else [int(v) for v in t.tolist()]
    d = normalize_dim(dim, input.ndim)
    n = input.shape[d]
    if isinstance(indices_or_sections, (list, tuple)):
        bounds = [0, *_int_list(indices_or_sections, "indices"), n]
        return tuple(_slice_view(input, d, a, b) for a, b in zip(bounds, bounds[1:]))
    sections = _int_arg(indices_or_sections, "sections")
    if sections <= 0:
        raise RuntimeError(f"number of sections must be larger than 0, got {sections}")
    base, extra = divmod(n, sections)
    out, start = [], 0
    for i in range(sections):
        size = base + 1 if i < extra else base
        out.append(shape_ops.narrow(input, d, start, size))
        start += size
    return tuple(out)


def _directional_split(input: Tensor, indices_or_sections, name: str, min_dims: int, dim: int):
    if input.ndim < min_dims:
        raise RuntimeError(f"torch.{name} requires a tensor with at least {min_dims} dimension, but got a tensor "
                           f"with {input.ndim} dimensions!")
    if isinstance(indices_or_sections, (list, tuple, Tensor)) and not (
            isinstance(indices_or_sections, Tensor) and indices_or_sections.ndim == 0):
        return tensor_split(input, indices_or_sections, dim)
    sections = _int_arg(indices_or_sections, "sections")
    n = input.shape[dim]
    if sections == 0 or n % sections:
        raise RuntimeError(f"torch.{name} attempted to split along dimension {dim}, but the size of the dimension "
                           f"{n} is not divisible by the split_size {sections}!")
    return tensor_split(input, sections, dim)


def hsplit(input: Tensor, indices_or_sections) -> tuple[Tensor, ...]:
    """tensor_split along dim 1 (dim 0 for 1-d tensors); int sections must divide the size."""
    return _directional_split(input, indices_or_sections, "hsplit", 1, 1 if input.ndim > 1 else 0)


def vsplit(input: Tensor, indices_or_sections) -> tuple[Tensor, ...]:
    """tensor_split along dim 0 of a tensor of at least 2 dims."""
    return _directional_split(input, indices_or_sections, "vsplit", 2, 0)


def dsplit(input: Tensor, indices_or_sections) -> tuple[Tensor, ...]:
    """tensor_split along dim 2 of a tensor of at least 3 dims."""
    return _directional_split(input, indices_or_sections, "dsplit", 3, 2)


# ---- gathering ----

def _check_index_dtype(index: Tensor, name: str) -> None:
    if not isinstance(index, Tensor):
        raise TypeError(f"{name}(): argument 'index' must be Tensor, not {type(index).__name__}")
    if index.dtype not in _INDEX_DTYPES:
        raise RuntimeError(f"{name}(): Expected dtype int32/int64 for index")


def _gather_node(src: Node, d: int, idx: Node) -> Node:
    """GATHER with 0-d operands seen as 1-d; the result has the index's shape."""
    out_shape = idx.shape
    src = _reshape(src, (1,)) if not src.shape else src
    idx = _reshape(idx, (1,)) if not idx.shape else idx
    return _reshape(make(Op.GATHER, (src, idx), d), out_shape)


def gather(input: Tensor, dim: int, index: Tensor, *, sparse_grad: bool = False) -> Tensor:
    """out[i][j] = input[index[i][j]][j] for dim 0 (and likewise for other dims)."""
    _check_index_dtype(index, "gather")
    d = normalize_dim(dim, input.ndim)
    s_shape, i_shape = tuple(input.shape) or (1,), tuple(index.shape) or (1,)
    if len(s_shape) != len(i_shape):
        raise RuntimeError("Index tensor must have the same number of dimensions as input tensor")
    for k in range(len(s_shape)):
        if index.numel() and k != d and i_shape[k] > s_shape[k]:
            raise RuntimeError(f"Size does not match at dimension {k} expected index {list(index.shape)} to be no "
                               f"larger than self {list(input.shape)} apart from dimension {d}")
    if index.numel() == 0:
        return _empty_result(input.dtype, tuple(index.shape))
    return wrap(_gather_node(input.node, d, index.node))


def index_select(input: Tensor, dim: int, index: Tensor) -> Tensor:
    """The entries of `input` at positions `index` (a vector) along `dim`."""
    if not isinstance(index, Tensor):
        raise TypeError(f"index_select(): argument 'index' must be Tensor, not {type(index).__name__}")
    if index.dtype not in _INDEX_DTYPES:
        raise RuntimeError("index_select(): Expected dtype int32 or int64 for index")
    if index.ndim > 1:
        raise IndexError("index_select(): Index is supposed to be a vector")
    d = normalize_dim(dim, input.ndim)
    k = index.numel()
    if input.ndim == 0:
        if k != 1:
            raise RuntimeError(f"index_select(): Index to scalar can have only 1 value, got {k} value(s)")
        return wrap(_reshape(_gather_node(input.node, 0, _reshape(index.node, (1,))), ()))
    shape = tuple(input.shape)
    out_shape = shape[:d] + (k,) + shape[d + 1:]
    if _numel(out_shape) == 0:
        return _empty_result(input.dtype, out_shape)
    # the index laid along `dim` and broadcast over the other dims, so GATHER picks whole slices
    idx = _reshape(index.node, (1,) * d + (k,) + (1,) * (len(shape) - d - 1))
    return wrap(make(Op.GATHER, (input.node, expand_node(idx, out_shape)), d))


def take_along_dim(input: Tensor, indices: Tensor, dim: int | None = None) -> Tensor:
    """gather along `dim` after broadcasting input and indices in the other dims (flat when dim is None)."""
    if dim is None:  # torch's flat path is gather's: no negative indices, int32 taken too
        flat_in = shape_ops.reshape(input, (-1,))
        return gather(flat_in, 0, shape_ops.reshape(indices, (-1,)))
    if input.ndim != indices.ndim:
        raise RuntimeError(f"torch.take_along_dim(): input and indices should have the same number of dimensions, "
                           f"but got {input.ndim} dimensions for input, and {indices.ndim} dimensions for indices")
    if indices.dtype is not dt.int64:
        raise RuntimeError(f"torch.take_along_dim(): dtype of indices should be Long but got "
                           f"{_torch_name(indices.dtype)}")
    d = _dim_of_nonscalar(dim, input.ndim)
    in_sizes = list(input.shape)
    in_sizes[d] = indices.shape[d]
    out_shape = broadcast_shapes(tuple(in_sizes), tuple(indices.shape))
    src_shape = out_shape[:d] + (input.shape[d],) + out_shape[d + 1:]
    src = shape_ops.broadcast_to(input, src_shape)
    # unlike gather, take_along_dim counts negative indices from the end (as numpy's does)
    index = shape_ops.broadcast_to(indices, out_shape)
    return gather(src, d, wrap(count_from_end(index.node, input.shape[d])))


# ---- masking and triangles ----

_C_TYPE_NAMES = {"uint8": "unsigned char", "int8": "signed char", "int16": "short int", "int32": "int",
                 "int64": "long int", "float16": "c10::Half", "bfloat16": "c10::BFloat16", "float32": "float",
                 "float64": "double", "bool": "bool"}


def _value_node(value, dtype: dt.DType, shape: tuple, name: str) -> Node:
    """A number or 0-d tensor as a node of `dtype` broadcast to `shape`."""
    if isinstance(value, Tensor):
        if value.ndim != 0:
            raise RuntimeError(f"{name} only supports a 0-dimensional value tensor, but got tensor with "
                               f"{value.ndim} dimension(s).")
        return expand_node(cast_node(value.node, dtype), shape)
    if not is_scalar(value):
        raise TypeError(f"{name}(): argument 'value' must be Number or Tensor, not {type(value).__name__}")
    return const(value, dtype, shape)


def _masked_fill_node(input: Tensor, mask: Tensor, value) -> Node:
    if not isinstance(mask, Tensor):
        raise TypeError(f"masked_fill(): argument 'mask' must be Tensor, not {type(mask).__name__}")
    if mask.dtype is not dt.bool_:
        raise RuntimeError(f"masked_fill_ only supports boolean masks, but got mask with dtype "
                           f"{_C_TYPE_NAMES[mask.dtype.name]}")
    shape = broadcast_shapes(tuple(mask.shape), tuple(input.shape))
    fill_with = _value_node(value, input.dtype, shape, "masked_fill_")
    return make(Op.WHERE, (expand_node(mask.node, shape), fill_with, expand_node(input.node, shape)))


def masked_fill(input: Tensor, mask: Tensor, value) -> Tensor:
    """`input` with `value` where `mask` is True (mask and input broadcast together)."""
    return wrap(_masked_fill_node(input, mask, value))


def _masked_fill_(self: Tensor, mask: Tensor, value) -> Tensor:
    """In-place masked_fill: `mask` must broadcast to self's shape."""
    n = _masked_fill_node(self, mask, value)
    if n.shape != tuple(self.shape):
        raise RuntimeError(f"output with shape {list(self.shape)} doesn't match the broadcast shape {list(n.shape)}")
    return assign(self, n)


def _triangle_node(input: Tensor, diagonal: int, lower: bool) -> Node:
    name = "tril" if lower else "triu"
    if input.ndim < 2:
        raise RuntimeError(f"{name}: input tensor must have at least 2 dimensions")
    shape = tuple(input.shape)
    if _numel(shape) == 0:
        return input.node
    rows, cols = shape[-2:]
    # col - row compared with the diagonal, from index ramps: a mask the backend fuses into the WHERE
    offset = make(Op.ADD, (_ramp(cols, dt.int64, 1, (rows, cols)),
                           make(Op.NEG, (_ramp(rows, dt.int64, 0, (rows, cols)),))))
    if lower:  # keep col - row <= diagonal
        keep = make(Op.CMPLT, (offset, const(int(diagonal) + 1, dt.int64, (rows, cols))))
    else:  # keep col - row >= diagonal
        keep = make(Op.NOT, (make(Op.CMPLT, (offset, const(int(diagonal), dt.int64, (rows, cols)))),))
    return make(Op.WHERE, (expand_node(keep, shape), input.node, const(0, input.dtype, shape)))


def tril(input: Tensor, diagonal: int = 0) -> Tensor:
    """The lower triangle of the last two dims (entries with col - row <= diagonal), zeros elsewhere."""
    return wrap(_triangle_node(input, diagonal, True))


def triu(input: Tensor, diagonal: int = 0) -> Tensor:
    """The upper triangle of the last two dims (entries with col - row >= diagonal), zeros elsewhere."""
    return wrap(_triangle_node(input, diagonal, False))


def _tril_(self: Tensor, diagonal: int = 0) -> Tensor:
    """In-place tril."""
    return assign(self, _triangle_node(self, diagonal, True))


def _triu_(self: Tensor, diagonal: int = 0) -> Tensor:
    """In-place triu."""
    return assign(self, _triangle_node(self, diagonal, False))


# ---- repeating ----

def repeat(input: Tensor, *sizes) -> Tensor:
    """The tensor tiled `sizes[i]` times along each dim (extra leading sizes add dims); a copy."""
    sizes = _int_list(_dims_arg(sizes), "repeat(): argument 'repeats'")
    shape = tuple(input.shape)
    if len(sizes) < len(shape):
        raise RuntimeError("Number of dimensions of repeat dims can not be smaller than number of dimensions of "
                           "tensor")
    full = (1,) * (len(sizes) - len(shape)) + shape
    out_shape = tuple(r * s for r, s in zip(sizes, full))
    if any(r < 0 for r in sizes):
        bad = min(min(out_shape), min(sizes))
        raise RuntimeError(f"Trying to create tensor with negative dimension {bad}: {list(out_shape)}")
    if _numel(out_shape) == 0:
        return _empty_result(input.dtype, out_shape)
    # (1, s0, 1, s1, ...) expanded to (r0, s0, r1, s1, ...) and merged pairwise
    inter = tuple(x for s in full for x in (1, s))
    expanded = tuple(x for r, s in zip(sizes, full) for x in (r, s))
    n = _reshape(input.node, inter)
    if inter != expanded:
        n = make(Op.EXPAND, (n,), expanded)
    return wrap(_reshape(n, out_shape))


def tile(input: Tensor, dims) -> Tensor:
    """The tensor repeated `dims[i]` times along each dim; missing leading dims count as 1."""
    dims = _int_list(dims, "tile(): argument 'dims'")
    dims = (1,) * (input.ndim - len(dims)) + dims
    return repeat(input, dims)


def repeat_interleave(input: Tensor, repeats=None, dim: int | None = None, *,
                      output_size: int | None = None) -> Tensor:
    """Each element (or slice along `dim`) repeated `repeats` times in place; flat when dim is None.

    With a tensor of repeats the output size depends on its values, so they are read (a flush).
    `repeat_interleave(repeats)` alone repeats 0..len-1.
    """
    if repeats is None:
        counts = input
        if counts.ndim != 1:
            raise RuntimeError("repeat_interleave only accept 1D vector as repeat")
        if counts.dtype not in _INDEX_DTYPES:
            raise NotImplementedError(f'"repeat_interleave_cpu" not implemented for \'{_torch_name(counts.dtype)}\'')
        return repeat_interleave(iota(counts.shape[0], counts.dtype), counts, 0, output_size=output_size)
    if dim is None:
        input = shape_ops.reshape(input, (-1,))
        d = 0
    else:
        d = normalize_dim(dim, input.ndim)
        if input.ndim == 0:  # PyTorch unsqueezes at dim + 1, which a 0-d tensor lacks
            normalize_dim(d + 1, 0)
    shape = tuple(input.shape)
    n = shape[d]
    if isinstance(repeats, Tensor):
        if repeats.dtype not in _INDEX_DTYPES:
            raise NotImplementedError(f'"repeat_interleave_cpu" not implemented for \'{_torch_name(repeats.dtype)}\'')
        if repeats.ndim > 1:
            raise RuntimeError("repeats must be 0-dim or 1-dim tensor")
        counts = repeats._host_array().reshape(-1).astype(np.int64)
        if counts.size == 1:
            counts = np.full(n, counts[0], dtype=np.int64)
        elif counts.size != n:
            raise RuntimeError(f"repeats must have the same size as input along dim, but got repeats.size(0) = "
                               f"{counts.size} and input.size({d}) = {n}")
        if (counts < 0).any():
            raise RuntimeError("repeats can not be negative")
        total = int(counts.sum())
        if output_size is not None and output_size != total:
            raise RuntimeError("allocated size does not match required size")
        from lazytensor.creation import tensor as make_tensor
        return index_select(input, d, make_tensor(np.repeat(np.arange(n, dtype=np.int64), counts)))
    r = _int_arg(repeats, "repeat_interleave(): argument 'repeats'")
    if r < 0:
        raise RuntimeError("Repeats must be non-negative")
    if output_size is not None and output_size != n * r:
        raise RuntimeError("allocated size does not match required size")
    out_shape = shape[:d] + (n * r,) + shape[d + 1:]
    if _numel(out_shape) == 0:
        return _empty_result(input.dtype, out_shape)
    # a new axis of size r after `dim`, broadcast, then merged into `dim`
    n_ = _reshape(input.node, shape[:d + 1] + (1,) + shape[d + 1:])
    n_ = make(Op.EXPAND, (n_,), shape[:d + 1] + (r,) + shape[d + 1:]) if r != 1 else n_
    return wrap(_reshape(n_, out_shape))


# ---- flipping and rolling ----

def _flip_node(n: Node, axes) -> Node:
    axes = tuple(sorted(a for a in set(axes) if n.shape[a] > 1))  # flipping a size-0/1 axis is a no-op
    return make(Op.FLIP, (n,), axes) if axes else n


def flip(input: Tensor, dims) -> Tensor:
    """A copy with the order of elements reversed along `dims`."""
    dims = _int_list(dims, "flip(): argument 'dims' (position 2)")
    axes = [normalize_dim(d, input.ndim) for d in dims]
    for a in axes:
        if axes.count(a) > 1:
            raise RuntimeError(f"dim {a} appears multiple times in the list of dims")
    if input.ndim == 0:
        return wrap(input.node)
    return wrap(_flip_node(input.node, axes))


def fliplr(input: Tensor) -> Tensor:
    """flip along dim 1 (left/right)."""
    if input.ndim < 2:
        raise RuntimeError("Input must be >= 2-d.")
    return flip(input, (1,))


def flipud(input: Tensor) -> Tensor:
    """flip along dim 0 (up/down)."""
    if input.ndim < 1:
        raise RuntimeError("Input must be >= 1-d.")
    return flip(input, (0,))


def _roll_node(n: Node, shift: int, d: int) -> Node:
    size = n.shape[d]
    if size == 0:
        return n
    s = shift % size
    if s == 0:
        return n
    return _join([_shrink_dim(n, d, size - s, size), _shrink_dim(n, d, 0, size - s)], d)


def roll(input: Tensor, shifts, dims=None) -> Tensor:
    """Elements shifted cyclically along `dims` (over the flattened tensor when dims is None); a copy."""
    shifts = _int_list(shifts, "roll(): argument 'shifts' (position 2)")
    dims = () if dims is None else _int_list(dims, "roll(): argument 'dims' (position 3)")
    if not shifts:
        raise RuntimeError("`shifts` required")
    if not dims and len(shifts) == 1:
        flat = _reshape(input.node, (input.numel(),))
        return wrap(_reshape(_roll_node(flat, shifts[0], 0), tuple(input.shape)))
    if len(shifts) != len(dims):
        raise RuntimeError(f"shifts and dimensions must align. shifts: {len(shifts)}, dims:{len(dims)}")
    n = input.node
    for s, d in zip(shifts, dims):
        n = _roll_node(n, s, _dim_of_nonscalar(d, input.ndim))
    return wrap(n)


def rot90(input: Tensor, k: int = 1, dims=(0, 1)) -> Tensor:
    """Rotation by 90 degrees `k` times in the plane of `dims`, from the first towards the second."""
    dims = _int_list(dims, "rot90(): argument 'dims'")
    if len(dims) != 2:
        raise RuntimeError(f"expected total rotation dims == 2, but got dims = {len(dims)}")
    if input.ndim < 2:
        raise RuntimeError(f"expected total dims >= 2, but got total dims = {input.ndim}")
    a, b = normalize_dim(dims[0], input.ndim), normalize_dim(dims[1], input.ndim)
    if a == b:
        raise RuntimeError(f"expected rotation dims to be different, but got dim0 = {dims[0]} and dim1 = {dims[1]}")
    k = _int_arg(k, "rot90(): argument 'k'") % 4
    if k == 1:
        return shape_ops.transpose(flip(input, (b,)), a, b)
    if k == 2:
        return flip(input, (a, b))
    if k == 3:
        return shape_ops.transpose(flip(input, (a,)), a, b)
    return wrap(input.node)


# ---- basic in-place writes ----

def zero_(input: Tensor) -> Tensor:
    """Fill with zeros in place."""
    return fill_(input, 0)


def fill_(input: Tensor, value) -> Tensor:
    """Fill with `value` (a number or 0-d tensor) in place."""
    if isinstance(value, Tensor) and value.ndim != 0:
        raise RuntimeError(f"fill_ only supports 0-dimension value tensor but got tensor with {value.ndim} "
                           "dimensions.")
    # one value everywhere: writing it through overlapping (expanded) views is well defined
    return assign(input, _value_node(value, input.dtype, tuple(input.shape), "fill_"), allow_overlap=True)


def fill(input: Tensor, value) -> Tensor:
    """A new tensor like `input` filled with `value` (a number or 0-d tensor)."""
    if isinstance(value, Tensor) and value.ndim != 0:
        raise RuntimeError(f"fill_ only supports 0-dimension value tensor but got tensor with {value.ndim} "
                           "dimensions.")
    return wrap(_value_node(value, input.dtype, tuple(input.shape), "fill"))


def copy_(self: Tensor, src, non_blocking: bool = False) -> Tensor:
    """Write `src` (broadcast to self's shape, cast to self's dtype) into self in place."""
    if not isinstance(src, Tensor):
        if not is_scalar(src):
            raise TypeError(f"copy_(): argument 'other' (position 1) must be Tensor, not {type(src).__name__}")
        return assign(self, const(src, self.dtype, tuple(self.shape)))
    shape = broadcast_shapes(tuple(self.shape), tuple(src.shape))
    if shape != tuple(self.shape):
        raise RuntimeError(f"output with shape {list(self.shape)} doesn't match the broadcast shape {list(shape)}")
    return assign(self, expand_node(cast_node(src.node, self.dtype), shape))


# ---- scattering ----

def _scatter_node(input: Tensor, dim: int, index: Tensor, src, mode: str) -> Node:
    """The new value of `input` after scattering `src` (tensor or number) at `index` along `dim`.

    mode 'set' writes (the last duplicate wins), 'add' sums into input, 'multiply' multiplies.
    Built as a one-hot comparison onehot[.., q, n, ..] = (index[.., q, ..] == n), reduced over q.
    """
    d = normalize_dim(dim, input.ndim)
    if not isinstance(index, Tensor):
        raise TypeError(f"scatter(): argument 'index' (position 3) must be Tensor, not {type(index).__name__}")
    if index.dtype not in _INDEX_DTYPES:
        raise RuntimeError("scatter(): Expected dtype int32/int64 for index")
    is_src = isinstance(src, Tensor)
    if is_src and src.dtype is not input.dtype:
        raise RuntimeError("scatter(): Expected self.dtype to be equal to src.dtype")
    if not is_src and not is_scalar(src):
        raise TypeError(f"scatter(): argument 'value' must be Number or Tensor, not {type(src).__name__}")
    if index.numel() == 0:  # PyTorch checks nothing more and writes nothing
        return input.node
    S, I = tuple(input.shape) or (1,), tuple(index.shape) or (1,)
    r = len(S)
    if len(I) != r:
        raise RuntimeError("Index tensor must have the same number of dimensions as self tensor")
    R = (tuple(src.shape) or (1,)) if is_src else None
    if is_src and len(R) != r:
        raise RuntimeError("Index tensor must have the same number of dimensions as src tensor")
    if any((k != d and I[k] > S[k]) or (is_src and I[k] > R[k]) for k in range(r)):
        msg = (f"Expected index {list(index.shape)} to be no larger than self {list(input.shape)} apart from "
               f"dimension {d}")
        if is_src:
            msg += f" and to be no larger size than src {list(src.shape)}"
        raise RuntimeError(msg)

    dtype, N, Q = input.dtype, S[d], I[d]
    x = _reshape(input.node, S)
    P = I[:d] + (N,) + I[d + 1:]  # the part of input that the index can reach
    # Reading the index through GATHER from a ramp 0..N-1 keeps its values but raises IndexError at
    # flush for out-of-range ones, as GATHER (and torch) do.
    idx = make(Op.GATHER, (_ramp(N, index.dtype, d, P), _reshape(index.node, I)), d)
    A = I[:d] + (Q, N) + I[d + 1:]
    col = I[:d] + (Q, 1) + I[d + 1:]
    onehot = make(Op.CMPEQ, (expand_node(_reshape(idx, col), A), _ramp(N, index.dtype, d + 1, A)))

    def over_q(op: Op, n: Node) -> Node:
        return _reshape(make(op, (n,), (d,)), P)

    hit = over_q(Op.SUM, onehot)  # SUM of bools is "any"
    if mode == "set":
        if is_src:
            # the position q of the (last) write to each target, then the src value there
            q = expand_node(_reshape(iota(Q, dt.int64).node, (1,) * d + (Q, 1) + (1,) * (r - d - 1)), A)
            pos = over_q(Op.MAX_REDUCE, make(Op.WHERE, (onehot, q, const(-1, dt.int64, A))))
            pos = make(Op.WHERE, (hit, pos, const(0, dt.int64, P)))
            new = make(Op.GATHER, (_reshape(src.node, R), pos), d)
        else:
            new = const(src, dtype, P)
    else:
        if is_src:
            src_n = _reshape(src.node, R)
            if R != I:
                src_n = make(Op.SHRINK, (src_n,), tuple((0, i) for i in I))
            vals = expand_node(_reshape(src_n, col), A)
        else:
            vals = const(src, dtype, A)
        x_part = x if P == S else make(Op.SHRINK, (x,), tuple((0, p) for p in P))
        if mode == "add":
            contrib = over_q(Op.SUM, make(Op.WHERE, (onehot, vals, const(0, dtype, A))))
            new = make(Op.ADD, (x_part, contrib))
        else:
            contrib = over_q(Op.PROD, make(Op.WHERE, (onehot, vals, const(1, dtype, A))))
            new = make(Op.MUL, (x_part, contrib))
    if P != S:
        pads = tuple((0, s - p) for s, p in zip(S, P))
        hit, new = make(Op.PAD, (hit,), pads), make(Op.PAD, (new,), pads)
    # untouched entries keep their exact value (x + 0 would turn -0.0 into 0.0)
    return _reshape(make(Op.WHERE, (hit, new, x)), tuple(input.shape))


def _scatter_mode(reduce: str | None) -> str:
    if reduce is None:
        return "set"
    if reduce not in ("add", "multiply"):
        raise RuntimeError("reduce argument must be either add or multiply.")
    return reduce


def _src_or_value(src, value):
    if src is None and value is None:
        raise TypeError("scatter() missing required argument 'src' or 'value'")
    return value if src is None else src


def scatter(input: Tensor, dim: int, index: Tensor, src=None, *, value=None, reduce: str | None = None) -> Tensor:
    """A copy of `input` with `src` (tensor or number) written at `index` along `dim`."""
    mode = _scatter_mode(reduce)
    return wrap(_scatter_node(input, dim, index, _src_or_value(src, value), mode))


def _scatter_(self: Tensor, dim: int, index: Tensor, src=None, *, value=None, reduce: str | None = None) -> Tensor:
    """In-place scatter."""
    mode = _scatter_mode(reduce)
    return assign(self, _scatter_node(self, dim, index, _src_or_value(src, value), mode))


def _check_src_tensor(src, name: str) -> None:
    if not isinstance(src, Tensor):
        raise TypeError(f"{name}(): argument 'src' (position 4) must be Tensor, not {type(src).__name__}")


def scatter_add(input: Tensor, dim: int, index: Tensor, src: Tensor) -> Tensor:
    """A copy of `input` with `src` added at `index` along `dim` (duplicates accumulate)."""
    _check_src_tensor(src, "scatter_add")
    return wrap(_scatter_node(input, dim, index, src, "add"))


def _scatter_add_(self: Tensor, dim: int, index: Tensor, src: Tensor) -> Tensor:
    """In-place scatter_add."""
    _check_src_tensor(src, "scatter_add_")
    return assign(self, _scatter_node(self, dim, index, src, "add"))


# ---- Tensor methods (PyTorch's method spellings where they differ from the functions) ----

def _split_method(self: Tensor, split_size, dim: int = 0) -> tuple[Tensor, ...]:
    """Views of pieces of `split_size` (or of the given sizes) along `dim`."""
    return split(self, split_size, dim)


def _flip_method(self: Tensor, *dims) -> Tensor:
    """A copy reversed along `dims`."""
    return flip(self, _dims_arg(dims))


def _tile_method(self: Tensor, *dims) -> Tensor:
    """The tensor repeated along each dim."""
    return tile(self, _dims_arg(dims))


for _f in (chunk, unbind, tensor_split, hsplit, vsplit, dsplit, split_with_sizes, gather, index_select,
           take_along_dim, masked_fill, tril, triu, repeat, repeat_interleave, fliplr, flipud, roll, rot90,
           zero_, fill_, copy_, scatter, scatter_add):
    setattr(Tensor, _f.__name__, _f)
Tensor.split = _split_method
Tensor.flip = _flip_method
Tensor.tile = _tile_method
Tensor.masked_fill_ = _masked_fill_
Tensor.tril_ = _tril_
Tensor.triu_ = _triu_
Tensor.scatter_ = _scatter_
Tensor.scatter_add_ = _scatter_add_
