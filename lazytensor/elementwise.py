"""Elementwise ops: arithmetic, math functions, comparisons, logic; their operators and in-place forms.

Every op is written over the compiler's primitives. Math on float16/bfloat16 runs in float32 and
rounds once at the end, as PyTorch's kernels do.
"""
from __future__ import annotations

import builtins
import math
import numbers

import numpy as np

from lazytensor.compiler import dtypes as dt
from lazytensor.compiler.ir import Node
from lazytensor.compiler.build import (LN_2, LOG2_E, add as _add, div as _true_div, eq as _eq, exp as _exp,  # noqa: F401
                                       isnan as _isnan, like as _c, log as _log, lt as _lt, mul as _mul, neg as _neg,
                                       not_ as _not, recip as _recip, sub as _sub, where as _where)
from lazytensor.compiler.ops import IntegerDivisionByZero, Op, make, make_known
from lazytensor.tensor import (Tensor, _torch_name, assign, broadcast_shapes, cast_node, check_inplace_dtype,
                               const, expand_node, get_default_dtype, is_scalar, operand_nodes, promote, wrap)

__all__ = ["add", "sub", "subtract", "rsub", "mul", "multiply", "div", "divide", "true_divide", "floor_divide",
           "remainder", "fmod", "neg", "negative", "positive", "pow", "float_power", "exp", "exp2", "expm1", "log",
           "log2", "log10", "log1p", "sqrt", "rsqrt", "reciprocal", "square", "sin", "cos", "tan", "sigmoid",
           "tanh", "sinh", "cosh", "relu", "abs", "absolute", "sign", "sgn", "floor", "ceil", "trunc", "fix",
           "frac", "round", "clamp", "clip", "clamp_min", "clamp_max", "maximum", "minimum", "lerp", "addcmul",
           "addcdiv", "isnan", "isinf", "isposinf", "isneginf", "isfinite", "nan_to_num", "eq", "ne", "lt", "gt",
           "le", "ge", "greater", "greater_equal", "less", "less_equal", "not_equal", "equal", "isclose",
           "allclose", "logical_not", "logical_and", "logical_or", "logical_xor", "bitwise_and", "bitwise_or",
           "bitwise_xor", "bitwise_not", "where"]

INF = float("inf")


# ---- building blocks over nodes ----

def _abs(a: Node) -> Node:
    return _maximum(a, _neg(a))


def _expm1(a: Node) -> Node:
    u = _exp(a)
    um1 = _sub(u, _c(1.0, a))
    # Kahan's trick: (u - 1) * a / log(u) cancels the rounding of u
    exact = _mul(um1, _mul(a, _recip(_log(u))))
    return _where(_eq(um1, _c(0.0, a)), a, _where(_eq(um1, _c(-1.0, a)), um1,
                                                  _where(_eq(u, _c(INF, a)), u, exact)))


def _odd_sign(a: Node, magnitude: Node) -> Node:
    """An odd function's value from its value at |a|: the sign of a, and a itself at +-0."""
    zero = _c(0.0, a)
    out = _where(_lt(a, zero), _neg(magnitude), magnitude)
    return _where(_eq(a, zero), a, out)


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
    # e ** -|a| never overflows, and e / (1 + e) keeps the tiny values of a < 0 (sigmoid(-100) > 0)
    e = _exp(_neg(_abs(a)))
    inv = _recip(_add(_c(1.0, a), e))
    return _where(_lt(a, _c(0.0, a)), _mul(e, inv), inv)


# ---- dtype plumbing ----

def _float_dtype(d: dt.DType) -> dt.DType:
    return d if d.is_floating_point else get_default_dtype()


def _compute_dtype(d: dt.DType) -> dt.DType:
    return dt.float32 if d in (dt.float16, dt.bfloat16) else d


def _unary_float(x: Tensor, fn) -> Tensor:
    """A float math function: ints become the default float; halves compute in float32."""
    n = x._node if x._base is None else x.node  # .node without the property call (a hot path)
    if n.dtype is dt.float32 or n.dtype is dt.float64:
        return wrap(fn(n))  # no casts either way: the common case, without the dtype plumbing
    out = _float_dtype(n.dtype)
    n = fn(cast_node(n, _compute_dtype(out)))
    return wrap(cast_node(n, out))


# named once (`Op.X` is a slow attribute lookup in Python 3.11), for the fast paths' make_known
_ADD, _MUL, _CMPLT, _WHERE, _EXP2, _EXPAND = Op.ADD, Op.MUL, Op.CMPLT, Op.WHERE, Op.EXP2, Op.EXPAND
_SAME_TYPED = {_add: _ADD, _mul: _MUL}  # builders whose node has its operands' (common) dtype and shape


