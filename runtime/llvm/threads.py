"""The thread pool that runs slices of one kernel on every core.

A ctypes call releases the GIL for its duration, so plain threads run compiled kernels in
parallel. The pool is made on first use and rebuilt in a forked child (a DataLoader worker
inherits the parent's pool object but none of its threads).
"""
from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

# Below this many iterations (elements visited) a kernel runs on the calling thread: handing a
# slice to a worker costs tens of microseconds.
MIN_PARALLEL_WORK = 1 << 16

_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None


def workers() -> int:
    """How many threads a kernel is split across (the cores this process may use)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _get_pool() -> ThreadPoolExecutor:
    global _pool
    if _pool is None:
        with _lock:
            if _pool is None:
                _pool = ThreadPoolExecutor(max(workers() - 1, 1), thread_name_prefix="lt-kernel")
    return _pool


def _after_fork_in_child() -> None:
    # the child has the parent's pool object but not its threads: forget both pool and lock
    global _pool, _lock
    _pool = None
    _lock = threading.Lock()


os.register_at_fork(after_in_child=_after_fork_in_child)


def chunks(total: int, parts: int) -> list[tuple[int, int]]:
    """`0..total` cut into at most `parts` contiguous, non-empty (start, end) ranges."""
    parts = max(1, min(parts, total))
    bounds = [total * i // parts for i in range(parts + 1)]
    return [(bounds[i], bounds[i + 1]) for i in range(parts) if bounds[i] < bounds[i + 1]]


def parallel_for(fn: Callable[[int, int, int], None], total: int, work: int) -> int:
    """Run `fn(part, start, end)` over the chunks of `0..total`, on all cores when `work`
    (elements visited) is worth it; returns the number of parts. The caller's thread runs
    the first chunk itself."""
    n = workers() if work >= MIN_PARALLEL_WORK else 1
    parts = chunks(total, n)
    if len(parts) <= 1:
        fn(0, 0, total)
        return 1
    pool = _get_pool()
    futures = [pool.submit(fn, i, s, e) for i, (s, e) in enumerate(parts) if i]
    fn(0, *parts[0])
    for f in futures:
        f.result()
    return len(parts)
