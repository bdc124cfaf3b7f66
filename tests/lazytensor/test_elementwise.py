"""Tests for lazytensor.elementwise: every op, operator, reflected and in-place form, against numpy
and PyTorch.

The sweeps run each op over every dtype and over layouts (contiguous, transposed, narrowed,
strided, expanded, 0-d, empty, broadcast). Against PyTorch (when installed) they compare values,
dtypes, shapes and, where torch raises, the exception type; against numpy they compare values with
a float64 reference. Dedicated tests cover special values (nan, inf, -0.0, overflow, tiny
arguments), Python's rules for // and % on negative operands, pow's corner cases, round half to
even, in-place ops through views, and hypothesis properties.
"""
from __future__ import annotations

import itertools
import math
import zlib

import ml_dtypes
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp

import lazytensor as lt
from lt_testing import FLOAT_TOL, assert_close, to_torch, torch

needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch is not installed")

DTYPES = ["bool", "uint8", "int8", "int16", "int32", "int64", "float16", "bfloat16", "float32", "float64"]
FLOATS = ["float16", "bfloat16", "float32", "float64"]
INTS = ["uint8", "int8", "int16", "int32", "int64"]

UNARY = ["neg", "negative", "positive", "exp", "exp2", "expm1", "log", "log2", "log10", "log1p", "sqrt", "rsqrt",
         "reciprocal", "square", "sin", "cos", "tan", "sigmoid", "tanh", "sinh", "cosh", "relu", "abs", "absolute",
         "sign", "sgn", "floor", "ceil", "trunc", "fix", "frac", "round", "isnan", "isinf", "isposinf", "isneginf",
         "isfinite", "nan_to_num", "logical_not", "bitwise_not"]
BINARY = ["add", "sub", "subtract", "rsub", "mul", "multiply", "div", "divide", "true_divide", "floor_divide",
          "remainder", "fmod", "pow", "float_power", "maximum", "minimum", "eq", "ne", "lt", "gt", "le", "ge",
          "greater", "greater_equal", "less", "less_equal", "not_equal", "logical_and", "logical_or", "logical_xor",
          "bitwise_and", "bitwise_or", "bitwise_xor"]
# integer division by zero raises in PyTorch at once and here only when the graph runs: keep
# divisors non-zero for these
DIVIDES = {"div", "divide", "true_divide", "floor_divide", "remainder", "fmod"}

NAN, INF = float("nan"), float("inf")


# ---- inputs ----

def seed(*parts) -> int:
    """A random seed from the test's parameters, the same in every process."""
    return zlib.crc32(repr(parts).encode())


def np_dtype(name: str):
    return ml_dtypes.bfloat16 if name == "bfloat16" else np.dtype("bool" if name == "bool" else name)


def random_values(rng: np.random.Generator, shape: tuple, name: str, *, special: bool = True,
                  nonzero: bool = False, low: int | None = None, high: int | None = None) -> np.ndarray:
    """Values of dtype `name`: small integers (both signs), or normal floats with some nan, inf,
    -inf, -0.0, huge and tiny values mixed in."""
    if name == "bool":
        a = rng.random(shape) < 0.5
        return np.ones(shape, dtype=bool) if nonzero else np.asarray(a)
    if name in INTS:
        lo = (0 if name == "uint8" else -20) if low is None else low
        hi = 20 if high is None else high
        a = rng.integers(lo, hi, shape)
        if nonzero:
            a = np.where(a == 0, 3, a)
        return np.asarray(a).astype(name)
    a = rng.normal(0.0, 3.0, shape)
    if special and a.size:
        pick = rng.random(shape)
        extra = np.array([NAN, INF, -INF, -0.0, 0.0, 1e4, -1e4, 1e-7, 0.5, -2.5])
        a = np.where(pick < 0.3, extra[rng.integers(0, len(extra), shape)], a)
    return np.asarray(a).astype(np_dtype(name))


# A layout is a base shape and what turns a tensor of that shape into the operand: every op must
# read views (transposed, narrowed, strided, expanded) exactly as contiguous tensors.
LAYOUTS = {
    "contiguous": ((3, 4), lambda x: x),
    "transposed": ((4, 3), lambda x: x.T),
    "narrowed": ((3, 6), lambda x: x.narrow(1, 1, 4)),
    "strided": ((6, 4), lambda x: x[::2]),
    "expanded": ((3, 1), lambda x: x.expand(3, 4)),
    "0-d": ((), lambda x: x),
    "empty": ((0, 4), lambda x: x),
}


def operands(rng, name: str, layout: str, **kw):
    """(lazytensor tensor, torch tensor or None, numpy array): the same values laid out by `layout`."""
    shape, view = LAYOUTS[layout]
    base = random_values(rng, shape, name, **kw)
    a = view(lt.tensor(base))
    t = view(to_torch(base)) if torch is not None else None
    return a, t, np.asarray(view(base) if layout not in ("transposed", "narrowed", "expanded") else {
        "transposed": lambda: base.T, "narrowed": lambda: base[:, 1:5],
        "expanded": lambda: np.broadcast_to(base, (3, 4))}[layout]())


def run(fn, *args, **kwargs):
    """fn(*args) or the exception it raised."""
    try:
        return fn(*args, **kwargs)
    except Exception as e:  # noqa: BLE001 - we compare exception types with torch's
        return e


def check_against_torch(got, want, *, signed_zeros: bool = False):
    """`got` (ours, or our exception) matches `want` (torch's): same exception type, or same dtype,
    shape and values (nan where nan; within the dtype's tolerance)."""
    if isinstance(want, Exception):
        assert isinstance(got, Exception), f"torch raised {type(want).__name__}: {want}; we returned {got!r}"
        assert type(got) is type(want), f"torch raised {type(want).__name__}: {want}; we raised {got!r}"
        return
    if isinstance(got, Exception):
        raise AssertionError(f"we raised {got!r}; torch returned {want!r}") from got
    assert got.dtype.name == str(want.dtype).removeprefix("torch."), (got.dtype, want.dtype)
    assert tuple(got.shape) == tuple(want.shape)
    assert_close(got, want)
    if signed_zeros and got.dtype.is_floating_point:
        g = got.float().numpy().astype(np.float64)
        w = want.float().numpy().astype(np.float64)
        zero = w == 0
        np.testing.assert_array_equal(np.signbit(g[zero]), np.signbit(w[zero]))


def float_result(name: str) -> str:
    return name if name in FLOATS else "float32"


# ---- numpy references (float64 math, then the result dtype) ----

def _np_sigmoid(x):
    e = np.exp(-np.abs(x))
    return np.where(x < 0, e / (1 + e), 1 / (1 + e))


def _np_nan_to_num(x, dtype):
    big = float(ml_dtypes.finfo(dtype.np_dtype).max)
    return np.nan_to_num(x, nan=0.0, posinf=big, neginf=-big)


NP_UNARY = {
    "neg": np.negative, "negative": np.negative, "positive": lambda x: x, "exp": np.exp, "exp2": np.exp2,
    "expm1": np.expm1, "log": np.log, "log2": np.log2, "log10": np.log10, "log1p": np.log1p, "sqrt": np.sqrt,
    "rsqrt": lambda x: 1 / np.sqrt(x), "reciprocal": lambda x: 1 / x, "square": lambda x: x * x,
    "sin": np.sin, "cos": np.cos, "tan": np.tan, "sigmoid": _np_sigmoid, "tanh": np.tanh, "sinh": np.sinh,
    "cosh": np.cosh, "relu": lambda x: np.where(x < 0, 0, x), "abs": np.abs, "absolute": np.abs,
    "sign": lambda x: np.where(np.isnan(x), 0, np.sign(x)), "sgn": lambda x: np.where(np.isnan(x), 0, np.sign(x)),
    "floor": np.floor, "ceil": np.ceil, "trunc": np.trunc, "fix": np.trunc, "frac": lambda x: x - np.trunc(x),
    "round": np.round, "isnan": np.isnan, "isinf": np.isinf, "isposinf": np.isposinf, "isneginf": np.isneginf,
    "isfinite": np.isfinite, "logical_not": np.logical_not,
}
NP_BINARY = {
    "add": np.add, "sub": np.subtract, "subtract": np.subtract, "rsub": lambda a, b: b - a, "mul": np.multiply,
    "multiply": np.multiply, "div": np.true_divide, "divide": np.true_divide, "true_divide": np.true_divide,
    "floor_divide": np.floor_divide, "remainder": np.remainder, "fmod": np.fmod, "pow": np.power,
    "float_power": np.power, "maximum": np.maximum, "minimum": np.minimum, "eq": np.equal, "ne": np.not_equal,
    "lt": np.less, "gt": np.greater, "le": np.less_equal, "ge": np.greater_equal, "greater": np.greater,
    "greater_equal": np.greater_equal, "less": np.less, "less_equal": np.less_equal, "not_equal": np.not_equal,
    "logical_and": np.logical_and, "logical_or": np.logical_or, "logical_xor": np.logical_xor,
    "bitwise_and": np.bitwise_and, "bitwise_or": np.bitwise_or, "bitwise_xor": np.bitwise_xor,
}


