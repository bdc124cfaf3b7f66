"""The gradient rule of every primitive: the registry's `grad` cell.

A rule takes the node `n` and the gradient `g` of the final output with respect to `n` (same
shape and dtype as `n`) and returns one gradient per source of `n`, as IR nodes, or None where no
gradient flows (a non-differentiable operand, or an integer/bool one). Rules only build nodes:
gradients are IR like any other value, so gradients of gradients work and the backward graph can
fuse with the forward one.

Primitives with no derivative (comparisons, bitwise logic, integer division, sources) hold the
explicit `NOT_DIFFERENTIABLE` marker, never an empty cell.
"""
from __future__ import annotations

import math

import numpy as np

from . import dtypes as dt
from .ir import Buffer, Node
from .build import add as _add, like, mul as _mul, neg as _neg, where as _where
from .ops import REGISTRY, Op, make

LN_2 = math.log(2.0)


class NotDifferentiable:
    """The grad cell of a primitive without a derivative: no gradient reaches any operand."""

    def __call__(self, n: Node, g: Node) -> tuple:
        return (None,) * len(n.srcs)

    def __repr__(self) -> str:
        return "NOT_DIFFERENTIABLE"


NOT_DIFFERENTIABLE = NotDifferentiable()


# ---- small builders ----

def _float(n: Node) -> bool:
    return n.dtype.is_floating_point


def _only_float(*grads_and_srcs) -> tuple:
    """Drop gradients of integer/bool operands: nothing differentiable flows into them."""
    return tuple(g if g is not None and _float(s) else None for g, s in grads_and_srcs)


_iotas: dict = {}


def iota(size: int, dtype: dt.DType) -> Node:
    """0, 1, ..., size-1 as a stored constant buffer (shared by every graph that asks)."""
    key = (size, dtype)
    buf = _iotas.get(key)
    if buf is None:
        buf = Buffer(dtype, size, "cpu", np.arange(size).astype(dtype.np_dtype))
        buf.data.flags.writeable = False
        _iotas[key] = buf
    return make(Op.BUFFER, arg=buf)


# ---- rules, one per primitive ----

def grad_neg(n, g):
    """d(-x) = -g."""
    return (_neg(g),)


def grad_exp2(n, g):
    """d(2**x) = g * 2**x * ln 2."""
    return (_mul(g, _mul(n, like(LN_2, n))),)


def grad_log2(n, g):
    """d(log2 x) = g / (x ln 2)."""
    (x,) = n.srcs
    return (_mul(g, make(Op.RECIP, (_mul(x, like(LN_2, x)),))),)


def grad_sin(n, g):
    """d(sin x) = g cos x."""
    (x,) = n.srcs
    return (_mul(g, make(Op.COS, (x,))),)


def grad_cos(n, g):
    """d(cos x) = -g sin x."""
    (x,) = n.srcs
    return (_neg(_mul(g, make(Op.SIN, (x,)))),)


def grad_sqrt(n, g):
    """d(sqrt x) = g / (2 sqrt x)."""
    return (_mul(g, make(Op.RECIP, (_mul(n, like(2.0, n)),))),)


def grad_recip(n, g):
    """d(1/x) = -g / x**2 = -g (1/x)**2."""
    return (_neg(_mul(g, _mul(n, n))),)


def grad_trunc(n, g):
    """Rounding is flat almost everywhere: zero, as PyTorch gives."""
    return (like(0.0, g),)


def grad_cast(n, g):
    """The gradient cast back to the source's float dtype; none into integers."""
    (x,) = n.srcs
    if not (_float(x) and _float(n)):
        return (None,)
    return (make(Op.CAST, (g,), x.dtype) if g.dtype is not x.dtype else g,)


def grad_add(n, g):
    """d(a + b) = g, g."""
    a, b = n.srcs
    return _only_float((g, a), (g, b))


def grad_div(n, g):
    """d(a / b) = g / b, -g a / b**2 (as -(g / b) * (a / b), which keeps b**2 from overflowing)."""
    a, b = n.srcs
    g_over_b = make(Op.DIV, (g, b))
    return g_over_b, _neg(_mul(g_over_b, n))


