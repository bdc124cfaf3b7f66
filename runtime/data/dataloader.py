"""DataLoader: batches from a dataset, in the main process or in worker processes.

PyTorch's `torch.utils.data.DataLoader` with its arguments, defaults, checks and batch order. With
`num_workers > 0`, worker processes (forked, as PyTorch does on Linux) fetch and collate batches
and hand them over through shared memory (shm.py); the main process keeps up to
`prefetch_factor * num_workers` tasks in flight, round-robin over the workers, and yields batches
in task order (`in_order=True`) or as they come.

Failures end the iteration with an error, never a hang: a worker's exception is re-raised with
its traceback and the failing index; a worker that dies (killed, segfault) raises
"DataLoader worker (pid N) exited unexpectedly" at once; `timeout` bounds every wait. Workers stop
when the iterator is exhausted (unless persistent), when it is garbage-collected, and at exit.
"""
from __future__ import annotations

import atexit
import itertools
import multiprocessing as mp
import multiprocessing.connection
import os
import pickle
import signal
import socket
import time
import warnings
import weakref
from typing import Any, Callable, Iterable, Sequence

import lazytensor as lt
from lazytensor.runtime.data import shm
from lazytensor.runtime.data.collate import default_collate, default_convert
from lazytensor.runtime.data.dataset import Dataset, IterableDataset
from lazytensor.runtime.data.sampler import BatchSampler, RandomSampler, Sampler, SequentialSampler
from lazytensor.runtime.data.worker import (ExceptionWrapper, _IterableDatasetStopIteration, _ResumeIteration,
                                            create_fetcher, worker_loop)

__all__ = ["DataLoader"]

_POLL_INTERVAL = 0.5  # seconds between checks on the workers while the main process waits
_JOIN_TIMEOUT = 1.0  # how long shutdown waits for workers to leave by themselves


class _InfiniteConstantSampler(Sampler):
    """The sampler of an iterable dataset: None forever (the dataset decides when to stop)."""

    def __iter__(self):
        while True:
            yield None