def check_against_numpy(got: lt.Tensor, want: np.ndarray, rtol=None):
    """`got` equals the float64/int64 reference `want` once that is rounded to got's dtype."""
    with np.errstate(all="ignore"):
        expected = np.asarray(want).astype(got.dtype.np_dtype)
    assert tuple(got.shape) == expected.shape
    if got.dtype.is_floating_point:
        r, a = FLOAT_TOL[got.dtype]
        np.testing.assert_allclose(got.numpy().astype(np.float64), expected.astype(np.float64),
                                   rtol=rtol or r, atol=a, equal_nan=True)
    else:
        np.testing.assert_array_equal(got.numpy(), expected)


def wide(a: np.ndarray) -> np.ndarray:
    """`a` in float64 (bools and integers too), the numpy references' working type."""
    return np.asarray(a).astype(np.float64)


# ---- unary ops: every dtype, every layout ----

@pytest.mark.parametrize("name", UNARY)
@pytest.mark.parametrize("dtype", DTYPES)
def test_unary_matches_torch_and_numpy(name, dtype):
    rng = np.random.default_rng(seed((name, dtype)))
    fn = getattr(lt, name)
    for layout in LAYOUTS:
        a, t, values = operands(rng, dtype, layout)
        got = run(fn, a)
        if torch is not None:
            check_against_torch(got, run(getattr(torch, name), t))
        if isinstance(got, Exception) or name not in NP_UNARY or dtype == "bfloat16":
            continue
        with np.errstate(all="ignore"):
            if got.dtype.is_floating_point or dtype == "bool":
                want = NP_UNARY[name](wide(values))
            else:
                want = NP_UNARY[name](values)
        check_against_numpy(got, want)


def test_nan_to_num_defaults_and_arguments():
    x = np.array([NAN, INF, -INF, 1.5, -0.0])
    for name in FLOATS:
        d = getattr(lt, name)
        a = lt.tensor(x, dtype=d)
        check_against_numpy(lt.nan_to_num(a), _np_nan_to_num(x, d))
        check_against_numpy(a.nan_to_num(nan=1.0, posinf=2.0, neginf=-3.0), [1.0, 2.0, -3.0, 1.5, -0.0])
        if torch is not None:
            t = torch.tensor(x).to(getattr(torch, name))
            check_against_torch(lt.nan_to_num(a), torch.nan_to_num(t))
            check_against_torch(lt.nan_to_num(a, nan=7.0, neginf=-1.0), torch.nan_to_num(t, nan=7.0, neginf=-1.0))


# ---- binary ops: same dtype over every layout and broadcast; every dtype pair; scalars ----

BROADCASTS = [((3, 4), (4,)), ((3, 1), (1, 4)), ((), (2, 3)), ((2, 3), ()), ((0, 3), (3,)), ((), ()),
              ((2, 1, 3), (4, 1))]


def _binary_operands(rng, name, dtype_a, dtype_b, shape_a, shape_b):
    a = random_values(rng, shape_a, dtype_a)
    b = random_values(rng, shape_b, dtype_b, nonzero=name in DIVIDES or name == "pow",
                      **({"low": 0, "high": 5} if name == "pow" and dtype_b in INTS else {}))
    return a, b


def _check_binary(name, a, b, *, numpy_too=True):
    got = run(getattr(lt, name), lt.tensor(a), lt.tensor(b))
    if torch is not None:
        check_against_torch(got, run(getattr(torch, name), to_torch(a), to_torch(b)))
    if isinstance(got, Exception) or not numpy_too or "bfloat16" in (a.dtype.name, b.dtype.name):
        return got
    with np.errstate(all="ignore"):
        if got.dtype.is_floating_point:
            want = NP_BINARY[name](wide(a), wide(b))
        else:  # integers wrap in their promoted dtype, as PyTorch's do
            work = lt.promote_types(lt.tensor(a).dtype, lt.tensor(b).dtype).np_dtype
            want = NP_BINARY[name](a.astype(work), b.astype(work))
    check_against_numpy(got, want)
    return got


@pytest.mark.parametrize("name", BINARY)
@pytest.mark.parametrize("dtype", DTYPES)
def test_binary_same_dtype_matches_torch_and_numpy(name, dtype):
    rng = np.random.default_rng(seed((name, dtype, 1)))
    fn = getattr(lt, name)
    for shape_a, shape_b in BROADCASTS:
        a, b = _binary_operands(rng, name, dtype, dtype, shape_a, shape_b)
        _check_binary(name, a, b)
    for layout_a, layout_b in [("transposed", "narrowed"), ("strided", "expanded"), ("narrowed", "contiguous")]:
        a, ta, va = operands(rng, dtype, layout_a)
        b, tb, vb = operands(rng, dtype, layout_b, nonzero=name in DIVIDES or name == "pow",
                             **({"low": 0, "high": 5} if name == "pow" and dtype in INTS else {}))
        got = run(fn, a, b)
        if torch is not None:
            check_against_torch(got, run(getattr(torch, name), ta, tb))
        if not isinstance(got, Exception):
            _check_binary(name, np.ascontiguousarray(va), np.ascontiguousarray(vb))


@pytest.mark.parametrize("name", ["add", "sub", "mul", "div", "floor_divide", "remainder", "fmod", "pow", "maximum",
                                  "minimum", "eq", "lt", "ge", "logical_xor", "bitwise_and", "bitwise_xor",
                                  "float_power"])
@needs_torch
def test_binary_every_dtype_pair_matches_torch(name):
    rng = np.random.default_rng(seed((name, 2)))
    for dtype_a, dtype_b in itertools.product(DTYPES, DTYPES):
        a, b = _binary_operands(rng, name, dtype_a, dtype_b, (2, 3), (3,))
        _check_binary(name, a, b, numpy_too=False)


SCALARS = [True, False, 3, -2, 0, 2.5, -0.5, 1e10, np.float32(1.5), np.int64(7)]


@pytest.mark.parametrize("name", ["add", "sub", "mul", "div", "floor_divide", "remainder", "fmod", "pow", "eq",
                                  "ne", "lt", "le", "gt", "ge", "bitwise_and", "bitwise_or", "bitwise_xor",
                                  "true_divide", "rsub", "float_power"])
@needs_torch
def test_binary_with_python_scalars_matches_torch(name):
    rng = np.random.default_rng(seed((name, 3)))
    for dtype in DTYPES:
        for shape in [(2, 3), ()]:
            a = random_values(rng, shape, dtype, nonzero=True)
            for s in SCALARS:
                if name in DIVIDES and s in (0, False) and dtype not in FLOATS:
                    continue  # integer division by zero: see test_integer_division_by_zero_raises
                got = run(getattr(lt, name), lt.tensor(a), s)
                check_against_torch(got, run(getattr(torch, name), to_torch(a), s))
                if name not in ("rsub", "float_power", "true_divide"):
                    # the reflected form: the scalar on the left
                    op = {"add": "__radd__", "sub": "__rsub__", "mul": "__rmul__", "div": "__rtruediv__",
                          "floor_divide": "__rfloordiv__", "remainder": "__rmod__", "pow": "__rpow__",
                          "bitwise_and": "__rand__", "bitwise_or": "__ror__", "bitwise_xor": "__rxor__"}.get(name)
                    if op is None or (name in DIVIDES and not a.all() and dtype not in FLOATS):
                        continue
                    got = run(getattr(lt.tensor(a), op), s)
                    check_against_torch(got, run(getattr(to_torch(a), op), s))


