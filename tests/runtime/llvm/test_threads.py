"""Tests for lazytensor.runtime.llvm.threads (and the native pool of pool.py): kernels split across
the thread pool agree with the numpy oracle (elementwise, row reductions, full reductions in
parts), errors found by any part are raised, each part runs on its pinned worker or on the calling
thread, launches in a row and from several threads neither hang nor mix, a forked child gets a
working pool, and idle workers sleep."""
from __future__ import annotations

import ctypes
import multiprocessing
import os
import platform
import sys
import threading
import time

import llvmlite.binding as llvm
import numpy as np
import pytest

from lazytensor import config
from lazytensor.compiler import dtypes as dt
from lazytensor.compiler.ops import Op, make
from lazytensor.compiler.passes import run_pipeline
from lazytensor.runtime.llvm import backend as llvm_backend
from lazytensor.runtime.llvm import pool, threads
from lazytensor.runtime.llvm.compiler import compile_ir

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from test_llvm_backend import agree, data, leaf  # noqa: E402


@pytest.fixture(autouse=True)
def split_everything(monkeypatch, tmp_path):
    """Every kernel splits (whatever its size), over 3 parts even on a 1-core machine."""
    monkeypatch.setattr(threads, "MIN_PARALLEL_WORK", 0)
    monkeypatch.setattr(threads, "workers", lambda: 3)
    config.set(CACHE_DIR=str(tmp_path))


_CALLBACK = ctypes.CFUNCTYPE(None, ctypes.c_int64, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64)


def python_parts(fn, total: int) -> int:
    """Run the Python function `fn(part, start, end)` over the chunks of `0..total`, one a thread
    of the pool (each part a ctypes callback through the pool's trampoline, holding the GIL while
    it runs); returns the number of parts. The first error a part raises is raised once every
    part has ended. (A kernel launched from `fn` would wait for the lock this holds.)"""
    parts = threads.chunks(total, threads.workers())
    errors: dict[int, BaseException] = {}

    def part(i: int, _: int | None, start: int, end: int) -> None:
        try:
            fn(i, start, end)
        except BaseException as e:  # a ctypes callback cannot raise: handed to the caller
            errors[i] = e

    callback = _CALLBACK(part)
    args = np.array([(i, 0) for i in range(len(parts))], dtype=np.int64)  # (part, unused)
    base = args.ctypes.data
    tasks = threads.task_table(threads.trampoline(2), ctypes.cast(callback, ctypes.c_void_p).value,
                               [base + 16 * i for i in range(len(parts))], parts)
    with threads.lock:
        threads.run(tasks.ctypes.data, len(parts))
    if errors:
        raise errors[min(errors)]
    return len(parts)


def test_chunks_cover_the_range_once():
    for total in (0, 1, 2, 5, 100, 101):
        for parts in (1, 2, 3, 8):
            cs = threads.chunks(total, parts)
            assert len(cs) <= max(1, parts)
            flat = [i for s, e in cs for i in range(s, e)]
            assert flat == list(range(total))
            assert all(s < e for s, e in cs)


def test_python_parts_run_each_part_once():
    seen = []
    n = python_parts(lambda i, s, e: seen.append((i, s, e)), 10)
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


def test_errors_from_any_part_are_raised():
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


def test_an_error_only_in_the_last_part_is_raised():
    src = leaf(np.arange(4, dtype=np.float32))
    idx = np.zeros(30, np.int64)
    idx[29] = 4  # the last part only (3 parts of 10)
    with pytest.raises(IndexError, match="index 4 is out of bounds for dimension 0 with size 4"):
        llvm_backend.run([make(Op.GATHER, (src, leaf(idx)), 0)])
    b = np.ones(30, np.int64)
    b[29] = 0
    with pytest.raises(ZeroDivisionError, match="by zero"):
        llvm_backend.run([make(Op.MOD, (leaf(np.ones(30, np.int64)), leaf(b)))])
    ok = np.arange(30) % 4  # the same program again, nothing out of range: no stale flag
    got, = llvm_backend.run([make(Op.GATHER, (src, leaf(ok)), 0)])
    np.testing.assert_array_equal(got, ok.astype(np.float32))


def test_the_pool_is_native_on_linux_x86_64_and_aarch64():
    native = sys.platform.startswith("linux") and platform.machine().lower() in (
        "x86_64", "amd64", "aarch64", "arm64")
    assert threads.POOL == ("native" if native else "python")


def test_the_aarch64_pool_is_valid_ir():
    mod = llvm.parse_assembly(pool.support_ir() + pool.native_ir("aarch64"))
    mod.verify()
    assert "@llvm.aarch64.hint" in str(mod) and "i64 98" in str(mod)  # yield; SYS_futex