class DataLoader:
    """Combines a dataset and a sampler into an iterable over batches (torch.utils.data.DataLoader)."""

    __initialized = False

    def __init__(self, dataset: Dataset, batch_size: int | None = 1, shuffle: bool | None = None,
                 sampler: Sampler | Iterable | None = None, batch_sampler: Sampler | Iterable | None = None,
                 num_workers: int = 0, collate_fn: Callable | None = None, pin_memory: bool = False,
                 drop_last: bool = False, timeout: float = 0, worker_init_fn: Callable | None = None,
                 multiprocessing_context=None, generator: lt.Generator | None = None, *,
                 prefetch_factor: int | None = None, persistent_workers: bool = False,
                 pin_memory_device: str = "", in_order: bool = True) -> None:
        if num_workers < 0:
            raise ValueError("num_workers option should be non-negative; use num_workers=0 to disable "
                             "multiprocessing.")
        if timeout < 0:
            raise ValueError("timeout option should be non-negative")
        if num_workers == 0 and prefetch_factor is not None:
            raise ValueError("prefetch_factor option could only be specified in multiprocessing."
                             "let num_workers > 0 to enable multiprocessing, otherwise set prefetch_factor to None.")
        if num_workers > 0 and prefetch_factor is None:
            prefetch_factor = 2
        elif prefetch_factor is not None and prefetch_factor < 0:
            raise ValueError("prefetch_factor option should be non-negative")
        if persistent_workers and num_workers == 0:
            raise ValueError("persistent_workers option needs num_workers > 0")

        self.dataset = dataset
        self.num_workers = num_workers
        self.prefetch_factor = prefetch_factor
        self.pin_memory = pin_memory
        self.pin_memory_device = pin_memory_device
        self.timeout = timeout
        self.worker_init_fn = worker_init_fn
        self.multiprocessing_context = multiprocessing_context
        self.in_order = in_order

        if isinstance(dataset, IterableDataset):
            self._dataset_kind = "iterable"
            if isinstance(shuffle, bool) and shuffle:
                raise ValueError(f"DataLoader with IterableDataset: expected unspecified shuffle option, but got "
                                 f"shuffle={shuffle}")
            if sampler is not None:
                raise ValueError(f"DataLoader with IterableDataset: expected unspecified sampler option, but got "
                                 f"sampler={sampler}")
            if batch_sampler is not None:
                raise ValueError(f"DataLoader with IterableDataset: expected unspecified batch_sampler option, but "
                                 f"got batch_sampler={batch_sampler}")
        else:
            shuffle = bool(shuffle)
            self._dataset_kind = "map"

        if sampler is not None and shuffle:
            raise ValueError("sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError("batch_sampler option is mutually exclusive with batch_size, shuffle, sampler, "
                                 "and drop_last")
            batch_size = None
            drop_last = False
        elif batch_size is None and drop_last:
            raise ValueError("batch_size=None option disables auto-batching and is mutually exclusive with "
                             "drop_last")

        if sampler is None:
            if self._dataset_kind == "iterable":
                sampler = _InfiniteConstantSampler()
            elif shuffle:
                sampler = RandomSampler(dataset, generator=generator)
            else:
                sampler = SequentialSampler(dataset)
        if batch_size is not None and batch_sampler is None:
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)

        self.batch_size = batch_size
        self.drop_last = drop_last
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        self.generator = generator
        if collate_fn is None:
            collate_fn = default_collate if self._auto_collation else default_convert
        self.collate_fn = collate_fn
        self.persistent_workers = persistent_workers
        self.__initialized = True
        self._IterableDataset_len_called = None
        self._iterator = None
        if pin_memory:
            warnings.warn("'pin_memory' argument is set as true but no accelerator is found, then device pinned "
                          "memory won't be used.")
        self.check_worker_number_rationality()

    def __setattr__(self, attr: str, val) -> None:
        if self.__initialized and attr in ("batch_size", "batch_sampler", "sampler", "drop_last", "dataset",
                                           "persistent_workers"):
            raise ValueError(f"{attr} attribute should not be set after {self.__class__.__name__} is initialized")
        super().__setattr__(attr, val)

    @property
    def multiprocessing_context(self):
        """The multiprocessing context workers start in (fork by default, as PyTorch on Linux)."""
        return self.__multiprocessing_context

    @multiprocessing_context.setter
    def multiprocessing_context(self, multiprocessing_context) -> None:
        if multiprocessing_context is not None:
            if self.num_workers > 0:
                if isinstance(multiprocessing_context, str):
                    valid = mp.get_all_start_methods()
                    if multiprocessing_context not in valid:
                        raise ValueError("multiprocessing_context option should specify a valid start method in "
                                         f"{valid!r}, but got multiprocessing_context={multiprocessing_context!r}")
                    multiprocessing_context = mp.get_context(multiprocessing_context)
                if not isinstance(multiprocessing_context, mp.context.BaseContext):
                    raise TypeError("multiprocessing_context option should be a valid context object or a string "
                                    "specifying the start method, but got multiprocessing_context="
                                    f"{multiprocessing_context}")
            else:
                raise ValueError("multiprocessing_context can only be used with multi-process loading "
                                 f"(num_workers > 0), but got num_workers={self.num_workers}")
        self.__multiprocessing_context = multiprocessing_context

    @property
    def _auto_collation(self) -> bool:
        return self.batch_sampler is not None

    @property
    def _index_sampler(self):
        # what the iterator draws from: batches of indices, or single indices without auto-collation
        return self.batch_sampler if self._auto_collation else self.sampler

    def _get_iterator(self):
        if self.num_workers == 0:
            return _SingleProcessDataLoaderIter(self)
        self.check_worker_number_rationality()
        return _MultiProcessingDataLoaderIter(self)

    def __iter__(self):
        """An iterator over the batches (persistent workers keep one iterator across epochs)."""
        if self.persistent_workers and self.num_workers > 0:
            if self._iterator is None:
                self._iterator = self._get_iterator()
            else:
                self._iterator._reset(self)
            return self._iterator
        return self._get_iterator()

    def __len__(self) -> int:
        if self._dataset_kind == "iterable":
            length = self._IterableDataset_len_called = len(self.dataset)
            if self.batch_size is not None:
                from math import ceil
                length = length // self.batch_size if self.drop_last else ceil(length / self.batch_size)
            return length
        return len(self._index_sampler)

    def check_worker_number_rationality(self) -> None:
        """Warn when more workers are asked for than this process may run on CPUs."""
        if self.num_workers == 0:
            return
        try:
            cpus = len(os.sched_getaffinity(0))
        except (AttributeError, OSError):
            cpus = os.cpu_count()
        if cpus is not None and self.num_workers > cpus:
            warnings.warn(f"This DataLoader will create {self.num_workers} worker processes in total. Our suggested "
                          f"max number of worker in current system is {cpus}, which is smaller than what this "
                          "DataLoader is going to create. Please be aware that excessive worker creation might get "
                          "DataLoader running slow or even freeze, lower the worker number to avoid potential "
                          "slowness/freeze if necessary.")


