"""Tests for lazytensor.creation: tensor, as_tensor, from_numpy and the shape factories.

Each factory call in the tables below runs on lazytensor and on PyTorch (when installed): both
must raise the same exception type, or give the same dtype, shape and values. Without PyTorch the
expected dtypes and values are spelled out. Memory sharing with numpy is checked both ways,
including for non-contiguous arrays.
"""
from __future__ import annotations

import math

import ml_dtypes
import numpy as np
import pytest

import lazytensor as lt
from lt_testing import assert_close, torch

needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch is not installed")


def run(fn, module):
    try:
        return fn(module)
    except Exception as e:  # noqa: BLE001 - compared with torch's
        return e


def same(got, want, values: bool = True):
    """Ours equals torch's: the same exception type, or the same dtype, shape and values."""
    if isinstance(want, Exception) or isinstance(got, Exception):
        assert type(got) is type(want), f"torch: {want!r}, lazytensor: {got!r}"
        return
    assert repr(got.dtype) == str(want.dtype)
    assert tuple(got.shape) == tuple(want.shape)
    assert got.requires_grad == want.requires_grad
    if values:
        assert_close(got, want.detach(), rtol=1e-6 if got.dtype is lt.float32 else None)


def check(fn, values: bool = True):
    """fn(lt) against fn(torch) where torch is installed; returns ours (or the exception).
    `values=False` for empty(), whose values are unspecified."""
    got = run(fn, lt)
    if torch is not None:
        same(got, run(fn, torch), values)
    return got


# ---- tensor(): dtype inference and conversion ----

INFERENCE = [
    ([True, False], "bool", [True, False]),
    ([1, 2], "int64", [1, 2]),
    ([1.0, 2], "float32", [1.0, 2.0]),
    ([True, 2], "int64", [1, 2]),
    ([True, 2.5], "float32", [1.0, 2.5]),
    ([[1, 2], [3, 4]], "int64", [[1, 2], [3, 4]]),
    ([[1, 2.5], [3, 4]], "float32", [[1.0, 2.5], [3.0, 4.0]]),
    ((1, 2), "int64", [1, 2]),
    ([(1, 2), [3, 4]], "int64", [[1, 2], [3, 4]]),
    ([], "float32", []),
    ([[]], "float32", [[]]),
    (3, "int64", 3),
    (3.5, "float32", 3.5),
    (True, "bool", True),
    (-0.0, "float32", -0.0),
    (float("inf"), "float32", float("inf")),
    ([2 ** 62, -2 ** 63], "int64", [2 ** 62, -2 ** 63]),
    (np.float32(2.5), "float32", 2.5),
    ([np.int8(3), 4], "int64", [3, 4]),
    ([np.bool_(True)], "bool", [True]),
]


@pytest.mark.parametrize("data, name, values", INFERENCE)
def test_tensor_infers_dtype(data, name, values):
    x = check(lambda m: m.tensor(data))
    assert x.dtype.name == name
    assert x.tolist() == values
    assert tuple(x.shape) == np.shape(values)


@pytest.mark.parametrize("np_type", [np.bool_, np.uint8, np.int8, np.int16, np.int32, np.int64, np.float16,
                                     np.float32, np.float64, ml_dtypes.bfloat16])
def test_tensor_keeps_numpy_dtypes_and_copies(np_type):
    a = np.arange(6).reshape(2, 3).astype(np_type)
    x = lt.tensor(a)
    assert x.dtype.np_dtype == np.dtype(np_type)
    np.testing.assert_array_equal(x.numpy(), a)
    a[0, 0] = 1  # a copy: later writes to the array are not seen
    assert x.tolist()[0][0] == 0
    for view in (a.T, a[:, ::2], a[::-1]):
        np.testing.assert_array_equal(lt.tensor(view).numpy(), view)
    assert lt.tensor(np.array(5, dtype=np_type)).shape == ()
    if torch is not None and np_type is not ml_dtypes.bfloat16:
        same(lt.tensor(a), torch.tensor(a))


@pytest.mark.parametrize("name", ["bool", "uint8", "int8", "int16", "int32", "int64", "float16", "bfloat16",
                                  "float32", "float64"])