def _expanded(n: Node, shape: tuple) -> Node:
    """expand_node(n, shape) for a `shape` that n broadcasts to (its EXPAND's type is known)."""
    if n.shape == shape:
        return n
    if len(n.shape) == len(shape):
        return make_known(_EXPAND, (n,), shape, n.dtype, shape)
    return expand_node(n, shape)


def _binary(a, b, fn, *, out_dtype=None, compute_dtype=_compute_dtype, opmath: bool = False) -> Tensor:
    """Promote `a` and `b` as PyTorch does, broadcast, and apply `fn` to their nodes.

    Halves compute in float32. A Python number is first rounded to the promoted dtype (float16
    inf - 1e10 is nan, as in PyTorch), except with `opmath`, where it stays a float32 number as in
    PyTorch's mul and div kernels (float16 0.0 * 1e10 is 0, not 0 * inf).
    """
    if type(a) is Tensor:
        # The common cases, without the general promotion machinery: this is every op's hot path.
        na = a._node if a._base is None else a.node  # .node without the property call
        d = na.dtype
        if compute_dtype(d) is d:
            if type(b) is Tensor:
                nb = b._node if b._base is None else b.node
                fast = nb.dtype is d
                if fast and nb.shape != na.shape:
                    # what operand_nodes does for operands of one dtype
                    shape = broadcast_shapes(na.shape, nb.shape)
                    na, nb = _expanded(na, shape), _expanded(nb, shape)
            else:
                fast = (type(b) is float and d.category == "float") or (type(b) is int and d.category != "bool"
                                                                          and d.category != "uint")
                nb = const(b, d, na.shape) if fast else None
            if fast:
                # na and nb now have one dtype and shape: an add or a mul of them has the same
                op = _SAME_TYPED.get(fn)
                n = fn(na, nb) if op is None else make_known(op, (na, nb), None, d, na.shape)
                want = out_dtype(d) if out_dtype else n.dtype
                return wrap(n if n.dtype is want else cast_node(n, want))
    if not isinstance(a, Tensor) and not isinstance(b, Tensor):
        raise TypeError("expected a Tensor operand")
    for x in (a, b):
        if not isinstance(x, Tensor) and not is_scalar(x):
            raise TypeError(f"unsupported operand type for a tensor op: '{type(x).__name__}'")
    dtype = promote(a, b)
    work = compute_dtype(dtype)
    if work is not dtype and dtype.is_floating_point and not opmath:
        a, b = (x if isinstance(x, Tensor) else _held_as(x, dtype) for x in (a, b))
    na, nb = operand_nodes((a, b), work)
    n = fn(na, nb)
    return wrap(cast_node(n, out_dtype(dtype) if out_dtype else (n.dtype if n.dtype is dt.bool_ else dtype)))


# ---- arithmetic ----

def _held_as(x, dtype: dt.DType) -> float:
    """The Python number `x` as a float `dtype` holds it (1e10 is inf in float16)."""
    with np.errstate(over="ignore"):
        return float(np.float64(x).astype(dtype.np_dtype))


def _scaled(fn, alpha):
    """fn(a, alpha * b), with alpha a number of the result's dtype, checked as PyTorch does."""
    def scaled(a: Node, b: Node) -> Node:
        return fn(a, _mul(b, _c(alpha, b)))
    return scaled


def _check_alpha(input, other, alpha) -> None:
    if type(alpha) is int and alpha == 1:  # the default is valid for every dtype
        return
    dtype = promote(input, other)
    if isinstance(alpha, bool):
        if dtype is not dt.bool_:
            raise RuntimeError("Boolean alpha only supported for Boolean results.")
    elif not isinstance(alpha, numbers.Integral) and not dtype.is_floating_point:
        raise RuntimeError("For integral input tensors, argument alpha must not be a floating point number.")


def add(input, other, *, alpha=1) -> Tensor:
    """input + alpha * other."""
    if type(alpha) is int and alpha == 1:  # the default, valid for every dtype (_check_alpha's first test)
        return _binary(input, other, _add)
    _check_alpha(input, other, alpha)
    return _binary(input, other, _add if alpha == 1 else _scaled(_add, alpha))


def sub(input, other, *, alpha=1) -> Tensor:
    """input - alpha * other."""
    if _is_bool(input) and _is_bool(other):
        raise RuntimeError("Subtraction, the `-` operator, with two bool tensors is not supported. "
                           "Use the `^` or `logical_xor()` operator instead.")
    if _is_bool(input) or _is_bool(other):
        raise RuntimeError("Subtraction, the `-` operator, with a bool tensor is not supported. "
                           "If you are trying to invert a mask, use the `~` or `logical_not()` operator instead.")
    _check_alpha(input, other, alpha)
    return _binary(input, other, _sub if alpha == 1 else _scaled(_sub, alpha))


