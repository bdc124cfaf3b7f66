"""Tests for lazytensor.runtime.llvm: every primitive and dtype, compiled, against the numpy oracle.

Each test builds IR graphs directly (ops.make), runs them on both backends and asserts agreement:
float32/float64 within 1e-5 relative, half types within their precision, integers and bools
exactly. Errors (integer division by zero, gather out of range) must raise like the oracle.
Every test runs twice: with every kernel compiled at O0 (what small kernels get) and at O3 (large
ones), so both code generators are held to the oracle.
"""
from __future__ import annotations

import gc
import re
import weakref

import numpy as np
import pytest

import lazytensor as lt
from lazytensor import config
from lazytensor.compiler import dtypes as dt
from lazytensor.compiler.ir import Buffer, prune, toposort
from lazytensor.compiler.ops import BINARY, REGISTRY, IndexOutOfBounds, Op, make
from lazytensor.compiler.passes import run_pipeline
from lazytensor.runtime import backends, numpy_backend
from lazytensor.runtime.llvm import backend as llvm_backend
from lazytensor.runtime.llvm.renderer import render
from lt_testing import leaf

ALL = dt.ALL_DTYPES
FLOATS = (dt.float16, dt.bfloat16, dt.float32, dt.float64)
INTS = (dt.uint8, dt.int8, dt.int16, dt.int32, dt.int64)


@pytest.fixture(autouse=True)
def _temporary_kernel_cache(tmp_path_factory):
    """Compiled kernels go to a temporary disk cache, never the user's ~/.cache."""
    config.set(CACHE_DIR=str(tmp_path_factory.mktemp("kernels")))


@pytest.fixture(autouse=True, params=["O0", "O3"])
def _tier(request):
    """Compile every kernel of the test at O0, or every one at O3 (LT_FAST_COMPILE), starting
    from an empty in-memory kernel cache (a program compiled at the other level is not reused)."""
    config.set(FAST_COMPILE=1 << 62 if request.param == "O0" else 0)
    llvm_backend.clear_kernels()
    return request.param


def data(shape, dtype, rng, low=-50, high=50):
    """Random values of `dtype` (ints in [low, high), floats normal * 10, bools fair)."""
    if dtype is dt.bool_:
        return rng.random(shape) < 0.5
    if dtype.is_integer:
        lo = 0 if dtype.category == "uint" else low
        return rng.integers(lo, high, shape).astype(dtype.np_dtype)
    return (rng.standard_normal(shape) * 10).astype(dtype.np_dtype)


def const(value, dtype, shape):
    c = make(Op.CONST, arg=value, dtype=dtype)
    if shape == ():
        return c
    return make(Op.EXPAND, (make(Op.RESHAPE, (c,), (1,) * len(shape)),), shape)


def agree(*outputs, atol=None):
    """Run `outputs` on both backends; assert agreement; return the llvm arrays.

    `atol` overrides the absolute tolerance of half-type results (sums that cancel: the oracle
    rounds to half after each step along a strided axis, the kernel accumulates exactly)."""
    got = llvm_backend.run(list(outputs))
    want = numpy_backend.run(list(outputs))
    for n, g, w in zip(outputs, got, want):
        assert g.shape == n.shape == w.shape, (g.shape, w.shape, n.shape)
        assert g.dtype == w.dtype == n.dtype.np_dtype
        if n.dtype.is_floating_point:
            tol = {dt.float16: 1e-3, dt.bfloat16: 8e-3}.get(n.dtype, 1e-5)
            half_atol = atol if atol is not None and n.dtype in (dt.float16, dt.bfloat16) else None
            np.testing.assert_allclose(g.astype(np.float64), w.astype(np.float64), rtol=tol,
                                       atol=half_atol or tol * 1e-3, equal_nan=True)
        else:
            np.testing.assert_array_equal(g, w)
    return got


def test_every_row_has_an_llvm_cell():
    for op, row in REGISTRY.items():
        assert row.llvm is not None, f"{op.name} has no llvm lowering"


