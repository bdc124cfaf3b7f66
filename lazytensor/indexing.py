"""Indexing: `x[i]`, `x[i] = v` and the index ops (nonzero, masked_select, take, index_put, index_fill...).

PyTorch's rules, in three layers:
- *Basic* indices (ints, slices with positive steps, None, `...`) give a view: one chain of movement
  ops over the indexed tensor (views.py), so a write through it reaches the base and every view.
- *Advanced* indices (integer tensors, lists, numpy arrays, boolean masks, Python bools) index the
  basic view and give a copy, built with the GATHER primitive over the indexed dims flattened into
  one axis. Where the broadcast index dims land follows PyTorch: in place when the advanced
  indices are adjacent (after ints are selected away), else first.
- Writes through advanced indices build the whole new value of the basic view (GATHER of the written
  rows, WHERE against the old values) and `assign` it, so they too reach the base.

A boolean mask makes a data-dependent shape: indexing with one flushes the mask (only the mask) and
goes on with the integer positions of its true elements. Index values known on the host (lists,
numpy arrays, realized tensors) are checked when the op is built; lazy index tensors are checked by
GATHER when the graph runs.
"""
from __future__ import annotations

import numbers
import operator
import warnings
from dataclasses import dataclass

import numpy as np

from lazytensor import creation, lazy, views
from lazytensor.compiler import dtypes as dt
from lazytensor.compiler.ir import Node
from lazytensor.compiler.ops import Op, make
from lazytensor.tensor import (Tensor, _torch_name, assign, broadcast_shapes, cast_node, const, expand_node,
                               is_scalar, make_view, normalize_dim, wrap)

__all__ = ["nonzero", "argwhere", "masked_select", "take", "index_put", "index_put_", "index_fill",
           "masked_scatter"]

_INDEX_DTYPES = (dt.int64, dt.int32)
_BAD_INDEX_DTYPE = "tensors used as indices must be long, int, byte or bool tensors"


# ---- small node helpers ----

def _prod(shape) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def _reshape(n: Node, shape: tuple) -> Node:
    shape = tuple(shape)
    return n if n.shape == shape else make(Op.RESHAPE, (n,), shape)


def _permute(n: Node, order) -> Node:
    order = tuple(order)
    return n if order == tuple(range(len(order))) else make(Op.PERMUTE, (n,), order)


def _host_node(values: np.ndarray, dtype: dt.DType = dt.int64) -> Node:
    """A stored tensor holding host values, as a node."""
    return creation.tensor(np.ascontiguousarray(values), dtype=dtype).node


def _iota(n: int) -> Node:
    return creation.iota(n, dt.int64).node


def count_from_end(idx: Node, size: int) -> Node:
    """Python's negative indices over `size` positions: `idx + size` where -size <= idx < 0, the
    rest as given. GATHER itself takes 0 <= idx < size only (torch.gather and index_select refuse
    negative indices, indexing and take count them from the end) and names an index still out of
    range as the user wrote it."""
    shape = idx.shape
    shifted = make(Op.ADD, (idx, const(size, idx.dtype, shape)))
    negative = make(Op.CMPLT, (idx, const(0, idx.dtype, shape)))
    reaches = make(Op.NOT, (make(Op.CMPLT, (shifted, const(0, idx.dtype, shape))),))
    return make(Op.WHERE, (make(Op.AND, (negative, reaches)), shifted, idx))


def _host_values(t: Tensor) -> np.ndarray | None:
    """The tensor's values when they are stored already (reading them flushes nothing), else None."""
    base = t._base if t._base is not None else t
    return t._host_array() if lazy.is_realized(base) else None


# ---- parsing an index into a basic view plus advanced indices ----

@dataclass
class _Adv:
    """One advanced index over dimension `dim` of the basic view: host values or a lazy node."""
    dim: int
    host: np.ndarray | None = None  # int64, checked and made non-negative
    node: Node | None = None  # int32/int64, checked by GATHER when it runs

    @property
    def shape(self) -> tuple:
        return self.host.shape if self.host is not None else self.node.shape


@dataclass
class _Mask:
    """A boolean mask over dimensions dim .. dim + ndim - 1 of the basic view."""
    dim: int
    mask: Tensor | np.ndarray

    @property
    def shape(self) -> tuple:
        return tuple(self.mask.shape)


@dataclass
class _Parsed:
    vops: tuple  # movement ops from the indexed tensor to the basic view
    shape: tuple  # the basic view's shape
    adv: list  # _Adv and _Mask entries, in index order


def _sequence_as_tuple(index) -> bool:
    """NumPy's legacy rule, still PyTorch's: a short list holding sequences, slices, tensors, None or
    `...` is a tuple of indices, not an index tensor."""
    if not isinstance(index, list) or len(index) >= 32:
        return False
    return any(isinstance(x, (Tensor, list, tuple, np.ndarray, slice)) or x is None or x is Ellipsis
               for x in index)