def test_binary_needs_a_tensor():
    with pytest.raises(TypeError):
        lt.add(1, 2)
    with pytest.raises(TypeError):
        lt.tensor([1.0]) + "a"
    with pytest.raises(TypeError):
        lt.tensor([1.0]) + [1.0]


# ---- operators ----

OPERATORS = {
    "+": (lambda a, b: a + b), "-": (lambda a, b: a - b), "*": (lambda a, b: a * b), "/": (lambda a, b: a / b),
    "//": (lambda a, b: a // b), "%": (lambda a, b: a % b), "**": (lambda a, b: a ** b),
    "&": (lambda a, b: a & b), "|": (lambda a, b: a | b), "^": (lambda a, b: a ^ b),
    "==": (lambda a, b: a == b), "!=": (lambda a, b: a != b), "<": (lambda a, b: a < b),
    "<=": (lambda a, b: a <= b), ">": (lambda a, b: a > b), ">=": (lambda a, b: a >= b),
}
UNARY_OPERATORS = {"-x": (lambda a: -a), "+x": (lambda a: +a), "~x": (lambda a: ~a), "abs(x)": (lambda a: abs(a))}


@pytest.mark.parametrize("op", list(OPERATORS))
@needs_torch
def test_operators_match_torch(op):
    fn = OPERATORS[op]
    rng = np.random.default_rng(seed(op))
    for dtype_a, dtype_b in [(d, d) for d in DTYPES] + [("int32", "float32"), ("uint8", "int8"), ("bool", "int64"),
                                                        ("float16", "bfloat16"), ("int64", "float64")]:
        a = random_values(rng, (3, 4), dtype_a)
        b = random_values(rng, (4,), dtype_b, nonzero=op in ("/", "//", "%") or op == "**",
                          **({"low": 0, "high": 4} if op == "**" and dtype_b in INTS else {}))
        check_against_torch(run(fn, lt.tensor(a), lt.tensor(b)), run(fn, to_torch(a), to_torch(b)))
        # reflected: a Python number on the left
        for s in (2, 2.5, True):
            if op in ("/", "//", "%") and not b.all() and dtype_b not in FLOATS:
                continue
            check_against_torch(run(fn, s, lt.tensor(b)), run(fn, s, to_torch(b)))


@pytest.mark.parametrize("op", list(UNARY_OPERATORS))
@needs_torch
def test_unary_operators_match_torch(op):
    fn = UNARY_OPERATORS[op]
    rng = np.random.default_rng(5)
    for dtype in DTYPES:
        a = random_values(rng, (2, 3), dtype)
        check_against_torch(run(fn, lt.tensor(a)), run(fn, to_torch(a)))


def test_reflected_operators_by_hand():
    t = lt.tensor([1.0, 2.0, 4.0])
    assert (2 - t).tolist() == [1.0, 0.0, -2.0]
    assert (2 ** t).tolist() == [2.0, 4.0, 16.0]
    assert (1 / t).tolist() == [1.0, 0.5, 0.25]
    assert (9 // t).tolist() == [9.0, 4.0, 2.0]
    assert (9 % t).tolist() == [0.0, 1.0, 1.0]
    i = lt.tensor([1, 2, 3])
    assert (2 ** i).tolist() == [2, 4, 8] and (2 ** i).dtype is lt.int64
    assert (2.0 ** i).dtype is lt.float32
    assert (6 & i).tolist() == [0, 2, 2] and (6 | i).tolist() == [7, 6, 7] and (6 ^ i).tolist() == [7, 4, 5]
    assert (2 < i).tolist() == [False, False, True] and (2 >= i).tolist() == [True, True, False]
    assert (2 == i).tolist() == [False, True, False]
    # a scalar base of a 0-d tensor is still a Python scalar for promotion
    assert (2 ** lt.tensor(3, dtype=lt.int8)).dtype is lt.int8
    assert (2.0 ** lt.tensor(3.0, dtype=lt.float16)).dtype is lt.float16


def test_comparisons_with_other_objects():
    t = lt.tensor([1, 2])
    assert (t == None) is False  # noqa: E711 - PyTorch's answer
    assert (t != "x") is True
    assert (t == 1).dtype is lt.bool


# ---- other ops with their own signatures ----

@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
def test_clamp_matches_torch(dtype):
    rng = np.random.default_rng(seed(("clamp", dtype)))
    a = random_values(rng, (3, 4), dtype)
    lo = random_values(rng, (4,), dtype)
    hi = random_values(rng, (3, 1), dtype)
    x, t = lt.tensor(a), to_torch(a)
    cases = [dict(min=-1), dict(max=2), dict(min=-1.5, max=2.5), dict(min=3, max=1), dict(min=0.5),
             dict(min=lt.tensor(lo), max=lt.tensor(hi)), dict(min=lt.tensor(lo)), dict(max=lt.tensor(hi)), dict()]
    for kw in cases:
        tkw = {k: (to_torch(v.numpy()) if isinstance(v, lt.Tensor) else v) for k, v in kw.items()}
        for name in ("clamp", "clip"):
            check_against_torch(run(getattr(lt, name), x, **kw), run(getattr(torch, name), t, **tkw))
        check_against_torch(run(x.clamp, **kw), run(t.clamp, **tkw))
    check_against_torch(run(lt.clamp_min, x, 1), run(torch.clamp_min, t, 1))
    check_against_torch(run(lt.clamp_max, x, 1), run(torch.clamp_max, t, 1))


def test_clamp_numpy_reference_and_nan():
    a = np.array([-3.0, -1.0, 0.0, 1.0, 3.0, NAN])
    check_against_numpy(lt.clamp(lt.tensor(a), -1.5, 2.0), np.clip(a, -1.5, 2.0))
    check_against_numpy(lt.clamp(lt.tensor(a), min=lt.tensor(0.0)), np.maximum(a, 0.0))
    assert math.isnan(lt.clamp(lt.tensor([1.0]), min=NAN).item())
    with pytest.raises(RuntimeError, match="At least one of 'min' or 'max'"):
        lt.clamp(lt.tensor([1.0]))


@needs_torch
def test_maximum_minimum_refuse_numbers():
    for name in ("maximum", "minimum"):
        check_against_torch(run(getattr(lt, name), lt.tensor([1]), 2), run(getattr(torch, name), torch.tensor([1]), 2))


@needs_torch
@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32", "float64", "int64"])
def test_lerp_matches_torch(dtype):
    rng = np.random.default_rng(seed(("lerp", dtype)))
    a = random_values(rng, (3, 4), dtype, special=False)
    b = random_values(rng, (4,), dtype, special=False)
    w = random_values(rng, (3, 1), dtype, special=False)
    for weight_l, weight_t in [(0.3, 0.3), (0.75, 0.75), (1.0, 1.0), (0.0, 0.0), (-1.5, -1.5),
                               (lt.tensor(w), to_torch(w))]:
        check_against_torch(run(lt.lerp, lt.tensor(a), lt.tensor(b), weight_l),
                            run(torch.lerp, to_torch(a), to_torch(b), weight_t))
    if dtype == "float32":
        for other in ("float64", "float16"):
            check_against_torch(run(lt.lerp, lt.tensor(a), lt.tensor(b).to(getattr(lt, other)), 0.5),
                                run(torch.lerp, to_torch(a), to_torch(b).to(getattr(torch, other)), 0.5))
            check_against_torch(run(lt.lerp, lt.tensor(a), lt.tensor(b), lt.tensor(w).to(getattr(lt, other))),
                                run(torch.lerp, to_torch(a), to_torch(b), to_torch(w).to(getattr(torch, other))))


def test_lerp_hits_end_exactly_at_weight_one():
    a = lt.tensor([0.1, 1e8, -3.3])
    b = lt.tensor([0.7, 1.0, 1e-8])
    assert lt.lerp(a, b, 1.0).tolist() == b.tolist()
    assert lt.lerp(a, b, 0.0).tolist() == a.tolist()


@needs_torch
@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "int64", "int32", "uint8"])
def test_addcmul_addcdiv_match_torch(dtype):
    rng = np.random.default_rng(seed(("addc", dtype)))
    a, b, c = (random_values(rng, s, dtype, special=False, nonzero=True) for s in [(3, 4), (4,), (3, 1)])
    for value in (1, 2, 0.5, -1):
        for name in ("addcmul", "addcdiv"):
            check_against_torch(run(getattr(lt, name), lt.tensor(a), lt.tensor(b), lt.tensor(c), value=value),
                                run(getattr(torch, name), to_torch(a), to_torch(b), to_torch(c), value=value))
    check_against_numpy(lt.addcmul(lt.tensor(a), lt.tensor(b), lt.tensor(c), value=2),
                        a.astype(np.float64) + 2 * b.astype(np.float64) * c.astype(np.float64))


