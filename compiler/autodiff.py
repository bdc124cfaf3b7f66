"""Reverse-mode differentiation over the IR.

`gradients` walks the graph from the outputs back to the `wrt` nodes and applies each primitive's
rule (the registry's `grad` cell, compiler/gradients.py). It only builds nodes: the gradients are
new IR in the same graph, so the forward pass, the backward pass and an update can be fused, and a
gradient can be differentiated again.
"""
from __future__ import annotations

from .build import like
from .ir import Node, toposort
from .ops import REGISTRY, Op, make
from . import gradients as _rules  # noqa: F401  (fills the registry's grad cells)


def gradients(outputs: list[Node], seeds: list[Node], wrt: list[Node],
              stop: list[Node] | tuple = ()) -> list[Node | None]:
    """d(sum of outputs . seeds) / d(each wrt node), as IR nodes; None where no path leads.

    Only paths that reach a `wrt` node are differentiated. The walk never goes below a `wrt` or a
    `stop` node: they are the inputs of the function being differentiated (what lies beneath them
    is another function's business, e.g. a detached value).
    """
    for o, s in zip(outputs, seeds):
        if o.shape != s.shape:
            raise ValueError(f"seed shape {list(s.shape)} does not match output shape {list(o.shape)}")
    targets = {id(n) for n in wrt}
    barrier = targets | {id(n) for n in stop}
    order = toposort(outputs, barrier)
    # which nodes lie on a path to a wrt node (sources before users, so one pass decides)
    reaches: set[int] = set()
    for n in order:
        if id(n) in targets or (id(n) not in barrier and any(id(s) in reaches for s in n.srcs)):
            reaches.add(id(n))
    grads: dict[int, Node] = {}
    for o, s in zip(outputs, seeds):
        if id(o) in reaches:
            s = s if s.dtype is o.dtype else make(Op.CAST, (s,), o.dtype)
            grads[id(o)] = _accumulate(grads.get(id(o)), s)
    for n in reversed(order):
        g = grads.get(id(n))
        if g is None or id(n) in barrier:
            continue
        rule = REGISTRY[n.op].grad
        if rule is None:
            raise NotImplementedError(f"no gradient rule for {n.op.name}")
        src_grads = rule(n, g)
        for src, sg in zip(n.srcs, src_grads):
            if sg is not None and id(src) in reaches:
                grads[id(src)] = _accumulate(grads.get(id(src)), sg)
    return [grads.get(id(n)) for n in wrt]


def _accumulate(old: Node | None, new: Node) -> Node:
    return new if old is None else make(Op.ADD, (old, new))


def autodiff(outputs: list[Node], seeds: list[Node], wrt: list[Node]) -> list[Node]:
    """The pass form: the outputs followed by their gradients with respect to `wrt` (zeros where no path)."""
    grads = gradients(outputs, seeds, wrt)
    return list(outputs) + [g if g is not None else like(0.0, w) for g, w in zip(grads, wrt)]


# ---- the pipeline pass (`autodiff` in pipeline strings: lt-opt -p autodiff,simplify,fuse) ----

from .passes import Graph, PassContext, register  # noqa: E402  (passes never import this module)


@register("autodiff")
def autodiff_pass(g: Graph, ctx: PassContext) -> Graph:
    """Outputs, then d(sum of the floating outputs)/d(each floating BUFFER), in graph order.

    The seeds are ones; `ctx.options["wrt"]` (nodes) overrides the BUFFERs differentiated against.
    """
    if g.kernels is not None:
        raise ValueError("autodiff runs before fuse: the graph already has kernels")
    from .ir import toposort
    outs = [o for o in g.outputs if o.dtype.is_floating_point]
    wrt = (ctx.options or {}).get("wrt") if ctx is not None else None
    if wrt is None:
        wrt = [n for n in toposort(g.outputs) if n.op is Op.BUFFER and n.dtype.is_floating_point]
    seeds = [like(1.0, o) for o in outs]
    grads = autodiff(outs, seeds, list(wrt))[len(outs):]
    return g.with_(outputs=tuple(g.outputs) + tuple(grads))
