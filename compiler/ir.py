"""The IR: immutable, hash-consed nodes `(op, dtype, shape, srcs, arg)`.

Building a node with the same five fields as a live node returns that node, so common
subexpressions merge as the graph is built and `node.key` (a stable structural hash) names a
subgraph. The user's source line rides beside a node (`node.loc`), never in its identity: the op
layer finds it once per public call (`site`), and a node keeps it undecoded until it is read.
"""
from __future__ import annotations

import hashlib
import itertools
import os
import sys
import weakref
from types import CodeType
from typing import Any, Iterable

from .dtypes import DType

# Frames in these folders are the library's own; the first frame outside them is the user's line.
# In a source checkout the three packages are siblings; installed, compiler/ and runtime/ sit
# inside lazytensor/.
_HERE = os.path.dirname(os.path.abspath(__file__))
_PARENT = os.path.dirname(_HERE)
_LIBRARY_DIRS = tuple(p + os.sep for p in (
    _HERE, os.path.join(_PARENT, "lazytensor"), os.path.join(_PARENT, "runtime"),
    *([_PARENT] if os.path.basename(_PARENT) == "lazytensor" else [])))


_is_library_file: dict[str, bool] = {}

# The user's source line of the public op being built now, or None. The op layer sets it once
# around a public call (lazytensor/autograd.py), so the op's nodes take it without walking the
# stack for each node: a walk costs as much as the rest of building a node.
site: list = [None]


def user_location() -> tuple[str, int] | None:
    """(filename, line) of the innermost frame outside lazytensor: where the user called us."""
    return _resolve(user_site(1))


def user_site(skip: int = 0) -> tuple | None:
    """(code object, instruction offset) of the innermost frame outside lazytensor: where the user
    called us, unresolved (`user_location()` resolves it).

    Nodes keep this and `Node.loc` turns it into (filename, line) when read: a frame's line
    number is decoded from its code's line table, which costs microseconds in a long function.
    `skip` library frames above the caller are passed over unseen (each frame looked at costs).
    """
    frame = sys._getframe(1 + skip)
    while frame is not None:
        code = frame.f_code
        name = code.co_filename
        inside = _is_library_file.get(name)
        if inside is None:
            inside = _is_library_file[name] = name.startswith(_LIBRARY_DIRS)
        if not inside:
            return (code, frame.f_lasti)
        frame = frame.f_back
    return None


def _resolve(loc):
    """A node's location as (filename, line): a `user_site()` pair is decoded (as frame.f_lineno)."""
    if loc is not None and type(loc[0]) is CodeType:
        done = _decoded.get(loc)
        if done is None:
            code, offset = loc
            line = None
            for start, end, number in code.co_lines():
                if start <= offset < end:
                    line = number
                    break
            if len(_decoded) > 4096:
                _decoded.clear()
            done = _decoded[loc] = (code.co_filename, line)
        return done
    return loc


# Decoded sites: the nodes of one call share its site, and passes that rebuild nodes read every
# node's location, so each site's line table is searched once.
_decoded: dict[tuple, tuple] = {}


def format_location(loc: tuple[str, int] | None) -> str:
    """'file.py:12' for a source location, '<unknown>' without one."""
    if loc is None:
        return "<unknown>"
    return f"{loc[0]}:{loc[1]}"