def test_trampolines_pass_every_pointer():
    for n in (1, 2, 5, 12):
        args = np.arange(1, n + 1, dtype=np.int64) * 1000
        out = np.zeros(n + 2, np.int64)
        # a "kernel" of n pointers that writes them (and start, end) to the first one's target
        params = ", ".join([f"ptr %a{j}" for j in range(n)] + ["i64 %s", "i64 %e"])
        body = [f"define void @probe_{n}({params}) {{"]
        for j in range(n):
            body += [f"  %v{j} = ptrtoint ptr %a{j} to i64",
                     f"  %q{j} = getelementptr i64, ptr %out, i64 {j}",
                     f"  store i64 %v{j}, ptr %q{j}"]
        body += [f"  %q{n} = getelementptr i64, ptr %out, i64 {n}", f"  store i64 %s, ptr %q{n}",
                 f"  %q{n + 1} = getelementptr i64, ptr %out, i64 {n + 1}",
                 f"  store i64 %e, ptr %q{n + 1}", "  ret void", "}"]
        ir = "\n".join(body).replace("ptr %out", f"ptr inttoptr (i64 {out.ctypes.data} to ptr)")
        fn = compile_ir(ir, [f"probe_{n}"])[0][f"probe_{n}"]
        tasks = threads.task_table(threads.trampoline(n), fn, [args.ctypes.data], [(7, 9)])
        ctypes.CFUNCTYPE(None, ctypes.c_void_p)(pool.support()["lt_run_task"])(tasks.ctypes.data)
        assert out.tolist() == args.tolist() + [7, 9]


_FILL = """define void @lt_test_fill(ptr %out, ptr %value, ptr %err, i64 %s, i64 %e) {
entry:
  %v = load i64, ptr %value
  br label %loop
loop:
  %i = phi i64 [ %s, %entry ], [ %i1, %body ]
  %more = icmp slt i64 %i, %e
  br i1 %more, label %body, label %done
body:
  %p = getelementptr i64, ptr %out, i64 %i
  %x = add i64 %i, %v
  store i64 %x, ptr %p
  %i1 = add i64 %i, 1
  br label %loop
done:
  ret void
}"""
_fill: list = []


def fill_kernel() -> int:
    """The address of `out[i] = i + value[0]` over start..end (a kernel with one input)."""
    if not _fill:
        _fill.append(compile_ir(_FILL, ["lt_test_fill"])[0]["lt_test_fill"])
    return _fill[0]


def fill_launch(total: int, parts: int):
    """(out, value, tasks) of a fill over `total` elements in `parts` parts."""
    out, value, err = np.zeros(total, np.int64), np.zeros(1, np.int64), np.zeros(1, np.int64)
    args = np.array([out.ctypes.data, value.ctypes.data, err.ctypes.data], np.int64)
    tasks = threads.task_table(threads.trampoline(3), fill_kernel(), [args.ctypes.data] * parts,
                               threads.chunks(total, parts))
    return out, value, (tasks, args, err)


def test_many_launches_in_a_row_see_every_part_written():
    out, value, keep = fill_launch(3000, 3)
    want = np.arange(3000)
    for k in range(2000):
        value[0] = k
        with threads.lock:
            threads.run(keep[0].ctypes.data, 3)
        # every part's stores are visible once run returns (release/acquire hand-off)
        assert out[0] == k and out[999] == 999 + k and out[1000] == 1000 + k and out[-1] == 2999 + k
    np.testing.assert_array_equal(out, want + 1999)


def test_many_small_kernel_launches_agree():
    x = leaf(np.arange(64, dtype=np.float32))
    (k,) = run_pipeline([make(Op.MUL, (x, x))], "fuse").kernels
    prog, _ = llvm_backend.program_for(k)
    a = np.arange(64, dtype=np.float32)
    out = np.empty(64, np.float32)
    for i in range(2000):
        a[i % 64] = i
        prog(out, [a])
        assert out[i % 64] == np.float32(i) * np.float32(i)
    np.testing.assert_array_equal(out, a * a)


def test_launches_from_two_threads_at_once():
    rng = np.random.default_rng(7)
    x, y = leaf(data((90,), dt.float32, rng)), leaf(data((9, 10), dt.float32, rng))
    progs = [llvm_backend.program_for(k)[0] for k in run_pipeline(
        [make(Op.ADD, (x, x)), make(Op.SUM, (y,), (0, 1))], "fuse").kernels]
    assert len(progs) == 2 and progs[1].partial is not None  # elementwise; full reduction in parts
    errors = []

    def work(seed: int, prog_order) -> None:
        r = np.random.default_rng(seed)
        try:
            for i in range(300):
                prog = progs[prog_order[i % 2]]
                a = r.standard_normal(90).astype(np.float32)
                if prog.partial is None:
                    out = np.empty(90, np.float32)
                    prog(out, [a])
                    np.testing.assert_array_equal(out, a + a)
                else:
                    out = np.empty(1, np.float32)
                    prog(out, [a])
                    np.testing.assert_allclose(out[0], a.astype(np.float64).sum(), rtol=1e-5,
                                               atol=1e-4)
        except BaseException as e:  # reported by the main thread
            errors.append(e)

    ts = [threading.Thread(target=work, args=(s, order)) for s, order in ((1, (0, 1)), (2, (1, 0)),
                                                                        (3, (0, 0)))]
    for t in ts:
        t.start()
    for t in ts:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in ts), "a launch hung"
    assert not errors, errors[0]


