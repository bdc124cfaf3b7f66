"""Tests for runtime/llvm/matmul.py and matmul_plan.py: the packed, register-tiled product kernel
against numpy (and PyTorch where installed), whatever the position of the reduced axis."""
from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from lt_testing import leaf, torch

import lazytensor as lt
from lazytensor import config
from lazytensor.compiler import dtypes as dt
from lazytensor.compiler.ops import Op, make
from lazytensor.compiler.passes import run_pipeline
from lazytensor.runtime import numpy_backend
from lazytensor.runtime.llvm import backend as llvm_backend
from lazytensor.runtime.llvm import matmul_plan, threads
from lazytensor.runtime.llvm.renderer import Renderer, render

DTYPES = (np.float32, np.float64, np.int32, np.int64)


pytestmark = pytest.mark.usefixtures("llvm_private_cache")


def rand(shape, dtype, rng):
    return (rng.standard_normal(shape) * 5).astype(dtype)


def check(got, want):
    if np.issubdtype(want.dtype, np.integer):
        np.testing.assert_array_equal(got, want)
    else:
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4)


def product_node(a, b):
    """SUM(MUL(EXPAND a, EXPAND b)) over the last axis, as lazytensor/linalg.py builds it."""
    m, k = a.shape
    n = b.shape[1]
    x = make(Op.EXPAND, (leaf(a.reshape(m, 1, k)),), (m, n, k))
    y = make(Op.EXPAND, (make(Op.PERMUTE, (leaf(b),), (1, 0)),), (n, k))
    y = make(Op.EXPAND, (make(Op.RESHAPE, (y,), (1, n, k)),), (m, n, k))
    return make(Op.SUM, (make(Op.MUL, (x, y)),), (2,))


def kernel_of(out):
    (k,) = [k for k in run_pipeline([out], "fuse").kernels if k.reductions()]
    return k


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("m,k,n", [(1, 7, 7), (7, 7, 7), (33, 1, 129), (129, 33, 7), (7, 129, 33)])
def test_odd_sizes_every_dtype(dtype, m, k, n):
    rng = np.random.default_rng(m * 1000 + k * 10 + n)
    a, b = rand((m, k), dtype, rng), rand((k, n), dtype, rng)
    check((lt.from_numpy(a) @ lt.from_numpy(b)).numpy(), a @ b)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_batched_broadcast_and_transposed_operands(dtype):
    rng = np.random.default_rng(3)
    a, b = rand((3, 33, 17), dtype, rng), rand((3, 17, 40), dtype, rng)
    check((lt.from_numpy(a) @ lt.from_numpy(b)).numpy(), a @ b)
    w = rand((17, 8), dtype, rng)  # broadcast over the batch
    check((lt.from_numpy(a) @ lt.from_numpy(w)).numpy(), a @ w)
    x, v = rand((9, 20), dtype, rng), rand((40, 20), dtype, rng)
    lx, lv = lt.from_numpy(x), lt.from_numpy(v)
    check((lx[:, 2:11] @ lv[3:, 2:11].t()).numpy(), x[:, 2:11] @ v[3:, 2:11].T)
    check((lv.t()[::2].t() @ lx.t()[::2]).numpy(), v[:, ::2] @ x.T[::2])


def test_linear_relu_and_the_kernel_path():
    rng = np.random.default_rng(4)
    x, w, bias = rand((50, 30), np.float32, rng), rand((70, 30), np.float32, rng), rand(70, np.float32, rng)
    got = (lt.from_numpy(x) @ lt.from_numpy(w).t() + lt.from_numpy(bias)).relu().numpy()
    check(got, np.maximum(x @ w.T + bias, 0))


@pytest.mark.parametrize("dtype", [np.float32, np.int64], ids=["float32", "int64"])
def test_fused_epilogue_and_cast(dtype):
    """Elementwise consumers in the product's kernel run on each finished tile."""
    rng = np.random.default_rng(5)
    a, b = rand((13, 9), dtype, rng), rand((9, 35), dtype, rng)
    s = product_node(a, b)
    c = leaf(rand((13, 35, 1), dtype, rng))
    out = make(Op.CAST, (make(Op.MAX, (make(Op.ADD, (s, c)), make(Op.MUL, (s, s)))),), dt.float64)
    k = kernel_of(out)
    assert matmul_plan.plan(k, Renderer(k, "t").split_axis()) is not None
    assert "@malloc" in render(k, "k_t").ir
    got, = llvm_backend.run([out])
    want, = numpy_backend.run([out])
    np.testing.assert_allclose(got, want, rtol=1e-5)


