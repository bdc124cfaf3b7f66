"""Elementwise ops: arithmetic, math functions, comparisons, logic; their operators and in-place forms.

Every op is written over the compiler's primitives. Math on float16/bfloat16 runs in float32 and
rounds once at the end, as PyTorch's kernels do.
"""
from __future__ import annotations

import math
import numbers

from lazytensor.compiler import dtypes as dt
from lazytensor.compiler.ir import Node
from lazytensor.compiler.ops import Op, make
from lazytensor.tensor import (Tensor, assign, cast_node, check_inplace_dtype, const, get_default_dtype,
                               is_scalar, operand_nodes, promote, wrap)

__all__ = ["add", "sub", "subtract", "rsub", "mul", "multiply", "div", "divide", "true_divide", "floor_divide",
           "remainder", "fmod", "neg", "negative", "positive", "pow", "float_power", "exp", "exp2", "expm1", "log",
           "log2", "log10", "log1p", "sqrt", "rsqrt", "reciprocal", "square", "sin", "cos", "tan", "sigmoid",
           "tanh", "sinh", "cosh", "relu", "abs", "absolute", "sign", "sgn", "floor", "ceil", "trunc", "fix",
           "frac", "round", "clamp", "clip", "clamp_min", "clamp_max", "maximum", "minimum", "lerp", "addcmul",
           "addcdiv", "isnan", "isinf", "isposinf", "isneginf", "isfinite", "nan_to_num", "eq", "ne", "lt", "gt",
           "le", "ge", "greater", "greater_equal", "less", "less_equal", "not_equal", "equal", "isclose",
           "allclose", "logical_not", "logical_and", "logical_or", "logical_xor", "bitwise_and", "bitwise_or",
           "bitwise_xor", "bitwise_not", "where"]

LOG2_E = 1.4426950408889634
LN_2 = 0.6931471805599453


# ---- building blocks over nodes ----

def _c(value, like: Node) -> Node:
    return const(value, like.dtype, like.shape)


def _add(a: Node, b: Node) -> Node:
    return make(Op.ADD, (a, b))


def _mul(a: Node, b: Node) -> Node:
    return make(Op.MUL, (a, b))


def _neg(a: Node) -> Node:
    return make(Op.NEG, (a,))


def _sub(a: Node, b: Node) -> Node:
    return make(Op.ADD, (a, make(Op.NEG, (b,))))


def _lt(a: Node, b: Node) -> Node:
    return make(Op.CMPLT, (a, b))


def _eq(a: Node, b: Node) -> Node:
    return make(Op.CMPEQ, (a, b))


def _not(a: Node) -> Node:
    return make(Op.NOT, (a,))


def _where(c: Node, a: Node, b: Node) -> Node:
    return make(Op.WHERE, (c, a, b))


def _isnan(a: Node) -> Node:
    return _not(_eq(a, a))


def _exp(a: Node) -> Node:
    return make(Op.EXP2, (_mul(a, _c(LOG2_E, a)),))


def _log(a: Node) -> Node:
    return _mul(make(Op.LOG2, (a,)), _c(LN_2, a))


def _recip(a: Node) -> Node:
    return make(Op.RECIP, (a,))


def _floor(a: Node) -> Node:
    t = make(Op.TRUNC, (a,))
    return _sub(t, make(Op.CAST, (_lt(a, t),), a.dtype))


def _maximum(a: Node, b: Node) -> Node:
    return make(Op.MAX, (a, b))


def _minimum(a: Node, b: Node) -> Node:
    # nan in either operand wins, as torch.minimum
    if a.dtype.is_floating_point:
        return _where(_lt(b, a), b, _where(_isnan(b), b, a))
    return _where(_lt(b, a), b, a)


def _sigmoid(a: Node) -> Node:
    return _recip(_add(_c(1.0, a), _exp(_neg(a))))


# ---- dtype plumbing ----

def _float_dtype(d: dt.DType) -> dt.DType:
    return d if d.is_floating_point else get_default_dtype()


def _compute_dtype(d: dt.DType) -> dt.DType:
    return dt.float32 if d in (dt.float16, dt.bfloat16) else d


