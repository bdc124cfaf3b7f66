"""Tests for lazytensor.compiler.ops: every primitive has a full registry row, and each numpy
reference (the oracle of every backend) computes what its row promises."""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from lazytensor.compiler import dtypes as dt
from lazytensor.compiler.ir import Buffer, IRError
from lazytensor.compiler.ops import BINARY, ELEMENTWISE, MOVEMENT, REDUCE, REGISTRY, SOURCES, UNARY, Op, make
from lazytensor.compiler import gradients  # noqa: F401  (fills the grad cells)
from lt_testing import torch

# The cells every row must fill now. Later layers add theirs to this tuple as they land:
# the LLVM backend "llvm", the CUDA backend "cuda". Non-differentiable primitives hold the
# callable NOT_DIFFERENTIABLE marker in "grad", never an empty cell.
REQUIRED_CELLS = ("shape", "dtype", "numpy", "grad")


# ---- the registry ----

@pytest.mark.parametrize("op", list(Op), ids=lambda op: op.name)
def test_every_op_has_a_full_row(op):
    row = REGISTRY.get(op)
    assert row is not None, f"{op.name} has no registry row"
    assert row.op is op
    for cell in REQUIRED_CELLS:
        assert callable(getattr(row, cell)), f"{op.name}'s registry row has no {cell!r} cell"
    assert isinstance(row.doc, str) and row.doc.strip(), f"{op.name} has no doc"


def test_op_groups_agree_with_arity():
    assert set(REGISTRY) == set(Op)
    for op in UNARY | REDUCE | MOVEMENT | {Op.CONTIGUOUS}:
        assert REGISTRY[op].arity == 1, op
    for op in BINARY | {Op.GATHER}:
        assert REGISTRY[op].arity == 2, op
    assert REGISTRY[Op.WHERE].arity == 3
    for op in SOURCES:
        assert REGISTRY[op].arity == 0, op
    assert not (UNARY & BINARY) and ELEMENTWISE == UNARY | BINARY | {Op.WHERE}


@pytest.mark.parametrize("op, srcs, arg, message", [
    (Op.ADD, (((2, 3), dt.float32), ((3,), dt.float32)), None, "operand shapes differ"),
    (Op.ADD, (((3,), dt.float32), ((3,), dt.float64)), None, "operand dtypes differ"),
    (Op.SQRT, (((3,), dt.int32),), None, "needs a float operand"),
    (Op.AND, (((3,), dt.float32), ((3,), dt.float32)), None, "needs integer or bool operands"),
    (Op.WHERE, (((3,), dt.int8), ((3,), dt.float32), ((3,), dt.float32)), None, "condition must be bool"),
    (Op.SUM, (((2, 3), dt.float32),), (2,), "bad reduction axes"),
    (Op.SUM, (((2, 3), dt.float32),), (0, 0), "bad reduction axes"),
    (Op.RESHAPE, (((2, 3), dt.float32),), (5,), "changes the element count"),
    (Op.PERMUTE, (((2, 3), dt.float32),), (0, 0), "is not a permutation"),
    (Op.EXPAND, (((2, 3), dt.float32),), (4, 3), "cannot expand"),
    (Op.PAD, (((2, 3), dt.float32),), ((0, -1), (0, 0)), "bad padding"),
    (Op.SHRINK, (((2, 3), dt.float32),), ((0, 3), (0, 3)), "bad shrink"),
    (Op.FLIP, (((2, 3), dt.float32),), (2,), "bad flip axes"),
    (Op.GATHER, (((2, 3), dt.float32), ((2, 3), dt.float32)), 0, "gather index must be int64 or int32"),
    (Op.GATHER, (((2, 3), dt.float32), ((3, 3), dt.int64)), 1, "exceeds source"),
    (Op.NEG, (((3,), dt.float32), ((3,), dt.float32)), None, "NEG takes 1 operands, got 2"),
])
def test_rules_refuse_bad_operands(op, srcs, arg, message):
    nodes = tuple(leaf(np.zeros(shape, d.np_dtype)) for shape, d in srcs)
    with pytest.raises(IRError, match=message):
        make(op, nodes, arg)