def rsub(input, other, *, alpha=1) -> Tensor:
    """other - alpha * input."""
    _need_tensors("rsub", input=input)
    return sub(other, input, alpha=alpha)


def mul(input, other) -> Tensor:
    """input * other."""
    return _binary(input, other, _mul, opmath=True)


def div(input, other, *, rounding_mode: str | None = None) -> Tensor:
    """input / other: true division, or rounded with rounding_mode 'trunc' or 'floor'."""
    if rounding_mode is None:
        return _binary(input, other, _true_div, out_dtype=_float_dtype,
                       compute_dtype=lambda d: _compute_dtype(_float_dtype(d)), opmath=True)
    if rounding_mode not in ("trunc", "floor"):
        raise RuntimeError(f"div expected rounding_mode to be one of None, 'trunc', or 'floor' but found '{rounding_mode}'")
    _refuse_bool(input, other, f"div_{rounding_mode}_cpu")
    _refuse_zero_divisor(input, other)
    if rounding_mode == "trunc":
        return _binary(input, other, _trunc_div, opmath=True)
    return _binary(input, other, _floor_div)


def _refuse_zero_divisor(input, other) -> None:
    """An integer tensor divided by a Python 0 raises at the op, as in PyTorch (a zero inside a
    tensor divisor is only seen when the graph runs, and raises then)."""
    if type(other) in (int, bool) and not other and promote(input, other).is_integer:
        raise IntegerDivisionByZero("ZeroDivisionError")


def _refuse_bool(input, other, kernel: str) -> None:
    """PyTorch has no kernel `kernel` for bool results (bool // bool, bool % bool)."""
    if promote(input, other) is dt.bool_:
        raise NotImplementedError(f"\"{kernel}\" not implemented for 'Bool'")


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
    _refuse_bool(input, other, "remainder_cpu")
    _refuse_zero_divisor(input, other)
    return _binary(input, other, _python_mod)


def fmod(input, other) -> Tensor:
    """Remainder with the sign of input (C's fmod)."""
    _need_tensors("fmod", input=input)
    _refuse_bool(input, other, "fmod_cpu")
    _refuse_zero_divisor(input, other)
    return _binary(input, other, lambda a, b: make(Op.MOD, (a, b)))


def neg(input: Tensor) -> Tensor:
    """-input."""
    if input.dtype is dt.bool_:
        raise RuntimeError("Negation, the `-` operator, on a bool tensor is not supported. "
                           "If you are trying to invert a mask, use the `~` or `logical_not()` operator instead.")
    return wrap(_neg(input.node))


def positive(input: Tensor) -> Tensor:
    """input itself."""
    if input.dtype is dt.bool_:
        raise RuntimeError("The `+` operator, on a bool tensor is not supported.")
    return input


def pow(input, exponent) -> Tensor:  # noqa: A001 - PyTorch's name
    """input ** exponent (either may be a Python number)."""
    if not isinstance(input, Tensor) and not isinstance(exponent, Tensor):
        raise TypeError("pow(): expected a Tensor operand")
    if isinstance(input, Tensor) and isinstance(exponent, (bool, np.bool_)):
        # PyTorch's shortcuts, even for bool tensors: x ** True is x, x ** False is ones
        return wrap(input.node if exponent else const(1, input.dtype, input.node.shape))
    dtype = promote(input, exponent)
    if dtype is dt.bool_:
        raise NotImplementedError("\"pow\" not implemented for 'Bool'")
    if isinstance(input, Tensor) and is_scalar(exponent) and not isinstance(exponent, bool):
        if dtype.is_floating_point and dtype is not dt.float16 and exponent in (0.5, -0.5):
            # PyTorch takes square roots here (but not for float16): (-0.0) ** 0.5 is -0.0 and
            # (-inf) ** 0.5 is nan
            root = make(Op.SQRT, (cast_node(input.node, _compute_dtype(dtype)),))
            return wrap(cast_node(root if exponent > 0 else _recip(root), dtype))
        if dtype is dt.float16:
            from lazytensor.creation import checked_scalar
            checked_scalar(exponent, dtype)  # PyTorch converts it to float16 first, refusing 1e10
        if float(exponent).is_integer():
            e = int(exponent)
            if not dtype.is_floating_point:
                if e < 0:
                    raise RuntimeError("Integers to negative integer powers are not allowed.")
                return wrap(_int_power(cast_node(input.node, dtype), e))
            if builtins.abs(e) <= 64:
                # x * x * ... as PyTorch does for small powers: closer than exp2(e * log2(x))
                x = cast_node(input.node, _compute_dtype(dtype))
                n = _int_power(x, builtins.abs(e))
                return wrap(cast_node(_true_div(_c(1.0, n), n) if e < 0 else n, dtype))
    if not dtype.is_floating_point:
        return _binary(input, exponent, _int_pow)
    # float64 throughout: exp2(b * log2|a|) in the narrower floats loses ~|b log2 a| ulps
    return _binary(input, exponent, _pow, compute_dtype=lambda d: dt.float64)


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


