"""Factories: tensors from data (stored at once) and from shapes (lazy constants)."""
from __future__ import annotations

import math
import numbers
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


def _to_numpy(data):
    if isinstance(data, Tensor):
        return data._host_array()
    if isinstance(data, (list, tuple)):
        return np.array([_to_numpy(x) for x in data]) if data else np.zeros((0,))
    return np.asarray(data)


def _stored(values: np.ndarray, dtype: dt.DType) -> Tensor:
    """A realized tensor holding a private copy of `values` as `dtype`."""
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
    values = _to_numpy(data)
    if values.dtype == object:
        raise TypeError("tensor(): data must be numbers or nested sequences of equal length")
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
    if array.flags.c_contiguous:
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
    vops = views.as_strided_vops(flat.size, array.shape, tuple(s // item for s in array.strides),
                                 offset_bytes // item)
    buf = Buffer(dtype, flat.size, "cpu", flat)
    buf.shared = True
    base = from_storage(buf, (flat.size,))
    return make_view(base, vops)


def _shape_arg(size) -> tuple:
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    shape = tuple(int(d) for d in size)
    if any(d < 0 for d in shape):
        raise RuntimeError(f"Trying to create tensor with negative dimension {min(shape)}: {list(shape)}")
    return shape


def full(size, fill_value, *, dtype: dt.DType | None = None, device=None,
         requires_grad: bool = False) -> Tensor:
    """A tensor of `size` filled with `fill_value` (lazy: a broadcast constant)."""
    resolve(device)
    shape = _shape_arg((size,) if isinstance(size, int) else tuple(size))
    if dtype is None:
        dtype = _infer_dtype(fill_value if not isinstance(fill_value, Tensor) else fill_value.item())
    value = fill_value.item() if isinstance(fill_value, Tensor) else fill_value
    return _finish(wrap(const(value, dtype, shape)), requires_grad)


def zeros(*size, dtype: dt.DType | None = None, device=None, requires_grad: bool = False) -> Tensor:
    """A tensor of zeros."""
    return full(_shape_arg(size), 0, dtype=dtype or get_default_dtype(), device=device,
                requires_grad=requires_grad)


def ones(*size, dtype: dt.DType | None = None, device=None, requires_grad: bool = False) -> Tensor:
    """A tensor of ones."""
    return full(_shape_arg(size), 1, dtype=dtype or get_default_dtype(), device=device,
                requires_grad=requires_grad)


def empty(*size, dtype: dt.DType | None = None, device=None, requires_grad: bool = False,
          memory_format=None) -> Tensor:
    """A tensor whose values are unspecified (zeros here: lazily, that costs nothing)."""
    return zeros(*size, dtype=dtype, device=device, requires_grad=requires_grad)


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
    if step == 0:
        raise RuntimeError("step must be nonzero")
    if (end - start) * step < 0 and end != start:
        raise RuntimeError("upper bound and larger bound inconsistent with step sign")
    if dtype is None:
        dtype = _infer_dtype([start, end, step])
    n = max(0, math.ceil((end - start) / step))
    values = start + np.arange(n, dtype=np.float64) * step if dtype.is_floating_point or \
        any(isinstance(x, float) for x in (start, end, step)) else np.arange(start, end, step, dtype=np.int64)
    return _finish(_stored(values[:n], dtype), requires_grad)


def linspace(start, end, steps: int, *, dtype: dt.DType | None = None, device=None,
             requires_grad: bool = False) -> Tensor:
    """`steps` evenly spaced values from `start` to `end` inclusive, computed as PyTorch does."""
    resolve(device)
    if steps < 0:
        raise RuntimeError("number of steps must be non-negative")
    dtype = dtype or get_default_dtype()
    i = np.arange(steps, dtype=np.float64)
    if steps == 1:
        values = np.array([start], dtype=np.float64)
    else:
        step = (end - start) / (steps - 1)
        # PyTorch fills the first half from the start and the second half from the end
        values = np.where(i < steps // 2, start + step * i, end - step * (steps - 1 - i))
    if not dtype.is_floating_point:
        values = np.trunc(values)
    return _finish(_stored(values, dtype), requires_grad)


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

