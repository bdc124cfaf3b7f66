"""pool.py: batches' memory is recycled, and never while anything still refers to it."""
import gc
import importlib
import threading

import numpy as np
import pytest

import lazytensor as lt
from lazytensor.utils.data import DataLoader, default_collate

pool = importlib.import_module("lazytensor.runtime.data.pool")

# four samples of 256 KiB: a 1 MiB batch, the smallest the pool recycles
SAMPLE = (64, 1024)


@pytest.fixture(autouse=True)
def _empty_pool():
    pool.clear()
    yield
    pool.clear()


def _samples(value: float, n: int = 4):
    return [lt.from_numpy(np.full(SAMPLE, value + i, np.float32)) for i in range(n)]


def _address(t: lt.Tensor) -> int:
    return t.numpy().__array_interface__["data"][0]


def _flush():
    """A flush prunes the whole IR table, as a training step's does."""
    (lt.ones(1) + 1).item()


def test_a_dead_batch_block_serves_the_next_batch():
    first = default_collate(_samples(0))
    where = _address(first)
    del first
    second = default_collate(_samples(10))
    assert _address(second) == where
    np.testing.assert_array_equal(second.numpy()[:, 0, 0], [10, 11, 12, 13])


def test_a_batch_held_while_the_next_is_built_keeps_its_block():
    first = default_collate(_samples(0))
    second = default_collate(_samples(10))
    assert _address(first) != _address(second)
    np.testing.assert_array_equal(first.numpy()[:, 0, 0], [0, 1, 2, 3])
    # a training loop's flush frees the dropped batch: the one after reuses its block
    where = _address(first)
    del first
    _flush()
    third = default_collate(_samples(20))
    assert _address(third) == where


# Everything that can keep a batch's memory alive after the batch tensor itself is dropped.
HOLDERS = {
    "numpy view": lambda b: b.numpy()[1:, 3],
    "whole numpy array": lambda b: b.numpy(),
    "memoryview": lambda b: memoryview(b.numpy()),
    "numpy view of a view": lambda b: b.numpy()[2:].reshape(-1)[5:],
    "tensor view": lambda b: b[1],
    "transposed view": lambda b: b.transpose(0, 2),
    "pending graph": lambda b: b * 1,
    "detached": lambda b: b.detach(),
    "storage": lambda b: b.untyped_storage(),
    "from_numpy of a view": lambda b: lt.from_numpy(b.numpy()[3]),
}


def _values(held) -> np.ndarray:
    if isinstance(held, lt.Tensor):
        return held.numpy().copy()
    if isinstance(held, memoryview):
        return np.asarray(held).copy()
    if isinstance(held, np.ndarray):
        return held.copy()
    return np.frombuffer(bytes(held), np.uint8).copy()  # an untyped storage


@pytest.mark.parametrize("name", sorted(HOLDERS))
def test_a_block_is_never_reused_while_anything_refers_to_it(name):
    batch = default_collate(_samples(0))
    where = _address(batch)
    held = HOLDERS[name](batch)
    expected = None if name == "pending graph" else _values(held)
    del batch
    gc.collect()
    for k in range(6):
        # pruned and flushed in every way: the held memory must stay what it was
        _flush()
        other = default_collate(_samples(100 + 10 * k))
        assert _address(other) != where
        other.numpy()[...] = -1  # would overwrite the held values if it shared their memory
        del other
    if name == "pending graph":
        np.testing.assert_array_equal(held.numpy()[:, 0, 0], [0, 1, 2, 3])
    else:
        np.testing.assert_array_equal(_values(held), expected)
    del held
    _flush()
    # free again once the holder is gone: of the pool's two free blocks, the second one taken
    recent = default_collate(_samples(5))
    again = default_collate(_samples(6))
    assert where in (_address(recent), _address(again))


def test_empty_hands_out_views_and_counts_every_reference():
    a = pool.empty((256, 1024), np.float32)
    block = id(a.base)
    assert a.base.dtype == np.uint8 and a.flags.c_contiguous
    v = a[3:].T
    del a
    b = pool.empty((256, 1024), np.float32)
    assert id(b.base) != block  # v still refers to the first block
    del v
    c = pool.empty((1024, 256), np.float32)  # the same bytes in another shape reuse it
    assert id(c.base) == block


def test_small_arrays_and_other_sizes():
    small = pool.empty((16,), np.float64)
    assert small.base is None  # below the pool's threshold: plain numpy memory
    a = pool.empty((3 << 19,), np.uint8)  # 1.5 MiB
    block = id(a.base)
    del a
    big = pool.empty((4 << 20,), np.uint8)  # more than twice the free block: not served by it
    assert id(big.base) != block
    smaller = pool.empty((1 << 18,), np.float32)  # 1 MiB: a block at most twice as big serves it
    assert id(smaller.base) == block and smaller.nbytes == 1 << 20


def test_the_pool_keeps_a_bounded_number_of_blocks():
    held = [pool.empty((1 << 20,), np.uint8) for _ in range(pool._MAX_ENTRIES + 3)]
    assert len(pool._blocks) == pool._MAX_ENTRIES
    assert len({a.ctypes.data for a in held}) == len(held)
    del held
    # a new size replaces the least recently used free block
    other = pool.empty((5 << 20,), np.uint8)
    assert len(pool._blocks) == pool._MAX_ENTRIES and other.base is pool._blocks[-1]


def test_threads_never_share_a_block():
    got, errors = [], []

    def work():
        try:
            for _ in range(50):
                a = pool.empty((1 << 18,), np.float32)
                a.fill(threading.get_ident() % 1000)
                got.append(a)  # kept alive: no later call may hand out its block
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len({a.ctypes.data for a in got}) == len(got) == 200


def test_dataloader_batches_stay_intact_while_held():
    data = [lt.from_numpy(np.full(SAMPLE, i, np.float32)) for i in range(32)]
    batches = list(DataLoader(data, batch_size=4))
    for i, b in enumerate(batches):
        np.testing.assert_array_equal(b.numpy()[:, 0, 0], np.arange(4 * i, 4 * i + 4))
