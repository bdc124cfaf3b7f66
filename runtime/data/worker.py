"""DataLoader worker processes: what runs in them, and what they tell the main process.

A worker owns one end of a socket pair. It receives tasks `(send_idx, indices)`, fetches and
collates the samples (into shared memory, see shm.py) and sends back `(send_idx, batch)`; a
failure is sent as an `ExceptionWrapper` that the main process re-raises with the worker's
traceback. The worker exits when told to, when the main process's end of the socket closes, or
when its parent process is gone.
"""
from __future__ import annotations

import os
import pickle
import random
import signal
import socket
import sys
import traceback
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

import lazytensor as lt
from lazytensor.runtime.data import shm
from lazytensor.runtime.data.collate import collate_rows, default_collate
from lazytensor.runtime.data.dataset import TensorDataset

__all__ = ["WorkerInfo", "get_worker_info"]

_WATCHDOG_INTERVAL = 1.0  # seconds between checks that the parent process is still there


@dataclass(frozen=True)
class WorkerInfo:
    """What `get_worker_info()` tells code running in a DataLoader worker."""

    id: int
    num_workers: int
    seed: int
    dataset: Any

    def __repr__(self) -> str:
        return (f"WorkerInfo(id={self.id}, num_workers={self.num_workers}, seed={self.seed}, "
                f"dataset={self.dataset!r})")


_worker_info: WorkerInfo | None = None


def get_worker_info() -> WorkerInfo | None:
    """In a DataLoader worker: its id, the number of workers, its seed and its copy of the dataset.
    None in the main process."""
    return _worker_info


class KeyErrorMessage(str):
    """A KeyError's message that prints as written (KeyError quotes its argument otherwise)."""

    def __repr__(self) -> str:
        return self


class ExceptionWrapper:
    """An exception caught in a worker, carried to the main process with its traceback text."""

    def __init__(self, exc_info=None, where: str = "in background") -> None:
        if exc_info is None:
            exc_info = sys.exc_info()
        self.exc_type = exc_info[0]
        self.exc_msg = "".join(traceback.format_exception(*exc_info))
        self.where = where
        try:
            pickle.dumps(self.exc_type)
        except Exception:
            # a class the main process cannot import (defined in a function...): say its name
            self.exc_msg = f"{self.exc_type.__qualname__} (raised as RuntimeError: the class is not picklable)\n" \
                           + self.exc_msg
            self.exc_type = RuntimeError

    def reraise(self):
        """Raise the worker's exception (same type when it can be built from a message)."""
        raise self.exception()

    def exception(self) -> BaseException:
        """The exception to raise in the main process."""
        msg = f"Caught {self.exc_type.__name__} {self.where}.\nOriginal {self.exc_msg}"
        if self.exc_type is KeyError:
            msg = KeyErrorMessage(msg)
        elif getattr(self.exc_type, "message", None):
            return self.exc_type(message=msg)
        try:
            return self.exc_type(msg)
        except Exception:
            return RuntimeError(msg)


class _IterableDatasetStopIteration:
    """A worker's iterable dataset is exhausted."""

    def __init__(self, worker_id: int) -> None:
        self.worker_id = worker_id


class _ResumeIteration:
    """Persistent workers: start the next epoch (the worker answers with the same marker)."""

    def __init__(self, seed=None) -> None:
        self.seed = seed


# ---- fetchers: one sample or one batch from a dataset ----

