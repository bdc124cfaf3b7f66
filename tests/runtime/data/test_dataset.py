"""Datasets: TensorDataset, StackDataset, Subset, ConcatDataset, ChainDataset, random_split."""
import numpy as np
import pytest

import lazytensor as lt
from lazytensor.utils.data import (ChainDataset, ConcatDataset, Dataset, IterableDataset, StackDataset, Subset,
                                   TensorDataset, random_split)
from lt_testing import torch


class Squares(Dataset):
    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        if not 0 <= i < self.n:
            raise IndexError(i)
        return i * i


class Count(IterableDataset):
    def __init__(self, start, stop):
        self.start, self.stop = start, stop

    def __iter__(self):
        return iter(range(self.start, self.stop))

    def __len__(self):
        return self.stop - self.start


def test_user_paths():
    import lazytensor.utils.data as data
    assert lt.utils.data.DataLoader is data.DataLoader
    from lazytensor.runtime.data import DataLoader
    assert DataLoader is data.DataLoader


def test_dataset_base():
    with pytest.raises(NotImplementedError, match="Subclasses of Dataset should implement __getitem__"):
        Dataset()[0]
    both = Squares(3) + Squares(2)
    assert isinstance(both, ConcatDataset) and [both[i] for i in range(5)] == [0, 1, 4, 0, 1]
    chained = Count(0, 2) + Count(5, 7)
    assert isinstance(chained, ChainDataset) and list(chained) == [0, 1, 5, 6]


def test_tensor_dataset():
    x, y = lt.arange(12.).reshape(4, 3), lt.tensor([1, 0, 1, 0])
    ds = TensorDataset(x, y)
    assert len(ds) == 4
    a, b = ds[2]
    np.testing.assert_array_equal(a.numpy(), [6., 7., 8.])
    assert b.item() == 1
    np.testing.assert_array_equal(ds[1:3][0].numpy(), x.numpy()[1:3])
    with pytest.raises(AssertionError, match="Size mismatch between tensors"):
        TensorDataset(x, lt.zeros(3))


def test_stack_dataset():
    ds = StackDataset(Squares(3), Squares(3))
    assert len(ds) == 3 and ds[2] == (4, 4)
    kd = StackDataset(a=Squares(2), b=Squares(2))
    assert kd[1] == {"a": 1, "b": 1}
    with pytest.raises(ValueError, match="Size mismatch"):
        StackDataset(Squares(2), Squares(3))
    with pytest.raises(ValueError, match="At least one dataset"):
        StackDataset()


def test_subset():
    s = Subset(Squares(10), [7, 2, 5])
    assert len(s) == 3 and [s[i] for i in range(3)] == [49, 4, 25]
    assert s.__getitems__([0, 2]) == [49, 25]


def test_concat_dataset():
    c = ConcatDataset([Squares(2), Squares(3), Squares(1)])
    assert len(c) == 6 and c.cumulative_sizes == [2, 5, 6]
    assert [c[i] for i in range(6)] == [0, 1, 0, 1, 4, 0]
    assert c[-1] == 0 and c[-4] == 0
    with pytest.raises(ValueError, match="absolute value of index should not exceed dataset length"):
        c[-7]
    with pytest.raises(AssertionError, match="should not be an empty iterable"):
        ConcatDataset([])
    with pytest.raises(AssertionError, match="does not support IterableDataset"):
        ConcatDataset([Count(0, 2)])


def test_chain_dataset():
    ch = ChainDataset([Count(0, 3), Count(10, 12)])
    assert list(ch) == [0, 1, 2, 10, 11] and len(ch) == 5
    with pytest.raises(AssertionError, match="ChainDataset only supports IterableDataset"):
        list(ChainDataset([Squares(2)]))


@pytest.mark.parametrize("lengths", [[3, 7], [0.3, 0.7], [0.5, 0.5, 0.0], [0.34, 0.33, 0.33]])
def test_random_split_partitions(lengths):
    ds = Squares(10)
    with pytest.warns(UserWarning) if 0.0 in lengths else _nothing():
        parts = random_split(ds, lengths, generator=lt.Generator().manual_seed(1))
    got = sorted(i for p in parts for i in p.indices)
    assert got == list(range(10))
    if torch is not None:  # the sizes (not the permutation) are PyTorch's
        with pytest.warns(UserWarning) if 0.0 in lengths else _nothing():
            tparts = torch.utils.data.random_split(range(10), lengths, generator=torch.Generator().manual_seed(1))
        assert [len(p) for p in parts] == [len(p) for p in tparts]


def test_random_split_generator_repeats_and_errors():
    a = random_split(Squares(20), [5, 15], generator=lt.Generator().manual_seed(3))
    b = random_split(Squares(20), [5, 15], generator=lt.Generator().manual_seed(3))
    assert [p.indices for p in a] == [p.indices for p in b]
    lt.manual_seed(0)
    c = random_split(Squares(20), [5, 15])
    lt.manual_seed(0)
    assert [p.indices for p in c] == [p.indices for p in random_split(Squares(20), [5, 15])]
    with pytest.raises(ValueError, match="Sum of input lengths does not equal the length of the input dataset!"):
        random_split(Squares(5), [2, 2])
    with pytest.raises(ValueError, match="Fraction at index 0 is not between 0 and 1"):
        random_split(Squares(5), [1.5, -0.5])


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False
