"""The allocator: memory for kernel outputs and scheduled temporaries, reused by size class.

Fresh memory costs page faults: on this machine's VM faulting in a new 64 MiB output costs more
than computing it, and numpy hands big arrays back to the OS (munmap) the moment they die. So
blocks of POOL_MIN bytes or more come from a pool of freed blocks, by size class (a size rounded
up to one of four steps per power of two, so a reused block wastes at most a quarter).

A block returns to the pool when the last reference to its memory dies, and only then, so memory
seen outside (`t.numpy()`, a view of it, a torch tensor made from it) is never reused while
referenced: safe by construction. Each allocation is an `Owner` object that numpy arrays are made
over (`__array_interface__`): every array or view of the memory holds it through its `base`
chain (numpy never collapses a chain past an object that is not an ndarray), and `Owner.__del__`
hands the raw block back to the pool.

An output of a run is *fresh*: nothing but the caller sees it. `claim(array)` is how the caller
takes it as storage without a copy (true once per block; false for any other array).
"""
from __future__ import annotations

import ctypes
import threading

import numpy as np

from lazytensor.compiler import dtypes as dt

POOL_MIN = 1 << 16  # smaller blocks come from numpy (malloc's heap: no fresh pages)
MAX_CACHED = 1 << 30  # freed bytes kept for reuse at most; beyond this a freed block is dropped
ALIGN = 64  # a cache line / an AVX-512 vector

_lock = threading.Lock()
_free: dict[int, list[tuple[np.ndarray, int]]] = {}  # size class -> (raw uint8 block, its address)
_stats = {"cached": 0, "hits": 0, "misses": 0}


def size_class(nbytes: int) -> int:
    """The byte size of the block that serves a request of `nbytes` (POOL_MIN or more)."""
    top = 1 << (nbytes - 1).bit_length()  # the power of two at or above nbytes
    step = max(top // 8, 1)  # four classes between top/2 and top
    return -(-nbytes // step) * step


class Owner:
    """One allocation: numpy arrays over it keep it alive; when it dies its block is freed."""

    __slots__ = ("__array_interface__", "raw", "address", "pooled", "claimed")

    def __init__(self, raw: np.ndarray, address: int, offset: int, nbytes: int, pooled: bool,
                 claimed: bool):
        """`address`: raw's data address (read once per block: `ndarray.ctypes` costs ~1 us)."""
        self.raw = raw
        self.address = address
        self.pooled = pooled
        self.claimed = claimed
        self.__array_interface__ = {"shape": (nbytes,), "typestr": "|u1", "version": 3,
                                    "data": (address + offset, False)}

    def __del__(self) -> None:
        if self.pooled:
            try:
                _release(self.raw, self.address)
            except Exception:  # interpreter shutdown: module globals may be gone
                pass


def _release(raw: np.ndarray, address: int) -> None:
    with _lock:
        if _stats["cached"] + raw.nbytes > MAX_CACHED:
            return  # numpy frees it
        _free.setdefault(raw.nbytes, []).append((raw, address))
        _stats["cached"] += raw.nbytes


def _take(cls: int) -> tuple[np.ndarray, int]:
    with _lock:
        blocks = _free.get(cls)
        if blocks:
            _stats["cached"] -= cls
            _stats["hits"] += 1
            return blocks.pop()
        _stats["misses"] += 1
    raw = np.empty(cls, dtype=np.uint8)
    return raw, _address(raw)


def _address(raw: np.ndarray) -> int:
    # a quarter of the cost of `raw.ctypes.data` (which builds a helper object each time)
    return ctypes.addressof(ctypes.c_char.from_buffer(raw))


def raw_bytes(nbytes: int, claimed: bool = False) -> np.ndarray:
    """`nbytes` (at least 1) of 64-byte aligned memory as a uint8 array over a fresh Owner."""
    nbytes = max(nbytes, 1)
    if nbytes >= POOL_MIN:
        raw, address = _take(size_class(nbytes) + ALIGN)
        pooled = True
    else:
        raw = np.empty(nbytes + ALIGN, dtype=np.uint8)
        address, pooled = _address(raw), False
    return np.asarray(Owner(raw, address, -address % ALIGN, nbytes, pooled, claimed))


def view(raw: np.ndarray, dtype: dt.DType, shape: tuple, offset: int = 0) -> np.ndarray:
    """Bytes from `offset` on seen as a C-contiguous array of `dtype` and `shape` (no copy)."""
    # the ndarray constructor: a third of the cost of slicing, viewing and reshaping
    return np.ndarray(shape, dtype.np_dtype, raw, offset)


def empty(dtype: dt.DType, shape: tuple) -> np.ndarray:
    """Fresh C-contiguous storage for a value the caller keeps (a graph output): `claim`able."""
    n = dtype.itemsize
    for d in shape:
        n *= d
    return np.ndarray(shape, dtype.np_dtype, raw_bytes(n), 0)


def slot(nbytes: int) -> np.ndarray:
    """Raw bytes for a scheduled temporary; `view(slot, dtype, shape)` types it per use."""
    return raw_bytes(nbytes, claimed=True)


def claim(array: np.ndarray) -> bool:
    """True when `array` is a fresh output of this allocator that nobody claimed before: the
    caller may keep it as storage without a copy (it is the only one to see the memory)."""
    owner = array.base
    while isinstance(owner, np.ndarray):
        owner = owner.base
    if not isinstance(owner, Owner) or owner.claimed:
        return False
    owner.claimed = True
    return True


def cached_bytes() -> int:
    """Bytes of freed blocks waiting for reuse."""
    return _stats["cached"]


def stats() -> dict:
    """{"cached": bytes pooled, "hits": pooled requests served from the pool, "misses": ...}."""
    return dict(_stats)


def clear() -> None:
    """Drop every pooled block (numpy frees them)."""
    with _lock:
        _free.clear()
        _stats["cached"] = 0
