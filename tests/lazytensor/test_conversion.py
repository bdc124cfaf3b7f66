"""Tests for lazytensor.conversion and the observation protocols: `to`, the dtype casting methods,
`type`, `item`, `tolist`, int()/float()/bool(), `numpy()` and `np.asarray`.

Casts run over every pair of dtypes against PyTorch (when installed) on values where the result
is defined (nan and out-of-range floats to integers are left out), and against numpy.
"""
from __future__ import annotations

import itertools
import math
import operator

import ml_dtypes
import numpy as np
import pytest

import lazytensor as lt
from lt_testing import assert_close, to_torch, torch

needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch is not installed")

NAMES = ["bool", "uint8", "int8", "int16", "int32", "int64", "float16", "bfloat16", "float32", "float64"]
METHODS = {"float": "float32", "double": "float64", "half": "float16", "bfloat16": "bfloat16", "long": "int64",
           "int": "int32", "short": "int16", "char": "int8", "byte": "uint8", "bool": "bool"}
LEGACY = {"float32": "FloatTensor", "float64": "DoubleTensor", "float16": "HalfTensor", "bfloat16": "BFloat16Tensor",
          "int64": "LongTensor", "int32": "IntTensor", "int16": "ShortTensor", "int8": "CharTensor",
          "uint8": "ByteTensor", "bool": "BoolTensor"}


def source_values(name: str) -> np.ndarray:
    """Values of dtype `name` whose conversion to every other dtype is defined: small magnitudes,
    fractions of both signs (floats truncate toward zero), zeros of both signs, and for floats
    inf and nan (which only floats and bool receive)."""
    if name == "bool":
        return np.array([True, False, True])
    if name == "uint8":
        return np.array([0, 1, 7, 100, 127], dtype=np.uint8)
    if name.startswith("int"):
        return np.array([0, 1, -1, 7, -100, 127, -128], dtype=name)
    return np.array([0.0, -0.0, 1.5, -1.5, 2.75, -2.75, 100.25, -127.5, 0.3]).astype(
        ml_dtypes.bfloat16 if name == "bfloat16" else name)


def numpy_cast(values: np.ndarray, name: str) -> np.ndarray:
    target = np.dtype(ml_dtypes.bfloat16 if name == "bfloat16" else name)
    if name == "bool":
        return values.astype(np.float64) != 0
    if target.kind in "iu" and values.dtype.kind == "f":
        return np.trunc(values.astype(np.float64)).astype(np.int64).astype(target)
    return values.astype(np.float32 if values.dtype == ml_dtypes.bfloat16 else values.dtype).astype(target)


@pytest.mark.parametrize("src, dst", list(itertools.product(NAMES, NAMES)))
def test_to_dtype(src, dst):
    a = source_values(src)
    x = lt.tensor(a)
    y = x.to(getattr(lt, dst))
    assert y.dtype.name == dst and y.shape == x.shape
    assert_close(y, numpy_cast(a, dst), rtol=0, atol=0)
    assert (y is x) == (src == dst)  # no copy when nothing changes, as in PyTorch
    if torch is not None:
        t = to_torch(a).to(getattr(torch, dst))
        assert str(t.dtype) == repr(y.dtype)
        assert_close(y, t, rtol=0, atol=0)
    # the same through the casting methods and keyword forms
    method = {v: k for k, v in METHODS.items()}[dst]
    assert_close(getattr(x, method)(), y.numpy(), rtol=0, atol=0)
    assert getattr(x, method)().dtype is y.dtype
    assert x.to(dtype=getattr(lt, dst)).dtype is y.dtype
    assert x.to("cpu", getattr(lt, dst)).dtype is y.dtype
    assert x.type(getattr(lt, dst)).dtype is y.dtype
    assert x.type(f"torch.{LEGACY[dst]}").dtype is y.dtype
    assert x.type_as(lt.ones(1, dtype=getattr(lt, dst))).dtype is y.dtype


