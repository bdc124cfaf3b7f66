"""Tests for lazytensor.runtime.llvm.threads: kernels split across the thread pool agree with the
numpy oracle (elementwise, row reductions, full reductions in parts), errors found by any slice
are raised, and a forked child gets a working pool."""
from __future__ import annotations

import os
import sys

import numpy as np
import pytest

from lazytensor import config
from lazytensor.compiler import dtypes as dt
from lazytensor.compiler.ops import Op, make
from lazytensor.runtime.llvm import backend as llvm_backend
from lazytensor.runtime.llvm import threads

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from test_llvm_backend import agree, data, leaf  # noqa: E402


@pytest.fixture(autouse=True)
def split_everything(monkeypatch, tmp_path):
    """Every kernel splits (whatever its size), over 3 parts even on a 1-core machine."""
    monkeypatch.setattr(threads, "MIN_PARALLEL_WORK", 0)
    monkeypatch.setattr(threads, "workers", lambda: 3)
    config.set(CACHE_DIR=str(tmp_path))


def test_chunks_cover_the_range_once():
    for total in (0, 1, 2, 5, 100, 101):
        for parts in (1, 2, 3, 8):
            cs = threads.chunks(total, parts)
            assert len(cs) <= max(1, parts)
            flat = [i for s, e in cs for i in range(s, e)]
            assert flat == list(range(total))
            assert all(s < e for s, e in cs)


def test_parallel_for_runs_each_part_once():
    seen = []
    n = threads.parallel_for(lambda i, s, e: seen.append((i, s, e)), 10, work=10)
    assert n == 3 and sorted(seen) == [(0, 0, 3), (1, 3, 6), (2, 6, 10)]


@pytest.mark.parametrize("shape", [(7,), (5, 9), (1, 13), (2, 1, 11), (0, 4), ()])
@pytest.mark.parametrize("d", [dt.float32, dt.int32, dt.float16], ids=lambda d: d.name)
def test_elementwise_split(shape, d):
    rng = np.random.default_rng(1)
    a, b = leaf(data(shape, d, rng)), leaf(data(shape, d, rng))
    y = make(Op.ADD, (make(Op.MUL, (a, b)), a))
    t = make(Op.PERMUTE, (y,), tuple(reversed(range(len(shape))))) if len(shape) > 1 else y
    agree(y, t)


@pytest.mark.parametrize("op", [Op.SUM, Op.MAX_REDUCE, Op.PROD])
@pytest.mark.parametrize("d", [dt.float32, dt.int64, dt.bool_, dt.bfloat16], ids=lambda d: d.name)
@pytest.mark.parametrize("shape,axes", [((6, 5), (1,)), ((6, 5), (0,)), ((6, 5), (0, 1)),
                                        ((11,), (0,)), ((1, 9), (0, 1)), ((0,), (0,)),
                                        ((3, 1, 4), (0, 1, 2))])
def test_reductions_split(op, d, shape, axes):
    if op is Op.MAX_REDUCE and 0 in shape:
        pytest.skip("max of nothing is an error (raised when the op is built)")
    rng = np.random.default_rng(2)
    x = leaf(data(shape, d, rng, low=-3, high=4))
    if op is Op.PROD and d.is_floating_point:
        x = leaf(np.clip(data(shape, d, rng), 0.5, 1.5).astype(d.np_dtype))
    r = make(op, (x,), axes)
    # an epilogue fused after the reduction runs in the combining step of a full reduction
    epi = make(Op.ADD, (r, r)) if d is not dt.bool_ else make(Op.NOT, (r,))
    agree(r, epi, atol=0.5)


def test_full_reduction_with_an_input_in_its_epilogue():
    rng = np.random.default_rng(3)
    x = leaf(data((40, 3), dt.float32, rng))
    s = leaf(np.array([[2.5]], np.float32))
    agree(make(Op.MUL, (make(Op.SUM, (x,), (0, 1)), s)))


def test_errors_from_any_slice_are_raised():
    src = leaf(np.arange(4, dtype=np.float32))
    idx = np.zeros(30, np.int64)
    idx[25] = 9  # in the last slice
    idx[3] = -6  # in the first
    with pytest.raises(IndexError, match="index 9 is out of bounds"):
        llvm_backend.run([make(Op.GATHER, (src, leaf(idx)), 0)])
    a = leaf(np.ones(30, np.int32))
    b = np.ones(30, np.int32)
    b[-1] = 0
    with pytest.raises(ZeroDivisionError, match="by zero"):
        llvm_backend.run([make(Op.IDIV, (a, leaf(b)))])


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_forked_child_runs_split_kernels():
    x = leaf(np.arange(1000, dtype=np.float32))
    want = float(np.arange(1000, dtype=np.float64).sum())
    got, = llvm_backend.run([make(Op.SUM, (x,), (0,))])  # the parent's pool exists now
    assert float(got.reshape(())) == want
    pid = os.fork()
    if pid == 0:  # the child: no pool threads were inherited; a fresh pool must be built
        try:
            y = leaf(np.arange(1000, dtype=np.float32))
            got, = llvm_backend.run([make(Op.SUM, (make(Op.ADD, (y, y)),), (0,))])
            os._exit(0 if float(got.reshape(())) == 2 * want else 1)
        except BaseException:
            os._exit(2)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_big_work_runs_every_part_on_its_pinned_worker():
    import threading
    seen = {}

    def part(i, s, e):
        seen[i] = (threading.current_thread().name, os.sched_getaffinity(0))

    n = threads.parallel_for(part, 30, work=threads.PINNED_WORK)
    assert n == 3 and sorted(seen) == [0, 1, 2]
    assert [seen[i][0] for i in range(3)] == [f"lt-kernel-{i}" for i in range(3)]
    cores = sorted(os.sched_getaffinity(0))
    for i in range(3):  # worker i sits on the i-th core (wrapping: workers() is patched to 3)
        assert seen[i][1] == {cores[i % len(cores)]}
    again = {}
    threads.parallel_for(lambda i, s, e: again.setdefault(i, threading.current_thread().name),
                         30, work=threads.PINNED_WORK)
    assert again == {i: seen[i][0] for i in range(3)}  # part i always runs on worker i


def test_small_work_runs_part_zero_on_the_calling_thread():
    import threading
    names = {}
    threads.parallel_for(lambda i, s, e: names.setdefault(i, threading.current_thread()), 30,
                         work=threads.PINNED_WORK - 1)
    assert names[0] is threading.current_thread() and names[1] is not names[0]


@pytest.mark.parametrize("work", [1 << 20, 1 << 30])
def test_a_worker_error_is_raised_after_every_part_ends(work):
    done = []

    def part(i, s, e):
        if i == 1:
            raise ValueError("part 1 failed")
        done.append(i)

    with pytest.raises(ValueError, match="part 1 failed"):
        threads.parallel_for(part, 30, work=work)
    assert sorted(done) == [0, 2]