def test_tensor_with_dtype_converts(name):
    for data in ([1.7, -1.7, 0.0, 2.5], [[1, 0], [3, 4]], [True, False], 3.0, [250, 3]):
        x = check(lambda m: m.tensor(data, dtype=getattr(m, name)))
        if not isinstance(x, Exception):
            assert x.dtype.name == name


@needs_torch
@pytest.mark.filterwarnings("ignore:To copy construct from a tensor")
@pytest.mark.parametrize("case", [
    lambda m: m.tensor([300], dtype=m.uint8), lambda m: m.tensor([-1], dtype=m.uint8),
    lambda m: m.tensor(-255, dtype=m.uint8), lambda m: m.tensor([-129], dtype=m.int8),
    lambda m: m.tensor(127, dtype=m.int8), lambda m: m.tensor(2 ** 40, dtype=m.int32),
    lambda m: m.tensor([2 ** 31 - 1, -2 ** 31], dtype=m.int32), lambda m: m.tensor(2 ** 63),
    lambda m: m.tensor([-2 ** 63 - 1]), lambda m: m.tensor(2 ** 63, dtype=m.float32),
    lambda m: m.tensor(1e40, dtype=m.float16), lambda m: m.tensor([1e40]), lambda m: m.tensor([1.5], dtype=m.bool),
    lambda m: m.tensor(None), lambda m: m.tensor([None]), lambda m: m.tensor("abc"), lambda m: m.tensor([1, "a"]),
    lambda m: m.tensor([[1, 2], [3]]), lambda m: m.tensor([[1, 2], 3]), lambda m: m.tensor([1, [2, 3]]),
    lambda m: m.tensor([float("nan")], dtype=m.int32), lambda m: m.tensor([255.9], dtype=m.uint8),
    lambda m: m.tensor([-0.5], dtype=m.uint8), lambda m: m.tensor([1e20], dtype=m.int32), lambda m: m.tensor(np.array(["a"])),
    lambda m: m.tensor([m.tensor(1), m.tensor(2)]), lambda m: m.tensor([m.tensor(1.5), m.tensor(2)]),
    lambda m: m.tensor([[m.tensor(1)], [m.tensor(2)]]), lambda m: m.tensor(m.tensor([1, 2])),
    lambda m: m.tensor(m.tensor([[1, 2], [3, 4]]).T),
    lambda m: m.tensor(np.array([1, 2], dtype=np.float16), dtype=m.float64),
])
def test_tensor_edge_cases_match_torch(case):
    with np.errstate(over="ignore"):
        same(run(case, lt), run(case, torch))


def test_tensor_errors_by_hand():
    with pytest.raises(RuntimeError, match="value cannot be converted to type uint8 without overflow"):
        lt.tensor([300], dtype=lt.uint8)
    with pytest.raises(ValueError, match="Overflow when unpacking long long"):
        lt.tensor(2 ** 63)
    with pytest.raises(RuntimeError, match="Could not infer dtype of NoneType"):
        lt.tensor(None)
    with pytest.raises(TypeError, match="complex"):
        lt.tensor([1 + 2j])
    with pytest.raises(ValueError):
        lt.tensor([[1, 2], [3]])
    assert lt.tensor([-1], dtype=lt.uint8).tolist() == [255]
    assert lt.tensor([1.7, -1.7], dtype=lt.int32).tolist() == [1, -1]


def test_tensor_requires_grad():
    x = lt.tensor([1.0, 2.0], requires_grad=True)
    assert x.requires_grad and x.is_leaf
    assert lt.tensor([1.0], dtype=lt.float16, requires_grad=True).requires_grad
    for data, dtype in (([1, 2], None), ([True], None), ([1.5], lt.int32)):
        with pytest.raises(RuntimeError, match="Only Tensors of floating point and complex dtype can require gradients"):
            lt.tensor(data, dtype=dtype, requires_grad=True)
    if torch is not None:
        with pytest.raises(RuntimeError):
            torch.tensor([1, 2], requires_grad=True)


