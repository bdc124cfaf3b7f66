"""Tests for lazytensor.device: parsing and printing devices as PyTorch does, `lt.cuda`, and the
refusal of CUDA tensors until the CUDA backend lands."""
from __future__ import annotations

import pickle

import pytest

import lazytensor as lt
from lazytensor.device import CPU, resolve
from lt_testing import torch

needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch is not installed")

GOOD = [("cpu",), ("cuda",), ("cuda:0",), ("cuda:1",), ("cpu:0",), ("cuda", 2), ("cpu", 0), ("cuda:12",)]
BAD = [("tpu",), ("cuda:-1",), ("cuda:x",), ("",), (" cpu",), ("CPU",), ("cuda:1", 2), ("cuda", -1), ("cuda:",),
       ("cpu:0:1",), (1.5,), (None,)]


@pytest.mark.parametrize("args", GOOD)
def test_device_parsing_and_printing(args):
    d = lt.device(*args)
    spec = args[0].split(":")
    assert d.type == spec[0]
    assert d.index == (int(spec[1]) if len(spec) > 1 else args[1] if len(args) > 1 else None)
    assert str(d) == (d.type if d.index is None else f"{d.type}:{d.index}")
    assert repr(d) == (f"device(type='{d.type}')" if d.index is None else f"device(type='{d.type}', index={d.index})")
    assert lt.device(d) == d and lt.device(str(d)) == d
    assert pickle.loads(pickle.dumps(d)) == d
    if torch is not None:
        t = torch.device(*args)
        assert (str(d), repr(d), d.type, d.index) == (str(t), repr(t), t.type, t.index)


@pytest.mark.parametrize("args", BAD)
def test_bad_devices_are_refused(args):
    with pytest.raises((RuntimeError, TypeError)) as ours:
        lt.device(*args)
    if torch is not None:
        with pytest.raises(Exception) as theirs:
            torch.device(*args)
        assert type(ours.value) is type(theirs.value), (ours.value, theirs.value)


def test_bare_index_means_an_accelerator_there_is_none_of():
    with pytest.raises(RuntimeError, match="Cannot access accelerator device when none is available"):
        lt.device(0)


def test_device_equality():
    assert lt.device("cpu") == lt.device("cpu") and lt.device("cuda:1") == lt.device("cuda", 1)
    assert lt.device("cpu") != lt.device("cpu:0")  # an index makes a different device, as in PyTorch
    assert lt.device("cuda:0") != lt.device("cuda")
    assert lt.device("cuda:0") != lt.device("cuda:1") and lt.device("cpu") != lt.device("cuda")
    # PyTorch never equates a device with a string (device('cpu') == 'cpu' is False): compare
    # str(device), or device.type, with strings
    assert (lt.device("cpu") == "cpu") is False and (lt.device("cpu") != "cpu") is True
    assert str(lt.device("cpu")) == "cpu" and lt.device("cuda:1").type == "cuda"
    assert (lt.device("cpu") == 3) is False and (lt.device("cpu") == "garbage") is False
    assert len({lt.device("cpu"), lt.device("cpu"), lt.device("cuda:1"), lt.device("cuda", 1)}) == 2
    if torch is not None:
        assert (torch.device("cpu") == "cpu") is (lt.device("cpu") == "cpu")
        assert (torch.device("cpu") == torch.device("cpu:0")) is (lt.device("cpu") == lt.device("cpu:0"))


def test_cuda_namespace():
    assert lt.cuda.is_available() is False
    assert lt.cuda.device_count() == 0


def test_tensors_live_on_the_cpu():
    x = lt.zeros(2)
    assert x.device == lt.device("cpu") and x.device == CPU and str(x.device) == "cpu"
    assert x.device.type == "cpu" and x.is_cuda is False
    assert x.cpu() is x and x.to("cpu") is x and x.to(lt.device("cpu")) is x
    assert (x + 1).device == CPU and lt.tensor([[1]]).T.device == CPU


@pytest.mark.parametrize("spec", ["cuda", "cuda:0", "cuda:1", lt.device("cuda", 3), 0])
def test_cuda_tensors_are_refused_clearly(spec):
    with pytest.raises(RuntimeError, match="no CUDA backend yet"):
        resolve(spec)
    with pytest.raises(RuntimeError, match="CUDA"):
        lt.zeros(2, device=spec)
    with pytest.raises(RuntimeError, match="CUDA"):
        lt.tensor([1.0], device=spec)
    with pytest.raises(RuntimeError, match="CUDA"):
        lt.ones(2).to(spec)
    with pytest.raises(RuntimeError, match="CUDA"):
        lt.ones(2).cuda()


def test_resolve():
    assert resolve(None) is CPU and resolve("cpu") is CPU and resolve(lt.device("cpu")) is CPU
    assert resolve("cpu:0") is CPU
    with pytest.raises(RuntimeError, match="does not exist"):
        resolve("cpu:1")
    with pytest.raises(TypeError):
        resolve(1.5)
    with pytest.raises(RuntimeError):
        resolve("meta")
