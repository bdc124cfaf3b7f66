"""Views: a tensor that shares its base's storage, described by movement ops from the base.

A view tensor keeps its base and the chain of movement primitives (`vops`) that turns the base's
value into its own. From that chain follow:
- its value (`apply`): the movement nodes over the base's current node, so a write to the base
  is seen by every view;
- its strides and storage offset (`strided`), as PyTorch reports them;
- a write through the view (`write_back`): each movement op inverted in turn, and a WHERE that
  keeps the base's elements the view does not cover.
"""
from __future__ import annotations

import numpy as np

from lazytensor.compiler import dtypes as dt
from lazytensor.compiler.ir import Node
from lazytensor.compiler.ops import Op, make

VOp = tuple  # (Op, arg)


def contiguous_strides(shape: tuple) -> tuple:
    """Row-major strides, in elements."""
    strides, acc = [], 1
    for d in reversed(shape):
        strides.append(acc)
        acc *= max(d, 1)
    return tuple(reversed(strides))


class ViewShape(tuple):
    """A view RESHAPE's target shape that also says which strides PyTorch reports for it.

    ATen's computeStride (what view and reshape use) picks by convention the stride of a size-1
    dim, and of every dim of an empty tensor. squeeze, unsqueeze, select, slicing, expand and
    from_numpy instead keep the strides of the dims they leave alone, and PyTorch reports those.
    `rules[i]` for new dim i: None, computeStride's stride; ('dim', j, k), old dim j's stride times
    k; ('new',), unsqueeze's stride (size * stride of the next dim, 1 for the last dim);
    ('stride', s), the stride s. Where memory fixes a stride (a dim of size > 1 of a non-empty
    tensor) a rule agrees with computeStride. Nodes never see this class: `apply` uses plain tuples.
    """

    def __new__(cls, shape: tuple, rules: tuple):
        out = super().__new__(cls, shape)
        out.rules = tuple(rules)
        return out

    def strides(self, old_strides: tuple, computed: tuple) -> tuple:
        """The strides PyTorch reports, from the old strides and computeStride's new ones."""
        out = list(computed)
        for i in range(len(self) - 1, -1, -1):  # right to left: ('new',) reads the dim after it
            rule = self.rules[i]
            if rule is None:
                continue
            if rule[0] == "dim":
                out[i] = old_strides[rule[1]] * rule[2]
            elif rule[0] == "new":
                out[i] = self[i + 1] * out[i + 1] if i + 1 < len(self) else 1
            else:
                out[i] = rule[1]
        return tuple(out)


def keep_strides(new_shape: tuple, src: tuple) -> ViewShape:
    """A RESHAPE target whose dim i keeps the stride of old dim `src[i]` (None: a new size-1 dim)."""
    return ViewShape(new_shape, tuple(("dim", j, 1) if j is not None else ("new",) for j in src))


def reshape_strides(shape: tuple, strides: tuple, new_shape: tuple) -> tuple | None:
    """Strides that let `new_shape` view the same elements, or None (ATen's computeStride)."""
    numel = 1
    for d in shape:
        numel *= d
    if not shape:
        return (1,) * len(new_shape)
    if numel == 0:
        # ATen keeps the strides when the shape doesn't change, else uses contiguous ones
        return tuple(strides) if tuple(shape) == tuple(new_shape) else contiguous_strides(new_shape)
    new_strides = [0] * len(new_shape)
    view_d = len(new_shape) - 1
    chunk_base_stride = strides[-1]
    tensor_numel = view_numel = 1
    for tensor_d in range(len(shape) - 1, -1, -1):
        tensor_numel *= shape[tensor_d]
        if tensor_d == 0 or (shape[tensor_d - 1] != 1
                             and strides[tensor_d - 1] != tensor_numel * chunk_base_stride):
            while view_d >= 0 and (view_numel < tensor_numel or new_shape[view_d] == 1):
                new_strides[view_d] = view_numel * chunk_base_stride
                view_numel *= new_shape[view_d]
                view_d -= 1
            if view_numel != tensor_numel:
                return None
            if tensor_d > 0:
                chunk_base_stride = strides[tensor_d - 1]
                tensor_numel = view_numel = 1
    if view_d != -1:
        return None
    return tuple(new_strides)


