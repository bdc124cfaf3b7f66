"""Small builders of IR expressions, shared by the op modules, the gradient rules and the tests.

`add(a, b)` reads better than `make(Op.ADD, (a, b))` in a formula; `like(0.5, x)` is the constant
0.5 in x's dtype, broadcast to x's shape. Each builder is one node (or a fixed few), nothing more.
"""
from __future__ import annotations

import weakref

import numpy as np

from . import dtypes as dt
from .ir import Node
from .ops import Op, make

LOG2_E = 1.4426950408889634
LN_2 = 0.6931471805599453

# The members these builders use, named once: in Python 3.11 `Op.ADD` goes through
# EnumType.__getattr__'s slow lookup (~60 ns, as much as the rest of a small builder), and these
# builders are every op's hot path.
(_RESHAPE, _EXPAND, _CONST, _CAST, _ADD, _NEG, _MUL, _DIV,
 _RECIP, _CMPLT, _CMPEQ, _NOT, _WHERE, _EXP2, _LOG2) = (
    Op.RESHAPE, Op.EXPAND, Op.CONST, Op.CAST, Op.ADD, Op.NEG, Op.MUL, Op.DIV,
    Op.RECIP, Op.CMPLT, Op.CMPEQ, Op.NOT, Op.WHERE, Op.EXP2, Op.LOG2)


def expand_to(n: Node, shape: tuple) -> Node:
    """`n` broadcast to `shape` (leading 1s added, then size-1 dims expanded)."""
    if n.shape == shape:
        return n
    if len(n.shape) != len(shape):
        n = make(_RESHAPE, (n,), (1,) * (len(shape) - len(n.shape)) + n.shape)
    return make(_EXPAND, (n,), shape) if n.shape != shape else n


def const(value, dtype: dt.DType, shape: tuple = ()) -> Node:
    """The constant `value`, as `dtype` holds it, broadcast to `shape`."""
    # A value of one type equals only itself, but for 0.0 == -0.0 and nan != nan: those (and every
    # falsy value but an int's, cheaply) are keyed by their bits.
    if type(value) is int or (value and value == value):
        key = (value, type(value), dtype, shape)
    else:
        key = (_bits(value), dtype, shape)
    ref = _const_cache.get(key)
    if ref is not None:
        n = ref()
        if n is not None:
            return n
    n = expand_to(make(_CONST, arg=held_value(value, dtype), dtype=dtype), shape)
    _const_cache[key] = weakref.ref(n)
    if len(_const_cache) > _sweep_at[0]:
        _sweep_consts()
    return n


# Broadcast constants by (value, dtype, shape): scalars in ops are mostly the same few numbers, and
# building their CONST/RESHAPE/EXPAND nodes was a third of an op's cost. Weak, so a constant that
# no graph uses any more is freed like any node; a dict of weak references rather than a
# WeakValueDictionary, whose Python-level get() cost as much as building a node.
_const_cache: dict[tuple, weakref.ref] = {}
_sweep_at = [4096]  # the cache's size that triggers dropping the dead entries


def _bits(value) -> tuple:
    """A zero's or nan's identity: its type and bits (numpy's float zeros too: -0.0 is not 0.0)."""
    if isinstance(value, (float, np.floating)):
        return (type(value), float(value).hex())
    return (type(value), value)


def _sweep_consts() -> None:
    for key in [k for k, ref in _const_cache.items() if ref() is None]:
        del _const_cache[key]
    _sweep_at[0] = max(4096, 2 * len(_const_cache))


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
    return n if n.dtype is dtype else make(_CAST, (n,), dtype)


def add(a: Node, b: Node) -> Node:
    """a + b."""
    return make(_ADD, (a, b))


def sub(a: Node, b: Node) -> Node:
    """a - b, as a + (-b)."""
    return make(_ADD, (a, make(_NEG, (b,))))


def mul(a: Node, b: Node) -> Node:
    """a * b."""
    return make(_MUL, (a, b))


def div(a: Node, b: Node) -> Node:
    """a / b (floats)."""
    return make(_DIV, (a, b))


def neg(a: Node) -> Node:
    """-a."""
    return make(_NEG, (a,))


def recip(a: Node) -> Node:
    """1 / a."""
    return make(_RECIP, (a,))


def lt(a: Node, b: Node) -> Node:
    """a < b."""
    return make(_CMPLT, (a, b))


def eq(a: Node, b: Node) -> Node:
    """a == b."""
    return make(_CMPEQ, (a, b))


def not_(a: Node) -> Node:
    """Logical (bool) or bitwise not."""
    return make(_NOT, (a,))


def where(c: Node, a: Node, b: Node) -> Node:
    """c ? a : b."""
    return make(_WHERE, (c, a, b))


def isnan(a: Node) -> Node:
    """a != a."""
    return not_(eq(a, a))


def exp(a: Node) -> Node:
    """e ** a, as 2 ** (a log2 e)."""
    return make(_EXP2, (make(_MUL, (a, const(LOG2_E, a.dtype, a.shape))),))  # mul(a, like(LOG2_E, a))


def log(a: Node) -> Node:
    """ln a, as log2(a) ln 2."""
    return mul(make(_LOG2, (a,)), like(LN_2, a))