def test_tensor_of_a_view_copies_it():
    base = lt.arange(6).reshape(2, 3)
    x = lt.tensor(base.T)
    assert x.tolist() == [[0, 3], [1, 4], [2, 5]] and x.is_contiguous()
    base.add_(10)
    assert x.tolist() == [[0, 3], [1, 4], [2, 5]]


# ---- as_tensor and from_numpy ----

def test_as_tensor():
    t = lt.tensor([1.0, 2.0])
    assert lt.as_tensor(t) is t
    assert lt.as_tensor(t, dtype=lt.float32) is t
    assert lt.as_tensor(t, dtype=lt.float64).dtype is lt.float64
    a = np.array([1.0, 2.0])
    x = lt.as_tensor(a)  # same dtype: shares memory
    a[0] = 7.0
    assert x.tolist() == [7.0, 2.0]
    y = lt.as_tensor(a, dtype=lt.float32)  # another dtype: a copy
    a[0] = 8.0
    assert y.tolist() == [7.0, 2.0] and y.dtype is lt.float32
    assert lt.as_tensor([1, 2]).dtype is lt.int64 and lt.as_tensor(3.5).shape == ()
    assert lt.as_tensor([1, 2], dtype=lt.float32).dtype is lt.float32
    if torch is not None:
        for fn in (lambda m: m.as_tensor([1, 2]), lambda m: m.as_tensor([1, 2], dtype=m.float32),
                   lambda m: m.as_tensor(np.array([1, 2])), lambda m: m.as_tensor(np.array([1, 2]), dtype=m.float32),
                   lambda m: m.as_tensor(3.5), lambda m: m.as_tensor([[True]])):
            same(run(fn, lt), run(fn, torch))


@pytest.mark.parametrize("np_type", [np.bool_, np.uint8, np.int8, np.int16, np.int32, np.int64, np.float16,
                                     np.float32, np.float64])
def test_from_numpy_shares_memory_both_ways(np_type):
    a = np.arange(12).reshape(3, 4).astype(np_type)
    x = lt.from_numpy(a)
    assert x.dtype.np_dtype == a.dtype and x.shape == (3, 4)
    np.testing.assert_array_equal(x.numpy(), a)
    a[1, 2] = 0
    assert x.tolist()[1][2] == 0  # the array's writes are seen
    if np_type is not np.bool_:
        x.add_(1)
        np.testing.assert_array_equal(a[1], np.array([5, 6, 1, 8]).astype(np_type))  # ours reach the array
    x.mul_(lt.zeros((), dtype=x.dtype))
    assert not a.any()
    assert x.numpy().ctypes.data == a.ctypes.data


@pytest.mark.parametrize("make_view", [lambda a: a.T, lambda a: a[::2, 1:], lambda a: a[:, ::2], lambda a: a[1:, 1:3],
                                       lambda a: a[:, 1], lambda a: a[::3, ::2], lambda a: a.reshape(2, 3, 4)[:, 1:],
                                       lambda a: a.reshape(2, 3, 4).transpose(2, 0, 1), lambda a: a[2:, :0],
                                       lambda a: a[np.newaxis, 1, ::2]])
def test_from_numpy_shares_memory_with_non_contiguous_arrays(make_view):
    base = np.arange(24, dtype=np.float32).reshape(4, 6)
    view = make_view(base)
    x = lt.from_numpy(view)
    assert x.shape == view.shape
    for size, ours, theirs in zip(view.shape, x.stride(), view.strides):
        assert size <= 1 or view.size == 0 or ours == theirs // 4  # the same strides: a view of the memory
    np.testing.assert_array_equal(x.numpy(), view)
    view[...] = -view  # numpy writes are seen
    np.testing.assert_array_equal(x.numpy(), view)
    x.mul_(2)  # and ours reach the array, through the same strides
    np.testing.assert_array_equal(view, x.numpy())
    np.testing.assert_array_equal(np.asarray(x), view)
    untouched = np.ones(24, dtype=bool)
    untouched[make_view(np.arange(24).reshape(4, 6)).ravel()] = False
    np.testing.assert_array_equal(base.ravel()[untouched], np.arange(24, dtype=np.float32)[untouched])
    if torch is not None:
        t = torch.from_numpy(np.ascontiguousarray(make_view(np.arange(24, dtype=np.float32).reshape(4, 6))))
        assert tuple(t.shape) == tuple(x.shape)


