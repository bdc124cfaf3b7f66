"""Tests for lazytensor.reduce: every reduction, scan and normalizer against numpy and PyTorch.

The sweep tests run each op over shapes (0-d, empty, 1-4 d), layouts (contiguous, transposed,
strided slices), dims (None, int, negative, tuples, ()), keepdim and dtypes. Against PyTorch
(when installed) they compare values, dtypes, shapes and, where torch raises, the exception type;
against numpy they compare values with a float64/int64 reference. Hypothesis checks properties.
"""
from __future__ import annotations

import math
import pickle
import warnings
import zlib

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp

import lazytensor as lt
from lazytensor.compiler.ir import toposort
from lazytensor.compiler.verify import verify
from lt_testing import FLOAT_TOL, assert_close, to_torch, torch, torch_dtype

needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch is not installed")

FLOATS = [lt.float32, lt.float64, lt.float16, lt.bfloat16]
INTS = [lt.int32, lt.int64, lt.uint8]
ALL = FLOATS + INTS + [lt.bool]
SHAPES = [(), (0,), (5,), (3, 4), (2, 0, 3), (2, 3, 4), (2, 1, 3, 2)]
LAYOUTS = ["contiguous", "transposed", "sliced"]
# reductions accumulate in a different order than torch's kernels: allow a little more than a
# single elementwise op gets
TOL = {lt.float16: (1e-2, 2e-3), lt.bfloat16: (2e-2, 2e-2), lt.float32: (1e-5, 1e-5), lt.float64: (1e-10, 1e-12)}


# ---- inputs ----

def make_array(rng: np.random.Generator, shape: tuple, dtype: lt.dtype, *, nan: bool = False,
               low: int = -4, high: int = 5) -> np.ndarray:
    """Random values of `dtype` (small integers so ties happen; floats near 1 so products stay finite)."""
    if dtype is lt.bool:
        return np.asarray(rng.random(shape) < 0.6)
    if dtype.is_floating_point:
        a = rng.uniform(-2.0, 2.0, shape)
        if nan and a.size:
            a[rng.random(shape) < 0.2] = np.nan
        return np.asarray(a).astype(dtype.np_dtype)
    lo = 0 if dtype is lt.uint8 else low
    return np.asarray(rng.integers(lo, high, shape)).astype(dtype.np_dtype)


def as_lt(a: np.ndarray, layout: str) -> lt.Tensor:
    """`a` as a lazytensor tensor laid out contiguously, as a transposed view, or as a strided slice."""
    if a.ndim == 0 or layout == "contiguous":
        return lt.tensor(a)
    if layout == "transposed":
        t = lt.tensor(np.ascontiguousarray(a.transpose()))
        out = t.permute(*range(a.ndim - 1, -1, -1))
        assert not out.is_contiguous() or a.ndim < 2 or a.size == 0 or sorted(a.shape)[-2] <= 1
        return out
    # every other element of a wider array: a view through PAD/SHRINK/RESHAPE movement ops
    wide = np.zeros(a.shape[:-1] + (2 * a.shape[-1] + 1,), dtype=a.dtype)
    wide[..., 1::2] = a
    return lt.tensor(wide).narrow(-1, 1, 2 * a.shape[-1]).unflatten(-1, (a.shape[-1], 2)).select(-1, 0)


def dims_for(ndim: int) -> list:
    """The dim arguments to sweep for a tensor of `ndim` dims."""
    if ndim == 0:
        return [None, 0, -1, (), (0,)]
    out = [None, 0, -1, (), (-1,)]
    if ndim >= 2:
        out += [(0, -1), (-1, 0), 1]
    if ndim >= 3:
        out += [(0, 2), (1, -1, 0)]
    return out


def int_dims_for(ndim: int) -> list:
    """Single dims to sweep: first, last (negative), and a middle one for 3-d and up."""
    return [0, -1] + ([1] if ndim >= 3 else [])


# ---- comparison ----

def _flatten(x):
    return list(x) if isinstance(x, tuple) else [x]


def compare(got, expected, tol=None) -> None:
    """lazytensor result(s) `got` equal torch or numpy `expected`: dtype, shape and values."""
    got, expected = _flatten(got), _flatten(expected)
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        assert isinstance(g, lt.Tensor), type(g)
        if torch is not None and isinstance(e, torch.Tensor):
            assert g.dtype.name == str(e.dtype).removeprefix("torch."), (g.dtype, e.dtype)
        rtol, atol = (tol or TOL).get(g.dtype, (None, None)) if g.dtype.is_floating_point else (None, None)
        assert_close(g, e, rtol=rtol, atol=atol)


def torch_args(args: tuple) -> tuple:
    return tuple(torch_dtype(v) if isinstance(v, lt.dtype) else v for v in args)


def torch_kwargs(kwargs: dict) -> dict:
    return {k: torch_dtype(v) if isinstance(v, lt.dtype) else v for k, v in kwargs.items()}


