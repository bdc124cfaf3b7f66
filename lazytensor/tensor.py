"""`Tensor`: a handle on an IR node, with PyTorch's attributes, and the helpers every op uses.

Ops live in their own modules (elementwise.py, reduce.py, shape.py, indexing.py, ...) and attach
themselves to `Tensor` there, beside their definitions. This module holds what they share:
wrapping nodes, turning Python scalars into constants, broadcasting, type promotion, in-place
assignment and observation (which flushes).
"""
from __future__ import annotations

import numbers

import numpy as np

from lazytensor import lazy, views
from lazytensor.compiler import dtypes as dt
from lazytensor.compiler.build import cast as cast_node, const, expand_to as expand_node  # noqa: F401 (op modules import them from here)
from lazytensor.compiler.ir import Node
from lazytensor.compiler.ops import Op, make
from lazytensor.device import CPU, device

_default_float = [dt.float32]


def get_default_dtype() -> dt.DType:
    """The dtype of float tensors made from Python floats (float32 unless set)."""
    return _default_float[0]


def set_default_dtype(d: dt.DType) -> None:
    """Set the default float dtype (float32 or float64, as PyTorch allows)."""
    if d not in (dt.float32, dt.float64, dt.float16, dt.bfloat16):
        raise TypeError(f"only floating-point types are supported as the default type, got {d}")
    _default_float[0] = d


class Size(tuple):
    """`lt.Size`: a tuple of ints that prints as PyTorch's `torch.Size([2, 3])`."""

    def __repr__(self) -> str:
        return f"torch.Size({list(self)})"

    def numel(self) -> int:
        """Product of the sizes."""
        n = 1
        for d in self:
            n *= d
        return n

    def __getitem__(self, i):
        out = tuple.__getitem__(self, i)
        return Size(out) if isinstance(i, slice) else out

    def __add__(self, other):
        return Size(tuple(self) + tuple(other))