def test_llvm_is_the_default_and_numpy_stays_selectable(monkeypatch):
    monkeypatch.delenv("LT_BACKEND", raising=False)
    config.reset()
    assert config.get("BACKEND") == "llvm"
    assert backends.current() is llvm_backend
    x = lt.arange(6.0).reshape(2, 3) * 2 + 1
    assert x.sum().item() == 36.0
    monkeypatch.setenv("LT_BACKEND", "numpy")  # the oracle, by environment or in code
    config.reset()
    assert backends.current() is numpy_backend
    assert (lt.arange(6.0).reshape(2, 3) * 2 + 1).sum().item() == 36.0
    config.set(BACKEND="nope")
    with pytest.raises(RuntimeError, match="unknown backend LT_BACKEND='nope'; available: "):
        backends.current()


def test_ten_op_chain_over_three_inputs_runs_as_one_kernel(capfd):
    """Issue 3's acceptance: LT_DEBUG=1 prints a line per kernel launch; the 10-op elementwise
    chain over three inputs (benchmarks/compiler.py) is one launch, and it equals numpy."""
    rng = np.random.default_rng(11)
    a, b, c = (rng.standard_normal(5000).astype(np.float32) for _ in range(3))
    config.set(BACKEND="llvm", DEBUG=1)
    la, lb, lc = (lt.from_numpy(v) for v in (a, b, c))
    capfd.readouterr()
    y = la * lb + lc
    y = y * 0.5 - la
    y = y * y + lb
    y = y * lc - 1.0
    y = y * la + 2.0
    y.realize()
    launches = [line for line in capfd.readouterr().err.splitlines() if line.startswith("k_")]
    assert len(launches) == 1, launches
    assert re.fullmatch(r"k_e_5000_\w+ +[\d.]+ ms +[\d.]+ GB/s +\((compiled|disk cache)\)",
                        launches[0])
    config.set(DEBUG=0)
    want = a * b + c
    want = want * np.float32(0.5) - a
    want = want * want + b
    want = want * c - np.float32(1.0)
    want = want * a + np.float32(2.0)
    np.testing.assert_allclose(y.numpy(), want, rtol=1e-5, atol=1e-6)


def test_small_kernels_compile_at_O0_and_large_ones_at_O3():
    config.set(FAST_COMPILE=4096)
    for n, fast in ((4095, True), (4096, False)):
        (k,) = run_pipeline([make(Op.SQRT, (leaf(np.ones(n, np.float32)),))], "fuse").kernels
        assert render(k, "k_tier").fast is fast
    # a reduction's work counts its reduced elements too
    x = leaf(np.ones((2, 4096), np.float32))
    (k,) = run_pipeline([make(Op.SUM, (x,), (1,))], "fuse").kernels
    assert not render(k, "k_tier").fast


@pytest.mark.parametrize("dtype", ALL, ids=lambda d: d.name)
@pytest.mark.parametrize("op", sorted(BINARY, key=lambda o: o.name), ids=lambda o: o.name)
def test_binary_ops_every_dtype(op, dtype):
    rng = np.random.default_rng(hash((op.name, dtype.name)) % 2 ** 32)
    a, b = data((3, 5), dtype, rng), data((3, 5), dtype, rng)
    if op in (Op.IDIV, Op.MOD) and dtype is not dt.bool_:
        b = np.where(b == 0, 3, b).astype(dtype.np_dtype)
    if op in (Op.IDIV, Op.MOD) and dtype.is_integer and dtype.category == "int":
        a[0, 0], b[0, 0] = np.iinfo(dtype.np_dtype).min, -1  # the overflowing quotient
    try:
        n = make(op, (leaf(a), leaf(b)))
    except Exception:
        pytest.skip(f"{op.name} does not take {dtype.name}")
    if op is Op.MOD and dtype is dt.bool_:
        pytest.skip("bool MOD is not built by the Tensor layer")
    agree(n)


