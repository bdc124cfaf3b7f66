"""Factories: tensors from data (stored at once) and from shapes (lazy constants)."""
from __future__ import annotations

import math
import numbers
import operator
from typing import Sequence

import numpy as np

from lazytensor.compiler import dtypes as dt
from lazytensor.compiler.ir import Buffer
from lazytensor.compiler.ops import Op, make
from lazytensor.device import resolve
from lazytensor.tensor import (Tensor, const, from_storage, get_default_dtype, make_view, wrap)
from lazytensor import views

__all__ = ["tensor", "as_tensor", "from_numpy", "full", "zeros", "ones", "empty", "zeros_like", "ones_like",
           "empty_like", "full_like", "arange", "linspace", "logspace", "eye"]


def _finish(t: Tensor, requires_grad: bool) -> Tensor:
    if requires_grad:
        if not t.dtype.is_floating_point:
            raise RuntimeError("Only Tensors of floating point and complex dtype can require gradients")
        t.requires_grad = True
    return t


def _infer_dtype(data) -> dt.DType:
    """The dtype torch.tensor gives nested Python data: bool, then int64, then the default float."""
    kinds = set()
    stack = [data]
    while stack:
        x = stack.pop()
        if isinstance(x, Tensor):
            kinds.add(x.dtype)
        elif isinstance(x, np.ndarray):
            kinds.add(dt.dtype_from_numpy(x.dtype))
        elif isinstance(x, (list, tuple)):
            stack.extend(x)
        elif isinstance(x, (bool, np.bool_)):
            kinds.add("bool")
        elif isinstance(x, numbers.Integral):
            kinds.add("int")
        elif isinstance(x, numbers.Real):
            kinds.add("float")
        elif x is None:
            raise RuntimeError("Could not infer dtype of NoneType")
        elif isinstance(x, numbers.Complex):
            raise TypeError("Could not infer dtype of complex: complex dtypes are not supported")
        else:
            raise TypeError(f"Could not infer dtype of {type(x).__name__}")
    if "float" in kinds:
        out = get_default_dtype()
    elif "int" in kinds:
        out = dt.int64
    elif "bool" in kinds or not kinds:
        out = dt.bool_ if kinds else get_default_dtype()
    else:
        out = None
    for k in kinds:
        if isinstance(k, dt.DType):
            out = k if out is None else dt.promote_types(out, k)
    return out


_INT64_MIN, _INT64_END = -(1 << 63), 1 << 63


def _is_sequence(x) -> bool:
    return isinstance(x, (list, tuple)) or (isinstance(x, (Tensor, np.ndarray)) and x.ndim > 0)


def _to_numpy(data, to_float: bool = False):
    if isinstance(data, Tensor):
        return data._host_array()
    if isinstance(data, (list, tuple)):
        if len({_is_sequence(x) for x in data}) > 1:  # [1, [2, 3]]: numbers and sequences mixed
            raise TypeError("not a sequence")
        return np.array([_to_numpy(x, to_float) for x in data]) if data else np.zeros((0,))
    if isinstance(data, int) and not isinstance(data, bool) and not _INT64_MIN <= data < _INT64_END:
        # PyTorch reads Python ints as int64 unless they are bound for a float
        if not to_float:
            raise ValueError("Overflow when unpacking long long")
        return np.asarray(float(data))
    return np.asarray(data)


def _check_int_range(values: np.ndarray, dtype: dt.DType, type_name: str) -> None:
    """PyTorch refuses numbers outside an integer dtype: floats outside its range (nan too), and
    integers outside it, except that negative integers wrap into unsigned dtypes (-1 is 255)."""
    if not dtype.is_integer or values.dtype.kind not in "iuf" or values.size == 0:
        return
    info = np.iinfo(dtype.np_dtype)
    if values.dtype.kind == "f":
        fits = not np.isnan(values).any() and values.min() >= info.min and values.max() <= info.max
    else:
        low = -int(info.max) if dtype.category == "uint" else int(info.min)
        fits = int(values.min()) >= low and int(values.max()) <= int(info.max)
    if not fits:
        raise RuntimeError(f"value cannot be converted to type {type_name} without overflow")


# PyTorch's names for the C types in full()'s overflow errors
_C_TYPE = {"uint8": "uint8_t", "int8": "int8_t", "int16": "int16_t", "int32": "int", "int64": "int64_t",
           "float16": "c10::Half", "bfloat16": "c10::BFloat16", "float32": "float", "float64": "double",
           "bool": "bool"}