class _LiveBuffers:
    """uid -> the Buffer alive now with that uid (`Buffer.live`), a weak map: `get`, `[]`, `in`.

    A WeakValueDictionary cost a microsecond per buffer made (its references call back into
    Python); this keeps plain weak references and sweeps out the dead ones once the map has
    doubled since the last sweep (amortized O(1) per buffer)."""

    __slots__ = ("_refs", "_sweep_at")

    def __init__(self):
        self._refs: dict[int, weakref.ref] = {}
        self._sweep_at = 1024

    def add(self, buffer: "Buffer") -> None:
        """Record a new buffer under its uid."""
        refs = self._refs
        refs[buffer.uid] = weakref.ref(buffer)
        if len(refs) > self._sweep_at:
            for uid in [uid for uid, r in refs.items() if r() is None]:
                del refs[uid]
            self._sweep_at = max(1024, 2 * len(refs))

    def get(self, uid: int, default=None):
        """The live buffer with this uid, else `default`."""
        r = self._refs.get(uid)
        buffer = r() if r is not None else None
        return default if buffer is None else buffer

    def __getitem__(self, uid: int) -> "Buffer":
        buffer = self.get(uid)
        if buffer is None:
            raise KeyError(uid)
        return buffer

    def __contains__(self, uid: int) -> bool:
        return self.get(uid) is not None

    def __len__(self) -> int:
        return sum(1 for r in self._refs.values() if r() is not None)


class Buffer:
    """A handle on storage: what a BUFFER node reads. The runtime fills `data`.

    Identity is the handle itself (two buffers are never merged); `uid` names it in the IR text.
    """

    __slots__ = ("uid", "dtype", "size", "device", "data", "shared", "__weakref__")
    _uids = itertools.count()
    live = _LiveBuffers()

    def __init__(self, dtype: DType, size: int, device: str = "cpu", data: Any = None,
                 uid: int | None = None):
        self.uid = next(Buffer._uids) if uid is None else uid
        self.dtype = dtype
        self.size = size
        self.device = device
        self.data = data
        self.shared = False  # True once the storage is visible outside (numpy): writes go at once
        Buffer.live.add(self)
        _note_allocation(size * dtype.itemsize)

    def __repr__(self) -> str:
        return f"Buffer(#{self.uid}, {self.dtype.short}[{self.size}], {self.device})"


class Node:
    """One IR value. Build nodes with `node(...)`, never with `Node(...)`, so they hash-cons."""

    __slots__ = ("op", "dtype", "shape", "srcs", "arg", "_loc", "_key", "__weakref__")

    def __init__(self, op, dtype: DType, shape: tuple, srcs: tuple, arg: Any, loc):
        self.op = op
        self.dtype = dtype
        self.shape = shape
        self.srcs = srcs
        self.arg = arg
        self._loc = loc  # (filename, line), a `user_site()` pair resolved when read, or None
        self._key = None

    @property
    def loc(self) -> tuple[str, int] | None:
        """(filename, line) of the user's code that built this node, or None."""
        loc = self._loc
        if loc is not None and type(loc[0]) is CodeType:
            loc = self._loc = _resolve(loc)
        return loc

    @loc.setter
    def loc(self, value) -> None:
        self._loc = value

    def __getstate__(self):
        # pickled with its location decoded: a code object does not pickle
        return (None, {"op": self.op, "dtype": self.dtype, "shape": self.shape, "srcs": self.srcs,
                       "arg": self.arg, "_loc": self.loc, "_key": self._key})

    @property
    def key(self) -> str:
        """A stable structural hash of the subgraph rooted here (hex digest)."""
        if self._key is None:
            for n in toposort([self]):
                if n._key is None:
                    h = hashlib.sha256(repr((n.op.name, n.dtype.name, n.shape, _arg_key(n.arg),
                                             tuple(s._key for s in n.srcs))).encode())
                    n._key = h.hexdigest()[:32]
        return self._key

    @property
    def size(self) -> int:
        """Number of elements."""
        n = 1
        for d in self.shape:
            n *= d
        return n

    def __repr__(self) -> str:
        return f"<{self.op.name} {self.dtype.short}{list(self.shape)} at {format_location(self.loc)}>"


def _arg_key(arg):
    if isinstance(arg, Buffer):
        return ("buffer", arg.uid)
    if isinstance(arg, DType):
        return ("dtype", arg.name)
    if isinstance(arg, float):
        return ("float", arg.hex())  # keeps -0.0, nan and inf distinct and stable
    return arg