@needs_torch
def test_isclose_allclose_equal_match_torch():
    a = np.array([1.0, 1.0 + 1e-6, 1.1, NAN, INF, -INF, 0.0, 1e-9])
    b = np.array([1.0, 1.0, 1.0, NAN, INF, INF, 1e-9, 0.0])
    for dtype in ("float32", "float64", "float16"):
        x, y = lt.tensor(a, dtype=getattr(lt, dtype)), lt.tensor(b, dtype=getattr(lt, dtype))
        tx, ty = torch.tensor(a).to(getattr(torch, dtype)), torch.tensor(b).to(getattr(torch, dtype))
        for kw in (dict(), dict(equal_nan=True), dict(rtol=0.2), dict(atol=1e-8, rtol=0)):
            check_against_torch(lt.isclose(x, y, **kw), torch.isclose(tx, ty, **kw))
            assert lt.allclose(x[:3], y[:3], **kw) == torch.allclose(tx[:3], ty[:3], **kw)
        assert lt.equal(x, x) == torch.equal(tx, tx)  # nan != nan
        assert lt.equal(x[:3], x[:3]) and not lt.equal(x, y) and not lt.equal(x[:2], x[:3])
    ints = lt.tensor([1, 5, 7])
    check_against_torch(run(lt.isclose, ints, ints + 1, atol=1), run(torch.isclose, torch.tensor([1, 5, 7]),
                                                                     torch.tensor([2, 6, 8]), atol=1))
    check_against_torch(run(lt.isclose, lt.tensor([True]), lt.tensor([True])),
                        run(torch.isclose, torch.tensor([True]), torch.tensor([True])))
    for d in ("float64", "int64"):
        check_against_torch(run(lt.isclose, lt.tensor([1.0]), lt.tensor([1.0]).to(getattr(lt, d))),
                            run(torch.isclose, torch.tensor([1.0]), torch.tensor([1.0]).to(getattr(torch, d))))
        assert type(run(lt.allclose, lt.tensor([1.0]), lt.tensor([1.0]).to(getattr(lt, d)))) is \
            type(run(torch.allclose, torch.tensor([1.0]), torch.tensor([1.0]).to(getattr(torch, d))))
    assert lt.equal(lt.tensor([1, 2]), lt.tensor([1.0, 2.0])) == torch.equal(torch.tensor([1, 2]),
                                                                             torch.tensor([1.0, 2.0]))


@needs_torch
def test_where_matches_torch():
    rng = np.random.default_rng(11)
    cond = rng.random((3, 4)) < 0.5
    for dtype_a, dtype_b in [("float32", "float32"), ("int32", "float64"), ("int16", "int16"), ("bool", "uint8"),
                             ("float16", "bfloat16")]:
        a = random_values(rng, (3, 1), dtype_a)
        b = random_values(rng, (4,), dtype_b)
        check_against_torch(lt.where(lt.tensor(cond), lt.tensor(a), lt.tensor(b)),
                            torch.where(torch.tensor(cond), to_torch(a), to_torch(b)))
        for s in (2, 2.5, True):
            check_against_torch(lt.where(lt.tensor(cond), lt.tensor(a), s),
                                torch.where(torch.tensor(cond), to_torch(a), s))
            check_against_torch(lt.where(lt.tensor(cond), s, lt.tensor(b)),
                                torch.where(torch.tensor(cond), s, to_torch(b)))
    check_against_torch(lt.where(lt.tensor(cond), 1.0, 0), torch.where(torch.tensor(cond), 1.0, 0))
    check_against_torch(lt.where(lt.tensor(cond), 1, 0), torch.where(torch.tensor(cond), 1, 0))
    check_against_torch(run(lt.where, lt.tensor([1, 0]), 1, 0), run(torch.where, torch.tensor([1, 0]), 1, 0))
    check_against_torch(lt.tensor(a).T.where(lt.tensor(cond).T, 0.0), to_torch(a).T.where(torch.tensor(cond).T, 0.0))
    np.testing.assert_array_equal(lt.where(lt.tensor(cond), 1, 0).numpy(), np.where(cond, 1, 0))


# ---- special values ----

@needs_torch
@pytest.mark.parametrize("dtype", FLOATS)
def test_special_values_unary(dtype):
    values = np.array([NAN, INF, -INF, 0.0, -0.0, 1e-30, -1e-30, 1e-8, -1e-8, 1e-4, 0.5, -0.5, 1.5, -2.5, 88.0,
                       89.0, -89.0, 100.0, -100.0, 710.0, -710.0, 1e5, -1e5, 3e38, -3e38, np.pi / 2, np.pi])
    x = lt.tensor(values, dtype=getattr(lt, dtype))
    t = torch.tensor(values).to(getattr(torch, dtype))
    for name in UNARY:
        check_against_torch(run(getattr(lt, name), x), run(getattr(torch, name), t))


@needs_torch
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_signed_zeros(dtype):
    values = np.array([-0.0, 0.0, -0.3, 0.3, -0.5, 0.5, -1e-30, 1e-30, -1.0])
    x = lt.tensor(values, dtype=getattr(lt, dtype))
    t = torch.tensor(values).to(getattr(torch, dtype))
    for name in ["neg", "abs", "ceil", "floor", "trunc", "fix", "round", "tanh", "sinh", "sign", "frac", "square",
                 "expm1", "log1p", "sin", "relu"]:
        check_against_torch(getattr(lt, name)(x), getattr(torch, name)(t), signed_zeros=True)
    for other in (1.0, -1.0, 3.0, -3.0, INF, -INF):
        for name in ["mul", "div", "remainder", "fmod", "floor_divide"]:
            check_against_torch(getattr(lt, name)(x, other), getattr(torch, name)(t, other), signed_zeros=True)
    check_against_torch(x * 0, t * 0, signed_zeros=True)
    check_against_torch(lt.round(x, decimals=1), torch.round(t, decimals=1), signed_zeros=True)


def test_large_and_tiny_arguments():
    # overflow to inf where the true value overflows, and not before
    big = lt.tensor([88.0, 89.0, 100.0, -100.0])
    np.testing.assert_array_equal(np.isinf(lt.exp(big).numpy()), [False, True, True, False])
    assert lt.cosh(lt.tensor(89.0)).item() == pytest.approx(math.cosh(89.0), rel=1e-5)  # e**89 overflows float32
    assert lt.sinh(lt.tensor(-89.0)).item() == pytest.approx(math.sinh(-89.0), rel=1e-5)
    assert lt.sigmoid(lt.tensor(-100.0)).item() == pytest.approx(math.exp(-100.0), rel=1e-5)  # not 0
    assert lt.sigmoid(lt.tensor(100.0)).item() == 1.0
    assert lt.tanh(lt.tensor([100.0, -100.0])).tolist() == [1.0, -1.0]
    assert lt.sigmoid(lt.tensor([-INF, INF])).tolist() == [0.0, 1.0]
    # near 0 the accurate forms keep full relative precision
    for fn, ref in [(lt.log1p, math.log1p), (lt.expm1, math.expm1), (lt.tanh, math.tanh), (lt.sinh, math.sinh),
                    (lt.sin, math.sin), (lt.tan, math.tan)]:
        for v in (1e-10, -1e-10, 3e-7, 1e-4, -2e-5):
            for dtype, rel in ((lt.float32, 2e-7), (lt.float64, 1e-15)):
                assert fn(lt.tensor(v, dtype=dtype)).item() == pytest.approx(ref(v), rel=rel, abs=0), (fn, v)
    assert lt.cos(lt.tensor(1e-10)).item() == 1.0
    assert lt.cos(lt.tensor(np.float32(np.pi / 2))).item() == pytest.approx(-4.371139e-08, rel=1e-6)
    # large arguments to cos and tan: accurate to the float's precision, like PyTorch's
    for v in (1e5, 12345.678, 1e10, 3e38):
        x32 = float(np.float32(v))
        assert lt.cos(lt.tensor(x32)).item() == pytest.approx(math.cos(x32), abs=1e-7)
        assert lt.cos(lt.tensor(v, dtype=lt.float64)).item() == pytest.approx(math.cos(v), abs=1e-15)