@pytest.mark.parametrize("dtype", ALL, ids=lambda d: d.name)
def test_unary_ops_every_dtype(dtype):
    rng = np.random.default_rng(1)
    a = data((4, 3), dtype, rng)
    if dtype.is_floating_point:
        a = a.astype(np.float64)
        a[0, :3] = [np.nan, np.inf, -np.inf]
        a = a.astype(dtype.np_dtype)
    x = leaf(a)
    outs = []
    for op in (Op.NEG, Op.EXP2, Op.LOG2, Op.SIN, Op.COS, Op.SQRT, Op.RECIP, Op.TRUNC, Op.NOT):
        if op is Op.NEG and dtype is dt.bool_:
            continue
        try:
            src = make(Op.MUL, (x, const(0.1, dtype, x.shape))) if op in (Op.EXP2, Op.SIN, Op.COS) \
                else x
            outs.append(make(op, (src,)))
        except Exception:
            continue
    agree(*outs)


@pytest.mark.parametrize("src", ALL, ids=lambda d: d.name)
@pytest.mark.parametrize("dst", ALL, ids=lambda d: d.name)
def test_cast_every_pair(src, dst):
    rng = np.random.default_rng(2)
    a = data((20,), src, rng, -300, 300)
    if src.is_floating_point:
        a = (a.astype(np.float64) * 37.3).astype(src.np_dtype)
        a[:4] = np.array([0.5, -0.5, -0.0, 2.75]).astype(src.np_dtype)
    agree(make(Op.CAST, (leaf(a),), dst))


def test_float_to_int_out_of_range_and_nan_like_numpy():
    a = np.array([np.nan, np.inf, -np.inf, 3e9, -3e9, 1e20, 2.0 ** 31, -2.0 ** 31], np.float32)
    for d in (dt.int32, dt.int64, dt.bool_):
        agree(make(Op.CAST, (leaf(a),), d))


def test_half_types_round_after_every_op():
    rng = np.random.default_rng(3)
    for d in (dt.float16, dt.bfloat16):
        a, b = leaf(data((64,), d, rng)), leaf(data((64,), d, rng))
        y = make(Op.MUL, (make(Op.ADD, (a, b)), make(Op.ADD, (a, a))))
        got, = llvm_backend.run([y])
        want, = numpy_backend.run([y])
        np.testing.assert_array_equal(got.astype(np.float32), want.astype(np.float32))


def test_max_propagates_nan_both_ways():
    a = np.array([np.nan, 1.0, 2.0, np.nan], np.float32)
    b = np.array([0.0, np.nan, 1.0, np.nan], np.float32)
    got, = agree(make(Op.MAX, (leaf(a), leaf(b))))
    assert np.isnan(got[[0, 1, 3]]).all() and got[2] == 2.0
    r, = agree(make(Op.MAX_REDUCE, (leaf(np.array([[1.0, np.nan, 3.0]], np.float32)),), (1,)))
    assert np.isnan(r).all()


def test_compare_ieee():
    a = np.array([np.nan, 1.0, -0.0, np.inf], np.float32)
    b = np.array([np.nan, 1.0, 0.0, np.nan], np.float32)
    agree(make(Op.CMPLT, (leaf(a), leaf(b))), make(Op.CMPEQ, (leaf(a), leaf(b))))


@pytest.mark.parametrize("dtype", ALL, ids=lambda d: d.name)
@pytest.mark.parametrize("op", [Op.SUM, Op.PROD, Op.MAX_REDUCE], ids=lambda o: o.name)
def test_reductions_every_dtype(op, dtype):
    rng = np.random.default_rng(4)
    a = data((3, 4, 5), dtype, rng, -3, 4)
    if op is Op.PROD and dtype.is_floating_point:
        a = (a.astype(np.float32) / 10 + 1).astype(dtype.np_dtype)
    x = leaf(a)
    outs = [make(op, (x,), axes) for axes in [(0,), (2,), (0, 2), (0, 1, 2), ()]]
    scale = float(np.abs(a.astype(np.float64)).max()) * a.size if a.size else 0.0
    agree(*outs, atol=scale * 8e-3)


def test_reductions_of_empty_axes_give_identities():
    x = leaf(np.zeros((3, 0), np.float32))
    s, p = agree(make(Op.SUM, (x,), (1,)), make(Op.PROD, (x,), (1,)))
    assert (s == 0).all() and (p == 1).all()