def _index_tuple(index) -> tuple:
    if isinstance(index, tuple):
        return index
    if _sequence_as_tuple(index):
        warnings.warn("Using a non-tuple sequence for multidimensional indexing is deprecated and will be "
                      "changed in pytorch 2.9; use x[tuple(seq)] instead of x[seq].", UserWarning, stacklevel=4)
        return tuple(index)
    return (index,)


def _array_index(values: np.ndarray):
    """(kind, value) for a numpy index: a bool mask or int64 positions."""
    if values.dtype == np.bool_:
        return ("mask", values)
    if values.dtype.kind in "iu":
        return ("ints", values.astype(np.int64))
    raise IndexError(_BAD_INDEX_DTYPE)


def _classify(item, select_0d: bool):
    """(kind, value, dims it consumes) for one index item."""
    if item is None:
        return ("none", None, 0)
    if item is Ellipsis:
        return ("ellipsis", None, 0)
    if isinstance(item, bool):
        return ("bool", item, 0)
    if isinstance(item, np.bool_):
        raise IndexError("only integers, slices (`:`), ellipsis (`...`), None and long or byte Variables are "
                         f"valid indices (got {type(item).__module__}.{type(item).__name__})")
    if isinstance(item, (numbers.Integral, np.integer)):
        return ("int", operator.index(item), 1)
    if isinstance(item, slice):
        return ("slice", item, 1)
    if isinstance(item, Tensor):
        d = item.dtype
        if d is dt.uint8:
            warnings.warn("indexing with dtype torch.uint8 is now deprecated, please use a dtype torch.bool "
                          "instead.", UserWarning, stacklevel=4)
            item, d = wrap(cast_node(item.node, dt.bool_)), dt.bool_
        if d is dt.bool_:
            if item.ndim == 0:
                return ("bool", bool(item.item()), 0)  # its value decides the shape: flushes
            return ("mask", item, item.ndim)
        if not d.is_integer:
            raise IndexError(_BAD_INDEX_DTYPE)
        if item.ndim == 0 and select_0d:
            return ("int", int(item.item()), 1)  # PyTorch selects with a 0-d integer tensor: a view
        if d not in _INDEX_DTYPES:
            raise IndexError(_BAD_INDEX_DTYPE)
        return ("ints", item, 1)
    if isinstance(item, np.ndarray):
        if item.ndim == 0:
            return _classify(item.item() if item.dtype != np.bool_ else bool(item), select_0d)
        kind, value = _array_index(item)
        return (kind, value, value.ndim if kind == "mask" else 1)
    if isinstance(item, (list, tuple)):
        values = np.asarray(item)
        if values.dtype.kind == "f":
            values = values.astype(np.int64)  # PyTorch makes an index of a float list long (and [] too)
        kind, value = _array_index(values)
        return (kind, value, value.ndim if kind == "mask" else 1)
    name = type(item).__name__
    raise IndexError("only integers, slices (`:`), ellipsis (`...`), None and long or byte Variables are valid "
                     f"indices (got {name})")


