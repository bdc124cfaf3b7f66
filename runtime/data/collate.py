"""Collation: turning a list of samples into a batch (`default_collate`), or converting one
sample's numpy arrays to tensors (`default_convert`), with PyTorch's rules and outputs.

Inside a DataLoader worker, stacked tensors are written straight into shared memory
(`shm.empty`), so the batch leaves the worker without another copy.
"""
from __future__ import annotations

import collections.abc
import copy
import re
from typing import Callable

import numpy as np

import lazytensor as lt
from lazytensor.runtime.data import shm

__all__ = ["default_collate", "default_convert", "collate", "default_collate_fn_map",
           "default_collate_err_msg_format"]

np_str_obj_array_pattern = re.compile(r"[SaUO]")

default_collate_err_msg_format = (
    "default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; found {}")


def default_convert(data):
    """numpy arrays and numpy scalars in `data` become tensors (sharing memory); containers are walked."""
    elem_type = type(data)
    if isinstance(data, lt.Tensor):
        return data
    if elem_type.__module__ == "numpy" and elem_type.__name__ not in ("str_", "string_"):
        # a string or object array stays as it is
        if elem_type.__name__ == "ndarray" and np_str_obj_array_pattern.search(data.dtype.str) is not None:
            return data
        # np.asarray: a numpy scalar keeps its dtype (np.float64(1) is float64, not a Python float)
        return lt.as_tensor(data if isinstance(data, np.ndarray) else np.asarray(data))
    if isinstance(data, collections.abc.Mapping):
        try:
            if isinstance(data, collections.abc.MutableMapping):
                clone = copy.copy(data)
                clone.update({key: default_convert(data[key]) for key in data})
                return clone
            return elem_type({key: default_convert(data[key]) for key in data})
        except TypeError:
            return {key: default_convert(data[key]) for key in data}
    if isinstance(data, tuple) and hasattr(data, "_fields"):  # namedtuple
        return elem_type(*(default_convert(d) for d in data))
    if isinstance(data, tuple):
        return [default_convert(d) for d in data]  # PyTorch turns tuples into lists here
    if isinstance(data, collections.abc.Sequence) and not isinstance(data, (str, bytes)):
        try:
            if isinstance(data, collections.abc.MutableSequence):
                clone = copy.copy(data)
                for i, d in enumerate(data):
                    clone[i] = default_convert(d)
                return clone
            return elem_type([default_convert(d) for d in data])
        except TypeError:
            return [default_convert(d) for d in data]
    return data


def collate(batch, *, collate_fn_map: dict[type | tuple[type, ...], Callable] | None = None):
    """Collate a list of samples, calling `collate_fn_map[type]` for the element types it names."""
    elem = batch[0]
    elem_type = type(elem)
    if collate_fn_map is not None:
        if elem_type in collate_fn_map:
            return collate_fn_map[elem_type](batch, collate_fn_map=collate_fn_map)
        for collate_type in collate_fn_map:
            if isinstance(elem, collate_type):
                return collate_fn_map[collate_type](batch, collate_fn_map=collate_fn_map)
    if isinstance(elem, collections.abc.Mapping):
        try:
            if isinstance(elem, collections.abc.MutableMapping):
                clone = copy.copy(elem)
                clone.update({key: collate([d[key] for d in batch], collate_fn_map=collate_fn_map) for key in elem})
                return clone
            return elem_type({key: collate([d[key] for d in batch], collate_fn_map=collate_fn_map) for key in elem})
        except TypeError:
            return {key: collate([d[key] for d in batch], collate_fn_map=collate_fn_map) for key in elem}
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):  # namedtuple
        return elem_type(*(collate(samples, collate_fn_map=collate_fn_map) for samples in zip(*batch)))
    if isinstance(elem, collections.abc.Sequence):
        it = iter(batch)
        elem_size = len(next(it))
        if not all(len(e) == elem_size for e in it):
            raise RuntimeError("each element in list of batch should be of equal size")
        transposed = list(zip(*batch))
        if isinstance(elem, tuple):
            return [collate(samples, collate_fn_map=collate_fn_map) for samples in transposed]
        try:
            if isinstance(elem, collections.abc.MutableSequence):
                clone = copy.copy(elem)
                for i, samples in enumerate(transposed):
                    clone[i] = collate(samples, collate_fn_map=collate_fn_map)
                return clone
            return elem_type([collate(samples, collate_fn_map=collate_fn_map) for samples in transposed])
        except TypeError:
            return [collate(samples, collate_fn_map=collate_fn_map) for samples in transposed]
    raise TypeError(default_collate_err_msg_format.format(elem_type))