def test_from_numpy_refusals():
    with pytest.raises(ValueError, match="negative"):
        lt.from_numpy(np.arange(5)[::-1])
    with pytest.raises(ValueError, match="negative"):
        lt.from_numpy(np.arange(6).reshape(2, 3)[:, ::-2])
    for np_type in (np.uint16, np.uint32, np.uint64, np.complex64, np.complex128):
        with pytest.raises(TypeError, match="can't convert np.ndarray of type"):
            lt.from_numpy(np.zeros(2, dtype=np_type))
    with pytest.raises(TypeError, match="expected np.ndarray"):
        lt.from_numpy([1, 2])
    if torch is not None:  # (PyTorch takes complex and uint16-64 arrays: those dtypes are not supported here)
        for fn in (lambda m: m.from_numpy(np.arange(5)[::-1]), lambda m: m.from_numpy(np.zeros(2, dtype=np.float128)),
                   lambda m: m.from_numpy(np.zeros(2, dtype=np.str_)), lambda m: m.from_numpy([1, 2])):
            assert type(run(fn, lt)) is type(run(fn, torch))


def test_from_numpy_zero_d_and_empty():
    a = np.array(3.5)
    x = lt.from_numpy(a)
    assert x.shape == () and x.item() == 3.5
    x.add_(1)
    assert a == 4.5
    e = np.zeros((0, 3))
    assert lt.from_numpy(e).shape == (0, 3) and lt.from_numpy(e).tolist() == []


# ---- zeros, ones, empty, full ----

SIZES = [lambda m: (2, 3), lambda m: ((2, 3),), lambda m: ([2, 3],), lambda m: (m.Size([2, 3]),), lambda m: ((),),
         lambda m: ([],), lambda m: (0,), lambda m: (2, 0, 3), lambda m: (np.int64(2),), lambda m: (m.tensor(2),),
         lambda m: ([2, True],), lambda m: (-1,), lambda m: (2, -3), lambda m: (2.5,), lambda m: ((2, 3.0),),
         lambda m: ((2,), (3,)), lambda m: ()]


@pytest.mark.parametrize("factory", ["zeros", "ones", "empty"])
@pytest.mark.parametrize("size", range(len(SIZES)))
def test_shape_factories(factory, size):
    x = check(lambda m: getattr(m, factory)(*SIZES[size](m)), values=factory != "empty")
    if isinstance(x, lt.Tensor):
        assert x.dtype is lt.float32
        if factory != "empty":
            np.testing.assert_array_equal(x.numpy(), np.full(x.shape, 1.0 if factory == "ones" else 0.0))


@pytest.mark.parametrize("name", ["bool", "uint8", "int8", "int16", "int32", "int64", "float16", "bfloat16",
                                  "float32", "float64"])
def test_shape_factories_with_dtype(name):
    d = getattr(lt, name)
    for factory in ("zeros", "ones", "empty"):
        x = check(lambda m: getattr(m, factory)(2, 3, dtype=getattr(m, name)), values=factory != "empty")
        assert x.dtype is d and x.shape == (2, 3)
    rg = check(lambda m: m.zeros(2, dtype=getattr(m, name), requires_grad=True))
    assert isinstance(rg, RuntimeError) != d.is_floating_point