def check(name: str, a: np.ndarray, layout: str, args=(), kwargs=None, ref=None, tol=None) -> None:
    """Run lt.<name> on `a` (in `layout`) and compare with torch.<name> and the numpy `ref`.

    Where torch raises, lazytensor must raise the same exception type, when the op is built.
    """
    kwargs = kwargs or {}
    fn = getattr(lt, name)
    if torch is not None:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                expected = getattr(torch, name)(to_torch(a), *torch_args(args), **torch_kwargs(kwargs))
        except Exception as e:  # noqa: BLE001 - any torch error must be matched by type
            with pytest.raises(type(e)):
                fn(as_lt(a, layout), *args, **kwargs)
            return
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            got = fn(as_lt(a, layout), *args, **kwargs)
        compare(got, expected, tol)
    if ref is not None:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            try:
                got = fn(as_lt(a, layout), *args, **kwargs)
            except (RuntimeError, IndexError, TypeError, NotImplementedError):
                if torch is None:
                    return  # without torch to say which errors are right, the literal error tests decide
                raise
            want = ref(_compute(a), *args, **kwargs)
        compare(got, want, tol)


def _compute(a: np.ndarray) -> np.ndarray:
    """The numpy array references compute with: float64 for floats (bfloat16 included)."""
    return a.astype(np.float64) if a.dtype.kind == "f" or a.dtype.name == "bfloat16" else a


# ---- numpy references (over float64 / integer arrays) ----

def np_axes(dim, ndim: int) -> tuple:
    if dim is None:
        return tuple(range(ndim))
    dims = (dim,) if isinstance(dim, int) else tuple(dim)
    if any(not -max(ndim, 1) <= d < max(ndim, 1) for d in dims):
        raise IndexError("dim out of range")
    if ndim == 0:
        return ()
    if not dims:
        return tuple(range(ndim))
    if len({d % ndim for d in dims}) != len(dims):
        raise ValueError("duplicate dims")
    return tuple(sorted(d % ndim for d in dims))


def _kind_out(a: np.ndarray, dtype=None) -> np.ndarray:
    if dtype is not None:
        return a.astype(np.float64) if dtype.is_floating_point else a.astype(dtype.np_dtype)
    return a if a.dtype == np.float64 else a.astype(np.int64)


def ref_sum(a, dim=None, keepdim=False, *, dtype=None):
    return np.sum(_kind_out(a, dtype), axis=np_axes(dim, a.ndim), keepdims=keepdim)


def ref_nansum(a, dim=None, keepdim=False, *, dtype=None):
    return np.nansum(_kind_out(a, dtype), axis=np_axes(dim, a.ndim), keepdims=keepdim)


def ref_mean(a, dim=None, keepdim=False, *, dtype=None):
    return np.mean(a.astype(np.float64), axis=np_axes(dim, a.ndim), keepdims=keepdim)


def ref_nanmean(a, dim=None, keepdim=False, *, dtype=None):
    return np.nanmean(a.astype(np.float64), axis=np_axes(dim, a.ndim), keepdims=keepdim)


def ref_prod(a, dim=None, keepdim=False, *, dtype=None):
    return np.prod(_kind_out(a, dtype), axis=np_axes(dim, a.ndim), keepdims=keepdim and dim is not None)


def ref_amax(a, dim=(), keepdim=False):
    return np.max(a, axis=np_axes(dim, a.ndim), keepdims=keepdim)


def ref_amin(a, dim=(), keepdim=False):
    return np.min(a, axis=np_axes(dim, a.ndim), keepdims=keepdim)


def _ref_with_index(a, dim, keepdim, largest):
    if a.ndim == 0:
        return a, np.array(0)
    fn, arg = (np.max, np.argmax) if largest else (np.min, np.argmin)
    return fn(a, axis=dim, keepdims=keepdim), arg(a, axis=dim, keepdims=keepdim)


def ref_max(a, dim=None, keepdim=False):
    return np.max(a) if dim is None else _ref_with_index(a, dim, keepdim, True)


def ref_min(a, dim=None, keepdim=False):
    return np.min(a) if dim is None else _ref_with_index(a, dim, keepdim, False)


def ref_argmax(a, dim=None, keepdim=False):
    if dim is None:
        return np.argmax(a).reshape((1,) * a.ndim if keepdim else ())
    return np.array(0) if a.ndim == 0 else np.argmax(a, axis=dim, keepdims=keepdim)


def ref_argmin(a, dim=None, keepdim=False):
    if dim is None:
        return np.argmin(a).reshape((1,) * a.ndim if keepdim else ())
    return np.array(0) if a.ndim == 0 else np.argmin(a, axis=dim, keepdims=keepdim)


def ref_aminmax(a, *, dim=None, keepdim=False):
    axes = np_axes(dim, a.ndim)
    return np.min(a, axis=axes, keepdims=keepdim), np.max(a, axis=axes, keepdims=keepdim)


def _correction(dim, unbiased, correction):
    if isinstance(dim, bool):
        dim, unbiased = None, dim
    if correction is None:
        correction = 0 if unbiased is False else 1
    return dim, correction


def ref_var(a, dim=None, unbiased=None, keepdim=False, *, correction=None):
    dim, c = _correction(dim, unbiased, correction)
    axes = np_axes(dim, a.ndim)
    n = math.prod(a.shape[i] for i in axes)
    m = np.mean(a, axis=axes, keepdims=True)
    return np.sum((a - m) ** 2, axis=axes, keepdims=keepdim) / max(0, n - c)


def ref_std(a, *args, **kwargs):
    return np.sqrt(ref_var(a, *args, **kwargs))


def ref_var_mean(a, dim=None, unbiased=None, keepdim=False, *, correction=None):
    d, _ = _correction(dim, unbiased, correction)
    return ref_var(a, dim, unbiased, keepdim, correction=correction), np.mean(a, axis=np_axes(d, a.ndim),
                                                                              keepdims=keepdim)