@needs_torch
@pytest.mark.parametrize("src", NAMES)
def test_special_values_convert_like_torch(src):
    specials = {"float": [float("inf"), float("-inf"), 65504.0, 70000.0, 1e-8, -1e-8, 3.4e38, 1.00390625,
                          1.01171875, 2 ** 24 + 1.0],
                "int": [2 ** 24 + 1, 2 ** 31 - 1, -2 ** 31, 300, -300, 2 ** 53 + 1]}
    if src.startswith(("float", "bfloat")):
        with np.errstate(over="ignore"):  # 70000 and 3.4e38 are inf in float16, as in PyTorch
            a = np.array(specials["float"]).astype(ml_dtypes.bfloat16 if src == "bfloat16" else src)
        targets = ["float16", "bfloat16", "float32", "float64", "bool"]
    elif src == "int64":
        a = np.array(specials["int"], dtype=np.int64)
        targets = NAMES
    else:
        return
    x, t = lt.tensor(a), to_torch(a)
    for dst in targets:
        assert_close(x.to(getattr(lt, dst)), t.to(getattr(torch, dst)), rtol=0, atol=0)
    nan = lt.tensor([float("nan"), -0.0, 0.0], dtype=getattr(lt, src) if src != "int64" else lt.float32)
    assert nan.bool().tolist() == [True, False, False]


def test_float_to_integer_truncates_toward_zero():
    x = lt.tensor([-2.7, -1.5, -0.5, 0.5, 1.5, 2.7])
    assert x.long().tolist() == [-2, -1, 0, 0, 1, 2]
    assert x.int().tolist() == [-2, -1, 0, 0, 1, 2]
    assert lt.tensor([-1.0, -2.5, 250.7]).byte().tolist() == [255, 254, 250]  # as PyTorch on every platform
    assert lt.tensor([300, -300]).char().tolist() == [44, -44]  # integers wrap
    assert lt.tensor([70000.0]).half().item() == math.inf
    assert lt.tensor([1.00390625]).bfloat16().item() == 1.0  # ties to even
    assert lt.tensor([2 ** 24 + 1]).float().item() == 2 ** 24


def test_to_with_devices_and_tensors():
    x = lt.tensor([1.5, -2.5])
    assert x.to("cpu") is x and x.to(lt.device("cpu")) is x and x.cpu() is x
    assert x.to(None) is x
    assert x.to(lt.tensor([1], dtype=lt.int16)).dtype is lt.int16
    assert x.to(device="cpu", dtype=lt.int8).tolist() == [1, -2]
    y = x.to(lt.float32, copy=True)
    assert y is not x and y.tolist() == x.tolist()
    y.add_(1)
    assert x.tolist() == [1.5, -2.5]  # a real copy
    assert x.to(lt.float64).to(lt.float32) is not x
    for bad in ("cuda", "cuda:0", lt.device("cuda", 1)):
        with pytest.raises(RuntimeError, match="CUDA"):
            x.to(bad)
    with pytest.raises(RuntimeError, match="CUDA"):
        x.cuda()
    with pytest.raises(TypeError):
        x.to([1])
    with pytest.raises(RuntimeError):
        x.to("tpu")


def test_to_keeps_views_and_laziness():
    base = lt.arange(6.0).reshape(2, 3)
    y = base.T.to(lt.int32)
    assert y.tolist() == [[0, 3], [1, 4], [2, 5]]
    z = base.to(lt.float64)
    base.add_(1)  # z was converted before: it keeps the old values
    assert z.tolist() == [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]


@pytest.mark.parametrize("name", NAMES)
def test_type_names(name):
    x = lt.ones(2, dtype=getattr(lt, name))
    assert x.type() == f"torch.{LEGACY[name]}"
    if torch is not None:
        assert x.type() == torch.ones(2, dtype=getattr(torch, name)).type()