def _int_pow(a: Node, b: Node) -> Node:
    """a ** b over integers, exact (wrapping like C) by squaring once per bit of the exponent's dtype.

    A negative b gives what PyTorch gives: 1 for a == 1, +-1 for a == -1, and 0 otherwise.
    """
    zero, one, two = _c(0, a), _c(1, a), _c(2, a)
    negative = _lt(b, zero)
    e = _where(negative, zero, b)
    result, base = one, a
    for _ in range(a.dtype.bits - (1 if a.dtype.is_signed else 0)):
        odd = _eq(make(Op.MOD, (e, two)), one)
        result = _where(odd, _mul(result, base), result)
        base = _mul(base, base)
        e = make(Op.IDIV, (e, two))
    if not a.dtype.is_signed:
        return result
    minus_one = _c(-1, a)
    b_odd = _not(_eq(make(Op.MOD, (b, two)), zero))
    of_neg = _where(_eq(a, one), one, _where(_eq(a, minus_one), _where(b_odd, minus_one, one), zero))
    return _where(negative, of_neg, result)


def _pow(a: Node, b: Node) -> Node:
    """a ** b over floats: exp2(b log2|a|) with C's pow for signs and special values."""
    zero, one, inf = _c(0.0, a), _c(1.0, a), _c(INF, a)
    mag = make(Op.EXP2, (_mul(b, make(Op.LOG2, (_abs(a),))),))
    b_int = _eq(make(Op.TRUNC, (b,)), b)  # true for +-inf too
    # a whole number to a whole power is whole: snap exp2's rounding error (3 ** 7 is 2187, not
    # 2186.9999999999995, which float16 would round to 2186)
    whole = make(Op.AND, (make(Op.AND, (b_int, _eq(make(Op.TRUNC, (a,)), a))), _lt(zero, b)))
    whole = make(Op.AND, (whole, _lt(mag, _c(2.0 ** 52, a))))
    mag = _where(whole, _floor(_add(mag, _c(0.5, a))), mag)
    half = _mul(b, _c(0.5, b))
    b_odd = make(Op.AND, (b_int, _not(_eq(make(Op.TRUNC, (half,)), half))))
    # the sign bit of a, so (-0.0) ** 3 is -0.0 and (-0.0) ** -1 is -inf
    sign_bit = make(Op.OR, (_lt(a, zero), _lt(_recip(a), zero)))
    out = _where(make(Op.AND, (sign_bit, b_odd)), _neg(mag), mag)
    # a finite negative base has no real power that is not a whole number
    finite_neg = make(Op.AND, (_lt(a, zero), _lt(_neg(inf), a)))
    out = _where(make(Op.AND, (finite_neg, _not(b_int))), _c(float("nan"), a), out)
    # 1 ** anything and (-1) ** +-inf are 1, and so is anything ** 0 (nan and inf too)
    ones = make(Op.OR, (_eq(a, one), make(Op.AND, (_eq(a, _neg(one)), _eq(_abs(b), inf)))))
    return _where(make(Op.OR, (ones, _eq(b, zero))), one, out)


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
    a = input._node if input._base is None else input.node
    d = a.dtype
    if d is dt.float32 or d is dt.float64:  # _exp(a), whose types are a's
        shape = a.shape
        scaled = make_known(_MUL, (a, const(LOG2_E, d, shape)), None, d, shape)
        return wrap(make_known(_EXP2, (scaled,), None, d, shape))
    return _unary_float(input, _exp)


def exp2(input: Tensor) -> Tensor:
    """2 ** input."""
    return _unary_float(input, lambda a: make(Op.EXP2, (a,)))


def expm1(input: Tensor) -> Tensor:
    """e ** input - 1, accurate near 0."""
    return _unary_float(input, _expm1)


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
    """Cosine."""
    return _unary_float(input, lambda a: make(Op.COS, (a,)))


def tan(input: Tensor) -> Tensor:
    """Tangent, as sin / cos."""
    return _unary_float(input, lambda a: make(Op.DIV, (make(Op.SIN, (a,)), make(Op.COS, (a,)))))


def sigmoid(input: Tensor) -> Tensor:
    """1 / (1 + e ** -input)."""
    return _unary_float(input, _sigmoid)


def _tanh(a: Node) -> Node:
    # tanh|a| = -m / (2 + m) with m = expm1(-2|a|): no cancellation near 0, no overflow far out
    m = _expm1(_mul(_abs(a), _c(-2.0, a)))
    return _odd_sign(a, _mul(_neg(m), _recip(_add(m, _c(2.0, a)))))