def ref_std_mean(a, *args, **kwargs):
    v, m = ref_var_mean(a, *args, **kwargs)
    return np.sqrt(v), m


def _ref_logical(fn, a, dim, keepdim):
    if dim == ():
        out = a != 0
    else:
        out = fn(a != 0, axis=np_axes(dim, a.ndim), keepdims=keepdim)
    return np.asarray(out).astype(np.uint8) if a.dtype == np.uint8 else out


def ref_all(a, dim=None, keepdim=False):
    return _ref_logical(np.all, a, dim, keepdim)


def ref_any(a, dim=None, keepdim=False):
    return _ref_logical(np.any, a, dim, keepdim)


def ref_count_nonzero(a, dim=None):
    return np.asarray(np.count_nonzero(a, axis=np_axes(dim, a.ndim))).astype(np.int64)


def ref_logsumexp(a, dim, keepdim=False):
    a = a.astype(np.float64)
    axes = np_axes(dim, a.ndim)
    if math.prod(a.shape[i] for i in axes) == 0:
        return np.full(np.sum(a, axis=axes, keepdims=keepdim).shape, -np.inf)
    m = np.max(a, axis=axes, keepdims=True)
    m = np.where(np.isinf(m), 0.0, m)
    return np.squeeze(np.log(np.sum(np.exp(a - m), axis=axes, keepdims=True)) + m,
                      axis=() if keepdim else axes)


def _ref_scan(fn, a, dim, dtype):
    out = _kind_out(a, dtype)
    return out if a.ndim == 0 else fn(out, axis=dim)


def ref_cumsum(a, dim, *, dtype=None):
    return _ref_scan(np.cumsum, a, dim, dtype)


def ref_cumprod(a, dim, *, dtype=None):
    return _ref_scan(np.cumprod, a, dim, dtype)


def ref_softmax(a, dim, dtype=None):
    a = a.astype(np.float64)
    if a.ndim == 0:
        return np.exp(a - a)
    e = np.exp(a - np.max(a, axis=dim, keepdims=True)) if a.size else a
    return e / np.sum(e, axis=dim, keepdims=True)


def ref_log_softmax(a, dim, dtype=None):
    a = a.astype(np.float64)
    if a.ndim == 0 or a.size == 0:
        return a - a
    z = a - np.max(a, axis=dim, keepdims=True)
    return z - np.log(np.sum(np.exp(z), axis=dim, keepdims=True))


def ref_norm(a, p="fro", dim=None, keepdim=False, out=None, dtype=None):
    a = a.astype(np.float64)
    p = 2.0 if p in ("fro", None) else float(p)
    axes = np_axes(dim, a.ndim)
    rest = [i for i in range(a.ndim) if i not in axes]
    moved = np.transpose(a, rest + list(axes)).reshape([a.shape[i] for i in rest]
                                                       + [math.prod(a.shape[i] for i in axes)])
    r = np.linalg.norm(moved, ord=p, axis=-1) if moved.shape[-1] else np.zeros(moved.shape[:-1])
    if keepdim:
        r = r.reshape([1 if i in axes else d for i, d in enumerate(a.shape)])
    return r


REFS = {name[4:]: fn for name, fn in globals().items() if name.startswith("ref_")}


# ---- sweeps: every op over shapes x layouts x dims x keepdim x dtypes ----

def _seed(name: str, dtype) -> int:
    """A seed per (op, dtype), stable across runs (str hashes are randomized per process)."""
    return zlib.crc32(f"{name}/{dtype.name}".encode()) % 1000


def _cases(seed: int, dtype, *, nan=False):
    """(array, layout) pairs over SHAPES, the layout rotating so each shape meets several."""
    rng = np.random.default_rng(seed)
    for i, shape in enumerate(SHAPES):
        yield make_array(rng, shape, dtype, nan=nan), LAYOUTS[(i + seed) % len(LAYOUTS)]


@pytest.mark.parametrize("name", ["sum", "nansum", "mean", "nanmean", "amax", "amin", "all", "any", "logsumexp",
                                  "count_nonzero", "var", "std"])
@pytest.mark.parametrize("dtype", ALL, ids=lambda d: d.name)
def test_reductions_over_dims(name, dtype):
    for a, layout in _cases(_seed(name, dtype), dtype):
        for dim in dims_for(a.ndim):
            if name == "logsumexp" and dim in ((), None):
                continue  # torch's logsumexp needs a dim (and rejects an empty one)
            for keepdim in (False, True):
                args = (dim, keepdim)
                if name == "count_nonzero":
                    args = (dim,)
                    if keepdim:
                        continue
                check(name, a, layout, args, ref=REFS[name])


@pytest.mark.parametrize("name", ["max", "min", "argmax", "argmin", "prod", "aminmax"])
@pytest.mark.parametrize("dtype", ALL, ids=lambda d: d.name)
def test_int_dim_reductions(name, dtype):
    for a, layout in _cases(_seed(name, dtype) + 7, dtype):
        for dim in [None] + int_dims_for(a.ndim):
            for keepdim in (False, True):
                if name == "aminmax":
                    check(name, a, layout, (), {"dim": dim, "keepdim": keepdim}, ref=REFS[name])
                elif dim is None and name in ("max", "min", "prod"):
                    if not keepdim:
                        check(name, a, layout, (), ref=REFS[name])
                else:
                    check(name, a, layout, (dim, keepdim), ref=REFS[name])


