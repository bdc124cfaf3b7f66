"""Collation: turning a list of samples into a batch (`default_collate`), or converting one
sample's numpy arrays to tensors (`default_convert`), with PyTorch's rules and outputs.

Inside a DataLoader worker, stacked tensors are written straight into shared memory
(`shm.empty`), so the batch leaves the worker without another copy; in the main process, into a
recycled block (`pool.empty`), so a batch's memory is not faulted in afresh every time.
"""
from __future__ import annotations

import collections.abc
import copy
import re
from typing import Callable

import numpy as np

import lazytensor as lt
from lazytensor.lazy import is_realized
from lazytensor.runtime.data import pool, shm

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
    stored = _stored_flats(batch)
    if stored is not None:
        # the samples' storages laid end to end are the stacked batch: one C call, and no flush,
        # graph node or numpy view made per sample
        flats, shape = stored
        out = _empty((len(flats),) + shape, flats[0].dtype)
        if out.size:
            np.concatenate(flats, out=out.reshape(-1))
        return lt.from_numpy(out)
    lt.realize(*batch)  # one flush for every pending sample
    arrays = [_values(t) for t in batch]
    ref = arrays[0]
    if any(a.shape != ref.shape or a.dtype != ref.dtype for a in arrays):
        # mixed shapes raise PyTorch's error, mixed dtypes promote: both as lt.stack does
        return _to_shared(lt.stack(batch, 0))
    out = _empty((len(arrays),) + ref.shape, ref.dtype)
    if out.size:
        np.stack(arrays, out=out)
    return lt.from_numpy(out)


def collate_rows(tensors: tuple, indices) -> list[lt.Tensor] | None:
    """What `default_collate([(t[i] for t in tensors) for i in indices])` returns (a list of one
    batch tensor per tensor), built by one gather per tensor instead of a view per sample; None
    when `indices` are not plain in-range ints (the per-sample path then gives PyTorch's errors).

    The DataLoader's fetcher uses it for a `TensorDataset` collated by `default_collate`."""
    if not tensors or type(indices) is not list or not indices:
        return None
    n = tensors[0].shape[0]
    for i in indices:
        if type(i) is not int or not 0 <= i < n:
            return None
    out = []
    for t in tensors:
        if type(t) is not lt.Tensor or t.requires_grad:
            return None  # a subclass, or rows that would carry a graph: the per-sample path
        values = t.numpy(force=True)
        batch = _empty((len(indices),) + values.shape[1:], values.dtype)
        if batch.size:
            # the rows laid end to end (np.take is slower for rows of more than a few values)
            np.concatenate([values[i:i + 1] for i in indices], axis=0, out=batch)
        out.append(lt.from_numpy(batch))
    return out


def _empty(shape: tuple, dtype: np.dtype) -> np.ndarray:
    """Memory for a batch: shared memory in a worker, a recycled block (pool.py) in the main process."""
    if shm._arena is not None:  # noqa: SLF001 (set by worker.py while a worker builds a batch)
        return shm.empty(shape, dtype)
    return pool.empty(shape, dtype)


def _stored_flats(batch) -> tuple[list[np.ndarray], tuple] | None:
    """(each sample's flat storage, the samples' shape) when every sample is a whole tensor (not a
    view) whose values are stored, all of one shape and dtype: the common case of a dataset of
    tensors. None otherwise (the general path then flushes, promotes or raises)."""
    first = batch[0]
    if type(first) is not lt.Tensor or first._base is not None:  # noqa: SLF001 (a view has no node of its own)
        return None
    shape = first._node.shape  # noqa: SLF001
    numel = _numel(shape)
    dtype = None
    flats = []
    append = flats.append
    for t in batch:
        if type(t) is not lt.Tensor or t._base is not None:  # noqa: SLF001
            return None
        if t._node.shape != shape or not is_realized(t):  # noqa: SLF001
            return None
        flat = t._buffer.data  # noqa: SLF001
        if type(flat) is not np.ndarray or flat.size != numel:
            return None
        if flat.dtype is not dtype:
            if dtype is not None and flat.dtype != dtype:
                return None
            dtype = flat.dtype
        append(flat)
    return flats, shape


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