# ---- running one primitive on arrays ----

def leaf(a: np.ndarray):
    """A node reading array `a` (a BUFFER, reshaped)."""
    a = np.asarray(a)
    n = make(Op.BUFFER, arg=Buffer(dt.dtype_from_numpy(a.dtype), a.size, data=a.reshape(-1)))
    return n if n.shape == a.shape else make(Op.RESHAPE, (n,), a.shape)


def ref(op: Op, *arrays, arg=None, dtype=None, shape=None) -> np.ndarray:
    """The numpy reference of `op` on `arrays`, checked against the node's type."""
    arrays = [np.asarray(a) for a in arrays]
    n = make(op, tuple(leaf(a) for a in arrays), arg, dtype, shape)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # references run quietly: inf and nan are values here
        out = REGISTRY[op].numpy(arrays, n)
    assert out.shape == n.shape, f"{op.name} gave shape {out.shape}, its node says {n.shape}"
    assert out.dtype == n.dtype.np_dtype, f"{op.name} gave {out.dtype}, its node says {n.dtype.name}"
    return out


def f32(*v):
    return np.array(v, np.float32)


def i32(*v):
    return np.array(v, np.int32)


def same(actual, expected):
    np.testing.assert_array_equal(actual, expected)
    assert actual.dtype == np.asarray(expected).dtype


# ---- sources ----

def test_buffer_reads_its_data_without_copying():
    data = np.arange(6, dtype=np.int16)
    n = make(Op.BUFFER, arg=Buffer(dt.int16, 6, data=data))
    out = REGISTRY[Op.BUFFER].numpy([], n)
    same(out, data)
    assert np.shares_memory(out, data) and out is not data


def test_buffer_without_data_is_an_error():
    n = make(Op.BUFFER, arg=Buffer(dt.float32, 2))
    with pytest.raises(IRError, match=rf"buffer #{n.arg.uid} has no data"):
        REGISTRY[Op.BUFFER].numpy([], n)


@pytest.mark.parametrize("value, dtype, expected", [
    (2.5, dt.float32, np.float32(2.5)), (-0.0, dt.float64, np.float64(-0.0)), (True, dt.bool_, np.True_),
    (-7, dt.int8, np.int8(-7)), (255, dt.uint8, np.uint8(255)), (1.5, dt.bfloat16, np.float32(1.5)),
])
def test_const(value, dtype, expected):
    out = ref(Op.CONST, arg=value, dtype=dtype)
    assert out.shape == () and out == expected
    assert math.copysign(1, float(out)) == math.copysign(1, float(expected))


@pytest.mark.parametrize("dtype", [dt.float16, dt.bfloat16, dt.float32, dt.float64], ids=lambda d: d.name)
def test_rand_is_deterministic_in_seed_and_offset_and_in_range(dtype):
    a = ref(Op.RAND, arg=(3, 0), dtype=dtype, shape=(100, 100)).astype(np.float64)
    same(ref(Op.RAND, arg=(3, 0), dtype=dtype, shape=(100, 100)), a.astype(dtype.np_dtype))
    assert a.min() >= 0 and a.max() < 1  # never 1, in every precision
    assert abs(a.mean() - 0.5) < 0.02 and abs(a.var() - 1 / 12) < 0.01
    assert not np.array_equal(ref(Op.RAND, arg=(4, 0), dtype=dtype, shape=(100, 100)).astype(np.float64), a)
    # the offset moves the counter: element i of (seed, k) is element i + k of (seed, 0)
    shifted = ref(Op.RAND, arg=(3, 17), dtype=dtype, shape=(50,)).astype(np.float64)
    same(shifted, a.reshape(-1)[17:67])
    # the shape only arranges the flat sequence
    same(ref(Op.RAND, arg=(3, 0), dtype=dtype, shape=(10_000,)).astype(np.float64), a.reshape(-1))


# ---- unary ----