def test_views_never_copy_and_agree():
    rng = np.random.default_rng(5)
    x = leaf(data((4, 6), dt.float32, rng))
    v = make(Op.PERMUTE, (x,), (1, 0))
    v = make(Op.SHRINK, (v,), ((1, 5), (0, 3)))
    v = make(Op.FLIP, (v,), (0, 1))
    v = make(Op.PAD, (v,), ((1, 2), (0, 2)))
    v = make(Op.RESHAPE, (v,), (5, 7, 1))
    v = make(Op.EXPAND, (v,), (5, 7, 3))
    y = make(Op.EXP2, (make(Op.MUL, (v, const(0.1, dt.float32, v.shape))),))
    (k,) = run_pipeline([y], "fuse").kernels
    assert len(k.inputs) == 1
    agree(y, make(Op.RESHAPE, (y,), (105,)))


def test_reshape_needing_division():
    x = leaf(np.arange(24, dtype=np.int32).reshape(4, 6))
    v = make(Op.RESHAPE, (make(Op.PERMUTE, (x,), (1, 0)),), (3, 8))
    agree(make(Op.ADD, (v, v)))


def test_broadcasting_and_zero_dim_and_empty():
    rng = np.random.default_rng(6)
    a = leaf(data((3, 1), dt.float32, rng))
    b = leaf(data((1, 4), dt.float32, rng))
    y = make(Op.ADD, (make(Op.EXPAND, (a,), (3, 4)), make(Op.EXPAND, (b,), (3, 4))))
    s = leaf(np.array(2.5, np.float32))
    z = make(Op.MUL, (s, s))
    e = leaf(np.zeros((0, 3), np.float32))
    agree(y, z, make(Op.EXP2, (e,)), make(Op.SUM, (e,), (0,)), const(7, dt.int16, ()))


def test_rand_is_bit_exact():
    for d in FLOATS:
        r = make(Op.RAND, (), (1234, 99), dtype=d, shape=(3, 70))
        got, = llvm_backend.run([make(Op.PERMUTE, (r,), (1, 0))])
        want, = numpy_backend.run([make(Op.PERMUTE, (r,), (1, 0))])
        np.testing.assert_array_equal(got.astype(np.float64), want.astype(np.float64))


@pytest.mark.parametrize("idx_dtype", [dt.int32, dt.int64], ids=lambda d: d.name)
def test_gather_and_its_errors(idx_dtype):
    rng = np.random.default_rng(7)
    src = leaf(data((4, 5), dt.float32, rng))
    idx = rng.integers(0, 4, (3, 5)).astype(idx_dtype.np_dtype)
    agree(make(Op.GATHER, (src, leaf(idx)), 0))
    for value in (9, 4, -1, -7):  # GATHER takes 0 <= idx < size: negative ones are refused too
        bad = idx.copy()
        bad[1, 2] = value
        for backend in (llvm_backend, numpy_backend):
            with pytest.raises(IndexOutOfBounds, match=f"index {value} is out of bounds for dimension 0 with size 4"):
                backend.run([make(Op.GATHER, (src, leaf(bad)), 0)])


@pytest.mark.parametrize("op", [Op.IDIV, Op.MOD], ids=lambda o: o.name)
def test_integer_division_by_zero_raises(op):
    a = leaf(np.array([1, 2, 3], np.int32))
    b = leaf(np.array([1, 0, 3], np.int32))
    with pytest.raises(ZeroDivisionError, match="by zero"):
        llvm_backend.run([make(op, (a, b))])


def test_where_contiguous_and_fused_chain():
    rng = np.random.default_rng(8)
    a, b, c = (leaf(data((16, 16), dt.float32, rng)) for _ in range(3))
    y = a
    for i in range(10):
        y = make((Op.ADD, Op.MUL, Op.MAX)[i % 3], (y, (b, c)[i % 2]))
    w = make(Op.WHERE, (make(Op.CMPLT, (a, b)), y, make(Op.CONTIGUOUS, (make(Op.PERMUTE, (c,), (1, 0)),))))
    agree(y, w)


def test_softmax_like_graph():
    rng = np.random.default_rng(9)
    x = leaf(data((5, 7), dt.float32, rng))
    m = make(Op.MAX_REDUCE, (x,), (1,))
    shifted = make(Op.ADD, (x, make(Op.NEG, (make(Op.EXPAND, (m,), (5, 7)),))))
    e = make(Op.EXP2, (shifted,))
    s = make(Op.SUM, (e,), (1,))
    agree(make(Op.MUL, (e, make(Op.EXPAND, (make(Op.RECIP, (s,)),), (5, 7)))))