def collate_tensor_fn(batch, *, collate_fn_map=None) -> lt.Tensor:
    """Stack equal-shaped tensors along a new first dimension (into shared memory in a worker)."""
    lt.realize(*batch)  # one flush for every pending sample
    arrays = [_values(t) for t in batch]
    ref = arrays[0]
    if any(a.shape != ref.shape or a.dtype != ref.dtype for a in arrays):
        # mixed shapes raise PyTorch's error, mixed dtypes promote: both as lt.stack does
        return _to_shared(lt.stack(batch, 0))
    out = shm.empty((len(arrays),) + ref.shape, ref.dtype)
    if out.size:
        np.stack(arrays, out=out)
    return lt.from_numpy(out)


def _values(t: lt.Tensor) -> np.ndarray:
    """A realized tensor's values as a numpy array, read-only use (no copy).

    A whole (non-view) tensor's storage is already its values in row-major order: reshaping it is
    much cheaper than the general strided view of `numpy()`, which matters once per sample."""
    if type(t) is lt.Tensor and t._base is None:  # noqa: SLF001
        buffer = getattr(t, "_buffer", None)
        flat = getattr(buffer, "data", None)
        shape = t._node.shape  # noqa: SLF001
        if isinstance(flat, np.ndarray) and flat.ndim == 1 and flat.size == _numel(shape):
            return flat.reshape(shape)
    return t.numpy(force=True)


def _numel(shape: tuple) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def _to_shared(t: lt.Tensor) -> lt.Tensor:
    """`t`'s values in memory from `shm.empty` (shared memory in a worker)."""
    values = t.numpy(force=True)
    out = shm.empty(values.shape, values.dtype)
    np.copyto(out, values)
    return lt.from_numpy(out)


def collate_numpy_array_fn(batch, *, collate_fn_map=None):
    """Numpy arrays are collated as the tensors that share their memory."""
    elem = batch[0]
    if np_str_obj_array_pattern.search(elem.dtype.str) is not None:
        raise TypeError(default_collate_err_msg_format.format(elem.dtype))
    return collate([lt.as_tensor(b) for b in batch], collate_fn_map=collate_fn_map)


def collate_numpy_scalar_fn(batch, *, collate_fn_map=None) -> lt.Tensor:
    """numpy scalars become a 1-d tensor of their dtype."""
    return lt.as_tensor(np.array(batch))


def collate_float_fn(batch, *, collate_fn_map=None) -> lt.Tensor:
    """Python floats become a float64 tensor."""
    return lt.tensor(batch, dtype=lt.float64)


def collate_int_fn(batch, *, collate_fn_map=None) -> lt.Tensor:
    """Python ints become an int64 tensor (bools a bool tensor, as torch.tensor infers)."""
    return lt.tensor(batch)


def collate_str_fn(batch, *, collate_fn_map=None):
    """Strings and bytes stay a list."""
    return batch


def _collate_numpy(batch, *, collate_fn_map=None):
    elem = batch[0]
    if isinstance(elem, np.ndarray):
        return collate_numpy_array_fn(batch, collate_fn_map=collate_fn_map)
    return collate_numpy_scalar_fn(batch, collate_fn_map=collate_fn_map)


default_collate_fn_map: dict[type | tuple[type, ...], Callable] = {lt.Tensor: collate_tensor_fn}
default_collate_fn_map[np.ndarray] = collate_numpy_array_fn
# numpy scalars (np.float32(1), np.bool_(True), ...) but not numpy's string scalars
default_collate_fn_map[(np.bool_, np.number)] = collate_numpy_scalar_fn
default_collate_fn_map[float] = collate_float_fn
default_collate_fn_map[int] = collate_int_fn
default_collate_fn_map[str] = collate_str_fn
default_collate_fn_map[bytes] = collate_str_fn


def default_collate(batch):
    """PyTorch's default collation: tensors, arrays and numbers are stacked into tensors with a new
    batch dimension; strings and bytes stay lists; dicts, lists, tuples (as lists) and named tuples
    are collated field by field."""
    return collate(batch, collate_fn_map=default_collate_fn_map)
