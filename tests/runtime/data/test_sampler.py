"""Samplers: order, lengths, generators and argument checks (PyTorch's messages)."""
import collections

import pytest

import lazytensor as lt
from lazytensor.utils.data import (BatchSampler, RandomSampler, SequentialSampler, SubsetRandomSampler,
                                   WeightedRandomSampler)
from lt_testing import torch


def test_sequential():
    s = SequentialSampler(range(5))
    assert list(s) == [0, 1, 2, 3, 4] and len(s) == 5


def test_random_without_replacement():
    s = RandomSampler(range(10), generator=lt.Generator().manual_seed(0))
    a = list(s)
    assert sorted(a) == list(range(10)) and len(s) == 10
    b = list(s)
    assert sorted(b) == list(range(10)) and a != b  # the generator moved on
    assert list(RandomSampler(range(10), generator=lt.Generator().manual_seed(0))) == a
    # num_samples beyond the length: whole permutations, then part of one
    s = RandomSampler(range(4), num_samples=10, generator=lt.Generator().manual_seed(2))
    got = list(s)
    assert len(got) == 10 and len(s) == 10
    assert sorted(got[:4]) == sorted(got[4:8]) == [0, 1, 2, 3] and len(set(got[8:])) == 2


def test_random_with_replacement():
    s = RandomSampler(range(3), replacement=True, num_samples=70, generator=lt.Generator().manual_seed(0))
    got = list(s)
    assert len(got) == 70 and set(got) == {0, 1, 2}


def test_random_default_generator_follows_manual_seed():
    lt.manual_seed(5)
    a = list(RandomSampler(range(20)))
    lt.manual_seed(5)
    assert list(RandomSampler(range(20))) == a


@pytest.mark.parametrize("kwargs, err, msg", [
    (dict(replacement=1), TypeError, "replacement should be a boolean value, but got replacement=1"),
    (dict(num_samples=0), ValueError, "num_samples should be a positive integer value, but got num_samples=0"),
    (dict(num_samples=2.0), ValueError, "num_samples should be a positive integer value"),
])
def test_random_errors(kwargs, err, msg):
    with pytest.raises(err, match=msg):
        RandomSampler(range(3), **kwargs)
    if torch is not None:
        with pytest.raises(err, match=msg):
            torch.utils.data.RandomSampler(range(3), **kwargs)


def test_subset_random():
    idx = [10, 20, 30, 40]
    s = SubsetRandomSampler(idx, generator=lt.Generator().manual_seed(0))
    assert sorted(s) == idx and len(s) == 4


def test_weighted_random():
    s = WeightedRandomSampler([0.0, 1.0, 0.0, 3.0], 200, generator=lt.Generator().manual_seed(0))
    got = list(s)
    assert len(got) == 200 == len(s) and set(got) <= {1, 3}
    counts = collections.Counter(got)
    assert counts[3] > counts[1]
    s = WeightedRandomSampler([1.0, 1.0, 1.0], 3, replacement=False, generator=lt.Generator().manual_seed(1))
    assert sorted(s) == [0, 1, 2]
    with pytest.raises(ValueError, match="weights should be a 1d sequence but given weights have shape"):
        WeightedRandomSampler([[1.0]], 1)
    with pytest.raises(ValueError, match="num_samples should be a positive integer value"):
        WeightedRandomSampler([1.0], 0)
    with pytest.raises(ValueError, match="replacement should be a boolean value"):
        WeightedRandomSampler([1.0], 1, replacement=None)


@pytest.mark.parametrize("n, bs, drop", [(10, 3, False), (10, 3, True), (9, 3, True), (2, 5, False), (2, 5, True)])
def test_batch_sampler(n, bs, drop):
    b = BatchSampler(SequentialSampler(range(n)), bs, drop)
    got = list(b)
    assert len(got) == len(b)
    if torch is not None:
        t = torch.utils.data.BatchSampler(torch.utils.data.SequentialSampler(range(n)), bs, drop)
        assert got == list(t) and len(b) == len(t)


@pytest.mark.parametrize("bs, drop, msg", [
    (0, False, "batch_size should be a positive integer value, but got batch_size=0"),
    (True, False, "batch_size should be a positive integer value, but got batch_size=True"),
    (2, 1, "drop_last should be a boolean value, but got drop_last=1"),
])
def test_batch_sampler_errors(bs, drop, msg):
    with pytest.raises(ValueError, match=msg):
        BatchSampler(range(3), bs, drop)