def _unary_float(x: Tensor, fn) -> Tensor:
    """A float math function: ints become the default float; halves compute in float32."""
    out = _float_dtype(x.dtype)
    n = fn(cast_node(x.node, _compute_dtype(out)))
    return wrap(cast_node(n, out))


def _binary(a, b, fn, *, out_dtype=None, compute_dtype=None) -> Tensor:
    """Promote `a` and `b` as PyTorch does, broadcast, and apply `fn` to their nodes."""
    if not isinstance(a, Tensor) and not isinstance(b, Tensor):
        raise TypeError("expected a Tensor operand")
    for x in (a, b):
        if not isinstance(x, Tensor) and not is_scalar(x):
            raise TypeError(f"unsupported operand type for a tensor op: '{type(x).__name__}'")
    dtype = promote(a, b)
    work = compute_dtype(dtype) if compute_dtype else dtype
    na, nb = operand_nodes((a, b), work)
    n = fn(na, nb)
    return wrap(cast_node(n, out_dtype(dtype) if out_dtype else (n.dtype if n.dtype is dt.bool_ else dtype)))


# ---- arithmetic ----

def add(input, other, *, alpha=1) -> Tensor:
    """input + alpha * other."""
    if alpha != 1:
        other = mul(other, alpha) if isinstance(other, Tensor) else other * alpha
    return _binary(input, other, _add)


def sub(input, other, *, alpha=1) -> Tensor:
    """input - alpha * other."""
    if _is_bool(input) and _is_bool(other):
        raise RuntimeError("Subtraction, the `-` operator, with two bool tensors is not supported. "
                           "Use the `^` or `logical_xor()` operator instead.")
    if alpha != 1:
        other = mul(other, alpha) if isinstance(other, Tensor) else other * alpha
    return _binary(input, other, _sub)


def rsub(input, other, *, alpha=1) -> Tensor:
    """other - alpha * input."""
    return sub(other, input, alpha=alpha)


def mul(input, other) -> Tensor:
    """input * other."""
    return _binary(input, other, _mul)


def _true_div(a: Node, b: Node) -> Node:
    return _mul(a, _recip(b))


def div(input, other, *, rounding_mode: str | None = None) -> Tensor:
    """input / other: true division, or rounded with rounding_mode 'trunc' or 'floor'."""
    if rounding_mode is None:
        return _binary(input, other, _true_div, out_dtype=_float_dtype, compute_dtype=_float_dtype)
    if rounding_mode == "trunc":
        return _binary(input, other, _trunc_div)
    if rounding_mode == "floor":
        return _binary(input, other, _floor_div)
    raise ValueError(f"div expected rounding_mode to be one of None, 'trunc', or 'floor' but found '{rounding_mode}'")


def _trunc_div(a: Node, b: Node) -> Node:
    if a.dtype.is_floating_point:
        return make(Op.TRUNC, (_true_div(a, b),))
    return make(Op.IDIV, (a, b))


def _floor_div(a: Node, b: Node) -> Node:
    if a.dtype.is_floating_point:
        # PyTorch's div_floor: exact for the cases Python's // is exact
        mod = make(Op.MOD, (a, b))
        q = _true_div(_sub(a, mod), b)
        zero = _c(0.0, a)
        adjust = make(Op.AND, (_not(_eq(mod, zero)), _not(_eq(_lt(b, zero), _lt(mod, zero)))))
        q = _sub(q, make(Op.CAST, (adjust,), a.dtype))
        fl = _floor(q)
        fl = _add(fl, make(Op.CAST, (_lt(_c(0.5, a), _sub(q, fl)),), a.dtype))
        # b == 0 (or inf operands): plain division gives the IEEE answer
        plain = _true_div(a, b)
        return _where(_eq(b, zero), plain, _where(_eq(q, zero), make(Op.MUL, (_c(0.0, a), plain)), fl))
    if a.dtype is dt.bool_:
        return make(Op.IDIV, (a, b))
    q = make(Op.IDIV, (a, b))
    r = make(Op.MOD, (a, b))
    zero = _c(0, a)
    fix = make(Op.AND, (_not(_eq(r, zero)), _not(_eq(_lt(a, zero), _lt(b, zero)))))
    return _sub(q, make(Op.CAST, (fix,), a.dtype))


