"""Tests for lazytensor.autograd: gradients of the Tensor API against finite differences (float64)
and PyTorch, second derivatives, grad_fn names, grad mode, accumulation and PyTorch's errors."""
from __future__ import annotations

import gc

import numpy as np
import pytest

import lazytensor as lt
from lazytensor import autograd
from lt_testing import torch

needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch not installed")
rng = np.random.default_rng(0)


@pytest.fixture(autouse=True)
def _collect_cycles():
    """Free the reference cycles a failed expectation's traceback leaves, so that later tests that
    count live IR nodes (tests/compiler/test_text.py) see none of this file's."""
    yield
    gc.collect()


def lt_grads(fn, arrays, seed=None):
    xs = [lt.tensor(a, dtype=lt.float64, requires_grad=True) for a in arrays]
    out = fn(lt, *xs)
    seed = rng.standard_normal(tuple(out.shape)) if seed is None else seed
    gs = autograd.grad((out * lt.tensor(seed)).sum(), xs, allow_unused=True, materialize_grads=True)
    return out, [g.numpy() for g in gs], seed


def finite_diff(fn, arrays, seed, eps=1e-6):
    out = []
    for k, a in enumerate(arrays):
        g = np.zeros_like(a)
        for i in np.ndindex(a.shape):
            vals = []
            for step in (eps, -eps):
                xs = [b.copy() for b in arrays]
                xs[k][i] += step
                with autograd.no_grad():
                    y = fn(lt, *[lt.tensor(b, dtype=lt.float64) for b in xs])
                vals.append(float((y.numpy() * seed).sum()))
            g[i] = (vals[0] - vals[1]) / (2 * eps)
        out.append(g)
    return out


def check(fn, *arrays, torch_check=True, rtol=1e-5, atol=1e-6):
    """fn(module, *tensors) differentiated by lazytensor equals finite differences and torch."""
    arrays = [np.asarray(a, dtype=np.float64) for a in arrays]
    out, got, seed = lt_grads(fn, arrays)
    for g, fd in zip(got, finite_diff(fn, arrays, seed)):
        np.testing.assert_allclose(g, fd, rtol=rtol, atol=atol)
    if torch is not None and torch_check:
        ts = [torch.tensor(a, requires_grad=True) for a in arrays]
        tout = fn(torch, *ts)
        tg = torch.autograd.grad((tout * torch.tensor(seed)).sum(), ts, allow_unused=True, materialize_grads=True)
        for g, t in zip(got, tg):
            np.testing.assert_allclose(g, t.numpy(), rtol=rtol, atol=atol)
        assert (type(out.grad_fn).__name__ == type(tout.grad_fn).__name__), (out.grad_fn, tout.grad_fn)


def r(*shape, lo=-2.0, hi=2.0):
    return rng.uniform(lo, hi, shape)


