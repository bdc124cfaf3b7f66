"""`lt.as_strided` / `Tensor.as_strided` (lazytensor/shape.py) against numpy and PyTorch.

The view must read the storage of the input's base at (size, stride, offset), report those strides
and that offset as PyTorch does, and share memory: writes through it reach the base and back.
"""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import lazytensor as lt
from lt_testing import assert_close, torch

needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch is not installed")

CASES = [  # (storage numel, size, stride, offset)
    (12, (4, 3), (1, 4), 0),        # a transpose
    (20, (7,), (1,), 5),            # a slice
    (30, (3, 3), (6, 2), 6),        # a strided 2-d view
    (12, (), (), 7),                # 0-d
    (12, (0, 3), (3, 1), 2),        # empty
    (6, (2, 3, 4), (3, 1, 0), 0),   # broadcast (stride 0)
    (12, (2, 1, 3), (6, 5, 1), 1),  # size-1 dim with an odd stride
    (12, (12,), (1,), 0),           # the whole storage
]


def _expected(values: np.ndarray, size, stride, offset) -> np.ndarray:
    item = values.itemsize
    return np.lib.stride_tricks.as_strided(values[offset:], size, tuple(s * item for s in stride))


@pytest.mark.parametrize("numel,size,stride,offset", CASES)
@pytest.mark.parametrize("dtype", [lt.float32, lt.int64, lt.bool, lt.bfloat16])
def test_values_and_layout(numel, size, stride, offset, dtype):
    values = (np.arange(numel) % 5).astype(dtype.np_dtype)
    x = lt.from_numpy(values.copy())
    y = lt.as_strided(x, size, stride, offset)
    assert y.shape == size and y.dtype is dtype
    if 0 not in size:
        assert y.stride() == stride
    assert y.storage_offset() == offset
    assert_close(y, _expected(values, size, stride, offset))


@needs_torch
@pytest.mark.parametrize("numel,size,stride,offset", CASES)
def test_matches_torch(numel, size, stride, offset):
    base = np.arange(numel, dtype=np.float32)
    t = torch.as_strided(torch.from_numpy(base.copy()), size, stride, offset)
    y = lt.arange(numel, dtype=lt.float32).as_strided(size, stride, offset)
    assert tuple(y.shape) == tuple(t.shape)
    assert y.stride() == t.stride() and y.storage_offset() == t.storage_offset()
    assert y.is_contiguous() == t.is_contiguous()
    assert_close(y, t)


def test_offset_is_in_the_base_storage_and_defaults_to_the_inputs():
    base = lt.arange(12.0)
    v = base[3:]  # a view at offset 3
    assert v.as_strided((2,), (1,)).tolist() == [3.0, 4.0]  # offset defaults to v's own
    assert v.as_strided((2,), (1,), 0).tolist() == [0.0, 1.0]  # offsets count from the base's start
    m = base.reshape(3, 4)
    assert lt.as_strided(m, (2, 2), (4, 1), 5).tolist() == [[5.0, 6.0], [9.0, 10.0]]


def test_writes_share_memory():
    base = lt.zeros(12)
    t = lt.as_strided(base, (4, 3), (1, 4))
    t[1, 2] = 7.0
    assert base[9].item() == 7.0
    base[4] = 3.0
    assert t[0, 1].item() == 3.0


def test_writes_reach_numpy():
    a = np.zeros(6, dtype=np.float32)
    t = lt.as_strided(lt.from_numpy(a), (2, 2), (3, 1), 1)
    t.fill_(2.0)
    assert a.tolist() == [0.0, 2.0, 2.0, 0.0, 2.0, 2.0]


@needs_torch
@pytest.mark.parametrize("size,stride,offset", [((4,), (4,), 0), ((2, 2), (1,), 0), ((3,), (-1,), 2),
                                                ((-1,), (1,), 0), ((2,), (1,), -1)])
def test_errors_match_torch(size, stride, offset):
    t = torch.arange(12.0)
    with pytest.raises(RuntimeError) as expected:
        torch.as_strided(t, size, stride, offset)
    with pytest.raises(RuntimeError) as got:
        lt.as_strided(lt.arange(12.0), size, stride, offset)
    first = str(expected.value).split("\n")[0]
    assert str(got.value).split("\n")[0] == first


def test_out_of_bounds_message():
    with pytest.raises(RuntimeError, match="out of bounds for storage of size 48"):
        lt.as_strided(lt.arange(12.0), (4,), (4,))


def test_interleaved_layout_is_refused_clearly():
    # dims that interleave in memory have no movement-op view in this IR
    with pytest.raises(RuntimeError, match="can't be expressed as a view"):
        lt.as_strided(lt.arange(12.0), (3, 3), (2, 3))


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_random_views_of_slices_and_transposes(data):
    """Views that slicing and permuting make, rebuilt with as_strided from their strides."""
    shape = tuple(data.draw(st.lists(st.integers(1, 4), min_size=1, max_size=3)))
    numel = int(np.prod(shape))
    base = lt.arange(numel, dtype=lt.float32)
    view = base.reshape(shape)
    perm = data.draw(st.permutations(range(len(shape))))
    view = view.permute(*perm)
    dim = data.draw(st.integers(0, len(shape) - 1))
    start = data.draw(st.integers(0, view.shape[dim] - 1))
    step = data.draw(st.integers(1, 3))
    index = [slice(None)] * len(shape)
    index[dim] = slice(start, None, step)
    view = view[tuple(index)]
    again = lt.as_strided(base, tuple(view.shape), view.stride(), view.storage_offset())
    assert again.stride() == view.stride() and again.storage_offset() == view.storage_offset()
    assert_close(again, view.numpy())