def true_divide(input, other) -> Tensor:
    """input / other, always true division."""
    return div(input, other)


def floor_divide(input, other) -> Tensor:
    """input // other, rounding down like Python."""
    return div(input, other, rounding_mode="floor")


def _python_mod(a: Node, b: Node) -> Node:
    r = make(Op.MOD, (a, b))
    if a.dtype is dt.bool_:
        return r
    zero = _c(0, a)
    fix = make(Op.AND, (_not(_eq(r, zero)), _not(_eq(_lt(r, zero), _lt(b, zero)))))
    return _where(fix, _add(r, b), r)


def remainder(input, other) -> Tensor:
    """input % other with the sign of other, like Python's %."""
    return _binary(input, other, _python_mod)


def fmod(input, other) -> Tensor:
    """Remainder with the sign of input (C's fmod)."""
    return _binary(input, other, lambda a, b: make(Op.MOD, (a, b)))


def neg(input: Tensor) -> Tensor:
    """-input."""
    if input.dtype is dt.bool_:
        raise RuntimeError("Negation, the `-` operator, on a bool tensor is not supported. "
                           "If you are trying to invert a mask, use the `~` or `logical_not()` operator instead.")
    return wrap(_neg(input.node))


def positive(input: Tensor) -> Tensor:
    """input itself."""
    return input


def pow(input, exponent) -> Tensor:  # noqa: A001 - PyTorch's name
    """input ** exponent."""
    if isinstance(exponent, numbers.Integral) and not isinstance(exponent, bool) and isinstance(input, Tensor) \
            and 0 <= exponent <= 64:
        dtype = promote(input, exponent)
        x = cast_node(input.node, dtype)
        return wrap(_int_power(x, int(exponent)))
    if isinstance(exponent, numbers.Integral) and not isinstance(exponent, bool) and isinstance(input, Tensor) \
            and exponent < 0 and not input.dtype.is_floating_point:
        raise RuntimeError("Integers to negative integer powers are not allowed.")
    return _binary(input, exponent, _pow, compute_dtype=lambda d: dt.float64 if not d.is_floating_point
                   else _compute_dtype(d))


def _int_power(x: Node, e: int) -> Node:
    """x ** e by repeated squaring: exact for integers, and what PyTorch does for small powers."""
    result = None
    base = x
    while e:
        if e & 1:
            result = base if result is None else _mul(result, base)
        e >>= 1
        if e:
            base = _mul(base, base)
    return result if result is not None else _c(1, x)


def _pow(a: Node, b: Node) -> Node:
    """a ** b over floats: exp2(b log2|a|), signed for negative a with odd integer b."""
    mag = make(Op.EXP2, (_mul(b, make(Op.LOG2, (_maximum(a, _neg(a)),))),))
    zero, one = _c(0.0, a), _c(1.0, a)
    b_int = _eq(make(Op.TRUNC, (b,)), b)
    half = _mul(b, _c(0.5, b))
    b_odd = make(Op.AND, (b_int, _not(_eq(make(Op.TRUNC, (half,)), half))))
    neg_a = _lt(a, zero)
    out = _where(make(Op.AND, (neg_a, b_odd)), _neg(mag), mag)
    nan = _c(float("nan"), a)
    out = _where(make(Op.AND, (neg_a, _not(b_int))), nan, out)
    return _where(_eq(b, zero), one, out)  # x ** 0 is 1 even for nan and inf


def float_power(input, exponent) -> Tensor:
    """input ** exponent in float64."""
    a = input.double() if isinstance(input, Tensor) else float(input)
    b = exponent.double() if isinstance(exponent, Tensor) else float(exponent)
    return pow(a, b) if isinstance(a, Tensor) else pow(_scalar_tensor(a, dt.float64), b)


def _scalar_tensor(value, dtype):
    from lazytensor.creation import tensor
    return tensor(value, dtype=dtype)


# ---- math functions ----

def exp(input: Tensor) -> Tensor:
    """e ** input."""
    return _unary_float(input, _exp)


def exp2(input: Tensor) -> Tensor:
    """2 ** input."""
    return _unary_float(input, lambda a: make(Op.EXP2, (a,)))