def test_each_part_runs_on_its_pinned_worker_or_the_calling_thread():
    seen = {}
    together = threading.Barrier(3, timeout=30)  # proves the 3 parts ran at once, on 3 threads

    def part(i, s, e):
        seen[i] = (threading.current_thread(), os.sched_getaffinity(0))
        together.wait()

    assert python_parts(part, 30) == 3
    me = threading.current_thread()
    assert sorted(seen) == [0, 1, 2] and sum(seen[i][0] is me for i in range(3)) == 1
    cores = sorted(os.sched_getaffinity(0))
    for i in range(3):  # worker i sits on the i-th core (wrapping: workers() is patched to 3)
        if seen[i][0] is not me:
            assert seen[i][0].name == f"lt-kernel-{i}"
            assert seen[i][1] == {cores[i % len(cores)]}


@pytest.mark.skipif(threads.POOL != "native", reason="the native pool picks the caller's part")
def test_the_caller_runs_the_part_of_its_core():
    out, value, keep = fill_launch(30, 3)
    cores = sorted(os.sched_getaffinity(0))
    try:
        for i in range(min(3, len(cores))):
            os.sched_setaffinity(0, {cores[i]})  # this thread only
            with threads.lock:
                assert threads.run(keep[0].ctypes.data, 3) == i  # its worker stays asleep
            np.testing.assert_array_equal(out, np.arange(30))
    finally:
        os.sched_setaffinity(0, cores)


def test_a_worker_error_is_raised_after_every_part_ends():
    done = []

    def part(i, s, e):
        if i == 1:
            raise ValueError("part 1 failed")
        done.append(i)

    with pytest.raises(ValueError, match="part 1 failed"):
        python_parts(part, 30)
    assert sorted(done) == [0, 2]


def test_the_python_pool_runs_task_tables():
    # the pool of platforms without futex, run here directly
    p = threads._PythonPool()
    p.grow(3, sorted(os.sched_getaffinity(0)))
    out, value, keep = fill_launch(3000, 3)
    for k in range(50):
        value[0] = k
        assert p.run(keep[0].ctypes.data, 3) == 0
        np.testing.assert_array_equal(out, np.arange(3000) + k)


def _child_sum(results) -> None:
    try:
        y = leaf(np.arange(1000, dtype=np.float32))
        got, = llvm_backend.run([make(Op.SUM, (make(Op.ADD, (y, y)),), (0,))])
        out, value, keep = fill_launch(300, 3)
        value[0] = 5
        with threads.lock:
            threads.run(keep[0].ctypes.data, 3)
        results.put((float(got.reshape(())), out.tolist() == list(range(5, 305))))
    except BaseException as e:  # noqa: BLE001 - reported by the parent
        results.put(repr(e))


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_rebuilds_the_pool():
    x = leaf(np.arange(1000, dtype=np.float32))
    want = float(np.arange(1000, dtype=np.float64).sum())
    got, = llvm_backend.run([make(Op.SUM, (x,), (0,))])  # the parent's pool exists now
    assert float(got.reshape(())) == want
    ctx = multiprocessing.get_context("fork")
    results = ctx.Queue()
    for _ in range(2):  # a pool that just ran, then one whose workers sleep
        child = ctx.Process(target=_child_sum, args=(results,))
        child.start()
        assert results.get(timeout=60) == (2 * want, True)
        child.join(timeout=60)
        assert child.exitcode == 0
        time.sleep(0.05)


def test_idle_workers_sleep():
    out, value, keep = fill_launch(3000, 3)
    with threads.lock:
        threads.run(keep[0].ctypes.data, 3)
    time.sleep(0.05)  # longer than the workers spin (SPIN_US)
    cpu = time.process_time()
    time.sleep(0.1)
    assert time.process_time() - cpu < 0.02  # every thread of the process counts
    if threads.POOL == "native":
        state = threads._pool.state
        assert state.pending() == 0
        assert all(state.sleeping(i) for i in range(threads._pool.size))  # on their futex


def test_program_reads_buffer_addresses_like_numpy():
    from lazytensor.runtime.llvm.allocator import address
    a = np.arange(100, dtype=np.float32)
    ro = a.copy()
    ro.flags.writeable = False
    for x in (a, a[3:], ro, ro[5:], np.empty(0, np.float32), a[::2], a.reshape(10, 10).T,
              np.broadcast_to(a[:1], (5,))):
        assert address(x) == x.ctypes.data
