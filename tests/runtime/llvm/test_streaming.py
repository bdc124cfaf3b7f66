"""Tests for streaming (non-temporal) stores: an elementwise kernel with a big output writes it
64 bytes at a time from the first 64-byte boundary on (renderer.Renderer._streamed_loop). The
threshold is lowered here so small arrays take that path; every result is checked against the
numpy backend, with outputs and inputs at every alignment."""
from __future__ import annotations

import os
import sys

import numpy as np
import pytest

from lazytensor.compiler import dtypes as dt
from lazytensor.compiler.ops import Op, make
from lazytensor.compiler.passes import run_pipeline
from lazytensor.runtime.llvm import backend as llvm_backend
from lazytensor.runtime.llvm import renderer
from lazytensor.runtime.llvm.renderer import render

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from test_llvm_backend import agree, const, leaf  # noqa: E402

pytestmark = pytest.mark.skipif(not renderer.STREAMS, reason="streaming stores are x86-only")


@pytest.fixture
def streaming(monkeypatch, fresh_o3_kernels):
    """Every elementwise kernel streams (compiled at O3, forgotten afterwards)."""
    monkeypatch.setattr(renderer, "STREAM_BYTES", 0)


def kernel_ir(out) -> str:
    (k,) = run_pipeline([out], "fuse").kernels
    return render(k, "k_test").ir


def test_only_big_outputs_stream():
    x = leaf(np.ones(1 << 12, np.float32))
    assert "!nontemporal" not in kernel_ir(make(Op.ADD, (x, x)))
    big = make(Op.EXPAND, (make(Op.RESHAPE, (x,), (1, 1 << 12)),), (1 << 11, 1 << 12))
    ir = kernel_ir(make(Op.ADD, (big, big)))  # a 32 MiB output
    assert "!nontemporal" in ir and "@llvm.x86.sse.sfence" in ir


def test_a_short_last_axis_does_not_stream(streaming):
    x = leaf(np.ones((1000, 4 * renderer.STREAM_TILE // 4 - 1), np.float32))
    assert "!nontemporal" not in kernel_ir(make(Op.ADD, (x, x)))


@pytest.mark.parametrize("n", [64, 100, 1000, 4099, 70001, 200003])
def test_chain_matches_numpy_at_every_length(streaming, n):
    rng = np.random.default_rng(n)
    a, b, c = (leaf(rng.standard_normal(n).astype(np.float32)) for _ in range(3))
    y = make(Op.ADD, (make(Op.MUL, (a, b)), c))
    y = make(Op.MUL, (y, make(Op.ADD, (y, a))))
    assert "!nontemporal" in kernel_ir(y)
    agree(y)


@pytest.mark.parametrize("dtype", [np.bool_, np.int8, np.int16, np.float16, np.float32,
                                   np.float64, np.int64, "bfloat16"])
def test_every_store_type_streams_correctly(streaming, dtype):
    d = dt.bfloat16 if dtype == "bfloat16" else dt.dtype_from_numpy(np.dtype(dtype))
    rng = np.random.default_rng(3)
    raw = rng.standard_normal((5, 333)) * 50
    x = make(Op.CAST, (leaf(raw.astype(np.float32)),), d)
    one = const(1 if d is not dt.bool_ else True, d, (5, 333))
    y = make(Op.MAX, (x, one)) if d is dt.bool_ else make(Op.ADD, (x, one))
    assert "!nontemporal" in kernel_ir(y)
    agree(y)


def test_views_and_broadcasts_stream(streaming):
    rng = np.random.default_rng(1)
    m = leaf(rng.standard_normal((300, 257)).astype(np.float32))
    t = make(Op.PERMUTE, (m,), (1, 0))  # (257, 300), read down columns
    row = leaf(rng.standard_normal(300).astype(np.float32))
    bias = make(Op.EXPAND, (make(Op.RESHAPE, (row,), (1, 300)),), (257, 300))
    flipped = make(Op.FLIP, (t,), (1,))
    agree(make(Op.ADD, (make(Op.MUL, (t, bias)), flipped)))


@pytest.mark.parametrize("offset", range(0, 64, 4))
def test_outputs_at_every_alignment(streaming, offset):
    n = 5000
    src = np.random.default_rng(offset).standard_normal(n).astype(np.float32)
    x = leaf(src)
    y = make(Op.MUL, (make(Op.ADD, (x, x)), x))
    llvm_backend.run([y])  # compile it
    (k,) = run_pipeline([y], "fuse").kernels
    prog, _ = llvm_backend.program_for(k)
    block = np.zeros(n * 4 + 128, np.uint8)
    start = (-block.ctypes.data) % 64 + offset
    out = block[start:start + 4 * n].view(np.float32)
    prog(out, [src])
    np.testing.assert_array_equal(out, (src + src) * src)
    assert not block[:start].any() and not block[start + 4 * n:].any()  # nothing written outside


def test_an_element_misaligned_output_is_written_without_streaming(streaming):
    # numpy allows a float32 array at an odd address; the kernel must not issue an aligned store
    n = 3000
    src = np.arange(n, dtype=np.float32)
    x = leaf(src)
    y = make(Op.ADD, (x, x))
    llvm_backend.run([y])
    (k,) = run_pipeline([y], "fuse").kernels
    prog, _ = llvm_backend.program_for(k)
    block = np.zeros(n * 4 + 128, np.uint8)
    start = (-block.ctypes.data) % 64 + 1
    out = block[start:start + 4 * n].view(np.float32)
    prog(out, [src])
    np.testing.assert_array_equal(out, src + src)


def test_kernels_that_flag_errors_stream_and_still_raise(streaming):
    n = 5000
    rng = np.random.default_rng(2)
    a = rng.integers(-100, 100, n).astype(np.int32)
    b = rng.integers(1, 9, n).astype(np.int32)
    src = leaf(rng.standard_normal(n).astype(np.float32))
    idx = rng.integers(0, n, n).astype(np.int64)
    q = make(Op.IDIV, (leaf(a), leaf(b)))
    g = make(Op.GATHER, (src, leaf(idx)), 0)
    assert "!nontemporal" in kernel_ir(q) and "!nontemporal" in kernel_ir(g)
    agree(q)
    agree(g)
    b[4321] = 0
    with pytest.raises(ZeroDivisionError, match="by zero"):
        llvm_backend.run([make(Op.IDIV, (leaf(a), leaf(b)))])
    idx[4000] = n
    with pytest.raises(IndexError, match=f"index {n} is out of bounds"):
        llvm_backend.run([make(Op.GATHER, (src, leaf(idx)), 0)])