def checked_scalar(value, dtype: dt.DType):
    """`value` for filling a tensor of `dtype`, refusing what overflows it as PyTorch's full() does."""
    if dtype is dt.bool_ or isinstance(value, (bool, np.bool_)):
        return value
    if dtype.is_integer:
        info = np.iinfo(dtype.np_dtype)
        if isinstance(value, numbers.Integral):
            low = -int(info.max) if dtype.category == "uint" else int(info.min)
        else:
            low = int(info.min)
        if not (math.isfinite(value) and low <= value <= int(info.max)):
            raise RuntimeError(f"value cannot be converted to type {_C_TYPE[dtype.name]} without overflow")
    elif dtype in (dt.float16, dt.float32) and math.isfinite(value) and \
            abs(float(value)) > float(np.finfo(dtype.np_dtype).max):
        raise RuntimeError(f"value cannot be converted to type {_C_TYPE[dtype.name]} without overflow")
    return value


def _stored(values: np.ndarray, dtype: dt.DType) -> Tensor:
    """A realized tensor holding a private copy of `values` as `dtype`."""
    with np.errstate(over="ignore", invalid="ignore"):  # 1e40 is inf in float32, as in PyTorch
        arr = np.array(values, dtype=dtype.np_dtype, order="C", copy=True)
    buf = Buffer(dtype, arr.size, "cpu", arr.reshape(-1))
    return from_storage(buf, arr.shape)


def tensor(data, *, dtype: dt.DType | None = None, device=None, requires_grad: bool = False,
           pin_memory: bool = False) -> Tensor:
    """A new tensor holding a copy of `data` (nested lists, numbers, numpy arrays, tensors)."""
    resolve(device)
    if isinstance(data, np.ndarray) and dtype is None:
        dtype = dt.dtype_from_numpy(data.dtype)
    if dtype is None:
        dtype = _infer_dtype(data)
    values = _to_numpy(data, to_float=dtype.is_floating_point)
    if values.dtype == object:
        raise TypeError("tensor(): data must be numbers or nested sequences of equal length")
    if not isinstance(data, np.ndarray):
        _check_int_range(values, dtype, dtype.name)
    return _finish(_stored(values, dtype), requires_grad)


def as_tensor(data, dtype: dt.DType | None = None, device=None) -> Tensor:
    """`data` as a tensor, sharing memory with a tensor or numpy array when the dtype matches."""
    resolve(device)
    if isinstance(data, Tensor):
        return data if dtype is None or dtype is data.dtype else data.to(dtype)
    if isinstance(data, np.ndarray) and (dtype is None or dtype.np_dtype == data.dtype):
        return from_numpy(data)
    return tensor(data, dtype=dtype)