def _exp_half(x: Node) -> Node:
    """e ** x / 2, finite wherever the result is (cosh(89.0) fits float32; e ** 89 does not)."""
    return make(Op.EXP2, (_sub(_mul(x, _c(LOG2_E, x)), _c(1.0, x)),))


def _sinh(a: Node) -> Node:
    # sinh|a| = (m + m / (m + 1)) / 2 with m = expm1(|a|): accurate near 0
    x = _abs(a)
    m = _expm1(x)
    near = _mul(_add(m, _mul(m, _recip(_add(m, _c(1.0, a))))), _c(0.5, a))
    return _odd_sign(a, _where(_lt(m, _c(INF, a)), near, _exp_half(x)))


def _cosh(a: Node) -> Node:
    x = _abs(a)
    u = _exp(x)
    near = _mul(_add(u, _recip(u)), _c(0.5, a))
    return _where(_lt(u, _c(INF, a)), near, _exp_half(x))


def tanh(input: Tensor) -> Tensor:
    """Hyperbolic tangent."""
    return _unary_float(input, _tanh)


def sinh(input: Tensor) -> Tensor:
    """Hyperbolic sine."""
    return _unary_float(input, _sinh)


def cosh(input: Tensor) -> Tensor:
    """Hyperbolic cosine."""
    return _unary_float(input, _cosh)


def relu(input: Tensor) -> Tensor:
    """max(input, 0)."""
    a = input._node if input._base is None else input.node  # .node without the property call
    if a.dtype is dt.bool_:
        raise RuntimeError("Boolean inputs not supported for relu")
    # _where(_lt(a, zero), zero, a), whose types are a's: nan and -0.0 pass through, as in PyTorch
    d, shape = a.dtype, a.shape
    zero = const(0, d, shape)
    negative = make_known(_CMPLT, (a, zero), None, dt.bool_, shape)
    return wrap(make_known(_WHERE, (negative, zero, a), None, d, shape))


def abs(input: Tensor) -> Tensor:  # noqa: A001 - PyTorch's name
    """|input|."""
    a = input.node
    if a.dtype is dt.bool_:
        raise NotImplementedError("\"abs_cpu\" not implemented for 'Bool'")
    if a.dtype.category == "uint":
        return wrap(a)
    out = _where(_lt(a, _c(0, a)), _neg(a), a)
    if a.dtype.is_floating_point:
        out = _add(out, _c(0.0, a))  # -0.0 becomes 0.0
    return wrap(out)


def sign(input: Tensor) -> Tensor:
    """-1, 0 or 1 by the sign of input (0 for nan, as PyTorch)."""
    a = input.node
    if a.dtype is dt.bool_:
        return wrap(a)
    pos = make(Op.CAST, (_lt(_c(0, a), a),), a.dtype)
    neg_ = make(Op.CAST, (_lt(a, _c(0, a)),), a.dtype)
    return wrap(_sub(pos, neg_))


def sgn(input: Tensor) -> Tensor:
    """sign for real tensors."""
    return sign(input)


def _rounding(input: Tensor, fn, kernel: str) -> Tensor:
    if input.dtype is dt.bool_:
        raise NotImplementedError(f"\"{kernel}\" not implemented for 'Bool'")
    if not input.dtype.is_floating_point:
        return wrap(input.node)  # integers are already whole
    return _unary_float(input, fn)


def floor(input: Tensor) -> Tensor:
    """Round down."""
    return _rounding(input, _floor, "floor_vml_cpu")


def ceil(input: Tensor) -> Tensor:
    """Round up."""
    return _rounding(input, lambda a: _neg(_floor(_neg(a))), "ceil_vml_cpu")


def trunc(input: Tensor) -> Tensor:
    """Round toward zero."""
    return _rounding(input, lambda a: make(Op.TRUNC, (a,)), "trunc_vml_cpu")


def fix(input: Tensor) -> Tensor:
    """Round toward zero."""
    return trunc(input)


def frac(input: Tensor) -> Tensor:
    """input - trunc(input)."""
    if not input.dtype.is_floating_point:
        raise NotImplementedError(f"\"frac_cpu\" not implemented for '{_torch_name(input.dtype)}'")
    return _rounding(input, lambda a: _sub(a, make(Op.TRUNC, (a,))), "frac_cpu")


def _round_half_even(a: Node) -> Node:
    # a - floor(a) is exact except in (-0.5, -0.25), where rounding it to 0.5 still picks the right
    # neighbour; floor(a + 0.5) would not be (0.49999997 + 0.5 rounds up to 1.0)
    f = _floor(a)
    frac_part = _sub(a, f)
    half = _mul(f, _c(0.5, a))
    f_odd = _not(_eq(make(Op.TRUNC, (half,)), half))
    point5 = _c(0.5, a)
    up = make(Op.OR, (_lt(point5, frac_part), make(Op.AND, (_eq(frac_part, point5), f_odd))))
    r = _add(f, make(Op.CAST, (up,), a.dtype))
    zero = _c(0.0, a)
    return _where(_eq(r, zero), _mul(a, zero), r)  # -0.3 rounds to -0.0


