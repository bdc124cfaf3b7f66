"""Tests for the small-product paths of runtime/llvm/matmul.py and matmul_plan.py: the transposed
orientation (`matmul_plan._swap_pays`: the smaller factor packed, the other's rows read in place),
its epilogue with the rows innermost, the pack of an a that runs along m (`_pack_a`) and of a b
that runs along k (`_transpose`), each against numpy."""
from __future__ import annotations

import os
import sys

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import lazytensor as lt
from lazytensor.compiler import dtypes as dt
from lazytensor.compiler.ops import Op, make
from lazytensor.compiler.passes import run_pipeline
from lazytensor.runtime import numpy_backend
from lazytensor.runtime.llvm import backend as llvm_backend
from lazytensor.runtime.llvm import matmul_plan, threads
from lazytensor.runtime.llvm.renderer import Renderer
from lt_testing import leaf

sys.path.insert(0, os.path.dirname(__file__))
from test_matmul import DTYPES, rand  # noqa: E402

pytestmark = pytest.mark.usefixtures("llvm_private_cache")


def check(got, want):
    """test_matmul's check, with the float tolerance scaled by the largest value (test_matmul's
    products are smaller: its absolute tolerance alone holds there)."""
    if np.issubdtype(want.dtype, np.integer):
        np.testing.assert_array_equal(got, want)
    else:
        # float32 sums of up to thousands of products of values ~25: an error relative to the
        # largest of them
        scale = float(np.abs(want).max()) if want.size else 0.0
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4 + 1e-5 * scale)


def planned(t: lt.Tensor):
    """The matmul plans of the reducing kernels that compute `t` (None where one is not planned)."""
    kernels = run_pipeline([t.node], "simplify,fuse,schedule").kernels
    return [matmul_plan.plan(k, Renderer(k, "t").split_axis()) for k in kernels if k.reductions()]


@pytest.fixture(params=["transposed", "straight"])
def orientation(request, monkeypatch):
    """Every product planned in one orientation (compiled afresh: the kernel cache is keyed by
    the kernel, not by the plan). Yields whether the plans are transposed."""
    swap = request.param == "transposed"
    monkeypatch.setattr(llvm_backend, "_cache", {})
    monkeypatch.setattr(matmul_plan, "_swap_pays", lambda *args: swap)
    return swap


def transposed(p) -> bool:
    return p.m_axis > p.n_axis


# ---- the orientation the planner picks ----

def zeros(*shape) -> lt.Tensor:
    return lt.from_numpy(np.zeros(shape, np.float32))


def test_a_small_batch_times_a_big_weight_packs_the_batch(monkeypatch):
    """x @ W.T of a 784-512 layer at batch 64: W (401k values) would be packed for 64 rows; the
    transposed product packs x (50k) and reads W's rows in place."""
    monkeypatch.setattr(threads, "workers", lambda: 2)
    x, w = zeros(64, 784), zeros(512, 784)
    (p,) = planned(x @ w.t())
    assert transposed(p) and (p.m_axis, p.n_axis, p.k_axis) == (1, 0, 2) and not p.pack_a
    assert p.rows_by_slice  # the runtime splits x's rows: threads take W's rows instead
    # a big weight (4 MB) would be streamed by every thread that takes a slice of the batch
    (p,) = planned(zeros(64, 1024) @ zeros(1024, 1024).t())
    assert not transposed(p)
    # a square product, and a product whose b is the smaller factor, keep the first orientation
    (p,) = planned(zeros(1024, 1024) @ zeros(1024, 1024))
    assert not transposed(p)
    (p,) = planned(zeros(512, 784) @ zeros(64, 784).t())
    assert not transposed(p)


def test_a_matrix_vector_product_is_never_transposed(monkeypatch):
    monkeypatch.setattr(matmul_plan, "_swap_pays", lambda *args: True)
    rng = np.random.default_rng(1)
    x, v = rand((40, 30), np.float32, rng), rand((30, 1), np.float32, rng)
    got = lt.from_numpy(v).t() @ lt.from_numpy(x).t()  # (1, 40): one row, nothing to swap to
    (p,) = planned(got)
    assert p is None or not transposed(p)
    check(got.numpy(), v.T @ x.T)


