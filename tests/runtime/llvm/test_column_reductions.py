"""Tests for column-wise reductions (runtime/llvm/columns.py): a reduction that keeps the
last axis walks memory row by row, accumulating a tile of columns at a time, COLUMN_ROWS rows
per pass; every op, dtype and shape agrees with the numpy oracle, split across threads or not."""
from __future__ import annotations

import os
import sys

import numpy as np
import pytest

from lazytensor.compiler import dtypes as dt
from lazytensor.compiler.ops import Op, make
from lazytensor.compiler.passes import run_pipeline
from lazytensor.runtime.llvm import columns, threads
from lazytensor.runtime.llvm.renderer import render

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from test_llvm_backend import agree, data, leaf  # noqa: E402


def kernel_of(out):
    (k,) = run_pipeline([out], "fuse").kernels
    return k


def test_only_reductions_keeping_the_last_axis_go_column_wise():
    x = leaf(np.ones((6, 5), np.float32))
    assert "%cacc" in render(kernel_of(make(Op.SUM, (x,), (0,))), "k").ir
    assert "%cacc" not in render(kernel_of(make(Op.SUM, (x,), (1,))), "k").ir
    assert "%cacc" not in render(kernel_of(make(Op.SUM, (x,), (0, 1))), "k").ir
    one = leaf(np.ones((6, 1), np.float32))
    assert "%cacc" not in render(kernel_of(make(Op.SUM, (one,), (0,))), "k").ir


@pytest.mark.parametrize("split", [False, True])
@pytest.mark.parametrize("shape,axes", [
    ((6, 5), (0,)), ((17, 3), (0,)), ((8, 2100), (0,)),  # remainders of rows and of tiles
    ((3, 9, 7), (1,)), ((3, 9, 7), (0, 1)), ((4, 1, 6), (0, 1)), ((5, 4, 1, 3), (0, 2)),
    ((1, 7), (0,)), ((0, 4), (0,)), ((9, 1, 2), (0,))])
def test_column_sums_agree(monkeypatch, split, shape, axes):
    if split:
        monkeypatch.setattr(threads, "MIN_PARALLEL_WORK", 0)
        monkeypatch.setattr(threads, "workers", lambda: 3)
    rng = np.random.default_rng(5)
    # positive values: a sum that cancels to near zero would measure the oracle's float32
    # rounding (it adds row after row in float32; the kernel accumulates in double)
    x = leaf(rng.uniform(0.5, 1.5, shape).astype(np.float32))
    r = make(Op.SUM, (x,), axes)
    agree(r, make(Op.SQRT, (make(Op.MUL, (r, r)),)))


@pytest.mark.parametrize("op", [Op.SUM, Op.MAX_REDUCE, Op.PROD])
@pytest.mark.parametrize("d", [dt.float32, dt.float64, dt.float16, dt.bfloat16, dt.int32,
                               dt.int64, dt.uint8, dt.bool_], ids=lambda d: d.name)
def test_every_reduction_and_dtype(op, d):
    rng = np.random.default_rng(6)
    x = leaf(data((11, 13), d, rng, low=-3, high=4))
    if op is Op.PROD and d.is_floating_point:
        x = leaf(np.clip(data((11, 13), d, rng), 0.5, 1.5).astype(d.np_dtype))
    agree(make(op, (x,), (0,)), atol=0.5)


def test_views_and_fused_producers_and_consumers():
    rng = np.random.default_rng(7)
    a = leaf(data((12, 10), dt.float32, rng))
    b = leaf(data((1, 10), dt.float32, rng))
    # the producer reads a broadcast and a flipped view; the consumer adds a stored buffer
    prod = make(Op.MUL, (make(Op.FLIP, (a,), (0,)), make(Op.EXPAND, (b,), (12, 10))))
    s = make(Op.SUM, (prod,), (0,))
    agree(make(Op.ADD, (s, b)))
    # a permuted input: its last kernel axis is strided in memory, still correct
    t = make(Op.PERMUTE, (leaf(data((10, 12), dt.float32, rng)),), (1, 0))
    agree(make(Op.SUM, (t,), (0,)))


def test_rows_per_pass_and_tile_edges(monkeypatch):
    monkeypatch.setattr(columns, "COLUMN_TILE", 4)
    rng = np.random.default_rng(8)
    for rows in (1, columns.COLUMN_ROWS - 1, columns.COLUMN_ROWS, 2 * columns.COLUMN_ROWS + 3):
        x = leaf(data((rows, 11), dt.float32, rng))
        agree(make(Op.SUM, (x,), (0,)), make(Op.MAX_REDUCE, (x,), (0,)))
