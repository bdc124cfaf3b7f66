"""Tests for reductions whose elementwise consumers sit behind a RESHAPE that drops (or adds)
size-1 axes (`x.sum(1) * 2`, `mean`, `relu(x @ W.T + b)`): the fuse pass puts them in the
reduction's kernel, and every renderer path stores the output under its own shape: the generic
loop nest (main, and a full reduction's part/fin functions), column-wise reductions
(columns.py) and the matrix product's epilogue (matmul.py). Results agree with the numpy
oracle, and gradients with PyTorch."""
from __future__ import annotations

import numpy as np
import pytest
from lt_testing import torch

import lazytensor as lt
from lazytensor.compiler.passes import run_pipeline
from lazytensor.runtime import numpy_backend
from lazytensor.runtime.llvm import backend as llvm_backend
from lazytensor.runtime.llvm import columns, matmul_plan, threads
from lazytensor.runtime.llvm.renderer import Renderer, render


pytestmark = pytest.mark.usefixtures("llvm_private_cache")


def rand(shape, dtype, rng, scale=5):
    if np.issubdtype(dtype, np.integer):
        return rng.integers(-9, 10, shape).astype(dtype)
    return (rng.standard_normal(shape) * scale).astype(dtype)


def one_kernel(y: lt.Tensor):
    """The single kernel the fuse pass makes of `y` (asserting there is one)."""
    kernels = run_pipeline([y.node], "fuse").kernels
    assert len(kernels) == 1, [k.name for k in kernels]
    (k,) = kernels
    assert len(k.reductions()) == 1 and k.outputs[0].size == y.numel()
    return k


def agree(y: lt.Tensor, rtol=1e-5, atol=1e-4):
    """y computed by the llvm backend equals the numpy oracle's."""
    (got,), (want,) = llvm_backend.run([y.node]), numpy_backend.run([y.node])
    assert got.shape == want.shape == y.shape and got.dtype == want.dtype
    if np.issubdtype(want.dtype, np.integer):
        np.testing.assert_array_equal(got, want)
    else:
        np.testing.assert_allclose(got, want, rtol=rtol, atol=atol)


def is_product(k) -> bool:
    return matmul_plan.plan(k, Renderer(k, "t").split_axis()) is not None


# ---- matrix products: bias, activation and scale in the product's epilogue ----

@pytest.mark.parametrize("m,k,n", [(1, 7, 9), (7, 7, 7), (13, 9, 35), (50, 30, 70),
                                   (33, 1, 129), (7, 129, 33)])
def test_linear_bias_relu_scale_at_sizes_off_the_tile(m, k, n):
    rng = np.random.default_rng(m * 1000 + k * 10 + n)
    x, w, b = (lt.from_numpy(rand(s, np.float32, rng)) for s in ((m, k), (n, k), (n,)))
    for y in ((x @ w.t() + b).relu(), (x @ w.t()) * 0.25 - 1, ((x @ w.t() + b) * 2).sigmoid()):
        kern = one_kernel(y)
        assert is_product(kern)
        agree(y)


@pytest.mark.parametrize("dtype", [np.float64, np.int32, np.int64],
                         ids=lambda d: np.dtype(d).name)
def test_float64_and_integer_products_with_an_epilogue(dtype):
    rng = np.random.default_rng(2)
    a, w, b = (lt.from_numpy(rand(s, dtype, rng)) for s in ((19, 23), (23, 37), (37,)))
    y = (a @ w + b) * 3
    y = y.relu() if np.issubdtype(dtype, np.floating) else y.clamp(min=0)
    assert is_product(one_kernel(y))
    agree(y)
    np.testing.assert_allclose(y.numpy(), np.maximum((a.numpy() @ w.numpy() + b.numpy()) * 3, 0),
                               rtol=1e-12)


def test_batched_product_with_bias_and_relu():
    rng = np.random.default_rng(3)
    a, w = rand((3, 33, 17), np.float32, rng), rand((3, 17, 40), np.float32, rng)
    b = rand(40, np.float32, rng)
    y = (lt.from_numpy(a) @ lt.from_numpy(w) + lt.from_numpy(b)).relu()
    assert is_product(one_kernel(y))
    agree(y)
    np.testing.assert_allclose(y.numpy(), np.maximum(a @ w + b, 0), rtol=1e-5, atol=1e-4)
    # broadcast weight, transposed view of the input
    v = rand((9, 33), np.float32, rng)
    y = (lt.from_numpy(a).transpose(1, 2) @ lt.from_numpy(v).t() * 0.5).exp()
    assert is_product(one_kernel(y))
    agree(y, rtol=1e-4)


def test_matrix_vector_product_takes_the_generic_path_with_its_epilogue():
    rng = np.random.default_rng(4)
    a, v = rand((21, 13), np.float32, rng), rand(13, np.float32, rng)
    y = (lt.from_numpy(a) @ lt.from_numpy(v)).tanh() + 1
    assert not is_product(one_kernel(y))
    agree(y)