A, B = r(3, 4), r(3, 4)
P = r(3, 4, lo=0.5, hi=2.0)
UNARY = {
    "neg": lambda m, x: -x, "exp": lambda m, x: m.exp(x), "exp2": lambda m, x: m.exp2(x),
    "expm1": lambda m, x: m.expm1(x), "sin": lambda m, x: m.sin(x), "cos": lambda m, x: m.cos(x),
    "tan": lambda m, x: m.tan(x * 0.5), "sigmoid": lambda m, x: m.sigmoid(x), "tanh": lambda m, x: m.tanh(x),
    "sinh": lambda m, x: m.sinh(x), "cosh": lambda m, x: m.cosh(x), "relu": lambda m, x: m.relu(x),
    "abs": lambda m, x: m.abs(x), "square": lambda m, x: m.square(x), "pow2": lambda m, x: x ** 2,
    "pow3.5": lambda m, x: m.abs(x) ** 3.5, "rpow": lambda m, x: 2 ** x, "clamp": lambda m, x: m.clamp(x, -1, 1),
    "clamp_min": lambda m, x: m.clamp_min(x, 0.3), "sum": lambda m, x: x.sum(), "sum_dim": lambda m, x: x.sum(1),
    "mean": lambda m, x: x.mean(), "mean_dim": lambda m, x: x.mean(0, keepdim=True), "prod": lambda m, x: x.prod(1),
    "amax": lambda m, x: x.amax(1), "max": lambda m, x: x.max(), "max_dim": lambda m, x: x.max(1)[0],
    "min_dim": lambda m, x: x.min(0).values, "var": lambda m, x: x.var(1), "std": lambda m, x: x.std(),
    "logsumexp": lambda m, x: m.logsumexp(x, 1), "softmax": lambda m, x: m.softmax(x, 1),
    "log_softmax": lambda m, x: m.log_softmax(x, 0), "cumsum": lambda m, x: x.cumsum(1),
    "norm": lambda m, x: x.norm(), "norm_dim": lambda m, x: x.norm(dim=1),
    "reshape": lambda m, x: x.reshape(4, 3), "view": lambda m, x: x.view(2, 6), "t": lambda m, x: x.t(),
    "T": lambda m, x: x.T, "permute": lambda m, x: x.permute(1, 0), "transpose": lambda m, x: x.transpose(0, 1),
    "unsqueeze": lambda m, x: x.unsqueeze(1), "squeeze": lambda m, x: x[None].squeeze(0),
    "flatten": lambda m, x: x.flatten(), "expand": lambda m, x: x[:1].expand(5, 4),
    "getitem_int": lambda m, x: x[1], "getitem_slice": lambda m, x: x[1:, ::2], "getitem_adv": lambda m, x: x[[0, 2, 0]],
    "narrow": lambda m, x: x.narrow(1, 1, 2), "select": lambda m, x: x.select(1, 2), "clone": lambda m, x: x.clone(),
    "flip": lambda m, x: x.flip(0), "roll": lambda m, x: x.roll(1, 1), "tril": lambda m, x: x.tril(),
    "repeat": lambda m, x: x.repeat(2, 1), "split": lambda m, x: x.split(2, 1)[1], "unbind": lambda m, x: x.unbind(0)[2],
    "diagonal": lambda m, x: x.diagonal(),
    "to_float": lambda m, x: (x * 64).round() / 64 + x.float().double() * 0,
    "gather": lambda m, x: x.gather(1, m.tensor([[0, 0, 3], [1, 2, 2], [3, 3, 3]])),
    "index_select": lambda m, x: x.index_select(1, m.tensor([3, 0, 3])),
    "masked_fill": lambda m, x: x.masked_fill(x > 0.5, 0.0), "where": lambda m, x: m.where(x > 0, x, x * x),
}


@pytest.mark.parametrize("name", list(UNARY))
def test_unary_ops(name):
    check(UNARY[name], A)


POSITIVE = {"log": lambda m, x: m.log(x), "log2": lambda m, x: m.log2(x), "log10": lambda m, x: m.log10(x),
            "log1p": lambda m, x: m.log1p(x), "sqrt": lambda m, x: m.sqrt(x), "rsqrt": lambda m, x: m.rsqrt(x),
            "reciprocal": lambda m, x: m.reciprocal(x), "cumprod": lambda m, x: x.cumprod(1)}


@pytest.mark.parametrize("name", list(POSITIVE))
def test_ops_on_positive_inputs(name):
    check(POSITIVE[name], P)