@pytest.mark.parametrize("name", ["cumsum", "cumprod", "softmax", "log_softmax"])
@pytest.mark.parametrize("dtype", ALL, ids=lambda d: d.name)
def test_along_one_dim(name, dtype):
    for a, layout in _cases(_seed(name, dtype) + 13, dtype):
        for dim in int_dims_for(a.ndim):
            check(name, a, layout, (dim,), ref=REFS[name])


@pytest.mark.parametrize("name", ["max", "min", "amax", "amin", "argmax", "argmin", "aminmax", "nansum", "nanmean",
                                  "logsumexp", "softmax", "log_softmax", "sum", "var"])
@pytest.mark.parametrize("dtype", FLOATS, ids=lambda d: d.name)
def test_nan_handling(name, dtype):
    rng = np.random.default_rng(5)
    for shape in [(6,), (3, 5), (2, 4, 3)]:
        a = make_array(rng, shape, dtype, nan=True)
        a.flat[1] = np.nan  # at least one
        for dim in [0, -1] + ([None] if name not in ("softmax", "log_softmax", "logsumexp") else []):
            if name == "aminmax":
                check(name, a, "transposed", (), {"dim": dim}, ref=REFS[name])
            elif dim is None and name in ("max", "min"):
                check(name, a, "sliced", (), ref=REFS[name])
            else:
                check(name, a, "sliced", (dim,), ref=REFS[name])


VAR_ARGS = [((), {}), ((True,), {}), ((False,), {}), ((0,), {}), ((-1, False), {}), ((-1, True, True), {}),
            ((None,), {"correction": 0}), (((0, -1),), {"correction": 2, "keepdim": True}),
            ((1,), {"correction": 0.5}), ((0,), {"unbiased": False, "keepdim": True}), ((None, True, True), {}),
            ((), {"correction": 5})]


@pytest.mark.parametrize("name", ["var", "std", "var_mean", "std_mean"])
@pytest.mark.parametrize("dtype", FLOATS + [lt.int64], ids=lambda d: d.name)
def test_var_std_arguments(name, dtype):
    rng = np.random.default_rng(11)
    for shape in [(), (1,), (4,), (3, 4), (2, 0), (2, 3, 2)]:
        a = make_array(rng, shape, dtype)
        for args, kwargs in VAR_ARGS:
            check(name, a, "transposed", args, kwargs, ref=REFS[name])


NORM_ARGS = [((), {}), ((2,), {}), ((1,), {}), ((math.inf,), {}), ((-math.inf,), {}), ((0,), {}), ((3.5,), {}),
             ((-1,), {}), ((0.5,), {}), (("fro", 1), {}), (("fro", (0, -1)), {}), ((2, -1, True), {}),
             ((1,), {"dim": 0, "keepdim": True}), ((None,), {}), ((math.inf, 0), {}), ((2,), {"dtype": lt.float64}),
             ((2,), {"dim": ()})]


@pytest.mark.parametrize("dtype", FLOATS + [lt.int32], ids=lambda d: d.name)
def test_norm(dtype):
    rng = np.random.default_rng(17)
    for shape in [(), (5,), (3, 4), (0, 3), (2, 3, 2)]:
        a = make_array(rng, shape, dtype)
        for args, kwargs in NORM_ARGS:
            check("norm", a, "sliced", args, kwargs, ref=REFS["norm"])


DTYPE_ARGS = [("sum", lt.float64), ("sum", lt.int32), ("sum", lt.float16), ("nansum", lt.float64),
              ("mean", lt.float64), ("mean", lt.float32), ("mean", lt.int64), ("nanmean", lt.float64),
              ("prod", lt.float64), ("prod", lt.int32), ("cumsum", lt.float64), ("cumsum", lt.int32),
              ("cumsum", lt.bool), ("cumprod", lt.float32), ("cumprod", lt.bool), ("softmax", lt.float64),
              ("log_softmax", lt.float16), ("softmax", lt.int64)]


@pytest.mark.parametrize("name, out", DTYPE_ARGS, ids=lambda x: getattr(x, "name", x))
@pytest.mark.parametrize("dtype", [lt.float32, lt.int32, lt.bool], ids=lambda d: d.name)
def test_dtype_argument(name, out, dtype):
    rng = np.random.default_rng(19)
    for shape in [(5,), (3, 4)]:
        a = make_array(rng, shape, dtype)
        if name in ("cumsum", "cumprod"):
            check(name, a, "contiguous", (0,), {"dtype": out})
        elif name in ("softmax", "log_softmax"):
            check(name, a, "contiguous", (-1, out))
        elif name == "prod":
            check(name, a, "contiguous", (1 if len(shape) > 1 else 0,), {"dtype": out})
            check(name, a, "contiguous", (), {"dtype": out})
        else:
            check(name, a, "contiguous", (), {"dtype": out})
            check(name, a, "transposed", (0, True), {"dtype": out})


# ---- scans in depth ----

