"""Tests for lazytensor.linalg: matrix products against numpy and PyTorch, their errors and IR pattern."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp

import lazytensor as lt
from lazytensor.compiler.ir import toposort
from lazytensor.compiler.ops import Op
from lazytensor.compiler.verify import verify
from lt_testing import assert_close, to_torch, torch, torch_dtype

needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch is not installed")

FLOATS = [lt.float32, lt.float64, lt.float16, lt.bfloat16]
INTS = [lt.int64, lt.int32, lt.int16, lt.int8, lt.uint8]

# (shape of a, shape of b) for every branch of matmul, broadcasting and empty dims
MATMUL_SHAPES = [
    ((3,), (3,)), ((2, 3), (3,)), ((3,), (3, 4)), ((2, 3), (3, 4)),
    ((5, 2, 3), (3,)), ((3,), (5, 3, 4)), ((5, 2, 3), (3, 4)), ((2, 3), (5, 3, 4)),
    ((5, 2, 3), (5, 3, 4)), ((5, 2, 3), (1, 3, 4)), ((1, 2, 3), (5, 3, 4)), ((2, 1, 2, 3), (3, 3, 4)),
    ((4, 1, 2, 3), (1, 5, 3, 2)), ((1, 1), (1, 1)),
    ((0,), (0,)), ((2, 0), (0, 3)), ((0, 3), (3, 2)), ((2, 3), (3, 0)), ((0, 2, 3), (3, 4)),
    ((3, 5, 0), (0, 0)), ((2, 0, 3), (2, 3, 4)), ((0,), (0, 4)), ((4, 0), (0,)),
]


def _rng(seed=0):
    return np.random.default_rng(seed)


def _data(shape, dtype, rng):
    """Small values: integer products stay exact, half products stay well inside range."""
    if dtype.is_floating_point:
        a = rng.standard_normal(shape)
    else:
        a = rng.integers(0 if dtype is lt.uint8 else -4, 5, shape)
    return a.astype(dtype.np_dtype)


def _np_matmul(a: np.ndarray, b: np.ndarray, dtype) -> np.ndarray:
    """numpy's matmul as PyTorch computes it: halves accumulate in float32, rounded once."""
    if dtype in (lt.float16, lt.bfloat16):
        return np.matmul(a.astype(np.float32), b.astype(np.float32)).astype(dtype.np_dtype)
    return np.matmul(a, b)


def _tol(dtype):
    # the numpy backend sums in a different order than BLAS; halves round once at the end
    return {lt.float16: dict(rtol=2e-3, atol=2e-3), lt.bfloat16: dict(rtol=1e-2, atol=1e-2),
            lt.float32: dict(rtol=1e-5, atol=1e-5), lt.float64: dict(rtol=1e-12, atol=1e-12)}.get(dtype, {})


# ---- values ----

@pytest.mark.parametrize("sa, sb", MATMUL_SHAPES)
@pytest.mark.parametrize("dtype", [lt.float32, lt.float64, lt.float16, lt.bfloat16, lt.int64, lt.int8])
def test_matmul_matches_numpy_and_torch(sa, sb, dtype):
    rng = _rng(hash((sa, sb)) % 1000)
    a, b = _data(sa, dtype, rng), _data(sb, dtype, rng)
    out = lt.matmul(lt.tensor(a), lt.tensor(b))
    assert out.dtype is dtype
    expected = _np_matmul(a, b, dtype)
    assert_close(out, expected, **_tol(dtype))
    if torch is not None:
        t = torch.matmul(to_torch(a), to_torch(b))
        assert tuple(out.shape) == tuple(t.shape)
        assert_close(out, t, **_tol(dtype))


@needs_torch
@pytest.mark.parametrize("dtype", INTS)
def test_integer_products_wrap_like_torch(dtype):
    # big enough to overflow the narrow types: both libraries wrap the same way
    rng = _rng(1)
    lo, hi = (0, 255) if dtype is lt.uint8 else (-100, 100)
    a = rng.integers(lo, hi, (3, 7)).astype(dtype.np_dtype)
    b = rng.integers(lo, hi, (7, 2)).astype(dtype.np_dtype)
    assert_close(lt.tensor(a) @ lt.tensor(b), torch.from_numpy(a) @ torch.from_numpy(b))
    assert_close(lt.mv(lt.tensor(a), lt.tensor(b[:, 0].copy())), torch.mv(torch.from_numpy(a),
                                                                           torch.from_numpy(b[:, 0].copy())))


