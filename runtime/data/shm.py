"""Shared-memory transport of batches between DataLoader workers and the main process.

A worker builds each batch in anonymous shared-memory blocks (`memfd_create`): `default_collate`
stacks samples straight into a block (`empty`), and any other tensor in the batch is copied into
one when the batch is sent. What crosses the socket is a small pickle in which every tensor is
replaced by (block, offset, shape, dtype) and, beside it, the blocks' file descriptors (SCM_RIGHTS).
The main process maps each block and wraps it with `lt.from_numpy`, so the batch's data is never
copied or pickled on its way.

Lifetime: a block has no name anywhere (nothing is created in /dev/shm, so nothing can leak
there, even when a process is killed). The main process closes its descriptor once the block is
mapped; the mapping lives as long as a numpy array (hence a tensor's storage) refers to it, and the
kernel frees the memory when the last mapping of the last process goes.

Reuse: creating, faulting in and unmapping a fresh block per batch costs more than the batch's
copy, so a worker keeps a few blocks (`_POOL_MAX`) mapped, with their descriptors, and builds
later batches in them. The first `_ALIGN` bytes of a block are its header: byte 0 is set by the
worker when it sends the block and cleared by the main process when its mapping goes (the last
array on it is gone); the worker reuses a block only when that byte is clear and nothing of its
own refers to the block's memory either.
"""
from __future__ import annotations

import ctypes
import io
import mmap
import os
import pickle
import select
import socket
import struct
import sys
import weakref

import numpy as np

import lazytensor as lt

_ALIGN = 64  # byte alignment of each tensor inside a block
_MAX_FDS = 250  # file descriptors per sendmsg (the kernel's limit is 253)
_INLINE_MAX = 64 * 1024  # bigger message bodies travel in a block too, so socket writes never block long
_HEADER = struct.Struct("<QIB")  # body length, number of descriptors, body-in-last-block flag


# Faulting a block's pages in one call is cheaper than one page fault per 4 KiB on first touch.
_POPULATE = getattr(mmap, "MAP_POPULATE", 0)

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mmap.restype = ctypes.c_void_p
_libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
_libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
_MAP_FAILED = ctypes.c_void_p(-1).value


def _unmap(addr: int, size: int, release_pid: int | None) -> None:
    """Undo a mapping; in the process that received the block, first mark it free for its worker."""
    if release_pid is not None and os.getpid() == release_pid:  # not in a process forked since
        ctypes.memset(addr, 0, 1)
    _libc.munmap(addr, size)


def _map(fd: int, size: int, release: bool = False) -> ctypes.Array:
    """Map a block; the mapping is undone when the returned buffer (and every array on it) is gone.
    With `release`, the block's header is marked free then (the worker that sent it may reuse it).

    Not Python's mmap.mmap: that keeps a duplicate of the descriptor open for as long as the
    mapping lives, so every batch a program holds would hold a descriptor too.
    """
    addr = _libc.mmap(None, size, mmap.PROT_READ | mmap.PROT_WRITE, mmap.MAP_SHARED | _POPULATE, fd, 0)
    if addr in (None, _MAP_FAILED):
        err = ctypes.get_errno()
        raise OSError(err, f"DataLoader: cannot map a shared block of {size} bytes: {os.strerror(err)}")
    buf = (ctypes.c_char * size).from_address(addr)
    weakref.finalize(buf, _unmap, addr, size, os.getpid() if release else None).atexit = False
    return buf


def _array(buf: ctypes.Array, offset: int, shape: tuple, dtype: np.dtype) -> np.ndarray:
    """A C-contiguous array over a mapped block (its base chain ends at the block's buffer)."""
    count = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    return np.frombuffer(buf, np.uint8, count=count, offset=offset).view(dtype).reshape(shape)


class _Block:
    """A shared-memory block: its descriptor (until sent), its mapping and where that mapping lies."""

    __slots__ = ("fd", "mm", "address", "size", "pooled", "busy")

    def __init__(self, size: int) -> None:
        self.fd = os.memfd_create("lazytensor-batch", os.MFD_CLOEXEC)
        try:
            os.ftruncate(self.fd, size)
            self.mm = _map(self.fd, size)
        except BaseException:
            os.close(self.fd)
            raise
        self.size = size
        self.address = ctypes.addressof(self.mm)
        self.pooled = False
        self.busy = True  # in the batch being built

    def free(self) -> bool:
        """Reusable: not in a batch being built, released by the main process, and no array of
        this process on it (the only reference to the mapping is this block's)."""
        return (not self.busy and ctypes.c_uint8.from_address(self.address).value == 0
                and sys.getrefcount(self.mm) <= 2)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


