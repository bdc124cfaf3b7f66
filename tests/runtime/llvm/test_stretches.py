"""Tests for reductions that read several stretches of their input at once (reductions.STRETCHES):
runs of rows side by side, with the rows left over in a loop of their own, and a long blocked
axis cut into equal runs. The threshold is lowered here so small arrays take those paths (each
kernel compiled at O3, as big ones are); every result is checked against float64 or the numpy
backend, at row counts and lengths that leave every kind of remainder, split over threads or not."""
from __future__ import annotations

import os
import sys

import numpy as np
import pytest

import lazytensor as lt
from lazytensor.compiler import dtypes as dt
from lazytensor.compiler.ops import IndexOutOfBounds, Op, make
from lazytensor.compiler.passes import run_pipeline
from lazytensor.runtime.llvm import backend as llvm_backend
from lazytensor.runtime.llvm import reductions, threads
from lazytensor.runtime.llvm.reductions import BLOCK, STRETCHES
from lt_testing import leaf

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.dirname(__file__))
from test_llvm_backend import agree  # noqa: E402
from test_reduce_blocks import at_offset, rendered  # noqa: E402


@pytest.fixture
def stretched(monkeypatch, fresh_o3_kernels):
    """Every reduction reads STRETCHES stretches at once (compiled at O3, forgotten afterwards)."""
    monkeypatch.setattr(reductions, "STRETCH_BYTES", 0)


def exact_sum(a: np.ndarray, axes: tuple) -> np.ndarray:
    return a.astype(np.float64).sum(axis=axes, keepdims=True)


def check_sum(got: np.ndarray, a: np.ndarray, axes: tuple) -> None:
    want = exact_sum(a, axes)
    np.testing.assert_allclose(got.reshape(want.shape), want, rtol=0,
                               atol=2e-7 * np.abs(a).sum() + 1e-30)


def test_only_big_reductions_read_stretches():
    small = leaf(np.ones((64, 512), np.float32))
    assert "%acc1" not in rendered(make(Op.SUM, (small,), (1,))).ir
    # a 64 MiB source (an expanded row: no memory is needed to render it)
    row = make(Op.RESHAPE, (leaf(np.ones(4096, np.float32)),), (1, 4096))
    big = make(Op.EXPAND, (row,), (4096, 4096))
    ir = rendered(make(Op.SUM, (big,), (1,))).ir
    assert f"%acc{STRETCHES - 1} = alloca double" in ir and f"%bacc{STRETCHES - 1}" in ir


def test_stretched_ir_reads_rows_side_by_side(stretched):
    ir = rendered(make(Op.SUM, (leaf(np.ones((8, 300), np.float32)),), (1,))).ir
    assert ir.count("alloca double") == STRETCHES and ir.count("alloca float") == STRETCHES
    assert "sdiv i64" in ir  # start..end cut into equal runs


@pytest.mark.parametrize("rows", [1, 2, 3, 5, 17, 100, 257])
@pytest.mark.parametrize("length", [7, reductions.BLOCK_MIN - 1, 300, BLOCK + 3])
def test_row_sums_at_every_remainder(stretched, rows, length):
    a = np.random.default_rng(rows * length).standard_normal((rows, length)).astype(np.float32)
    got, = llvm_backend.run([make(Op.SUM, (leaf(a),), (1,))])
    check_sum(got, a, (1,))


@pytest.mark.parametrize("rows", [33, 64, 1001])
def test_row_sums_split_over_threads(stretched, rows):
    # enough work for every core: each part cuts its own start..end into runs
    length = threads.MIN_PARALLEL_WORK // 16 + 5
    a = np.random.default_rng(rows).standard_normal((rows, length)).astype(np.float32)
    got, = llvm_backend.run([make(Op.SUM, (leaf(a),), (1,))])
    check_sum(got, a, (1,))