HALF_PRODUCTS = [
    lambda L, x: L.matmul(x, x),
    lambda L, x: L.dot(x, x),
    lambda L, x: L.inner(x, x),
    lambda L, x: L.mv(x.reshape(1, -1), x),
    lambda L, x: L.mm(x.reshape(1, -1), x.reshape(-1, 1)),
    lambda L, x: L.bmm(x.reshape(1, 1, -1), x.reshape(1, -1, 1)),
    lambda L, x: L.matmul(x.reshape(1, 1, -1), x.reshape(-1, 1)),
]


@pytest.mark.parametrize("dtype", [lt.float16, lt.bfloat16])
@pytest.mark.parametrize("case", range(len(HALF_PRODUCTS)))
def test_half_products_accumulate_in_float32(dtype, case):
    # 3000 ones: a half-precision running sum would stop at 2048 (float16) or 256 (bfloat16)
    got = HALF_PRODUCTS[case](lt, lt.ones(3000, dtype=dtype))
    assert got.dtype is dtype
    exact = float(np.float32(3000).astype(dtype.np_dtype))  # 3000 rounded once
    assert float(got.numpy().reshape(-1)[0]) == exact
    if torch is not None:
        want = HALF_PRODUCTS[case](torch, torch.ones(3000, dtype=torch_dtype(dtype)))
        assert float(want.float().reshape(-1)[0]) == exact


@needs_torch
@pytest.mark.parametrize("dtype", [lt.float16, lt.bfloat16])
def test_half_products_round_once_like_torch(dtype):
    x = np.random.default_rng(2).standard_normal((20, 70)).astype(np.float32)
    y = np.random.default_rng(3).standard_normal((70, 9)).astype(np.float32)
    lx, ly = lt.tensor(x).to(dtype), lt.tensor(y).to(dtype)
    want = to_torch(lx.numpy()) @ to_torch(ly.numpy())
    got = to_torch((lx @ ly).numpy())
    # one rounding of a float32 sum: torch's bits except where the two summation orders straddle a tie
    assert (got == want).float().mean().item() > 0.97


@pytest.mark.parametrize("dtype", [lt.float32, lt.int64])
def test_non_contiguous_operands(dtype):
    rng = _rng(4)
    a = _data((4, 3, 5), dtype, rng)
    b = _data((6, 4), dtype, rng)
    ta = lt.tensor(a).permute(2, 0, 1)  # (5, 4, 3)
    tb = lt.tensor(b).t()  # (4, 6)
    assert not ta.is_contiguous() and not tb.is_contiguous()
    na, nb = a.transpose(2, 0, 1), b.T
    assert_close(lt.matmul(ta.transpose(-1, -2), tb.narrow(1, 1, 4)), np.matmul(na.swapaxes(-1, -2), nb[:, 1:5]))
    # a strided numpy view as input (every other column), and an expanded (stride-0) operand
    wide = _data((3, 10), dtype, rng)
    tv = lt.from_numpy(wide[:, ::2])
    assert_close(tv @ lt.tensor(b[:5].copy()), wide[:, ::2] @ b[:5])
    col = lt.tensor(_data((5, 1), dtype, rng))
    assert_close(lt.tensor(a) @ col.expand(5, 3), a @ np.broadcast_to(col.numpy(), (5, 3)))
    sel = lt.tensor(a).select(1, 2)  # (4, 5), a view with an offset
    vec = _data((5,), dtype, rng)
    assert_close(sel.mv(lt.tensor(vec)), a[:, 2, :] @ vec)


@settings(max_examples=40, deadline=None)
@given(hnp.mutually_broadcastable_shapes(signature="(m?,n),(n,p?)->(m?,p?)", max_dims=3, min_side=0, max_side=4),
       st.sampled_from([lt.float32, lt.float64, lt.int32]))
def test_matmul_broadcasting_property(shapes, dtype):
    sa, sb = shapes.input_shapes
    rng = _rng(len(sa) * 7 + len(sb))
    a, b = _data(sa, dtype, rng), _data(sb, dtype, rng)
    out = lt.tensor(a) @ lt.tensor(b)
    expected = np.matmul(a, b)
    assert tuple(out.shape) == expected.shape == tuple(shapes.result_shape)
    assert_close(out, expected, **_tol(dtype))