def strided(base_shape: tuple, vops: tuple) -> tuple[tuple, tuple, int]:
    """(shape, strides, offset) in elements of the view `vops` of a contiguous base."""
    shape, strides, offset = tuple(base_shape), contiguous_strides(base_shape), 0
    for op, arg in vops:
        if op is Op.RESHAPE:
            new = reshape_strides(shape, strides, arg)
            assert new is not None, "a view op chain holds only viewable reshapes"
            if isinstance(arg, ViewShape):
                new = arg.strides(strides, new)
            shape, strides = tuple(arg), new
        elif op is Op.PERMUTE:
            shape, strides = tuple(shape[i] for i in arg), tuple(strides[i] for i in arg)
        elif op is Op.EXPAND:
            strides = tuple(0 if s != n else st for s, n, st in zip(shape, arg, strides))
            shape = tuple(arg)
        elif op is Op.SHRINK:
            offset += sum(b * st for (b, _), st in zip(arg, strides))
            shape = tuple(e - b for b, e in arg)
        elif op is Op.PAD:
            # Views pad only past the end, as a step for strided slicing; a SHRINK that follows
            # cuts the padding away, so the strides of the real elements are unchanged.
            assert all(lo == 0 for lo, _ in arg), "view padding is at the end only"
            shape = tuple(d + hi for d, (_, hi) in zip(shape, arg))
        else:
            raise AssertionError(f"{op.name} is not a view op")
    return shape, strides, offset


def extend(vops: tuple, more: tuple) -> tuple:
    """`vops` followed by `more`, with neighbouring permutes, shrinks and expands merged into one
    (so `x = x.t()` in a loop keeps a short chain)."""
    out = list(vops)
    for op, arg in more:
        if out and out[-1][0] is op:
            _, prev = out[-1]
            if op is Op.PERMUTE:
                merged = tuple(prev[i] for i in arg)
                out.pop()
                if merged != tuple(range(len(merged))):
                    out.append((op, merged))
                continue
            if op is Op.SHRINK:
                out[-1] = (op, tuple((b0 + b, b0 + e) for (b0, _), (b, e) in zip(prev, arg)))
                continue
            if op is Op.EXPAND:
                out[-1] = (op, arg)
                continue
        out.append((op, arg))
    return tuple(out)


def apply(base: Node, vops: tuple) -> Node:
    """The view's value: its movement ops over the base's node."""
    n = base
    for op, arg in vops:
        n = make(op, (n,), tuple(arg) if isinstance(arg, ViewShape) else arg)
    return n


def _shapes_along(base_shape: tuple, vops: tuple) -> list[tuple]:
    shapes = [tuple(base_shape)]
    n = len(vops)
    for op, arg in vops[:n]:
        s = shapes[-1]
        if op is Op.RESHAPE or op is Op.EXPAND:
            s = tuple(arg)
        elif op is Op.PERMUTE:
            s = tuple(s[i] for i in arg)
        elif op is Op.SHRINK:
            s = tuple(e - b for b, e in arg)
        elif op is Op.PAD:
            s = tuple(d + lo + hi for d, (lo, hi) in zip(s, arg))
        shapes.append(s)
    return shapes