class Tensor:
    """A lazy tensor. Its value is a node of the pending graph until something observes it."""

    __slots__ = ("_node", "_base", "_vops", "_vcache", "_buffer", "requires_grad", "grad", "grad_fn",
                 "_version", "__weakref__")
    __array_priority__ = 1000  # numpy defers to our reflected operators

    def __init__(self, *args, **kwargs):
        # PyTorch's legacy constructor: lt.Tensor([1, 2]) is float, lt.Tensor(2, 3) is uninitialized.
        from lazytensor import creation
        if len(args) == 1 and not isinstance(args[0], numbers.Integral):
            src = creation.tensor(args[0], dtype=get_default_dtype())
        else:
            src = creation.empty(*(args or (0,)), dtype=get_default_dtype())  # lt.Tensor() is empty
        _init(self, src.node, None, ())

    # ---- the node ----

    @property
    def node(self) -> Node:
        """The IR node that holds this tensor's value now."""
        base = self._base
        if base is None:
            return self._node
        bn = base._node
        cache = self._vcache
        if cache is not None and cache[0] is bn:
            return cache[1]
        n = views.apply(bn, self._vops)
        self._vcache = (bn, n)
        return n

    # ---- attributes ----

    @property
    def shape(self) -> Size:
        """The size of each dimension."""
        return Size(self.node.shape)

    def size(self, dim: int | None = None):
        """`shape`, or the size of one dimension."""
        shape = self.node.shape
        if dim is None:
            return Size(shape)
        return shape[normalize_dim(dim, len(shape))]

    @property
    def dtype(self) -> dt.DType:
        """The element type."""
        return self.node.dtype

    @property
    def device(self) -> device:
        """Where the tensor lives (the CPU until the CUDA backend lands)."""
        return CPU

    @property
    def is_cuda(self) -> bool:
        """False: every tensor is on the CPU."""
        return False

    @property
    def ndim(self) -> int:
        """Number of dimensions."""
        return len(self.node.shape)

    def dim(self) -> int:
        """Number of dimensions."""
        return len(self.node.shape)

    def ndimension(self) -> int:
        """Number of dimensions."""
        return len(self.node.shape)

    def numel(self) -> int:
        """Number of elements."""
        return self.node.size

    def nelement(self) -> int:
        """Number of elements."""
        return self.node.size

    def element_size(self) -> int:
        """Bytes per element."""
        return self.node.dtype.itemsize

    @property
    def itemsize(self) -> int:
        """Bytes per element."""
        return self.node.dtype.itemsize

    @property
    def nbytes(self) -> int:
        """Bytes of the elements."""
        return self.node.size * self.node.dtype.itemsize

    def is_floating_point(self) -> bool:
        """True for float dtypes."""
        return self.node.dtype.is_floating_point

    def is_complex(self) -> bool:
        """False: complex dtypes are not supported."""
        return False

    @property
    def is_leaf(self) -> bool:
        """True for tensors the user made, or that do not require grad."""
        return self.grad_fn is None

    @property
    def data(self) -> "Tensor":
        """The same values, detached from autograd."""
        return self.detach()

    @data.setter
    def data(self, other: "Tensor") -> None:
        # PyTorch keeps requires_grad and .grad when only the value is replaced (param.data = x)
        keep = (getattr(self, "requires_grad", False), getattr(self, "grad", None))
        _init(self, other.node, None, ())
        self.requires_grad, self.grad = keep
        lazy.note_pending(self)

    def detach(self) -> "Tensor":
        """A view of the same storage that does not require grad.

        Its node is a no-op reshape of this tensor's, not the node itself: hash-consing would
        otherwise make `x * x.detach()` one node twice, and autograd could not tell the tracked
        operand from the detached one.
        """
        shape = self.node.shape
        return make_view(self, ((Op.RESHAPE, views.keep_strides(shape, tuple(range(len(shape))))),))

    def stride(self, dim: int | None = None):
        """Strides in elements, as PyTorch reports them for this view (contiguous for results)."""
        strides = self._strided()[1]
        if dim is None:
            return strides
        return strides[normalize_dim(dim, len(strides))]

    def storage_offset(self) -> int:
        """Offset of the first element in the storage, in elements."""
        return self._strided()[2]

    def _strided(self) -> tuple:
        if self._base is None:
            shape = self._node.shape
            return shape, views.contiguous_strides(shape), 0
        return views.strided(self._base._node.shape, self._vops)

    def is_contiguous(self, memory_format=None) -> bool:
        """True when the elements are laid out row-major with no gaps (size-1 dims don't count)."""
        shape, strides, _ = self._strided()
        if 0 in shape:
            return True
        expected = 1
        for d, s in zip(reversed(shape), reversed(strides)):
            if d != 1:
                if s != expected:
                    return False
                expected *= d
        return True

    def data_ptr(self) -> int:
        """Address of the first element (flushes: storage exists only once realized)."""
        base = self._base if self._base is not None else self
        lazy.realize([base])
        return base._buffer.data.ctypes.data + self.storage_offset() * self.element_size()

    def untyped_storage(self):
        """The flat numpy array that stores this tensor's base (flushes)."""
        base = self._base if self._base is not None else self
        lazy.realize([base])
        return base._buffer.data

    # ---- observation: these flush ----

    def realize(self) -> "Tensor":
        """Compute and store the value now; returns self."""
        lazy.realize([self])
        return self

    def numpy(self, *, force: bool = False) -> np.ndarray:
        """The values as a numpy array that shares this tensor's storage (flushes)."""
        if self.requires_grad and not force:
            raise RuntimeError("Can't call numpy() on Tensor that requires grad. Use tensor.detach().numpy() instead.")
        array = self._host_array()
        # the user can now write this storage behind our back: in-place ops on it write at once
        (self._base if self._base is not None else self)._buffer.shared = True
        return array

    def _host_array(self) -> np.ndarray:
        """The stored values as a numpy view (flushes); for reading inside the library."""
        base = self._base if self._base is not None else self
        lazy.realize([base])
        flat = base._buffer.data
        shape, strides, offset = self._strided()
        item = flat.itemsize
        return np.lib.stride_tricks.as_strided(flat[offset:] if flat.size else flat, shape,
                                               tuple(s * item for s in strides))

    def __array__(self, dtype=None, copy=None):
        a = self.numpy(force=True)
        return a if dtype is None else a.astype(dtype)

    def item(self):
        """The single value as a Python number (flushes)."""
        if self.numel() != 1:
            raise RuntimeError(f"a Tensor with {self.numel()} elements cannot be converted to Scalar")
        return self._host_array().reshape(()).item()

    def tolist(self):
        """The values as nested Python lists (flushes)."""
        return self._host_array().tolist()

    def __bool__(self) -> bool:
        if self.numel() != 1:
            raise RuntimeError("Boolean value of Tensor with "
                               f"{'no values' if self.numel() == 0 else 'more than one value'} is ambiguous")
        return bool(self.item())

    def __float__(self) -> float:
        if self.numel() != 1:
            raise ValueError("only one element tensors can be converted to Python scalars")
        return float(self.item())

    def __int__(self) -> int:
        if self.numel() != 1:
            raise ValueError("only one element tensors can be converted to Python scalars")
        return int(self.item())

    def __index__(self) -> int:
        if self.dtype.is_floating_point or self.numel() != 1:
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return int(self.item())

    def __complex__(self) -> complex:
        return complex(self.item())

    def __len__(self) -> int:
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.node.shape[0]

    def __iter__(self):
        if self.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return iter(self.unbind(0))

    def __hash__(self) -> int:
        return id(self)

    def __repr__(self, *, tensor_contents=None) -> str:
        from lazytensor import printing
        grad_fn = type(self.grad_fn).__name__ if self.grad_fn is not None else None
        return printing.tensor_repr(self._host_array(), self.dtype.name,
                                    default_float=get_default_dtype().name, device=str(self.device),
                                    requires_grad=self.requires_grad, grad_fn=grad_fn)

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        if self.ndim == 0:
            return self.item().__format__(spec)
        return object.__format__(self, spec)

    def __reduce_ex__(self, protocol):
        from lazytensor import creation
        return (creation._rebuild, (self._host_array().copy(), self.requires_grad))

    def __deepcopy__(self, memo):
        out = self.clone()
        out.requires_grad = self.requires_grad
        return out