def from_numpy(array: np.ndarray) -> Tensor:
    """A tensor sharing `array`'s memory: writes to either are seen by the other."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"expected np.ndarray (got {type(array).__name__})")
    dtype = dt.dtype_from_numpy(array.dtype)
    # numpy calls an array with odd strides on size-1 dims contiguous; PyTorch keeps those strides
    if array.flags.c_contiguous and (array.size == 0 or array.strides == tuple(
            s * array.itemsize for s in views.contiguous_strides(array.shape))):
        buf = Buffer(dtype, array.size, "cpu", array.reshape(-1))
        buf.shared = True
        return from_storage(buf, array.shape)
    # A strided view: keep the whole underlying block as a flat base and view it.
    owner = array
    while isinstance(owner.base, np.ndarray):
        owner = owner.base
    if not owner.flags.c_contiguous or owner.dtype != array.dtype:
        raise ValueError("from_numpy() needs an array whose memory block is contiguous")
    flat = owner.reshape(-1)
    item = array.itemsize
    offset_bytes = array.__array_interface__["data"][0] - flat.__array_interface__["data"][0]
    flat = flat[offset_bytes // item:]  # storage starts at the array's first element, as PyTorch's
    vops = views.as_strided_vops(flat.size, array.shape, tuple(s // item for s in array.strides), 0)
    buf = Buffer(dtype, flat.size, "cpu", flat)
    buf.shared = True
    base = from_storage(buf, (flat.size,))
    return make_view(base, vops)


def _shape_arg(size, name: str = "zeros") -> tuple:
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    shape = []
    for pos, d in enumerate(size):
        try:
            shape.append(operator.index(d))  # ints, numpy ints and one-element int tensors; not 2.5
        except TypeError:
            raise TypeError(f"{name}(): argument 'size' (position 1) must be tuple of ints, but found "
                            f"element of type {type(d).__name__} at pos {pos}") from None
    shape = tuple(shape)
    if any(d < 0 for d in shape):
        raise RuntimeError(f"Trying to create tensor with negative dimension {min(shape)}: {list(shape)}")
    return shape


def _size_args(size: tuple, name: str) -> tuple:
    """The shape from zeros(2, 3) or zeros((2, 3)); zeros() has none."""
    if not size:
        raise TypeError(f"{name}() missing 1 required positional arguments: \"size\"")
    return _shape_arg(size, name)


def full(size, fill_value, *, dtype: dt.DType | None = None, device=None,
         requires_grad: bool = False) -> Tensor:
    """A tensor of `size` filled with `fill_value` (lazy: a broadcast constant)."""
    resolve(device)
    if not isinstance(size, (tuple, list)):
        raise TypeError(f"full(): argument 'size' (position 1) must be tuple of ints, not {type(size).__name__}")
    shape = _shape_arg(tuple(size), "full")
    value = fill_value.item() if isinstance(fill_value, Tensor) else fill_value
    if dtype is None:
        dtype = _infer_dtype(value)
    return _finish(wrap(const(checked_scalar(value, dtype), dtype, shape)), requires_grad)


def zeros(*size, dtype: dt.DType | None = None, device=None, requires_grad: bool = False) -> Tensor:
    """A tensor of zeros."""
    return full(_size_args(size, "zeros"), 0, dtype=dtype or get_default_dtype(), device=device,
                requires_grad=requires_grad)


def ones(*size, dtype: dt.DType | None = None, device=None, requires_grad: bool = False) -> Tensor:
    """A tensor of ones."""
    return full(_size_args(size, "ones"), 1, dtype=dtype or get_default_dtype(), device=device,
                requires_grad=requires_grad)


def empty(*size, dtype: dt.DType | None = None, device=None, requires_grad: bool = False,
          memory_format=None) -> Tensor:
    """A tensor whose values are unspecified (zeros here: lazily, that costs nothing)."""
    return zeros(_size_args(size, "empty"), dtype=dtype, device=device, requires_grad=requires_grad)


def _like(fn, input: Tensor, dtype, requires_grad, *args):
    return fn(tuple(input.shape), *args, dtype=dtype or input.dtype, requires_grad=requires_grad)


def zeros_like(input: Tensor, *, dtype=None, device=None, requires_grad=False, memory_format=None) -> Tensor:
    """Zeros with `input`'s shape and dtype."""
    return _like(zeros, input, dtype, requires_grad)


def ones_like(input: Tensor, *, dtype=None, device=None, requires_grad=False, memory_format=None) -> Tensor:
    """Ones with `input`'s shape and dtype."""
    return _like(ones, input, dtype, requires_grad)


def empty_like(input: Tensor, *, dtype=None, device=None, requires_grad=False, memory_format=None) -> Tensor:
    """An unspecified tensor with `input`'s shape and dtype."""
    return _like(empty, input, dtype, requires_grad)


def full_like(input: Tensor, fill_value, *, dtype=None, device=None, requires_grad=False,
              memory_format=None) -> Tensor:
    """`fill_value` with `input`'s shape and dtype."""
    return full(tuple(input.shape), fill_value, dtype=dtype or input.dtype, requires_grad=requires_grad)


_iota_cache: dict = {}


def iota(n: int, dtype: dt.DType) -> "Tensor":
    """0, 1, ..., n-1 as a stored 1-d tensor; cached so graphs that use it share one buffer."""
    key = (n, dtype)
    buf = _iota_cache.get(key)
    if buf is None:
        if len(_iota_cache) > 256:
            _iota_cache.clear()
        buf = Buffer(dtype, n, "cpu", np.arange(n, dtype=np.float64).astype(dtype.np_dtype))
        buf.data.flags.writeable = False
        _iota_cache[key] = buf
    return from_storage(buf, (n,))


