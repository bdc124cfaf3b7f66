"""Shape and movement ops that return views: reshape, view, permute, transpose, squeeze, expand...

A view shares its base's storage (views.py): writes through it reach the base and every other
view. Where PyTorch copies (reshape of a non-viewable layout, contiguous, clone) the result is a
new base instead.
"""
from __future__ import annotations

import operator
import warnings

from lazytensor import views
from lazytensor.compiler.ops import Op, make, make_known
from lazytensor.tensor import Tensor, _torch_name, make_view, normalize_dim, wrap

__all__ = ["reshape", "permute", "transpose", "swapaxes", "swapdims", "t", "adjoint", "squeeze", "unsqueeze",
           "flatten", "unflatten", "movedim", "moveaxis", "narrow", "select", "diagonal", "clone",
           "broadcast_to", "atleast_1d", "atleast_2d", "atleast_3d", "ravel", "as_strided"]


def _shape_args(shape) -> tuple:
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    try:
        return tuple(operator.index(d) for d in shape)
    except TypeError:
        raise TypeError(f"shape must be a tuple of ints, but got "
                        f"({', '.join(type(d).__name__ for d in shape)})") from None


def infer_shape(shape: tuple, numel: int) -> tuple:
    """`shape` with its one -1 filled in; RuntimeError like PyTorch's when it can't fit."""
    if shape.count(-1) > 1:
        raise RuntimeError("only one dimension can be inferred")
    known = 1
    for i, d in enumerate(shape):
        if d != -1:
            if d < 0:
                raise RuntimeError(f"invalid shape dimension {d} at index {i} of shape {list(shape)}")
            known *= d
    if -1 in shape:
        if known == 0 and numel == 0:
            raise RuntimeError(f"cannot reshape tensor of 0 elements into shape {list(shape)} because the "
                               "unspecified dimension size -1 can be any value and is ambiguous")
        if known == 0 or numel % known:
            raise RuntimeError(f"shape '{list(shape)}' is invalid for input of size {numel}")
        shape = tuple(numel // known if d == -1 else d for d in shape)
    elif known != numel:
        raise RuntimeError(f"shape '{list(shape)}' is invalid for input of size {numel}")
    return shape


def view(input: Tensor, *shape) -> Tensor:
    """The same storage seen with a new shape; RuntimeError where strides can't express it."""
    from lazytensor.compiler import dtypes as dt
    if len(shape) == 1 and isinstance(shape[0], dt.DType):
        return view_dtype(input, shape[0])
    new = infer_shape(_shape_args(shape), input.numel())
    old_shape, strides, _ = input._strided()
    if views.reshape_strides(old_shape, strides, new) is None:
        raise RuntimeError("view size is not compatible with input tensor's size and stride (at least one "
                           "dimension spans across two contiguous subspaces). Use .reshape(...) instead.")
    return make_view(input, ((Op.RESHAPE, new),))


def view_dtype(input: Tensor, dtype) -> Tensor:
    """Reinterpret the bytes as another dtype of the same size (flushes; a copy of the bits)."""
    if dtype.itemsize != input.dtype.itemsize:
        raise RuntimeError("view(dtype) needs dtypes of the same size here")
    from lazytensor.creation import from_numpy
    return from_numpy(input.contiguous().numpy(force=True).view(dtype.np_dtype))


def reshape(input: Tensor, *shape) -> Tensor:
    """A view with the new shape when strides allow, else a copy (as PyTorch)."""
    new = infer_shape(_shape_args(shape), input.numel())
    if new == tuple(input.shape):
        return make_view(input, ())
    old_shape, strides, _ = input._strided()
    if views.reshape_strides(old_shape, strides, new) is not None:
        return make_view(input, ((Op.RESHAPE, new),))
    return wrap(make(Op.RESHAPE, (input.node,), new))


def view_as(input: Tensor, other: Tensor) -> Tensor:
    """view(other.shape)."""
    return view(input, tuple(other.shape))


def reshape_as(input: Tensor, other: Tensor) -> Tensor:
    """reshape(other.shape)."""
    return reshape(input, tuple(other.shape))


def permute(input: Tensor, *dims) -> Tensor:
    """A view with the dimensions reordered."""
    dims = _shape_args(dims)
    n = input.ndim
    if len(dims) != n:
        raise RuntimeError(f"permute(sparse_coo): number of dimensions in the tensor input does not match the "
                           f"length of the desired ordering of dimensions i.e. input.dim() = {n} is not equal "
                           f"to len(dims) = {len(dims)}")
    order = tuple(normalize_dim(d, n) for d in dims)
    if len(set(order)) != n:
        raise RuntimeError("permute(): duplicate dims are not allowed.")
    if order == tuple(range(n)):
        return make_view(input, ())
    return make_view(input, ((Op.PERMUTE, order),))


# what permute(x, (1, 0)) makes of a matrix: a view through one PERMUTE
_PERMUTE = Op.PERMUTE
_SWAP_2D = ((_PERMUTE, (1, 0)),)


def transpose(input: Tensor, dim0: int, dim1: int) -> Tensor:
    """A view with two dimensions swapped."""
    n = input.ndim
    if n == 0:
        normalize_dim(dim0, 0), normalize_dim(dim1, 0)
        return make_view(input, ())
    a, b = normalize_dim(dim0, n), normalize_dim(dim1, n)
    if a == b:
        return make_view(input, ())  # permute's identity order
    if n == 2:
        return make_view(input, _SWAP_2D)
    order = list(range(n))
    order[a], order[b] = order[b], order[a]
    return make_view(input, ((Op.PERMUTE, tuple(order)),))  # what permute(input, order) makes


swapaxes = swapdims = transpose


def t(input: Tensor) -> Tensor:
    """Transpose of a matrix (0-d and 1-d tensors are returned as they are)."""
    n = input.node
    shape = n.shape
    if len(shape) > 2:
        raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is {len(shape)}D")
    if len(shape) < 2:
        return make_view(input, ())
    # transpose(input, 0, 1), with the view's node (of known type) built here
    return make_view(input, _SWAP_2D, make_known(_PERMUTE, (n,), (1, 0), n.dtype, (shape[1], shape[0])))


def adjoint(input: Tensor) -> Tensor:
    """Swap the last two dimensions."""
    return transpose(input, -2, -1)


def _T(input: Tensor) -> Tensor:
    if input.ndim == 0:
        warnings.warn("Tensor.T is deprecated on 0-D tensors. This function is the identity in these cases.",
                      UserWarning, stacklevel=2)
    elif input.ndim != 2:
        # PyTorch deprecates .T on other than 2-d but still reverses the dims
        warnings.warn("The use of `x.T` on tensors of dimension other than 2 to reverse their shape is "
                      "deprecated and it will throw an error in a future release. Consider `x.mT` to transpose "
                      "batches of matrices or `x.permute(*torch.arange(x.ndim - 1, -1, -1))` to reverse the "
                      "dimensions of a tensor.", UserWarning, stacklevel=2)
    return permute(input, tuple(range(input.ndim - 1, -1, -1)))


def _mT(input: Tensor) -> Tensor:
    if input.ndim == 0:
        warnings.warn("Tensor.mT is deprecated on 0-D tensors. This function is the identity in these cases.",
                      UserWarning, stacklevel=2)
        return make_view(input, ())
    if input.ndim < 2:
        raise RuntimeError("tensor.mT is only supported on matrices or batches of matrices. Got 1-D tensor.")
    return transpose(input, -2, -1)


def squeeze(input: Tensor, dim=None) -> Tensor:
    """A view without size-1 dimensions (all of them, or those in `dim`)."""
    shape = tuple(input.shape)
    if dim is None:
        dims = {i for i, d in enumerate(shape) if d == 1}
    else:
        listed = [normalize_dim(d, len(shape)) for d in (dim if isinstance(dim, (tuple, list)) else (dim,))]
        for i, d in enumerate(listed):
            if d in listed[:i]:
                raise RuntimeError(f"dim {d} appears multiple times in the list of dims")
        dims = {d for d in listed if d < len(shape) and shape[d] == 1}
    kept = tuple(i for i in range(len(shape)) if i not in dims)
    if len(kept) == len(shape):
        return make_view(input, ())
    # the other dims keep their strides, as PyTorch's squeeze
    return make_view(input, ((Op.RESHAPE, views.keep_strides(tuple(shape[i] for i in kept), kept)),))


def unsqueeze(input: Tensor, dim: int) -> Tensor:
    """A view with a size-1 dimension inserted at `dim`."""
    n = input.ndim + 1
    if not -n <= dim < n:
        raise IndexError(f"Dimension out of range (expected to be in range of [{-n}, {n - 1}], but got {dim})")
    d = dim + n if dim < 0 else dim
    shape = tuple(input.shape)
    src = tuple(range(d)) + (None,) + tuple(range(d, n - 1))
    return make_view(input, ((Op.RESHAPE, views.keep_strides(shape[:d] + (1,) + shape[d:], src)),))


def flatten(input: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    """Dimensions start_dim..end_dim merged into one (a view when strides allow)."""
    shape = tuple(input.shape)
    if not shape:
        return reshape(input, (1,))
    a, b = normalize_dim(start_dim, len(shape)), normalize_dim(end_dim, len(shape))
    if a > b:
        raise RuntimeError("flatten() has invalid args: start_dim cannot come after end_dim")
    if a == b:
        return input  # PyTorch returns the tensor itself
    merged = 1
    for d in shape[a:b + 1]:
        merged *= d
    return reshape(input, shape[:a] + (merged,) + shape[b + 1:])


def ravel(input: Tensor) -> Tensor:
    """The elements as one dimension."""
    return reshape(input, (-1,))


def unflatten(input: Tensor, dim: int, sizes) -> Tensor:
    """Dimension `dim` split into `sizes` (a view)."""
    shape = tuple(input.shape)
    d = normalize_dim(dim, len(shape))
    sizes = _shape_args((sizes,)) if isinstance(sizes, (tuple, list)) else _shape_args(tuple(sizes))
    if not sizes:
        raise RuntimeError("unflatten: sizes must be non-empty")
    if sizes.count(-1) > 1:
        raise RuntimeError("unflatten got an unexpected error:\nonly one dimension can be inferred")
    total = 1
    for s in sizes:
        total *= s if s != -1 else 1
    if -1 in sizes and total and shape[d] % total == 0:
        sizes = tuple(shape[d] // total if s == -1 else s for s in sizes)
        total = shape[d]
    if total != shape[d]:
        raise RuntimeError(f"unflatten: Provided sizes {list(sizes)} don't multiply up to the size of dim {d} "
                           f"({shape[d]}) in the input tensor")
    return view(input, shape[:d] + sizes + shape[d + 1:])


def movedim(input: Tensor, source, destination) -> Tensor:
    """Dimensions moved from `source` to `destination` positions (a view)."""
    n = input.ndim
    src = [normalize_dim(d, n) for d in (source if isinstance(source, (tuple, list)) else (source,))]
    dst = [normalize_dim(d, n) for d in (destination if isinstance(destination, (tuple, list)) else (destination,))]
    if len(src) != len(dst):
        raise RuntimeError(f"movedim: Invalid source or destination dims: source ({src} dims) should contain the "
                           f"same number of dims as destination ({dst} dims)")
    for name, dims in (("source", src), ("destination", dst)):
        if len(set(dims)) != len(dims):
            raise RuntimeError(f"movedim: repeated dim in `{name}` ({dims})")
    order = [None] * n
    for s, d in zip(src, dst):
        order[d] = s
    rest = iter(d for d in range(n) if d not in src)
    order = [o if o is not None else next(rest) for o in order]
    return permute(input, order)


moveaxis = movedim


def expand(input: Tensor, *sizes) -> Tensor:
    """A view with size-1 dimensions repeated to `sizes` (-1 keeps a size), without copying."""
    sizes = _shape_args(sizes)
    shape = tuple(input.shape)
    if len(sizes) < len(shape):
        raise RuntimeError(f"expand(torch.{_torch_name(input.dtype)}Tensor{{{list(shape)}}}, size={list(sizes)}): "
                           f"the number of sizes provided ({len(sizes)}) must be greater or equal to the number of "
                           f"dimensions in the tensor ({len(shape)})")
    lead = len(sizes) - len(shape)
    full = (1,) * lead + shape
    new = []
    for i, (old, want) in enumerate(zip(full, sizes)):
        if want == -1:
            if i < lead:
                raise RuntimeError(f"The expanded size of the tensor (-1) isn't allowed in a leading, "
                                   f"non-existing dimension {i}")
            want = old
        if old != want and old != 1:
            raise RuntimeError(f"The expanded size of the tensor ({want}) must match the existing size ({old}) at "
                               f"non-singleton dimension {i}.  Target sizes: {list(sizes)}.  Tensor sizes: "
                               f"{list(shape)}")
        if want < 0:
            raise RuntimeError(f"The expanded size of the tensor ({want}) isn't allowed: sizes must be "
                               f"non-negative.  Target sizes: {list(sizes)}.  Tensor sizes: {list(shape)}")
        new.append(want)
    new = tuple(new)
    vops = []
    if lead:
        # PyTorch gives a new leading dim the size * stride of the expanded dim after it (0 after
        # the last dim of a 0-d tensor); the other dims keep their strides
        old_strides = input._strided()[1]
        out = [0] * len(new)
        for i in range(len(new) - 1, -1, -1):
            if i >= lead:
                stride = old_strides[i - lead]
            else:
                stride = new[i + 1] * out[i + 1] if i + 1 < len(new) else 0
            out[i] = 0 if full[i] != new[i] else stride
        rules = tuple(("stride", out[i]) for i in range(lead)) + tuple(("dim", j, 1) for j in range(len(shape)))
        vops.append((Op.RESHAPE, views.ViewShape(full, rules)))
    if new != full:
        vops.append((Op.EXPAND, new))
    return make_view(input, tuple(vops))


def expand_as(input: Tensor, other: Tensor) -> Tensor:
    """expand(other.shape)."""
    return expand(input, tuple(other.shape))


def broadcast_to(input: Tensor, shape) -> Tensor:
    """expand(shape)."""
    return expand(input, tuple(shape))


def narrow(input: Tensor, dim: int, start: int, length: int) -> Tensor:
    """A view of `length` elements of `dim` from `start`."""
    shape = tuple(input.shape)
    d = normalize_dim(dim, len(shape))
    if isinstance(start, Tensor):
        start = int(start.item())
    if not -shape[d] <= start <= shape[d]:
        raise IndexError(f"start out of range (expected to be in range of [{-shape[d]}, {shape[d]}], but got "
                         f"{start})")
    if start < 0:
        start += shape[d]
    if length < 0:
        raise RuntimeError("narrow(): length must be non-negative.")
    if start + length > shape[d]:
        raise RuntimeError(f"start ({start}) + length ({length}) exceeds dimension size ({shape[d]}).")
    return make_view(input, views.slice_vops(shape, d, start, start + length, 1))


def select(input: Tensor, dim: int, index: int) -> Tensor:
    """A view of one index of `dim`, without that dimension."""
    shape = tuple(input.shape)
    if not shape:
        raise IndexError("select() cannot be applied to a 0-dim tensor.")
    d = normalize_dim(dim, len(shape))
    if isinstance(index, Tensor):
        index = int(index.item())
    if not -shape[d] <= index < shape[d]:
        raise IndexError(f"select(): index {index} out of range for tensor of size {list(shape)} at dimension {d}")
    i = index + shape[d] if index < 0 else index
    kept = tuple(k for k in range(len(shape)) if k != d)
    vops = views.slice_vops(shape, d, i, i + 1, 1) + ((Op.RESHAPE, views.keep_strides(shape[:d] + shape[d + 1:],
                                                                                        kept)),)
    return make_view(input, vops)


def diagonal(input: Tensor, offset: int = 0, dim1: int = 0, dim2: int = 1) -> Tensor:
    """The diagonal of two dimensions, as a view (moved to the last dimension)."""
    n = input.ndim
    a, b = normalize_dim(dim1, n), normalize_dim(dim2, n)
    if a == b:
        raise RuntimeError(f"diagonal dimensions cannot be identical {dim1}, {dim2}")
    shape, strides, start = input._strided()
    if offset >= 0:
        length = max(0, min(shape[a], shape[b] - offset))
        start += offset * strides[b] if length else 0
    else:
        length = max(0, min(shape[a] + offset, shape[b]))
        start -= offset * strides[a] if length else 0
    # Its strides are PyTorch's: the other dims keep theirs, the diagonal steps both dims at once.
    # The view is built afresh from the flat storage of the base.
    rest = [k for k in range(n) if k not in (a, b)]
    new_shape = tuple(shape[k] for k in rest) + (length,)
    new_strides = tuple(strides[k] for k in rest) + (strides[a] + strides[b],)
    base = input._base if input._base is not None else input
    base_shape = tuple(base._node.shape)
    numel = base._node.size
    vops = ((Op.RESHAPE, (numel,)),) if base_shape != (numel,) else ()
    try:
        vops += views.as_strided_vops(numel, new_shape, new_strides, start)
    except ValueError as e:  # no layout PyTorch's view ops make has been seen to get here
        raise RuntimeError(f"diagonal: this layout (sizes {list(shape)}, strides {list(strides)}) has no "
                           f"diagonal view here: {e}") from None
    return make_view(base, vops)


def as_strided(input: Tensor, size, stride, storage_offset: int | None = None) -> Tensor:
    """A view of `input`'s storage with the given sizes, strides and offset (in elements of the storage)."""
    size, stride = _shape_args((size,)), _shape_args((stride,))
    if len(size) != len(stride):
        raise RuntimeError("mismatch in length of strides and shape")
    if any(d < 0 for d in size):
        raise RuntimeError(f"Storage size calculation overflowed with sizes={list(size)} and strides={list(stride)}")
    if any(s < 0 for s in stride):
        raise RuntimeError(f"as_strided: Negative strides are not supported at the moment, got strides: {list(stride)}")
    offset = input.storage_offset() if storage_offset is None else operator.index(storage_offset)
    if offset < 0:
        raise RuntimeError(f"Tensor: invalid storage offset {offset}")
    base = input._base if input._base is not None else input
    numel = base._node.size
    needed = offset + 1 + sum((d - 1) * s for d, s in zip(size, stride)) if 0 not in size else 0
    if needed > numel:
        item = input.dtype.itemsize
        raise RuntimeError(f"setStorage: sizes {list(size)}, strides {list(stride)}, storage offset {offset}, "
                           f"and itemsize {item} requiring a storage size of {needed * item} are out of "
                           f"bounds for storage of size {numel * item}")
    vops = ((Op.RESHAPE, (numel,)),) if tuple(base._node.shape) != (numel,) else ()
    try:
        vops += views.as_strided_vops(numel, size, stride, offset)
    except ValueError as e:
        # interleaved or overlapping layouts have no movement-op view in this IR
        raise RuntimeError(f"as_strided: sizes {list(size)} with strides {list(stride)} can't be expressed "
                           f"as a view here: {e}") from None
    return make_view(base, vops)


def clone(input: Tensor, *, memory_format=None) -> Tensor:
    """A copy with its own storage."""
    return wrap(input.node)


def contiguous(input: Tensor, memory_format=None) -> Tensor:
    """The tensor itself when row-major, else a row-major copy."""
    if input.is_contiguous():
        return input
    return wrap(make(Op.CONTIGUOUS, (input.node,)))


def _each(fn, tensors: tuple):
    """fn of one tensor, or a tuple of fn of each (several tensors, or one list), as PyTorch."""
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        return tuple(fn(x) for x in tensors[0])
    if len(tensors) == 1:
        return fn(tensors[0])
    return tuple(fn(x) for x in tensors)


def _atleast_1d(input: Tensor) -> Tensor:
    return reshape(input, (1,)) if input.ndim == 0 else input


def _atleast_2d(input: Tensor) -> Tensor:
    if input.ndim == 0:
        return reshape(input, (1, 1))
    return unsqueeze(input, 0) if input.ndim == 1 else input


def _atleast_3d(input: Tensor) -> Tensor:
    if input.ndim == 0:
        return reshape(input, (1, 1, 1))
    if input.ndim == 1:
        return unsqueeze(unsqueeze(input, 0), -1)
    return unsqueeze(input, -1) if input.ndim == 2 else input


def atleast_1d(*tensors):
    """A 0-d tensor as 1-d, others unchanged (a tuple for several tensors or a list)."""
    return _each(_atleast_1d, tensors)


def atleast_2d(*tensors):
    """Tensors of fewer dims as 2-d, new dims in front (a tuple for several tensors or a list)."""
    return _each(_atleast_2d, tensors)


def atleast_3d(*tensors):
    """Tensors of fewer dims as 3-d, as numpy.atleast_3d (a tuple for several tensors or a list)."""
    return _each(_atleast_3d, tensors)


for _f in (view, reshape, view_as, reshape_as, permute, transpose, t, adjoint, squeeze, unsqueeze, flatten,
           ravel, unflatten, movedim, expand, expand_as, broadcast_to, narrow, select, diagonal, clone, contiguous,
           as_strided):
    setattr(Tensor, _f.__name__, _f)
Tensor.swapaxes = Tensor.swapdims = transpose
Tensor.moveaxis = movedim
Tensor.T = property(_T, doc="Dimensions reversed (the transpose of a matrix).")
Tensor.mT = property(_mT, doc="The last two dimensions swapped.")
Tensor.H = property(_T, doc="The transpose (real tensors).")
Tensor.mH = property(_mT, doc="The last two dimensions swapped (real tensors).")
