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
4. A reduction then takes its elementwise consumer: when it has a single user, elementwise, the
   chain of single-user elementwise nodes after it joins its kernel (the kernel stores the end of
   the chain instead of the reduction). A node joins at most one chain, so a kernel holds at most
   one reduction. Elementwise producers of a reduction join it for free (they are not stored).

Elementwise chains fuse into their consumer by the same token: nothing in them is stored.
Each decision is reported to `ctx.log("fusion", ...)` (`LT_LOG=fusion`).
"""
from __future__ import annotations

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
    # rule 4: a reduction takes the chain of its single-user elementwise consumers
    claimed: set[int] = set()
    for r in order:
        if r.op not in REDUCE or id(r) in out_ids:
            continue
        chain, cur = [], r
        while id(cur) not in out_ids:
            us = users.get(id(cur), [])
            if len(us) != 1 or us[0].op not in ELEMENTWISE or id(us[0]) in claimed:
                break
            cur = us[0]
            chain.append(cur)
            if id(cur) in stored:
                break
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
