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


class Buffer:
    """A handle on storage: what a BUFFER node reads. The runtime fills `data`.

    Identity is the handle itself (two buffers are never merged); `uid` names it in the IR text.
    """

    __slots__ = ("uid", "dtype", "size", "device", "data", "shared", "__weakref__")
    _uids = itertools.count()
    live: "weakref.WeakValueDictionary[int, Buffer]" = weakref.WeakValueDictionary()

    def __init__(self, dtype: DType, size: int, device: str = "cpu", data: Any = None,
                 uid: int | None = None):
        self.uid = next(Buffer._uids) if uid is None else uid
        self.dtype = dtype
        self.size = size
        self.device = device
        self.data = data
        self.shared = False  # True once the storage is visible outside (numpy): writes go at once
        Buffer.live[self.uid] = self
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
# and the runtime calls it after every flush.
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
        key = (op, dtype, shape, const_ident(arg) if op.name == "CONST" else arg)
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
    prune); returns how many are left.

    Users are always inserted after their sources, so one pass from the newest entry frees whole
    dead chains: dropping a user's key releases its sources before the loop reaches them.
    """
    global _allocated_since_prune, _size_after_prune, _allocated_since_full_prune
    _allocated_since_prune = 0
    if not recent_only:
        _allocated_since_full_prune = 0
    if recent_only:
        # only the newest entries, taken from the end: listing the whole table cost as much as the
        # prune (a DataLoader prunes this way every few batches, beside a big dataset's nodes)
        keys = list(itertools.islice(reversed(_table), max(len(_table) - _size_after_prune, 0)))
        keys.reverse()
    else:
        keys = list(_table)
    while keys:
        # pop, so the list stops holding this key: a key holds its node's srcs, hence its sources
        key = keys.pop()
        # held by the table and by the getrefcount argument only
        if sys.getrefcount(_table[key]) <= 2:
            del _table[key]
    _size_after_prune = len(_table)
    return len(_table)


def toposort(roots: Iterable[Node], stop: "set[int] | frozenset[int]" = frozenset()) -> list[Node]:
    """Every node reachable from `roots`, sources before users (iterative: graphs can be deep).

    Nodes whose id is in `stop` are included but not looked below.
    """
    order: list[Node] = []
    seen: set[int] = set()
    for root in roots:
        if id(root) in seen:
            continue
        stack = [(root, False)]
        while stack:
            n, expanded = stack.pop()
            if expanded:
                order.append(n)
                continue
            if id(n) in seen:
                continue
            seen.add(id(n))
            stack.append((n, True))
            if id(n) not in stop:
                for s in reversed(n.srcs):
                    if id(s) not in seen:
                        stack.append((s, False))
    return order


def live_node_count() -> int:
    """How many nodes are alive now (after pruning the ones nothing holds)."""
    return prune()


class IRError(Exception):
    """An IR graph breaks a rule (bad shape, dtype or argument for an op)."""
