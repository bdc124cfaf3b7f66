"""The thread pool that runs slices of one kernel on every core.

A ctypes call releases the GIL for its duration, so plain threads run compiled kernels in
parallel. Worker `i` is pinned to the i-th core this process may use and always runs slice `i` of
a split kernel: a kernel run twice over the same data then finds each slice in the cache of the
core that read it last time (on a machine whose cores have separate L3 caches, a 64 MiB array
split in two fits the two caches; unpinned threads that swap cores between calls miss both).
The calling thread is never pinned (it is the user's); for a big kernel (PINNED_WORK) it hands
every slice to the workers and waits, for a smaller one it runs slice 0 itself (a worker's wake-up
costs more than the cache misses there). The pool is made on first use and rebuilt in a forked
child (a DataLoader worker inherits the parent's pool object but none of its threads).
"""
from __future__ import annotations

import os
import queue
import threading
from typing import Callable

# Below this many iterations (elements visited) a kernel runs on the calling thread: handing a
# slice to a worker costs tens of microseconds.
MIN_PARALLEL_WORK = 1 << 16
# From this many elements visited on, every slice runs on its pinned worker (see the module doc).
PINNED_WORK = 1 << 22

_lock = threading.Lock()
_workers: list["_Worker"] = []


def workers() -> int:
    """How many threads a kernel is split across (the cores this process may use)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _cores() -> list[int]:
    try:
        return sorted(os.sched_getaffinity(0))
    except AttributeError:
        return []


class _Worker:
    """A daemon thread pinned to one core, running the tasks put on its queue in order."""

    def __init__(self, index: int, core: int | None):
        self.tasks: queue.SimpleQueue = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._loop, args=(core,), daemon=True,
                                       name=f"lt-kernel-{index}")
        self.thread.start()

    def _loop(self, core: int | None) -> None:
        if core is not None:
            try:
                os.sched_setaffinity(0, {core})  # 0: this thread only (Linux)
            except OSError:  # the core was taken away meanwhile: run unpinned
                pass
        while True:
            fn, args, done = self.tasks.get()
            try:
                fn(*args)
                done.put(None)
            except BaseException as e:  # handed to the caller, raised there
                done.put(e)


def _get_workers(n: int) -> list[_Worker]:
    """The first `n` workers, made on first use."""
    if len(_workers) < n:
        with _lock:
            cores = _cores()
            while len(_workers) < n:
                i = len(_workers)
                _workers.append(_Worker(i, cores[i % len(cores)] if cores else None))
    return _workers[:n]


def _after_fork_in_child() -> None:
    # the child has the parent's worker objects but not their threads: forget both and the lock
    global _workers, _lock
    _workers = []
    _lock = threading.Lock()


os.register_at_fork(after_in_child=_after_fork_in_child)


def chunks(total: int, parts: int) -> list[tuple[int, int]]:
    """`0..total` cut into at most `parts` contiguous, non-empty (start, end) ranges."""
    parts = max(1, min(parts, total))
    bounds = [total * i // parts for i in range(parts + 1)]
    return [(bounds[i], bounds[i + 1]) for i in range(parts) if bounds[i] < bounds[i + 1]]


def parallel_for(fn: Callable[[int, int, int], None], total: int, work: int) -> int:
    """Run `fn(part, start, end)` over the chunks of `0..total`, on all cores when `work`
    (elements visited) is worth it; returns the number of parts. Part `i` runs on worker `i`
    (pinned: see the module doc), except that below PINNED_WORK the calling thread runs part 0;
    a single part runs on the calling thread."""
    n = workers() if work >= MIN_PARALLEL_WORK else 1
    parts = chunks(total, n)
    if len(parts) <= 1:
        fn(0, 0, total)
        return 1
    done: queue.SimpleQueue = queue.SimpleQueue()
    mine = work < PINNED_WORK  # the calling thread runs part 0
    for i, (w, (s, e)) in enumerate(zip(_get_workers(len(parts)), parts)):
        if i or not mine:
            w.tasks.put((fn, (i, s, e), done))
    error = None
    if mine:
        try:
            fn(0, *parts[0])
        except BaseException as e:  # wait for the workers before raising
            error = e
    for _ in range(len(parts) - mine):
        e = done.get()
        error = error or e
    if error is not None:
        raise error
    return len(parts)