# ---- the transposed orientation against numpy, forced (and the straight one beside it) ----

@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("m,n,k", [(7, 33, 5), (13, 100, 17), (64, 70, 129), (2, 40, 1),
                                   (12, 64, 40), (37, 6, 9), (20, 50, 32)])
def test_x_at_w_t_odd_sizes(orientation, dtype, m, n, k):
    rng = np.random.default_rng(m * 1000 + n * 10 + k)
    x, w = rand((m, k), dtype, rng), rand((n, k), dtype, rng)
    got = lt.from_numpy(x) @ lt.from_numpy(w).t()
    (p,) = planned(got)
    assert p is not None and transposed(p) == orientation
    # both factors run along k: b (W, or x transposed) is packed through VL x VL transposes
    # where k holds a vector, then value by value for the last k % VL
    assert p.b_along_k == (k >= p.vl)
    check(got.numpy(), x @ w.T)


@pytest.mark.parametrize("dtype", [np.float32, np.int64], ids=["float32", "int64"])
def test_views_and_batches(orientation, dtype):
    rng = np.random.default_rng(2)
    x, w = rand((30, 50), dtype, rng), rand((80, 50), dtype, rng)
    lx, lw = lt.from_numpy(x), lt.from_numpy(w)
    # sliced rows and a strided k: neither factor runs along k, both packed
    check((lx[3:, ::2] @ lw[5:70, ::2].t()).numpy(), x[3:, ::2] @ w[5:70, ::2].T)
    # W given transposed in memory (x @ W with W (k, n)): its rows run along n
    wt = rand((50, 80), dtype, rng)
    check((lx @ lt.from_numpy(wt)).numpy(), x @ wt)
    # a batch of inputs against one weight, and a batch of both
    xb = rand((3, 11, 50), dtype, rng)
    check((lt.from_numpy(xb) @ lw.t()).numpy(), xb @ w.T)
    wb = rand((3, 40, 50), dtype, rng)
    check((lt.from_numpy(xb) @ lt.from_numpy(wb).transpose(1, 2)).numpy(), xb @ wb.transpose(0, 2, 1))


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_linear_relu_epilogue(orientation, dtype):
    """bias + relu run on each tile, with the tile's rows along the output's contiguous axis
    when transposed; full tiles (64 = a whole number of panels, 6 * 11 + 4 rows) and partial ones."""
    rng = np.random.default_rng(3)
    for m, n in ((64, 70), (70, 64), (5, 33)):
        x, w, b = rand((m, 40), dtype, rng), rand((n, 40), dtype, rng), rand(n, dtype, rng)
        got = (lt.from_numpy(x) @ lt.from_numpy(w).t() + lt.from_numpy(b)).relu()
        (p,) = planned(got)
        assert transposed(p) == orientation
        check(got.numpy(), np.maximum(x @ w.T + b, 0))


@pytest.mark.parametrize("dtype", [np.float32, np.int64], ids=["float32", "int64"])
def test_cast_epilogue(orientation, dtype):
    rng = np.random.default_rng(4)
    a, b = rand((13, 9), dtype, rng), rand((50, 9), dtype, rng)
    x = make(Op.EXPAND, (leaf(a.reshape(13, 1, 9)),), (13, 50, 9))
    y = make(Op.EXPAND, (leaf(b.reshape(1, 50, 9)),), (13, 50, 9))
    s = make(Op.SUM, (make(Op.MUL, (x, y)),), (2,))
    c = leaf(rand((13, 50, 1), dtype, rng))
    out = make(Op.CAST, (make(Op.MAX, (make(Op.ADD, (s, c)), make(Op.MUL, (s, s)))),), dt.float64)
    (k,) = [k for k in run_pipeline([out], "fuse").kernels if k.reductions()]
    assert transposed(matmul_plan.plan(k, Renderer(k, "t").split_axis())) == orientation
    got, = llvm_backend.run([out])
    want, = numpy_backend.run([out])
    np.testing.assert_allclose(got, want, rtol=1e-5)


