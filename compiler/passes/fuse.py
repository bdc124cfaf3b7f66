"""The fuse pass: decide which values are stored, and group the rest into kernels.

Every value that is not stored is recomputed where it is used, inside the kernel of the stored
value that needs it (index expressions, never copies). So fusion is one decision per node:
*materialize or not*. The rules, applied in this order (deterministic: graph order only):

1. The outputs materialize (the caller gets arrays), and so do CONTIGUOUS (a requested copy).
   An output that is a RESHAPE of another value is that value's memory seen with another shape:
   the value under the RESHAPEs (`storage_root`) materializes instead, so `x.sum()` (a SUM
   keeping its axes, then a RESHAPE to ()) is one kernel writing the output, not a SUM and a copy.
2. Every reduction materializes (recomputing a reduction per use would multiply its cost)...
3. ...and so does a computed value under an EXPAND: broadcasting it would recompute each element
   once per copy. Constants, RAND and stored buffers broadcast freely (they are loads or cheap).
4. A reduction then takes its elementwise consumers: the region of elementwise nodes after it,
   grown in graph order, whose every value but the last is used inside it only, joins its
   kernel (the kernel stores the region's last node instead of the reduction; see
   `_consumer_region`). A chain of single users is such a region, and so is relu's
   WHERE(CMPLT(y, 0), 0, y), whose y has two users. The region passes through RESHAPEs that
   only drop or add size-1 axes (`unit_reshape`): `x.sum(1)` without keepdim, `mean` and every
   matrix product (linalg reshapes the reduced axis away) put one between the reduction and
   its consumers, so `x.sum(1) * 2 + 1` and `relu(x @ W.T + b)` are one kernel each. Such a
   RESHAPE keeps the axes longer than 1 in order, so the kernel's output index is its kept
   index with size-1 axes dropped or added, which renderers map without division; a region
   never ends in a RESHAPE (the kernel stores the elementwise node under it, and the RESHAPE
   stays a free view). A node joins at most one region, so a kernel holds at most one
   reduction. Elementwise producers of a reduction join it for free (they are not stored).

Elementwise chains fuse into their consumer by the same token: nothing in them is stored.
Each decision is reported to `ctx.log("fusion", ...)` (`LT_LOG=fusion`).
"""
from __future__ import annotations

import heapq

from ..ir import Node, format_location, toposort
from ..kernel import build_kernel
from ..ops import ELEMENTWISE, MOVEMENT, REDUCE, Op
from ..verify import type_str
from . import Graph, PassContext, register


def _describe(n: Node, number: dict[int, int]) -> str:
    return f"%{number[id(n)]} {n.op.name} {type_str(n.dtype, n.shape)} ({format_location(n.loc)})"


def _is_constant(n: Node, memo: dict[int, bool]) -> bool:
    """True when `n` depends on no stored buffer and no RAND: a function of CONSTs only."""
    for m in toposort([n]):
        if id(m) not in memo:
            if m.op is Op.CONST:
                memo[id(m)] = True
            elif m.op in (Op.BUFFER, Op.RAND):
                memo[id(m)] = False
            else:
                memo[id(m)] = all(memo[id(s)] for s in m.srcs)
    return memo[id(n)]


def storage_root(n: Node) -> Node:
    """The value whose stored memory output `n` is: `n` under its RESHAPEs (row-major
    relabelings of contiguous memory, so free once the value under them is stored)."""
    while n.op is Op.RESHAPE:
        n = n.srcs[0]
    return n


def unit_reshape(n: Node) -> bool:
    """True for a RESHAPE that only drops or adds size-1 axes: the axes longer than 1 keep their
    order and sizes, so an index maps through it one axis to one axis (no division)."""
    return (n.op is Op.RESHAPE
            and [d for d in n.shape if d != 1] == [d for d in n.srcs[0].shape if d != 1])