# The hash-consing table. It holds its nodes strongly (a weak table costs a Python-level callback
# per node, the largest part of building one); `prune()` drops the nodes that nothing else holds,
# and every flush ends with `prune_after_flush()` (the nodes made since the last full prune).
_table: dict[tuple, Node] = {}


def node(op, dtype: DType, shape: tuple, srcs: tuple = (), arg: Any = None, loc=None) -> Node:
    """The node with these fields: an existing one, or a new one made here.

    An op's dtype and shape follow from its operands and argument, so a node with operands is
    keyed by `(op, srcs, arg)`; a source by `(op, dtype, shape, arg)`, where a constant's value is
    keyed by its type and bits (1, 1.0 and True are equal in Python, and so are -0.0 and 0.0, but
    they are different constants).
    """
    if srcs:
        key = (op, srcs, arg)
    else:
        # (`_name_`: the enum's `name` property costs a Python call per read on 3.11)
        key = (op, dtype, shape, const_ident(arg) if op._name_ == "CONST" else arg)
    n = _table.get(key)
    if n is None:
        n = Node(op, dtype, shape, srcs, arg, loc or site[0] or user_site())
        _table[key] = n
    elif n.dtype is not dtype or n.shape != shape:
        raise IRError(f"{op.name} over these operands is {n.dtype.short}{list(n.shape)}, "
                      f"not {dtype.short}{list(shape)}")
    return n


def const_ident(value) -> tuple:
    """A constant's identity: its Python type and value, a float by its bits."""
    return ("f", value.hex()) if isinstance(value, float) else (type(value), value)


# Dead nodes stay in the table until a prune, and a dead BUFFER node keeps its storage alive. Flushes
# prune; so does allocating this many bytes of new buffers, so loading or creating big tensors
# without computing anything does not hold on to the dead ones.
PRUNE_AFTER_BYTES = 64 << 20
_allocated_since_prune = 0
_size_after_prune = 0  # the table's size after the last prune: entries past it are newer
# A tensor alive at a prune that dies later (a DataLoader batch held while the next one is built)
# is found by no recent-only prune: without a flush its storage would never be freed. So after
# this many bytes of new buffers since the last full prune, the whole table is walked.
FULL_PRUNE_AFTER_BYTES = 512 << 20
_allocated_since_full_prune = 0
# A flush prunes the entries made since the last *full* prune (`prune_after_flush`): walking the
# whole table at every flush made a flush's cost grow with the live graph (15 ms beside 100,000 live
# nodes). Entries older than that are walked by a full prune, which a flush runs once it has
# allocated PRUNE_AFTER_BYTES since the last one, or once its partial prunes have looked at as
# many entries as a full one would (so the full walks cost a flush O(1) per node made).
_size_after_full_prune = 0  # the table's size after the last full prune: entries past it are young
_looked_at_since_full_prune = 0


def _note_allocation(nbytes: int) -> None:
    global _allocated_since_prune, _allocated_since_full_prune
    _allocated_since_prune += nbytes
    _allocated_since_full_prune += nbytes
    if _allocated_since_full_prune > FULL_PRUNE_AFTER_BYTES:
        prune()
    elif _allocated_since_prune > PRUNE_AFTER_BYTES:
        # only the nodes made since the last prune: that is where the new buffers' nodes are, and
        # walking the whole table here cost a DataLoader ~1 ms a batch (a flush prunes everything)
        prune(recent_only=True)


lookup = _table.get  # the fast path for builders that know an op's key: (op, srcs, arg)
intern = _table.__setitem__  # ...and for adding a node they made after `lookup` missed


def prune(recent_only: bool = False) -> int:
    """Forget nodes that only the table holds (with `recent_only`, among those made since the last
    prune); returns how many are left."""
    global _allocated_since_full_prune, _size_after_full_prune, _looked_at_since_full_prune
    if recent_only:
        return _prune_newest(len(_table) - _size_after_prune)
    _allocated_since_full_prune = 0
    _looked_at_since_full_prune = 0
    left = _prune_newest(len(_table))
    _size_after_full_prune = left
    return left


