"""DataLoader in the main process: arguments, batch order (PyTorch's for a fixed sampler order),
len(), checks and their messages."""
import warnings

import numpy as np
import pytest

import lazytensor as lt
from lazytensor.utils.data import (BatchSampler, DataLoader, Dataset, IterableDataset, RandomSampler,
                                   SequentialSampler, TensorDataset)
from lt_testing import torch


class Items(Dataset):
    """Sample i is (i, [i, -i] as a tensor, a string)."""

    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return {"i": i, "t": self.lib.tensor([i, -i]), "s": f"s{i}"}

    lib = lt


class Stream(IterableDataset):
    def __init__(self, n, lib=lt):
        self.n, self.lib = n, lib

    def __iter__(self):
        return (self.lib.tensor([float(i)]) for i in range(self.n))

    def __len__(self):
        return self.n


def torch_stream(n):
    """The same stream as a torch IterableDataset."""
    class TorchStream(torch.utils.data.IterableDataset):
        __iter__, __len__ = Stream.__iter__, Stream.__len__
    ds = TorchStream()
    ds.n, ds.lib = n, torch
    return ds


def _plain(x):
    """A batch as plain Python values (tensors as lists), to compare with torch's."""
    if isinstance(x, lt.Tensor) or (torch is not None and isinstance(x, torch.Tensor)):
        return ("tensor", str(x.dtype).replace("torch.", ""), x.tolist())
    if isinstance(x, dict):
        return {k: _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return type(x)(_plain(v) for v in x)
    return x


class TorchItems(Items):
    lib = torch


ORDERS = [
    dict(batch_size=3),
    dict(batch_size=3, drop_last=True),
    dict(batch_size=None),
    dict(batch_size=1),
    dict(sampler=[5, 1, 3, 3, 0], batch_size=2),
    dict(batch_sampler=[[4, 2], [0], [1, 3, 5]]),
    dict(sampler=[6, 2, 0], batch_size=None),
]


@pytest.mark.skipif(torch is None, reason="needs torch")
@pytest.mark.parametrize("kwargs", ORDERS)
def test_batches_equal_torch(kwargs):
    ours = [_plain(b) for b in DataLoader(Items(7), **kwargs)]
    theirs = [_plain(b) for b in torch.utils.data.DataLoader(TorchItems(7), **kwargs)]
    assert ours == theirs
    assert len(DataLoader(Items(7), **kwargs)) == len(torch.utils.data.DataLoader(TorchItems(7), **kwargs))


def test_batches_without_torch():
    batches = list(DataLoader(Items(5), batch_size=2))
    assert [b["i"].tolist() for b in batches] == [[0, 1], [2, 3], [4]]
    assert batches[0]["s"] == ["s0", "s1"]
    assert batches[2]["t"].tolist() == [[4, -4]]


def test_shuffle_is_a_permutation_and_repeats_with_generator():
    def order(seed):
        g = lt.Generator().manual_seed(seed)
        return [b.tolist() for b in DataLoader(list(range(20)), batch_size=4, shuffle=True, generator=g)]
    a = order(0)
    assert sorted(sum(a, [])) == list(range(20))
    assert order(0) == a and order(1) != a
    assert sum(a, []) != list(range(20))


def test_shuffle_batch_order_follows_the_sampler_order():
    # batches are the sampler's indices taken batch_size at a time, as in PyTorch
    g = lt.Generator().manual_seed(7)
    sampler = RandomSampler(range(10), generator=g)
    order = list(sampler)
    g.manual_seed(7)
    got = [b.tolist() for b in DataLoader(list(range(10)), batch_size=4, sampler=sampler)]
    assert got == [order[0:4], order[4:8], order[8:]]


def test_tensor_dataset_batches():
    x, y = lt.arange(10.).reshape(5, 2), lt.arange(5)
    batches = list(DataLoader(TensorDataset(x, y), batch_size=2))
    assert [b[1].tolist() for b in batches] == [[0, 1], [2, 3], [4]]
    np.testing.assert_array_equal(batches[1][0].numpy(), [[4., 5.], [6., 7.]])


def test_collate_fn_and_pin_memory():
    dl = DataLoader(Items(4), batch_size=2, collate_fn=lambda b: [s["i"] for s in b])
    assert list(dl) == [[0, 1], [2, 3]]
    with pytest.warns(UserWarning, match="'pin_memory' argument is set as true but no accelerator is found"):
        dl = DataLoader(Items(4), batch_size=2, pin_memory=True)
    assert [b["i"].tolist() for b in dl] == [[0, 1], [2, 3]]


def test_getitems_is_used():
    class Batched(Items):
        def __getitems__(self, idx):
            return [{"i": i * 10} for i in idx]
    assert [b["i"].tolist() for b in DataLoader(Batched(4), batch_size=3)] == [[0, 10, 20], [30]]


@pytest.mark.parametrize("bs, drop, n", [(2, False, 7), (2, True, 7), (None, False, 5), (4, False, 8)])
def test_iterable_dataset(bs, drop, n):
    dl = DataLoader(Stream(n), batch_size=bs, drop_last=drop)
    got = [b.tolist() for b in dl]
    assert len(got) == len(dl)
    if torch is not None:
        t = torch.utils.data.DataLoader(torch_stream(n), batch_size=bs, drop_last=drop)
        assert got == [b.tolist() for b in t] and len(dl) == len(t)


def test_iterable_dataset_longer_than_its_len_warns():
    class Liar(Stream):
        def __len__(self):
            return 2
    dl = DataLoader(Liar(4), batch_size=None)
    assert len(dl) == 2
    with pytest.warns(UserWarning, match="Length of IterableDataset .* was reported to be 2"):
        list(dl)


@pytest.mark.parametrize("kwargs, msg", [
    (dict(num_workers=-1), "num_workers option should be non-negative"),
    (dict(timeout=-1), "timeout option should be non-negative"),
    (dict(prefetch_factor=2), "prefetch_factor option could only be specified in multiprocessing"),
    (dict(num_workers=1, prefetch_factor=-1), "prefetch_factor option should be non-negative"),
    (dict(persistent_workers=True), "persistent_workers option needs num_workers > 0"),
    (dict(sampler=[0], shuffle=True), "sampler option is mutually exclusive with shuffle"),
    (dict(batch_sampler=[[0]], batch_size=2), "batch_sampler option is mutually exclusive with batch_size"),
    (dict(batch_sampler=[[0]], drop_last=True), "batch_sampler option is mutually exclusive"),
    (dict(batch_size=None, drop_last=True), "batch_size=None option disables auto-batching and is mutually "
                                            "exclusive with drop_last"),
    (dict(multiprocessing_context="fork"), "multiprocessing_context can only be used with multi-process loading"),
    (dict(num_workers=1, multiprocessing_context="nope"), "multiprocessing_context option should specify a valid"),
])
def test_argument_errors(kwargs, msg):
    with pytest.raises(ValueError, match=msg):
        DataLoader(Items(3), **kwargs)
    if torch is not None:
        with pytest.raises(ValueError, match=msg):
            torch.utils.data.DataLoader(TorchItems(3), **kwargs)


@pytest.mark.parametrize("kwargs, what", [(dict(shuffle=True), "shuffle"), (dict(sampler=[0]), "sampler"),
                                          (dict(batch_sampler=[[0]]), "batch_sampler")])
def test_iterable_dataset_argument_errors(kwargs, what):
    with pytest.raises(ValueError, match=f"DataLoader with IterableDataset: expected unspecified {what} option"):
        DataLoader(Stream(3), **kwargs)


def test_attributes_are_frozen_and_defaults():
    dl = DataLoader(Items(3))
    for attr in ("batch_size", "batch_sampler", "sampler", "drop_last", "dataset", "persistent_workers"):
        with pytest.raises(ValueError, match=f"{attr} attribute should not be set after DataLoader is initialized"):
            setattr(dl, attr, None)
    dl.num_workers = 0  # others may change
    assert dl.batch_size == 1 and isinstance(dl.sampler, SequentialSampler)
    assert isinstance(dl.batch_sampler, BatchSampler) and dl.prefetch_factor is None
    assert DataLoader(Items(3), num_workers=2).prefetch_factor == 2
    assert isinstance(DataLoader(Items(3), shuffle=True).sampler, RandomSampler)


def test_too_many_workers_warns():
    import os
    with pytest.warns(UserWarning, match="This DataLoader will create"):
        DataLoader(Items(3), num_workers=len(os.sched_getaffinity(0)) + 1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        DataLoader(Items(3), num_workers=1)


def test_exception_in_main_process_propagates_unchanged():
    class Bad(Items):
        def __getitem__(self, i):
            raise KeyError("missing")
    with pytest.raises(KeyError, match="missing"):
        next(iter(DataLoader(Bad(3))))


class _RowsBySample(TensorDataset):
    """A TensorDataset subclass: the DataLoader must fetch it sample by sample."""

    def __getitem__(self, index):
        return tuple(t[index] for t in self.tensors)


@pytest.mark.parametrize("num_workers", [0, 2])
@pytest.mark.parametrize("shape, dtype", [((10, 3, 4), lt.float32), ((10,), lt.int64), ((10, 2), lt.bfloat16),
                                          ((10, 0), lt.float32), ((10, 5), lt.bool)])
def test_tensor_dataset_batches_equal_the_per_sample_ones(shape, dtype, num_workers):
    x = lt.from_numpy(np.arange(int(np.prod(shape))).reshape(shape) % 7).to(dtype)
    y = lt.arange(10) * 2  # pending: realized by the loader
    gen = lambda: lt.Generator().manual_seed(3)  # noqa: E731
    fast = list(DataLoader(TensorDataset(x, y), batch_size=4, shuffle=True, generator=gen(),
                           num_workers=num_workers))
    slow = list(DataLoader(_RowsBySample(x, y), batch_size=4, shuffle=True, generator=gen()))
    assert len(fast) == len(slow) == 3
    for a, b in zip(fast, slow):
        assert type(a) is list and len(a) == 2
        for u, v in zip(a, b):
            assert u.dtype is v.dtype and u.shape == v.shape
            np.testing.assert_array_equal(u.numpy(), v.numpy())
    if torch is not None and dtype is not lt.bfloat16:  # torch.from_numpy has no bfloat16
        tds = torch.utils.data.TensorDataset(torch.from_numpy(x.numpy()), torch.from_numpy(y.numpy()))
        ref = list(torch.utils.data.DataLoader(tds, batch_size=4))
        ours = list(DataLoader(TensorDataset(x, y), batch_size=4))
        for a, b in zip(ours, ref):
            for u, v in zip(a, b):
                np.testing.assert_array_equal(u.numpy(), v.numpy())


def test_tensor_dataset_odd_indices_take_the_per_sample_path():
    x = lt.arange(12.0).reshape(6, 2)
    ds = TensorDataset(x)
    # negative and numpy indices, from a batch sampler of the user's: the per-sample path's results
    out = list(DataLoader(ds, batch_sampler=[[-1, 0], [np.int64(2), 3]]))
    assert [b[0].tolist() for b in out] == [[[10.0, 11.0], [0.0, 1.0]], [[4.0, 5.0], [6.0, 7.0]]]
    with pytest.raises(IndexError):
        list(DataLoader(ds, batch_sampler=[[0, 6]]))
    w = lt.ones(4, 2, requires_grad=True)
    batch = next(iter(DataLoader(TensorDataset(w), batch_size=4)))[0]
    assert batch.tolist() == [[1.0, 1.0]] * 4