BINARY = {
    "add": lambda m, x, y: x + y, "add_alpha": lambda m, x, y: m.add(x, y, alpha=2), "sub": lambda m, x, y: x - y,
    "mul": lambda m, x, y: x * y, "div": lambda m, x, y: x / (y * y + 0.5), "maximum": lambda m, x, y: m.maximum(x, y),
    "minimum": lambda m, x, y: m.minimum(x, y), "pow": lambda m, x, y: m.abs(x) ** y,
    "broadcast": lambda m, x, y: x * y[0], "lerp": lambda m, x, y: m.lerp(x, y, 0.3),
    "addcmul": lambda m, x, y: m.addcmul(x, x, y, value=0.5), "cat": lambda m, x, y: m.cat([x, y], 1),
    "stack": lambda m, x, y: m.stack([x, y]), "matmul": lambda m, x, y: x @ y.T, "mm": lambda m, x, y: x.t().mm(y),
    "dot": lambda m, x, y: m.dot(x[0], y[0]), "mv": lambda m, x, y: m.mv(x, y[0]), "outer": lambda m, x, y: m.outer(x[0], y[1]),
    "einsum": lambda m, x, y: m.einsum("ij,kj->ik", x, y), "bmm": lambda m, x, y: m.bmm(x[None], y.T[None]),
    "fmod": lambda m, x, y: m.fmod(x, y * 0 + 0.7), "self_mul": lambda m, x, y: x * x,
}


@pytest.mark.parametrize("name", list(BINARY))
def test_binary_ops(name):
    check(BINARY[name], A, B)


def test_matmul_batched_and_linear():
    check(lambda m, x, y: x.reshape(3, 2, 2) @ y[:2, :2], A, B)


# ---- second derivatives ----

SECOND = {"tanh": (lambda m, x: m.tanh(x), lambda x: -2 * np.tanh(x) * (1 - np.tanh(x) ** 2)),
          "sigmoid": (lambda m, x: m.sigmoid(x), lambda x: (s := 1 / (1 + np.exp(-x))) * (1 - s) * (1 - 2 * s)),
          "cube": (lambda m, x: x * x * x, lambda x: 6 * x)}


@pytest.mark.parametrize("name", list(SECOND))
def test_second_derivative(name):
    fn, expect = SECOND[name]
    x = lt.tensor(A, requires_grad=True)
    (g,) = autograd.grad(fn(lt, x).sum(), x, create_graph=True)
    assert g.requires_grad
    (gg,) = autograd.grad(g.sum(), x)
    np.testing.assert_allclose(gg.numpy(), expect(A), rtol=1e-9, atol=1e-12)


@needs_torch
@pytest.mark.parametrize("name", ["matmul", "softmax", "mul"])
def test_second_derivative_against_torch(name):
    fns = {"matmul": lambda m, x, y: (m.tanh(x @ y.T) ** 2).sum(), "mul": lambda m, x, y: (x * y * x).sum(),
           "softmax": lambda m, x, y: (m.softmax(x, 1) * y).sum()}
    fn = fns[name]
    xs = [lt.tensor(a, requires_grad=True) for a in (A, B)]
    ts = [torch.tensor(a, requires_grad=True) for a in (A, B)]
    g = autograd.grad(fn(lt, *xs), xs, create_graph=True)
    tg = torch.autograd.grad(fn(torch, *ts), ts, create_graph=True)
    gg = autograd.grad((g[0] * g[0]).sum() + g[1].sum(), xs, allow_unused=True, materialize_grads=True)
    tgg = torch.autograd.grad((tg[0] * tg[0]).sum() + tg[1].sum(), ts, allow_unused=True, materialize_grads=True)
    for a, b in zip(gg, tgg):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-9, atol=1e-12)


# ---- the surface ----

def test_backward_accumulates_and_is_lazy():
    w = lt.tensor([1.0, 2.0, 3.0], requires_grad=True)
    (w * w).sum().backward()
    (w * 3).sum().backward()
    assert not w.grad.requires_grad
    np.testing.assert_allclose(w.grad.numpy(), [5.0, 7.0, 9.0])
    w.grad = None
    w.sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), [1.0, 1.0, 1.0])


def test_leaf_flags_and_grad_fn():
    w = lt.randn(3, requires_grad=True)
    x = lt.randn(3)
    y = w * x
    assert w.is_leaf and x.is_leaf and not y.is_leaf
    assert y.requires_grad and not (x * 2).requires_grad and (x * 2).grad_fn is None
    assert type(y.grad_fn).__name__ == "MulBackward0"
    d = y.detach()
    assert d.grad_fn is None and not d.requires_grad and d.is_leaf
    y.retain_grad()
    (y * 2).sum().backward()
    np.testing.assert_allclose(y.grad.numpy(), [2.0, 2.0, 2.0])
    assert "grad_fn=<MulBackward0>" in repr(y)