@pytest.mark.parametrize("n", [1, 2, 31, 32, 33, 47, 64, 100, 257, 513, 2000])
def test_scans_of_every_length_are_exact_for_integers(n):
    rng = np.random.default_rng(n)
    a = rng.integers(-3, 4, (2, n))
    np.testing.assert_array_equal(lt.cumsum(lt.tensor(a), 1).numpy(), np.cumsum(a, 1))
    b = rng.integers(-2, 3, (n, 2)).astype(np.int32)  # wraps past int64: exact modulo 2**64 either way
    np.testing.assert_array_equal(lt.cumprod(lt.tensor(b), 0).numpy(), np.cumprod(b.astype(np.int64), 0))
    c = rng.standard_normal(n).astype(np.float32)
    np.testing.assert_allclose(lt.cumsum(lt.tensor(c), 0).numpy(), np.cumsum(c.astype(np.float64)),
                               rtol=1e-5, atol=1e-4)


def test_scan_memory_is_linear_in_the_block_size():
    """No node of a long scan holds more than n * block elements (no n x n triangle)."""
    from lazytensor import reduce
    n = 5000
    out = lt.cumsum(lt.ones(n), 0)
    biggest = max(node.size for node in toposort([out.node]))
    assert biggest <= (n + reduce._SCAN_BLOCK) * reduce._SCAN_BLOCK
    assert out.numpy()[-1] == n


def test_scan_special_values_propagate():
    a = np.array([1.0, np.inf, -np.inf, 2.0] + [1.0] * 40)
    np.testing.assert_array_equal(lt.cumsum(lt.tensor(a), 0).numpy(), np.cumsum(a))
    b = np.array([2.0, 0.0, np.inf] + [1.0] * 40 + [np.nan, 3.0])
    np.testing.assert_array_equal(lt.cumprod(lt.tensor(b), 0).numpy(), np.cumprod(b))


@needs_torch
def test_scan_of_half_types_rounds_like_torch():
    a = np.random.default_rng(3).uniform(0, 1, (3, 50)).astype(np.float16)
    for d in (lt.float16, lt.bfloat16):
        x = lt.tensor(a).to(d)
        t = to_torch(a).to(torch_dtype(d))
        compare(lt.cumsum(x, 1), torch.cumsum(t, 1), tol={d: (1e-2, 5e-2)})
        compare(x.cumprod(0), t.cumprod(0))


def test_inplace_scans():
    x = lt.tensor([1, 2, 3], dtype=lt.int32)
    x.cumsum_(0)
    assert x.tolist() == [1, 3, 6] and x.dtype is lt.int32
    y = lt.tensor([[1.0, 2.0], [3.0, 4.0]])
    v = y.T
    v.cumprod_(1)  # writes through the transposed view into y
    assert y.tolist() == [[1.0, 2.0], [3.0, 8.0]]
    with pytest.raises(RuntimeError, match="Bad in-place call"):
        x.cumsum_(0, dtype=lt.float32)


# ---- named results ----

@needs_torch
@pytest.mark.parametrize("name, args, kwargs", [("max", (1,), {}), ("min", (0, True), {}),
                                                ("aminmax", (), {"dim": 1}), ("aminmax", (), {})])
def test_named_results_print_like_torch(name, args, kwargs):
    a = np.array([[1.5, -2.0, 3.0], [0.25, 7.0, 7.0]], dtype=np.float32)
    got = getattr(lt, name)(lt.tensor(a), *args, **kwargs)
    want = getattr(torch, name)(torch.tensor(a), *args, **kwargs)
    assert repr(got) == repr(want)
    assert str(got) == str(want)


def test_named_results_are_tuples_with_fields():
    x = lt.tensor([[1.0, 5.0, 5.0], [4.0, 2.0, 0.0]])
    r = lt.max(x, 1)
    values, indices = r
    assert isinstance(r, tuple) and isinstance(r, lt.return_types.max) and len(r) == 2
    assert r.values is values and r.indices is indices and r[1] is indices
    assert values.tolist() == [5.0, 4.0] and indices.tolist() == [1, 0]
    assert type(r).__name__ == "max" and r._fields == ("values", "indices")
    m = x.aminmax()
    assert (m.min.item(), m.max.item()) == (0.0, 5.0)
    back = pickle.loads(pickle.dumps(r))
    assert type(back) is type(r) and back.indices.tolist() == [1, 0]
    assert type(lt.var_mean(x)) is tuple


def test_binary_max_and_min_are_elementwise():
    a, b = lt.tensor([1.0, 5.0, float("nan")]), lt.tensor([3.0, 2.0, 0.0])
    np.testing.assert_array_equal(lt.max(a, b).numpy(), [3.0, 5.0, np.nan])
    np.testing.assert_array_equal(a.min(b).numpy(), [1.0, 2.0, np.nan])
    np.testing.assert_array_equal(lt.max(a, other=b).numpy(), [3.0, 5.0, np.nan])


# ---- documented torch behaviour, literal ----

def test_dtype_rules():
    i32, b, u8 = lt.tensor([1, 2], dtype=lt.int32), lt.tensor([True, True]), lt.tensor([3, 0], dtype=lt.uint8)
    assert lt.sum(i32).dtype is lt.int64 and lt.sum(b).item() == 2 and lt.sum(u8).dtype is lt.int64
    assert lt.prod(i32).dtype is lt.int64 and lt.cumsum(b, 0).dtype is lt.int64
    assert lt.all(u8).dtype is lt.uint8 and lt.any(u8).item() == 1 and lt.all(u8).item() == 0
    assert lt.all(i32).dtype is lt.bool
    assert lt.sum(lt.ones(3, dtype=lt.float16)).dtype is lt.float16
    assert lt.logsumexp(i32, 0).dtype is lt.float32 and lt.count_nonzero(b).dtype is lt.int64
    assert lt.argmax(i32).dtype is lt.int64 and lt.max(i32, 0).indices.dtype is lt.int64


