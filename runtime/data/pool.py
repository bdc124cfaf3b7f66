"""Recycled memory for the batches `default_collate` builds in the main process.

A batch written into fresh memory pays a page fault per 4 KiB page (3,000 for a 12.6 MB batch).
PyTorch's batches mostly don't, because the C allocator hands the freed memory of the last batch
to the next one. Here a dead batch's memory is not freed at once (the IR table keeps its BUFFER
node until a prune), so the allocator cannot reuse it: this pool does, explicitly, and prunes
the IR table's recent dead nodes when that frees a block (a batch dropped since the last one).

The pool keeps up to `_MAX_ENTRIES` blocks (1-d uint8 arrays that own their memory) for the life
of the process and hands out views of them. Every numpy view of a block, every buffer exported
from one (memoryview, ctypes `from_buffer`), every tensor storage over one, holds a reference to
the block, so a block is free exactly when the pool's own reference is the only one left
(`sys.getrefcount`): a block in use is never handed out twice. (A raw address taken from an array
without keeping the array, as any numpy memory, is not protected.)
"""
from __future__ import annotations

import os
import sys
import threading

import numpy as np

import lazytensor as lt


__all__ = ["empty", "clear"]

_MIN_BYTES = 1 << 20  # smaller arrays: malloc reuses freed memory well enough by itself
_MAX_ENTRIES = 4  # blocks kept: the batch in use, the next one being built, and slack

_lock = threading.Lock()
_blocks: list[np.ndarray] = []  # least recently handed out first


def _free(i: int) -> bool:
    # two references: the pool's list, and getrefcount's own argument
    return sys.getrefcount(_blocks[i]) <= 2


def _take(nbytes: int) -> np.ndarray | None:
    """A free block of `nbytes` to `2 * nbytes` bytes, the most recently used first (its memory is
    the likeliest to be cached), moved to the end of the list; None if none is free."""
    for i in range(len(_blocks) - 1, -1, -1):
        if nbytes <= _blocks[i].nbytes <= 2 * nbytes and _free(i):
            block = _blocks.pop(i)
            _blocks.append(block)
            return block
    return None


def empty(shape: tuple, dtype) -> np.ndarray:
    """An uninitialized C-contiguous array, in a recycled block when it is large.

    The array (and everything made from it) keeps its block in use; once all of them are gone the
    block serves a later call."""
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if nbytes < _MIN_BYTES:
        return np.empty(shape, dtype)
    with _lock:
        block = _take(nbytes)
        if block is None and any(nbytes <= b.nbytes <= 2 * nbytes for b in _blocks):
            # A dead batch's storage stays alive while its BUFFER node waits in the IR table for a
            # prune: dropping the dead nodes made since the last prune frees the block of a batch
            # dropped since (cheap: only those nodes are looked at). A batch that was alive at the
            # last full prune is freed by the next full prune (after 64 MB of new buffers or enough
            # flushes: ir.prune_after_flush, ir._note_allocation).
            lt.lazy.free_dropped()
            block = _take(nbytes)
        if block is None:
            block = np.empty(nbytes, np.uint8)
            if len(_blocks) >= _MAX_ENTRIES:
                for i in range(len(_blocks)):
                    if _free(i):  # the least recently used free block makes room
                        del _blocks[i]
                        break
            if len(_blocks) < _MAX_ENTRIES:
                _blocks.append(block)
        return block[:nbytes].view(dtype).reshape(shape)


def clear() -> None:
    """Forget every block (blocks in use stay alive while their arrays do)."""
    with _lock:
        _blocks.clear()


def _after_fork() -> None:
    # a fork while another thread held the lock would leave it held forever in the child
    global _lock
    _lock = threading.Lock()


os.register_at_fork(after_in_child=_after_fork)