@pytest.mark.parametrize("dtype", FLOATS + [lt.int64])
def test_mm_bmm_mv_dot(dtype):
    rng = _rng(5)
    a, b = _data((3, 4), dtype, rng), _data((4, 2), dtype, rng)
    v, w = _data((4,), dtype, rng), _data((4,), dtype, rng)
    x, y = _data((2, 3, 4), dtype, rng), _data((2, 4, 5), dtype, rng)
    assert_close(lt.mm(lt.tensor(a), lt.tensor(b)), _np_matmul(a, b, dtype), **_tol(dtype))
    assert_close(lt.tensor(a).mm(lt.tensor(b)), _np_matmul(a, b, dtype), **_tol(dtype))
    assert_close(lt.bmm(lt.tensor(x), lt.tensor(y)), _np_matmul(x, y, dtype), **_tol(dtype))
    assert_close(lt.mv(lt.tensor(a), lt.tensor(v)), _np_matmul(a, v, dtype), **_tol(dtype))
    d = lt.dot(lt.tensor(v), lt.tensor(w))
    assert d.shape == () and d.dtype is dtype
    assert_close(d, _np_matmul(v, w, dtype), **_tol(dtype))
    assert_close(lt.vdot(lt.tensor(v), lt.tensor(w)), _np_matmul(v, w, dtype), **_tol(dtype))
    if torch is not None:
        assert_close(lt.tensor(x).bmm(lt.tensor(y)), torch.bmm(to_torch(x), to_torch(y)), **_tol(dtype))
        assert_close(lt.tensor(v).dot(lt.tensor(w)), torch.dot(to_torch(v), to_torch(w)), **_tol(dtype))


@pytest.mark.parametrize("sa, sb", [((3,), (3,)), ((2, 3), (4, 3)), ((2, 2, 3), (5, 3)), ((3,), (2, 3)),
                                    ((), (2, 3)), ((2, 3), ()), ((0,), (0,)), ((2, 0), (3, 0))])
def test_inner(sa, sb):
    rng = _rng(6)
    a, b = _data(sa, lt.float64, rng), _data(sb, lt.float64, rng)
    out = lt.inner(lt.tensor(a), lt.tensor(b))
    assert_close(out, np.inner(a, b))
    if torch is not None:
        assert_close(out, torch.inner(to_torch(a), to_torch(b)))


def test_inner_with_a_0d_operand_promotes_like_mul():
    out = lt.inner(lt.tensor(2), lt.ones(3, dtype=lt.float64))
    assert out.dtype is lt.float64 and out.tolist() == [2.0, 2.0, 2.0]


@pytest.mark.parametrize("da, db", [(lt.float32, lt.float32), (lt.int32, lt.float32), (lt.float32, lt.float64),
                                    (lt.bool, lt.bool), (lt.int64, lt.bool)])
def test_outer_and_ger_promote(da, db):
    rng = _rng(7)
    a, b = _data((3,), da if da is not lt.bool else lt.int64, rng), _data((4,), lt.int64, rng)
    ta, tb = lt.tensor(a).to(da), lt.tensor(b).to(db)
    out = lt.outer(ta, tb)
    assert out.dtype is lt.promote_types(da, db)
    assert_close(out, np.outer(ta.numpy(), tb.numpy()).astype(out.dtype.np_dtype))
    assert_close(ta.ger(tb), out.numpy())
    if torch is not None:
        assert out.dtype.name == str(torch.outer(to_torch(ta), to_torch(tb)).dtype).removeprefix("torch.")