class _BaseDataLoaderIter:
    def __init__(self, loader: DataLoader) -> None:
        self._dataset = loader.dataset
        self._dataset_kind = loader._dataset_kind
        self._IterableDataset_len_called = loader._IterableDataset_len_called
        self._auto_collation = loader._auto_collation
        self._drop_last = loader.drop_last
        self._index_sampler = loader._index_sampler
        self._num_workers = loader.num_workers
        self._timeout = loader.timeout
        self._collate_fn = loader.collate_fn
        self._sampler_iter = iter(self._index_sampler)
        # Drawn from the loader's generator now, as PyTorch does (so the generator advances the same
        # way), but read only when workers need it: reading flushes, and a flush prunes the whole IR
        # table, which beside a big dataset's tensors costs milliseconds per epoch.
        self._seed_tensor = lt.empty((), dtype=lt.int64).random_(generator=loader.generator)
        self._seed_value: int | None = None
        self._persistent_workers = loader.persistent_workers
        self._num_yielded = 0

    def __iter__(self):
        return self

    @property
    def _base_seed(self) -> int:
        """The seed the workers' seeds derive from (the workers' seeds repeat when the generator does)."""
        if self._seed_value is None:
            self._seed_value = int(self._seed_tensor.item())
            self._seed_tensor = None
        return self._seed_value

    def _reset(self, loader: DataLoader, first_iter: bool = False) -> None:
        self._sampler_iter = iter(self._index_sampler)
        self._num_yielded = 0
        self._IterableDataset_len_called = loader._IterableDataset_len_called

    def _next_index(self):
        return next(self._sampler_iter)  # may raise StopIteration

    def _next_data(self):
        raise NotImplementedError

    def __next__(self):
        data = self._next_data()
        if isinstance(data, ExceptionWrapper):
            # raised from a frame that no longer holds the iterator, so an unhandled worker error
            # does not keep the workers alive through the traceback
            error = data.exception()
            del self, data
            raise error
        self._num_yielded += 1
        if (self._dataset_kind == "iterable" and self._IterableDataset_len_called is not None
                and self._num_yielded > self._IterableDataset_len_called):
            msg = (f"Length of IterableDataset {self._dataset} was reported to be {self._IterableDataset_len_called}"
                   f" (when accessing len(dataloader)), but {self._num_yielded} samples have been fetched. ")
            if self._num_workers > 0:
                msg += ("For multiprocessing data-loading, this could be caused by not properly configuring the "
                        "IterableDataset replica at each worker. Please see "
                        "https://pytorch.org/docs/stable/data.html#torch.utils.data.IterableDataset for examples.")
            warnings.warn(msg)
        return data

    def __len__(self) -> int:
        return len(self._index_sampler)

    def __getstate__(self):
        raise NotImplementedError(f"{self.__class__.__name__} cannot be pickled")


class _SingleProcessDataLoaderIter(_BaseDataLoaderIter):
    def __init__(self, loader: DataLoader) -> None:
        super().__init__(loader)
        if self._timeout != 0:
            raise AssertionError("_SingleProcessDataLoaderIter requires timeout == 0")
        self._dataset_fetcher = create_fetcher(self._dataset_kind == "iterable", self._dataset,
                                               self._auto_collation, self._collate_fn, self._drop_last)

    def _next_data(self):
        index = self._next_index()  # may raise StopIteration
        return self._dataset_fetcher.fetch(index)  # may raise StopIteration


# iterators whose workers still run, shut down at exit (before multiprocessing's own exit hook)
_live_iterators: "weakref.WeakSet[_MultiProcessingDataLoaderIter]" = weakref.WeakSet()


@atexit.register
def _shutdown_all() -> None:
    for it in list(_live_iterators):
        it._shutdown_workers()