def round(input: Tensor, *, decimals: int = 0) -> Tensor:  # noqa: A001 - PyTorch's name
    """Round half to even, optionally to `decimals` places (as PyTorch: x * 10**d, round, / 10**d)."""
    if decimals == 0:
        return _rounding(input, _round_half_even, "round_vml_cpu")
    if not input.dtype.is_floating_point:
        raise NotImplementedError(f"\"round_cpu\" not implemented for '{_torch_name(input.dtype)}'")
    scale = 10.0 ** builtins.abs(decimals)
    if decimals > 0:
        return _unary_float(input, lambda a: _true_div(_round_half_even(_mul(a, _c(scale, a))), _c(scale, a)))
    return _unary_float(input, lambda a: _mul(_round_half_even(_true_div(a, _c(scale, a))), _c(scale, a)))


def clamp(input: Tensor, min=None, max=None) -> Tensor:  # noqa: A002 - PyTorch's names
    """min(max(input, min), max); either bound may be None, a number or a tensor."""
    if min is None and max is None:
        raise RuntimeError("torch.clamp: At least one of 'min' or 'max' must not be None")
    bounds = [x for x in (min, max) if x is not None]
    dtype = promote(input, *bounds)
    if dtype is dt.bool_ and (len(bounds) == 2 or not isinstance(bounds[0], Tensor)):
        raise NotImplementedError("\"clamp_cpu\" not implemented for 'Bool'")
    from lazytensor.creation import checked_scalar
    for x in bounds:
        if not isinstance(x, Tensor):
            checked_scalar(x, dtype)
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


def _need_tensors(name: str, **args) -> None:
    for position, (arg, x) in enumerate(args.items(), 1):
        if not isinstance(x, Tensor):
            raise TypeError(f"{name}(): argument '{arg}' (position {position}) must be Tensor, "
                            f"not {type(x).__name__}")


def maximum(input: Tensor, other: Tensor) -> Tensor:
    """Elementwise max; nan wins."""
    _need_tensors("maximum", input=input, other=other)
    return _binary(input, other, _maximum)


def minimum(input: Tensor, other: Tensor) -> Tensor:
    """Elementwise min; nan wins."""
    _need_tensors("minimum", input=input, other=other)
    return _binary(input, other, _minimum)


def lerp(input: Tensor, end: Tensor, weight) -> Tensor:
    """input + weight * (end - input), computed as PyTorch does (exactly end at weight 1)."""
    _need_tensors("lerp", input=input, end=end)
    for name, x in (("end", end), ("weight", weight)):
        if isinstance(x, Tensor) and x.dtype is not input.dtype and (name == "end" or x.ndim):
            raise RuntimeError(f"expected dtype {_short_name(input.dtype)} for `{name}` but got dtype "
                               f"{_short_name(x.dtype)}")
    if not input.dtype.is_floating_point:
        raise NotImplementedError(f"\"lerp_kernel_scalar\" not implemented for '{_torch_name(input.dtype)}'")
    work = _compute_dtype(input.dtype)
    shape = broadcast_shapes(input.shape, end.shape, weight.shape if isinstance(weight, Tensor) else ())
    a, b = operand_nodes((input, end), work, shape)
    w = operand_nodes((weight,), work, shape)[0]
    one, half = _c(1.0, a), _c(0.5, a)
    diff = _sub(b, a)
    low = _add(a, _mul(w, diff))
    high = _sub(b, _mul(diff, _sub(one, w)))
    return wrap(cast_node(_where(_lt(_maximum(w, _neg(w)), half), low, high), input.dtype))


def _short_name(d: dt.DType) -> str:
    return {"float32": "float", "float64": "double", "float16": "half", "int64": "long", "int32": "int",
            "int16": "short", "int8": "char", "uint8": "unsigned char"}.get(d.name, d.name)


def addcmul(input: Tensor, tensor1: Tensor, tensor2: Tensor, *, value=1) -> Tensor:
    """input + value * tensor1 * tensor2 (value taken in the result's dtype)."""
    dtype = promote(input, tensor1, tensor2)
    if dtype is dt.bool_:
        raise NotImplementedError("\"addcmul_cpu_out\" not implemented for 'Bool'")
    shape = broadcast_shapes(input.shape, tensor1.shape, tensor2.shape)
    a, b, c = operand_nodes((input, tensor1, tensor2), dtype, shape)
    return wrap(_add(a, _mul(_mul(b, c), _c(value, a))))