def test_half_sums_accumulate_in_float32():
    # 4096 + 1 + 1 + ... in float16 would stick at 4096 (ulp 4); float32 accumulation does not
    a = lt.tensor([4096.0] + [1.0] * 64, dtype=lt.float16)
    assert lt.sum(a).item() == 4160.0
    assert lt.mean(a).item() == pytest.approx(4160.0 / 65, rel=1e-3)
    assert lt.cumsum(a, 0).numpy()[-1] == 4160.0


def test_empty_inputs():
    e = lt.zeros(0)
    assert lt.sum(e).item() == 0.0 and lt.prod(e).item() == 1.0 and math.isnan(lt.mean(e).item())
    assert lt.all(e).item() is True and lt.any(e).item() is False and lt.count_nonzero(e).item() == 0
    assert lt.logsumexp(e, 0).item() == -math.inf and lt.norm(e).item() == 0.0
    assert lt.nansum(e).item() == 0.0 and math.isnan(lt.nanmean(e).item())
    with pytest.raises(RuntimeError, match=r"max\(\): Expected reduction dim to be specified"):
        lt.max(e)
    with pytest.raises(IndexError, match=r"Expected reduction dim 0 to have non-zero size"):
        lt.max(lt.zeros(0, 3), 0)
    with pytest.raises(IndexError, match="argmax"):
        lt.argmax(e)
    with pytest.raises(RuntimeError, match="aminmax"):
        lt.aminmax(e)
    assert lt.max(lt.zeros(0, 3), 1).values.shape == (0,)
    assert lt.softmax(lt.zeros(2, 0), 1).shape == (2, 0)
    assert lt.cumsum(lt.zeros(0, 3), 1).shape == (0, 3)


def test_errors_are_raised_when_the_op_is_built():
    x = lt.ones(2, 3)
    i = lt.ones(2, 3, dtype=lt.int64)
    cases = [
        (RuntimeError, "could not infer output dtype", lambda: lt.mean(i)),
        (RuntimeError, "Optional dtype", lambda: lt.mean(x, dtype=lt.int64)),
        (RuntimeError, "nanmean", lambda: lt.nanmean(i)),
        (RuntimeError, "std and var only support floating point", lambda: lt.var(i)),
        (RuntimeError, "var_mean only support", lambda: lt.var_mean(i)),
        (IndexError, r"Dimension out of range \(expected to be in range of \[-2, 1\], but got 2\)",
         lambda: lt.sum(x, 2)),
        (RuntimeError, "dim 0 appears multiple times", lambda: lt.sum(x, (0, -2))),
        (TypeError, "must be tuple of ints", lambda: lt.sum(x, 1.0)),
        (TypeError, "must be int", lambda: lt.max(x, (0, 1))),
        (TypeError, "must be int", lambda: lt.prod(x, (0, 1))),
        (TypeError, "must be int", lambda: lt.softmax(x, (0, 1))),
        (TypeError, "must be int", lambda: lt.aminmax(x, dim=(0,))),
        (RuntimeError, "argmax\\(\\): does not support bool input", lambda: lt.argmax(lt.ones(2, dtype=lt.bool))),
        (NotImplementedError, "softmax_kernel_impl\" not implemented for 'Long'", lambda: lt.softmax(i, 0)),
        (NotImplementedError, "cumsum_out_cpu", lambda: lt.cumsum(x, 0, dtype=lt.bool)),
        (RuntimeError, "linalg.vector_norm: Expected a floating point", lambda: lt.norm(i)),
        (RuntimeError, "Order abc not supported", lambda: lt.norm(x, "abc")),
        (RuntimeError, "dim must be a 2-tuple", lambda: lt.norm(lt.ones(2, 2, 2), "fro", (0, 1, 2))),
        (RuntimeError, "cannot compute the inf norm on an empty tensor", lambda: lt.norm(lt.zeros(0, 2), math.inf)),
        (NotImplementedError, "nuc", lambda: lt.norm(x, "nuc")),
        (TypeError, "correction", lambda: lt.var(x, 0, True, correction=1)),
    ]
    for exc, match, fn in cases:
        with pytest.raises(exc, match=match):
            fn()


def test_degrees_of_freedom_warning():
    with pytest.warns(UserWarning, match="degrees of freedom is <= 0"):
        v = lt.var(lt.ones(1))
    assert math.isnan(v.item())
    with pytest.warns(UserWarning):
        assert lt.std(lt.tensor([1.0, 2.0]), correction=2).item() == math.inf


def test_nan_ties_pick_the_first_position():
    x = lt.tensor([[1.0, float("nan"), 3.0, float("nan")], [2.0, 5.0, 5.0, 1.0]])
    r = lt.max(x, 1)
    assert r.indices.tolist() == [1, 1] and math.isnan(r.values.tolist()[0])
    assert lt.min(x, 1).indices.tolist() == [1, 3]
    assert lt.argmax(lt.tensor([1.0, math.inf, float("nan"), math.inf])).item() == 2
    assert lt.argmin(lt.tensor([[1, 1, 0, 0]]), 1).tolist() == [2]