def test_type_conversions_and_errors():
    x = lt.tensor([1.5, -2.5])
    assert x.type(lt.float32) is x
    assert x.type("torch.LongTensor").tolist() == [1, -2]
    assert x.type("torch.DoubleTensor").dtype is lt.float64
    for bad in ("torch.float16", "torch.BadTensor", "LongTensor", "float"):
        with pytest.raises(ValueError, match="invalid type"):
            x.type(bad)
        if torch is not None:
            with pytest.raises(ValueError):
                torch.tensor([1.5]).type(bad)
    with pytest.raises(RuntimeError, match="CUDA"):
        x.type("torch.cuda.FloatTensor")


# ---- observation: item, tolist, int/float/bool, numpy ----

@pytest.mark.parametrize("name", NAMES)
def test_item_gives_python_numbers(name):
    x = lt.tensor([[7]], dtype=getattr(lt, name))
    v = x.item()
    expected_type = bool if name == "bool" else float if name.startswith(("float", "bfloat")) else int
    assert type(v) is expected_type and v == (True if name == "bool" else 7)
    assert type(x.tolist()[0][0]) is expected_type
    assert type(lt.tensor(2, dtype=getattr(lt, name)).tolist()) is expected_type
    if torch is not None:
        t = torch.tensor([[7]], dtype=getattr(torch, name))
        assert type(t.item()) is type(v) and t.item() == v


def test_item_and_tolist():
    assert lt.tensor(2.5).item() == 2.5 and lt.tensor(-3).item() == -3 and lt.tensor(True).item() is True
    assert lt.tensor(0.1).item() == float(np.float32(0.1))
    assert lt.tensor(0.1, dtype=lt.float64).item() == 0.1
    for bad, count in ((lt.tensor([1, 2]), 2), (lt.tensor([]), 0), (lt.zeros(2, 2), 4)):
        with pytest.raises(RuntimeError, match=f"a Tensor with {count} elements cannot be converted to Scalar"):
            bad.item()
    assert lt.tensor([[1, 2], [3, 4]]).tolist() == [[1, 2], [3, 4]]
    assert lt.tensor([[1, 2], [3, 4]]).T.tolist() == [[1, 3], [2, 4]]
    assert lt.tensor([[1, 2, 3]]).narrow(1, 1, 2).tolist() == [[2, 3]]
    assert lt.tensor(3).tolist() == 3 and lt.tensor([]).tolist() == [] and lt.zeros(2, 0).tolist() == [[], []]
    assert lt.tensor([True, False]).tolist() == [True, False]
    x = lt.tensor([1.0]) + 1  # pending: tolist flushes
    assert x.tolist() == [2.0]


def test_python_number_protocols():
    assert int(lt.tensor(3.7)) == 3 and int(lt.tensor(-3.7)) == -3 and int(lt.tensor([5])) == 5
    assert float(lt.tensor(3)) == 3.0 and float(lt.tensor([[2.5]])) == 2.5
    assert bool(lt.tensor(0)) is False and bool(lt.tensor([0.5])) is True and bool(lt.tensor(float("nan")))
    assert int(lt.tensor(True)) == 1 and complex(lt.tensor(2.0)) == 2 + 0j
    assert [10, 20, 30][lt.tensor(1)] == 20 and operator.index(lt.tensor(2)) == 2
    assert f"{lt.tensor(3.14159):.2f}" == "3.14" and "{:>5}".format(lt.tensor(7)) == "    7"
    assert math.floor(lt.tensor(2.5)) == 2 and math.isclose(lt.tensor(0.5), 0.5)
    with pytest.raises(RuntimeError, match="Boolean value of Tensor with more than one value is ambiguous"):
        bool(lt.tensor([1, 2]))
    with pytest.raises(RuntimeError, match="Boolean value of Tensor with no values is ambiguous"):
        bool(lt.tensor([]))
    with pytest.raises(RuntimeError, match="ambiguous"):
        if lt.tensor([True, False]):
            pass
    for fn in (int, float):
        with pytest.raises(ValueError, match="only one element tensors can be converted to Python scalars"):
            fn(lt.tensor([5, 6]))
    for bad in (lt.tensor(2.0), lt.tensor([1, 2])):
        with pytest.raises(TypeError):
            operator.index(bad)
    with pytest.raises(TypeError):
        len(lt.tensor(1))
    assert len(lt.tensor([1, 2, 3])) == 3