FULL = [
    lambda m: m.full((2, 3), 7), lambda m: m.full((2, 3), 7.5), lambda m: m.full((2, 3), True),
    lambda m: m.full([2], 7, dtype=m.float64), lambda m: m.full([2], 1.5, dtype=m.int32), lambda m: m.full((), 3),
    lambda m: m.full((2,), m.tensor(3)), lambda m: m.full((2,), m.tensor(3.5)), lambda m: m.full((2,), float("nan")),
    lambda m: m.full((2,), float("inf"), dtype=m.float16), lambda m: m.full(2, 1.5), lambda m: m.full([2.0], 1),
    lambda m: m.full((1,), 300, dtype=m.uint8), lambda m: m.full((1,), -1, dtype=m.uint8),
    lambda m: m.full((1,), -255, dtype=m.uint8), lambda m: m.full((1,), -256, dtype=m.uint8),
    lambda m: m.full((1,), 300, dtype=m.int8), lambda m: m.full((1,), -129, dtype=m.int8),
    lambda m: m.full((1,), 2 ** 40, dtype=m.int16), lambda m: m.full((1,), 2 ** 40, dtype=m.int64),
    lambda m: m.full((1,), 1e40, dtype=m.float32), lambda m: m.full((1,), 1e40, dtype=m.bfloat16),
    lambda m: m.full((2,), 1e10, dtype=m.float16),  # (PyTorch lets one-element float16 fills overflow to inf) lambda m: m.full((1,), 1e300, dtype=m.float64),
    lambda m: m.full((1,), 2, dtype=m.bool), lambda m: m.full((1,), 1.5, dtype=m.uint8),
    lambda m: m.full((1,), -1.5, dtype=m.uint8), lambda m: m.full((1,), float("nan"), dtype=m.int32),
    lambda m: m.full((1,), float("inf"), dtype=m.int32), lambda m: m.full((2, 2), -0.0),
    lambda m: m.full((2,), 5, requires_grad=True), lambda m: m.full((2,), 5.0, requires_grad=True),
]


@pytest.mark.parametrize("case", range(len(FULL)))
def test_full(case):
    check(FULL[case])


def test_full_infers_dtype_from_the_fill_value():
    assert lt.full((2,), 7).dtype is lt.int64
    assert lt.full((2,), 7.5).dtype is lt.float32
    assert lt.full((2,), True).dtype is lt.bool
    assert lt.full((2,), lt.tensor(2.5, dtype=lt.float64)).dtype is lt.float32  # a tensor's item()
    assert lt.full((2, 2), 3).tolist() == [[3, 3], [3, 3]]


def test_factories_are_lazy_constants():
    z = lt.zeros(1000, 1000)
    assert z.node.op.name != "BUFFER"  # a broadcast constant, nothing allocated yet
    assert (z + 1).sum().item() == 1e6


# ---- *_like ----

LIKE = [
    lambda m: m.zeros_like(m.tensor([1, 2])), lambda m: m.zeros_like(m.tensor([1, 2]), dtype=m.float32),
    lambda m: m.ones_like(m.tensor([[1.5], [2]])), lambda m: m.full_like(m.tensor([1, 2]), 7.9),
    lambda m: m.full_like(m.tensor([1.0, 2]), 7), lambda m: m.full_like(m.tensor([True]), 5),
    lambda m: m.ones_like(m.tensor([1, 2]), requires_grad=True),
    lambda m: m.ones_like(m.tensor([1.0, 2]), requires_grad=True),
    lambda m: m.zeros_like(m.tensor([[1.0, 2.0, 3.0]]).T), lambda m: m.ones_like(m.tensor(3, dtype=m.int8)),
    lambda m: m.full_like(m.tensor([1], dtype=m.uint8), 300), lambda m: m.full_like(m.zeros(2, 0), 1.0),
    lambda m: m.ones_like(m.tensor([1.0]), dtype=m.float16),
]


@pytest.mark.parametrize("case", range(len(LIKE)))
def test_like_factories(case):
    check(LIKE[case])


def test_empty_like_and_zeros_like_keep_shape_and_dtype():
    x = lt.tensor([[1, 2, 3]], dtype=lt.int16).T
    for fn in (lt.zeros_like, lt.ones_like, lt.empty_like):
        y = fn(x)
        assert y.shape == (3, 1) and y.dtype is lt.int16 and y.is_contiguous()


# ---- arange, linspace, logspace, eye ----