def expm1(input: Tensor) -> Tensor:
    """e ** input - 1, accurate near 0."""
    def fn(a):
        u = _exp(a)
        um1 = _sub(u, _c(1.0, a))
        # Kahan's trick: (u - 1) * a / log(u) cancels the rounding of u
        exact = _mul(um1, _mul(a, _recip(_log(u))))
        return _where(_eq(um1, _c(0.0, a)), a, _where(_eq(um1, _c(-1.0, a)), um1,
                                                      _where(_eq(u, _c(float("inf"), a)), u, exact)))
    return _unary_float(input, fn)


def log(input: Tensor) -> Tensor:
    """Natural logarithm."""
    return _unary_float(input, _log)


def log2(input: Tensor) -> Tensor:
    """Base-2 logarithm."""
    return _unary_float(input, lambda a: make(Op.LOG2, (a,)))


def log10(input: Tensor) -> Tensor:
    """Base-10 logarithm."""
    return _unary_float(input, lambda a: _mul(make(Op.LOG2, (a,)), _c(math.log10(2.0), a)))


def log1p(input: Tensor) -> Tensor:
    """log(1 + input), accurate near 0."""
    def fn(a):
        u = _add(a, _c(1.0, a))
        um1 = _sub(u, _c(1.0, a))
        exact = _mul(_log(u), _mul(a, _recip(um1)))
        return _where(_eq(um1, _c(0.0, a)), a, _where(_eq(u, _c(float("inf"), a)), u, exact))
    return _unary_float(input, fn)


def sqrt(input: Tensor) -> Tensor:
    """Square root."""
    return _unary_float(input, lambda a: make(Op.SQRT, (a,)))


def rsqrt(input: Tensor) -> Tensor:
    """1 / sqrt(input)."""
    return _unary_float(input, lambda a: _recip(make(Op.SQRT, (a,))))


def reciprocal(input: Tensor) -> Tensor:
    """1 / input."""
    return _unary_float(input, _recip)


def square(input: Tensor) -> Tensor:
    """input * input."""
    return pow(input, 2)


def sin(input: Tensor) -> Tensor:
    """Sine."""
    return _unary_float(input, lambda a: make(Op.SIN, (a,)))


def cos(input: Tensor) -> Tensor:
    """Cosine, as sin(pi/2 - x)."""
    return _unary_float(input, lambda a: make(Op.SIN, (_sub(_c(math.pi / 2, a), a),)))


def tan(input: Tensor) -> Tensor:
    """Tangent."""
    return _unary_float(input, lambda a: _mul(make(Op.SIN, (a,)),
                                              _recip(make(Op.SIN, (_sub(_c(math.pi / 2, a), a),)))))


def sigmoid(input: Tensor) -> Tensor:
    """1 / (1 + e ** -input)."""
    return _unary_float(input, _sigmoid)


def tanh(input: Tensor) -> Tensor:
    """Hyperbolic tangent, as 2 sigmoid(2x) - 1 (exact for large |x|)."""
    return _unary_float(input, lambda a: _sub(_mul(_c(2.0, a), _sigmoid(_mul(a, _c(2.0, a)))), _c(1.0, a)))


def sinh(input: Tensor) -> Tensor:
    """Hyperbolic sine."""
    return _unary_float(input, lambda a: _mul(_sub(_exp(a), _exp(_neg(a))), _c(0.5, a)))


def cosh(input: Tensor) -> Tensor:
    """Hyperbolic cosine."""
    return _unary_float(input, lambda a: _mul(_add(_exp(a), _exp(_neg(a))), _c(0.5, a)))


def relu(input: Tensor) -> Tensor:
    """max(input, 0)."""
    if input.dtype is dt.bool_:
        raise RuntimeError('"clamp_min_cpu" not implemented for \'Bool\'')
    return wrap(_maximum(input.node, _c(0, input.node)))


def abs(input: Tensor) -> Tensor:  # noqa: A001 - PyTorch's name
    """|input|."""
    a = input.node
    if a.dtype is dt.bool_ or a.dtype.category == "uint":
        return wrap(a)
    out = _where(_lt(a, _c(0, a)), _neg(a), a)
    if a.dtype.is_floating_point:
        out = _add(out, _c(0.0, a))  # -0.0 becomes 0.0
    return wrap(out)


