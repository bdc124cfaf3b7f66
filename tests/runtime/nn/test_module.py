"""Module: registration, iteration, modes, conversion, state_dict, hooks, containers, repr, copying."""
import copy
import pickle

import numpy as np
import pytest

import lazytensor as lt
from lazytensor import nn
from lt_testing import SEED_MODEL_REPR, torch

needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch is not installed")



def seed_model(lib):
    class NeuralNetwork(lib.nn.Module):
        def __init__(self):
            super().__init__()
            self.flatten = lib.nn.Flatten()
            self.linear_relu_stack = lib.nn.Sequential(
                lib.nn.Linear(28 * 28, 512), lib.nn.ReLU(), lib.nn.Linear(512, 512), lib.nn.ReLU(),
                lib.nn.Linear(512, 10))

        def forward(self, x):
            return self.linear_relu_stack(self.flatten(x))
    return NeuralNetwork()


def test_seed_model_prints_as_the_notes():
    assert repr(seed_model(lt).to("cpu")) == SEED_MODEL_REPR


@needs_torch
def test_seed_model_state_dict_and_output_match_torch():
    m, tm = seed_model(lt), seed_model(torch)
    assert list(m.state_dict()) == list(tm.state_dict())
    assert [n for n, _ in m.named_modules()] == [n for n, _ in tm.named_modules()]
    m.load_state_dict({k: lt.tensor(v.numpy()) for k, v in tm.state_dict().items()})
    x = np.random.default_rng(0).random((3, 28, 28), dtype=np.float32)
    np.testing.assert_allclose(m(lt.tensor(x)).detach().numpy(), tm(torch.tensor(x)).detach().numpy(),
                               rtol=1e-4, atol=1e-5)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 2)
        self.bn = nn.BatchNorm1d(2)
        self.register_buffer("steps", lt.zeros(1))
        self.register_buffer("scratch", lt.zeros(2), persistent=False)
        self.scale = nn.Parameter(lt.ones(1))

    def forward(self, x):
        return self.bn(self.fc(x)) * self.scale


def test_registration_and_iteration():
    m = Net()
    assert [n for n, _ in m.named_parameters()] == ["scale", "fc.weight", "fc.bias", "bn.weight", "bn.bias"]
    assert [n for n, _ in m.named_buffers()] == ["steps", "scratch", "bn.running_mean", "bn.running_var",
                                                 "bn.num_batches_tracked"]
    assert list(m.state_dict()) == ["scale", "steps", "fc.weight", "fc.bias", "bn.weight", "bn.bias",
                                    "bn.running_mean", "bn.running_var", "bn.num_batches_tracked"]
    assert [n for n, _ in m.named_children()] == ["fc", "bn"]
    assert [n for n, _ in m.named_modules()] == ["", "fc", "bn"]
    assert len(list(m.parameters())) == 5 and len(list(m.children())) == 2 and len(list(m.modules())) == 3
    assert isinstance(m.fc.weight, lt.Tensor) and m.fc.weight.requires_grad and m.fc.weight.is_leaf
    m.fc = None
    assert [n for n, _ in m.named_children()] == ["bn"]
    del m.scale
    assert "scale" not in dict(m.named_parameters())
    with pytest.raises(AttributeError, match="'Net' object has no attribute 'nope'"):
        m.nope
    with pytest.raises(TypeError, match="cannot assign 'Tensor' as parameter 'weight'"):
        m.bn.weight = lt.ones(2)
    with pytest.raises(KeyError, match="attribute 'training' already exists"):
        m.register_buffer("training", lt.ones(1))


def test_parameter_repr_copy_pickle():
    p = nn.Parameter(lt.tensor([1.0, 2.0]))
    assert repr(p) == "Parameter containing:\ntensor([1., 2.], requires_grad=True)"
    assert isinstance(p, lt.Tensor) and p.is_leaf
    assert repr(nn.Parameter(lt.ones(1), requires_grad=False)) == "Parameter containing:\ntensor([1.])"
    for q in (copy.deepcopy(p), pickle.loads(pickle.dumps(p))):
        assert type(q) is nn.Parameter and q.requires_grad and q.tolist() == [1.0, 2.0]
    m = Net()
    for m2 in (copy.deepcopy(m), pickle.loads(pickle.dumps(m))):
        assert list(m2.state_dict()) == list(m.state_dict())
        np.testing.assert_array_equal(m2.fc.weight.detach().numpy(), m.fc.weight.detach().numpy())
        assert m2.fc.weight is not m.fc.weight and type(m2.fc.weight) is nn.Parameter
        with lt.no_grad():
            m2.fc.weight.add_(1)
        assert not np.array_equal(m2.fc.weight.detach().numpy(), m.fc.weight.detach().numpy())