class _MapDatasetFetcher:
    """Fetch by index; remembers what it was doing so a failure can name the index."""

    def __init__(self, dataset, auto_collation: bool, collate_fn: Callable, drop_last: bool) -> None:
        self.dataset = dataset
        self.auto_collation = auto_collation
        self.collate_fn = collate_fn
        self._batch = self._index = None
        self._collating = False
        # the tensors of a TensorDataset (exactly: a subclass may change __getitem__) that
        # default_collate batches: the samples need not be made one by one
        self.rows_of = dataset.tensors if type(dataset) is TensorDataset and collate_fn is default_collate \
            else None

    @property
    def doing(self) -> str:
        """What the last fetch was doing (for the message of an error it raised)."""
        if self._collating:
            return f"collating the batch of indices {self._batch}" if self.auto_collation else \
                f"converting the sample of index {self._index!r}"
        if self._index is None:
            return f"fetching indices {self._batch}"
        if self.auto_collation:
            return f"fetching index {self._index!r} (of the batch {self._batch})"
        return f"fetching index {self._index!r}"

    def fetch(self, possibly_batched_index):
        self._collating = False
        if self.auto_collation:
            self._batch, self._index = possibly_batched_index, None
            if self.rows_of is not None:
                # a TensorDataset with default_collate: the batch is one gather per tensor
                batch = collate_rows(self.rows_of, possibly_batched_index)
                if batch is not None:
                    return batch
            if callable(getattr(self.dataset, "__getitems__", None)):
                data = self.dataset.__getitems__(possibly_batched_index)
            else:
                data = []
                for idx in possibly_batched_index:
                    self._index = idx
                    data.append(self.dataset[idx])
        else:
            self._index = possibly_batched_index
            data = self.dataset[possibly_batched_index]
        self._collating = True
        return self.collate_fn(data)


class _IterableDatasetFetcher:
    """Fetch the next sample (or `len(indices)` samples) from the dataset's iterator."""

    def __init__(self, dataset, auto_collation: bool, collate_fn: Callable, drop_last: bool) -> None:
        self.dataset_iter = iter(dataset)
        self.auto_collation = auto_collation
        self.collate_fn = collate_fn
        self.drop_last = drop_last
        self.ended = False
        self.doing = ""

    def fetch(self, possibly_batched_index):
        if self.ended:
            raise StopIteration
        self.doing = "fetching the next sample from the iterable dataset"
        if self.auto_collation:
            data = []
            for _ in possibly_batched_index:
                try:
                    data.append(next(self.dataset_iter))
                except StopIteration:
                    self.ended = True
                    break
            if len(data) == 0 or (self.drop_last and len(data) < len(possibly_batched_index)):
                raise StopIteration
            self.doing = "collating a batch from the iterable dataset"
        else:
            data = next(self.dataset_iter)
            self.doing = "converting a sample from the iterable dataset"
        return self.collate_fn(data)


def create_fetcher(iterable: bool, dataset, auto_collation: bool, collate_fn: Callable, drop_last: bool):
    """The fetcher for a dataset kind."""
    cls = _IterableDatasetFetcher if iterable else _MapDatasetFetcher
    return cls(dataset, auto_collation, collate_fn, drop_last)


# ---- the worker process ----

def _seed_worker(seed: int, base_seed: int, worker_id: int) -> None:
    """Seed Python's, numpy's and lazytensor's default generators from the worker's seed."""
    random.seed(seed)
    lt.manual_seed(seed)
    # numpy's legacy seeding takes 32-bit words: derive them from both numbers, as PyTorch does
    np.random.seed(np.random.SeedSequence([worker_id, base_seed & ((1 << 64) - 1)]).generate_state(4))


def _forget_parent_pending() -> None:
    """Drop the parent's pending tensors from this (forked) process's flush list.

    They came along with fork and are the parent's to compute: without this, the worker's first
    flush that writes into existing storage (an in-place transform) or the pending bound would
    compute all of them here, once per worker. A parent tensor the dataset itself reads is still
    computed when observed (it is flushed as asked); what is lost is only the ordering guarantee
    for a parent-pending tensor that reads storage the worker then changes in place before
    observing it (write-after-read across the fork), which no DataLoader use needs.
    """
    from lazytensor import lazy
    lazy.forget_pending()