def test_sgd_update_of_a_weight_gradient(orientation):
    """w - lr * (g.T @ x), reduced over the first axis, in one kernel, either orientation."""
    rng = np.random.default_rng(5)
    g, x = rand((64, 40), np.float32, rng), rand((64, 70), np.float32, rng)
    w = rand((1, 40, 70), np.float32, rng)
    lg, lx = lt.from_numpy(g), lt.from_numpy(x)
    got = lt.from_numpy(w) - 0.05 * (lg[:, :, None] * lx[:, None, :]).sum(0, keepdim=True)
    (p,) = planned(got)
    assert p.k_axis == 0 and transposed(p) == orientation
    check(got.numpy(), w - 0.05 * (g.T @ x))


@pytest.mark.parametrize("parts", [1, 2, 3, 5])
def test_any_number_of_threads(orientation, monkeypatch, parts):
    """A transposed product split by the runtime along its columns (the first kept axis)."""
    monkeypatch.setattr(threads, "MIN_PARALLEL_WORK", 0)
    monkeypatch.setattr(threads, "workers", lambda: parts)
    rng = np.random.default_rng(parts)
    for m, n, k in ((64, 200, 30), (7, 300, 9), (100, 33, 20)):
        x, w = rand((m, k), np.float32, rng), rand((n, k), np.float32, rng)
        check((lt.from_numpy(x) @ lt.from_numpy(w).t()).numpy(), x @ w.T)


@settings(max_examples=20, deadline=None)
@given(m=st.integers(2, 40), n=st.integers(2, 70), k=st.integers(1, 40),
       batch=st.sampled_from([(), (2,)]), first=st.booleans(),
       dtype=st.sampled_from([np.float32, np.float64, np.int32]), seed=st.integers(0, 2 ** 16))
def test_transposed_products_match_numpy(m, n, k, batch, first, dtype, seed):
    """Forced transposed, reduced last (x @ W.T) or first (g.T @ x)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(llvm_backend, "_cache", {})
        mp.setattr(matmul_plan, "_swap_pays", lambda *args: True)
        _transposed_product(m, n, k, batch, first, dtype, seed)


def _transposed_product(m, n, k, batch, first, dtype, seed) -> None:
    rng = np.random.default_rng(seed)
    if first:
        g, x = rand(batch + (k, m), dtype, rng), rand(batch + (k, n), dtype, rng)
        lg, lx = lt.from_numpy(g), lt.from_numpy(x)
        axis = len(batch)
        got = (lg.unsqueeze(-1) * lx.unsqueeze(-2)).sum(axis)
        want = (g[..., :, None] * x[..., None, :]).sum(axis)
    else:
        x, w = rand(batch + (m, k), dtype, rng), rand((n, k), dtype, rng)
        got = lt.from_numpy(x) @ lt.from_numpy(w).t()
        want = x @ w.T
    check(got.numpy(), want)


# ---- the pack of an a that runs along m ----

@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("m,k", [(12, 64), (101, 64), (96, 5), (200, 2000), (7, 3)])
def test_weight_gradient_packs_g_by_rows(dtype, m, k):
    """g.T @ x reduced over the batch: a = g.T runs along m, so whole groups of row tiles are
    packed MR values at a time and a last partial group CHUNK values of k per row (m = 101:
    96 rows in whole tiles, then 5; k = 2000: groups of 5 tiles)."""
    rng = np.random.default_rng(m + k)
    g, x = rand((k, m), dtype, rng), rand((k, 45), dtype, rng)
    got = (lt.from_numpy(g)[:, :, None] * lt.from_numpy(x)[:, None, :]).sum(0)
    (p,) = planned(got)
    if dtype is not np.int32:  # int32.sum() is int64: a SUM of a CAST, no product
        assert p is not None and p.k_axis == 0 and p.pack_a and p.a_along_m
    check(got.numpy(), g.T @ x)


def test_a_strided_along_m_is_packed_by_chunks():
    rng = np.random.default_rng(6)
    g, x = rand((30, 80), np.float32, rng), rand((30, 20), np.float32, rng)
    got = (lt.from_numpy(g)[:, ::3, None] * lt.from_numpy(x)[:, None, :]).sum(0)
    (p,) = planned(got)
    assert p.pack_a and not p.a_along_m
    check(got.numpy(), g[:, ::3].T @ x)
