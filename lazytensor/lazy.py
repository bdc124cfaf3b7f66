"""Flushing: turning pending graphs into stored values.

A *base* tensor owns storage; views read it through movement ops (views.py). A base is pending
while its node is anything but a read of its own buffer. `realize` runs the pending graphs of the
bases asked for on the backend, writes each result into the base's storage (the same storage
when the base had one: in-place updates reach numpy arrays that share it) and rebinds the base to
a read of that storage, so graphs never grow without bound.

A flush also stores the live pending tensors whose graphs reuse values it computes (so an
optimizer's pending updates are stored when the loss is read, instead of piling up). Writes into
existing storage are ordered after every read of the old contents: when a flush writes into a
buffer, every live pending tensor is computed in the same flush, before the writes.
"""
from __future__ import annotations

import ctypes
import math
import weakref

import numpy as np

from lazytensor import config
from lazytensor.compiler.ir import (Buffer, IRError, Node, node, prune, prune_after_flush, site,
                                    user_site)
from lazytensor.compiler.ops import MOVEMENT, Op, make_known

_knobs = config.values
_pending: list = []  # weak references to bases that may be pending
_ops_since_flush = 0
_held = 0  # while > 0 no automatic flush happens (autograd records an op's nodes before they go)

# Flush listeners: each `fn(nodes)` is called with the graph outputs a flush is about to run, before
# it runs (the graph visualizer records flushes this way: lazytensor/visualize.py, LT_VIZ). A listener
# must not change the nodes or flush.
on_flush: list = []


# Enum members read once: `Op.BUFFER` costs ~0.2 us per read on Python 3.11, and these are read
# per pending tensor at every flush.
_BUFFER, _RESHAPE, _CONST = Op.BUFFER, Op.RESHAPE, Op.CONST


def storage_node(buffer: Buffer, shape: tuple) -> Node:
    """The node that reads `buffer` as a contiguous tensor of `shape`."""
    n = node(_BUFFER, buffer.dtype, (buffer.size,), (), buffer)  # = make(Op.BUFFER, arg=buffer)
    if shape == n.shape:
        return n
    if math.prod(shape) != buffer.size:  # (make_known trusts its caller: check what RESHAPE would)
        raise IRError(f"a buffer of {buffer.size} elements read as shape {list(shape)}")
    return make_known(_RESHAPE, (n,), shape, buffer.dtype, shape)


def is_realized(base) -> bool:
    """True when the base's node is a plain read of its own buffer."""
    buf = base._buffer
    if buf is None:
        return False
    n = base._node
    if n.op is _RESHAPE:
        n = n.srcs[0]
    return n.op is _BUFFER and n.arg is buf


def free_dropped() -> None:
    """Free the storage of tensors dropped since the last flush or prune, without flushing.

    A dead tensor's storage lives on while its BUFFER node waits in the IR table for a prune;
    code that recycles memory (the DataLoader's batches) calls this to get it back sooner."""
    prune(recent_only=True)


def note_pending(base) -> None:
    """Record a base whose node changed; flush everything once too much is pending."""
    global _ops_since_flush
    _pending.append(_ref(base))
    _ops_since_flush += 1
    if _held:
        return
    if _knobs["EAGER"]:
        realize([base])
    elif _ops_since_flush > _knobs["MAX_PENDING"]:
        realize_all()


_ref = weakref.ref  # every op's wrap() calls note_pending: a global, not a module attribute


def hold() -> None:
    """Postpone automatic flushes (LT_EAGER, the pending bound) until the matching `release`."""
    global _held
    _held += 1


def release() -> None:
    """End a `hold`; the flushes it postponed happen now."""
    global _held
    _held -= 1
    if not _held and (_knobs["EAGER"] or _ops_since_flush > _knobs["MAX_PENDING"]):
        realize_all()


def forget_pending() -> None:
    """Stop tracking every pending tensor (a forked worker: they are its parent's to compute)."""
    global _ops_since_flush
    _pending.clear()
    _ops_since_flush = 0


