"""Tests for lazytensor.nn.functional: values and gradients against PyTorch (float64), finite
differences, and stability on large inputs."""
from __future__ import annotations

import gc

import numpy as np
import pytest

import lazytensor as lt
import lazytensor.nn.functional as F
from lazytensor import autograd
from lt_testing import torch

pytestmark = pytest.mark.skipif(torch is None, reason="PyTorch not installed")
rng = np.random.default_rng(0)


@pytest.fixture(autouse=True)
def _collect_cycles():
    """Free the reference cycles a failed expectation's traceback leaves, so that later tests that
    count live IR nodes (tests/compiler/test_text.py) see none of this file's."""
    yield
    gc.collect()


def both(fn, *arrays, ints=(), rtol=1e-6, atol=1e-8):
    """fn(F-module, *tensors) in lazytensor and torch: equal values, gradients and grad_fn names."""
    import torch.nn.functional as TF
    xs = [lt.tensor(a, requires_grad=True) for a in arrays]
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    extra_lt = [lt.tensor(i) for i in ints]
    extra_t = [torch.tensor(i) for i in ints]
    out, tout = fn(F, lt, *xs, *extra_lt), fn(TF, torch, *ts, *extra_t)
    np.testing.assert_allclose(out.detach().numpy(), tout.detach().numpy(), rtol=rtol, atol=atol)
    seed = rng.standard_normal(tuple(out.shape))
    g = autograd.grad((out * lt.tensor(seed)).sum(), xs)
    tg = torch.autograd.grad((tout * torch.tensor(seed)).sum(), ts)
    for a, b in zip(g, tg):
        assert np.isfinite(a.numpy()).all()
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=rtol, atol=atol)
    return out, tout


X = rng.uniform(-3, 3, (4, 5))
Y = rng.uniform(-3, 3, (4, 5))
PROB = rng.uniform(0.05, 0.95, (4, 5))
LABELS = rng.integers(0, 2, (4, 5)).astype(np.float64)
CLS = rng.integers(0, 5, (4,))