def write_back(base: Node, value: Node, vops: tuple, allow_overlap: bool = False) -> Node:
    """The base's new value after `value` is written through the view `vops`.

    PyTorch refuses a write where two elements of the view share a memory location (a dim of
    size > 1 and stride 0), except for fills (`allow_overlap`: every element gets the same value);
    any other expanded view may be written: each base element gets the view element on it.
    """
    if value.size == 0:
        return base
    shapes = _shapes_along(base.shape, vops)
    view_shape, view_strides, _ = strided(base.shape, vops)
    if not allow_overlap and any(d > 1 and st == 0 for d, st in zip(view_shape, view_strides)):
        raise RuntimeError(
            "unsupported operation: more than one element of the written-to tensor refers to a "
            "single memory location. Please clone() the tensor before performing the operation.")
    covers_all = True
    mask = None
    for (op, arg), before, after in reversed(list(zip(vops, shapes, shapes[1:]))):
        if op is Op.RESHAPE:
            value = make(Op.RESHAPE, (value,), before)
            mask = mask and make(Op.RESHAPE, (mask,), before)
        elif op is Op.PERMUTE:
            inverse = tuple(sorted(range(len(arg)), key=lambda i: arg[i]))
            value = make(Op.PERMUTE, (value,), inverse)
            mask = mask and make(Op.PERMUTE, (mask,), inverse)
        elif op is Op.SHRINK:
            pads = tuple((b, d - e) for (b, e), d in zip(arg, before))
            if mask is None:
                mask = make(Op.EXPAND, (make(Op.RESHAPE, (_true(),), (1,) * len(after)),), after)
            value = make(Op.PAD, (value,), pads)
            mask = make(Op.PAD, (mask,), pads)
            covers_all = covers_all and before == after
        elif op is Op.PAD:
            bounds = tuple((lo, lo + d) for (lo, _), d in zip(arg, before))
            value = make(Op.SHRINK, (value,), bounds)
            mask = mask and make(Op.SHRINK, (mask,), bounds)
        elif op is Op.EXPAND and before != after:
            # Each base element gets the written view elements that lie on it: one (the check
            # above) or, for a fill, several equal ones. MAX picks it (keeping -0.0 and nan).
            axes = tuple(i for i, (b, a) in enumerate(zip(before, after)) if b != a)
            if mask is not None:
                value = make(Op.WHERE, (mask, value, _lowest(value.dtype, after)))
                mask = make(Op.SUM, (mask,), axes)  # SUM over bool is any
            value = make(Op.MAX_REDUCE, (value,), axes)
        elif op is not Op.EXPAND:
            raise AssertionError(f"{op.name} is not a view op")
    if mask is None or covers_all:
        return value
    return make(Op.WHERE, (mask, value, base))


def _true() -> Node:
    return make(Op.CONST, arg=True, dtype=dt.bool_)


def _lowest(dtype: dt.DType, shape: tuple) -> Node:
    """The smallest value of `dtype` (-inf for floats), broadcast to `shape`."""
    if dtype is dt.bool_:
        low = False
    elif dtype.is_floating_point:
        low = float("-inf")
    else:
        low = int(np.iinfo(dtype.np_dtype).min)
    n = make(Op.RESHAPE, (make(Op.CONST, arg=low, dtype=dtype),), (1,) * len(shape))
    return make(Op.EXPAND, (n,), shape)