def test_neg():
    same(ref(Op.NEG, f32(1, -2, 0)), f32(-1, 2, -0.0))
    same(ref(Op.NEG, i32(5, -3)), i32(-5, 3))
    assert math.copysign(1, ref(Op.NEG, f32(0))[0]) == -1


def test_exp2_log2_sin_sqrt_recip():
    same(ref(Op.EXP2, f32(0, 3, -1, -np.inf)), f32(1, 8, 0.5, 0))
    same(ref(Op.LOG2, f32(8, 1, 0, -1)), f32(3, 0, -np.inf, np.nan))
    np.testing.assert_allclose(ref(Op.SIN, np.array([0, np.pi / 2, np.pi / 6])), [0, 1, 0.5], atol=1e-15)
    same(ref(Op.SQRT, f32(4, 0, -1, np.inf)), f32(2, 0, np.nan, np.inf))
    same(ref(Op.RECIP, f32(4, 0, -0.0, np.inf)), f32(0.25, np.inf, -np.inf, 0))
    same(ref(Op.SQRT, np.array([2.25], np.float16)), np.array([1.5], np.float16))


def test_trunc_rounds_toward_zero():
    same(ref(Op.TRUNC, f32(2.7, -2.7, 0.5, -0.5, np.inf)), f32(2, -2, 0, -0.0, np.inf))


def test_cast_float_to_int_truncates_toward_zero():
    same(ref(Op.CAST, f32(2.9, -2.9, 0.5, -0.5, 7), arg=dt.int32), i32(2, -2, 0, 0, 7))
    same(ref(Op.CAST, f32(200.7), arg=dt.uint8), np.array([200], np.uint8))


def test_cast_to_and_from_bool_and_between_floats():
    same(ref(Op.CAST, f32(0, 0.1, -2, np.nan), arg=dt.bool_), np.array([False, True, True, True]))
    same(ref(Op.CAST, np.array([True, False]), arg=dt.float32), f32(1, 0))
    same(ref(Op.CAST, i32(-1, 300), arg=dt.int8), np.array([-1, 44], np.int8))  # wraps like C
    same(ref(Op.CAST, np.array([1 / 3]), arg=dt.float16), np.array([1 / 3], np.float16))
    same(ref(Op.CAST, i32(3), arg=dt.int32), i32(3))


def test_not_is_logical_on_bool_and_bitwise_on_ints():
    same(ref(Op.NOT, np.array([True, False])), np.array([False, True]))
    same(ref(Op.NOT, i32(5, 0, -1)), i32(-6, -1, 0))
    same(ref(Op.NOT, np.array([0, 255], np.uint8)), np.array([255, 0], np.uint8))


# ---- binary ----

def test_add_and_mul():
    same(ref(Op.ADD, f32(1, 2), f32(0.5, -2)), f32(1.5, 0))
    same(ref(Op.ADD, np.array([100], np.int8), np.array([100], np.int8)), np.array([-56], np.int8))  # wraps
    same(ref(Op.ADD, np.array([True, False, False]), np.array([True, True, False])), np.array([True, True, False]))
    same(ref(Op.MUL, i32(3, -4), i32(5, 6)), i32(15, -24))
    same(ref(Op.MUL, np.array([True, True, False]), np.array([True, False, False])), np.array([True, False, False]))


def test_max_propagates_nan():
    same(ref(Op.MAX, f32(1, np.nan, 3, np.nan), f32(2, 1, np.nan, np.nan)), f32(2, np.nan, np.nan, np.nan))
    same(ref(Op.MAX, i32(-1, 5), i32(-2, 7)), i32(-1, 7))


def test_comparisons():
    same(ref(Op.CMPLT, f32(1, 2, np.nan), f32(2, 2, 1)), np.array([True, False, False]))
    same(ref(Op.CMPEQ, f32(1, np.nan, -0.0), f32(1, np.nan, 0.0)), np.array([True, False, True]))
    same(ref(Op.CMPLT, np.array([0, 200], np.uint8), np.array([1, 100], np.uint8)), np.array([True, False]))