def sign(input: Tensor) -> Tensor:
    """-1, 0 or 1 by the sign of input (nan stays nan)."""
    a = input.node
    if a.dtype is dt.bool_:
        return wrap(a)
    pos = make(Op.CAST, (_lt(_c(0, a), a),), a.dtype)
    neg_ = make(Op.CAST, (_lt(a, _c(0, a)),), a.dtype)
    out = _sub(pos, neg_)
    if a.dtype.is_floating_point:
        out = _where(_isnan(a), a, out)
    return wrap(out)


def sgn(input: Tensor) -> Tensor:
    """sign for real tensors."""
    return sign(input)


def _rounding(input: Tensor, fn) -> Tensor:
    if not input.dtype.is_floating_point:
        return wrap(input.node)  # integers are already whole
    return _unary_float(input, fn)


def floor(input: Tensor) -> Tensor:
    """Round down."""
    return _rounding(input, _floor)


def ceil(input: Tensor) -> Tensor:
    """Round up."""
    return _rounding(input, lambda a: _neg(_floor(_neg(a))))


def trunc(input: Tensor) -> Tensor:
    """Round toward zero."""
    return _rounding(input, lambda a: make(Op.TRUNC, (a,)))


def fix(input: Tensor) -> Tensor:
    """Round toward zero."""
    return trunc(input)


def frac(input: Tensor) -> Tensor:
    """input - trunc(input)."""
    return _rounding(input, lambda a: _sub(a, make(Op.TRUNC, (a,))))


def _round_half_even(a: Node) -> Node:
    r = _floor(_add(a, _c(0.5, a)))
    tie = _eq(_sub(r, a), _c(0.5, a))
    half = _mul(r, _c(0.5, a))
    odd = _not(_eq(make(Op.TRUNC, (half,)), half))
    r = _where(make(Op.AND, (tie, odd)), _sub(r, _c(1.0, a)), r)
    # beyond 2**52 (2**23 for float32) every float is whole, and x + 0.5 would round
    big = _lt(_c(2.0 ** (52 if a.dtype is dt.float64 else 23), a), _maximum(a, _neg(a)))
    return _where(big, a, r)


def round(input: Tensor, *, decimals: int = 0) -> Tensor:  # noqa: A001 - PyTorch's name
    """Round half to even, optionally to `decimals` places."""
    if decimals == 0:
        return _rounding(input, _round_half_even)
    scale = 10.0 ** decimals
    return _rounding(input, lambda a: _mul(_round_half_even(_mul(a, _c(scale, a))), _c(1.0 / scale, a)))


def clamp(input: Tensor, min=None, max=None) -> Tensor:  # noqa: A002 - PyTorch's names
    """min(max(input, min), max); either bound may be None, a number or a tensor."""
    if min is None and max is None:
        raise RuntimeError("torch.clamp: At least one of 'min' or 'max' must not be None")
    out = input
    if min is not None:
        out = _binary(out, min, _maximum)
    if max is not None:
        out = _binary(out, max, _minimum)
    return out


def clamp_min(input: Tensor, min) -> Tensor:  # noqa: A002
    """max(input, min)."""
    return clamp(input, min=min)


def clamp_max(input: Tensor, max) -> Tensor:  # noqa: A002
    """min(input, max)."""
    return clamp(input, max=max)


clip = clamp
absolute = abs


def maximum(input: Tensor, other: Tensor) -> Tensor:
    """Elementwise max; nan wins."""
    return _binary(input, other, _maximum)


def minimum(input: Tensor, other: Tensor) -> Tensor:
    """Elementwise min; nan wins."""
    return _binary(input, other, _minimum)


def lerp(input: Tensor, end: Tensor, weight) -> Tensor:
    """input + weight * (end - input)."""
    return add(input, mul(sub(end, input), weight))


def addcmul(input: Tensor, tensor1: Tensor, tensor2: Tensor, *, value=1) -> Tensor:
    """input + value * tensor1 * tensor2."""
    return add(input, mul(mul(tensor1, tensor2), value))


def addcdiv(input: Tensor, tensor1: Tensor, tensor2: Tensor, *, value=1) -> Tensor:
    """input + value * tensor1 / tensor2."""
    return add(input, mul(div(tensor1, tensor2), value))