# ---- construction of tensors around nodes ----

def _init(t: Tensor, n: Node | None, base: Tensor | None, vops: tuple) -> None:
    t._node = n
    t._base = base
    t._vops = vops
    t._vcache = None
    t._buffer = None
    t.requires_grad = False
    t.grad = None
    t.grad_fn = None
    t._version = 0


def wrap(n: Node) -> Tensor:
    """A new base tensor whose value is the node `n` (pending until observed)."""
    t = _new(Tensor)
    # _init, inlined: this is the hot path of every op
    t._node = n
    t._base = t._vcache = t._buffer = t.grad = t.grad_fn = None
    t._vops = ()
    t.requires_grad = False
    t._version = 0
    lazy.note_pending(t)
    return t


_new = object.__new__


def from_storage(buffer, shape: tuple) -> Tensor:
    """A realized base tensor that reads `buffer` as a contiguous array of `shape`."""
    t = object.__new__(Tensor)
    _init(t, lazy.storage_node(buffer, shape), None, ())
    t._buffer = buffer
    return t


def make_view(t: Tensor, vops: tuple, node: Node | None = None) -> Tensor:
    """A view of `t`'s base through `t`'s movement ops followed by `vops` (`node`: the view's
    node, `vops` over t's, when the caller has built it)."""
    if type(vops) is not tuple:
        vops = tuple(vops)
    base = t._base
    if base is None:
        base, chain = t, vops
    elif len(vops) == 1 and len(t._vops) <= 1:
        chain = _extend_one(t._vops, vops)
    else:
        chain = views.extend(t._vops, vops)
    v = _new(Tensor)
    # _init, inlined (a view per call of t(), transpose, reshape...: a hot path)
    v._node = v._buffer = v.grad = v.grad_fn = None
    v._base = base
    v._vops = chain
    v.requires_grad = False
    v._version = 0
    # its node now, from t's: a chain of views costs one step per view, not one per view so far
    v._vcache = (base._node, views.apply(t.node, vops) if node is None else node)
    return v


_PERMUTE = Op.PERMUTE  # named once: `Op.X` is a slow attribute lookup in Python 3.11


def _extend_one(vops: tuple, more: tuple) -> tuple:
    """`views.extend(vops, more)` for at most one op followed by one (x.t() of a view, in a loop)."""
    if not vops:
        return more
    (op, prev), (new_op, arg) = vops[0], more[0]
    if op is _PERMUTE and new_op is _PERMUTE:
        merged = tuple(map(prev.__getitem__, arg))
        return () if merged == tuple(range(len(merged))) else ((op, merged),)
    return views.extend(vops, more)


# ---- helpers shared by the op modules ----

def normalize_dim(dim: int, ndim: int) -> int:
    """`dim` in [0, ndim), with PyTorch's IndexError for out-of-range dims (0-d counts as 1-d)."""
    n = max(ndim, 1)
    if not -n <= dim < n:
        raise IndexError(f"Dimension out of range (expected to be in range of [{-n}, {n - 1}], but got {dim})")
    return dim + n if dim < 0 else dim