def test_idiv_truncates_toward_zero():
    same(ref(Op.IDIV, i32(7, -7, 7, -7, 6, 0), i32(2, 2, -2, -2, 3, 5)), i32(3, -3, -3, 3, 2, 0))
    big = np.array([np.iinfo(np.int64).min + 1], np.int64)
    same(ref(Op.IDIV, big, np.array([-1], np.int64)), np.array([np.iinfo(np.int64).max], np.int64))
    same(ref(Op.IDIV, np.array([250], np.uint8), np.array([7], np.uint8)), np.array([35], np.uint8))
    same(ref(Op.IDIV, np.array([True, True]), np.array([True, True])), np.array([True, True]))


def test_integer_division_and_modulo_by_zero_raise():
    with pytest.raises(ZeroDivisionError, match="integer division by zero"):
        ref(Op.IDIV, i32(1, 2), i32(1, 0))
    with pytest.raises(ZeroDivisionError, match="integer modulo by zero"):
        ref(Op.MOD, i32(1, 2), i32(0, 1))


def test_mod_has_the_sign_of_the_dividend():
    same(ref(Op.MOD, i32(7, -7, 7, -7), i32(2, 2, -2, -2)), i32(1, -1, 1, -1))
    same(ref(Op.MOD, f32(7.5, -7.5, 1, 5), f32(2, 2, 0, np.inf)), f32(1.5, -1.5, np.nan, 5))


def test_bitwise_ops():
    same(ref(Op.AND, i32(12, -1), i32(10, 7)), i32(8, 7))
    same(ref(Op.OR, i32(12, 0), i32(10, 0)), i32(14, 0))
    same(ref(Op.XOR, i32(12, -1), i32(10, 0)), i32(6, -1))
    same(ref(Op.XOR, np.array([True, True]), np.array([True, False])), np.array([False, True]))


def test_where():
    same(ref(Op.WHERE, np.array([True, False, True]), f32(1, 2, 3), f32(-1, -2, -3)), f32(1, -2, 3))


# ---- reductions keep reduced axes as size 1 ----

def test_sum_keeps_axes_and_dtype():
    a = np.arange(6, dtype=np.int32).reshape(2, 3)
    same(ref(Op.SUM, a, arg=(1,)), np.array([[3], [12]], np.int32))
    same(ref(Op.SUM, a, arg=(0, 1)), np.array([[15]], np.int32))
    same(ref(Op.SUM, a, arg=()), a)
    same(ref(Op.SUM, np.array([100, 100], np.int8), arg=(0,)), np.array([-56], np.int8))  # in the dtype
    same(ref(Op.SUM, np.zeros((0, 3), np.float32), arg=(0,)), np.zeros((1, 3), np.float32))
    same(ref(Op.SUM, np.array([[False, True], [False, False]]), arg=(1,)), np.array([[True], [False]]))


def test_prod_and_max_reduce():
    a = f32(1, 2, 3, 4).reshape(2, 2)
    same(ref(Op.PROD, a, arg=(0,)), f32(3, 8).reshape(1, 2))
    same(ref(Op.PROD, np.zeros((2, 0), np.float32), arg=(1,)), f32(1, 1).reshape(2, 1))
    same(ref(Op.PROD, np.array([[True, False], [True, True]]), arg=(1,)), np.array([[False], [True]]))
    same(ref(Op.MAX_REDUCE, f32(1, np.nan, 3, 2).reshape(2, 2), arg=(1,)), f32(np.nan, 3).reshape(2, 1))
    same(ref(Op.MAX_REDUCE, i32(-5, -2, -9), arg=(0,)), i32(-2))


# ---- movement ----

