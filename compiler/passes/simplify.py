"""The simplify pass: constant folding and algebraic identities that are exact in IEEE arithmetic.

- Folding: an elementwise op whose operands are all *uniform* (a CONST, possibly broadcast by
  RESHAPE/EXPAND or moved by PERMUTE/SHRINK/FLIP) is computed once by the registry's numpy
  reference, so the folded value is bit-for-bit what the oracle would compute. An op that would
  raise (integer division by zero) is left for the runtime to report on the user's line.
- Identities (each exact for every input, NaN, infinities and signed zeros included):
  x*1, 1*x, x+(-0.0) (for integers and bools x+0), NEG(NEG x), CAST to the same dtype,
  RESHAPE of RESHAPE, PERMUTE of PERMUTE, a RESHAPE/EXPAND to the same shape, an identity PERMUTE,
  an empty FLIP, a full SHRINK, a zero PAD. Never x+0.0 for floats (-0.0 + 0.0 is +0.0) nor x*0
  (nan*0 is nan).
- Dead code needs no work: a graph is what its outputs reach.
"""
from __future__ import annotations

import math

import numpy as np

from .. import dtypes as dt
from ..ir import Node, node, toposort
from ..ops import ELEMENTWISE, REGISTRY, Op, make
from . import Graph, PassContext, register

# Movement ops that keep a uniform value uniform (PAD brings in zeros, so it does not).
_UNIFORM_MOVES = {Op.RESHAPE, Op.EXPAND, Op.PERMUTE, Op.SHRINK, Op.FLIP}


def uniform_const(n: Node) -> Node | None:
    """The scalar CONST every element of `n` equals (seen through broadcasts), else None."""
    while n.op in _UNIFORM_MOVES:
        n = n.srcs[0]
    return n if n.op is Op.CONST else None


def broadcast_const(value, dtype: dt.DType, shape: tuple) -> Node:
    """A CONST of `value` broadcast to `shape`, built as tensor.const builds it."""
    c = make(Op.CONST, arg=_python_scalar(value, dtype), dtype=dtype)
    if shape == ():
        return c
    c = make(Op.RESHAPE, (c,), (1,) * len(shape))
    return c if all(d == 1 for d in shape) else make(Op.EXPAND, (c,), tuple(shape))


def _python_scalar(value, dtype: dt.DType):
    """The Python scalar a CONST of `dtype` holds (bool, int or float: see verify.const_problem)."""
    if dtype is dt.bool_:
        return bool(value)
    if dtype.is_integer:
        return int(value)
    return float(value)


def _fold(n: Node, consts: list[Node]) -> Node | None:
    """`n` computed from its uniform operands by the numpy reference, or None if it raises."""
    arrays = [np.array(c.arg, dtype=c.dtype.np_dtype) for c in consts]
    try:
        out = REGISTRY[n.op].numpy(arrays, n)
    except (ZeroDivisionError, ArithmeticError):
        return None
    out = np.asarray(out).astype(n.dtype.np_dtype).reshape(())
    return broadcast_const(out.item() if n.dtype is not dt.bfloat16 else float(out), n.dtype, n.shape)


def _is_value(c: Node | None, value) -> bool:
    """True when the uniform CONST `c` is exactly `value` (a float compared by its bits)."""
    if c is None:
        return False
    if isinstance(value, float):
        return isinstance(c.arg, float) and math.copysign(1.0, c.arg) == math.copysign(1.0, value) \
            and c.arg == value
    return c.arg == value and not isinstance(c.arg, float)


def _identity(n: Node) -> Node | None:
    """An existing node equal to `n` by an exact algebraic identity, or None."""
    op, srcs = n.op, n.srcs
    if op is Op.MUL:
        one = True if n.dtype is dt.bool_ else (1.0 if n.dtype.is_floating_point else 1)
        for a, b in ((0, 1), (1, 0)):
            if _is_value(uniform_const(srcs[b]), one):
                return srcs[a]
    elif op is Op.ADD:
        zero = False if n.dtype is dt.bool_ else (-0.0 if n.dtype.is_floating_point else 0)
        for a, b in ((0, 1), (1, 0)):
            if _is_value(uniform_const(srcs[b]), zero):
                return srcs[a]
    elif op is Op.NEG and srcs[0].op is Op.NEG:
        return srcs[0].srcs[0]
    elif op is Op.CAST and n.arg is srcs[0].dtype:
        return srcs[0]
    elif op in (Op.RESHAPE, Op.EXPAND) and n.shape == srcs[0].shape:
        return srcs[0]
    elif op is Op.RESHAPE and srcs[0].op is Op.RESHAPE:
        inner = srcs[0].srcs[0]
        return inner if inner.shape == n.shape else make(Op.RESHAPE, (inner,), n.arg)
    elif op is Op.PERMUTE:
        if n.arg == tuple(range(len(n.arg))):
            return srcs[0]
        if srcs[0].op is Op.PERMUTE:
            inner, first = srcs[0].srcs[0], srcs[0].arg
            order = tuple(first[i] for i in n.arg)
            return inner if order == tuple(range(len(order))) else make(Op.PERMUTE, (inner,), order)
    elif op is Op.FLIP and not n.arg:
        return srcs[0]
    elif op is Op.SHRINK and all(b == 0 and e == d for (b, e), d in zip(n.arg, srcs[0].shape)):
        return srcs[0]
    elif op is Op.PAD and all(lo == 0 and hi == 0 for lo, hi in n.arg):
        return srcs[0]
    return None


def simplify_nodes(outputs) -> tuple[Node, ...]:
    """The outputs rewritten bottom-up by folding and identities (a node is kept when unchanged)."""
    new: dict[int, Node] = {}
    for n in toposort(outputs):
        srcs = tuple(new[id(s)] for s in n.srcs)
        m = n if srcs == n.srcs else node(n.op, n.dtype, n.shape, srcs, n.arg, loc=n.loc)
        # rewrite to a fixed point: one identity can expose another (NEG NEG NEG x)
        while True:
            if m.op in ELEMENTWISE:
                consts = [uniform_const(s) for s in m.srcs]
                if all(c is not None for c in consts):
                    folded = _fold(m, consts)
                    if folded is not None:
                        m = folded
                        break
            better = _identity(m)
            if better is None:
                break
            m = better
        new[id(n)] = m
    return tuple(new[id(o)] for o in outputs)


@register("simplify")
def simplify(g: Graph, ctx: PassContext) -> Graph:
    """Constant folding and exact algebraic identities over the outputs' graph."""
    if g.kernels is not None:
        raise ValueError("simplify runs before fuse: the graph already has kernels")
    return g.with_(outputs=simplify_nodes(g.outputs))