def test_plan_declines_what_it_does_not_handle():
    rng = np.random.default_rng(6)
    for a, b in ((rand((5, 4), np.float32, rng), rand((4, 1), np.float32, rng)),  # matrix-vector
                 (rand((5, 4), np.int16, rng), rand((4, 6), np.int16, rng))):  # unsupported dtype
        out = product_node(a, b)
        k = kernel_of(out)
        assert matmul_plan.plan(k, Renderer(k, "t").split_axis()) is None
        check(llvm_backend.run([out])[0], numpy_backend.run([out])[0])
    # a SUM of a MUL whose factors both vary along m and n is no product
    x = leaf(rand((4, 5, 3), np.float32, rng))
    s = make(Op.SUM, (make(Op.MUL, (x, x)),), (2,))
    k = kernel_of(s)
    assert matmul_plan.plan(k, Renderer(k, "t").split_axis()) is None


# ---- products reduced over any axis (the weight gradient g.T @ x of backward reduces the first) ----

def planned(t: lt.Tensor):
    """The matmul plans of the reducing kernels that compute `t` (None where one is not planned)."""
    kernels = run_pipeline([t.node], "simplify,fuse,schedule").kernels
    return [matmul_plan.plan(k, Renderer(k, "t").split_axis()) for k in kernels if k.reductions()]


def roles_product(order: str, m: int, n: int, k: int, dtype, rng, batch: tuple = ()):
    """(the product as lazytensor builds it from broadcasting, numpy's) where the iteration axes
    after `batch` are the letters of `order` (a permutation of "mnk"): one factor varies along m
    and k, the other along n and k, and the SUM runs over the k axis."""
    sizes = {"m": m, "n": n, "k": k}
    a = rand(batch + tuple(sizes[c] if c != "n" else 1 for c in order), dtype, rng)
    b = rand(batch + tuple(sizes[c] if c != "m" else 1 for c in order), dtype, rng)
    axis = len(batch) + order.index("k")
    got = (lt.from_numpy(a) * lt.from_numpy(b)).sum(axis)
    return got, (a * b).sum(axis)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("order", ["kmn", "mkn", "mnk", "knm"])
@pytest.mark.parametrize("m,n,k", [(7, 7, 7), (33, 129, 1), (13, 40, 65), (1, 70, 9), (64, 100, 3)])
def test_reduced_axis_anywhere(dtype, order, m, n, k):
    rng = np.random.default_rng(m * 10000 + n * 100 + k)
    got, want = roles_product(order, m, n, k, dtype, rng)
    # int32.sum() is int64 (PyTorch): a SUM of a CAST, no product; with m = 1 after n it is a
    # matrix-vector product (see matmul_plan._roles)
    if dtype is not np.int32 and (m > 1 or order.index("m") < order.index("n")):
        (p,) = planned(got)
        assert p is not None and p.k_axis == order.index("k")
    check(got.numpy(), want)


def test_roles_pick_the_output_innermost_axis_as_n():
    rng = np.random.default_rng(7)
    cases = {"kmn": (1, 2), "mkn": (0, 2), "mnk": (0, 1), "knm": (1, 2)}
    for order, (m_axis, n_axis) in cases.items():
        got, _ = roles_product(order, 9, 20, 5, np.float32, rng)
        (p,) = planned(got)
        assert (p.m_axis, p.n_axis) == (m_axis, n_axis), order


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64], ids=lambda d: np.dtype(d).name)
def test_batched_with_the_reduced_axis_first_or_middle(dtype):
    rng = np.random.default_rng(8)
    for order in ("kmn", "mkn", "mnk"):
        got, want = roles_product(order, 19, 37, 11, dtype, rng, batch=(3,))
        (p,) = planned(got)
        assert p is not None
        check(got.numpy(), want)
    # a factor broadcast over the batch (a weight shared by every sample)
    g, x = rand((4, 23, 9), dtype, rng), rand((23, 17), dtype, rng)
    got = (lt.from_numpy(g)[:, :, :, None] * lt.from_numpy(x)[None, :, None, :]).sum(1)
    (p,) = planned(got)
    assert p is not None and p.k_axis == 1
    check(got.numpy(), np.einsum("bkm,kn->bmn", g, x))


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64], ids=lambda d: np.dtype(d).name)
def test_transposed_and_sliced_views_reduced_first(dtype):
    """g.T @ x written as a reduction over the first axis, with the factors strided views."""
    rng = np.random.default_rng(9)
    g, x = rand((40, 30), dtype, rng), rand((50, 45), dtype, rng)
    lg, lx = lt.from_numpy(g), lt.from_numpy(x)
    a, b = lg[::2, 3:29], lx[5:25, ::3]  # (20, 26) and (20, 15): k = 20 rows, strided
    got = (a[:, :, None] * b[:, None, :]).sum(0)
    (p,) = planned(got)
    assert p is not None and p.k_axis == 0
    check(got.numpy(), g[::2, 3:29].T @ x[5:25, ::3])
    got = (lx.t()[:, None, :15] * lg.t()[None, :26, :15]).sum(2)  # both transposed, k last
    check(got.numpy(), x.T[:, :15] @ g.T[:26, :15].T)