# A flush that made fewer table entries than this since the last prune, and fewer bytes of new
# buffers than SMALL_FLUSH_BYTES, leaves its dead nodes to a later flush's prune: the prune was
# ~10 us of a small flush once a big kernel had emptied the caches (the sum of 2^24 floats:
# 4 entries and 4 bytes a flush), while what it would free is bounded by these two numbers.
SMALL_FLUSH_ENTRIES = 64
SMALL_FLUSH_BYTES = 64 << 10


def prune_after_flush() -> int:
    """The prune that ends a flush: forget the nodes only the table holds among those made since
    the last full prune (every node of the flushed graph but the oldest), and walk the whole table
    now and then (see `_size_after_full_prune`); returns how many are left. After a small flush
    (SMALL_FLUSH_ENTRIES, SMALL_FLUSH_BYTES) it does nothing."""
    global _looked_at_since_full_prune
    if (len(_table) - _size_after_prune < SMALL_FLUSH_ENTRIES
            and _allocated_since_prune < SMALL_FLUSH_BYTES):
        return len(_table)
    young = len(_table) - _size_after_full_prune
    if (young < 0 or _allocated_since_full_prune > PRUNE_AFTER_BYTES
            or _looked_at_since_full_prune + young > _size_after_full_prune):
        return prune()  # (young < 0: entries went out of the table some other way)
    _looked_at_since_full_prune += young
    return _prune_newest(young)


def _prune_newest(count: int) -> int:
    """Forget the nodes only the table holds among its `count` newest entries.

    Users are always inserted after their sources, so one pass from the newest entry frees whole
    dead chains: dropping a user's key releases its sources before the loop reaches them.
    """
    global _allocated_since_prune, _size_after_prune
    _allocated_since_prune = 0
    table = _table
    if count >= len(table):
        keys = list(table)
    else:
        # only the newest entries, taken from the end: listing the whole table cost as much as the
        # prune (a DataLoader prunes this way every few batches, beside a big dataset's nodes)
        keys = list(itertools.islice(reversed(table), max(count, 0)))
        keys.reverse()
    pop, refcount = keys.pop, sys.getrefcount
    while keys:
        # pop, so the list stops holding this key: a key holds its node's srcs, hence its sources
        key = pop()
        # held by the table and by the getrefcount argument only
        if refcount(table[key]) <= 2:
            del table[key]
    _size_after_prune = len(table)
    return _size_after_prune


def toposort(roots: Iterable[Node], stop: "set[int] | frozenset[int]" = frozenset()) -> list[Node]:
    """Every node reachable from `roots`, sources before users (iterative: graphs can be deep).

    Nodes whose id is in `stop` are included but not looked below.
    """
    # A depth-first walk, sources left to right, each node listed once its sources are. Every flush
    # walks its graph, so this is written for speed: nodes hash by identity (a set of them needs no
    # id() call), each node on the path keeps an iterator over its sources, and a source without
    # sources is listed at once instead of being pushed and popped.
    order: list[Node] = []
    seen: set[Node] = set()
    add, append = seen.add, order.append
    for root in roots:
        if root in seen:
            continue
        add(root)
        if not root.srcs or (stop and id(root) in stop):
            append(root)
            continue
        path, pending = [root], [iter(root.srcs)]
        while path:
            for s in pending[-1]:
                if s not in seen:
                    add(s)
                    if s.srcs and not (stop and id(s) in stop):
                        path.append(s)
                        pending.append(iter(s.srcs))
                        break
                    append(s)
            else:
                pending.pop()
                append(path.pop())
    return order


def live_node_count() -> int:
    """How many nodes are alive now (after pruning the ones nothing holds)."""
    return prune()


class IRError(Exception):
    """An IR graph breaks a rule (bad shape, dtype or argument for an op)."""