_POOL_MAX = 4  # blocks a worker keeps for reuse
_pool: list[_Block] = []  # in a worker: its blocks kept for reuse
_pool_pid = os.getpid()  # the process the pool belongs to


def _new_block(size: int) -> _Block:
    """A block of at least `size` bytes (`size` counts the header): a free one of the pool, or a new one."""
    global _pool, _pool_pid
    if _pool_pid != os.getpid():
        # forked from a process with a pool (a loader inside a worker): those blocks are the parent's
        for b in _pool:
            b.close()
        _pool, _pool_pid = [], os.getpid()
    for b in _pool:
        if size <= b.size <= 2 * size and b.free():
            b.busy = True
            return b
    if len(_pool) >= _POOL_MAX:
        for b in _pool:
            if b.free():  # the wrong size: make room for one that fits
                _pool.remove(b)
                b.close()
                break
    block = _Block(size)
    if len(_pool) < _POOL_MAX:
        block.pooled = True
        _pool.append(block)
    return block


class Arena:
    """The blocks a worker uses for the batch it is building (sent, then forgotten, with it)."""

    def __init__(self) -> None:
        self.blocks: list[_Block] = []

    def new_block(self, size: int) -> _Block:
        """A block for `size` bytes of data after the header."""
        block = _new_block(_ALIGN + size)
        self.blocks.append(block)
        return block

    def empty(self, shape: tuple, dtype: np.dtype) -> np.ndarray:
        """An uninitialized C-contiguous array in a shared block."""
        dtype = np.dtype(dtype)
        nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        if nbytes == 0:
            return np.empty(shape, dtype)
        block = self.new_block(nbytes)
        return _array(block.mm, _ALIGN, shape, dtype)

    def find(self, arr: np.ndarray) -> tuple[int, int] | None:
        """(block number, byte offset) of a C-contiguous array that lies inside one of the blocks."""
        start = arr.__array_interface__["data"][0]
        end = start + arr.nbytes
        for i, b in enumerate(self.blocks):
            if b.address <= start and end <= b.address + b.size:
                return i, start - b.address
        return None

    def close(self) -> None:
        """Close the descriptors of blocks not kept for reuse (the mappings stay while arrays use them)."""
        for b in self.blocks:
            b.busy = False
            if not b.pooled:
                b.close()
        self.blocks = []


_arena: Arena | None = None  # set in a worker process while it builds a batch


def empty(shape: tuple, dtype) -> np.ndarray:
    """An uninitialized array: in shared memory inside a DataLoader worker, ordinary memory elsewhere."""
    if _arena is not None:
        return _arena.empty(tuple(shape), dtype)
    return np.empty(shape, dtype)


# ---- pickling a batch with its tensors in shared memory ----

class _BatchPickler(pickle.Pickler):
    """Pickles a batch, replacing each tensor by a slot number that names its place in a block."""

    def __init__(self, file, arena: Arena) -> None:
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self.arena = arena
        self.slots: list = []  # per tensor: [block, offset, shape, dtype, requires_grad]
        self.copies: list = []  # (slot, array) for tensors whose data is not in a block yet

    def persistent_id(self, obj):
        if not isinstance(obj, lt.Tensor):
            return None
        arr = obj.numpy(force=True)  # realizes a pending tensor here, in the worker
        if arr.size == 0:
            return None  # nothing to share: the tensor pickles itself
        slot = [None, 0, arr.shape, arr.dtype, bool(obj.requires_grad)]
        where = self.arena.find(arr) if arr.flags.c_contiguous else None
        if where is None:
            self.copies.append((slot, arr))
        else:
            slot[0], slot[1] = where
        self.slots.append(slot)
        return ("lt", len(self.slots) - 1)


class _BatchUnpickler(pickle.Unpickler):
    def __init__(self, file, tensors: list) -> None:
        super().__init__(file)
        self.tensors = tensors

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and pid[0] == "lt"):
            raise pickle.UnpicklingError(f"unknown persistent id {pid!r}")
        return self.tensors[pid[1]]


def _round_up(n: int) -> int:
    return (n + _ALIGN - 1) // _ALIGN * _ALIGN