def test_modes_grad_and_conversion():
    m = Net()
    assert m.training and m.bn.training
    m.eval()
    assert not m.training and not m.bn.training
    m.train()
    assert m.bn.training
    m(lt.randn(4, 3)).sum().backward()
    assert m.fc.weight.grad is not None
    m.zero_grad(set_to_none=False)
    assert m.fc.weight.grad.abs().sum().item() == 0
    m.zero_grad()
    assert m.fc.weight.grad is None
    m.requires_grad_(False)
    assert not any(p.requires_grad for p in m.parameters())
    w = m.fc.weight
    m.double()
    assert m.fc.weight is w and w.dtype == lt.float64 and m.bn.running_mean.dtype == lt.float64
    assert m.bn.num_batches_tracked.dtype == lt.int64
    m.to(lt.float32)
    assert w.dtype == lt.float32
    m.half().float()
    assert m(lt.randn(4, 3)).dtype == lt.float32
    seen = []
    m.apply(lambda mod: seen.append(type(mod).__name__))
    assert seen == ["Linear", "BatchNorm1d", "Net"]
    with pytest.raises(TypeError, match="nn.Module.to only accepts floating point"):
        m.to(lt.int32)


@needs_torch
def test_load_state_dict_errors_match_torch():
    for lib in (lt, torch):
        m = lib.nn.Sequential(lib.nn.Linear(2, 2), lib.nn.ReLU(), lib.nn.Linear(2, 1))
        sd = m.state_dict()
        del sd["2.bias"]
        sd["2.extra"] = lib.ones(1)
        sd["5.weight"] = lib.ones(1)
        with pytest.raises(RuntimeError) as err:
            m.load_state_dict(sd)
        if lib is lt:
            ours = str(err.value)
        else:
            assert ours == str(err.value)
        result = m.load_state_dict(sd, strict=False)
        if lib is lt:
            ours_keys = (result.missing_keys, result.unexpected_keys)
        else:
            assert ours_keys == (result.missing_keys, result.unexpected_keys)
        sd = m.state_dict()
        sd["0.weight"] = lib.ones(3, 2)
        with pytest.raises(RuntimeError) as err:
            m.load_state_dict(sd)
        if lib is lt:
            ours_size = str(err.value)
        else:
            assert ours_size == str(err.value)
    assert repr(lt.nn.Linear(1, 1).load_state_dict(lt.nn.Linear(1, 1).state_dict())) == "<All keys matched successfully>"


def test_load_state_dict_copies_values():
    a, b = Net(), Net()
    b.load_state_dict(a.state_dict())
    for (k, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items()):
        np.testing.assert_array_equal(x.numpy(), y.numpy(), err_msg=k)
    assert b.fc.weight.requires_grad and type(b.fc.weight) is nn.Parameter


def test_forward_hooks():
    m = nn.Linear(2, 2)
    calls = []
    h1 = m.register_forward_pre_hook(lambda mod, args: (args[0] * 0,))
    h2 = m.register_forward_hook(lambda mod, args, out: calls.append(out.shape) or out + 1)
    x = lt.ones(3, 2)
    out = m(x)
    np.testing.assert_allclose(out.detach().numpy(), (m.bias.detach() + 1).expand(3, 2).numpy(), rtol=1e-6)
    assert calls == [lt.Size([3, 2])]
    h1.remove()
    h2.remove()
    np.testing.assert_allclose(m(x).detach().numpy(), (x @ m.weight.T + m.bias).detach().numpy(), rtol=1e-6)
    m.register_forward_pre_hook(lambda mod, args, kwargs: ((args[0] * 2,), kwargs), with_kwargs=True)
    np.testing.assert_allclose(m(x).detach().numpy(), (2 * x @ m.weight.T + m.bias).detach().numpy(), rtol=1e-6)


def test_containers():
    s = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    assert len(s) == 3 and isinstance(s[1], nn.ReLU) and isinstance(s[-1], nn.Linear)
    assert isinstance(s[:2], nn.Sequential) and len(s[:2]) == 2
    s.append(nn.Sigmoid())
    assert [type(x).__name__ for x in s] == ["Linear", "ReLU", "Linear", "Sigmoid"]
    assert s(lt.ones(4, 2)).shape == (4, 1)
    del s[1]
    assert list(s._modules) == ["0", "1", "2"]
    from collections import OrderedDict
    named = nn.Sequential(OrderedDict([("a", nn.Linear(1, 1)), ("b", nn.Tanh())]))
    assert [n for n, _ in named.named_children()] == ["a", "b"]
    ml = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])
    ml.append(nn.ReLU())
    assert len(ml) == 4 and len(list(ml.parameters())) == 6
    assert repr(ml) == ("ModuleList(\n  (0-2): 3 x Linear(in_features=2, out_features=2, bias=True)\n"
                        "  (3): ReLU()\n)")
    md = nn.ModuleDict({"x": nn.Linear(1, 2), "y": nn.ReLU()})
    assert list(md.keys()) == ["x", "y"] and "x" in md and len(md) == 2
    assert [n for n, _ in md.named_parameters()] == ["x.weight", "x.bias"]


@needs_torch
def test_container_reprs_match_torch():
    src = ["nn.ModuleList([nn.Linear(2, 2), nn.Linear(2, 2), nn.ReLU(), nn.Sequential(nn.Linear(1, 1))])",
           "nn.ModuleDict({'a': nn.Linear(1, 2), 'b': nn.Sequential(nn.ReLU(), nn.Dropout())})",
           "nn.Sequential()", "nn.ModuleList()"]
    for s in src:
        assert repr(eval(s, {"nn": lt.nn})) == repr(eval(s, {"nn": torch.nn}))