@pytest.mark.parametrize("dtype", [lt.float32, lt.float64, lt.float16, lt.int64])
@pytest.mark.parametrize("beta, alpha", [(1, 1), (0.5, 2), (0, 1), (2, 0), (0, -1.5)])
def test_addmm_addmv_baddbmm(dtype, beta, alpha):
    rng = _rng(8)
    c, a, b = _data((3,), dtype, rng), _data((2, 4), dtype, rng), _data((4, 3), dtype, rng)
    m, v = _data((2, 4), dtype, rng), _data((4,), dtype, rng)
    x, y, z = _data((5, 1, 3), dtype, rng), _data((5, 2, 4), dtype, rng), _data((5, 4, 3), dtype, rng)
    cases = [
        (lambda L, t: L.addmm(t(c), t(a), t(b), beta=beta, alpha=alpha)),
        (lambda L, t: L.addmv(t(c[:2].copy()), t(m), t(v), beta=beta, alpha=alpha)),
        (lambda L, t: L.addmv(t(c[:1].copy()), t(m), t(v), beta=beta, alpha=alpha)),
        (lambda L, t: L.baddbmm(t(x), t(y), t(z), beta=beta, alpha=alpha)),
        (lambda L, t: t(c).addmm(t(a), t(b), beta=beta, alpha=alpha)),
    ]
    work = np.float64 if dtype is lt.float64 else np.float32 if dtype.is_floating_point else np.int64
    bt, al = (beta, alpha) if dtype.is_floating_point else (int(beta), int(alpha))
    expected = [
        bt * c.astype(work) * (beta != 0) + al * (a.astype(work) @ b.astype(work)),
        bt * c[:2].astype(work) * (beta != 0) + al * (m.astype(work) @ v.astype(work)),
        bt * c[:1].astype(work) * (beta != 0) + al * (m.astype(work) @ v.astype(work)),
        bt * x.astype(work) * (beta != 0) + al * (y.astype(work) @ z.astype(work)),
        bt * c.astype(work) * (beta != 0) + al * (a.astype(work) @ b.astype(work)),
    ]
    for case, want in zip(cases, expected):
        out = case(lt, lt.tensor)
        assert out.dtype is dtype
        assert_close(out, want.astype(dtype.np_dtype), **_tol(dtype))
        if torch is not None:
            assert_close(out, case(torch, to_torch), **_tol(dtype))


def test_beta_zero_ignores_nan_in_input():
    out = lt.addmm(lt.full((3,), float("nan")), lt.ones(2, 3), lt.ones(3, 3), beta=0)
    assert out.tolist() == [[3.0] * 3] * 2
    out = lt.addmv(lt.full((2,), float("inf")), lt.ones(2, 3), lt.ones(3), beta=0, alpha=2)
    assert out.tolist() == [6.0, 6.0]


def test_inplace_variants_write_through_views():
    base = lt.zeros(4, 3)
    view = base.narrow(0, 1, 2)  # rows 1 and 2
    view.addmm_(lt.ones(2, 5), lt.ones(5, 3), alpha=2)
    assert base.tolist() == [[0] * 3, [10] * 3, [10] * 3, [0] * 3]
    vec = lt.ones(2)
    assert vec.addmv_(lt.ones(2, 3), lt.ones(3), beta=2) is vec
    assert vec.tolist() == [5.0, 5.0]
    b = lt.zeros(2, 1, 1)
    b.baddbmm_(lt.ones(2, 1, 4), lt.ones(2, 4, 1))
    assert b.reshape(-1).tolist() == [4.0, 4.0]
    with pytest.raises(RuntimeError, match=r"Bad in-place call: input tensor size \[3\] and output tensor size "
                                           r"\[3, 3\] should match"):
        lt.ones(3).addmm_(lt.ones(3, 3), lt.ones(3, 3))


def test_matmul_operator_and_tensor_methods():
    a, b = lt.ones(2, 3), lt.ones(3, 4)
    assert (a @ b).tolist() == [[3.0] * 4] * 2
    assert a.matmul(b).tolist() == (a @ b).tolist()
    assert b.__rmatmul__(a).tolist() == (a @ b).tolist()
    assert Tensor_has("__matmul__") and not hasattr(lt.Tensor, "__imatmul__")
    with pytest.raises(TypeError, match="unsupported operand type"):
        a @ [1, 2, 3]
    with pytest.raises(TypeError, match="unsupported operand type"):
        a @ 2
    with pytest.raises(TypeError, match=r"matmul\(\): argument 'other' \(position 2\) must be Tensor, not list"):
        lt.matmul(a, [1.0, 2.0, 3.0])


def Tensor_has(name):
    return name in vars(lt.Tensor)


# ---- errors: PyTorch's types and messages ----