@pytest.mark.parametrize("dtype", [np.float32, np.int64], ids=["float32", "int64"])
def test_epilogue_of_a_product_reduced_first(dtype):
    """bias, relu-like max and a cast run on each finished tile of a reduce-first product."""
    rng = np.random.default_rng(10)
    g, x = rand((21, 13), dtype, rng), rand((21, 35), dtype, rng)
    s = make(Op.SUM, (make(Op.MUL, (make(Op.EXPAND, (leaf(g.reshape(21, 13, 1)),), (21, 13, 35)),
                                   make(Op.EXPAND, (leaf(x.reshape(21, 1, 35)),), (21, 13, 35)))),), (0,))
    bias = leaf(rand((1, 1, 35), dtype, rng))
    out = make(Op.CAST, (make(Op.MAX, (make(Op.ADD, (s, make(Op.EXPAND, (bias,), (1, 13, 35)))),
                                       make(Op.MUL, (s, s)))),), dt.float64)
    k = kernel_of(out)
    p = matmul_plan.plan(k, Renderer(k, "t").split_axis())
    assert p is not None and (p.m_axis, p.n_axis, p.k_axis) == (1, 2, 0)
    got, = llvm_backend.run([out])
    want, = numpy_backend.run([out])
    np.testing.assert_allclose(got, want, rtol=1e-5)


def test_sgd_update_as_the_epilogue():
    """w - lr * (g.T @ x) in one kernel: the update runs on the weight gradient's tiles. (With the
    reduced axis kept: the fuse pass joins a reduction's elementwise consumers, not a RESHAPE.)"""
    rng = np.random.default_rng(11)
    g, x = rand((64, 24), np.float32, rng), rand((64, 70), np.float32, rng)
    w = rand((1, 24, 70), np.float32, rng)
    lg, lx = lt.from_numpy(g), lt.from_numpy(x)
    got = lt.from_numpy(w) - 0.05 * (lg[:, :, None] * lx[:, None, :]).sum(0, keepdim=True)
    kernels = run_pipeline([got.node], "simplify,fuse,schedule").kernels
    assert len(kernels) == 1
    (p,) = planned(got)
    assert p is not None and p.k_axis == 0
    check(got.numpy(), w - 0.05 * (g.T @ x))


@pytest.mark.parametrize("compiled_for", [1, 2, 8])
def test_any_number_of_threads(monkeypatch, compiled_for):
    """However the runtime slices the split (m) axis, every output element is written once, with
    the kernel compiled for `compiled_for` threads (which decides whether a slice of m stands
    for a slice of the columns instead: matmul.render) and run on another number."""
    monkeypatch.setattr(llvm_backend, "_cache", {})  # compile afresh under this thread count
    monkeypatch.setattr(threads, "MIN_PARALLEL_WORK", 0)
    rng = np.random.default_rng(compiled_for)
    cases = [roles_product(order, m, n, 9, np.float32, rng)
             for order in ("mnk", "kmn") for m, n in ((64, 200), (64, 20), (5, 300), (37, 130))]
    for parts in (compiled_for, 1, 2, 3, 5, 8):
        monkeypatch.setattr(threads, "workers", lambda: parts)
        for got, want in cases:
            check(llvm_backend.run([got.node])[0].reshape(want.shape), want)


def test_a_is_packed_only_where_it_does_not_run_along_k():
    rng = np.random.default_rng(16)
    x, w = rand((20, 30), np.float32, rng), rand((40, 30), np.float32, rng)
    g = rand((20, 40), np.float32, rng)
    lx, lw, lg = lt.from_numpy(x), lt.from_numpy(w), lt.from_numpy(g)
    (p,) = planned(lx @ lw.t())  # x runs along k: read in place
    assert not p.pack_a
    (p,) = planned((lg[:, :, None] * lx[:, None, :]).sum(0))  # g.T @ x: g's next k is a row away
    assert p.pack_a and p.k_axis == 0
    (p,) = planned(lx[:, ::2] @ lw.t()[::2])  # a strided k: packed
    assert p.pack_a
    check((lx[:, ::2] @ lw.t()[::2]).numpy(), x[:, ::2] @ w.T[::2])