def grad_mul(n, g):
    """d(a b) = g b, g a."""
    a, b = n.srcs
    if not _float(n):
        return (None, None)
    return (_mul(g, b), _mul(g, a))


def grad_max(n, g):
    """max(a, b): the gradient goes to the larger operand; ties split it evenly (as PyTorch's maximum)."""
    a, b = n.srcs
    if not _float(n):
        return (None, None)
    zero, half = like(0.0, g), _mul(g, like(0.5, g))
    tie = make(Op.CMPEQ, (a, b))
    ga = _where(make(Op.CMPLT, (b, a)), g, _where(tie, half, zero))
    gb = _where(make(Op.CMPLT, (a, b)), g, _where(tie, half, zero))
    return ga, gb


def grad_mod(n, g):
    """fmod(a, b) = a - trunc(a / b) b: g for a, -g trunc(a / b) for b (PyTorch's fmod rule)."""
    a, b = n.srcs
    if not _float(n):
        return (None, None)
    q = make(Op.TRUNC, (make(Op.DIV, (a, b)),))
    return g, _neg(_mul(g, q))


def grad_where(n, g):
    """c ? a : b: the gradient goes to the chosen side; none to the condition."""
    c, a, b = n.srcs
    if not _float(n):
        return (None, None, None)
    zero = like(0.0, g)
    return None, _where(c, g, zero), _where(c, zero, g)


def grad_sum(n, g):
    """Every summed element gets the gradient of its sum (reduced axes are kept, size 1)."""
    (x,) = n.srcs
    if not _float(n):
        return (None,)
    return (make(Op.EXPAND, (g,), x.shape) if g.shape != x.shape else g,)


def grad_prod(n, g):
    """d prod / d x_i = the product of the others, exact where x has zeros (no division by 0)."""
    (x,) = n.srcs
    if not _float(n):
        return (None,)
    axes = n.arg
    zero, one = like(0.0, x), like(1.0, x)
    is_zero = make(Op.CMPEQ, (x, zero))
    zeros = make(Op.SUM, (make(Op.CAST, (is_zero,), x.dtype),), axes)
    nonzero_prod = make(Op.PROD, (_where(is_zero, one, x),), axes)

    def back(r):
        return make(Op.EXPAND, (r,), x.shape) if r.shape != x.shape else r
    one_zero = back(make(Op.CMPEQ, (zeros, like(1.0, zeros))))
    # x_i == 0: the others' product is nonzero only when x_i is the sole zero
    at_zero = _where(one_zero, back(nonzero_prod), zero)
    # x_i != 0: prod / x_i (0 when another element is 0)
    elsewhere = _mul(back(n), make(Op.RECIP, (_where(is_zero, one, x),)))
    return (_mul(back(g), _where(is_zero, at_zero, elsewhere)),)


def grad_max_reduce(n, g):
    """The gradient goes to the maxima, split evenly between ties (as PyTorch's amax)."""
    (x,) = n.srcs
    if not _float(n):
        return (None,)

    def back(r):
        return make(Op.EXPAND, (r,), x.shape) if r.shape != x.shape else r
    hit = make(Op.CMPEQ, (x, back(n)))
    count = make(Op.SUM, (make(Op.CAST, (hit,), x.dtype),), n.arg)
    share = _mul(g, make(Op.RECIP, (count,)))
    return (_where(hit, back(share), like(0.0, x)),)


def grad_reshape(n, g):
    """Reshape back."""
    (x,) = n.srcs
    return (make(Op.RESHAPE, (g,), x.shape),)


def grad_permute(n, g):
    """The inverse permutation."""
    order = n.arg
    inverse = tuple(sorted(range(len(order)), key=lambda i: order[i]))
    return (make(Op.PERMUTE, (g,), inverse),)


def grad_expand(n, g):
    """Sum over the broadcast axes (kept, so the shape is the source's)."""
    (x,) = n.srcs
    axes = tuple(i for i, (s, d) in enumerate(zip(x.shape, n.shape)) if s != d)
    return (make(Op.SUM, (g,), axes) if axes else g,)


