"""Tests for lazytensor.runtime.llvm.allocator: size classes, reuse of freed blocks, and the safety
rule that memory seen outside (numpy views, t.numpy(), torch tensors over it) is never reused
while referenced."""
from __future__ import annotations

import gc

import numpy as np
import pytest

import lazytensor as lt
from lazytensor import config
from lazytensor import lazy
from lazytensor.compiler import dtypes as dt
from lazytensor.compiler.ir import prune
from lazytensor.runtime.llvm import allocator

from lt_testing import torch

BIG = (256, 256)  # 256 KiB of float32: pooled


@pytest.fixture(autouse=True)
def fresh_pool(tmp_path):
    config.set(CACHE_DIR=str(tmp_path))
    gc.collect()
    allocator.clear()
    yield
    allocator.clear()


@pytest.fixture
def llvm():
    old = config.get("BACKEND")
    config.set(BACKEND="llvm")
    yield
    config.set(BACKEND=old)


def test_size_classes_round_up_by_at_most_a_quarter():
    for n in (1 << 16, (1 << 16) + 1, 100_000, 3 << 20, (1 << 26) + 1, 12345678):
        c = allocator.size_class(n)
        assert n <= c <= n * 1.25 + 1
    assert allocator.size_class(1 << 26) == 1 << 26
    # nearby sizes share a class, so a slightly different size reuses the block
    assert allocator.size_class(1_000_000) == allocator.size_class(1_000_100)


def test_outputs_are_aligned_contiguous_and_typed():
    for d in (dt.float32, dt.float64, dt.int8, dt.bool_, dt.float16):
        for shape in ((), (0,), (3, 5), BIG):
            a = allocator.empty(d, shape)
            assert a.shape == shape and a.dtype == d.np_dtype and a.flags.c_contiguous
            assert type(a) is np.ndarray and a.flags.writeable
            # pooled blocks start on a cache line; small ones where numpy puts them
            align = allocator.ALIGN if a.nbytes >= allocator.POOL_MIN else a.itemsize
            assert a.ctypes.data % align == 0


def test_a_freed_block_is_reused():
    a = allocator.empty(dt.float32, BIG)
    addr = a.ctypes.data
    del a
    assert allocator.cached_bytes() > 0
    hits = allocator.stats()["hits"]
    b = allocator.empty(dt.float32, BIG)
    assert b.ctypes.data == addr and allocator.cached_bytes() == 0
    assert allocator.stats()["hits"] == hits + 1


def test_small_blocks_are_not_pooled():
    a = allocator.empty(dt.float32, (10,))
    del a
    assert allocator.cached_bytes() == 0


def test_a_view_keeps_the_block_in_use():
    a = allocator.empty(dt.float32, BIG)
    a[:] = 7
    views = [a[3:, ::2].T, a.reshape(-1), a.view(np.int32), np.asarray(a)]
    del a
    gc.collect()
    assert allocator.cached_bytes() == 0  # still referenced through the views
    b = allocator.empty(dt.float32, BIG)
    b[:] = -1
    assert all(not np.shares_memory(v, b) for v in views)
    assert (views[1] == 7).all()
    del views, b
    gc.collect()
    assert allocator.cached_bytes() > 0


@pytest.mark.parametrize("shape", [BIG, (3,), ()], ids=["pooled", "small", "0-d"])
def test_claim_is_once_and_only_for_fresh_outputs(shape):
    a = allocator.empty(dt.float32, shape)
    view = a.reshape(-1)[::-1]
    assert allocator.claim(view) and not allocator.claim(a)
    assert not allocator.claim(np.zeros(4))
    assert not allocator.claim(np.zeros(4).reshape(2, 2))
    assert not allocator.claim(allocator.view(allocator.slot(64), dt.float32, (4,)))
    assert not allocator.claim(allocator.view(allocator.slot(1 << 20), dt.float32, (4,)))


def test_the_cache_is_bounded(monkeypatch):
    monkeypatch.setattr(allocator, "MAX_CACHED", 300_000)
    a, b = allocator.empty(dt.float32, BIG), allocator.empty(dt.float32, BIG)
    del a, b
    assert 0 < allocator.cached_bytes() <= 300_000


def test_numpy_of_a_result_is_never_reused_while_referenced(llvm):
    x = lt.from_numpy(np.arange(BIG[0] * BIG[1], dtype=np.float32).reshape(BIG))
    y = (x * 2 + 1).realize()
    arr = y.numpy()
    want = arr.copy()
    del y
    gc.collect()
    for k in range(4):  # same size: would take the block if it were free
        z = x * float(k) - 3
        z.realize()
        assert not np.shares_memory(z.numpy(), arr)
        del z
        gc.collect()
    np.testing.assert_array_equal(arr, want)


def test_result_blocks_come_back_after_the_tensor_dies(llvm):
    x = lt.from_numpy(np.ones(BIG, np.float32))
    y = (x + 1).realize()
    addr = y.numpy().ctypes.data
    del y
    gc.collect()
    prune()  # the IR table held the dead tensor's BUFFER node until now
    z = (x + 2).realize()
    assert z.numpy().ctypes.data == addr
    np.testing.assert_array_equal(z.numpy(), np.full(BIG, 3, np.float32))


@pytest.mark.skipif(torch is None, reason="needs torch")
def test_torch_tensor_over_a_result_keeps_it(llvm):
    x = lt.from_numpy(np.ones(BIG, np.float32))
    y = (x * 5).realize()
    t = torch.from_numpy(y.numpy())
    del y
    gc.collect()
    prune()
    z = (x * 9).realize()
    assert not np.shares_memory(z.numpy(), t.numpy())
    assert bool((t == 5).all())


def test_results_are_kept_without_a_copy_and_stay_correct(llvm):
    a = np.random.default_rng(0).standard_normal(BIG).astype(np.float32)
    x = lt.from_numpy(a)
    outs = [(x * float(k)).realize() for k in range(5)]
    for k, o in enumerate(outs):
        np.testing.assert_allclose(o.numpy(), a * k, rtol=1e-6)
    # two tensors whose graphs end in the same stored value (one a RESHAPE of it): one kernel,
    # and the second tensor gets a copy, not the first one's storage
    s = x.sum(1)
    s2 = x.sum(1, keepdim=True)
    lazy.realize([s, s2])
    assert not np.shares_memory(s.numpy(), s2.numpy())
    np.testing.assert_allclose(s2.numpy().reshape(-1), a.sum(1), rtol=1e-4)


def test_views_at_offsets_of_one_block_keep_it_in_use():
    raw = allocator.slot(BIG[0] * BIG[1] * 4 + 128)
    first = allocator.view(raw, dt.float32, (4, 4))
    second = allocator.view(raw, dt.int64, (2, 3), offset=128)
    assert second.ctypes.data == raw.ctypes.data + 128 and second.flags.c_contiguous
    assert first.ctypes.data == raw.ctypes.data and first.flags.writeable
    second[:] = 7
    first[:] = -1  # does not reach the other view's bytes
    assert (second == 7).all()
    del raw, first
    gc.collect()
    assert allocator.cached_bytes() == 0  # `second` holds the block
    del second
    gc.collect()
    assert allocator.cached_bytes() > 0


def test_a_reused_block_is_still_aligned():
    for _ in range(3):
        a = allocator.empty(dt.float32, (BIG[0], BIG[1] - 3))
        assert a.ctypes.data % allocator.ALIGN == 0
        del a
