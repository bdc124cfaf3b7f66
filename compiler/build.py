"""Small builders of IR expressions, shared by the op modules, the gradient rules and the tests.

`add(a, b)` reads better than `make(Op.ADD, (a, b))` in a formula; `like(0.5, x)` is the constant
0.5 in x's dtype, broadcast to x's shape. Each builder is one node (or a fixed few), nothing more.
"""
from __future__ import annotations

import weakref

import numpy as np

from . import dtypes as dt
from .ir import Node, const_ident
from .ops import Op, make

LOG2_E = 1.4426950408889634
LN_2 = 0.6931471805599453


def expand_to(n: Node, shape: tuple) -> Node:
    """`n` broadcast to `shape` (leading 1s added, then size-1 dims expanded)."""
    if n.shape == shape:
        return n
    if len(n.shape) != len(shape):
        n = make(Op.RESHAPE, (n,), (1,) * (len(shape) - len(n.shape)) + n.shape)
    return make(Op.EXPAND, (n,), shape) if n.shape != shape else n


def const(value, dtype: dt.DType, shape: tuple = ()) -> Node:
    """The constant `value`, as `dtype` holds it, broadcast to `shape`."""
    key = (const_ident(value), dtype, shape)
    n = _const_cache.get(key)
    if n is None:
        n = _const_cache[key] = expand_to(make(Op.CONST, arg=held_value(value, dtype), dtype=dtype), shape)
    return n


# Broadcast constants by (value, dtype, shape): scalars in ops are mostly the same few numbers, and
# building their CONST/RESHAPE/EXPAND nodes was a third of an op's cost. Weak, so a constant that
# no graph uses any more is freed like any node.
_const_cache: "weakref.WeakValueDictionary[tuple, Node]" = weakref.WeakValueDictionary()


def held_value(value, dtype: dt.DType):
    """`value` as `dtype` holds it, as a Python number."""
    if dtype is dt.bool_:
        return bool(value)
    if dtype.is_floating_point:
        # the value the dtype holds (70000.0 is inf in float16), so every backend reads the same
        with np.errstate(over="ignore"):
            return float(np.float64(value).astype(dtype.np_dtype))
    # PyTorch wraps Python ints into the dtype's range (uint8_tensor + 300 adds 44)
    span = 1 << dtype.bits
    value = int(value) % span
    if dtype.is_signed and value >= span // 2:
        value -= span
    return value


def like(value, n: Node) -> Node:
    """The constant `value` in `n`'s dtype and shape."""
    return const(value, n.dtype, n.shape)


def cast(n: Node, dtype: dt.DType) -> Node:
    """`n` converted to `dtype` (no node when it already is)."""
    return n if n.dtype is dtype else make(Op.CAST, (n,), dtype)


def add(a: Node, b: Node) -> Node:
    """a + b."""
    return make(Op.ADD, (a, b))


def sub(a: Node, b: Node) -> Node:
    """a - b, as a + (-b)."""
    return make(Op.ADD, (a, make(Op.NEG, (b,))))


def mul(a: Node, b: Node) -> Node:
    """a * b."""
    return make(Op.MUL, (a, b))


def div(a: Node, b: Node) -> Node:
    """a / b (floats)."""
    return make(Op.DIV, (a, b))


def neg(a: Node) -> Node:
    """-a."""
    return make(Op.NEG, (a,))


def recip(a: Node) -> Node:
    """1 / a."""
    return make(Op.RECIP, (a,))


def lt(a: Node, b: Node) -> Node:
    """a < b."""
    return make(Op.CMPLT, (a, b))


def eq(a: Node, b: Node) -> Node:
    """a == b."""
    return make(Op.CMPEQ, (a, b))


def not_(a: Node) -> Node:
    """Logical (bool) or bitwise not."""
    return make(Op.NOT, (a,))


def where(c: Node, a: Node, b: Node) -> Node:
    """c ? a : b."""
    return make(Op.WHERE, (c, a, b))


def isnan(a: Node) -> Node:
    """a != a."""
    return not_(eq(a, a))


def exp(a: Node) -> Node:
    """e ** a, as 2 ** (a log2 e)."""
    return make(Op.EXP2, (mul(a, like(LOG2_E, a)),))


def log(a: Node) -> Node:
    """ln a, as log2(a) ln 2."""
    return mul(make(Op.LOG2, (a,)), like(LN_2, a))