class _MultiProcessingDataLoaderIter(_BaseDataLoaderIter):
    _shutdown = True  # until the workers exist (and for __del__ after a failed __init__)
    _pid = None

    def __init__(self, loader: DataLoader) -> None:
        super().__init__(loader)
        self._prefetch_factor = loader.prefetch_factor
        self._in_order = loader.in_order
        self._pid = os.getpid()
        ctx = loader.multiprocessing_context or mp.get_context("fork")
        forked = ctx.get_start_method() == "fork"
        self._workers: list = []
        self._socks: list[socket.socket] = []
        self._stopping: set[int] = set()  # workers told to stop: their exit is no error
        try:
            for i in range(self._num_workers):
                ours, theirs = socket.socketpair()
                self._socks.append(ours)
                close_fds = [s.fileno() for s in self._socks] if forked else []
                w = ctx.Process(target=worker_loop, daemon=True,
                                args=(theirs, self._dataset_kind == "iterable", self._dataset,
                                      self._auto_collation, self._collate_fn, self._drop_last, self._base_seed,
                                      loader.worker_init_fn, i, self._num_workers, self._pid, close_fds))
                w.start()
                theirs.close()  # only the worker holds its end: its exit reads as end-of-file here
                self._workers.append(w)
        except BaseException:
            self._shutdown = False
            self._shutdown_workers()
            raise
        self._shutdown = False
        _live_iterators.add(self)
        self._reset(loader, first_iter=True)

    def _reset(self, loader: DataLoader, first_iter: bool = False) -> None:
        super()._reset(loader, first_iter)
        self._send_idx = 0  # number of the next task sent to a worker
        self._rcvd_idx = 0  # number of the next task whose batch __next__ returns
        # task number -> (worker,) while outstanding, (worker, data) once received out of order
        self._task_info: dict[int, tuple] = {}
        self._tasks_outstanding = 0
        self._workers_status = [True] * self._num_workers  # False once its iterable dataset is exhausted
        self._workers_num_tasks = [0] * self._num_workers
        self._worker_queue_idx_cycle = itertools.cycle(range(self._num_workers))
        if not first_iter:
            # persistent workers: each answers the resume marker after the batches of the last epoch
            for i in range(self._num_workers):
                self._put(i, _ResumeIteration())
            resuming = self._num_workers
            while resuming > 0:
                idx, _ = self._get_data()
                if isinstance(idx, _ResumeIteration):
                    resuming -= 1
        for _ in range(self._prefetch_factor * self._num_workers):
            self._try_put_index()

    # ---- talking to the workers ----

    def _put(self, worker_id: int, task) -> None:
        shm.send(self._socks[worker_id], pickle.dumps(task, protocol=pickle.HIGHEST_PROTOCOL))

    def _receive(self, worker_id: int):
        """One message from a worker: (task number, data)."""
        try:
            body, fds = shm.recv(self._socks[worker_id])
        except (EOFError, ConnectionResetError):
            self._worker_died(worker_id)
        # The batches dropped since the last one came are still mapped while their nodes wait in
        # the IR table: dropping the recent dead nodes unmaps them, which hands their blocks back to
        # the workers (a worker builds in a free block instead of faulting in a new one).
        lt.lazy.free_dropped()
        return shm.loads(body, fds)

    def _worker_died(self, worker_id: int):
        w = self._workers[worker_id]
        w.join(timeout=1.0)
        code = w.exitcode
        if code is not None and code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = f"signal {-code}"
            how = f"killed by signal: {signal.strsignal(-code)} ({name})"
        elif code is None:
            how = "its connection closed while it still runs"
        else:
            how = f"exit code {code}"
        pid = w.pid
        self._shutdown_workers()
        raise RuntimeError(f"DataLoader worker (pid {pid}) exited unexpectedly ({how}). It may have been killed "
                           "(for instance by the out-of-memory killer) or crashed in native code; running the "
                           "loader with num_workers=0 may give a clearer error message.") from None

    def _get_data(self):
        """The next message from any worker; RuntimeError on a timeout or a dead worker."""
        deadline = None if self._timeout <= 0 else time.monotonic() + self._timeout
        watched = [i for i in range(self._num_workers) if i not in self._stopping]
        sentinels = {self._workers[i].sentinel: i for i in watched}
        socks = {self._socks[i]: i for i in watched}
        while True:
            wait = _POLL_INTERVAL if deadline is None else min(_POLL_INTERVAL, deadline - time.monotonic())
            ready = mp.connection.wait(list(socks) + list(sentinels), timeout=max(wait, 0))
            for r in ready:
                if r in socks:
                    return self._receive(socks[r])
            for r in ready:
                # an exited worker: its last messages may still be waiting in the socket
                i = sentinels[r]
                if shm.readable(self._socks[i], 0):
                    return self._receive(i)
                self._worker_died(i)
            if deadline is not None and time.monotonic() >= deadline:
                raise RuntimeError(f"DataLoader timed out after {self._timeout} seconds")

    def _try_put_index(self) -> None:
        max_tasks = self._prefetch_factor * self._num_workers
        if self._tasks_outstanding >= max_tasks:
            raise AssertionError("Number of outstanding tasks exceeded maximum allowed tasks")
        try:
            index = self._next_index()
        except StopIteration:
            return
        for _ in range(self._num_workers):  # the next active worker, if any
            worker_queue_idx = next(self._worker_queue_idx_cycle)
            if self._workers_status[worker_queue_idx]:
                if self._in_order:
                    break
                if self._workers_num_tasks[worker_queue_idx] < max_tasks // sum(self._workers_status):
                    break  # out of order: only to a worker with room
        else:
            return
        self._put(worker_queue_idx, (self._send_idx, index))
        self._task_info[self._send_idx] = (worker_queue_idx,)
        self._workers_num_tasks[worker_queue_idx] += 1
        self._tasks_outstanding += 1
        self._send_idx += 1

    def _next_data(self):
        while True:
            # skip the tasks of workers whose iterable dataset ran out before they could do them
            while self._rcvd_idx < self._send_idx:
                info = self._task_info.get(self._rcvd_idx)
                if info:
                    worker_id = info[0]
                    if len(info) == 2 or self._workers_status[worker_id]:
                        break
                    del self._task_info[self._rcvd_idx]
                self._rcvd_idx += 1
            else:
                if not self._persistent_workers:
                    self._shutdown_workers()
                raise StopIteration
            if len(self._task_info[self._rcvd_idx]) == 2:
                worker_id, data = self._task_info.pop(self._rcvd_idx)
                self._rcvd_idx += 1
                return self._process_data(data, worker_id)
            if self._shutdown or self._tasks_outstanding <= 0:
                raise AssertionError("Invalid iterator state: shutdown or no outstanding tasks when fetching "
                                     "next data")
            idx, data = self._get_data()
            self._tasks_outstanding -= 1
            if self._dataset_kind == "iterable" and isinstance(data, _IterableDatasetStopIteration):
                if self._persistent_workers:
                    self._workers_status[data.worker_id] = False
                else:
                    self._mark_worker_as_unavailable(data.worker_id)
                self._try_put_index()
                continue
            if idx != self._rcvd_idx:
                if not self._in_order:
                    worker_id = self._task_info.pop(idx)[0]
                    return self._process_data(data, worker_id)
                self._task_info[idx] += (data,)  # out of order: kept for its turn
            else:
                worker_id = self._task_info.pop(idx)[0]
                self._rcvd_idx += 1
                return self._process_data(data, worker_id)

    def _process_data(self, data, worker_idx: int):
        self._workers_num_tasks[worker_idx] -= 1
        self._try_put_index()
        return data  # an ExceptionWrapper is raised by __next__

    def _mark_worker_as_unavailable(self, worker_id: int) -> None:
        """An exhausted iterable-dataset worker is told to stop; its exit is expected."""
        self._workers_status[worker_id] = False
        self._stopping.add(worker_id)
        try:
            self._put(worker_id, None)
        except OSError:
            pass

    # ---- shutting down ----

    def _shutdown_workers(self) -> None:
        """Stop the workers: ask, wait a little, then terminate; close the sockets. Idempotent."""
        if self._shutdown or os.getpid() != self._pid:
            return  # a forked child holds a copy of this object: the workers are not its own
        self._shutdown = True
        _live_iterators.discard(self)
        for i, w in enumerate(self._workers):
            if w.is_alive():
                try:
                    self._put(i, None)
                except OSError:
                    pass
        for s in self._socks:
            # a worker busy on a sample finds the socket closed when it sends, and leaves
            s.close()
        deadline = time.monotonic() + _JOIN_TIMEOUT
        for w in self._workers:
            w.join(timeout=max(0.0, deadline - time.monotonic()))
        for w in self._workers:
            if w.is_alive():
                w.terminate()
        for w in self._workers:
            w.join(timeout=1.0)
            if w.is_alive():
                w.kill()
                w.join()
            w.close()

    def __del__(self) -> None:
        self._shutdown_workers()