ERROR_CASES = [
    lambda L, f: L.matmul(f(2, 3), f(4, 5)),
    lambda L, f: L.matmul(f(()), f(3)),
    lambda L, f: L.matmul(f(3), f(())),
    lambda L, f: L.matmul(f(3), f(4)),
    lambda L, f: L.matmul(f(3), f(4, 5)),
    lambda L, f: L.matmul(f(2, 3), f(4)),
    lambda L, f: L.matmul(f(2, 2, 3), f(4)),
    lambda L, f: L.matmul(f(2, 2, 3), f(4, 4)),
    lambda L, f: L.matmul(f(3), f(2, 4, 5)),
    lambda L, f: L.matmul(f(2, 3), f(2, 4, 4)),
    lambda L, f: L.matmul(f(2, 2, 3), f(3, 3, 4)),
    lambda L, f: L.matmul(f(2, 2, 3), f(2, 4, 4)),
    lambda L, f: L.matmul(f(2, 2, 3).transpose(0, 1), f(4, 4)),
    lambda L, f: L.matmul(f(2, 3), f(3, 4, dtype=L.float64)),
    lambda L, f: L.matmul(f(2, 3), f(3, dtype=L.float64)),
    lambda L, f: L.matmul(f(3), f(3, dtype=L.float64)),
    lambda L, f: L.matmul(f(2, 2, 3), f(2, 3, 4, dtype=L.float64)),
    lambda L, f: L.matmul(f(2, 2, 3, dtype=L.float64), f(3, 4)),
    lambda L, f: L.matmul(f(2, 2, 3, dtype=L.float64), f(3)),
    lambda L, f: L.matmul(f(3), f(2, 3, 4, dtype=L.float64)),
    lambda L, f: L.matmul(f(2, 2, 3).transpose(0, 1), f(3, 4, dtype=L.float64)),
    lambda L, f: L.matmul(f(2, 3, dtype=L.int64), f(3, 3)),
    lambda L, f: L.matmul(f(2, 3, dtype=L.float16), f(3, 3, dtype=L.bfloat16)),
    lambda L, f: L.matmul(f(3, dtype=L.int32), f(3, dtype=L.int64)),
    lambda L, f: L.matmul(f(2, 3, dtype=L.bool), f(3, 4, dtype=L.bool)),
    lambda L, f: L.matmul(f(3, dtype=L.bool), f(3, dtype=L.bool)),
    lambda L, f: L.matmul(f(2, 3, dtype=L.bool), f(3, dtype=L.bool)),
    lambda L, f: L.matmul(f(2, 2, 3, dtype=L.bool), f(3, 4, dtype=L.bool)),
    lambda L, f: L.matmul(f(2, 2, 3, dtype=L.bool), f(2, 3, 4, dtype=L.bool)),
    lambda L, f: L.mm(f(3), f(3, 4)),
    lambda L, f: L.mm(f(2, 3), f(3)),
    lambda L, f: L.mm(f(2, 3), f(4, 3, dtype=L.float64)),
    lambda L, f: L.mm(f(2, 3, dtype=L.int16), f(3, 3)),
    lambda L, f: L.mm(f(2, 3, dtype=L.int8), f(3, 3, dtype=L.uint8)),
    lambda L, f: L.bmm(f(2, 3), f(3, 4)),
    lambda L, f: L.bmm(f(2, 2, 3), f(3, 4)),
    lambda L, f: L.bmm(f(2, 2, 3), f(3, 3, 4)),
    lambda L, f: L.bmm(f(1, 2, 3, dtype=L.int32), f(1, 3, 3)),
    lambda L, f: L.bmm(f(1, 2, 3, dtype=L.bool), f(1, 3, 3, dtype=L.bool)),
    lambda L, f: L.mv(f(2, 3), f(4)),
    lambda L, f: L.mv(f(2, 3), f(3, 1)),
    lambda L, f: L.mv(f(3), f(3)),
    lambda L, f: L.mv(f(2, 3, dtype=L.float64), f(3)),
    lambda L, f: L.mv(f(2, 3), f(4, dtype=L.float64)),
    lambda L, f: L.dot(f(2), f(3)),
    lambda L, f: L.dot(f(2, 1), f(2)),
    lambda L, f: L.dot(f(()), f(3)),
    lambda L, f: L.dot(f(2), f(3, dtype=L.float64)),
    lambda L, f: L.dot(f(3, dtype=L.bool), f(3, dtype=L.bool)),
    lambda L, f: L.vdot(f(2), f(2, dtype=L.float64)),
    lambda L, f: L.inner(f(2), f(3)),
    lambda L, f: L.inner(f(2, 3), f(4, 2)),
    lambda L, f: L.inner(f(3), f(3, dtype=L.float64)),
    lambda L, f: L.inner(f(3, dtype=L.bool), f(3, dtype=L.bool)),
    lambda L, f: L.inner(f(2, 3, dtype=L.bool), f(3, dtype=L.bool)),
    lambda L, f: L.outer(f(2, 1), f(3)),
    lambda L, f: L.outer(f(2), f(())),
    lambda L, f: L.addmm(f(3, dtype=L.float64), f(2, 3), f(3, 3)),
    lambda L, f: L.addmm(f(3), f(2, 3, dtype=L.float64), f(3, 3)),
    lambda L, f: L.addmm(f(3), f(3), f(3, 3)),
    lambda L, f: L.addmm(f(3), f(2, 3), f(4, 3)),
    lambda L, f: L.addmm(f(3), f(2, 3, dtype=L.bool), f(3, 3, dtype=L.bool)),
    lambda L, f: L.addmv(f(2, 2), f(2, 3), f(3)),
    lambda L, f: L.addmv(f(3), f(2, 3), f(3)),
    lambda L, f: L.addmv(f(2), f(2, 3), f(3, dtype=L.float64)),
    lambda L, f: L.addmv(f(2, dtype=L.float64), f(2, 3), f(3)),
    lambda L, f: L.baddbmm(f(2, 3, dtype=L.float64), f(5, 2, 3), f(5, 3, 3)),
    lambda L, f: L.baddbmm(f(2, 3), f(5, 2, 3), f(5, 3, 3, dtype=L.float64)),
    lambda L, f: L.baddbmm(f(2, 3), f(5, 2, 3), f(4, 3, 3)),
    lambda L, f: L.baddbmm(f(2, 3), f(5, 2, 3), f(5, 4, 3)),
]


