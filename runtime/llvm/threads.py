"""The thread pool that runs parts of one kernel on every core.

A launch is a table of tasks, one a part: `(trampoline, kernel, args, start, end)` (pool.py) —
the kernel runs `start..end` of its split loop with the pointers in `args`. `run(tasks, nparts)`
runs parts 0..nparts-1 at once and returns when all are done; launches are serialized by `lock`
(the caller holds it while it fills its task and argument tables and runs them).

Worker `i` is pinned to the i-th core this process may use and always runs part `i` of a split
kernel: a kernel run twice over the same data then finds each part in the cache of the core that
read it last time (on a machine whose cores have separate L3 caches, a 64 MiB array split in two
fits the two caches; unpinned threads that swap cores between calls miss both). The calling
thread is never pinned (it is the user's): it runs the part of the core it is on at launch, and
that core's worker stays asleep, so each part still runs on its core and no worker competes with
the caller for a core.

POOL says which pool this platform runs:
- "native" (Linux on x86_64 or aarch64): the pool of pool.py. Workers are Python threads that call
  a native loop once and never come back (so they never hold the GIL); a launch is one ctypes
  call that hands the tasks over through shared memory and futexes. Idle workers spin for
  SPIN_US after their last task (the kernels of one flush come microseconds apart, those of
  successive flushes a few hundred), then sleep on a futex and use no CPU. Launching an empty kernel in two parts costs ~0.7 us when the
  worker spins; waking a sleeping one costs ~10-15 us on a 2-core VM (the futex wake-up's
  inter-processor interrupt goes through the hypervisor), and the caller meanwhile runs its own
  part, then takes the worker's if it has not started.
- "python" (no futex: other systems): a worker thread per part fed through `queue.SimpleQueue`,
  each task run by a ctypes call; the calling thread runs part 0. Tens of microseconds a launch.

The pool is made on first use and rebuilt in a forked child (a DataLoader worker inherits the
parent's pool object but none of its threads).
"""
from __future__ import annotations

import ctypes
import os
import queue
import threading
import time

import numpy as np

from . import pool as native

POOL = "native" if native.NATIVE else "python"
# Below this many iterations (elements visited) a kernel runs on the calling thread alone.
# Measured on an elementwise kernel (2-core VM): split in two it wins from 2^14 elements when
# the worker spins, but only from ~2^17 when it must be woken from sleep.
MIN_PARALLEL_WORK = 1 << 16
# How long an idle worker polls for its next task before it sleeps. It must outlast the Python
# between two big kernels (~100-250 us once a 64 MiB kernel has emptied the caches): a worker
# that fell asleep starts its part 10-50 us late, and a reduction waits for it. Measured, sum of
# 2^24 floats / torch's time, A/B pairs run back to back: 100 us 1.08, 1.12, 1.06; 500 us 1.06,
# 1.04, 0.99.
# (GNU OpenMP, under torch, spins for a comparable time before it sleeps.)
SPIN_US = 500
CALLER_SPIN_US = 100  # how long the caller polls for the workers' end before it sleeps

lock = threading.Lock()  # held for a whole launch: filling its tables, running, reading results
_pool: "_NativePool | _PythonPool | None" = None
_cores: list[int] | None = None


def _affinity() -> list[int]:
    """The cores this process may use (empty where the system cannot say), read once: the pool's
    workers are pinned to them."""
    global _cores
    if _cores is None:
        try:
            _cores = sorted(os.sched_getaffinity(0))
        except AttributeError:  # not Linux
            _cores = []
    return _cores


def workers() -> int:
    """How many parts a kernel is split into (the cores this process may use)."""
    return len(_affinity()) or os.cpu_count() or 1