def test_logsumexp_and_softmax_special_values():
    inf = math.inf
    assert lt.logsumexp(lt.tensor([-inf, -inf]), 0).item() == -inf
    assert lt.logsumexp(lt.tensor([inf, 1.0]), 0).item() == inf
    assert lt.logsumexp(lt.tensor([inf, -inf]), 0).item() == inf
    assert lt.logsumexp(lt.tensor([1000.0, 1000.0]), 0).item() == pytest.approx(1000.0 + math.log(2))
    assert lt.softmax(lt.tensor([1000.0, 0.0]), 0).tolist() == [1.0, 0.0]
    assert lt.log_softmax(lt.tensor([-inf, 0.0]), 0).tolist() == [-inf, 0.0]
    assert all(math.isnan(v) for v in lt.softmax(lt.tensor([-inf, -inf]), 0).tolist())
    assert lt.softmax(lt.tensor(3.0), 0).item() == 1.0 and lt.log_softmax(lt.tensor(5.0), -1).item() == 0.0


def test_tensor_methods_match_functions():
    x = lt.tensor(np.arange(12.0).reshape(3, 4))
    for name, args in [("sum", (1,)), ("nansum", ()), ("mean", (0, True)), ("nanmean", ()), ("prod", (1,)),
                       ("amax", ((0, 1),)), ("amin", (1,)), ("argmax", (1,)), ("argmin", ()), ("var", (1,)),
                       ("std", ()), ("all", ()), ("any", (0,)), ("logsumexp", (1,)), ("cumsum", (0,)),
                       ("cumprod", (1,)), ("softmax", (1,)), ("log_softmax", (0,)), ("count_nonzero", ()),
                       ("norm", (1,))]:
        np.testing.assert_array_equal(getattr(x, name)(*args).numpy(), getattr(lt, name)(x, *args).numpy())
    assert x.max(1).indices.tolist() == [3, 3, 3] and x.min().item() == 0.0 and x.max().item() == 11.0
    assert x.aminmax(dim=0).max.tolist() == [8.0, 9.0, 10.0, 11.0]


def test_reductions_stay_lazy_and_share_work():
    x = lt.tensor(np.arange(6.0).reshape(2, 3))
    r = lt.max(x, 1)
    from lazytensor import lazy
    from lazytensor.compiler.ops import Op
    assert not lazy.is_realized(r.values) and not lazy.is_realized(r.indices)
    maxes = [n for n in toposort([r.values.node, r.indices.node]) if n.op is Op.MAX_REDUCE]
    # values' MAX_REDUCE is the very node the indices compare against (hash-consed: computed once),
    # plus the one that picks the first index
    assert len(maxes) == 2 and maxes[0] in toposort([r.indices.node])


# ---- hypothesis properties ----

small_shapes = hnp.array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=4)


@settings(max_examples=40, deadline=None)
@given(hnp.arrays(np.int64, small_shapes, elements=st.integers(-50, 50)), st.data())
def test_sum_over_dims_equals_successive_sums(a, data):
    dims = data.draw(st.lists(st.integers(0, a.ndim - 1), min_size=1, max_size=a.ndim, unique=True))
    x = lt.tensor(a)
    whole = lt.sum(x, tuple(dims), keepdim=True)
    step = x
    for d in dims:
        step = step.sum(d, keepdim=True)
    np.testing.assert_array_equal(whole.numpy(), step.numpy())
    np.testing.assert_array_equal(lt.sum(x, tuple(dims)).numpy(), np.sum(a, axis=tuple(dims)))


@settings(max_examples=40, deadline=None)
@given(hnp.arrays(np.float32, small_shapes, elements=st.floats(-30, 30, width=32)), st.data())
def test_softmax_sums_to_one_and_matches_log_softmax(a, data):
    d = data.draw(st.integers(-a.ndim, a.ndim - 1))
    x = lt.tensor(a)
    s = lt.softmax(x, d)
    np.testing.assert_allclose(s.sum(d).numpy(), 1.0, rtol=1e-5)
    assert (s.numpy() >= 0).all()
    np.testing.assert_allclose(lt.log_softmax(x, d).numpy(), np.log(s.numpy()), atol=2e-5)


@settings(max_examples=40, deadline=None)
@given(hnp.arrays(np.float64, small_shapes, elements=st.floats(-5, 5)), st.sampled_from([1000.0, -1000.0, 1e6]),
       st.data())
def test_logsumexp_is_stable_for_large_inputs(a, shift, data):
    d = data.draw(st.integers(-a.ndim, a.ndim - 1))
    base = lt.logsumexp(lt.tensor(a), d).numpy()
    shifted = lt.logsumexp(lt.tensor(a + shift), d).numpy()
    assert np.isfinite(shifted).all()
    np.testing.assert_allclose(shifted, base + shift, rtol=1e-12, atol=1e-9 * abs(shift))


@settings(max_examples=40, deadline=None)
@given(hnp.arrays(np.int64, hnp.array_shapes(min_dims=1, max_dims=3, max_side=40), elements=st.integers(-9, 9)),
       st.data())
def test_cumsum_differences_give_back_the_input(a, data):
    d = data.draw(st.integers(0, a.ndim - 1))
    c = lt.cumsum(lt.tensor(a), d).numpy()
    np.testing.assert_array_equal(np.diff(c, axis=d, prepend=0), a)
    np.testing.assert_array_equal(np.take(c, [-1], axis=d).squeeze(d), lt.sum(lt.tensor(a), d).numpy())