def _next_task(sock: socket.socket, parent_pid: int):
    """The next message from the main process; None when it is gone."""
    while not shm.readable(sock, _WATCHDOG_INTERVAL):
        if os.getppid() != parent_pid:
            return None
    try:
        body, fds = shm.recv(sock)
    except (EOFError, OSError):
        return None
    for fd in fds:
        os.close(fd)
    return pickle.loads(body)


def _send(sock: socket.socket, msg, arena: shm.Arena, worker_id: int) -> None:
    """Send `(idx, data)`, its tensors placed in shared memory (in `arena`'s blocks where built there)."""
    try:
        body, fds = shm.dumps(msg, arena)
    except Exception:
        body, fds = shm.dumps((msg[0], ExceptionWrapper(
            where=f"in DataLoader worker process {worker_id} while sending a batch to the main process")), arena)
    shm.send(sock, body, fds)


def worker_loop(sock: socket.socket, iterable: bool, dataset, auto_collation: bool, collate_fn: Callable,
                drop_last: bool, base_seed: int, init_fn: Callable | None, worker_id: int, num_workers: int,
                parent_pid: int, close_fds: list[int]) -> None:
    """The body of a worker process."""
    global _worker_info
    # Ctrl-C is the main process's to handle; it shuts the workers down
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for fd in close_fds:
        # the main process's ends of the sockets, inherited through fork: holding them would hide
        # the main process's exit (its end would never read as closed)
        try:
            os.close(fd)
        except OSError:
            pass
    _forget_parent_pending()

    seed = base_seed + worker_id
    _seed_worker(seed, base_seed, worker_id)
    _worker_info = WorkerInfo(id=worker_id, num_workers=num_workers, seed=seed, dataset=dataset)

    init_exception = None
    fetcher = None
    try:
        if init_fn is not None:
            init_fn(worker_id)
        fetcher = create_fetcher(iterable, dataset, auto_collation, collate_fn, drop_last)
    except Exception:
        init_exception = ExceptionWrapper(where=f"in DataLoader worker process {worker_id}")

    iteration_end = False
    try:
        while True:
            task = _next_task(sock, parent_pid)
            if task is None:  # told to stop, or the main process is gone
                break
            if isinstance(task, _ResumeIteration):
                _send(sock, (task, None), shm.Arena(), worker_id)
                iteration_end = False
                if iterable and init_exception is None:
                    # a new epoch: a fresh iterator over the worker's copy of the dataset
                    try:
                        fetcher = create_fetcher(iterable, dataset, auto_collation, collate_fn, drop_last)
                    except Exception:
                        init_exception = ExceptionWrapper(where=f"in DataLoader worker process {worker_id}")
                continue
            idx, index = task
            data: Any = None
            # collate_fn's stacks go straight into this batch's shared blocks (collate.py)
            arena = shm._arena = shm.Arena()  # noqa: SLF001 (the module's own hook)
            try:
                if init_exception is not None:
                    data, init_exception = init_exception, None
                elif iteration_end:
                    data = _IterableDatasetStopIteration(worker_id)
                else:
                    try:
                        data = fetcher.fetch(index)
                    except StopIteration:
                        if iterable:
                            data = _IterableDatasetStopIteration(worker_id)
                            iteration_end = True
                        else:
                            data = ExceptionWrapper(where=f"in DataLoader worker process {worker_id} while "
                                                          f"{fetcher.doing}")
                    except Exception:
                        data = ExceptionWrapper(where=f"in DataLoader worker process {worker_id} while "
                                                      f"{fetcher.doing}")
                _send(sock, (idx, data), arena, worker_id)
            finally:
                shm._arena = None  # noqa: SLF001
                arena.close()
                del data  # the worker's mappings of the batch go here; the main process keeps its own
                # ...once the batch's nodes leave this process's IR table too (they hold its
                # storage): only then can a later batch be built in the same block
                lt.lazy.free_dropped()
    except (BrokenPipeError, ConnectionResetError):
        pass  # the main process went away while we were sending
    finally:
        sock.close()