def _slice_bounds(s: slice, size: int) -> tuple[int, int, int]:
    """(start, count, step) of a slice over a dimension of `size`, clamped as Python does."""
    step = 1 if s.step is None else operator.index(s.step)
    if step == 0:
        raise ValueError("slice step cannot be zero")
    if step < 0:
        raise ValueError("step must be greater than zero")
    start, stop, _ = slice(s.start, s.stop, step).indices(size)
    return start, max(0, (stop - start + step - 1) // step), step


@dataclass(frozen=True)
class _NewDim:
    """A size-1 dim that the index inserts (None, or a bool), with the stride PyTorch reports for it."""
    stride: int


def _basic_vops(shape: tuple, bounds: dict, out_dims: list) -> tuple[tuple, tuple]:
    """Movement ops that apply per-dim (start, count, step) `bounds`, drop selected dims and insert new
    ones (`out_dims`: the source dim, or a _NewDim, of each result dim); and the result's shape.

    One PAD (strided slices that run past the end), one SHRINK, a split of each strided dim into
    (count, step) keeping column 0, then one RESHAPE to the final shape. The RESHAPEs carry
    PyTorch's strides for every dim (views.ViewShape): slicing keeps the strides of the dims it
    leaves alone, size-1 and empty ones included, and scales a sliced dim's stride by its step."""
    nd = len(shape)
    stepped = {d for d, (_, _, step) in bounds.items() if step > 1}
    split_dims = {d for d in stepped if bounds[d][1] > 1}
    ops = []
    cur = list(shape)
    pads = [(0, 0)] * nd
    for d in split_dims:
        start, count, step = bounds[d]
        end = start + count * step
        if end > shape[d]:
            pads[d] = (0, end - shape[d])
            cur[d] = end
    if any(hi for _, hi in pads):
        ops.append((Op.PAD, tuple(pads)))
    box = [(0, c) for c in cur]
    for d, (start, count, step) in bounds.items():
        box[d] = (start, start + count * (step if d in split_dims else 1))
    if box != [(0, c) for c in cur]:
        ops.append((Op.SHRINK, tuple(box)))
        cur = [e - b for b, e in box]
    # where each source dim lives in `cur` (after a split: its count dim), and the stride factor
    # still owed to it (a step on a dim of 0 or 1 elements, which no split expresses)
    where = list(range(nd))
    factor = {d: bounds[d][2] for d in stepped - split_dims}
    if split_dims:
        split, keep, rules = [], [], []
        for d in range(nd):
            where[d] = len(split)
            if d in split_dims:
                count, step = bounds[d][1], bounds[d][2]
                split += [count, step]
                keep += [(0, count), (0, 1)]
                rules += [("dim", d, step), ("dim", d, 1)]
            else:
                split.append(cur[d])
                keep.append((0, cur[d]))
                rules.append(("dim", d, 1))
        ops.append((Op.RESHAPE, views.ViewShape(tuple(split), tuple(rules))))
        ops.append((Op.SHRINK, tuple(keep)))
        cur = [e for _, e in keep]
    final, rules = [], []
    for d in out_dims:
        if isinstance(d, _NewDim):
            final.append(1)
            rules.append(("stride", d.stride))
        else:
            final.append(bounds[d][1] if d in bounds else shape[d])
            rules.append(("dim", where[d], factor.get(d, 1)))
    final = tuple(final)
    identity = len(out_dims) == len(cur) and all(not isinstance(d, _NewDim) and where[d] == k
                                                 for k, d in enumerate(out_dims))
    if not identity or factor:
        ops.append((Op.RESHAPE, views.ViewShape(final, tuple(rules))))
    return tuple(ops), final


def _parse(x: Tensor, index, *, select_0d: bool = True, items: tuple | None = None) -> _Parsed:
    """Split an index into the basic view of `x` it selects and the advanced indices over that view."""
    items = _index_tuple(index) if items is None else items
    shape = tuple(x.shape)
    ndim = len(shape)
    kinds = []
    for it in items:  # a plain loop: warnings raised in _classify point at the user's line
        kinds.append(_classify(it, select_0d))
    specified = sum(k[2] for k in kinds)
    if specified > ndim:
        if ndim == 0 and kinds[0][0] == "int":
            raise IndexError("invalid index of a 0-dim tensor. Use `tensor.item()` in Python or `tensor.item<T>()` "
                             "in C++ to convert a 0-dim tensor to a number")
        if ndim == 0 and kinds[0][0] == "slice":
            raise IndexError("slice() cannot be applied to a 0-dim tensor.")
        raise IndexError(f"too many indices for tensor of dimension {ndim}")
    src = 0
    strides = x._strided()[1]
    out_dims: list = []  # per result dim: the source dim, or a _NewDim
    bounds: dict = {}  # source dim -> (start, count, step)
    pending: list = []  # (result dim, kind, value)

    def take_dim():
        nonlocal src
        if src >= ndim:
            raise IndexError(f"too many indices for tensor of dimension {ndim}")
        src += 1
        return src - 1

    def new_dim() -> _NewDim:
        # unsqueeze's stride, from the next source dim as it is when PyTorch meets the None
        return _NewDim(shape[src] * strides[src] if src < ndim else 1)

    for pos, (kind, value, _) in enumerate(kinds):
        if kind == "none":
            out_dims.append(new_dim())
        elif kind == "ellipsis":
            # PyTorch lets every `...` stand for the dims no other index names
            for _ in range(ndim - specified):
                if src < ndim:
                    out_dims.append(take_dim())
        elif kind == "bool":
            # x[True] adds a dim of size 1 indexed by [0]; x[False] one indexed by nothing
            pending.append((len(out_dims), "ints", np.zeros((1 if value else 0,), dtype=np.int64)))
            out_dims.append(new_dim())
        elif kind == "int":
            d = take_dim()
            size = shape[d]
            if not -size <= value < size:
                raise IndexError(f"index {value} is out of bounds for dimension {pos} with size {size}")
            bounds[d] = (value + size if value < 0 else value, 1, 1)
        elif kind == "slice":
            d = take_dim()
            bounds[d] = _slice_bounds(value, shape[d])
            out_dims.append(d)
        elif kind == "ints":
            pending.append((len(out_dims), "ints", value))
            out_dims.append(take_dim())
        else:  # mask
            pending.append((len(out_dims), "mask", value))
            for _ in range(value.ndim):
                out_dims.append(take_dim())
    while src < ndim:
        out_dims.append(take_dim())
    vops, view_shape = _basic_vops(shape, bounds, out_dims)
    adv = []
    for dim, kind, value in pending:
        if kind == "mask":
            m = _Mask(dim, value)
            for j, size in enumerate(m.shape):
                if size != view_shape[dim + j]:
                    raise IndexError(f"The shape of the mask {list(m.shape)} at index {j} does not match the shape "
                                     f"of the indexed tensor {list(view_shape)} at index {dim + j}")
            adv.append(m)
        else:
            adv.append(_int_index(dim, value, view_shape[dim]))
    return _Parsed(vops, view_shape, adv)


def _int_index(dim: int, value, size: int) -> _Adv:
    """An integer index over a dim of `size`: checked now when its values are on the host."""
    if isinstance(value, Tensor):
        host = _host_values(value)
        if host is None:
            return _Adv(dim, node=value.node)
        value = host
    host = np.asarray(value, dtype=np.int64)
    if host.size:
        bad = host[(host < -size) | (host >= size)]
        if bad.size:
            raise IndexError(f"index {int(bad.flat[0])} is out of bounds for dimension {dim} with size {size}")
    return _Adv(dim, host=np.where(host < 0, host + size, host))


def _resolve_masks(adv: list) -> list:
    """Every mask replaced by the integer positions of its true elements (flushes the masks)."""
    out = []
    for a in adv:
        if isinstance(a, _Mask):
            host = a.mask if isinstance(a.mask, np.ndarray) else a.mask._host_array()
            for j, positions in enumerate(np.nonzero(host)):
                out.append(_Adv(a.dim + j, host=positions.astype(np.int64)))
        else:
            out.append(a)
    return out


# ---- advanced indexing over the basic view ----

def _broadcast_indices(adv: list) -> tuple:
    try:
        return broadcast_shapes(*(a.shape for a in adv))
    except RuntimeError:
        raise IndexError("shape mismatch: indexing tensors could not be broadcast together with shapes "
                         + ", ".join(str(list(a.shape)) for a in adv)) from None


@dataclass
class _Layout:
    """The basic view seen as rows: the indexed dims flattened into one axis of N rows, the other
    dims flattened into r columns. `lin` (b,) holds the row each of the b index positions reads."""
    shape: tuple  # the basic view's shape
    dims: list  # indexed dims, in index order
    rest: list  # the other dims, in order
    index_shape: tuple  # B, the broadcast shape of the indices
    lin: np.ndarray | Node  # int64 rows, non-negative (or one raw lazy index, see _layout's allow_raw)

    @property
    def rows(self) -> int:
        return _prod(self.shape[d] for d in self.dims)

    @property
    def cols(self) -> int:
        return _prod(self.shape[d] for d in self.rest)

    @property
    def b(self) -> int:
        return _prod(self.index_shape)

    def result_shape(self) -> tuple:
        """PyTorch's shape for the indexed result: B in place of adjacent indexed dims, else first."""
        rest_shape = tuple(self.shape[d] for d in self.rest)
        k = self.dims[0] if self.adjacent else 0
        return rest_shape[:k] + self.index_shape + rest_shape[k:]

    @property
    def adjacent(self) -> bool:
        return self.dims == list(range(self.dims[0], self.dims[0] + len(self.dims)))

    def to_rows(self, n: Node) -> Node:
        return _reshape(_permute(n, self.dims + self.rest), (self.rows, self.cols))

    def from_rows(self, n: Node) -> Node:
        moved = _reshape(n, tuple(self.shape[d] for d in self.dims + self.rest))
        order = self.dims + self.rest
        return _permute(moved, tuple(order.index(d) for d in range(len(order))))

    def lin_node(self) -> Node:
        return _host_node(self.lin) if isinstance(self.lin, np.ndarray) else self.lin


def _layout(shape: tuple, adv: list, *, allow_raw: bool) -> _Layout:
    """The rows layout and the flat row index of integer indices `adv` over a view of `shape`."""
    index_shape = _broadcast_indices(adv)
    b = _prod(index_shape)
    dims = [a.dim for a in adv]
    rest = [d for d in range(len(shape)) if d not in dims]
    sizes = [shape[d] for d in dims]
    if all(a.host is not None for a in adv):
        lin = np.zeros(index_shape, dtype=np.int64)
        for a, size in zip(adv, sizes):
            lin = lin * size + a.host
        return _Layout(shape, dims, rest, index_shape, lin.reshape(-1))
    if len(adv) == 1 and allow_raw:
        # a read may use one lazy index as it is (GATHER checks the bounds)
        return _Layout(shape, dims, rest, index_shape, count_from_end(_reshape(adv[0].node, (b,)), sizes[0]))
    lin = None
    stride = 1
    for a, size in reversed(list(zip(adv, sizes))):
        if a.host is not None:
            part = _host_node(a.host)
        else:
            # a GATHER from 0..size-1 checks the bounds (raising at flush, as torch does)
            flat = count_from_end(_reshape(a.node, (_prod(a.shape),)), size)
            part = _reshape(make(Op.GATHER, (_iota(size), flat), 0), a.shape)
        part = expand_node(part, index_shape)
        if stride != 1:
            part = make(Op.MUL, (part, const(stride, dt.int64, index_shape)))
        lin = part if lin is None else make(Op.ADD, (lin, part))
        stride *= size
    return _Layout(shape, dims, rest, index_shape, _reshape(lin, (b,)))


def _gather(view: Node, adv: list) -> Node:
    """`view[adv]`: the rows the indices name, in PyTorch's result layout."""
    lay = _layout(view.shape, adv, allow_raw=True)
    b, r = lay.b, lay.cols
    idx = expand_node(_reshape(lay.lin_node(), (b, 1)), (b, r))
    out = make(Op.GATHER, (lay.to_rows(view), idx), 0)
    rest_shape = tuple(lay.shape[d] for d in lay.rest)
    out = _reshape(out, lay.index_shape + rest_shape)
    if lay.adjacent and lay.dims[0] > 0:
        k, nb = lay.dims[0], len(lay.index_shape)
        order = list(range(nb, nb + k)) + list(range(nb)) + list(range(nb + k, nb + len(rest_shape)))
        out = _permute(out, order)
    return out


def _getitem(self: Tensor, index) -> Tensor:
    """`self[index]`: a view for basic indices, a copy for advanced ones (a bool mask flushes the mask)."""
    p = _parse(self, index)
    if not p.adv:
        return make_view(self, p.vops)
    return wrap(_gather(views.apply(self.node, p.vops), _resolve_masks(p.adv)))


# ---- writes through indices ----

def _strip_leading_ones(n: Node) -> Node:
    shape = n.shape
    k = 0
    while k < len(shape) and shape[k] == 1:
        k += 1
    return _reshape(n, shape[k:]) if k else n


def _check_value_shape(value: Node, shape: tuple) -> None:
    """PyTorch's index_put rule: `value` must broadcast to the indexing result's shape."""
    v = value.shape
    if len(v) > len(shape) or any(a != 1 and a != b for a, b in zip(reversed(v), reversed(shape))):
        raise RuntimeError(f"shape mismatch: value tensor of shape {list(v)} cannot be broadcast to indexing "
                           f"result of shape {list(shape)}")


def _rows_write(old: Node, lay: _Layout, values: Node | None, row: Node | None, accumulate: bool) -> Node:
    """The rows layout `old` (N, r) after writing `values` (b, r) at rows `lay.lin`, or after writing one
    `row` (1, r) at every indexed row. Duplicate rows: the last write wins, or all add (accumulate)."""
    n_rows, r, b = lay.rows, lay.cols, lay.b
    full = (n_rows, r)
    lin = lay.lin
    if b == 0:
        return old
    if isinstance(lin, np.ndarray):
        return _rows_write_host(old, lin, n_rows, r, b, values, row, accumulate)
    # lazy rows: compare every index position with every row (b x N one-hot)
    onehot = make(Op.CMPEQ, (expand_node(_reshape(lin, (b, 1)), (b, n_rows)),
                             expand_node(_reshape(_iota(n_rows), (1, n_rows)), (b, n_rows))))
    if accumulate:
        if row is not None:
            values = expand_node(row, (b, r))
        hits = expand_node(_reshape(onehot, (b, n_rows, 1)), (b, n_rows, r))
        spread = make(Op.WHERE, (hits, expand_node(_reshape(values, (b, 1, r)), (b, n_rows, r)),
                                 const(0, values.dtype, (b, n_rows, r))))
        return make(Op.ADD, (old, _reshape(make(Op.SUM, (spread,), (0,)), full)))
    if row is not None:
        hit = _reshape(make(Op.SUM, (onehot,), (0,)), (n_rows, 1))  # a bool SUM is `any`
        return make(Op.WHERE, (expand_node(hit, full), expand_node(row, full), old))
    # the last index position that names each row (-1 for none) picks the row's new value
    positions = expand_node(_reshape(_iota(b), (b, 1)), (b, n_rows))
    last = _reshape(make(Op.MAX_REDUCE, (make(Op.WHERE, (onehot, positions, const(-1, dt.int64, (b, n_rows)))),),
                         (0,)), (n_rows, 1))
    hit = make(Op.CMPLT, (const(-1, dt.int64, (n_rows, 1)), last))
    src = make(Op.MAX, (last, const(0, dt.int64, (n_rows, 1))))
    picked = make(Op.GATHER, (values, expand_node(src, full)), 0)
    return make(Op.WHERE, (expand_node(hit, full), picked, old))


def _rows_write_host(old: Node, lin: np.ndarray, n_rows: int, r: int, b: int, values: Node | None,
                     row: Node | None, accumulate: bool) -> Node:
    """`_rows_write` for rows known on the host: who writes each row is worked out here."""
    full = (n_rows, r)

    def host_mask(hit: np.ndarray) -> Node:
        return expand_node(_host_node(hit.reshape(n_rows, 1), dt.bool_), full)

    def gather_rows(src: Node, writer: np.ndarray) -> Node:
        return make(Op.GATHER, (src, expand_node(_host_node(np.maximum(writer, 0).reshape(n_rows, 1)), full)), 0)

    if row is not None and not accumulate:
        hit = np.zeros(n_rows, dtype=bool)
        hit[lin] = True
        return expand_node(row, full) if hit.all() else make(Op.WHERE, (host_mask(hit), expand_node(row, full), old))
    if row is not None:
        values = expand_node(row, (b, r))
    # rank of each index position among the writes to its row, in index order
    order = np.argsort(lin, kind="stable")
    sorted_lin = lin[order]
    first = np.r_[True, sorted_lin[1:] != sorted_lin[:-1]]
    last = np.r_[sorted_lin[1:] != sorted_lin[:-1], True]
    rank = np.arange(b) - np.maximum.accumulate(np.where(first, np.arange(b), 0))
    rounds = int(rank.max()) + 1 if accumulate else 1
    distinct = int(first.sum())
    # cost in elements touched, a round also paying for its graph nodes
    if accumulate and rounds > 1 and distinct * b * r < rounds * (n_rows * r + 4096):
        # many writes to few rows: sum them with a one-hot over the distinct rows, then add once
        group = np.cumsum(first) - 1  # distinct-row number of each sorted position
        onehot = np.zeros((distinct, b), dtype=bool)
        onehot[group, order] = True
        spread = make(Op.WHERE, (expand_node(_host_node(onehot.reshape(distinct, b, 1), dt.bool_), (distinct, b, r)),
                                 expand_node(_reshape(values, (1, b, r)), (distinct, b, r)),
                                 const(0, values.dtype, (distinct, b, r))))
        sums = _reshape(make(Op.SUM, (spread,), (1,)), (distinct, r))
        writer = np.full(n_rows, -1, dtype=np.int64)
        writer[sorted_lin[first]] = np.arange(distinct)
        hit = writer >= 0
        new = make(Op.ADD, (old, gather_rows(sums, writer)))
        return new if hit.all() else make(Op.WHERE, (host_mask(hit), new, old))
    # one round per k: the k-th write to every row (without duplicates, or keeping the last write: one)
    out = old
    for k in range(rounds):
        sel = rank == k if accumulate else last
        writer = np.full(n_rows, -1, dtype=np.int64)
        writer[sorted_lin[sel]] = order[sel]
        hit = writer >= 0
        new = make(Op.ADD, (out, gather_rows(values, writer))) if accumulate else gather_rows(values, writer)
        out = new if hit.all() else make(Op.WHERE, (host_mask(hit), new, out))
    return out


def _put_node(view: Node, adv: list, value: Node, accumulate: bool) -> Node:
    """The new value of `view` after `view[adv] = value` (or `+=` with accumulate)."""
    lay = _layout(view.shape, adv, allow_raw=False)
    result = lay.result_shape()
    value = _strip_leading_ones(value)
    _check_value_shape(value, result)
    value = _reshape(value, (1,) * (len(result) - len(value.shape)) + value.shape)
    nb = len(lay.index_shape)
    k = lay.dims[0] if lay.adjacent else 0
    b_pos = list(range(k, k + nb))
    other = [i for i in range(len(result)) if i not in b_pos]
    rest_shape = tuple(result[i] for i in other)
    old = lay.to_rows(view)
    if all(value.shape[i] == 1 for i in b_pos):
        # one row written everywhere: no need to spread the value over the index positions
        row = _reshape(expand_node(_reshape(value, tuple(value.shape[i] for i in other)), rest_shape),
                       (1, lay.cols))
        new = _rows_write(old, lay, None, row, accumulate)
    else:
        moved = _permute(expand_node(value, result), b_pos + other)
        new = _rows_write(old, lay, _reshape(moved, (lay.b, lay.cols)), None, accumulate)
    return lay.from_rows(new)


def _value_node(self: Tensor, value) -> Node | Tensor:
    """A Python number as a constant of the tensor's dtype; a tensor as it is."""
    if isinstance(value, Tensor):
        return value
    if is_scalar(value):
        return const(value, self.dtype)
    raise TypeError(f"can't assign a {type(value).__name__} to a torch.{_torch_name(self.dtype)}Tensor")


def _single_mask(adv: list) -> _Mask | None:
    return adv[0] if len(adv) == 1 and isinstance(adv[0], _Mask) else None


def _masked_fill_node(view: Node, m: _Mask, value: Node) -> Node:
    """`view` with the mask's elements set to a one-element value: a WHERE, no flush."""
    mask = m.mask if isinstance(m.mask, Tensor) else creation.tensor(m.mask, dtype=dt.bool_)
    shape = view.shape
    aligned = (1,) * m.dim + tuple(mask.shape) + (1,) * (len(shape) - m.dim - mask.ndim)
    cond = expand_node(_reshape(mask.node, aligned), shape)
    fill = expand_node(_reshape(cast_node(value, view.dtype), ()), shape)
    return make(Op.WHERE, (cond, fill, view))


def _put(target: Tensor, p: _Parsed, value, accumulate: bool) -> None:
    """Write `value` through the advanced indices of a parsed index (the basic part is `p.vops`)."""
    view = make_view(target, p.vops)
    v = value.node if isinstance(value, Tensor) else value
    m = _single_mask(p.adv)
    if m is not None and not accumulate and _prod(v.shape) == 1:
        # PyTorch dispatches this case to masked_fill (which casts the value): lazy here, no flush
        assign(view, _masked_fill_node(view.node, m, v))
        return
    if isinstance(value, Tensor) and value.dtype is not target.dtype:
        raise RuntimeError(f"Index put requires the source and destination dtypes match, got "
                           f"{_torch_name(target.dtype)} for the destination and {_torch_name(value.dtype)} for "
                           f"the source.")
    adv = _resolve_masks(p.adv)
    assign(view, _put_node(view.node, adv, v, accumulate))


def _copy_to(view: Tensor, value: Node) -> None:
    """`view.copy_(value)` with setitem's broadcasting: leading 1s of the value are dropped first."""
    target = tuple(view.shape)
    v = _strip_leading_ones(value)
    if len(v.shape) > len(target):
        raise RuntimeError(f"expand(torch.{_torch_name(v.dtype)}Tensor{{{list(v.shape)}}}, size={list(target)}): "
                           f"the number of sizes provided ({len(target)}) must be greater or equal to the number "
                           f"of dimensions in the tensor ({len(v.shape)})")
    for i, (a, b) in enumerate(zip(reversed(v.shape), reversed(target))):
        if a != b and a != 1:
            dim = len(target) - 1 - i
            raise RuntimeError(f"The expanded size of the tensor ({b}) must match the existing size ({a}) at "
                               f"non-singleton dimension {dim}.  Target sizes: {list(target)}.  Tensor sizes: "
                               f"{list(v.shape)}")
    assign(view, expand_node(cast_node(v, view.dtype), target))


def _setitem(self: Tensor, index, value) -> None:
    """`self[index] = value`, in place: the write reaches the base and every view of it."""
    if index is False:
        return  # PyTorch writes nothing (and checks nothing) for x[False] = v
    v = _value_node(self, value)
    p = _parse(self, index)
    if not p.adv:
        _copy_to(make_view(self, p.vops), v.node if isinstance(v, Tensor) else v)
        return
    _put(self, p, v, accumulate=False)


# ---- module functions ----

def slice_dim(t: Tensor, dim: int, start: int | None, stop: int | None, step: int = 1) -> Tensor:
    """`t[..., start:stop:step, ...]` along `dim`, as a view (step > 0; bounds clamped like Python's)."""
    shape = tuple(t.shape)
    d = normalize_dim(dim, len(shape))
    begin, count, step = _slice_bounds(slice(start, stop, step), shape[d])
    return make_view(t, views.slice_vops(shape, d, begin, begin + count * step, step))


def nonzero(input: Tensor, *, as_tuple: bool = False):
    """Indices of the nonzero elements: an (n, ndim) int64 tensor, or one 1-d tensor per dim (flushes)."""
    host = input._host_array()
    if as_tuple:
        positions = np.nonzero(host.reshape(1) if host.ndim == 0 else host)
        return tuple(creation.tensor(p.astype(np.int64), dtype=dt.int64) for p in positions)
    return creation.tensor(np.argwhere(host).astype(np.int64), dtype=dt.int64)


def argwhere(input: Tensor) -> Tensor:
    """Indices of the nonzero elements as an (n, ndim) int64 tensor (flushes)."""
    return nonzero(input)


def masked_select(input: Tensor, mask: Tensor) -> Tensor:
    """The elements where `mask` (broadcast with `input`) is true, as a 1-d tensor (flushes the mask)."""
    if not isinstance(mask, Tensor) or mask.dtype is not dt.bool_:
        raise RuntimeError("masked_select: expected BoolTensor for mask")
    shape = broadcast_shapes(tuple(input.shape), tuple(mask.shape))
    host = np.broadcast_to(mask._host_array(), shape)
    positions = np.flatnonzero(host)
    flat = _reshape(expand_node(input.node, shape), (_prod(shape),))
    return wrap(make(Op.GATHER, (flat, _host_node(positions)), 0))


def take(input: Tensor, index: Tensor) -> Tensor:
    """`input` read as 1-d at `index` (any shape); the result has `index`'s shape."""
    if index.dtype is not dt.int64:
        raise RuntimeError(f"take(): Expected a long tensor for index, but got {_torch_name(index.dtype)}")
    n = input.numel()
    host = _host_values(index)
    if host is not None:
        bad = host[(host < -n) | (host >= n)]
        if bad.size:
            raise IndexError(f"out of range: tried to access index {int(bad.flat[0])} on a tensor of {n} elements.")
        idx = _host_node(np.where(host < 0, host + n, host).reshape(-1))
    else:
        idx = count_from_end(_reshape(index.node, (index.numel(),)), n)
    out = make(Op.GATHER, (_reshape(input.node, (n,)), idx), 0)
    return wrap(_reshape(out, tuple(index.shape)))


def index_put_(input: Tensor, indices, values: Tensor, accumulate: bool = False) -> Tensor:
    """In place: `input[indices] = values` (`+=` with accumulate, duplicates adding up)."""
    if not isinstance(values, Tensor):
        raise TypeError(f"index_put_(): argument 'values' (position 2) must be Tensor, not {type(values).__name__}")
    if not isinstance(indices, (tuple, list)):
        raise TypeError(f"index_put_(): argument 'indices' (position 1) must be tuple of Tensors, not "
                        f"{type(indices).__name__}")
    for i, t in enumerate(indices):
        if not isinstance(t, Tensor):
            raise TypeError(f"expected Tensor as element {i} in argument 0, but got {type(t).__name__}")
    if sum(t.ndim if t.dtype in (dt.bool_, dt.uint8) else 1 for t in indices) > input.ndim:
        raise IndexError(f"too many indices for tensor of dimension {input.ndim} (got {len(indices)})")
    if not indices:
        _copy_to(make_view(input, ()), values.node)
        return input
    p = _parse(input, None, select_0d=False, items=tuple(indices))
    _put(input, p, values, accumulate)
    return input


def index_put(input: Tensor, indices, values: Tensor, accumulate: bool = False) -> Tensor:
    """A copy of `input` with `input[indices] = values` (`+=` with accumulate)."""
    return index_put_(wrap(input.node), indices, values, accumulate)


def index_fill_(input: Tensor, dim: int, index: Tensor, value) -> Tensor:
    """In place: the entries at `index` along `dim` set to `value` (a number or 0-d tensor)."""
    if index.dtype is not dt.int64:
        raise IndexError("index_fill_(): Expected dtype int64 for index.")
    if index.ndim > 1:
        raise RuntimeError("Index has to be a vector/scalar")
    if isinstance(value, Tensor):
        if value.ndim != 0:
            raise RuntimeError(f"index_fill_ only supports a 0-dimensional value tensor, but got tensor with "
                               f"{value.ndim} dimension(s).")
        v = cast_node(value.node, input.dtype)
    else:
        v = _value_node(input, value)
    d = normalize_dim(dim, input.ndim)
    view = make_view(input, ((Op.RESHAPE, (1,)),)) if input.ndim == 0 else make_view(input, ())
    adv = [_int_index(d, index, view.shape[d])]
    assign(view, _put_node(view.node, adv, v, accumulate=False))
    return input


def index_fill(input: Tensor, dim: int, index: Tensor, value) -> Tensor:
    """A copy of `input` with the entries at `index` along `dim` set to `value`."""
    return index_fill_(wrap(input.node), dim, index, value)


def _masked_scatter_into(target: Tensor, mask: Tensor, source: Tensor) -> None:
    """Write `source`'s first elements, in order, where `mask` (broadcast to `target`) is true."""
    if mask.dtype is not dt.bool_:
        raise RuntimeError(f"masked_scatter_ only supports boolean masks, but got mask with dtype "
                           f"{_torch_name(mask.dtype)}")
    if source.dtype is not target.dtype:
        raise RuntimeError(f"masked_scatter: expected self and source to have same dtypes but got"
                           f"{_torch_name(target.dtype)} and {_torch_name(source.dtype)}")
    shape = tuple(target.shape)
    if broadcast_shapes(tuple(mask.shape), shape) != shape:
        raise RuntimeError(f"masked_scatter_: the mask of shape {list(mask.shape)} can't be broadcast to the "
                           f"tensor's shape {list(shape)}")
    positions = np.flatnonzero(np.broadcast_to(mask._host_array(), shape))
    count = positions.size
    if source.numel() < count:
        raise RuntimeError("Number of elements of source < number of ones in mask")
    n = _prod(shape)
    values = make(Op.SHRINK, (_reshape(source.node, (source.numel(),)),), ((0, count),))
    lay = _Layout((n,), [0], [], (count,), positions.astype(np.int64))
    rows = _rows_write(_reshape(target.node, (n, 1)), lay, _reshape(values, (count, 1)), None, False)
    assign(target, _reshape(rows, shape))


def masked_scatter_(input: Tensor, mask: Tensor, source: Tensor) -> Tensor:
    """In place: the elements where `mask` is true replaced by `source`'s first elements, in order (flushes
    the mask)."""
    _masked_scatter_into(input, mask, source)
    return input


def masked_scatter(input: Tensor, mask: Tensor, source: Tensor) -> Tensor:
    """A copy of `input` (broadcast with `mask`) with the masked elements taken from `source` in order."""
    shape = broadcast_shapes(tuple(input.shape), tuple(mask.shape))
    out = wrap(expand_node(input.node, shape))
    _masked_scatter_into(out, mask, source)
    return out


Tensor.__getitem__ = _getitem
Tensor.__setitem__ = _setitem
for _f in (nonzero, argwhere, masked_select, take, index_put_, index_put, index_fill_, index_fill, masked_scatter_,
           masked_scatter):
    setattr(Tensor, _f.__name__, _f)