CASES = {
    "relu": lambda f, m, x: f.relu(x), "leaky_relu": lambda f, m, x: f.leaky_relu(x, 0.2),
    "gelu": lambda f, m, x: f.gelu(x), "gelu_tanh": lambda f, m, x: f.gelu(x, approximate="tanh"),
    "silu": lambda f, m, x: f.silu(x), "elu": lambda f, m, x: f.elu(x, alpha=0.7),
    "softplus": lambda f, m, x: f.softplus(x, beta=2.0, threshold=3.0), "sigmoid": lambda f, m, x: f.sigmoid(x),
    "tanh": lambda f, m, x: f.tanh(x), "softmax": lambda f, m, x: f.softmax(x, dim=1),
    "log_softmax": lambda f, m, x: f.log_softmax(x, dim=0), "logsigmoid": lambda f, m, x: f.logsigmoid(x),
    "normalize": lambda f, m, x: f.normalize(x, dim=1), "pad": lambda f, m, x: f.pad(x, (1, 2, 0, 1), value=0.5),
    "pad_crop": lambda f, m, x: f.pad(x, (-1, 2)), "pad_reflect": lambda f, m, x: f.pad(x[None], (2, 1), mode="reflect"),
    "pad_replicate": lambda f, m, x: f.pad(x[None], (2, 1), mode="replicate"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_activation(name):
    rtol = 1e-5 if name == "gelu" else 1e-6  # erf is a 1.2e-7-accurate fit
    both(CASES[name], X, rtol=rtol, atol=1e-6 if name == "gelu" else 1e-8)


LOSSES = {
    "mse": lambda f, m, x, y: f.mse_loss(x, y), "mse_sum": lambda f, m, x, y: f.mse_loss(x, y, reduction="sum"),
    "l1": lambda f, m, x, y: f.l1_loss(x, y, reduction="none"), "smooth_l1": lambda f, m, x, y: f.smooth_l1_loss(x, y, beta=0.5),
    "huber": lambda f, m, x, y: f.huber_loss(x, y, delta=1.5),
    "kl_div": lambda f, m, x, y: f.kl_div(f.log_softmax(x, 1), f.softmax(y, 1), reduction="batchmean"),
    "kl_div_log": lambda f, m, x, y: f.kl_div(f.log_softmax(x, 1), f.log_softmax(y, 1), reduction="sum", log_target=True),
    "bce_logits": lambda f, m, x, y: f.binary_cross_entropy_with_logits(x, m.sigmoid(y)),
    "bce_logits_weights": lambda f, m, x, y: f.binary_cross_entropy_with_logits(
        x, m.sigmoid(y), weight=m.sigmoid(y[0]).detach(), pos_weight=m.exp(y[1]).detach(), reduction="sum"),
    "bce": lambda f, m, x, y: f.binary_cross_entropy(m.sigmoid(x), m.sigmoid(y)),
    "ce_probs": lambda f, m, x, y: f.cross_entropy(x, f.softmax(y, 1), label_smoothing=0.1),
    "linear": lambda f, m, x, y: f.linear(x, y, y[0, :4]),
}


@pytest.mark.parametrize("name", list(LOSSES))
def test_loss(name):
    both(LOSSES[name], X, Y)


@pytest.mark.parametrize("kwargs", [{}, {"reduction": "sum"}, {"reduction": "none"}, {"ignore_index": 2},
                                    {"label_smoothing": 0.2}, {"weight": True}, {"weight": True, "label_smoothing": 0.1}])
def test_cross_entropy_and_nll_with_class_indices(kwargs):
    w = rng.uniform(0.5, 2, 5)

    def ce(f, m, x, target):
        kw = dict(kwargs)
        if kw.pop("weight", None):
            kw["weight"] = m.tensor(w)
        return f.cross_entropy(x, target, **kw)

    def nll(f, m, x, target):
        kw = {k: v for k, v in kwargs.items() if k != "label_smoothing"}
        if kw.pop("weight", None):
            kw["weight"] = m.tensor(w)
        return f.nll_loss(f.log_softmax(x, 1), target, **kw)
    both(ce, X, ints=(CLS,))
    both(nll, X, ints=(CLS,))


def test_stability_on_large_inputs():
    big = np.array([[-1e4, 0.0, 1e4], [500.0, -500.0, 80.0]])
    target = np.array([0, 1])
    out, tout = both(lambda f, m, x, t: f.cross_entropy(x, t), big, ints=(target,))
    assert np.isfinite(out.item())
    both(lambda f, m, x: f.binary_cross_entropy_with_logits(x, m.ones_like(x) * 0.3), big)
    both(lambda f, m, x: f.softmax(x, 1), big)
    both(lambda f, m, x: f.logsigmoid(x), big)
    both(lambda f, m, x: f.log_softmax(x, 1), big)


def test_dropout_and_one_hot():
    x = lt.ones(1000, dtype=lt.float64, requires_grad=True)
    y = F.dropout(x, p=0.25)
    kept = y.detach().numpy() != 0
    assert 0.6 < kept.mean() < 0.9
    np.testing.assert_allclose(y.detach().numpy()[kept], 1 / 0.75)
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.where(kept, 1 / 0.75, 0.0))
    assert F.dropout(x, 0.5, training=False) is x
    with pytest.raises(ValueError, match="dropout probability"):
        F.dropout(x, 1.5)
    oh = F.one_hot(lt.tensor([0, 2, 1]), 4)
    assert oh.dtype is lt.int64
    np.testing.assert_array_equal(oh.numpy(), np.eye(4, dtype=np.int64)[[0, 2, 1]])


def test_reduction_errors():
    x = lt.ones(3)
    with pytest.raises(ValueError, match="not a valid value for reduction"):
        F.mse_loss(x, x, reduction="avg")