def chunks(total: int, parts: int) -> list[tuple[int, int]]:
    """`0..total` cut into at most `parts` contiguous, non-empty (start, end) ranges."""
    parts = max(1, min(parts, total))
    bounds = [total * i // parts for i in range(parts + 1)]
    return [(bounds[i], bounds[i + 1]) for i in range(parts) if bounds[i] < bounds[i + 1]]


def trampoline(n: int) -> int:
    """The address of the trampoline of kernels with `n` pointer arguments (pool.py)."""
    return native.trampoline(n)


def task_table(tramp: int, fn: int, args: list[int], parts: list[tuple[int, int]]) -> np.ndarray:
    """The tasks of a launch: part i runs `fn` through `tramp` over parts[i] with the argument
    array at address args[i]."""
    return np.array([(tramp, fn, a, s, e) for a, (s, e) in zip(args, parts)], dtype=np.int64)


def run(tasks: int, nparts: int) -> int:
    """Run the `nparts` tasks of the table at address `tasks`, one a thread, and return when all
    are done; returns the part the calling thread ran. The caller holds `lock`."""
    p = _pool
    if p is None or p.size < nparts:
        p = _grow(nparts)
    return p.run(tasks, nparts)


def _pin(core: int | None) -> None:
    if core is not None:
        try:
            os.sched_setaffinity(0, {core})  # 0: this thread only (Linux)
        except OSError:  # the core was taken away meanwhile: run unpinned
            pass


class _NativePool:
    """The futex pool of pool.py: its shared state and worker threads."""

    def __init__(self, capacity: int):
        fns = native.support()
        self.state = native.State(capacity)
        self.size = 0  # workers started
        self._worker = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int64)(fns["lt_worker"])
        self._run = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.c_void_p, ctypes.c_void_p,
                                     ctypes.c_int32)(fns["lt_run"])
        self.address = self.state.address
        per_pause = _pause_seconds(ctypes.CFUNCTYPE(None, ctypes.c_int64)(fns["lt_spin"]))
        self.state.spins[:] = (int(SPIN_US * 1e-6 / per_pause),
                               int(CALLER_SPIN_US * 1e-6 / per_pause))

    def grow(self, n: int, cores: list[int]) -> None:
        """Start workers up to `n`."""
        if n > self.state.capacity:
            raise RuntimeError(f"a kernel split into {n} parts: the pool holds at most "
                               f"{self.state.capacity}")
        while self.size < n:
            i = self.size
            core = cores[i % len(cores)] if cores else None
            if core is not None and core < native.CPU_TABLE and self.state.core_part[core] < 0:
                self.state.core_part[core] = i  # the caller on this core runs part i
            threading.Thread(target=self._loop, args=(i, core), daemon=True,
                             name=f"lt-kernel-{i}").start()
            self.size += 1

    def _loop(self, i: int, core: int | None) -> None:
        _pin(core)
        self._worker(self.address, i)  # never returns

    def run(self, tasks: int, nparts: int) -> int:
        """lt_run: see the module doc of pool.py."""
        return self._run(self.address, tasks, nparts)


def _pause_seconds(spin) -> float:
    """Seconds one `pause` takes here (from 20000 of them; best of 3)."""
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        spin(20000)
        best = min(best, time.perf_counter() - t)
    return max(best / 20000, 1e-10)


class _PythonPool:
    """Worker threads fed through queues, each task a ctypes call (platforms without futex)."""

    def __init__(self):
        self._run_task = ctypes.CFUNCTYPE(None, ctypes.c_void_p)(native.support()["lt_run_task"])
        self._queues: list[queue.SimpleQueue] = []
        self.size = 0

    def grow(self, n: int, cores: list[int]) -> None:
        """Start workers up to `n`."""
        while self.size < n:
            i = self.size
            q: queue.SimpleQueue = queue.SimpleQueue()
            self._queues.append(q)
            threading.Thread(target=self._loop, args=(q, cores[i % len(cores)] if cores else None),
                             daemon=True, name=f"lt-kernel-{i}").start()
            self.size += 1

    def _loop(self, tasks: queue.SimpleQueue, core: int | None) -> None:
        _pin(core)
        while True:
            task, done = tasks.get()
            self._run_task(task)
            done.put(None)

    def run(self, tasks: int, nparts: int) -> int:
        """Parts 1.. on their workers, part 0 here; returns 0."""
        done: queue.SimpleQueue = queue.SimpleQueue()
        step = 8 * native.TASK
        for i in range(1, nparts):
            self._queues[i].put((tasks + i * step, done))
        self._run_task(tasks)
        for _ in range(nparts - 1):
            done.get()
        return 0


def _grow(n: int) -> "_NativePool | _PythonPool":
    """The pool, made on first use, with at least `n` workers (the caller holds `lock`)."""
    global _pool
    if _pool is None:
        _pool = _NativePool(max(256, 4 * (os.cpu_count() or 1))) if POOL == "native" \
            else _PythonPool()
    _pool.grow(n, _affinity())
    return _pool


def _after_fork_in_child() -> None:
    # the child has the parent's pool object but not its threads: forget both, and the lock
    # (another thread of the parent may have held it)
    global _pool, lock
    _pool = None
    lock = threading.Lock()


os.register_at_fork(after_in_child=_after_fork_in_child)
