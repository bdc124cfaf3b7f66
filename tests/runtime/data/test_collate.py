"""default_collate / default_convert: outputs, types and errors equal PyTorch's."""
import collections

import numpy as np
import pytest

import lazytensor as lt
from lazytensor.utils.data import default_collate, default_convert
from lt_testing import torch

Point = collections.namedtuple("Point", ["x", "y"])


def _same(a, b):
    """A lazytensor collate output equals a torch one: same structure, types, dtypes and values."""
    if torch is not None and isinstance(b, torch.Tensor):
        assert isinstance(a, lt.Tensor), (a, b)
        assert a.dtype.name == str(b.dtype).replace("torch.", ""), (a.dtype, b.dtype)
        assert tuple(a.shape) == tuple(b.shape)
        np.testing.assert_array_equal(a.numpy(), b.numpy())
        return
    assert type(a) is type(b), (type(a), type(b))
    if isinstance(b, dict):
        assert list(a) == list(b)
        for k in b:
            _same(a[k], b[k])
    elif isinstance(b, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            _same(x, y)
    elif isinstance(b, np.ndarray):
        np.testing.assert_array_equal(a, b)
    else:
        assert a == b


def _samples(lib):
    """Sample lists built with `lib` (lt or torch) for tensors."""
    rng = np.random.default_rng(0)
    arr = [rng.random((2, 3)).astype(np.float32) for _ in range(3)]
    return [
        [lib.tensor([1., 2.]), lib.tensor([3., 4.])],
        [lib.tensor(1), lib.tensor(2)],
        [lib.arange(6).reshape(2, 3).t(), lib.arange(6, 12).reshape(2, 3).t()],  # non-contiguous
        [lib.zeros((0, 2)), lib.zeros((0, 2))],  # empty
        [lib.tensor([True, False]), lib.tensor([False, False])],
        [a.copy() for a in arr],
        [np.float32(1.5), np.float32(2.5)],
        [np.int16(3), np.int16(4)],
        [np.bool_(True), np.bool_(False)],
        [1, 2, 3],
        [1.5, 2.5],
        [True, False],
        ["a", "b"],
        [b"x", b"y"],
        [{"a": 1, "b": lib.tensor([1.])}, {"a": 2, "b": lib.tensor([2.])}],
        [(1, 2.0), (3, 4.0)],
        [[1, "s"], [2, "t"]],
        [Point(1, lib.tensor(0.5)), Point(2, lib.tensor(1.5))],
        [collections.OrderedDict(z=1, a=2), collections.OrderedDict(z=3, a=4)],
        [(lib.tensor([1]), {"k": [1, 2]}), (lib.tensor([2]), {"k": [3, 4]})],
    ]


@pytest.mark.skipif(torch is None, reason="needs torch")
@pytest.mark.parametrize("case", range(len(_samples(np))) if False else range(20))
def test_default_collate_matches_torch(case):
    ours = default_collate(_samples(lt)[case])
    theirs = torch.utils.data.default_collate(_samples(torch)[case])
    _same(ours, theirs)


def test_default_collate_without_torch():
    out = default_collate([{"x": lt.tensor([1, 2]), "n": 1}, {"x": lt.tensor([3, 4]), "n": 2}])
    np.testing.assert_array_equal(out["x"].numpy(), [[1, 2], [3, 4]])
    assert out["n"].dtype is lt.int64 and out["n"].tolist() == [1, 2]
    assert default_collate([1.0, 2.0]).dtype is lt.float64
    assert default_collate(["a", "b"]) == ["a", "b"]


def test_default_collate_lazy_samples_and_promotion():
    a = lt.tensor([1, 2]) * 2  # pending
    b = lt.tensor([3, 4]) + 1
    np.testing.assert_array_equal(default_collate([a, b]).numpy(), [[2, 4], [4, 5]])
    mixed = default_collate([lt.tensor([1]), lt.tensor([1.5])])  # promotes as lt.stack does
    assert mixed.dtype is lt.float32 and mixed.tolist() == [[1.0], [1.5]]


@pytest.mark.parametrize("dtype", [lt.float32, lt.bfloat16, lt.bool, lt.int64, lt.uint8])
@pytest.mark.parametrize("shape", [(), (3,), (2, 0), (4, 5, 6), (64, 1024)])
def test_stored_samples_take_the_fast_path_with_the_same_result(dtype, shape):
    rng = np.random.default_rng(1)
    values = [np.asarray(rng.random(shape) * 100).astype(dtype.np_dtype) for _ in range(4)]
    samples = [lt.from_numpy(v) for v in values]
    samples.append(samples[1])  # the same tensor twice
    values.append(values[1])
    samples.append(lt.from_numpy(values[2].copy()).clone())  # a pending sample: the general path
    values.append(values[2])
    for batch, expected in ((samples[:5], values[:5]), (samples, values)):
        out = default_collate(batch)
        assert out.dtype is dtype and tuple(out.shape) == (len(batch),) + shape
        np.testing.assert_array_equal(out.numpy(), np.stack(expected))
    # views and mixed dtypes leave the fast path, with lt.stack's results
    np.testing.assert_array_equal(default_collate([samples[0], samples[0].view(shape)]).numpy(),
                                  np.stack([values[0], values[0]]))
    if shape:
        strided = lt.from_numpy(np.repeat(values[0], 2, axis=-1)[..., ::2])  # a view of a wider array
        np.testing.assert_array_equal(default_collate([samples[0], strided]).numpy(),
                                      np.stack([values[0], values[0]]))
    if dtype is not lt.float32:
        mixed = default_collate([samples[0], lt.from_numpy(values[1].astype(np.float32))])
        assert mixed.dtype is lt.promote_types(dtype, lt.float32)


def test_default_collate_errors():
    with pytest.raises(RuntimeError, match=r"stack expects each tensor to be equal size, but got \[2\] at entry 0 "
                                           r"and \[3\] at entry 1"):
        default_collate([lt.zeros(2), lt.zeros(3)])
    with pytest.raises(RuntimeError, match="each element in list of batch should be of equal size"):
        default_collate([[1, 2], [1]])
    with pytest.raises(TypeError, match="default_collate: batch must contain tensors, numpy arrays, numbers, dicts "
                                        "or lists; found <class 'object'>"):
        default_collate([object(), object()])
    with pytest.raises(TypeError, match="found <U1"):
        default_collate([np.array(["a"]), np.array(["b"])])
    if torch is not None:
        with pytest.raises(TypeError, match="found <U1"):
            torch.utils.data.default_collate([np.array(["a"]), np.array(["b"])])


def test_default_collate_numpy_shares_no_state():
    a = np.arange(3.)
    out = default_collate([a, a])
    a[0] = 100.  # the batch is a new array
    assert out.tolist() == [[0., 1., 2.], [0., 1., 2.]]


def _convert_cases(lib):
    return [
        np.arange(3),
        np.float64(2.5),
        np.array(["a", "b"]),
        lib.tensor([1, 2]),
        {"a": np.arange(2), "b": "s"},
        (np.arange(2), 1),
        [np.arange(2), "x"],
        Point(np.arange(2), 3),
        "str",
        3,
    ]


@pytest.mark.skipif(torch is None, reason="needs torch")
@pytest.mark.parametrize("case", range(10))
def test_default_convert_matches_torch(case):
    _same(default_convert(_convert_cases(lt)[case]), torch.utils.data.default_convert(_convert_cases(torch)[case]))


def test_default_convert_shares_memory():
    a = np.arange(3.)
    t = default_convert(a)
    a[0] = 7.
    assert t[0].item() == 7.