def dumps(obj, arena: Arena) -> tuple[bytes, list[int]]:
    """Pickle `obj` with its tensors placed in `arena`'s blocks: (message body, descriptors to send)."""
    buf = io.BytesIO()
    pickler = _BatchPickler(buf, arena)
    pickler.dump(obj)
    if pickler.copies:
        # one block for every tensor that was not built in shared memory
        block = arena.new_block(sum(_round_up(a.nbytes) for _, a in pickler.copies))
        offset = _ALIGN
        for slot, a in pickler.copies:
            np.copyto(_array(block.mm, offset, a.shape, a.dtype), a)
            slot[0], slot[1] = len(arena.blocks) - 1, offset
            offset += _round_up(a.nbytes)
    # send only the blocks the batch refers to, numbered in the order they are sent
    used = sorted({slot[0] for slot in pickler.slots})
    number = {b: i for i, b in enumerate(used)}
    slots = [(number[b], off, shape, dtype, rg) for b, off, shape, dtype, rg in pickler.slots]
    body = pickle.dumps((slots, buf.getvalue()), protocol=pickle.HIGHEST_PROTOCOL)
    for b in used:
        ctypes.memset(arena.blocks[b].address, 1, 1)  # in the main process's hands until it releases it
    return body, [arena.blocks[b].fd for b in used]


def loads(body: bytes, fds: list[int]):
    """Rebuild what `dumps` pickled, mapping the received blocks (the descriptors are closed here)."""
    maps = []
    try:
        for fd in fds:
            maps.append(_map(fd, os.fstat(fd).st_size, release=True))
    finally:
        for fd in fds:
            os.close(fd)
    slots, payload = pickle.loads(body)
    tensors = []
    for b, offset, shape, dtype, requires_grad in slots:
        # the array's base is the mapping: the block stays mapped while the tensor's storage lives
        t = lt.from_numpy(_array(maps[b], offset, shape, dtype))
        if requires_grad:
            t.requires_grad_(True)
        tensors.append(t)
    return _BatchUnpickler(io.BytesIO(payload), tensors).load()


# ---- framed messages with descriptors over a stream socket ----

def send(sock: socket.socket, body: bytes, fds: list[int] = ()) -> None:
    """Send one message: a header carrying the descriptors, then the body."""
    fds = list(fds)
    big = len(body) > _INLINE_MAX
    spill = None
    if big:
        # a long body goes through a block, so a socket write never waits on the reader for long
        spill = _Block(len(body))
        ctypes.memmove(spill.address, body, len(body))
        fds.append(spill.fd)
    try:
        header = _HEADER.pack(len(body), len(fds), big)
        first, rest = fds[:_MAX_FDS], fds[_MAX_FDS:]
        sent = socket.send_fds(sock, [header], first) if first else sock.send(header)
        if sent < len(header):
            sock.sendall(header[sent:])
        while rest:
            chunk, rest = rest[:_MAX_FDS], rest[_MAX_FDS:]
            socket.send_fds(sock, [b"\0"], chunk)
        if not big:
            sock.sendall(body)
    finally:
        if spill is not None:
            os.close(spill.fd)


def _recv_some(sock: socket.socket, n: int, fds: list[int]) -> bytes:
    """Up to `n` bytes and the descriptors that came with them; EOFError when the peer closed."""
    msg, got, flags, _ = socket.recv_fds(sock, n, _MAX_FDS)
    fds.extend(got)
    if flags & socket.MSG_CTRUNC:
        raise RuntimeError("DataLoader: file descriptors were lost in transit (too many open files?)")
    if not msg:
        raise EOFError
    return msg


def recv(sock: socket.socket) -> tuple[bytes, list[int]]:
    """Receive one message sent by `send`: (body, descriptors). EOFError when the peer is gone."""
    fds: list[int] = []
    try:
        header = b""
        while len(header) < _HEADER.size:
            header += _recv_some(sock, _HEADER.size - len(header), fds)
        length, nfds, big = _HEADER.unpack(header)
        while len(fds) < nfds:
            _recv_some(sock, 1, fds)
        if big:
            fd = fds.pop()
            try:
                with mmap.mmap(fd, length, flags=mmap.MAP_SHARED) as mm:
                    body = bytes(mm)
            finally:
                os.close(fd)
        else:
            body = bytearray(length)
            view = memoryview(body)
            got = 0
            while got < length:
                n = sock.recv_into(view[got:])
                if n == 0:
                    raise EOFError
                got += n
        return body, fds
    except BaseException:
        for fd in fds:
            os.close(fd)
        raise


def readable(sock: socket.socket, timeout: float) -> bool:
    """True when the socket has data (or EOF) to read within `timeout` seconds."""
    return bool(select.select([sock], [], [], timeout)[0])