ARANGE = [
    lambda m: m.arange(5), lambda m: m.arange(5.0), lambda m: m.arange(1, 5), lambda m: m.arange(1, 5, 2),
    lambda m: m.arange(5, 1, -1), lambda m: m.arange(5, 1, -2), lambda m: m.arange(0, 1, 0.1),
    lambda m: m.arange(0, 1, 0.3), lambda m: m.arange(1, 0, -0.1), lambda m: m.arange(0, 10, 3, dtype=m.float32),
    lambda m: m.arange(0, 2.5, dtype=m.int64), lambda m: m.arange(0.5, 3, dtype=m.int64),
    lambda m: m.arange(-0.5, 3, dtype=m.int64), lambda m: m.arange(0, 3.7, 1.5, dtype=m.int64),
    lambda m: m.arange(0.5, 3), lambda m: m.arange(-3, 3), lambda m: m.arange(0), lambda m: m.arange(1, 1),
    lambda m: m.arange(1, 5, 0), lambda m: m.arange(1, 5, -1), lambda m: m.arange(5, 1),
    lambda m: m.arange(10, dtype=m.uint8), lambda m: m.arange(0, 1, 0.1, dtype=m.float64),
    lambda m: m.arange(m.tensor(3)), lambda m: m.arange(m.tensor(0.5), m.tensor(2)), lambda m: m.arange(0, 5, 1.5),
    lambda m: m.arange(-1.0, 1.0, 0.25), lambda m: m.arange(1e6, 1e6 + 5), lambda m: m.arange(2 ** 40, 2 ** 40 + 3),
    lambda m: m.arange(True, 3), lambda m: m.arange(5, dtype=m.bool), lambda m: m.arange(0, 3, dtype=m.float16),
    lambda m: m.arange(0, 3, 0.5, dtype=m.bfloat16), lambda m: m.arange(float("nan")),
    lambda m: m.arange(float("inf")), lambda m: m.arange(1, 2.0000001, 0.1), lambda m: m.arange(0, 0.3, 0.1),
    lambda m: m.arange(10, dtype=m.float16), lambda m: m.arange(0, 2 ** 24 + 2, 2 ** 23, dtype=m.float32),
    lambda m: m.arange(1, -5, -1.5), lambda m: m.arange(-5, 5, 0.7, dtype=m.float16),
    lambda m: m.arange(5, requires_grad=True), lambda m: m.arange(5.0, requires_grad=True),
    lambda m: m.arange(-100, 100, 7, dtype=m.int8),
]


@pytest.mark.parametrize("case", range(len(ARANGE)))
def test_arange(case):
    check(ARANGE[case])


def test_arange_by_hand():
    assert lt.arange(5).tolist() == [0, 1, 2, 3, 4] and lt.arange(5).dtype is lt.int64
    assert lt.arange(5, 1, -2).tolist() == [5, 3]
    assert lt.arange(0, 1, 0.1).shape == (10,)  # ceil((1 - 0) / 0.1) as PyTorch counts
    assert lt.arange(1, 2.0000001, 0.1).shape == (11,)
    assert lt.arange(0, 2.5, dtype=lt.int64).tolist() == [0, 1]  # bounds become ints first
    np.testing.assert_allclose(lt.arange(-1.0, 1.0, 0.25).numpy(), np.arange(-1.0, 1.0, 0.25))
    with pytest.raises(RuntimeError, match="step must be nonzero"):
        lt.arange(1, 5, 0)
    with pytest.raises(RuntimeError, match="inconsistent with step sign"):
        lt.arange(1, 5, -1)
    with pytest.raises(RuntimeError, match="unsupported range"):
        lt.arange(float("nan"))