def test_two_equal_leaves_get_their_own_gradients():
    a = lt.zeros(3, requires_grad=True)
    b = lt.zeros(3, requires_grad=True)
    (a + 2 * b).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), [1.0] * 3)
    np.testing.assert_allclose(b.grad.numpy(), [2.0] * 3)


def test_detached_value_is_a_constant():
    x = lt.tensor([1.0, 2.0], requires_grad=True)
    y = x * 3
    z = y.detach() * x + y  # straight-through style
    z.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [6.0, 9.0])


def test_flushed_intermediates_keep_the_graph():
    x = lt.tensor([1.0, 2.0], requires_grad=True)
    y = x * x
    y.realize()
    print(y)  # observing flushes
    (y * x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [3.0, 12.0])


def test_in_place_on_non_leaf_and_views():
    x = lt.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x * 2
    y.mul_(x)
    y[0] = x[1] * 10
    assert type(y.grad_fn).__name__ == "CopySlices"
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [0.0, 8.0 + 10.0, 12.0])


def test_no_grad_and_modes():
    w = lt.ones(2, requires_grad=True)
    with lt.autograd.no_grad():
        assert not lt.autograd.is_grad_enabled()
        assert not (w * 2).requires_grad
        with lt.autograd.enable_grad():
            assert (w * 2).requires_grad
        w -= 0.5  # in-place on a leaf is allowed without grad
    assert lt.autograd.is_grad_enabled()

    @lt.autograd.no_grad()
    def f(t):
        return t * 2

    @lt.autograd.no_grad
    def g(t):
        return t * 2
    assert not f(w).requires_grad and not g(w).requires_grad
    lt.autograd.set_grad_enabled(False)
    assert not lt.autograd.is_grad_enabled()
    lt.autograd.set_grad_enabled(True)
    with lt.autograd.set_grad_enabled(False):
        assert not (w * 2).requires_grad
    with lt.autograd.inference_mode():
        assert not (w * 2).requires_grad and lt.autograd.is_inference_mode_enabled()
    assert (w * 2).requires_grad
    np.testing.assert_allclose(w.detach().numpy(), [0.5, 0.5])


def test_errors():
    x = lt.ones(3)
    with pytest.raises(RuntimeError, match="element 0 of tensors does not require grad"):
        x.sum().backward()
    w = lt.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="grad can be implicitly created only for scalar outputs"):
        (w * 2).backward()
    with pytest.raises(RuntimeError, match="a leaf Variable that requires grad is being used in an in-place"):
        w.add_(1)
    with pytest.raises(RuntimeError, match="a view of a leaf Variable"):
        w[0] = 2.0
    with pytest.raises(RuntimeError, match="floating point"):
        lt.ones(3, dtype=lt.int64).requires_grad_()
    loss = (w * w).sum()
    loss.backward()
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        loss.backward()
    loss2 = (w * w).sum()
    loss2.backward(retain_graph=True)
    loss2.backward()
    np.testing.assert_allclose(w.grad.numpy(), [6.0] * 3)
    with pytest.raises(RuntimeError, match="appears to not have been used"):
        autograd.grad((w * 2).sum(), [w, lt.ones(2, requires_grad=True)])


def test_backward_with_gradient_and_inputs():
    a = lt.tensor([1.0, 2.0], requires_grad=True)
    b = lt.tensor([3.0, 4.0], requires_grad=True)
    y = a * b
    y.backward(lt.tensor([1.0, 10.0]), inputs=[a])
    np.testing.assert_allclose(a.grad.numpy(), [3.0, 40.0])
    assert b.grad is None