def grad_pad(n, g):
    """Cut the padding off."""
    (x,) = n.srcs
    return (make(Op.SHRINK, (g,), tuple((lo, lo + d) for (lo, _), d in zip(n.arg, x.shape))),)


def grad_shrink(n, g):
    """Zeros where the box left the source out."""
    (x,) = n.srcs
    return (make(Op.PAD, (g,), tuple((b, d - e) for (b, e), d in zip(n.arg, x.shape))),)


def grad_flip(n, g):
    """Flip back."""
    return (make(Op.FLIP, (g,), n.arg),)


def grad_gather(n, g):
    """A scatter-add: src[.., j, ..] += g[.., i, ..] where index[.., i, ..] == j (one-hot compare, SUM)."""
    src, idx = n.srcs
    if not _float(src):
        return (None, None)
    return scatter_add_node(src.shape, n.arg, idx, g), None


def scatter_add_node(shape: tuple, axis: int, idx: Node, values: Node) -> Node:
    """Zeros of `shape` with `values` summed in at `idx` along `axis` (idx and values shaped alike)."""
    size = shape[axis]
    I = idx.shape
    r = len(I)
    wide = I + (size,)
    col = make(Op.EXPAND, (make(Op.RESHAPE, (idx,), I + (1,)),), wide)
    ramp = make(Op.EXPAND, (make(Op.RESHAPE, (iota(size, idx.dtype),), (1,) * r + (size,)),), wide)
    hit = make(Op.CMPEQ, (col, ramp))
    vals = make(Op.EXPAND, (make(Op.RESHAPE, (values,), I + (1,)),), wide)
    summed = make(Op.SUM, (_where(hit, vals, like(0.0, vals)),), (axis,))  # I with axis -> 1, + (size,)
    # move the new last axis into `axis`
    kept = I[:axis] + I[axis + 1:] + (size,)
    moved = make(Op.RESHAPE, (summed,), kept)
    order = tuple(range(axis)) + (r - 1,) + tuple(range(axis, r - 1))
    out = make(Op.PERMUTE, (moved,), order) if order != tuple(range(r)) else moved
    if out.shape != tuple(shape):
        out = make(Op.PAD, (out,), tuple((0, s - o) for s, o in zip(shape, out.shape)))
    return out


def grad_contiguous(n, g):
    """A copy: the gradient passes through."""
    return (g,)


RULES = {
    Op.NEG: grad_neg, Op.EXP2: grad_exp2, Op.LOG2: grad_log2, Op.SIN: grad_sin, Op.COS: grad_cos, Op.SQRT: grad_sqrt,
    Op.RECIP: grad_recip, Op.TRUNC: grad_trunc, Op.CAST: grad_cast, Op.ADD: grad_add, Op.DIV: grad_div, Op.MUL: grad_mul,
    Op.MAX: grad_max, Op.MOD: grad_mod, Op.WHERE: grad_where, Op.SUM: grad_sum, Op.PROD: grad_prod,
    Op.MAX_REDUCE: grad_max_reduce, Op.RESHAPE: grad_reshape, Op.PERMUTE: grad_permute,
    Op.EXPAND: grad_expand, Op.PAD: grad_pad, Op.SHRINK: grad_shrink, Op.FLIP: grad_flip,
    Op.GATHER: grad_gather, Op.CONTIGUOUS: grad_contiguous,
}
NON_DIFFERENTIABLE = {Op.BUFFER, Op.CONST, Op.RAND, Op.NOT, Op.CMPLT, Op.CMPEQ, Op.IDIV, Op.AND, Op.OR,
                      Op.XOR}

assert set(RULES) | NON_DIFFERENTIABLE == set(Op) and not set(RULES) & NON_DIFFERENTIABLE
for _op, _rule in RULES.items():
    REGISTRY[_op].grad = _rule
for _op in NON_DIFFERENTIABLE:
    REGISTRY[_op].grad = NOT_DIFFERENTIABLE