def _consumer_region(r: Node, users: dict, number: dict, claimed: set, out_ids: set,
                     stored: set) -> list[Node]:
    """The consumers that reduction `r`'s kernel takes (rule 4), sources first: the largest
    region after `r`, grown in graph order, of elementwise nodes and `unit_reshape`s, none
    claimed by another reduction, whose every value but the last (an elementwise node) is used
    inside it only. So `relu(x @ W.T + b)`, where relu is WHERE(CMPLT(y, 0), 0, y) and y has
    two users, is one kernel. Growth stops at a user that cannot join (anything else, or an
    output or stored value once taken: those can end a region, never sit inside one)."""
    region = {id(r)}
    taken: list[Node] = []
    best = 0  # how many of `taken` form the largest valid region so far
    frontier: dict[int, Node] = {}
    heap: list[tuple[int, int]] = []

    def reach(n: Node) -> bool:
        for u in users.get(id(n), ()):
            if id(u) in region or id(u) in frontier:
                continue
            if id(u) in claimed or not (u.op in ELEMENTWISE or unit_reshape(u)):
                return False
            frontier[id(u)] = u
            heapq.heappush(heap, (number[id(u)], id(u)))
        return True

    if not reach(r):
        return []
    while heap:
        _, key = heapq.heappop(heap)
        n = frontier.pop(key)
        region.add(key)
        taken.append(n)
        if n.op in ELEMENTWISE and all(
                all(id(s) == key or id(s) not in region for s in f.srcs)
                for f in frontier.values()):
            best = len(taken)  # only n's value leaves the region: n can end it
        if key in out_ids or key in stored or not reach(n):
            break
    return taken[:best]


def materialized_nodes(outputs, log=lambda message: None) -> set[int]:
    """ids of the nodes that get their own buffer (the fusion decisions; see the module doc)."""
    order = toposort(outputs)
    number = {id(n): i for i, n in enumerate(order)}
    users: dict[int, list[Node]] = {}
    for n in order:
        for s in n.srcs:
            users.setdefault(id(s), []).append(n)
    out_ids = {id(storage_root(o)) for o in outputs}
    stored: set[int] = set()

    def keep(n: Node, why: str) -> None:
        if id(n) not in stored and n.op is not Op.BUFFER:
            stored.add(id(n))
            log(f"materialize {_describe(n, number)}: {why}")

    for n in order:
        if id(n) in out_ids:
            keep(n, "an output")
        elif n.op is Op.CONTIGUOUS:
            keep(n, "CONTIGUOUS")
        elif n.op in REDUCE:
            keep(n, "a reduction")
    const_memo: dict[int, bool] = {}
    for n in order:
        if n.op is not Op.EXPAND or n.shape == n.srcs[0].shape:
            continue
        src = n.srcs[0]
        while src.op in MOVEMENT:
            src = src.srcs[0]
        if src.op in (Op.BUFFER, Op.CONST, Op.RAND) or id(src) in stored:
            continue
        if _is_constant(src, const_memo):
            log(f"broadcast {_describe(src, number)} freely: it is constant")
            continue
        keep(src, f"expanded by {_describe(n, number)}")
    # rule 4: a reduction takes the region of its elementwise consumers (through RESHAPEs of
    # size-1 axes only) that ends in one node
    claimed: set[int] = set()
    for r in order:
        if r.op not in REDUCE or id(r) in out_ids:
            continue
        chain = _consumer_region(r, users, number, claimed, out_ids, stored)
        if not chain:
            why = "no users" if not users.get(id(r)) else \
                f"used by {', '.join(_describe(u, number) for u in users[id(r)])}"
            log(f"keep {_describe(r, number)} stored: {why}")
            continue
        claimed.update(id(c) for c in chain)
        stored.discard(id(r))
        end = chain[-1]
        if id(end) not in stored:
            stored.add(id(end))
        log(f"fuse {_describe(r, number)} with its consumers "
            f"{', '.join(_describe(c, number) for c in chain)}: one kernel stores %{number[id(end)]}")
    return stored


@register("fuse")
def fuse(g: Graph, ctx: PassContext) -> Graph:
    """Group the graph into kernels, one per materialized value, in graph order."""
    if g.kernels is not None:
        raise ValueError("fuse runs once: the graph already has kernels")
    stored = materialized_nodes(g.outputs, lambda message: ctx.log("fusion", message))
    kernels = []
    for n in toposort(g.outputs):
        if id(n) in stored:
            k = build_kernel(n, stored)
            ops = sum(1 for m in k.nodes() if m.op not in (Op.BUFFER, Op.CONST))
            ctx.log("fusion", f"kernel {len(kernels)} {k.name}: {ops} ops, {len(k.inputs)} inputs, "
                              f"computes {n.op.name} {type_str(n.dtype, n.shape)}")
            kernels.append(k)
    return g.with_(kernels=tuple(kernels))