def test_requires_grad_and_data():
    w = lt.randn(2, 2)
    assert w.requires_grad_() is w and w.requires_grad
    with pytest.raises(RuntimeError, match="only change requires_grad flags of leaf"):
        (w * 2).requires_grad_(False)
    y = w * 2
    y.detach_()
    assert y.grad_fn is None and not y.requires_grad


@needs_torch
def test_seed_snippet_matches_torch():
    import lazytensor.nn.functional as F
    x = lt.ones(5)
    y = lt.zeros(3)
    w = lt.randn(5, 3, requires_grad=True)
    b = lt.randn(3, requires_grad=True)
    z = lt.matmul(x, w) + b
    loss = F.binary_cross_entropy_with_logits(z, y)
    loss.backward()
    tw = torch.tensor(w.detach().numpy(), requires_grad=True)
    tb = torch.tensor(b.detach().numpy(), requires_grad=True)
    tz = torch.matmul(torch.ones(5), tw) + tb
    tloss = torch.nn.functional.binary_cross_entropy_with_logits(tz, torch.zeros(3))
    tloss.backward()
    np.testing.assert_allclose(loss.item(), tloss.item(), rtol=1e-6)
    np.testing.assert_allclose(w.grad.numpy(), tw.grad.numpy(), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(b.grad.numpy(), tb.grad.numpy(), rtol=1e-5, atol=1e-7)
    assert type(loss.grad_fn).__name__ == type(tloss.grad_fn).__name__
    assert type(z.grad_fn).__name__ == type(tz.grad_fn).__name__
    with lt.autograd.no_grad():
        z2 = lt.matmul(x, w) + b
    assert not z2.requires_grad


def test_sgd_step_builds_one_graph():
    w = lt.randn(4, 3, requires_grad=True)
    x = lt.randn(8, 4)
    for _ in range(3):
        loss = ((x @ w) ** 2).mean()
        loss.backward()
        with lt.autograd.no_grad():
            w -= 0.1 * w.grad
        w.grad = None
    assert w.is_leaf and w.requires_grad
    assert np.isfinite(w.detach().numpy()).all()


def test_a_detached_operand_is_not_differentiated_even_beside_its_source():
    # x and x.detach() hold the same values; only the tracked one carries gradient (as in PyTorch)
    x = lt.tensor([1.0, 2.0, 3.0], requires_grad=True)
    (x * x.detach()).sum().backward()
    assert x.grad.tolist() == [1.0, 2.0, 3.0]
    x = lt.tensor([1.0, -2.0, 3.0], requires_grad=True)
    out = x * 2
    lt.where(x > 0, out.detach(), out).sum().backward()  # straight-through style
    assert x.grad.tolist() == [0.0, 2.0, 0.0]


def test_tensors_passed_by_keyword_are_tracked():
    w = lt.ones(2, 3, requires_grad=True)
    x = lt.full((2, 3), 2.0)
    assert lt.add(x, other=w).grad_fn.name() == "AddBackward0"
    assert lt.sum(w, dim=1, keepdim=True).grad_fn.name() == "SumBackward1"
    assert lt.sum(x, dim=1, keepdim=True).grad_fn is None  # none requires grad: the cheap path
    assert lt.where(x > 0, input=w, other=x).grad_fn.name() == "WhereBackward0"
    (lt.add(x, other=w) * lt.sum(w, dim=1, keepdim=True)).sum().backward()
    assert w.grad.tolist() == [[12.0] * 3] * 2  # d/dw of sum((x + w) * sum(w, 1)) = sum(w, 1) + sum(x + w, 1)


def test_ops_without_a_gradient_are_wrapped_for_the_user_line_only():
    import sys
    w = lt.ones(3, requires_grad=True)
    line = sys._getframe().f_lineno + 1
    m = w > 0.5
    assert m.grad_fn is None and not m.requires_grad
    assert m.node.loc == (__file__, line)
    assert lt.gt.__wrapped__ is lt.gt._autograd_original and lt.Tensor.__gt__ is lt.gt