def slice_vops(shape: tuple, dim: int, start: int, stop: int, step: int) -> tuple:
    """Movement ops for `x[start:stop:step]` along `dim` (bounds already clamped, step > 0)."""
    count = max(0, (stop - start + step - 1) // step)
    full = tuple((0, d) for d in shape)
    if step == 1 or count <= 1:
        end = start + count if count else start
        bounds = full[:dim] + ((start, end),) + full[dim + 1:]
        if step == 1:
            return ((Op.SHRINK, bounds),)
        # PyTorch reports stride * step for the sliced dim even where it holds one element or none
        sliced = tuple(e - b for b, e in bounds)
        scaled = tuple(("dim", i, step if i == dim else 1) for i in range(len(shape)))
        return ((Op.SHRINK, bounds), (Op.RESHAPE, ViewShape(sliced, scaled)))
    # Stride `step` is a reshape to (count, step) keeping column 0; pad first if the last row
    # would run past the end.
    ops = []
    d = shape[dim]
    span = count * step
    if start + span > d:
        pads = tuple((0, 0) for _ in shape[:dim]) + ((0, start + span - d),) + tuple((0, 0) for _ in shape[dim + 1:])
        ops.append((Op.PAD, pads))
        d = start + span
    bounds = full[:dim] + ((start, start + span),) + full[dim + 1:]
    ops.append((Op.SHRINK, bounds))
    # the other dims keep their strides (ViewShape), size-1 ones included, as PyTorch's slicing
    n = len(shape)
    split = shape[:dim] + (count, step) + shape[dim + 1:]
    rules = tuple(("dim", j, 1) for j in range(dim)) + (("dim", dim, step), ("dim", dim, 1))
    ops.append((Op.RESHAPE, ViewShape(split, rules + tuple(("dim", j, 1) for j in range(dim + 1, n)))))
    keep = tuple((0, s) for s in split)
    keep = keep[:dim + 1] + ((0, 1),) + keep[dim + 2:]
    ops.append((Op.SHRINK, keep))
    ops.append((Op.RESHAPE, keep_strides(shape[:dim] + (count,) + shape[dim + 1:],
                                         tuple(range(dim + 1)) + tuple(range(dim + 2, n + 1)))))
    return tuple(ops)


def as_strided_vops(size: int, shape: tuple, strides: tuple, offset: int) -> tuple:
    """Movement ops that view flat storage of `size` elements as (shape, strides, offset).

    Works where each dim, with the dims of smaller stride inside it, fits in the stride of the
    next larger dim: what slicing, transposing and taking diagonals of a contiguous array give;
    zero strides are broadcast. Raises ValueError for negative strides (as PyTorch) and for
    layouts that interleave or overlap.
    """
    if any(s < 0 for s in strides):
        raise ValueError("At least one stride in the given numpy array is negative, and tensors with "
                         "negative strides are not currently supported. (You can probably work around "
                         "this by making a copy of your array  with array.copy().) ")
    numel = 1
    for d in shape:
        numel *= d
    if numel == 0:
        pad = ((Op.PAD, ((0, offset - size),)),) if offset > size else ()
        return pad + ((Op.SHRINK, ((offset, offset),)),
                      (Op.RESHAPE, ViewShape(shape, tuple(("stride", s) for s in strides))))
    # dims that move through memory, outermost (largest stride) first
    real = sorted((i for i, d in enumerate(shape) if d > 1 and strides[i] > 0), key=lambda i: -strides[i])
    extent = 1  # span in elements of the dims inside the current one
    for outer, inner in reversed(list(zip(real, real[1:]))):
        extent += (shape[inner] - 1) * strides[inner]
        if extent > strides[outer]:
            raise ValueError(f"strides {tuple(strides)} for shape {tuple(shape)} overlap or interleave: "
                             "no view of the storage expresses them")
    ops: list = []
    if not real:
        ops.append((Op.SHRINK, ((offset, offset + 1),)))
        cur = (1,)
    else:
        # Rows of the outermost dim's stride, then each row cut (or padded past its end) to a
        # whole number of the next dim's steps and split into them; the fit check above keeps
        # every element we read out of the padding.
        first = real[0]
        end = offset + shape[first] * strides[first]
        if end > size:
            ops.append((Op.PAD, ((0, end - size),)))
        if (offset, end) != (0, max(size, end)):
            ops.append((Op.SHRINK, ((offset, end),)))
        cur = (shape[first], strides[first])
        ops.append((Op.RESHAPE, cur))
        for i in real[1:]:
            row, want = cur[-1], shape[i] * strides[i]
            keep = tuple((0, d) for d in cur[:-1])
            if want > row:
                ops.append((Op.PAD, tuple((0, 0) for _ in keep) + ((0, want - row),)))
            elif want < row:
                ops.append((Op.SHRINK, keep + ((0, want),)))
            cur = cur[:-1] + (shape[i], strides[i])
            ops.append((Op.RESHAPE, cur))
        if cur[-1] != 1:
            ops.append((Op.SHRINK, tuple((0, d) for d in cur[:-1]) + ((0, 1),)))
        order = sorted(range(len(real)), key=lambda k: real[k])
        cur = cur[:-1]
        ops.append((Op.RESHAPE, cur))
        if order != list(range(len(real))):
            ops.append((Op.PERMUTE, tuple(order)))
            cur = tuple(cur[k] for k in order)
    # put back size-1 and broadcast dims in their places, with the strides asked for
    with_ones = tuple(d if (d > 1 and strides[i] > 0) else 1 for i, d in enumerate(shape))
    rules = tuple(("stride", strides[i]) if d == 1 else None for i, d in enumerate(with_ones))
    if with_ones != cur or any(r is not None for r in rules):
        ops.append((Op.RESHAPE, ViewShape(with_ones, rules)))
    if with_ones != tuple(shape):
        ops.append((Op.EXPAND, tuple(shape)))
    return tuple(ops)