@needs_torch
def test_python_number_protocols_match_torch():
    cases = [lambda m: int(m.tensor([5, 6])), lambda m: float(m.tensor([2.5, 1])), lambda m: bool(m.tensor([])),
             lambda m: bool(m.tensor([1, 2])), lambda m: m.tensor([1, 2]).item(), lambda m: m.tensor([]).item(),
             lambda m: operator.index(m.tensor(2.0)), lambda m: operator.index(m.tensor([1, 2])),
             lambda m: len(m.tensor(1)), lambda m: int(m.tensor(float("nan"))), lambda m: int(m.tensor(-7.9)),
             lambda m: float(m.tensor(True)), lambda m: m.tensor([1.0], requires_grad=True).numpy()]
    for case in cases:
        for module in (lt, torch):
            try:
                result = case(module)
            except Exception as e:  # noqa: BLE001
                result = e
            if module is lt:
                ours = result
        if isinstance(result, Exception):
            assert type(ours) is type(result), (ours, result)
        else:
            assert ours == result


def test_numpy_shares_storage():
    x = lt.tensor([[1.0, 2.0], [3.0, 4.0]])
    a = x.numpy()
    assert a.dtype == np.float32 and a.shape == (2, 2)
    a[0, 0] = 10.0  # writes through the array are seen by the tensor
    assert x[0, 0].item() == 10.0
    x.add_(1)  # and ours by the array
    np.testing.assert_array_equal(a, [[11.0, 3.0], [4.0, 5.0]])
    t = x.T.numpy()
    assert not t.flags.c_contiguous and t.base is not None
    np.testing.assert_array_equal(t, a.T)
    assert x.numpy().ctypes.data == a.ctypes.data
    with pytest.raises(RuntimeError, match="Can't call numpy\\(\\) on Tensor that requires grad"):
        lt.tensor([1.0], requires_grad=True).numpy()
    assert lt.tensor([1.0], requires_grad=True).detach().numpy().tolist() == [1.0]
    assert lt.tensor([1.0], requires_grad=True).numpy(force=True).tolist() == [1.0]


@pytest.mark.parametrize("name", NAMES)
def test_numpy_and_asarray_dtypes(name):
    x = lt.tensor([[1, 0], [3, 4]], dtype=getattr(lt, name))
    expected = np.dtype(ml_dtypes.bfloat16 if name == "bfloat16" else name)
    assert x.numpy().dtype == expected  # bfloat16 arrays come from ml_dtypes (PyTorch refuses them)
    assert np.asarray(x).dtype == expected
    np.testing.assert_array_equal(np.asarray(x.T).astype(np.float64), np.array([[1, 3], [0, 4]]) != 0
                                  if name == "bool" else np.array([[1, 3], [0, 4]]))
    assert np.array(x, dtype=np.float64).dtype == np.float64
    if torch is not None and name != "bfloat16":
        assert np.asarray(torch.tensor([[1, 0], [3, 4]], dtype=getattr(torch, name))).dtype == expected


def test_numpy_of_pending_and_zero_d_tensors():
    x = lt.tensor(2.0) * 3
    a = x.numpy()
    assert a.shape == () and a == 6.0
    assert np.asarray(lt.zeros(0, 3)).shape == (0, 3)
    assert np.add(lt.tensor([1.0]), 1.0).tolist() == [2.0]  # numpy ufuncs read tensors as arrays