# ---- predicates ----

def isnan(input: Tensor) -> Tensor:
    """True where input is nan."""
    return wrap(_isnan(input.node) if input.dtype.is_floating_point else const(False, dt.bool_, input.node.shape))


def isinf(input: Tensor) -> Tensor:
    """True where input is +inf or -inf."""
    a = input.node
    if not a.dtype.is_floating_point:
        return wrap(const(False, dt.bool_, a.shape))
    return wrap(_eq(_maximum(a, _neg(a)), _c(float("inf"), a)))


def isposinf(input: Tensor) -> Tensor:
    """True where input is +inf."""
    a = input.node
    if not a.dtype.is_floating_point:
        return wrap(const(False, dt.bool_, a.shape))
    return wrap(_eq(a, _c(float("inf"), a)))


def isneginf(input: Tensor) -> Tensor:
    """True where input is -inf."""
    a = input.node
    if not a.dtype.is_floating_point:
        return wrap(const(False, dt.bool_, a.shape))
    return wrap(_eq(a, _c(float("-inf"), a)))


def isfinite(input: Tensor) -> Tensor:
    """True where input is neither inf nor nan."""
    a = input.node
    if not a.dtype.is_floating_point:
        return wrap(const(True, dt.bool_, a.shape))
    return wrap(_lt(_maximum(a, _neg(a)), _c(float("inf"), a)))


def nan_to_num(input: Tensor, nan: float = 0.0, posinf: float | None = None, neginf: float | None = None) -> Tensor:
    """nan, +inf and -inf replaced by finite numbers (the dtype's extremes by default)."""
    a = input.node
    if not a.dtype.is_floating_point:
        return wrap(a)
    import numpy as np
    finfo = np.finfo(a.dtype.np_dtype) if a.dtype is not dt.bfloat16 else None
    big = float(finfo.max) if finfo is not None else 3.3895313892515355e38
    posinf = big if posinf is None else posinf
    neginf = -big if neginf is None else neginf
    out = _where(_isnan(a), _c(nan, a), a)
    out = _where(_eq(a, _c(float("inf"), a)), _c(posinf, a), out)
    out = _where(_eq(a, _c(float("-inf"), a)), _c(neginf, a), out)
    return wrap(out)


# ---- comparisons ----

def _compare(a, b, fn) -> Tensor:
    return _binary(a, b, fn, out_dtype=lambda d: dt.bool_)


def eq(input, other) -> Tensor:
    """input == other."""
    return _compare(input, other, _eq)


def ne(input, other) -> Tensor:
    """input != other."""
    return _compare(input, other, lambda a, b: _not(_eq(a, b)))


def lt(input, other) -> Tensor:
    """input < other."""
    return _compare(input, other, _lt)


def gt(input, other) -> Tensor:
    """input > other."""
    return _compare(input, other, lambda a, b: _lt(b, a))


def le(input, other) -> Tensor:
    """input <= other (false with nan)."""
    return _compare(input, other, lambda a, b: make(Op.OR, (_lt(a, b), _eq(a, b))))


def ge(input, other) -> Tensor:
    """input >= other (false with nan)."""
    return _compare(input, other, lambda a, b: make(Op.OR, (_lt(b, a), _eq(a, b))))


greater, greater_equal, less, less_equal, not_equal = gt, ge, lt, le, ne
subtract, multiply, divide, negative = sub, mul, div, neg


def equal(input: Tensor, other: Tensor) -> bool:
    """True when both have the same shape and elements (flushes)."""
    if tuple(input.shape) != tuple(other.shape):
        return False
    from lazytensor import reduce
    return bool(reduce.all(eq(input, other)).item())


def isclose(input: Tensor, other: Tensor, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False) -> Tensor:
    """|input - other| <= atol + rtol * |other|, elementwise."""
    close = le(abs(sub(input, other)), add(mul(abs(other), rtol), atol))
    close = logical_or(close, eq(input, other))
    if equal_nan:
        close = logical_or(close, logical_and(isnan(input), isnan(other)))
    return close


def allclose(input: Tensor, other: Tensor, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False) -> bool:
    """True when every element is close (flushes)."""
    from lazytensor import reduce
    return bool(reduce.all(isclose(input, other, rtol, atol, equal_nan)).item())