def addcdiv(input: Tensor, tensor1: Tensor, tensor2: Tensor, *, value=1) -> Tensor:
    """input + value * tensor1 / tensor2 (float tensors only, as PyTorch)."""
    if not tensor1.dtype.is_floating_point and not tensor2.dtype.is_floating_point:
        raise RuntimeError("Integer division with addcdiv is no longer supported, and in a future release addcdiv "
                           "will perform a true division of tensor1 and tensor2. The historic addcdiv behavior can "
                           "be implemented as (input + value * torch.trunc(tensor1 / tensor2)).to(input.dtype) for "
                           "integer inputs and as (input + value * tensor1 / tensor2) for float inputs. The future "
                           "addcdiv behavior is just the latter implementation: (input + value * tensor1 / "
                           "tensor2), for all dtypes.")
    dtype = promote(input, tensor1, tensor2)
    shape = broadcast_shapes(input.shape, tensor1.shape, tensor2.shape)
    a, b, c = operand_nodes((input, tensor1, tensor2), dtype, shape)
    return wrap(_add(a, _mul(_true_div(b, c), _c(value, a))))


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
    finfo = np.finfo(a.dtype.np_dtype) if a.dtype is not dt.bfloat16 else None
    big = float(finfo.max) if finfo is not None else 3.3895313892515355e38
    posinf = big if posinf is None else posinf
    neginf = -big if neginf is None else neginf
    out = _where(_isnan(a), _c(nan, a), a)
    out = _where(_eq(a, _c(float("inf"), a)), _c(posinf, a), out)
    out = _where(_eq(a, _c(float("-inf"), a)), _c(neginf, a), out)
    return wrap(out)


# ---- comparisons ----

def _same(d: dt.DType) -> dt.DType:
    return d


def _compare(a, b, fn, name: str) -> Tensor:
    if not isinstance(a, Tensor):
        _need_tensors(name, input=a)
    # a Python number is rounded to the tensor's dtype first: float16 0.1 == 0.1 holds, as in PyTorch
    return _binary(a, b, fn, out_dtype=_to_bool, compute_dtype=_same)


def _to_bool(d: dt.DType) -> dt.DType:
    return dt.bool_


def eq(input, other) -> Tensor:
    """input == other."""
    return _compare(input, other, _eq, "eq")


def ne(input, other) -> Tensor:
    """input != other."""
    return _compare(input, other, lambda a, b: _not(_eq(a, b)), "ne")


def lt(input, other) -> Tensor:
    """input < other."""
    return _compare(input, other, _lt, "lt")


def gt(input, other) -> Tensor:
    """input > other."""
    return _compare(input, other, lambda a, b: _lt(b, a), "gt")


def le(input, other) -> Tensor:
    """input <= other (false with nan)."""
    return _compare(input, other, lambda a, b: make(Op.OR, (_lt(a, b), _eq(a, b))), "le")


def ge(input, other) -> Tensor:
    """input >= other (false with nan)."""
    return _compare(input, other, lambda a, b: make(Op.OR, (_lt(b, a), _eq(a, b))), "ge")


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
    if input.dtype is not other.dtype:
        raise RuntimeError(f"{_torch_name(input.dtype)} did not match {_torch_name(other.dtype)}")
    if input.dtype is dt.bool_:
        return eq(input, other)
    error = abs(sub(input, other))
    close = logical_and(isfinite(error), le(error, add(mul(abs(other), rtol), atol)))
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
    _need_tensors("logical_not", input=input)
    return wrap(_not(_as_bool(input)))


def _logical(a, b, op) -> Tensor:
    _need_tensors(f"logical_{op.name.lower()}", input=a, other=b)
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
    if isinstance(a, Tensor) or isinstance(b, Tensor):
        dtype = promote(a, b)
        if dtype.is_floating_point:
            raise NotImplementedError(f'"{name}_cpu" not implemented for \'{_torch_name(dtype)}\'')
    return _binary(a, b, lambda x, y: make(op, (x, y)))


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
        raise NotImplementedError(f"\"bitwise_not_cpu\" not implemented for '{_torch_name(input.dtype)}'")
    return wrap(_not(input.node))


def _invert(input: Tensor) -> Tensor:
    if input.dtype.is_floating_point:
        raise TypeError("~ (operator.invert) is only implemented on integer and Boolean-type tensors")
    return bitwise_not(input)


