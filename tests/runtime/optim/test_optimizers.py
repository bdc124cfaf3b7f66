"""Optimizers: 20-step trajectories equal PyTorch's; param groups, zero_grad, state_dict, laziness."""
import copy

import numpy as np
import pytest

import lazytensor as lt
from lt_testing import torch

needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch is not installed")

CASES = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.9)),
    ("SGD", dict(lr=0.05, momentum=0.9, dampening=0.3, weight_decay=0.01)),
    ("SGD", dict(lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.1)),
    ("SGD", dict(lr=0.05, momentum=0.5, maximize=True)),
    ("Adam", dict(lr=0.01)),
    ("Adam", dict(lr=0.01, betas=(0.8, 0.99), weight_decay=0.1, amsgrad=True)),
    ("Adam", dict(lr=0.01, maximize=True, eps=1e-6)),
    ("AdamW", dict(lr=0.01)),
    ("AdamW", dict(lr=0.01, weight_decay=0.1, amsgrad=True)),
    ("RMSprop", dict(lr=0.01)),
    ("RMSprop", dict(lr=0.01, centered=True, momentum=0.9, weight_decay=0.01)),
    ("RMSprop", dict(lr=0.01, momentum=0.5, alpha=0.9, maximize=True)),
    ("Adagrad", dict(lr=0.1)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.01, weight_decay=0.05, initial_accumulator_value=0.1)),
]


def _problem(seed=0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((3, 4)).astype(np.float32), rng.standard_normal(4).astype(np.float32),
            rng.standard_normal((5, 3)).astype(np.float32), rng.standard_normal((5, 4)).astype(np.float32))


def _run_lt(name, kwargs, steps=20, groups=False):
    w0, b0, x, y = _problem()
    w, b = lt.nn.Parameter(lt.tensor(w0)), lt.nn.Parameter(lt.tensor(b0))
    params = [{"params": [w]}, {"params": [b], "lr": kwargs["lr"] / 2}] if groups else [w, b]
    opt = getattr(lt.optim, name)(params, **kwargs)
    X, Y = lt.tensor(x), lt.tensor(y)
    for _ in range(steps):
        opt.zero_grad()
        loss = ((lt.tanh(X @ w + b) - Y) ** 2).mean()
        loss.backward()
        opt.step()
    return w.detach().numpy(), b.detach().numpy(), opt


def _run_torch(name, kwargs, steps=20, groups=False):
    w0, b0, x, y = _problem()
    w, b = torch.nn.Parameter(torch.tensor(w0)), torch.nn.Parameter(torch.tensor(b0))
    params = [{"params": [w]}, {"params": [b], "lr": kwargs["lr"] / 2}] if groups else [w, b]
    opt = getattr(torch.optim, name)(params, foreach=False, **kwargs)
    X, Y = torch.tensor(x), torch.tensor(y)
    for _ in range(steps):
        opt.zero_grad()
        loss = ((torch.tanh(X @ w + b) - Y) ** 2).mean()
        loss.backward()
        opt.step()
    return w.detach().numpy(), b.detach().numpy(), opt