@pytest.mark.parametrize("offset", [0, 4, 8, 36])
@pytest.mark.parametrize("length", [300, 301, 4096])
def test_rows_at_every_alignment(stretched, offset, length):
    # the peel to a cache line is the first row's; rows of an odd length start elsewhere
    a = np.random.default_rng(offset + length).standard_normal((9, length)).astype(np.float32)
    out = make(Op.SUM, (leaf(a),), (1,))
    got = np.empty((9, 1), np.float32)
    (k,) = run_pipeline([out], "fuse").kernels
    llvm_backend.program_for(k)[0](got, [at_offset(a, offset).reshape(-1)])
    check_sum(got, a, (1,))


@pytest.mark.parametrize("n", [2 * STRETCHES * BLOCK, 2 * STRETCHES * BLOCK + 17,
                               3 * BLOCK + 5, 2 ** 18 + 7])
@pytest.mark.parametrize("offset", [0, 20])
def test_full_sums_cut_into_runs(stretched, n, offset):
    # a full reduction's parts: whole blocks from STRETCHES runs, then the blocks left over
    a = np.random.default_rng(n + offset).standard_normal(n).astype(np.float32)
    out = make(Op.SUM, (leaf(a),), (0,))
    got = np.empty(1, np.float32)
    (k,) = run_pipeline([out], "fuse").kernels
    llvm_backend.program_for(k)[0](got, [at_offset(a, offset)])
    check_sum(got, a, (0,))


@pytest.mark.parametrize("shape,axes", [((5, 7, 300), (2,)), ((4, 5, 300), (0, 2)),
                                        ((3, 6, 2, 50), (1, 3)), ((2, 3 * BLOCK + 1), (0, 1)),
                                        ((9, 2 * STRETCHES * BLOCK + 3), (1,))])
def test_kept_axes_after_the_split_one(stretched, shape, axes):
    a = np.random.default_rng(len(shape)).standard_normal(shape).astype(np.float32)
    got, = llvm_backend.run([make(Op.SUM, (leaf(a),), axes)])
    check_sum(got, a, axes)


@pytest.mark.parametrize("op", [Op.MAX_REDUCE, Op.PROD])
@pytest.mark.parametrize("dtype", [dt.float32, dt.float64, dt.int32])
def test_other_reductions_and_types(stretched, op, dtype):
    rng = np.random.default_rng(3)
    a = (rng.random((11, 301)) + 0.5).astype(dtype.np_dtype) if dtype.is_floating_point else \
        rng.integers(-3, 4, (11, 301)).astype(dtype.np_dtype)
    x = leaf(a)
    agree(make(op, (x,), (1,)), make(Op.SUM, (x,), (1,)))


@pytest.mark.parametrize("dtype", [dt.float16, dt.bfloat16])
def test_half_sources(stretched, dtype):
    a = np.random.default_rng(4).random((13, 5000)).astype(dtype.np_dtype)
    x = make(Op.CAST, (leaf(a),), dt.float32)
    got, = llvm_backend.run([make(Op.SUM, (x,), (1,))])
    check_sum(got, a.astype(np.float32), (1,))


def test_epilogue_and_prologue_fused(stretched):
    rng = np.random.default_rng(6)
    a = rng.standard_normal((37, 500)).astype(np.float32)
    b = rng.standard_normal(37).astype(np.float32)
    x, bias = lt.from_numpy(a), lt.from_numpy(b)
    y = ((x * x).sum(1) * 0.5 + bias).numpy()
    want = (a.astype(np.float64) ** 2).sum(1) * 0.5 + b
    np.testing.assert_allclose(y, want, rtol=1e-5)
    m = x.mean(-1, keepdim=True).numpy()
    np.testing.assert_allclose(m, a.astype(np.float64).mean(-1, keepdims=True), rtol=1e-5,
                               atol=1e-6)


def test_gather_errors_still_raised(stretched):
    x = lt.from_numpy(np.ones((9, 300), np.float32))
    idx = lt.from_numpy(np.array([[0] * 299 + [300]] * 9))
    with pytest.raises(IndexOutOfBounds):
        x.gather(1, idx).sum(1).numpy()
    ok = lt.from_numpy(np.tile(np.arange(300)[::-1], (9, 1)))
    np.testing.assert_allclose(x.gather(1, ok).sum(1).numpy(), np.full(9, 300.0))