def test_matmul_as_expand_mul_sum():
    rng = np.random.default_rng(10)
    a = leaf(data((6, 1, 4), dt.float32, rng))
    b = leaf(data((1, 5, 4), dt.float32, rng))
    p = make(Op.MUL, (make(Op.EXPAND, (a,), (6, 5, 4)), make(Op.EXPAND, (b,), (6, 5, 4))))
    agree(make(Op.SUM, (p,), (2,)))


def test_equal_kernels_compile_once():
    x1 = leaf(np.ones(9, np.float32))
    x2 = leaf(np.full(9, 2.0, np.float32))
    llvm_backend.run([make(Op.SQRT, (make(Op.ADD, (x1, x1)),))])
    before = llvm_backend.cache_size()
    got, = llvm_backend.run([make(Op.SQRT, (make(Op.ADD, (x2, x2)),))])
    assert llvm_backend.cache_size() == before
    np.testing.assert_allclose(got, 2.0)


def test_rendered_ir_is_text_with_one_function():
    x = leaf(np.ones((2, 3), np.float32))
    (k,) = run_pipeline([make(Op.SQRT, (x,))], "fuse").kernels
    r = render(k, "k_test")
    assert "define void @k_test(" in r.ir and "@llvm.sqrt.f32" in r.ir


def test_stored_buffer_output_is_a_view():
    a = np.arange(4, dtype=np.float32)
    x = make(Op.BUFFER, arg=Buffer(dt.float32, 4, data=a))
    got, = llvm_backend.run([x])
    assert np.shares_memory(got, a) and got.base is not None


def test_errors_name_the_current_flush_line_even_from_the_cache():
    def divide(a, b):
        return make(Op.IDIV, (leaf(np.array(a, np.int32)), leaf(np.array(b, np.int32))))
    llvm_backend.run([divide([1, 2], [1, 1])])  # compiles and caches the kernel
    n = divide([1, 2], [0, 1])
    line = n.loc[1]
    with pytest.raises(ZeroDivisionError, match=f"test_llvm_backend.py:{line}"):
        llvm_backend.run([n])


def test_inline_exp2_matches_numpy_over_the_float32_range():
    # EXP2 of float32 is inline arithmetic (range reduction + polynomial), not a libm call
    x = np.concatenate([np.linspace(-160, 130, 20001, dtype=np.float32),
                        np.array([np.inf, -np.inf, np.nan, 0.0, -0.0, 127.99, 128.0, -126.0,
                                  -149.0, -200.0, 200.0], np.float32)])
    got, = llvm_backend.run([make(Op.EXP2, (leaf(x),))])
    with np.errstate(over="ignore"):
        want = np.exp2(x)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-44)
    assert np.array_equal(np.isnan(got), np.isnan(want))


def test_max_reduce_propagates_nan_and_infinities():
    x = np.random.default_rng(3).standard_normal((3, 5000)).astype(np.float32)
    x[1, 4321] = np.nan
    x[2] = -np.inf
    agree(make(Op.MAX_REDUCE, (leaf(x),), (1,)), make(Op.MAX_REDUCE, (leaf(x),), (0, 1)))


def test_compiled_programs_keep_no_graph_node_alive():
    # a program stays cached for the whole process; if it held the nodes its error messages
    # name, they (and, through the hash-cons table, the lines they were built on) would outlive
    # every tensor. A kernel graph shares its parameter-free subgraphs (the CONST) with the user's
    src = leaf(np.array([4, 9, 16], np.int32))
    idx = leaf(np.array([2, 0, 1], np.int64))
    y = make(Op.IDIV, (make(Op.GATHER, (src, idx), 0), const(37, dt.int32, (3,))))
    got, = llvm_backend.run([y])
    np.testing.assert_array_equal(got, [0, 0, 0])
    refs = [weakref.ref(n) for n in toposort([y])]
    del src, idx, y
    gc.collect()
    prune()
    assert [r() for r in refs if r() is not None] == []
