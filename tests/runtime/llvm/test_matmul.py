"""Tests for runtime/llvm/matmul.py: the packed, register-tiled product kernel against numpy."""
from __future__ import annotations

import numpy as np
import pytest

import lazytensor as lt
from lazytensor import config
from lazytensor.compiler import dtypes as dt
from lazytensor.compiler.ir import Buffer
from lazytensor.compiler.ops import Op, make
from lazytensor.compiler.passes import run_pipeline
from lazytensor.runtime import numpy_backend
from lazytensor.runtime.llvm import backend as llvm_backend
from lazytensor.runtime.llvm import matmul
from lazytensor.runtime.llvm.renderer import Renderer, render

DTYPES = (np.float32, np.float64, np.int32, np.int64)


@pytest.fixture(autouse=True)
def _llvm_with_private_cache(tmp_path_factory):
    """Run on the llvm backend with a temporary kernel cache."""
    old = config.get("BACKEND")
    config.set(CACHE_DIR=str(tmp_path_factory.mktemp("kernels")), BACKEND="llvm")
    yield
    config.set(BACKEND=old)


def rand(shape, dtype, rng):
    return (rng.standard_normal(shape) * 5).astype(dtype)


def check(got, want):
    if np.issubdtype(want.dtype, np.integer):
        np.testing.assert_array_equal(got, want)
    else:
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4)


def leaf(a):
    n = make(Op.BUFFER, arg=Buffer(dt.dtype_from_numpy(a.dtype), a.size, data=a.reshape(-1).copy()))
    return n if n.shape == a.shape else make(Op.RESHAPE, (n,), a.shape)


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
    assert matmul.plan(k, Renderer(k, "t").split_axis()) is not None
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
        assert matmul.plan(k, Renderer(k, "t").split_axis()) is None
        check(llvm_backend.run([out])[0], numpy_backend.run([out])[0])
    # a SUM of a MUL whose factors both vary along m and n is no product
    x = leaf(rand((4, 5, 3), np.float32, rng))
    s = make(Op.SUM, (make(Op.MUL, (x, x)),), (2,))
    k = kernel_of(s)
    assert matmul.plan(k, Renderer(k, "t").split_axis()) is None