LINSPACE = [
    lambda m: m.linspace(0, 1, 5), lambda m: m.linspace(0, 1, 1), lambda m: m.linspace(0, 1, 0),
    lambda m: m.linspace(0, 1, -1), lambda m: m.linspace(1, 0, 7), lambda m: m.linspace(-10, 10, 11),
    lambda m: m.linspace(0, 10, 5, dtype=m.int64), lambda m: m.linspace(0, 1, 5, dtype=m.float64),
    lambda m: m.linspace(3, 3, 4), lambda m: m.linspace(0, 1, steps=3), lambda m: m.linspace(-1, 1, 10, dtype=m.int32),
    lambda m: m.linspace(m.tensor(0.0), m.tensor(1.0), 3), lambda m: m.linspace(0, 1, 2.5),
    lambda m: m.linspace(0, 1, 3, dtype=m.bool), lambda m: m.linspace(0, 1, 3, dtype=m.uint8),
    lambda m: m.linspace(-3.7, 3.7, 5, dtype=m.int64), lambda m: m.linspace(0, 2 ** 60, 3, dtype=m.int64),
    lambda m: m.linspace(0, 10, 4, dtype=m.int8), lambda m: m.linspace(0.1, 0.7, 13),
    lambda m: m.linspace(-123.4, 5e3, 101), lambda m: m.linspace(-1, 1, 11, dtype=m.float16),
    lambda m: m.linspace(-1, 1, 11, dtype=m.bfloat16), lambda m: m.linspace(0, 1, 5, requires_grad=True),
    lambda m: m.logspace(0, 2, 3), lambda m: m.logspace(0, 2, 3, base=2), lambda m: m.logspace(0, 2, 3, dtype=m.float64),
    lambda m: m.logspace(-1, 1, 5, base=3.0), lambda m: m.logspace(0, 3, 4, dtype=m.int64),
    lambda m: m.logspace(0, 1, 1), lambda m: m.logspace(0, 1, 0), lambda m: m.logspace(0, 2, 3, dtype=m.int32),
    lambda m: m.logspace(0, 2, 3, base=2, dtype=m.uint8), lambda m: m.logspace(-2, 2, 9),
    lambda m: m.logspace(-2, 2, 9, dtype=m.float64),
]


@pytest.mark.parametrize("case", range(len(LINSPACE)))
def test_linspace_logspace(case):
    check(LINSPACE[case])


def test_linspace_by_hand():
    np.testing.assert_allclose(lt.linspace(-2, 3, 7).numpy(), np.linspace(-2, 3, 7), rtol=1e-6)
    x = lt.linspace(0.1, 0.9, 9, dtype=lt.float64)
    assert x[0].item() == 0.1 and x[-1].item() == 0.9  # both ends exact: halves fill from each end
    assert lt.linspace(0, 10, 4, dtype=lt.int64).tolist() == [0, 3, 6, 10]
    np.testing.assert_allclose(lt.logspace(0, 3, 4).numpy(), [1, 10, 100, 1000], rtol=1e-6)


EYE = [lambda m: m.eye(3), lambda m: m.eye(2, 3), lambda m: m.eye(3, 2), lambda m: m.eye(0), lambda m: m.eye(1),
       lambda m: m.eye(3, dtype=m.int64), lambda m: m.eye(2, dtype=m.bool), lambda m: m.eye(-1),
       lambda m: m.eye(2, -1), lambda m: m.eye(2.5), lambda m: m.eye(2, m=4), lambda m: m.eye(0, 3),
       lambda m: m.eye(3, requires_grad=True), lambda m: m.eye(2, dtype=m.float16), lambda m: m.eye(4, 0)]


@pytest.mark.parametrize("case", range(len(EYE)))
def test_eye(case):
    check(EYE[case])


def test_eye_values():
    for n, m in ((3, None), (2, 5), (5, 2), (0, 0)):
        np.testing.assert_array_equal(lt.eye(n, m).numpy(), np.eye(n, m, dtype=np.float32))


# ---- devices in factories ----

@pytest.mark.parametrize("factory", [lambda d: lt.zeros(2, device=d), lambda d: lt.tensor([1], device=d),
                                     lambda d: lt.arange(3, device=d), lambda d: lt.full((1,), 2, device=d),
                                     lambda d: lt.eye(2, device=d), lambda d: lt.linspace(0, 1, 2, device=d)])
def test_factories_take_a_device(factory):
    for d in ("cpu", lt.device("cpu"), None, "cpu:0"):
        assert factory(d).device == lt.device("cpu")
    for d in ("cuda", "cuda:0", lt.device("cuda", 1)):
        with pytest.raises(RuntimeError, match="CUDA"):
            factory(d)
    with pytest.raises(RuntimeError):
        factory("tpu")


def test_pinned_memory_flag_is_accepted():
    assert lt.tensor([1.0], pin_memory=False).tolist() == [1.0]
    assert math.isclose(lt.tensor(0.1).item(), 0.1, rel_tol=1e-7)