@pytest.mark.parametrize("split", [False, True])
def test_threads_splitting_rows_or_columns_store_the_epilogue(monkeypatch, split):
    if split:
        monkeypatch.setattr(threads, "MIN_PARALLEL_WORK", 0)
        monkeypatch.setattr(threads, "workers", lambda: 3)
    rng = np.random.default_rng(5)
    x, w, b = (lt.from_numpy(rand(s, np.float32, rng)) for s in ((40, 31), (50, 31), (50,)))
    y = (x @ w.t() + b).relu()
    assert is_product(one_kernel(y))
    agree(y)


# ---- generic reductions: rows, full reductions split in parts ----

@pytest.mark.parametrize("shape,dims", [((64, 300), 1), ((3, 9, 7), (1, 2)), ((5, 1, 6), 2),
                                        ((1, 40), 1), ((4, 0), 1)])
def test_row_reductions_without_keepdim_then_arithmetic(shape, dims):
    rng = np.random.default_rng(6)
    x = lt.from_numpy(rand(shape, np.float32, rng))
    ys = [x.sum(dims) * 2 + 1, x.mean(dims).exp()]
    if x.numel():  # amax of nothing is an error
        ys.append(x.amax(dims) - 3)
    for y in ys:
        one_kernel(y)
        agree(y)


@pytest.mark.parametrize("parts", [1, 2, 3])
def test_full_reduction_in_parts_with_its_epilogue(monkeypatch, parts):
    monkeypatch.setattr(threads, "workers", lambda: parts)
    rng = np.random.default_rng(7)
    x = lt.from_numpy(rng.uniform(0.5, 1.5, 1 << 17).astype(np.float32))
    for y in (x.sum() * 2 + 1, x.mean(), (x * x).sum().sqrt(), x.reshape(256, 512).mean()):
        k = one_kernel(y)
        assert y.shape == () and render(k, "k").partial is not None  # the _part/_fin functions
        agree(y, rtol=1e-6)
    d = rng.integers(-5, 6, 1 << 17)
    y = lt.from_numpy(d).sum() * 3 - 1
    one_kernel(y)
    agree(y)
    assert y.item() == d.sum() * 3 - 1


def test_reshape_adding_size_one_axes_after_a_reduction():
    rng = np.random.default_rng(8)
    x = lt.from_numpy(rand((6, 10), np.float32, rng))
    y = (x.sum(1).reshape(1, 6, 1) ** 2 + 1).sqrt()
    one_kernel(y)
    agree(y)
    z = x.sum(0).unsqueeze(0).unsqueeze(2) * 0.5  # a column reduction, axes added
    assert columns.applies(one_kernel(z))
    agree(z)


# ---- column-wise reductions (columns.py) ----

@pytest.mark.parametrize("split", [False, True])
@pytest.mark.parametrize("shape,dims", [((6, 5), 0), ((17, 3), 0), ((8, 2100), 0),
                                        ((3, 9, 7), (0, 1)), ((5, 4, 1, 3), (0, 2)), ((9, 1, 2), 0)])
def test_column_reductions_without_keepdim(monkeypatch, split, shape, dims):
    if split:
        monkeypatch.setattr(threads, "MIN_PARALLEL_WORK", 0)
        monkeypatch.setattr(threads, "workers", lambda: 3)
    rng = np.random.default_rng(9)
    x = lt.from_numpy(rng.uniform(0.5, 1.5, shape).astype(np.float32))
    for y in (x.mean(dims), x.sum(dims) * 2 + 1, x.amax(dims).log()):
        k = one_kernel(y)
        assert columns.applies(k) == (shape[-1] > 1)
        agree(y)


def test_column_reduction_of_integers_and_float64():
    rng = np.random.default_rng(10)
    for dtype in (np.int32, np.int64, np.float64):
        x = lt.from_numpy(rand((23, 11), dtype, rng))
        y = x.sum(0) * 3 + 2
        assert columns.applies(one_kernel(y))
        agree(y)


# ---- gradients ----

@pytest.mark.skipif(torch is None, reason="needs torch")
def test_linear_relu_gradients_against_torch():
    rng = np.random.default_rng(11)
    x, w = rand((45, 37), np.float32, rng), rand((29, 37), np.float32, rng)
    b, up = rand(29, np.float32, rng), rand((45, 29), np.float32, rng)
    lx, lw, lb = (lt.from_numpy(v.copy()).requires_grad_() for v in (x, w, b))
    y = (lt.nn.functional.linear(lx, lw, lb).relu() * 0.5 * lt.from_numpy(up)).mean(1).sum()
    y.backward()
    tx, tw, tb = (torch.from_numpy(v.copy()).requires_grad_() for v in (x, w, b))
    t = (torch.nn.functional.linear(tx, tw, tb).relu() * 0.5 * torch.from_numpy(up)).mean(1).sum()
    t.backward()
    np.testing.assert_allclose(y.item(), t.item(), rtol=1e-4)
    for ours, theirs in ((lw, tw), (lx, tx), (lb, tb)):
        np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-4, atol=1e-4)