def live_pending() -> list:
    """The bases alive now whose values are not stored yet."""
    out, seen = [], set()
    for ref in _pending:
        t = ref()
        if t is not None and id(t) not in seen and not is_realized(t):
            seen.add(id(t))
            out.append(t)
    return out


def realize_all() -> None:
    """Flush every live pending tensor."""
    realize(live_pending())


def realize(tensors) -> None:
    """Store the values of `tensors` (bases or views: a view's base is realized)."""
    global _ops_since_flush
    bases, seen = [], set()
    for t in tensors:
        b = t._base if t._base is not None else t
        if id(b) not in seen and not is_realized(b):
            seen.add(id(b))
            bases.append(b)
    if not bases:
        return
    # Pending tensors that share computed values with this graph are stored in the same flush: the
    # shared work is done once, and what they leave pending stays small. This is what keeps a
    # training loop flat: `loss.item()` computes the forward pass, and the optimizer's pending
    # parameter updates (which read its activations through the gradients) are stored with it,
    # instead of growing one step deeper, and recomputed, at every later flush.
    others = [t for t in live_pending() if id(t) not in seen]
    if others:  # (most flushes have none: the graph is walked only when some may share it)
        shares = _sharing([t._node for t in others], _reachable([b._node for b in bases]))
        for t in others:
            if shares[t._node]:
                seen.add(id(t))
                bases.append(t)
    extras = []
    if others and any(b._buffer is not None for b in bases):
        # Some result overwrites storage that pending graphs may still read: compute them all now.
        extras = [t for t in others if id(t) not in seen]
    backend = _backends().current()
    run = backend.run
    # a backend may hand back fresh memory that the caller can keep without a copy
    claim = getattr(backend, "claim", None)
    for listener in on_flush:
        listener([b._node for b in bases + extras])
    # storage of in-place targets: a backend that can writes their kernels' outputs straight there
    into = None
    if getattr(backend, "WRITES_IN_PLACE", False):
        into = [b._buffer.data if b._buffer is not None else None for b in bases + extras]
        if all(d is None for d in into):
            into = None
    try:
        results = run([b._node for b in bases + extras], **({"into": into} if into else {}))
    except Exception:
        if not extras:
            raise
        # A tensor pulled in only to be read before the write may be the one that fails (an
        # out-of-range gather...): it must not break this flush. It stays pending, and raises again
        # when it is observed itself.
        extras = [t for t in extras if _runs(run, t)]
        results = run([b._node for b in bases + extras])
    bases = bases + extras
    # equal graphs give one array: only the first base may keep it
    adopted: set[int] = set()
    fresh = []
    for value in results:
        fresh.append(claim is not None and id(value) not in adopted and claim(value))
        adopted.add(id(value))
    writes = any(b._buffer is not None for b in bases)
    if writes:
        results = _detach_from_written(bases, results, fresh)
    adopted.clear()
    for b, value, new in zip(bases, results, fresh):
        _store(b, value, must_copy=writes or id(value) in adopted, fresh=new)
        adopted.add(id(value))
    # the user's line, found once for the storage nodes this flush makes (as autograd does per op)
    outer = site[0] is None
    if outer:
        site[0] = user_site()
    try:
        for b in bases:
            b._node = storage_node(b._buffer, b._node.shape)
    finally:
        if outer:
            site[0] = None
    # forget dead and realized entries, and the graph nodes nothing holds any more
    _pending[:] = [r for r in _pending if (t := r()) is not None and not is_realized(t)]
    _ops_since_flush = len(_pending)
    prune_after_flush()


def _address(a: np.ndarray) -> int:
    """The address of an array's first element."""
    try:  # a quarter of the cost of `a.ctypes.data`, for the writable contiguous arrays
        return ctypes.addressof(ctypes.c_char.from_buffer(a))
    except (TypeError, ValueError, BufferError):  # read-only or strided
        return a.ctypes.data


def _backends():
    """lazytensor.runtime.backends (imported on first use: it imports this module)."""
    global _backends_module
    if _backends_module is None:
        from lazytensor.runtime import backends
        _backends_module = backends
    return _backends_module


_backends_module = None