# ---- logic and bits ----

def _as_bool(x) -> Node:
    return x.node if x.dtype is dt.bool_ else _not(_eq(x.node, _c(0, x.node)))


def logical_not(input: Tensor) -> Tensor:
    """not input, as bool."""
    return wrap(_not(_as_bool(input)))


def _logical(a, b, op) -> Tensor:
    from lazytensor.creation import tensor
    a = a if isinstance(a, Tensor) else tensor(a)
    b = b if isinstance(b, Tensor) else tensor(b)
    na, nb = operand_nodes((wrap(_as_bool(a)), wrap(_as_bool(b))), dt.bool_)
    return wrap(make(op, (na, nb)))


def logical_and(input, other) -> Tensor:
    """input and other, as bool."""
    return _logical(input, other, Op.AND)


def logical_or(input, other) -> Tensor:
    """input or other, as bool."""
    return _logical(input, other, Op.OR)


def logical_xor(input, other) -> Tensor:
    """input xor other, as bool."""
    return _logical(input, other, Op.XOR)


def _bitwise(a, b, op, name) -> Tensor:
    for x in (a, b):
        d = x.dtype if isinstance(x, Tensor) else scalar_dtype_of(x)
        if d.is_floating_point:
            raise RuntimeError(f'"{name}_cpu" not implemented for \'Float\'')
    return _binary(a, b, lambda x, y: make(op, (x, y)))


def scalar_dtype_of(x) -> dt.DType:
    from lazytensor.tensor import scalar_dtype
    return scalar_dtype(x)


def bitwise_and(input, other) -> Tensor:
    """input & other."""
    return _bitwise(input, other, Op.AND, "bitwise_and")


def bitwise_or(input, other) -> Tensor:
    """input | other."""
    return _bitwise(input, other, Op.OR, "bitwise_or")


def bitwise_xor(input, other) -> Tensor:
    """input ^ other."""
    return _bitwise(input, other, Op.XOR, "bitwise_xor")


def bitwise_not(input: Tensor) -> Tensor:
    """~input (logical not for bool)."""
    if input.dtype.is_floating_point:
        raise TypeError("~ (operator.invert) is only implemented on integer and Boolean-type tensors")
    return wrap(_not(input.node))


def where(condition: Tensor, input=None, other=None) -> Tensor:
    """input where condition holds, else other (broadcast together)."""
    if input is None and other is None:
        from lazytensor.indexing import nonzero
        return nonzero(condition, as_tuple=True)
    dtype = promote(input, other)
    shapes = [condition.shape] + [x.shape for x in (input, other) if isinstance(x, Tensor)]
    from lazytensor.tensor import broadcast_shapes, expand_node
    shape = broadcast_shapes(*shapes)
    na, nb = operand_nodes((input, other), dtype, shape)
    c = expand_node(_as_bool(condition), shape)
    return wrap(_where(c, na, nb))


def _is_bool(x) -> bool:
    return (isinstance(x, Tensor) and x.dtype is dt.bool_) or isinstance(x, bool)


# ---- Tensor methods, operators and in-place forms ----

def _inplace(fn):
    def method(self, *args, **kwargs):
        out = fn(self, *args, **kwargs)
        check_inplace_dtype(self, out.dtype)
        if tuple(out.shape) != tuple(self.shape):
            raise RuntimeError(f"output with shape {list(self.shape)} doesn't match the broadcast shape "
                               f"{list(out.shape)}")
        return assign(self, out.node)
    method.__name__ = fn.__name__ + "_"
    method.__doc__ = f"In-place {fn.__name__}."
    return method


_METHODS = [add, sub, mul, div, true_divide, floor_divide, remainder, fmod, neg, pow, float_power, exp, exp2, expm1,
            log, log2, log10, log1p, sqrt, rsqrt, reciprocal, square, sin, cos, tan, sigmoid, tanh, sinh, cosh,
            relu, abs, sign, sgn, floor, ceil, trunc, fix, frac, round, clamp, clamp_min, clamp_max, maximum,
            minimum, lerp, addcmul, addcdiv, isnan, isinf, isposinf, isneginf, isfinite, nan_to_num, eq, ne, lt, gt,
            le, ge, equal, isclose, allclose, logical_not, logical_and, logical_or, logical_xor, bitwise_and,
            bitwise_or, bitwise_xor, bitwise_not, where, positive]
