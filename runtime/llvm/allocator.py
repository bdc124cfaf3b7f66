"""The allocator: memory for kernel outputs and scheduled temporaries (numpy arrays for now)."""
from __future__ import annotations

import numpy as np

from lazytensor.compiler import dtypes as dt


def empty(dtype: dt.DType, shape: tuple) -> np.ndarray:
    """Fresh C-contiguous storage for a value the caller keeps (a graph output)."""
    return np.empty(shape, dtype=dtype.np_dtype)


def slot(nbytes: int) -> np.ndarray:
    """Raw bytes for a scheduled temporary; `view(slot, dtype, shape)` types it per use."""
    return np.empty(max(nbytes, 1), dtype=np.uint8)


def view(raw: np.ndarray, dtype: dt.DType, shape: tuple) -> np.ndarray:
    """A slot's bytes seen as an array of `dtype` and `shape` (no copy)."""
    n = 1
    for d in shape:
        n *= d
    return raw[: n * dtype.itemsize].view(dtype.np_dtype).reshape(shape)
