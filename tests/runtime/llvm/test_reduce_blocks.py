"""Tests for the renderer's blocked float reductions: a float32 (float16, bfloat16) SUM or PROD
accumulates each block of the innermost reduced loop in float (vector partial accumulators)
and adds the block totals in double (reductions.blocked)."""
from __future__ import annotations

import os
import sys

import numpy as np
import pytest

from lazytensor.compiler import dtypes as dt
from lazytensor.compiler.ops import Op, make
from lazytensor.compiler.passes import run_pipeline
from lazytensor.runtime.llvm import backend as llvm_backend
from lazytensor.runtime.llvm import reductions
from lazytensor.runtime.llvm.renderer import render

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from test_llvm_backend import agree, leaf  # noqa: E402


def rendered(out):
    (k,) = run_pipeline([out], "fuse").kernels
    return render(k, "k_test")


def test_float32_sum_is_blocked_and_float64_is_not():
    x = leaf(np.ones((4, 5000), np.float32))
    r = rendered(make(Op.SUM, (x,), (1,)))
    assert "%bacc0 = alloca float" in r.ir and "fadd reassoc float" in r.ir
    y = leaf(np.ones((4, 5000), np.float64))
    assert "%bacc" not in rendered(make(Op.SUM, (y,), (1,))).ir
    short = leaf(np.ones((4, reductions.BLOCK_MIN - 1), np.float32))
    assert "%bacc" not in rendered(make(Op.SUM, (short,), (1,))).ir
    assert "%bacc" not in rendered(make(Op.MAX_REDUCE, (x,), (1,))).ir


@pytest.mark.parametrize("n", [reductions.BLOCK_MIN, reductions.BLOCK - 1, reductions.BLOCK + 1,
                               3 * reductions.BLOCK + 17, 2 ** 20 + 7])
def test_full_float32_sum_matches_numpy_and_double(n):
    a = np.random.default_rng(n).standard_normal(n).astype(np.float32)
    (got,) = agree(make(Op.SUM, (leaf(a),), (0,)))
    exact = a.astype(np.float64).sum()
    assert abs(float(got[0]) - exact) <= 1e-6 * np.abs(a).sum()


def test_long_positive_sum_stays_accurate():
    # 2^22 values in [0, 1): a single float32 running sum would be off by ~1e-4 relative
    a = np.random.default_rng(0).random(2 ** 22, dtype=np.float32)
    (got,) = llvm_backend.run([make(Op.SUM, (leaf(a),), (0,))])
    exact = a.astype(np.float64).sum()
    assert abs(float(got[0]) - exact) / exact < 1e-6


@pytest.mark.parametrize("shape,axes", [((7, 5000), (1,)), ((64, 4096), (1,)),
                                        ((3, 300, 700), (1, 2)), ((5000, 6), (0,))])
def test_partial_float32_sums(shape, axes):
    a = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    agree(make(Op.SUM, (leaf(a),), axes))


def test_sum_of_a_permuted_input():
    # the oracle sums a strided axis one float32 step at a time: compare with double instead
    a = np.random.default_rng(2).standard_normal((600, 800)).astype(np.float32)
    p = make(Op.PERMUTE, (leaf(a),), (1, 0))
    rows, total = llvm_backend.run([make(Op.SUM, (p,), (1,)), make(Op.SUM, (p,), (0, 1))])
    exact = a.astype(np.float64)
    np.testing.assert_allclose(rows[:, 0], exact.sum(0), rtol=0, atol=1e-4)
    np.testing.assert_allclose(total[0, 0], exact.sum(), rtol=0, atol=1e-6 * np.abs(a).sum())


def test_float32_prod_is_blocked_and_accurate():
    a = (1 + np.random.default_rng(3).standard_normal((3, 9000)) * 1e-3).astype(np.float32)
    out = make(Op.PROD, (leaf(a),), (1,))
    assert "%bacc" in rendered(out).ir
    (got,) = agree(out)
    np.testing.assert_allclose(got[:, 0], np.prod(a.astype(np.float64), axis=1), rtol=1e-5)


@pytest.mark.parametrize("dtype", [dt.float16, dt.bfloat16])
def test_half_sums(dtype):
    # the oracle accumulates in the half type (it stalls at 256 in bfloat16): compare with the
    # double sum of the half values, rounded once
    a = np.random.default_rng(4).random((5, 6000)).astype(np.float32)
    x = make(Op.CAST, (leaf(a),), dtype)
    out = make(Op.SUM, (x,), (1,))
    assert "%bacc" in rendered(out).ir
    halves, got = llvm_backend.run([x, out])
    exact = halves.astype(np.float64).sum(1)
    np.testing.assert_allclose(got[:, 0].astype(np.float64), exact,
                               rtol={dt.float16: 1e-3, dt.bfloat16: 8e-3}[dtype])


def at_offset(a: np.ndarray, offset: int) -> np.ndarray:
    """A copy of `a` starting `offset` bytes past a 64-byte boundary."""
    block = np.zeros(a.nbytes + 128, np.uint8)
    start = (-block.ctypes.data) % 64 + offset
    out = block[start:start + a.nbytes].view(a.dtype).reshape(a.shape)
    out[...] = a
    return out


def program_of(out):
    llvm_backend.run([out])
    (k,) = run_pipeline([out], "fuse").kernels
    return llvm_backend.program_for(k)[0]


@pytest.mark.parametrize("offset", range(0, 64, 4))
def test_blocks_start_at_a_cache_line_whatever_the_input_alignment(offset):
    # the first elements up to a 64-byte boundary are peeled off (reductions.peel_to_alignment):
    # every alignment must give the same sums, for row sums and for a full sum split in parts
    rng = np.random.default_rng(offset)
    rows = rng.standard_normal((5, 3000)).astype(np.float32)
    flat = rng.standard_normal(70001).astype(np.float32)
    for a, axes, out_shape in ((rows, (1,), (5, 1)), (flat, (0,), (1,))):
        out = make(Op.SUM, (leaf(a),), axes)
        assert "%bacc" in rendered(out).ir
        got = np.empty(out_shape, np.float32)
        program_of(out)(got, [at_offset(a, offset).reshape(-1)])
        exact = a.astype(np.float64).sum(axis=axes, keepdims=True).reshape(out_shape)
        np.testing.assert_allclose(got, exact, rtol=0, atol=1e-6 * np.abs(a).sum())


@pytest.mark.parametrize("offset", [0, 2, 6, 1])
def test_half_sources_and_odd_addresses_peel_correctly(offset):
    # float16 elements are 2 bytes; an odd address never reaches a boundary: no peel at all
    a = np.random.default_rng(5).random((3, 5000)).astype(np.float16)
    x = make(Op.CAST, (leaf(a),), dt.float32)
    out = make(Op.SUM, (x,), (1,))
    got = np.empty((3, 1), np.float32)
    program_of(out)(got, [at_offset(a, offset).reshape(-1)])
    np.testing.assert_allclose(got[:, 0], a.astype(np.float64).sum(1), rtol=1e-6)