def broadcast_shapes(*shapes: tuple) -> tuple:
    """PyTorch's broadcast of shapes; RuntimeError naming the mismatched sizes."""
    if len(shapes) == 2:
        a, b = shapes
        if a == b:
            return tuple(a)
        if len(a) == len(b):
            # two shapes of one rank, cheaply (an op's hot path); a mismatch takes the loop below
            out = []
            for x, y in zip(a, b):
                if x == y or y == 1:
                    out.append(x)
                elif x == 1:
                    out.append(y)
                else:
                    break
            else:
                return tuple(out)
    ndim = max((len(s) for s in shapes), default=0)
    out = [1] * ndim
    for s in shapes:
        for i, d in enumerate(s, ndim - len(s)):
            if d != out[i]:
                if out[i] == 1:
                    out[i] = d
                elif d != 1:
                    raise RuntimeError(
                        f"The size of tensor a ({out[i]}) must match the size of tensor b ({d}) at "
                        f"non-singleton dimension {i} (shapes {', '.join(str(list(x)) for x in shapes)})")
    return tuple(out)


def scalar_dtype(x) -> dt.DType:
    """The dtype PyTorch gives a Python scalar in promotion."""
    if isinstance(x, (bool, np.bool_)):
        return dt.bool_
    if isinstance(x, numbers.Integral):
        return dt.int64
    if isinstance(x, numbers.Real):
        return get_default_dtype()
    raise TypeError(f"unsupported operand type: {type(x).__name__}")


def is_scalar(x) -> bool:
    """True for Python and numpy numbers (not tensors)."""
    return isinstance(x, (numbers.Number, np.generic)) and not isinstance(x, complex)


def promote(*operands) -> dt.DType:
    """PyTorch's result dtype for tensors and Python scalars together."""
    if len(operands) == 2:
        a, b = operands
        if type(a) is Tensor:
            da = a.node.dtype
            if type(b) is Tensor:
                if b.node.dtype is da:
                    return da  # the common case: one dtype
            elif type(b) is float and da.is_floating_point:
                return da
            elif type(b) is int and da.category in ("int", "float"):
                return da
    dims, zero_dims, scalars = [], [], []
    for x in operands:
        if isinstance(x, Tensor):
            (dims if x.ndim else zero_dims).append(x.dtype)
        else:
            scalars.append(scalar_dtype(x))
    return dt.result_type(dims, zero_dims, scalars)


def operand_nodes(operands, dtype: dt.DType, shape: tuple | None = None) -> list[Node]:
    """Each operand as a node of `dtype`, broadcast together (or to `shape`)."""
    nodes = [x.node if isinstance(x, Tensor) else None for x in operands]
    if shape is None:
        shape = broadcast_shapes(*(n.shape if n is not None else () for n in nodes))
    out = []
    for x, n in zip(operands, nodes):
        if n is None:
            out.append(const(x, dtype, shape))
        else:
            if n.dtype is not dtype:
                n = make(Op.CAST, (n,), dtype)
            out.append(n if n.shape == shape else expand_node(n, shape))
    return out


def ensure_tensor(x) -> Tensor:
    """`x` as a tensor (Python scalars become 0-d tensors)."""
    if isinstance(x, Tensor):
        return x
    from lazytensor import creation
    return creation.tensor(x)


def assign(t: Tensor, value: Node, allow_overlap: bool = False) -> Tensor:
    """Make `value` the new contents of `t` in place: through views into the base's storage.

    A view whose elements share memory (expanded) refuses the write as PyTorch does, unless
    `allow_overlap` (fill_/zero_: every element gets the same value)."""
    if value.shape != t.node.shape:
        value = expand_node(value, t.node.shape)
    value = cast_node(value, t.dtype)
    if t._base is None:
        t._node = value
        target = t
    else:
        base = t._base
        base._node = views.write_back(base._node, value, t._vops, allow_overlap)
        base._version += 1
        target = base
    t._version += 1
    lazy.note_pending(target)
    if target._buffer is not None and target._buffer.shared:
        # numpy shares this storage: the user can see it without asking us, so write now
        lazy.realize([target])
    return t


def check_inplace_dtype(t: Tensor, result: dt.DType) -> None:
    """PyTorch refuses an in-place op whose result type can't be cast to the tensor's."""
    if dt.category_rank(result) > dt.category_rank(t.dtype):
        raise RuntimeError(f"result type {_torch_name(result)} can't be cast to the desired output type "
                           f"{_torch_name(t.dtype)}")


def _torch_name(d: dt.DType) -> str:
    return {"float32": "Float", "float64": "Double", "float16": "Half", "bfloat16": "BFloat16",
            "int64": "Long", "int32": "Int", "int16": "Short", "int8": "Char", "uint8": "Byte",
            "bool": "Bool"}[d.name]