def test_movement_ops():
    a = np.arange(6, dtype=np.int64).reshape(2, 3)
    same(ref(Op.RESHAPE, a, arg=(3, 2)), a.reshape(3, 2))
    same(ref(Op.RESHAPE, np.array(5, np.int64), arg=(1, 1)), np.array([[5]], np.int64))
    same(ref(Op.PERMUTE, a, arg=(1, 0)), a.T)
    same(ref(Op.EXPAND, a[:, :1], arg=(2, 4)), np.array([[0] * 4, [3] * 4], np.int64))
    same(ref(Op.EXPAND, a[:1, :1], arg=(0, 3)), np.zeros((0, 3), np.int64))
    same(ref(Op.PAD, a, arg=((1, 0), (0, 2))),
         np.array([[0, 0, 0, 0, 0], [0, 1, 2, 0, 0], [3, 4, 5, 0, 0]], np.int64))
    same(ref(Op.SHRINK, a, arg=((1, 2), (0, 2))), np.array([[3, 4]], np.int64))
    same(ref(Op.SHRINK, a, arg=((1, 1), (0, 3))), np.zeros((0, 3), np.int64))
    same(ref(Op.FLIP, a, arg=(1,)), a[:, ::-1])
    same(ref(Op.FLIP, a, arg=(0, 1)), a[::-1, ::-1])
    out = ref(Op.CONTIGUOUS, a.T)
    same(out, a.T)
    assert out.flags.c_contiguous


def test_pad_fills_zero_in_every_dtype():
    same(ref(Op.PAD, np.array([True]), arg=((1, 1),)), np.array([False, True, False]))
    same(ref(Op.PAD, f32(np.nan), arg=((0, 1),)), f32(np.nan, 0))


# ---- gather ----

def test_gather_picks_along_the_axis():
    src = np.array([[1, 2, 3], [4, 5, 6]], np.float32)
    idx = np.array([[2, 0], [1, 1]], np.int64)
    same(ref(Op.GATHER, src, idx, arg=1), np.array([[3, 1], [5, 5]], np.float32))
    same(ref(Op.GATHER, src, np.array([[1, 0, 1]], np.int32), arg=0), np.array([[4, 2, 6]], np.float32))
    # the index may be smaller than the source off the axis, and longer along it
    same(ref(Op.GATHER, src, np.array([[0, 0, 2, 1]], np.int64), arg=1), np.array([[1, 1, 3, 2]], np.float32))
    same(ref(Op.GATHER, src, np.zeros((2, 0), np.int64), arg=1), np.zeros((2, 0), np.float32))


def test_gather_out_of_range_raises_index_error():
    with pytest.raises(IndexError, match="index 3 is out of bounds for dimension 1 with size 3"):
        ref(Op.GATHER, np.zeros((2, 3), np.float32), np.array([[3], [0]], np.int64), arg=1)


@pytest.mark.skipif(torch is None, reason="torch not installed")
def test_gather_matches_torch():
    rng = np.random.default_rng(0)
    for axis in range(3):
        src = rng.standard_normal((3, 4, 5)).astype(np.float32)
        shape = [2, 3, 4]
        shape[axis] = 6
        idx = rng.integers(0, src.shape[axis], shape).astype(np.int64)
        expected = torch.gather(torch.from_numpy(src), axis, torch.from_numpy(idx)).numpy()
        same(ref(Op.GATHER, src, idx, arg=axis), expected)


# ---- make()'s fast rules ----

def _outcome(rule, srcs, arg):
    """What a rule gives: ('ok', dtype, shape) or ('error', type, message)."""
    try:
        dtype, shape = rule(srcs, arg)
    except Exception as e:  # noqa: BLE001 - the two rules must fail alike, whatever the failure
        return ("error", type(e), str(e))
    assert type(shape) is tuple, "a node's shape is a plain tuple"
    return ("ok", dtype, shape)


_SHAPES = [(), (1,), (3,), (2, 3), (3, 1), (1, 3), (3, 2), (2, 3, 4), (2, 1, 4), (0, 3)]
_DTYPES = [dt.float32, dt.float64, dt.float16, dt.int64, dt.int32, dt.uint8, dt.bool_]