def _detach_from_written(bases: list, results: list, fresh: list) -> list:
    """Copy each result that may read another base's storage which this flush overwrites.

    A backend may return a view of an input buffer (`y = x.t()` is x's memory seen transposed);
    storing one base first would change what the view shows before it is stored itself. A
    `fresh` result (memory the backend made in this flush, that nothing else sees) is left alone."""
    dests = [(i, b._buffer.data) for i, b in enumerate(bases) if b._buffer is not None]
    out = []
    for i, value in enumerate(results):
        if not fresh[i] and any(j != i and np.may_share_memory(value, d) for j, d in dests):
            value = value.copy()
        out.append(value)
    return out


def _reachable(roots: list[Node]) -> set[Node]:
    """Every node of the graphs of `roots` (unordered: cheaper than a toposort)."""
    seen = set(roots)
    stack = list(seen)
    add, push, pop = seen.add, stack.append, stack.pop
    while stack:
        for s in pop().srcs:
            if s not in seen:
                add(s)
                push(s)
    return seen


def _reads_only(n: Node) -> bool:
    """True when `n` is a stored buffer or a constant, seen through movement ops (no work)."""
    while n.op in MOVEMENT:
        n = n.srcs[0]
    return n.op is _BUFFER or n.op is _CONST


def _sharing(roots: list[Node], computed: set[Node]) -> dict[Node, bool]:
    """node -> whether its graph reuses a value of the `computed` graph that is more than a read
    (for every root, and the nodes walked on the way).

    One walk answers for every root, and leaves a node as soon as one source answers yes: the
    pending graphs of an optimizer's updates share the whole backward pass, and walking it once
    per parameter cost a training step's flush a millisecond."""
    shares: dict[Node, bool] = {}
    for root in roots:
        if root in shares:
            continue
        if root in computed:
            shares[root] = not _reads_only(root)
            continue
        # depth-first; per node on the path: an iterator over its sources, whether one shares
        path, pending, found = [root], [iter(root.srcs)], [False]
        while path:
            if not found[-1]:
                pushed = False
                for s in pending[-1]:
                    r = shares.get(s)
                    if r is None:
                        if s in computed:
                            r = shares[s] = not _reads_only(s)
                        elif s.srcs:
                            path.append(s)
                            pending.append(iter(s.srcs))
                            found.append(False)
                            pushed = True
                            break
                        else:
                            r = shares[s] = False
                    if r:
                        found[-1] = True
                        break
                if pushed:
                    continue
            # the node on top is answered: every source looked at, or one shares
            pending.pop()
            r = found.pop()
            shares[path.pop()] = r
            if r and found:
                found[-1] = True
    return shares


def _runs(run, base) -> bool:
    """True when the base's graph runs on its own; a failing one is forgotten as pending."""
    try:
        run([base._node])
        return True
    except Exception:
        _pending[:] = [r for r in _pending if r() is not base]
        return False


def _store(base, value: np.ndarray, must_copy: bool, fresh: bool = False) -> None:
    if fresh and base._buffer is None:
        # memory nothing else sees (the backend's claim): kept as storage, never copied (a
        # reshape that had to copy would only give another array nothing else sees)
        flat = value.reshape(-1)
        base._buffer = Buffer(base._node.dtype, flat.size, "cpu", flat)
        return
    flat = value.reshape(-1) if value.flags.c_contiguous else None
    if base._buffer is not None:
        data = base._buffer.data
        # the same memory in the same layout (a transposed view of the storage itself is not)
        written = (isinstance(value, np.ndarray) and flat is not None
                   and value.size == data.size and value.dtype == data.dtype
                   # (a contiguous view of the whole storage is the storage itself)
                   and (value is data or value.base is data or _address(value) == _address(data)))
        if not written:  # (written: the backend's kernel wrote it there already)
            np.copyto(data.reshape(value.shape), value, casting="unsafe")
        return
    # Keep the result itself as storage when it owns its memory; otherwise copy.
    owns = flat is not None and value.base is None and value.flags.owndata and value.flags.writeable
    data = flat if owns and not must_copy else np.array(value, order="C", copy=True).reshape(-1)
    base._buffer = Buffer(base._node.dtype, data.size, "cpu", data)