def test_true_division_is_correctly_rounded():
    # the IR divides as a * (1 / b): these would be an ulp off without the correction
    assert (lt.tensor(49.0, dtype=lt.float64) / 49).item() == 1.0
    assert (lt.tensor([3.0], dtype=lt.float64) / lt.tensor([10.0], dtype=lt.float64)).item() == 0.3
    rng = np.random.default_rng(0)
    for dtype in (np.float64, np.float32, np.float16):
        with np.errstate(over="ignore"):  # some overflow float16: inf operands are fine too
            a = (rng.standard_normal(3000) * np.exp(rng.uniform(-30, 30, 3000))).astype(dtype)
            b = (rng.standard_normal(3000) * np.exp(rng.uniform(-30, 30, 3000))).astype(dtype)
        a[:500], b[:500] = rng.integers(-1000, 1000, 500), rng.integers(1, 100, 500)
        with np.errstate(all="ignore"):
            np.testing.assert_array_equal((lt.tensor(a) / lt.tensor(b)).numpy(), a / b)
        np.testing.assert_array_equal(lt.div(lt.tensor(a[:500]), lt.tensor(b[:500]), rounding_mode="trunc").numpy(),
                                      np.trunc(a[:500] / b[:500]))
    # 1 / b overflows for subnormal b; the quotient must not
    tiny = np.array([0.0, 1.0, -3.0, 1e-300, 1e300])
    by = np.array([2.2e-311, 1e-310, 4.9e-324, 2e-310, 1e-300])
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal((lt.tensor(tiny) / lt.tensor(by)).numpy(), tiny / by)
    x = lt.tensor([1.0, -1.0, 0.0, INF, -INF, NAN, 5.0])
    y = lt.tensor([0.0, 0.0, 0.0, INF, 2.0, 1.0, -INF])
    with np.errstate(all="ignore"):
        check_against_numpy(x / y, np.array([1.0, -1.0, 0.0, INF, -INF, NAN, 5.0]) / np.array(
            [0.0, 0.0, 0.0, INF, 2.0, 1.0, -INF]))


# ---- integer division and remainder ----