def _args(op, rng, shape):
    """Arguments for `op` over a source of `shape`: mostly valid ones, some broken."""
    ndim = len(shape)
    if op in REDUCE or op is Op.FLIP:
        return rng.choice([(), (0,), (ndim - 1,), tuple(range(ndim)), (ndim,), (0, 0), (-1,), (True,), 0])
    if op is Op.RESHAPE:
        n = math.prod(shape)
        return rng.choice([(n,), (1, n), (n, 1), tuple(reversed(shape)), (n + 1,), (-n, -1), (), n])
    if op is Op.PERMUTE:
        order = list(range(ndim))
        rng.shuffle(order)
        return rng.choice([tuple(order), (1, 0), (0, 0), tuple(range(ndim + 1)), (), 0])
    if op is Op.EXPAND:
        return rng.choice([tuple(d if d != 1 else 5 for d in shape), shape, (4,) + shape,
                           tuple(d + 1 for d in shape), (), 3])
    if op is Op.CAST:
        return rng.choice(_DTYPES)
    if op is Op.PAD:
        return rng.choice([tuple((0, 1) for _ in shape), ((0, -1),) * ndim, ((0, 0),)])
    if op is Op.SHRINK:
        return rng.choice([tuple((0, d) for d in shape), tuple((0, d + 1) for d in shape)])
    if op is Op.GATHER:
        return rng.choice([0, ndim - 1, ndim])
    return None


@pytest.mark.parametrize("op", [op for op in Op if REGISTRY[op].arity], ids=lambda op: op.name)
def test_fast_rules_agree_with_the_rows(op):
    """make() uses INFER[op]: the same dtype and shape as the row's rules, and the same errors."""
    import random
    from types import SimpleNamespace

    from lazytensor.compiler.ops import GENERAL_INFER, INFER
    rng = random.Random(op.value)
    arity = REGISTRY[op].arity
    for _ in range(400):
        # mostly the same shape and dtype for every source (the fast paths), sometimes not
        shape, dtype = rng.choice(_SHAPES), rng.choice(_DTYPES)
        n = rng.choice([arity] * 8 + [arity - 1, arity + 1])
        srcs = []
        for i in range(n):
            s = shape if rng.random() < 0.8 else rng.choice(_SHAPES)
            d = dtype if rng.random() < 0.8 else rng.choice(_DTYPES)
            if op is Op.WHERE and i == 0 and rng.random() < 0.8:
                d = dt.bool_
            srcs.append(SimpleNamespace(shape=s, dtype=d))
        srcs = tuple(srcs)
        arg = _args(op, rng, srcs[0].shape if srcs else ())
        assert _outcome(INFER[op], srcs, arg) == _outcome(GENERAL_INFER[op], srcs, arg), (op, srcs, arg)


def test_the_hot_ops_have_fast_rules():
    from lazytensor.compiler.ops import INFER
    for op in (Op.NEG, Op.EXP2, Op.CAST, Op.ADD, Op.MUL, Op.CMPLT, Op.DIV, Op.WHERE, Op.SUM, Op.RESHAPE,
               Op.PERMUTE, Op.EXPAND):
        assert INFER[op].__qualname__.startswith("_fast"), op


def test_make_checks_arity_and_rules_on_a_miss_only():
    x = leaf(np.zeros((2, 3), np.float32))
    y = make(Op.EXP2, (x,))
    assert make(Op.EXP2, [x]) is y  # a list of sources is a tuple's equal
    with pytest.raises(IRError, match="EXP2 takes 1 operands, got 0"):
        make(Op.EXP2, ())
    with pytest.raises(IRError, match="needs a float operand"):
        make(Op.EXP2, (leaf(np.zeros(3, np.int32)),))


def test_make_known_is_make_for_a_builder_that_knows_the_types():
    import sys

    from lazytensor.compiler.ops import make_known
    from lazytensor.compiler.verify import verify
    x = leaf(np.zeros((2, 3), np.float32))
    y = make(Op.NEG, (x,))
    assert make_known(Op.NEG, (x,), None, dt.float32, (2, 3)) is y  # built before: that node
    line = sys._getframe().f_lineno + 1
    z = make_known(Op.PERMUTE, (y,), (1, 0), dt.float32, (3, 2))
    assert make(Op.PERMUTE, (y,), (1, 0)) is z and z.loc == (__file__, line)
    verify([z])