@needs_torch
@pytest.mark.parametrize("name,kwargs", CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CASES)])
def test_trajectory_matches_torch(name, kwargs):
    w, b, _ = _run_lt(name, kwargs)
    tw, tb, _ = _run_torch(name, kwargs)
    np.testing.assert_allclose(w, tw, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(b, tb, rtol=1e-4, atol=1e-5)


@needs_torch
@pytest.mark.parametrize("name", ["SGD", "Adam", "RMSprop"])
def test_param_groups_match_torch(name):
    kwargs = dict(lr=0.02, momentum=0.9) if name != "Adam" else dict(lr=0.02)
    w, b, _ = _run_lt(name, kwargs, groups=True)
    tw, tb, _ = _run_torch(name, kwargs, groups=True)
    np.testing.assert_allclose(w, tw, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(b, tb, rtol=1e-4, atol=1e-5)


def test_sgd_against_numpy():
    """Plain SGD on a quadratic: p <- p - lr * 2p, without torch."""
    p = lt.nn.Parameter(lt.tensor([1.0, -2.0]))
    opt = lt.optim.SGD([p], lr=0.1)
    expected = np.array([1.0, -2.0])
    for _ in range(5):
        opt.zero_grad()
        (p * p).sum().backward()
        opt.step()
        expected = expected - 0.1 * 2 * expected
    np.testing.assert_allclose(p.detach().numpy(), expected, rtol=1e-6)


def test_zero_grad():
    p = lt.nn.Parameter(lt.ones(3))
    opt = lt.optim.SGD([p], lr=0.1)
    (p * 2).sum().backward()
    opt.zero_grad(set_to_none=False)
    assert p.grad is not None and p.grad.tolist() == [0.0, 0.0, 0.0]
    (p * 2).sum().backward()
    assert p.grad.tolist() == [2.0, 2.0, 2.0]
    opt.zero_grad()
    assert p.grad is None


def test_step_is_lazy():
    """A step only builds graph nodes: nothing is computed until the parameter is observed."""
    from lazytensor import lazy
    p = lt.nn.Parameter(lt.ones(3))
    opt = lt.optim.Adam([p], lr=0.1)
    (p * p).sum().backward()
    opt.step()
    assert not lazy.is_realized(p)
    assert p.detach().numpy().shape == (3,)


@needs_torch
def test_state_dict_roundtrip_and_torch_layout():
    w, b, opt = _run_lt("Adam", dict(lr=0.01), steps=3)
    _, _, topt = _run_torch("Adam", dict(lr=0.01), steps=3)
    sd, tsd = opt.state_dict(), topt.state_dict()
    assert sorted(sd["state"]) == sorted(tsd["state"])
    assert set(sd["state"][0]) == set(tsd["state"][0])
    assert sd["param_groups"][0]["params"] == tsd["param_groups"][0]["params"]
    np.testing.assert_allclose(sd["state"][0]["exp_avg"].numpy(), tsd["state"][0]["exp_avg"].numpy(),
                               rtol=1e-4, atol=1e-6)
    assert float(sd["state"][0]["step"]) == float(tsd["state"][0]["step"]) == 3.0
    # continue from a loaded state: same as not stopping
    w0, b0, x, y = _problem()
    p1, p2 = lt.nn.Parameter(lt.tensor(w.copy())), lt.nn.Parameter(lt.tensor(b.copy()))
    opt2 = lt.optim.Adam([p1, p2], lr=0.5)
    opt2.load_state_dict(copy.deepcopy(sd))
    assert opt2.param_groups[0]["lr"] == 0.01
    assert opt2.state[p1]["exp_avg"] is not sd["state"][0]["exp_avg"]
    np.testing.assert_allclose(opt2.state[p1]["exp_avg"].numpy(), sd["state"][0]["exp_avg"].numpy())


def test_errors():
    p = lt.nn.Parameter(lt.ones(2))
    with pytest.raises(ValueError, match="empty parameter list"):
        lt.optim.SGD([], lr=0.1)
    with pytest.raises(ValueError, match="Invalid learning rate"):
        lt.optim.Adam([p], lr=-1)
    with pytest.raises(ValueError, match="Nesterov momentum requires"):
        lt.optim.SGD([p], lr=0.1, nesterov=True)
    opt = lt.optim.SGD([p], lr=0.1)
    with pytest.raises(ValueError, match="more than one parameter group"):
        opt.add_param_group({"params": [p]})


@needs_torch
def test_repr_matches_torch():
    p = lt.nn.Parameter(lt.ones(2))
    tp = torch.nn.Parameter(torch.ones(2))
    assert repr(lt.optim.SGD([p], lr=0.1, momentum=0.9)) == repr(torch.optim.SGD([tp], lr=0.1, momentum=0.9))


def test_closure():
    p = lt.nn.Parameter(lt.tensor([3.0]))
    opt = lt.optim.SGD([p], lr=0.25)

    def closure():
        opt.zero_grad()
        loss = (p * p).sum()
        loss.backward()
        return loss
    assert float(opt.step(closure)) == 9.0
    assert p.item() == pytest.approx(1.5)