def _raised(fn):
    try:
        fn()
    except Exception as e:  # noqa: BLE001 - the test compares whatever both libraries raise
        return e
    return None


@needs_torch
@pytest.mark.parametrize("case", range(len(ERROR_CASES)))
def test_errors_match_torch(case):
    build = ERROR_CASES[case]
    want = _raised(lambda: build(torch, torch.ones))
    got = _raised(lambda: build(lt, lt.ones))
    assert want is not None, "the case should fail in torch"
    assert type(got) is type(want), f"{type(got).__name__}: {got} vs torch {type(want).__name__}: {want}"
    assert str(got) == str(want).split("\n")[0]


def test_errors_without_torch():
    with pytest.raises(RuntimeError, match=r"mat1 and mat2 shapes cannot be multiplied \(2x3 and 4x5\)"):
        lt.ones(2, 3) @ lt.ones(4, 5)
    with pytest.raises(RuntimeError, match="both arguments to matmul need to be at least 1D, but they are 0D and 1D"):
        lt.matmul(lt.ones(()), lt.ones(3))
    with pytest.raises(RuntimeError, match="batch1 must be a 3D tensor"):
        lt.bmm(lt.ones(2, 3), lt.ones(3, 4))
    with pytest.raises(RuntimeError, match="expected m1 and m2 to have the same dtype, but got: float != double"):
        lt.mm(lt.ones(2, 3), lt.ones(3, 4, dtype=lt.float64))
    with pytest.raises(NotImplementedError, match="not implemented for 'Bool'"):
        lt.ones(2, 2, dtype=lt.bool) @ lt.ones(2, 2, dtype=lt.bool)
    with pytest.raises(RuntimeError, match="The expanded size of the tensor"):
        lt.addmm(lt.ones(4), lt.ones(2, 3), lt.ones(3, 3))