@settings(max_examples=40, deadline=None)
@given(hnp.arrays(np.float32, small_shapes, elements=st.floats(-100, 100, width=32) | st.just(np.nan)), st.data())
def test_extremes_and_their_indices_agree(a, data):
    d = data.draw(st.integers(-a.ndim, a.ndim - 1))
    x = lt.tensor(a)
    values, indices = lt.max(x, d, keepdim=True)
    picked = np.take_along_axis(a, indices.numpy(), axis=d)
    np.testing.assert_array_equal(picked, values.numpy())
    np.testing.assert_array_equal(lt.min(x, d).values.numpy(), (-lt.amax(-x, d)).numpy())
    np.testing.assert_array_equal(lt.argmax(x).item(), np.argmax(a))
    np.testing.assert_array_equal(lt.argmin(x, d).numpy(), np.argmin(a, axis=d))


@settings(max_examples=40, deadline=None)
@given(hnp.arrays(np.float64, small_shapes, elements=st.floats(-10, 10)), st.data())
def test_var_std_mean_relations(a, data):
    dims = tuple(data.draw(st.lists(st.integers(0, a.ndim - 1), min_size=1, max_size=a.ndim, unique=True)))
    x = lt.tensor(a)
    n = math.prod(a.shape[i] for i in dims)
    v0 = lt.var(x, dims, correction=0).numpy()
    m = lt.mean(x, dims).numpy()
    np.testing.assert_allclose(v0, lt.mean(x * x, dims).numpy() - m * m, atol=1e-9)
    s, mm = lt.std_mean(x, dims, keepdim=True)
    np.testing.assert_allclose(s.numpy() ** 2, lt.var(x, dims, keepdim=True).numpy(), atol=1e-9)
    np.testing.assert_allclose(mm.numpy(), np.mean(a, axis=dims, keepdims=True), atol=1e-12)
    if n > 1:
        np.testing.assert_allclose(lt.var(x, dims).numpy(), np.var(a, axis=dims, ddof=1), atol=1e-9)


@settings(max_examples=30, deadline=None)
@given(hnp.arrays(np.float64, small_shapes, elements=st.floats(-10, 10)),
       st.sampled_from([1, 2, 3, 0.5, math.inf, -math.inf, 0]))
def test_norm_matches_numpy(a, p):
    got = lt.norm(lt.tensor(a), p).item()
    want = np.linalg.norm(a.ravel(), ord=p)
    assert got == pytest.approx(want, rel=1e-9, abs=1e-12)


@settings(max_examples=30, deadline=None)
@given(hnp.arrays(st.sampled_from([np.int32, np.uint8, np.bool_]), small_shapes), st.data())
def test_all_any_count_nonzero(a, data):
    d = data.draw(st.integers(-a.ndim, a.ndim - 1))
    x = lt.tensor(a)
    want_dtype = np.uint8 if a.dtype == np.uint8 else np.bool_
    assert lt.all(x, d).numpy().dtype == want_dtype
    np.testing.assert_array_equal(lt.all(x, d).numpy(), np.all(a, axis=d))
    np.testing.assert_array_equal(lt.any(x).numpy(), np.any(a))
    np.testing.assert_array_equal(lt.count_nonzero(x, d).numpy(), np.count_nonzero(a, axis=d))


@settings(max_examples=25, deadline=None)
@given(hnp.arrays(np.float32, small_shapes, elements=st.floats(-3, 3, width=32)), st.data())
@needs_torch
def test_against_torch_random(a, data):
    d = data.draw(st.integers(-a.ndim, a.ndim - 1))
    x, t = lt.tensor(a), torch.tensor(a)
    compare(lt.cumprod(x, d), torch.cumprod(t, d))
    compare(lt.max(x, d), torch.max(t, d))
    compare(lt.std(x, d, keepdim=True), torch.std(t, d, keepdim=True))
    compare(lt.logsumexp(x, d), torch.logsumexp(t, d))
    compare(lt.norm(x, 3, d), torch.norm(t, 3, d))


def test_float_tolerances_cover_every_float_dtype():
    assert set(TOL) == set(FLOAT_TOL)


# ---- sum's fast paths (one axis, every axis) build the general path's nodes ----

@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "int64", "bool"])
def test_sum_one_axis_fast_path_builds_the_general_nodes(dtype):
    d = getattr(lt, dtype)
    for shape in ((5,), (2, 3), (2, 3, 4), (2, 0, 3), (1, 1)):
        x = lt.ones(shape, dtype=d)
        for dim in range(-len(shape), len(shape)):
            for keepdim in (False, True):
                for t in (x, x.transpose(0, -1)):
                    fast = t.sum(dim, keepdim=keepdim)
                    verify([fast.node])  # the types the fast path gives its nodes are the rules' own
                    general = t.sum((dim,), keepdim=keepdim)  # a tuple of dims: the general path
                    assert fast.node is general.node and fast.dtype is general.dtype and fast.shape == general.shape
            whole = t.sum()  # every axis: its own fast path
            verify([whole.node])
            general = t.sum(tuple(range(len(shape))))
            assert whole.node is general.node and whole.dtype is general.dtype and whole.shape == ()
    with pytest.raises(IndexError, match="Dimension out of range"):
        lt.ones(2, 3).sum(2)
    assert lt.ones(()).sum(0).shape == ()  # 0-d: the general path