_INPLACE = [add, sub, mul, div, true_divide, floor_divide, remainder, fmod, neg, pow, exp, exp2, expm1, log, log2,
            log10, log1p, sqrt, rsqrt, reciprocal, square, sin, cos, tan, sigmoid, tanh, sinh, cosh, relu, abs, sign,
            floor, ceil, trunc, fix, frac, round, clamp, clamp_min, clamp_max, lerp, addcmul, addcdiv, nan_to_num,
            eq, ne, lt, gt, le, ge, logical_not, logical_and, logical_or, logical_xor, bitwise_and, bitwise_or,
            bitwise_xor, bitwise_not]

for _f in _METHODS:
    setattr(Tensor, _f.__name__, _f)
for _f in _INPLACE:
    setattr(Tensor, _f.__name__ + "_", _inplace(_f))
Tensor.clip = clamp
Tensor.clip_ = Tensor.clamp_
Tensor.multiply, Tensor.subtract, Tensor.divide = mul, sub, div
Tensor.greater, Tensor.less, Tensor.greater_equal, Tensor.less_equal, Tensor.not_equal = gt, lt, ge, le, ne


def _reflected(fn):
    return lambda self, other: fn(other, self)


Tensor.__add__ = lambda self, other: add(self, other)
Tensor.__radd__ = _reflected(add)
Tensor.__iadd__ = lambda self, other: self.add_(other)
Tensor.__sub__ = lambda self, other: sub(self, other)
Tensor.__rsub__ = _reflected(sub)
Tensor.__isub__ = lambda self, other: self.sub_(other)
Tensor.__mul__ = lambda self, other: mul(self, other)
Tensor.__rmul__ = _reflected(mul)
Tensor.__imul__ = lambda self, other: self.mul_(other)
Tensor.__truediv__ = lambda self, other: div(self, other)
Tensor.__rtruediv__ = _reflected(div)
Tensor.__itruediv__ = lambda self, other: self.div_(other)
Tensor.__floordiv__ = lambda self, other: floor_divide(self, other)
Tensor.__rfloordiv__ = _reflected(floor_divide)
Tensor.__ifloordiv__ = lambda self, other: self.floor_divide_(other)
Tensor.__mod__ = lambda self, other: remainder(self, other)
Tensor.__rmod__ = _reflected(remainder)
Tensor.__imod__ = lambda self, other: self.remainder_(other)
Tensor.__pow__ = lambda self, other: pow(self, other)
Tensor.__rpow__ = lambda self, other: pow(_scalar_tensor(other, promote(other)), self) if is_scalar(other) \
    else pow(other, self)
Tensor.__ipow__ = lambda self, other: self.pow_(other)
Tensor.__neg__ = neg
Tensor.__pos__ = positive
Tensor.__abs__ = abs
Tensor.__invert__ = bitwise_not
Tensor.__and__ = lambda self, other: bitwise_and(self, other)
Tensor.__rand__ = _reflected(bitwise_and)
Tensor.__iand__ = lambda self, other: self.bitwise_and_(other)
Tensor.__or__ = lambda self, other: bitwise_or(self, other)
Tensor.__ror__ = _reflected(bitwise_or)
Tensor.__ior__ = lambda self, other: self.bitwise_or_(other)
Tensor.__xor__ = lambda self, other: bitwise_xor(self, other)
Tensor.__rxor__ = _reflected(bitwise_xor)
Tensor.__ixor__ = lambda self, other: self.bitwise_xor_(other)
Tensor.__eq__ = lambda self, other: eq(self, other) if isinstance(other, Tensor) or is_scalar(other) else NotImplemented
Tensor.__ne__ = lambda self, other: ne(self, other) if isinstance(other, Tensor) or is_scalar(other) else NotImplemented
Tensor.__lt__ = lambda self, other: lt(self, other)
Tensor.__le__ = lambda self, other: le(self, other)
Tensor.__gt__ = lambda self, other: gt(self, other)
Tensor.__ge__ = lambda self, other: ge(self, other)