def arange(start, end=None, step=1, *, dtype: dt.DType | None = None, device=None,
           requires_grad: bool = False) -> Tensor:
    """Values from `start` up to (not including) `end` by `step`."""
    resolve(device)
    if end is None:
        start, end = 0, start
    start, end, step = (x.item() if isinstance(x, Tensor) else x for x in (start, end, step))
    if not all(math.isfinite(x) for x in (start, end)):
        raise RuntimeError(f"unsupported range: {start} -> {end}")
    if dtype is None:
        dtype = _infer_dtype([start, end, step])
    if dtype is dt.bool_:
        raise NotImplementedError("\"arange_cpu\" not implemented for 'Bool'")
    if not dtype.is_floating_point:
        # PyTorch converts the bounds and step to the integer dtype first: arange(0, 2.5, dtype=long) is [0, 1]
        start, end, step = int(start), int(end), int(step)
    if step == 0:
        raise RuntimeError("step must be nonzero")
    if (end - start) * step < 0 and end != start:
        raise RuntimeError("upper bound and larger bound inconsistent with step sign")
    n = max(0, math.ceil((end - start) / step))
    values = start + np.arange(n, dtype=np.float64) * step if dtype.is_floating_point or \
        any(isinstance(x, float) for x in (start, end, step)) else np.arange(start, end, step, dtype=np.int64)
    return _finish(_stored(values[:n], dtype), requires_grad)


def linspace(start, end, steps: int, *, dtype: dt.DType | None = None, device=None,
             requires_grad: bool = False) -> Tensor:
    """`steps` evenly spaced values from `start` to `end` inclusive, computed as PyTorch does."""
    resolve(device)
    start, end = (x.item() if isinstance(x, Tensor) else x for x in (start, end))
    if not isinstance(steps, numbers.Integral):
        raise TypeError(f"linspace(): argument 'steps' (position 3) must be int, not {type(steps).__name__}")
    if steps < 0:
        raise RuntimeError("number of steps must be non-negative")
    dtype = dtype or get_default_dtype()
    if dtype is dt.bool_:
        raise NotImplementedError("\"linspace_cpu\" not implemented for 'Bool'")
    return _finish(_stored(_linspace_values(start, end, steps, dtype), dtype), requires_grad)


def _linspace_values(start, end, steps: int, dtype: dt.DType) -> np.ndarray:
    """PyTorch's CPU linspace, rounding as it does: floats round to the dtype after every operation
    (halves compute each one in float32); integer dtypes truncate the bounds, then step in float64."""
    if dtype.is_floating_point:
        work = np.float64 if dtype is dt.float64 else np.float32

        def rnd(x):
            return np.asarray(x, dtype=work).astype(dtype.np_dtype).astype(work)
    else:
        work = np.float64

        def rnd(x):
            return np.asarray(x, dtype=work)
        start, end = int(start), int(end)
    s, e = rnd(start), rnd(end)
    if steps == 1:
        return s.reshape(1)
    step = rnd((e - s) / work(steps - 1))
    i = np.arange(steps, dtype=work)
    # PyTorch fills the first half from the start and the second half from the end
    return np.where(np.arange(steps) < steps // 2, rnd(s + rnd(step * i)), rnd(e - rnd(step * (steps - 1 - i))))


def logspace(start, end, steps: int, base: float = 10.0, *, dtype=None, device=None,
             requires_grad: bool = False) -> Tensor:
    """`base` raised to `steps` evenly spaced exponents."""
    exps = linspace(start, end, steps, dtype=dt.float64).numpy()
    return _finish(_stored(np.power(base, exps), dtype or get_default_dtype()), requires_grad)


def eye(n: int, m: int | None = None, *, dtype: dt.DType | None = None, device=None,
        requires_grad: bool = False) -> Tensor:
    """The identity matrix (n x m)."""
    resolve(device)
    m = n if m is None else m
    for name, x in (("n", n), ("m", m)):
        if not isinstance(x, numbers.Integral):
            raise TypeError(f"eye(): argument '{name}' must be int, not {type(x).__name__}")
        if x < 0:
            raise RuntimeError(f"{name} must be greater or equal to 0, got {x}")
    dtype = dtype or get_default_dtype()
    rows = make(Op.EXPAND, (make(Op.RESHAPE, (iota(n, dt.int64).node,), (n, 1)),), (n, m))
    cols = make(Op.EXPAND, (make(Op.RESHAPE, (iota(m, dt.int64).node,), (1, m)),), (n, m))
    eq = make(Op.CMPEQ, (rows, cols))
    return _finish(wrap(eq if dtype is dt.bool_ else make(Op.CAST, (eq,), dtype)), requires_grad)


def _rebuild(values: np.ndarray, requires_grad: bool) -> Tensor:
    """Unpickle a tensor (pickle support for multiprocessing and copy)."""
    t = _stored(values, dt.dtype_from_numpy(values.dtype))
    t.requires_grad = requires_grad
    return t

