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


def reshape_strides(shape: tuple, strides: tuple, new_shape: tuple) -> tuple | None:
    """Strides that let `new_shape` view the same elements, or None (ATen's computeStride)."""
    numel = 1
    for d in shape:
        numel *= d
    if numel == 0 or not shape:
        return contiguous_strides(new_shape)
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


def apply(base: Node, vops: tuple) -> Node:
    """The view's value: its movement ops over the base's node."""
    n = base
    for op, arg in vops:
        n = make(op, (n,), arg)
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


def write_back(base: Node, value: Node, vops: tuple) -> Node:
    """The base's new value after `value` is written through the view `vops`."""
    shapes = _shapes_along(base.shape, vops)
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
        elif op is Op.EXPAND:
            if before != after:
                raise RuntimeError(
                    "unsupported operation: more than one element of the written-to tensor refers to a "
                    "single memory location. Please clone() the tensor before performing the operation.")
        else:
            raise AssertionError(f"{op.name} is not a view op")
    if mask is None or covers_all:
        return value
    return make(Op.WHERE, (mask, value, base))


def _true() -> Node:
    return make(Op.CONST, arg=True, dtype=dt.bool_)


def slice_vops(shape: tuple, dim: int, start: int, stop: int, step: int) -> tuple:
    """Movement ops for `x[start:stop:step]` along `dim` (bounds already clamped, step > 0)."""
    count = max(0, (stop - start + step - 1) // step)
    full = tuple((0, d) for d in shape)
    if step == 1 or count <= 1:
        end = start + count if count else start
        bounds = full[:dim] + ((start, end),) + full[dim + 1:]
        return ((Op.SHRINK, bounds),)
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
    split = shape[:dim] + (count, step) + shape[dim + 1:]
    ops.append((Op.RESHAPE, split))
    keep = tuple((0, s) for s in split)
    keep = keep[:dim + 1] + ((0, 1),) + keep[dim + 2:]
    ops.append((Op.SHRINK, keep))
    ops.append((Op.RESHAPE, shape[:dim] + (count,) + shape[dim + 1:]))
    return tuple(ops)


def as_strided_vops(size: int, shape: tuple, strides: tuple, offset: int) -> tuple:
    """Movement ops that view flat storage of `size` elements as (shape, strides, offset).

    Works for the strides that slicing and transposing a contiguous array produce (each stride a
    multiple of the next smaller one, rows that fit inside their parent's stride), plus zero
    strides (broadcast); raises ValueError for overlapping or negative strides.
    """
    if any(s < 0 for s in strides):
        raise ValueError("At least one stride in the given numpy array is negative, and tensors with "
                         "negative strides are not currently supported. (You can probably work around "
                         "this by making a copy of your array  with array.copy().) ")
    numel = 1
    for d in shape:
        numel *= d
    if numel == 0:
        return ((Op.SHRINK, ((0, 0),)), (Op.RESHAPE, tuple(shape)))
    # dims that move through memory, outermost (largest stride) first
    real = sorted((i for i, d in enumerate(shape) if d > 1 and strides[i] > 0), key=lambda i: -strides[i])
    ops: list = []
    if not real:
        ops.append((Op.SHRINK, ((offset, offset + 1),)))
        inner_shape = (1,)
    else:
        outer = strides[real[0]] * shape[real[0]]
        end = offset + outer
        if end > size:
            ops.append((Op.PAD, ((0, end - size),)))
        ops.append((Op.SHRINK, ((offset, end),)))
        split = [shape[real[0]]]
        for a, b in zip(real, real[1:]):
            if strides[a] % strides[b] or shape[b] * strides[b] > strides[a]:
                raise ValueError(f"strides {strides} for shape {shape} overlap or interleave: "
                                 "no view of the storage expresses them")
            split.append(strides[a] // strides[b])
        split.append(strides[real[-1]])
        ops.append((Op.RESHAPE, tuple(split)))
        keep = [(0, shape[real[0]])] + [(0, shape[b]) for b in real[1:]] + [(0, 1)]
        if keep != [(0, s) for s in split]:
            ops.append((Op.SHRINK, tuple(keep)))
        inner_shape = tuple(shape[i] for i in real)
        ops.append((Op.RESHAPE, inner_shape))
        order = sorted(range(len(real)), key=lambda k: real[k])
        if order != list(range(len(real))):
            ops.append((Op.PERMUTE, tuple(order)))
            inner_shape = tuple(inner_shape[k] for k in order)
    # put back size-1 and broadcast dims in their places
    with_ones = tuple(d if (d > 1 and strides[i] > 0) else 1 for i, d in enumerate(shape))
    if with_ones != inner_shape:
        ops.append((Op.RESHAPE, with_ones))
    if with_ones != tuple(shape):
        ops.append((Op.EXPAND, tuple(shape)))
    return tuple(ops)