def where(condition: Tensor, input=None, other=None) -> Tensor:
    """input where condition holds, else other (broadcast together)."""
    if input is None and other is None:
        from lazytensor.indexing import nonzero
        return nonzero(condition, as_tuple=True)
    if type(condition) is Tensor and type(input) is Tensor and type(other) is Tensor:
        # the common case, without promotion and broadcasting: the same node the general path makes
        c, a, b = condition.node, input.node, other.node
        if c.dtype is dt.bool_ and b.dtype is a.dtype and a.shape == c.shape and b.shape == c.shape:
            return wrap(make_known(_WHERE, (c, a, b), None, a.dtype, c.shape))  # _where(c, a, b)
    if condition.dtype is not dt.bool_:
        raise RuntimeError(f"where expected condition to be a boolean tensor, but got a tensor with dtype "
                           f"{_torch_name(condition.dtype)}")
    dtype = promote(input, other)
    shapes = [condition.shape] + [x.shape for x in (input, other) if isinstance(x, Tensor)]
    shape = broadcast_shapes(*shapes)
    na, nb = operand_nodes((input, other), dtype, shape)
    c = expand_node(_as_bool(condition), shape)
    return wrap(_where(c, na, nb))


def _is_bool(x) -> bool:
    return (isinstance(x, Tensor) and x.dtype is dt.bool_) or isinstance(x, (bool, np.bool_))


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
            bitwise_or, bitwise_xor, bitwise_not, positive]
_INPLACE = [add, sub, mul, div, true_divide, floor_divide, remainder, fmod, neg, pow, exp, exp2, expm1, log, log2,
            log10, log1p, sqrt, rsqrt, reciprocal, square, sin, cos, tan, sigmoid, tanh, sinh, cosh, relu, abs, sign,
            sgn, floor, ceil, trunc, fix, frac, round, clamp, clamp_min, clamp_max, lerp, addcmul, addcdiv, nan_to_num,
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
Tensor.negative, Tensor.absolute = neg, abs
for _alias, _name in (("multiply", "mul"), ("subtract", "sub"), ("divide", "div"), ("negative", "neg"),
                      ("absolute", "abs"), ("greater", "gt"), ("less", "lt"), ("greater_equal", "ge"),
                      ("less_equal", "le"), ("not_equal", "ne")):
    setattr(Tensor, _alias + "_", getattr(Tensor, _name + "_"))


def _where_method(self: Tensor, condition: Tensor, other) -> Tensor:
    """self where condition holds, else other (torch.Tensor.where)."""
    return where(condition, self, other)


def _float_power_(self: Tensor, exponent) -> Tensor:
    """In-place float_power: the tensor must already be float64."""
    if self.dtype is not dt.float64:
        raise RuntimeError(f"the base given to float_power_ has dtype {_torch_name(self.dtype)} but the "
                           "operation's result requires dtype Double")
    return _inplace(float_power)(self, exponent)


Tensor.where = _where_method
Tensor.float_power_ = _float_power_


def _reflected(fn):
    return lambda self, other: fn(other, self)


Tensor.__add__ = add
Tensor.__radd__ = _reflected(add)
Tensor.__iadd__ = lambda self, other: self.add_(other)
Tensor.__sub__ = sub
Tensor.__rsub__ = _reflected(sub)
Tensor.__isub__ = lambda self, other: self.sub_(other)
Tensor.__mul__ = mul
Tensor.__rmul__ = _reflected(mul)
Tensor.__imul__ = lambda self, other: self.mul_(other)
Tensor.__truediv__ = div
Tensor.__rtruediv__ = _reflected(div)
Tensor.__itruediv__ = lambda self, other: self.div_(other)
Tensor.__floordiv__ = floor_divide
Tensor.__rfloordiv__ = _reflected(floor_divide)
Tensor.__ifloordiv__ = lambda self, other: self.floor_divide_(other)
Tensor.__mod__ = remainder
Tensor.__rmod__ = _reflected(remainder)
Tensor.__imod__ = lambda self, other: self.remainder_(other)
Tensor.__pow__ = pow
Tensor.__rpow__ = lambda self, other: pow(other, self) if is_scalar(other) else NotImplemented
Tensor.__ipow__ = lambda self, other: self.pow_(other)
Tensor.__neg__ = neg
Tensor.__pos__ = positive
Tensor.__abs__ = abs
Tensor.__invert__ = _invert
Tensor.__and__ = bitwise_and
Tensor.__rand__ = _reflected(bitwise_and)
Tensor.__iand__ = lambda self, other: self.bitwise_and_(other)
Tensor.__or__ = bitwise_or
Tensor.__ror__ = _reflected(bitwise_or)
Tensor.__ior__ = lambda self, other: self.bitwise_or_(other)
Tensor.__xor__ = bitwise_xor
Tensor.__rxor__ = _reflected(bitwise_xor)
Tensor.__ixor__ = lambda self, other: self.bitwise_xor_(other)
Tensor.__eq__ = lambda self, other: eq(self, other) if isinstance(other, Tensor) or is_scalar(other) else NotImplemented
Tensor.__ne__ = lambda self, other: ne(self, other) if isinstance(other, Tensor) or is_scalar(other) else NotImplemented
Tensor.__lt__ = lt
Tensor.__le__ = le
Tensor.__gt__ = gt
Tensor.__ge__ = ge
