"""The allocator: memory for kernel outputs and scheduled temporaries, reused by size class.

Fresh memory costs page faults: on this machine's VM faulting in a new 64 MiB output costs more
than computing it, and numpy hands big arrays back to the OS (munmap) the moment they die. So
blocks of POOL_MIN bytes or more come from a pool of freed blocks, by size class (a size rounded
up to one of four steps per power of two, so a reused block wastes at most a quarter).

A block returns to the pool when the last reference to its memory dies, and only then, so memory
seen outside (`t.numpy()`, a view of it, a torch tensor made from it) is never reused while
referenced: safe by construction. Each pooled allocation is an `Owner` object that numpy arrays
are made over (`__array_interface__`): every array or view of the memory holds it through its
`base` chain (numpy never collapses a chain past an object that is not an ndarray), and
`Owner.__del__` hands the raw block back to the pool. A smaller allocation is a `SmallBlock`: an
ndarray subclass that owns its memory (numpy's), so it too stays at the root of every base chain
(numpy stops collapsing at an array that owns its data), and costs a third of an Owner to make
(most outputs of small flushes are small: a sum's is 4 bytes).

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
    """One pooled allocation: numpy arrays over it keep it alive; when it dies its block goes
    back to the pool."""

    __slots__ = ("__array_interface__", "raw", "address", "claimed")

    def __init__(self, raw: np.ndarray, address: int, offset: int, nbytes: int, claimed: bool):
        """`address`: raw's data address (read once per block: `ndarray.ctypes` costs ~1 us)."""
        self.raw = raw
        self.address = address
        self.claimed = claimed
        self.__array_interface__ = {"shape": (nbytes,), "typestr": "|u1", "version": 3,
                                    "data": (address + offset, False)}

    def __del__(self) -> None:
        try:
            _release(self.raw, self.address)
        except Exception:  # interpreter shutdown: module globals may be gone
            pass


class SmallBlock(np.ndarray):
    """A small allocation: numpy memory that no array but the ones over it sees; `claimed` as
    Owner's (False until `claim`)."""

    claimed = False


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
    return raw, address(raw)


def address(a: np.ndarray) -> int:
    """The address of `a`'s first element (what `a.ctypes.data` says, in a fifth of its ~1 us:
    that builds a helper object each time)."""
    try:
        return ctypes.addressof(ctypes.c_char.from_buffer(a))
    except (TypeError, ValueError, BufferError):  # read-only, empty or not contiguous
        return a.ctypes.data


_new_array = np.ndarray.__new__
_U8 = np.dtype(np.uint8)


def raw_bytes(nbytes: int, claimed: bool = False) -> np.ndarray:
    """`nbytes` (at least 1) of fresh memory as a uint8 array: 64-byte aligned, from the pool,
    over an Owner when there are POOL_MIN or more; a SmallBlock otherwise (numpy's alignment:
    the kernels find their aligned spans at run time)."""
    if nbytes < POOL_MIN:
        block = _new_array(SmallBlock, (max(nbytes, 1),), _U8)
        if claimed:
            block.claimed = True
        return block
    raw, address = _take(size_class(nbytes) + ALIGN)
    return np.asarray(Owner(raw, address, -address % ALIGN, nbytes, claimed))


def view(raw: np.ndarray, dtype: dt.DType, shape: tuple, offset: int = 0) -> np.ndarray:
    """Bytes from `offset` on seen as a C-contiguous array of `dtype` and `shape` (no copy)."""
    # the ndarray constructor: a third of the cost of slicing, viewing and reshaping
    return np.ndarray(shape, dtype.np_dtype, raw, offset)


def empty(dtype: dt.DType, shape: tuple) -> np.ndarray:
    """Fresh C-contiguous storage for a value the caller keeps (a graph output): `claim`able."""
    n = dtype.itemsize
    for d in shape:
        n *= d
    return view(raw_bytes(n), dtype, shape)


def slot(nbytes: int) -> np.ndarray:
    """Raw bytes for a plan's scheduled temporaries (never handed out: the kernels are given
    addresses in it; `view` would type a part of it)."""
    return raw_bytes(nbytes, claimed=True)


def claim(array: np.ndarray) -> bool:
    """True when `array` is a fresh output of this allocator that nobody claimed before: the
    caller may keep it as storage without a copy (it is the only one to see the memory)."""
    owner = array.base
    while type(owner) is np.ndarray:
        owner = owner.base
    if (type(owner) is not Owner and type(owner) is not SmallBlock) or owner.claimed:
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