def test_threads_split_columns_where_rows_would_each_pack_all_of_b():
    vl = 16
    choose = lambda m, n, k, workers: matmul_plan.slice_columns(m, n, k, 2 * vl, vl, 4, workers)  # noqa: E731
    assert choose(64, 512, 784, 2) and choose(64, 512, 784, 16)  # x @ w.T of a small batch
    assert choose(10, 512, 64, 2)  # a weight gradient with few rows
    assert not choose(64, 512, 784, 1)  # one thread: nothing to split
    assert not choose(64, 10, 512, 2)  # one micro-panel of columns
    assert not choose(1024, 1024, 1024, 2)  # a (4 MB) would be streamed by every thread


def test_declines_a_reduction_over_two_axes_and_a_matrix_vector_product_reduced_first():
    rng = np.random.default_rng(12)
    a, b = rand((6, 5, 1, 4), np.float32, rng), rand((6, 1, 7, 4), np.float32, rng)
    got = (lt.from_numpy(a) * lt.from_numpy(b)).sum((0, 3))
    assert planned(got) == [None]
    check(got.numpy(), (a * b).sum((0, 3)))
    x, v = rand((9, 30), np.float32, rng), rand((9, 1), np.float32, rng)  # x.T @ v: (30, 1)
    got = (lt.from_numpy(x) * lt.from_numpy(v)).sum(0)
    check(got.numpy(), (x * v).sum(0))


@settings(max_examples=25, deadline=None)
@given(order=st.sampled_from(["".join(o) for o in itertools.permutations("mnk")]),
       m=st.integers(1, 20), n=st.integers(2, 40), k=st.integers(1, 20),
       batch=st.sampled_from([(), (2,), (1, 3)]),
       dtype=st.sampled_from([np.float32, np.float64, np.int32]), seed=st.integers(0, 2 ** 16))
def test_products_in_any_layout_match_numpy(order, m, n, k, batch, dtype, seed):
    got, want = roles_product(order, m, n, k, dtype, np.random.default_rng(seed), batch=batch)
    check(got.numpy(), want)


# ---- backward: the weight gradient is a product reduced over the batch axis ----

@pytest.mark.skipif(torch is None, reason="needs torch")
def test_linear_layer_gradients_against_torch():
    rng = np.random.default_rng(13)
    x, w = rand((48, 37), np.float32, rng), rand((29, 37), np.float32, rng)
    bias = rand(29, np.float32, rng)
    up = rand((48, 29), np.float32, rng)
    lx, lw, lb = (lt.from_numpy(v.copy()).requires_grad_() for v in (x, w, bias))
    (lt.nn.functional.linear(lx, lw, lb).relu() * lt.from_numpy(up)).sum().backward()
    tx, tw, tb = (torch.from_numpy(v.copy()).requires_grad_() for v in (x, w, bias))
    (torch.nn.functional.linear(tx, tw, tb).relu() * torch.from_numpy(up)).sum().backward()
    for ours, theirs in ((lw, tw), (lx, tx), (lb, tb)):
        np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-4, atol=1e-4)


def test_the_weight_gradient_runs_as_a_planned_product():
    rng = np.random.default_rng(14)
    x, w = lt.from_numpy(rand((64, 50), np.float32, rng)), lt.from_numpy(rand((30, 50), np.float32, rng))
    w.requires_grad_()
    (x @ w.t()).relu().sum().backward()
    kernels = run_pipeline([w.grad.node], "simplify,fuse,schedule").kernels
    products = [k for k in kernels if k.reductions() and k.shape == (64, 30, 50)]
    assert products and all(matmul_plan.plan(k, Renderer(k, "t").split_axis()) is not None for k in products)


def mlp_losses(backend: str, steps: int) -> tuple[list, list]:
    """Losses of `steps` SGD steps (momentum) of a 2-layer MLP, and the final parameters."""
    config.set(BACKEND=backend)
    lt.manual_seed(0)
    model = lt.nn.Sequential(lt.nn.Linear(40, 70), lt.nn.ReLU(), lt.nn.Linear(70, 10))
    opt = lt.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    rng = np.random.default_rng(15)
    x = lt.from_numpy(rng.standard_normal((33, 40)).astype(np.float32))
    y = lt.from_numpy(rng.integers(0, 10, 33))
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = lt.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses, [p.detach().numpy().copy() for p in model.parameters()]


def test_training_trajectory_equals_the_numpy_oracle():
    ours, ours_params = mlp_losses("llvm", 8)
    oracle, oracle_params = mlp_losses("numpy", 8)
    np.testing.assert_allclose(ours, oracle, rtol=1e-4, atol=1e-6)
    assert ours[-1] < ours[0]
    for a, b in zip(ours_params, oracle_params):
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-5)