@pytest.mark.parametrize("dtype", INTS)
def test_integer_floor_division_and_remainder_follow_python(dtype):
    lo = 0 if dtype == "uint8" else -9
    a = np.array([x for x in range(lo, 10) for y in range(lo, 6) if y], dtype=dtype)
    b = np.array([y for x in range(lo, 10) for y in range(lo, 6) if y], dtype=dtype)
    x, y = lt.tensor(a), lt.tensor(b)
    assert (x // y).tolist() == [int(p) // int(q) for p, q in zip(a, b)]
    assert (x % y).tolist() == [int(p) % int(q) for p, q in zip(a, b)]
    assert lt.div(x, y, rounding_mode="floor").tolist() == [int(p) // int(q) for p, q in zip(a, b)]
    assert lt.div(x, y, rounding_mode="trunc").tolist() == [int(p / q) for p, q in zip(a, b)]
    assert lt.fmod(x, y).tolist() == [int(math.fmod(p, q)) for p, q in zip(a, b)]
    assert (x // y).dtype.name == dtype and lt.div(x, y, rounding_mode="trunc").dtype.name == dtype
    assert (x / y).dtype is lt.float32
    # with Python numbers on either side
    for s in (3, -3, 7) if dtype != "uint8" else (3, 7):
        assert (x // s).tolist() == [int(np.array(p, dtype=dtype)) // s for p in a]
        assert (x % s).tolist() == [int(p) % s for p in a]
    if torch is not None:
        t, u = to_torch(a), to_torch(b)
        for mode in (None, "trunc", "floor"):
            check_against_torch(lt.div(x, y, rounding_mode=mode), torch.div(t, u, rounding_mode=mode))
        check_against_torch(lt.remainder(x, y), torch.remainder(t, u))
        check_against_torch(lt.fmod(x, y), torch.fmod(t, u))


def test_integer_extremes_wrap_like_torch():
    i8 = lt.tensor([-128, 127, -1], dtype=lt.int8)
    assert (-i8).tolist() == [-128, -127, 1]
    assert lt.abs(i8).tolist() == [-128, 127, 1]
    assert (i8 // -1).tolist() == [-128, -127, 1]
    assert (i8 + 1).tolist() == [-127, -128, 0]
    u8 = lt.tensor([0, 5, 255], dtype=lt.uint8)
    assert (-u8).tolist() == [0, 251, 1]
    assert (u8 + 300).tolist() == [44, 49, 43]  # the Python int wraps into uint8, as in PyTorch
    assert (u8 * -1).tolist() == [0, 251, 1]
    assert (u8 % -3).tolist() == [0, 5, 2]  # -3 is 253 as uint8
    big = lt.tensor([2 ** 62], dtype=lt.int64)
    assert (big * 2).tolist() == [-2 ** 63]
    if torch is not None:
        check_against_torch(u8 + 300, torch.tensor([0, 5, 255], dtype=torch.uint8) + 300)
        check_against_torch(lt.tensor([1.0], dtype=lt.float16) + 70000,
                            torch.tensor([1.0], dtype=torch.float16) + 70000)


def test_integer_division_by_a_python_zero_raises_at_the_op():
    # PyTorch raises RuntimeError('ZeroDivisionError') at the op; so do we when the divisor is a
    # Python number, and the error is also a ZeroDivisionError (Python's own 1 // 0)
    t = lt.tensor([1, 2])
    for expr in (lambda: t // 0, lambda: t % 0, lambda: lt.fmod(t, 0), lambda: t.remainder(False),
                 lambda: lt.div(t, 0, rounding_mode="trunc"), lambda: lt.div(t, 0, rounding_mode="floor")):
        with pytest.raises(RuntimeError, match="^ZeroDivisionError$") as info:
            expr()  # nothing observed: the op itself raises
        assert isinstance(info.value, ZeroDivisionError)
    assert (lt.tensor([1.0]) // 0).tolist() == [float("inf")]  # float division by zero is IEEE
    assert (t / 0).tolist() == [float("inf")] * 2
    if torch is not None:
        with pytest.raises(RuntimeError, match="^ZeroDivisionError$"):
            torch.tensor([1, 2]) // 0


def test_integer_division_by_a_zero_in_a_tensor_raises_when_the_graph_runs():
    for expr in (lambda: lt.tensor([1, 2]) // lt.tensor([1, 0]), lambda: lt.tensor([1, 2]) % lt.tensor([0, 1]),
                 lambda: lt.fmod(lt.tensor([1]), lt.tensor([0])),
                 lambda: lt.div(lt.tensor([1]), lt.tensor([0]), rounding_mode="trunc"),
                 lambda: 7 // lt.tensor([0])):
        pending = expr()
        with pytest.raises(RuntimeError, match="ZeroDivisionError: integer") as info:
            pending.tolist()
        assert isinstance(info.value, ZeroDivisionError)


@needs_torch
def test_float_floor_division_and_remainder_with_negatives_and_specials():
    # (PyTorch's vectorized fmod loses huge quotients: 1e300 % 1e-30 is nan there but 3.6e-31
    # exactly, which numpy checks below)
    vals = [5.0, -5.0, 5.5, -5.5, 0.0, -0.0, 0.25, 7.0, -7.0, 1e3, INF, -INF, NAN, 3.0]
    a = np.array([x for x in vals for y in vals])
    b = np.array([y for x in vals for y in vals])
    for dtype in ("float32", "float64", "float16", "bfloat16"):
        x, y = lt.tensor(a, dtype=getattr(lt, dtype)), lt.tensor(b, dtype=getattr(lt, dtype))
        t, u = torch.tensor(a).to(getattr(torch, dtype)), torch.tensor(b).to(getattr(torch, dtype))
        for mode in (None, "trunc", "floor"):
            check_against_torch(lt.div(x, y, rounding_mode=mode), torch.div(t, u, rounding_mode=mode))
        check_against_torch(x // y, t // u)
        check_against_torch(x % y, t % u)
        check_against_torch(lt.fmod(x, y), torch.fmod(t, u))
    a = np.concatenate([a, [1e300, -1e300, 1e300, 7.5e-300]])
    b = np.concatenate([b, [1e-30, 3.0, -7.0, 2e-310]])
    with np.errstate(all="ignore"):
        x, y = lt.tensor(a, dtype=lt.float64), lt.tensor(b, dtype=lt.float64)
        check_against_numpy(x % y, np.remainder(a, b))
        check_against_numpy(lt.fmod(x, y), np.fmod(a, b))
        finite = np.isfinite(a) & np.isfinite(b) & (b != 0)
        check_against_numpy(x[lt.tensor(finite)] // y[lt.tensor(finite)], np.floor_divide(a[finite], b[finite]))


def test_div_rounding_mode_errors():
    with pytest.raises(RuntimeError, match="rounding_mode"):
        lt.div(lt.tensor([1.0]), 2, rounding_mode="round")
    for mode in ("trunc", "floor"):
        with pytest.raises(NotImplementedError, match="Bool"):
            lt.div(lt.tensor([True]), lt.tensor([True]), rounding_mode=mode)
    assert lt.div(lt.tensor([True, False]), lt.tensor([True, True])).tolist() == [1.0, 0.0]


# ---- pow ----

@needs_torch
@pytest.mark.parametrize("dtype", FLOATS)
def test_pow_special_values_match_torch(dtype):
    xs = [1.0, -1.0, 0.0, -0.0, -INF, INF, NAN, -2.0, 2.0, 0.5, -0.5, 3.0, -3.0, 1e30, -1e30]
    ys = [0.0, -0.0, NAN, INF, -INF, 0.5, -0.5, 3.0, -3.0, 2.0, -2.0, 1.5, 7.0, -7.0, 40.0]
    a = np.array([x for x in xs for y in ys])
    b = np.array([y for x in xs for y in ys])
    x, y = lt.tensor(a, dtype=getattr(lt, dtype)), lt.tensor(b, dtype=getattr(lt, dtype))
    t, u = torch.tensor(a).to(getattr(torch, dtype)), torch.tensor(b).to(getattr(torch, dtype))
    check_against_torch(x ** y, t ** u, signed_zeros=dtype != "float16")
    for e in (0, 1, 2, 3, -1, -2, 2.5, -1.5, 64, 65, -65, 0.5, -0.5, True, 2.0):
        check_against_torch(x ** e, t ** e, signed_zeros=dtype not in ("float16", "bfloat16") and e not in (0.5, -0.5))
        check_against_torch(e ** x, e ** t, signed_zeros=True)
    if dtype == "float64":
        with np.errstate(all="ignore"):
            check_against_numpy(x ** y, np.power(a, b))


def test_pow_integers():
    i = lt.tensor([-3, -2, -1, 0, 1, 2, 3])
    assert (i ** 0).tolist() == [1] * 7
    assert (i ** 3).tolist() == [-27, -8, -1, 0, 1, 8, 27]
    assert (lt.tensor(0) ** 0).item() == 1
    assert (lt.tensor(0.0) ** 0.0).item() == 1.0
    assert (lt.tensor([0.0]) ** lt.tensor([0.0])).tolist() == [1.0]
    with pytest.raises(RuntimeError, match="Integers to negative integer powers are not allowed"):
        i ** -1
    with pytest.raises(RuntimeError, match="Integers to negative integer powers are not allowed"):
        i.pow(-2)
    # a negative exponent tensor is allowed: 1 and -1 keep their magnitude, everything else is 0
    assert (i ** lt.tensor([-1, -2, -3, -1, -1, -2, -3])).tolist() == [0, 0, -1, 0, 1, 0, 0]
    assert (i ** lt.tensor(-2)).tolist() == [0, 0, 1, 0, 1, 0, 0]
    # exact, wrapping like C: float pow would be off by one here
    assert (lt.tensor([3], dtype=lt.int64) ** lt.tensor([39])).item() == 3 ** 39
    assert (lt.tensor([3]) ** lt.tensor([63])).item() == (3 ** 63 + 2 ** 63) % 2 ** 64 - 2 ** 63
    # a 0-d exponent takes the base's dtype: 200 is -56 as int8, so this is 0, as in PyTorch
    assert (lt.tensor([2, 3], dtype=lt.int8) ** lt.tensor(200)).tolist() == [0, 0]
    assert (lt.tensor([2, 3], dtype=lt.int16) ** lt.tensor(9)).tolist() == [512, (3 ** 9 + 2 ** 15) % 2 ** 16 - 2 ** 15]
    assert (lt.tensor([19], dtype=lt.uint8) ** lt.tensor([3], dtype=lt.uint8)).item() == 19 ** 3 % 256
    assert (i ** 2.5).dtype is lt.float32 and math.isnan((i ** 2.5)[0].item())
    assert (i ** lt.tensor(2.0)).dtype is lt.float32
    with pytest.raises(NotImplementedError, match="Bool"):
        lt.tensor([True]) ** lt.tensor([True])
    assert (lt.tensor([True, False]) ** 2).tolist() == [1, 0]
    assert (2 ** lt.tensor([True, False])).tolist() == [2, 1]
    if torch is not None:
        for base in ([-3, 0, 2, 7], [1, -1, 5, -5]):
            for exp in ([0, 1, 2, 3], [-1, -2, 3, 0], [62, 63, 31, 7]):
                for dtype in ("int8", "int16", "int32", "int64"):
                    check_against_torch(lt.tensor(base, dtype=getattr(lt, dtype)) ** lt.tensor(exp),
                                        torch.tensor(base, dtype=getattr(torch, dtype)) ** torch.tensor(exp))
        check_against_torch(lt.pow(2, lt.tensor([-1, 2])), torch.pow(2, torch.tensor([-1, 2])))


def test_pow_negative_base_and_integer_exponents():
    x = lt.tensor([-2.0, -0.5, -3.0])
    assert (x ** 2).tolist() == [4.0, 0.25, 9.0]
    assert (x ** 3).tolist() == [-8.0, -0.125, -27.0]
    assert (x ** -1).tolist() == [-0.5, -2.0, pytest.approx(-1 / 3)]
    assert (x ** lt.tensor([3.0, 2.0, -1.0])).tolist() == [-8.0, 0.25, pytest.approx(-1 / 3)]
    assert all(math.isnan(v) for v in (x ** 0.5).tolist())
    assert lt.float_power(lt.tensor([2, 3]), 2).tolist() == [4.0, 9.0]
    assert lt.float_power(lt.tensor([2, 3]), 2).dtype is lt.float64
    assert lt.float_power(2, lt.tensor([0.5])).dtype is lt.float64


# ---- round ----

def test_round_half_to_even():
    x = lt.tensor([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 0.49999997, -0.49999997, 2.5000002, 8388609.0, 1e20])
    assert lt.round(x).tolist() == [0.0, 2.0, 2.0, -0.0, -2.0, -2.0, 0.0, -0.0, 3.0, 8388609.0, float(np.float32(1e20))]
    d = lt.tensor([0.5, 1.5, 2.5, 4503599627370497.0, 0.49999999999999994], dtype=lt.float64)
    assert lt.round(d).tolist() == [0.0, 2.0, 2.0, 4503599627370497.0, 0.0]
    np.testing.assert_array_equal(lt.round(lt.tensor(np.arange(-10, 10) + 0.5)).numpy(),
                                  np.round(np.arange(-10, 10) + 0.5).astype(np.float32))
    assert lt.round(lt.tensor([7, -3])).tolist() == [7, -3]


@needs_torch
@pytest.mark.parametrize("dtype", FLOATS)
def test_round_decimals_matches_torch(dtype):
    rng = np.random.default_rng(seed(("round", dtype)))
    a = np.concatenate([rng.normal(0, 1000, 50), [0.125, 2.675, 1234.5678, -0.5, 0.05, -1.25, 1.005]])
    x, t = lt.tensor(a, dtype=getattr(lt, dtype)), torch.tensor(a).to(getattr(torch, dtype))
    for decimals in (0, 1, 2, 3, -1, -2):
        check_against_torch(lt.round(x, decimals=decimals), torch.round(t, decimals=decimals))
        check_against_torch(x.round(decimals=decimals), t.round(decimals=decimals))
    check_against_torch(run(lt.round, lt.tensor([1, 2]), decimals=1),
                        run(torch.round, torch.tensor([1, 2]), decimals=1))


# ---- error types for unsupported dtypes ----

@needs_torch
def test_bool_and_float_refusals_match_torch():
    b, f, i = lt.tensor([True, False]), lt.tensor([1.5]), lt.tensor([3])
    tb, tf, ti = torch.tensor([True, False]), torch.tensor([1.5]), torch.tensor([3])
    cases = [
        (lambda m, b, f, i: b - b), (lambda m, b, f, i: b - i), (lambda m, b, f, i: i - True),
        (lambda m, b, f, i: 1 - b), (lambda m, b, f, i: m.rsub(b, 1)), (lambda m, b, f, i: -b),
        (lambda m, b, f, i: +b), (lambda m, b, f, i: abs(b)), (lambda m, b, f, i: m.floor(b)),
        (lambda m, b, f, i: m.frac(i)), (lambda m, b, f, i: m.relu(b)), (lambda m, b, f, i: ~f),
        (lambda m, b, f, i: m.bitwise_not(f)), (lambda m, b, f, i: f & 1), (lambda m, b, f, i: i | 1.5),
        (lambda m, b, f, i: m.bitwise_xor(f.double(), i)), (lambda m, b, f, i: b // b), (lambda m, b, f, i: b % b),
        (lambda m, b, f, i: m.fmod(b, b)), (lambda m, b, f, i: b ** b), (lambda m, b, f, i: m.add(i, i, alpha=0.5)),
        (lambda m, b, f, i: m.add(f, f, alpha=True)), (lambda m, b, f, i: m.add(b, b, alpha=2)),
        (lambda m, b, f, i: m.sub(i, 1, alpha=2)), (lambda m, b, f, i: m.add(i, f, alpha=2)),
        (lambda m, b, f, i: m.lerp(i, i, 0.5)), (lambda m, b, f, i: m.addcdiv(i, i, i)),
        (lambda m, b, f, i: m.logical_and(i, 1)), (lambda m, b, f, i: m.logical_not(1)),
        (lambda m, b, f, i: m.sign(b)), (lambda m, b, f, i: m.square(b)), (lambda m, b, f, i: m.exp(b)),
        (lambda m, b, f, i: m.clamp(b, 0, 1)), (lambda m, b, f, i: b + b), (lambda m, b, f, i: b * True),
        (lambda m, b, f, i: b & True), (lambda m, b, f, i: m.bitwise_and(b, i)), (lambda m, b, f, i: b / True),
    ]
    for case in cases:
        check_against_torch(run(case, lt, b, f, i), run(case, torch, tb, tf, ti))


# ---- in-place forms ----

INPLACE = {
    "add_": (1.5,), "sub_": (2,), "mul_": (-3,), "div_": (4.0,), "true_divide_": (2.0,), "floor_divide_": (2,),
    "remainder_": (3,), "fmod_": (-3,), "pow_": (2,), "neg_": (), "exp_": (), "exp2_": (), "expm1_": (), "log_": (),
    "log2_": (), "log10_": (), "log1p_": (), "sqrt_": (), "rsqrt_": (), "reciprocal_": (), "square_": (),
    "sin_": (), "cos_": (), "tan_": (), "sigmoid_": (), "tanh_": (), "sinh_": (), "cosh_": (), "relu_": (),
    "abs_": (), "sign_": (), "floor_": (), "ceil_": (), "trunc_": (), "fix_": (), "frac_": (), "round_": (),
    "clamp_": (-1, 1), "clamp_min_": (0.5,), "clamp_max_": (0.5,), "clip_": (-2, 2), "nan_to_num_": (),
    "eq_": (1,), "ne_": (1,), "lt_": (1,), "gt_": (1,), "le_": (1,), "ge_": (1,), "logical_not_": (),
    "logical_and_": (None,), "logical_or_": (None,), "logical_xor_": (None,), "bitwise_and_": (6,),
    "bitwise_or_": (6,), "bitwise_xor_": (6,), "bitwise_not_": (), "lerp_": (None, 0.25), "addcmul_": (None, None),
    "addcdiv_": (None, None),
}


def _inplace_args(args, make_other):
    return tuple(make_other() if a is None else a for a in args)


@needs_torch
@pytest.mark.parametrize("method", list(INPLACE))
def test_inplace_matches_torch_through_views(method):
    rng = np.random.default_rng(seed(method))
    for dtype in ("float32", "int32", "float64", "bool", "float16", "uint8"):
        base = random_values(rng, (4, 5), dtype, special=False, nonzero=True)
        other = random_values(rng, (4, 5), dtype, special=False, nonzero=True)
        views = [
            ("whole", lambda x: x), ("transposed", lambda x: x.T), ("narrowed", lambda x: x.narrow(1, 1, 3)),
            ("sliced", lambda x: x[:, 1:]), ("strided", lambda x: x[::2, ::2]), ("row", lambda x: x[1]),
        ]
        for _, view in views:
            x, t = lt.tensor(base), to_torch(base)
            lo, to = view(lt.tensor(other)), view(to_torch(other))
            args_l = _inplace_args(INPLACE[method], lambda: lo)
            args_t = _inplace_args(INPLACE[method], lambda: to)
            vx, vt = view(x), view(t)
            got = run(getattr(vx, method), *args_l)
            want = run(getattr(vt, method), *args_t)
            check_against_torch(got, want)
            if isinstance(want, Exception):
                assert_close(x, t)  # a refused op leaves the tensor as it was
                continue
            assert got is vx
            check_against_torch(x, t)  # the write reached the base, and only the viewed elements


def test_inplace_refuses_results_it_cannot_hold():
    x = lt.tensor([1, 2, 3])
    with pytest.raises(RuntimeError, match="result type Float can't be cast to the desired output type Long"):
        x.add_(1.5)
    with pytest.raises(RuntimeError, match="result type Float can't be cast to the desired output type Long"):
        x.div_(2)
    with pytest.raises(RuntimeError, match="result type Float can't be cast to the desired output type Long"):
        x.sqrt_()
    with pytest.raises(RuntimeError, match="result type Double can't be cast to the desired output type Int"):
        lt.tensor([1], dtype=lt.int32).mul_(lt.tensor([1.5], dtype=lt.float64))
    with pytest.raises(RuntimeError, match="result type Long can't be cast to the desired output type Bool"):
        lt.tensor([True]).add_(1)
    with pytest.raises(RuntimeError, match=r"output with shape \[3\] doesn't match the broadcast shape \[2, 3\]"):
        lt.ones(3).add_(lt.ones(2, 3))
    assert x.tolist() == [1, 2, 3]
    # casting down inside a category is allowed: the result is computed wide, then stored
    h = lt.tensor([1.0], dtype=lt.float16)
    h.add_(lt.tensor([1e-4], dtype=lt.float64))
    assert h.dtype is lt.float16 and h.item() == 1.0
    u = lt.tensor([250], dtype=lt.uint8)
    u.add_(lt.tensor([10]))
    assert u.dtype is lt.uint8 and u.item() == 4
    f = lt.tensor([1.0, 2.0])
    f.lt_(1.5)
    assert f.dtype is lt.float32 and f.tolist() == [1.0, 0.0]


def test_inplace_operators_rebind_the_same_tensor():
    x = lt.tensor([[1.0, 2.0], [3.0, 4.0]])
    y = x
    x += 1
    x *= 2
    x -= 1
    x /= 2
    x **= 2
    x //= 1
    x %= 5
    assert y is x
    np.testing.assert_array_equal(x.numpy(), (((((np.array([[1.0, 2.0], [3.0, 4.0]]) + 1) * 2 - 1) / 2) ** 2)
                                              // 1) % 5)
    i = lt.tensor([12, 10])
    j = i
    i &= 6
    i |= 1
    i ^= 2
    assert j is i and i.tolist() == [((12 & 6) | 1) ^ 2, ((10 & 6) | 1) ^ 2]
    z = lt.zeros(2, 3)
    z.T.add_(1)
    z[:, 1:].mul_(5)
    z.narrow(0, 1, 1).sub_(2)
    assert z.tolist() == [[1.0, 5.0, 5.0], [-1.0, 3.0, 3.0]]


def test_inplace_writes_reach_numpy_storage():
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    x = lt.from_numpy(a)
    x.mul_(2)
    x[:, 0].add_(100)
    np.testing.assert_array_equal(a, [[100.0, 2.0, 4.0], [106.0, 8.0, 10.0]])


# ---- methods and aliases exist with PyTorch's names ----

def test_methods_and_aliases():
    x = lt.tensor([[1.0, -2.0], [3.0, -4.0]])
    for name in lt.elementwise.__all__:
        if torch is not None:
            assert hasattr(x, name) == hasattr(torch.Tensor, name), name
            assert hasattr(x, name + "_") == hasattr(torch.Tensor, name + "_"), name
        else:
            assert hasattr(x, name) or name in ("rsub",), name
    assert lt.clip is lt.clamp and lt.absolute is lt.abs and lt.multiply is lt.mul and lt.divide is lt.div
    assert lt.greater is lt.gt and lt.less_equal is lt.le and lt.negative is lt.neg and lt.subtract is lt.sub
    assert x.abs().tolist() == abs(x).tolist() == [[1.0, 2.0], [3.0, 4.0]]
    for name in lt.elementwise.__all__:
        assert callable(getattr(lt, name)), name


def test_ops_build_graphs_lazily():
    x = lt.tensor([1.0, 2.0])
    y = lt.exp(x) * 2 + lt.sin(x) / 3
    assert y.node.op.name != "BUFFER"  # nothing has run yet
    np.testing.assert_allclose(y.numpy(), np.exp([1.0, 2.0]) * 2 + np.sin([1.0, 2.0]) / 3, rtol=1e-6)


# ---- properties ----

int_arrays = hnp.arrays(np.int64, hnp.array_shapes(min_dims=0, max_dims=3, max_side=4),
                        elements=st.integers(-1000, 1000))


@settings(max_examples=40, deadline=None)
@given(int_arrays, st.integers(-50, 50).filter(lambda v: v != 0))
def test_property_division_identity(a, b):
    x = lt.tensor(a)
    q, r = x // b, x % b
    np.testing.assert_array_equal((q * b + r).numpy(), a)
    np.testing.assert_array_equal(q.numpy(), a // b)
    np.testing.assert_array_equal(r.numpy(), a % b)
    assert ((r.numpy() == 0) | (np.sign(r.numpy()) == np.sign(b))).all()


# division is correctly rounded while quotients stay clear of the subnormal range (within an ulp
# there): keep magnitudes in [1e-290, 1e6]
normal_floats = st.floats(-1e6, 1e6).filter(lambda v: v == 0 or abs(v) > 1e-290)


@settings(max_examples=40, deadline=None)
@given(hnp.arrays(np.float64, st.integers(0, 6), elements=normal_floats),
       hnp.arrays(np.float64, st.integers(0, 6), elements=normal_floats))
def test_property_float_ops_match_numpy(a, b):
    n = min(len(a), len(b))
    a, b = a[:n], b[:n]
    x, y = lt.tensor(a), lt.tensor(b)
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal((x + y).numpy(), a + b)
        np.testing.assert_array_equal((x * y).numpy(), a * b)
        np.testing.assert_array_equal((x / y).numpy(), a / b)
        np.testing.assert_array_equal((x - y).numpy(), a - b)
        np.testing.assert_array_equal((x % y).numpy(), np.remainder(a, b))
        np.testing.assert_array_equal(lt.fmod(x, y).numpy(), np.fmod(a, b))
        np.testing.assert_array_equal((x < y).numpy(), a < b)
        np.testing.assert_array_equal((x >= y).numpy(), a >= b)
        np.testing.assert_array_equal(lt.round(x).numpy(), np.round(a))
        np.testing.assert_array_equal(lt.floor(x).numpy(), np.floor(a))


@settings(max_examples=30, deadline=None)
@given(hnp.arrays(np.float32, hnp.array_shapes(min_dims=1, max_dims=2, max_side=5),
                  elements=st.floats(-20, 20, width=32)))
def test_property_math_identities(a):
    x = lt.tensor(a)
    np.testing.assert_allclose(lt.tanh(x).numpy(), np.tanh(a), rtol=2e-6, atol=1e-7)
    np.testing.assert_allclose((lt.sigmoid(x) + lt.sigmoid(-x)).numpy(), np.ones_like(a), rtol=1e-6)
    np.testing.assert_allclose((lt.cosh(x) ** 2 - lt.sinh(x) ** 2).numpy()[np.abs(a) < 4], 1.0, rtol=1e-3)
    np.testing.assert_allclose((lt.sin(x) ** 2 + lt.cos(x) ** 2).numpy(), 1.0, rtol=1e-6)
    assert ((lt.abs(x) >= 0) | lt.isnan(x)).numpy().all()
    np.testing.assert_array_equal((x == x).numpy(), ~np.isnan(a))


# ---- the fast paths build the general path's nodes ----

class _General(lt.Tensor):
    """A Tensor subclass: the ops' fast paths take exact Tensors only, so this one goes the general way."""

    __slots__ = ()


def verify(nodes):
    from lazytensor.compiler.verify import verify as check
    check(nodes)


def _general(t):
    from lazytensor.tensor import _init
    g = object.__new__(_General)
    _init(g, t.node, None, ())
    return g


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "int64", "int32", "uint8", "bool"])
def test_binary_fast_path_builds_the_general_nodes(dtype):
    d = getattr(lt, dtype)
    shapes = [((2, 3), (2, 3)), ((2, 1), (2, 3)), ((1, 3), (2, 1)), ((3,), (2, 3)), ((), (2, 3)), ((2, 0), (1, 0))]
    ops = [lt.add, lt.sub, lt.mul, lt.div, lt.lt, lt.gt, lt.eq, lt.maximum, lt.bitwise_and, lt.logical_or,
           lambda a, b: a + b, lambda a, b: a * b, lambda a, b: a > b, lambda a, b: lt.add(a, b, alpha=2)]
    for sa, sb in shapes:
        a, b = lt.ones(sa, dtype=d), lt.zeros(sb, dtype=d)
        for other in (b, b.t() if b.ndim == 2 else b, 2, 0.5, True, 0):
            for fn in ops:
                fast = general = None
                try:
                    fast = fn(a, other)
                except Exception as e:  # noqa: BLE001 - both paths must refuse alike
                    with pytest.raises(type(e)):
                        fn(_general(a), _general(other) if isinstance(other, lt.Tensor) else other)
                    continue
                general = fn(_general(a), _general(other) if isinstance(other, lt.Tensor) else other)
                assert fast.node is general.node and fast.dtype is general.dtype, (fn, sa, sb, other)
                verify([fast.node])  # the types a fast path gives its nodes are the rules' own


def test_unary_fast_paths_build_the_general_nodes():
    from lazytensor.compiler import build
    for d in (lt.float32, lt.float64, lt.float16, lt.int64, lt.int8):
        for shape in ((2, 3), (), (0, 4)):
            x = lt.full(shape, 0.25 if d.is_floating_point else 3, dtype=d)
            for v in (x, x.t() if x.ndim == 2 else x):
                for out in (v.exp(), v.relu(), v.sin()):
                    verify([out.node])  # the types a fast path gives its nodes are the rules' own
                a = v.node
                if d in (lt.float32, lt.float64):
                    assert v.exp().node is build.exp(a)
                    assert v.sin().node.srcs[0] is a
                zero = build.like(0, a)
                assert v.relu().node is build.where(build.lt(a, zero), zero, a)


@pytest.mark.parametrize("shapes", [((2, 3), (2, 3), (2, 3)), ((2, 3), (1, 3), (2, 3)), ((2, 1), (2, 3), (3,)),
                                    ((), (2, 3), (2, 3))])
def test_where_fast_path_builds_the_general_nodes(shapes):
    sc, sa, sb = shapes
    c = lt.zeros(sc) > lt.full(sc, -1.0)
    for da, db in ((lt.float32, lt.float32), (lt.float64, lt.float64), (lt.int64, lt.int64), (lt.float32, lt.int64)):
        a, b = lt.ones(sa, dtype=da), lt.zeros(sb, dtype=db)
        fast = lt.where(c, a, b)
        general = lt.where(_general(c), _general(a), _general(b))
        assert fast.node is general.node and fast.dtype is general.dtype
        verify([fast.node])
        if len(sa) == 2 and sa == sb == sc:  # views
            assert lt.where(c.t(), a.t(), b.t()).node is lt.where(_general(c.t()), _general(a.t()), _general(b.t())).node
    with pytest.raises(RuntimeError, match="where expected condition to be a boolean tensor"):
        lt.where(lt.ones(2, 3), lt.ones(2, 3), lt.ones(2, 3))