@needs_torch
def test_expand_errors_of_the_add_variants_are_torchs_kind():
    for build in (lambda L: L.addmm(L.ones(4), L.ones(2, 3), L.ones(3, 3)),
                  lambda L: L.addmm(L.ones(5, 2, 3), L.ones(2, 3), L.ones(3, 3)),
                  lambda L: L.baddbmm(L.ones(3, 2, 3), L.ones(5, 2, 3), L.ones(5, 3, 3))):
        want, got = _raised(lambda: build(torch)), _raised(lambda: build(lt))
        assert type(got) is type(want) is RuntimeError
        assert ("expanded size" in str(want)) == ("expanded size" in str(got))


# ---- the IR pattern and laziness ----

def _ops(t):
    return [n.op for n in toposort([t.node])]


def test_matmul_builds_the_canonical_contraction():
    a, b = lt.ones(5, 2, 3), lt.ones(3, 4)
    out = (a @ b).node
    assert out.op is Op.RESHAPE and out.shape == (5, 2, 4)
    s = out.srcs[0]
    assert s.op is Op.SUM and s.arg == (3,) and s.shape == (5, 2, 4, 1)
    mul = s.srcs[0]
    assert mul.op is Op.MUL and mul.shape == (5, 2, 4, 3)
    ea, eb = mul.srcs
    assert ea.op is Op.EXPAND and ea.srcs[0].op is Op.RESHAPE and ea.srcs[0].shape == (5, 2, 1, 3)
    assert eb.op is Op.EXPAND and eb.srcs[0].op is Op.RESHAPE and eb.srcs[0].shape == (1, 1, 4, 3)
    assert eb.srcs[0].srcs[0].op is Op.PERMUTE and eb.srcs[0].srcs[0].arg == (1, 0)


def test_half_products_cast_in_and_out():
    a, b = lt.ones(2, 3, dtype=lt.float16), lt.ones(3, 4, dtype=lt.float16)
    out = (a @ b).node
    assert out.op is Op.CAST and out.dtype is lt.float16
    kinds = [(n.op, n.dtype) for n in toposort([out])]
    assert (Op.SUM, lt.float32) in kinds and (Op.MUL, lt.float32) in kinds


def test_products_are_lazy():
    a = lt.tensor(np.ones((3, 3), np.float32))
    out = a @ a @ a
    assert out._buffer is None and Op.SUM in _ops(out)
    assert out.tolist() == [[9.0] * 3] * 3


# ---- einsum ----

EINSUM_CASES = [
    ("ij,jk->ik", [(2, 3), (3, 4)]),
    ("ij,jk", [(2, 3), (3, 4)]),
    ("bij,bjk->bik", [(2, 2, 3), (2, 3, 4)]),
    ("i,i->", [(5,), (5,)]),
    ("i,j->ij", [(3,), (4,)]),
    ("ii->i", [(3, 3)]),
    ("ii", [(3, 3)]),
    ("iji->j", [(2, 3, 2)]),
    ("ij->ji", [(2, 3)]),
    ("ji", [(2, 3)]),
    ("ij->", [(2, 3)]),
    ("...ij,...jk", [(5, 2, 3), (3, 4)]),
    ("...ij,...jk->...ik", [(2, 1, 2, 3), (5, 3, 4)]),
    ("...ij->ij", [(2, 3, 4)]),
    ("i...->...", [(2, 3, 4)]),
    ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 5)]),
    ("i j , j k -> i k", [(2, 3), (3, 4)]),
    ("Ab,bC->AC", [(2, 3), (3, 4)]),
    ("bhqd,bhkd->bhqk", [(2, 3, 4, 5), (2, 3, 6, 5)]),
    ("ij,ij->ij", [(2, 3), (2, 3)]),
    ("i,i->i", [(1,), (4,)]),
    ("ij,kj->", [(0, 3), (2, 3)]),
]


@pytest.mark.parametrize("eq, shapes", EINSUM_CASES)
@pytest.mark.parametrize("dtype", [lt.float64, lt.float16])
def test_einsum(eq, shapes, dtype):
    rng = _rng(9)
    arrays = [_data(s, dtype, rng) for s in shapes]
    out = lt.einsum(eq, *[lt.tensor(a) for a in arrays])
    assert out.dtype is dtype
    if "..." not in eq or "..." in eq.partition("->")[2]:  # numpy can't sum ellipsis dims away
        want = np.einsum(eq.replace(" ", ""), *[a.astype(np.float64) for a in arrays])
        assert_close(out, np.asarray(want).astype(dtype.np_dtype), **_tol(dtype))
    if torch is not None:
        assert_close(out, torch.einsum(eq, *[to_torch(a) for a in arrays]), **_tol(dtype))
        assert_close(lt.einsum(eq, [lt.tensor(a) for a in arrays]), out.numpy())


@needs_torch
@pytest.mark.parametrize("build", [
    lambda L: L.einsum("i,i", L.ones(3), L.ones(3, dtype=L.float64)),
    lambda L: L.einsum("i,i", L.ones(3), L.ones(4)),
    lambda L: L.einsum("ii->i", L.ones(3, 4)),
    lambda L: L.einsum("ij,jk", L.ones(3, 4)),
    lambda L: L.einsum("ij,jk", L.ones(3, 4), L.ones(4, 2), L.ones(2)),
    lambda L: L.einsum("ijk", L.ones(3, 4)),
    lambda L: L.einsum("ij->k", L.ones(3, 4)),
    lambda L: L.einsum("ij->ii", L.ones(3, 4)),
    lambda L: L.einsum("a1,1b", L.ones(3, 4), L.ones(4, 2)),
    lambda L: L.einsum("ij,jk", L.ones(3, 4, dtype=L.bool), L.ones(4, 2, dtype=L.bool)),
])
def test_einsum_errors_match_torch(build):
    want, got = _raised(lambda: build(torch)), _raised(lambda: build(lt))
    assert want is not None and type(got) is type(want), f"{got!r} vs {want!r}"
    assert str(got) == str(want).split("\n")[0]


def test_einsum_integers_and_bool_outer():
    a = lt.tensor([[1, 2], [3, 4]])
    assert lt.einsum("ij,jk->ik", a, a).tolist() == [[7, 10], [15, 22]]
    assert lt.einsum("ii", a).item() == 5
    m = lt.einsum("i,j->ij", lt.tensor([True, False]), lt.tensor([True, True]))
    assert m.dtype is lt.bool and m.tolist() == [[True, True], [False, False]]
    # one bool operand summed counts, as torch.sum does (int64)
    total = lt.einsum("ij->", lt.ones(2, 3, dtype=lt.bool))
    assert total.dtype is lt.int64 and total.item() == 6
    assert lt.einsum("ij->ji", lt.ones(2, 3, dtype=lt.bool)).dtype is lt.bool


# ---- the 2-d fast path builds the general path's nodes ----

class _General(lt.Tensor):
    """A Tensor subclass: matmul's fast path takes exact Tensors only, so this one goes the general way."""

    __slots__ = ()


def _general(t):
    from lazytensor.tensor import _init
    g = object.__new__(_General)
    _init(g, t.node, None, ())
    return g


@pytest.mark.parametrize("dtype", ["float32", "float64", "int64", "int32", "float16", "bfloat16"])
def test_matmul_fast_path_builds_the_general_nodes(dtype):
    d = getattr(lt, dtype)
    for m, k, n in ((4, 4, 4), (1, 3, 2), (2, 3, 1), (1, 1, 1), (3, 0, 2), (0, 2, 3)):
        a = lt.arange(m * k, dtype=d).reshape(m, k)
        b = lt.arange(k * n, dtype=d).reshape(k, n)
        for x, y in ((a, b), (a.t().t(), b), (a, b.t().contiguous().t())):
            fast = x @ y
            verify([fast.node])  # the types the fast path gives its nodes are the rules' own
            general = lt.matmul(_general(x), _general(y))
            assert fast.node is general.node and fast.dtype is general.dtype
            assert lt.mm(_general(x), _general(y)).node is fast.node


def test_matmul_fast_path_leaves_bad_operands_to_the_checks():
    with pytest.raises(RuntimeError, match=r"mat1 and mat2 shapes cannot be multiplied \(2x3 and 2x3\)"):
        lt.ones(2, 3) @ lt.ones(2, 3)
    with pytest.raises(RuntimeError, match="expected m1 and m2 to have the same dtype"):
        lt.ones(2, 3) @ lt.ones(3, 2, dtype=lt.float64)
    with pytest.raises(NotImplementedError, match="addmm_impl_cpu_"):
        lt.ones(2, 3, dtype=lt.bool) @ lt.ones(3, 2, dtype=lt.bool)
