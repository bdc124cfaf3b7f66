"""Tests for lazytensor.random: generators, reproducibility, laziness, distributions, shapes, dtypes, errors.

The streams are lazytensor's own (the same seed does not give PyTorch's numbers), so PyTorch is
the reference for signatures, shapes, dtypes and errors, and the distributions are checked
statistically on 10**5 samples with tolerances of several standard errors.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import lazytensor as lt
from lazytensor.compiler.ir import toposort
from lazytensor.compiler.ops import Op
from lt_testing import torch, torch_dtype

needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch is not installed")

N = 100_000
FLOATS = [lt.float32, lt.float64, lt.float16, lt.bfloat16]


def _ops(t) -> set:
    return {n.op for n in toposort([t.node])}


def _values(t) -> np.ndarray:
    return t.numpy().astype(np.float64)


# ---- reproducibility and streams ----

@pytest.mark.parametrize("make", [
    lambda g: lt.rand(3, 4, generator=g),
    lambda g: lt.randn(5, generator=g, dtype=lt.float64),
    lambda g: lt.randint(3, 9, (7,), generator=g),
    lambda g: lt.randperm(8, generator=g),
    lambda g: lt.normal(2.0, 3.0, (4,), generator=g),
    lambda g: lt.bernoulli(lt.full((6,), 0.5), generator=g),
    lambda g: lt.multinomial(lt.ones(5), 3, generator=g),
    lambda g: lt.zeros(4).uniform_(-1, 1, generator=g),
])
def test_same_seed_same_numbers(make):
    lt.manual_seed(1234)
    a = make(None).numpy()
    lt.manual_seed(1234)
    b = make(None).numpy()
    np.testing.assert_array_equal(a, b)
    g1, g2 = lt.Generator().manual_seed(99), lt.Generator().manual_seed(99)
    np.testing.assert_array_equal(make(g1).numpy(), make(g2).numpy())
    g3 = lt.Generator().manual_seed(100)
    assert not np.array_equal(make(lt.Generator().manual_seed(99)).numpy(), make(g3).numpy())


def test_successive_draws_differ_and_advance_the_offset():
    g = lt.Generator().manual_seed(5)
    a = lt.rand(1000, generator=g)
    assert g.get_offset() == 1000
    b = lt.rand(1000, generator=g)
    assert g.get_offset() == 2000
    lt.randn(10, generator=g)  # Box-Muller: two uniforms per sample
    assert g.get_offset() == 2020
    x, y = a.numpy(), b.numpy()
    assert not np.array_equal(x, y)
    assert abs(np.corrcoef(x, y)[0, 1]) < 0.1


def test_a_generator_leaves_the_default_stream_alone():
    lt.manual_seed(7)
    want = lt.rand(5).numpy()
    lt.manual_seed(7)
    lt.rand(100, generator=lt.Generator().manual_seed(7))
    np.testing.assert_array_equal(lt.rand(5).numpy(), want)


def test_values_do_not_depend_on_shape_or_later_work():
    lt.manual_seed(11)
    flat = lt.rand(20).numpy()
    lt.manual_seed(11)
    grid = lt.rand(4, 5)
    (grid * 2 + 1).numpy()  # observe something built on it first
    np.testing.assert_array_equal(grid.numpy(), flat.reshape(4, 5))
    # the same draw, fused into different graphs, gives the same values
    lt.manual_seed(11)
    fused = (lt.rand(4, 5) * 3).numpy()
    np.testing.assert_array_equal(fused, flat.reshape(4, 5) * np.float32(3))
    lt.config.set(EAGER=True)
    lt.manual_seed(11)
    np.testing.assert_array_equal(lt.rand(4, 5).numpy(), flat.reshape(4, 5))


def test_seed_state_and_fork_rng():
    g = lt.Generator()
    assert g.initial_seed() == 67280421310721 and g.device == lt.device("cpu")
    assert g.manual_seed(-1) is g and g.initial_seed() == 2 ** 64 - 1
    s = g.seed()
    assert isinstance(s, int) and 0 <= s < 2 ** 64 and g.initial_seed() == s
    lt.rand(3, generator=g)
    state = g.get_state()
    assert state.dtype is lt.uint8 and tuple(state.shape) == (16,)
    a = lt.rand(4, generator=g).numpy()
    assert g.set_state(state) is g
    np.testing.assert_array_equal(lt.rand(4, generator=g).numpy(), a)

    assert lt.manual_seed(3) is lt.default_generator and lt.initial_seed() == 3
    st_ = lt.get_rng_state()
    a = lt.randn(3).numpy()
    lt.set_rng_state(st_)
    np.testing.assert_array_equal(lt.randn(3).numpy(), a)
    before = lt.random.default_generator.get_offset()
    with lt.random.fork_rng():
        lt.rand(50)
    assert lt.random.default_generator.get_offset() == before
    assert lt.seed() == lt.initial_seed()


def test_seed_and_state_errors():
    g = lt.Generator()
    with pytest.raises(RuntimeError, match="manual_seed expected a long, but got float"):
        g.manual_seed(1.5)
    with pytest.raises(ValueError, match="Overflow when unpacking long long"):
        g.manual_seed(2 ** 64)
    with pytest.raises(TypeError, match="RNG state must be a torch.ByteTensor"):
        g.set_state(lt.zeros(16))
    with pytest.raises(RuntimeError, match="RNG state size to be 3"):
        g.set_state(lt.zeros(3, dtype=lt.uint8))
    assert lt.manual_seed(2.7).initial_seed() == 2  # torch.manual_seed converts with int()


@needs_torch
def test_seed_errors_match_torch():
    for bad in (1.5, "a", 2 ** 64, -2 ** 63 - 1):
        want = _raised(lambda: torch.Generator().manual_seed(bad))
        got = _raised(lambda: lt.Generator().manual_seed(bad))
        assert type(got) is type(want) and str(got) == str(want)


def test_seed_zero_does_not_start_at_zero():
    lt.manual_seed(0)
    assert lt.rand(1).item() != 0.0
    lt.manual_seed(0)
    assert lt.randn(1).item() != 0.0


# ---- laziness ----

def test_rand_is_lazy():
    t = lt.rand(3, 4)
    assert t.node.op is Op.RAND and t._buffer is None
    assert t.node.dtype is lt.float32 and t.node.shape == (3, 4)
    for t in (lt.randn(5), lt.rand(3, dtype=lt.float16), lt.randint(0, 10, (4,)), lt.normal(0.0, 1.0, (3,)),
              lt.bernoulli(lt.full((3,), 0.3)), lt.rand_like(lt.ones(2)), lt.randint_like(lt.ones(2), 5),
              lt.randn_like(lt.ones(2, dtype=lt.float64))):
        ops = _ops(t)
        assert Op.RAND in ops and Op.BUFFER not in ops and t._buffer is None
    half = lt.rand(3, dtype=lt.float16).node
    assert half.op is Op.RAND and half.dtype is lt.float16


def test_inplace_samplers_are_lazy():
    x = lt.zeros(3, 3)
    x.normal_()
    assert x._buffer is None and Op.RAND in _ops(x)


def test_randperm_and_multinomial_flush_to_stored_int64():
    p = lt.randperm(10)
    assert p.dtype is lt.int64 and p._buffer is not None
    m = lt.multinomial(lt.ones(2, 4), 3)
    assert m.dtype is lt.int64 and tuple(m.shape) == (2, 3) and m._buffer is not None


# ---- uniform ----

@pytest.mark.parametrize("dtype", FLOATS)
def test_rand_statistics(dtype):
    lt.manual_seed(21)
    u = _values(lt.rand(N, dtype=dtype))
    assert u.min() >= 0.0 and u.max() < 1.0
    assert abs(u.mean() - 0.5) < 5 * math.sqrt(1 / 12 / N)
    assert abs(u.var() - 1 / 12) < 0.003
    # 8 bins: bfloat16's 256 values split evenly among them
    hist, _ = np.histogram(u, bins=8, range=(0, 1))
    chi2 = ((hist - N / 8) ** 2 / (N / 8)).sum()
    assert chi2 < 35  # 7 degrees of freedom: p < 1e-5 beyond this


@pytest.mark.parametrize("dtype, digits", [(lt.float16, 11), (lt.bfloat16, 8)])
def test_half_rand_uses_the_mantissa_bits_and_never_rounds_to_one(dtype, digits):
    lt.manual_seed(22)
    u = _values(lt.rand(N, dtype=dtype))
    assert u.max() < 1.0
    np.testing.assert_array_equal(u * 2 ** digits, np.round(u * 2 ** digits))


def test_float64_rand_has_more_than_float32_bits():
    lt.manual_seed(23)
    u = lt.rand(1000, dtype=lt.float64).numpy()
    assert np.any(u * 2 ** 24 != np.round(u * 2 ** 24))


def test_uniform_inplace_through_views():
    base = lt.zeros(4, 6)
    view = base.transpose(0, 1).narrow(0, 2, 3)  # columns 2..4 of base, transposed
    assert view.uniform_(2, 3) is view
    b = base.numpy()
    inside = b[:, 2:5]
    assert np.all((inside >= 2) & (inside < 3))
    assert np.all(b[:, :2] == 0) and np.all(b[:, 5:] == 0)
    arr = np.zeros((3, 4), np.float32)
    shared = lt.from_numpy(arr)
    shared.narrow(1, 1, 2).uniform_(-1, 0)
    assert np.all((arr[:, 1:3] >= -1) & (arr[:, 1:3] < 0)) and np.all(arr[:, [0, 3]] == 0)


def test_uniform_range_statistics():
    lt.manual_seed(24)
    x = _values(lt.empty(N, dtype=lt.float64).uniform_(-3, 5))
    assert x.min() >= -3 and x.max() < 5
    assert abs(x.mean() - 1) < 5 * 8 / math.sqrt(12 * N)


# ---- normal ----

def _normal_checks(z: np.ndarray, mean: float = 0.0, std: float = 1.0):
    """Moments and tail masses of N(mean, std**2), each within 5 standard errors."""
    n = len(z)
    assert abs(z.mean() - mean) < 5 * std / math.sqrt(n)
    assert abs(z.std() / std - 1) < 5 / math.sqrt(2 * n)
    u = (z - mean) / std
    assert abs(np.mean(u ** 3)) < 5 * math.sqrt(15 / n)  # skewness: Var(z**3) = 15
    assert abs(np.mean(u ** 4) - 3) < 5 * math.sqrt(96 / n)  # kurtosis: Var(z**4) = 96
    for k, p in ((1, 0.682689), (2, 0.954500), (3, 0.997300)):
        assert abs(np.mean(np.abs(u) < k) - p) < 5 * math.sqrt(p * (1 - p) / n)


@pytest.mark.parametrize("dtype", FLOATS)
def test_randn_statistics(dtype):
    lt.manual_seed(31)
    z = _values(lt.randn(N, dtype=dtype))
    assert np.all(np.isfinite(z))
    _normal_checks(z)


def test_randn_is_roughly_normal_by_kolmogorov_smirnov():
    scipy_stats = pytest.importorskip("scipy.stats")
    lt.manual_seed(32)
    z = _values(lt.randn(N, dtype=lt.float64))
    assert scipy_stats.kstest(z, "norm").pvalue > 1e-4


def test_normal_forms():
    lt.manual_seed(33)
    _normal_checks(_values(lt.normal(2.0, 3.0, (N,))), 2.0, 3.0)
    _normal_checks(_values(lt.normal(lt.full((N,), -1.0), 0.5)), -1.0, 0.5)
    _normal_checks(_values(lt.normal(1.0, lt.full((N,), 2.0))), 1.0, 2.0)
    both = lt.normal(lt.zeros(2, 1, dtype=lt.float64), lt.ones(3))
    assert tuple(both.shape) == (2, 3) and both.dtype is lt.float64
    _normal_checks(_values(lt.empty(N).normal_(4, 0.25)), 4, 0.25)
    means = lt.tensor([0.0, 100.0]).reshape(2, 1).expand(2, N // 2)
    rows = _values(lt.normal(means, 1.0))
    _normal_checks(rows[0]), _normal_checks(rows[1], 100.0)


def test_lognormal_exponential_cauchy_geometric_bernoulli():
    lt.manual_seed(34)
    x = _values(lt.empty(N, dtype=lt.float64).log_normal_(0.5, 0.25))
    _normal_checks(np.log(x), 0.5, 0.25)
    e = _values(lt.empty(N).exponential_(2.0))
    assert e.min() >= 0 and abs(e.mean() - 0.5) < 5 * 0.5 / math.sqrt(N)
    assert abs(np.mean(e > 1.0) - math.exp(-2.0)) < 0.005
    c = _values(lt.empty(N).cauchy_(1.0, 2.0))
    assert abs(np.median(c) - 1.0) < 0.05 and abs(np.mean(np.abs(c - 1) < 2) - 0.5) < 0.01
    for dtype in (lt.float32, lt.int64):
        g = _values(lt.empty(N, dtype=dtype).geometric_(0.25))
        assert g.min() >= 1 and np.all(g == np.round(g))
        assert abs(g.mean() - 4) < 5 * math.sqrt(0.75 / 0.25 ** 2 / N)
    for dtype in (lt.float32, lt.int64, lt.bool):
        b = _values(lt.empty(N, dtype=dtype).bernoulli_(0.3))
        assert set(np.unique(b)) <= {0.0, 1.0} and abs(b.mean() - 0.3) < 5 * math.sqrt(0.21 / N)
    probs = lt.tensor([0.0, 1.0, 0.5]).reshape(3, 1).expand(3, N // 10)
    b = _values(lt.bernoulli(probs))
    assert b[0].sum() == 0 and b[1].min() == 1 and abs(b[2].mean() - 0.5) < 0.02
    b = _values(lt.zeros(3, N // 10).bernoulli_(lt.tensor([0.1, 0.5, 0.9]).reshape(3, 1)))
    np.testing.assert_allclose(b.mean(axis=1), [0.1, 0.5, 0.9], atol=0.02)
    assert lt.bernoulli(lt.ones(4, dtype=lt.int64), 0.5).dtype is lt.int64


# ---- integers ----

@pytest.mark.parametrize("low, high", [(0, 10), (-5, 5), (3, 4), (0, 2 ** 30), (-2 ** 40, 2 ** 40), (0, 2 ** 62),
                                       (-2 ** 63, 2 ** 63 - 1), (0, 2 ** 63 - 1), (-2 ** 62, 2 ** 63 - 1)])
def test_randint_range_and_dtype(low, high):
    lt.manual_seed(41)
    r = lt.randint(low, high, (20_000,))
    assert r.dtype is lt.int64 and tuple(r.shape) == (20_000,)
    v = r.numpy()
    assert v.min() >= low and v.max() < high
    span = high - low
    if span <= 10:
        assert set(np.unique(v)) == set(range(low, high))
    elif span < 2 ** 63:  # wider ranges are reduced modulo the range, biased as in PyTorch
        # the mean of a discrete uniform, within 6 standard errors
        mid = (low + high - 1) / 2
        assert abs(v.astype(np.float64).mean() - mid) < 6 * span / math.sqrt(12 * len(v))


def test_randint_forms_and_dtypes():
    lt.manual_seed(42)
    assert tuple(lt.randint(5, (2, 3)).shape) == (2, 3)
    assert tuple(lt.randint(2, 5, size=(4,)).shape) == (4,)
    assert tuple(lt.randint(high=5, size=(4,)).shape) == (4,)
    assert tuple(lt.randint(0, 5, lt.Size([2, 2])).shape) == (2, 2)
    for dtype in (lt.float32, lt.float64, lt.int8, lt.uint8, lt.int16, lt.int32, lt.bool, lt.bfloat16):
        high = 2 if dtype is lt.bool else 7
        v = lt.randint(0, high, (500,), dtype=dtype)
        assert v.dtype is dtype
        a = _values(v)
        assert a.min() >= 0 and a.max() < high and np.all(a == np.round(a))
    x = lt.zeros(1000, dtype=lt.int8).random_()
    assert x.numpy().min() >= 0 and x.numpy().max() > 100
    f = _values(lt.zeros(N).random_())
    assert f.min() >= 0 and f.max() <= 2 ** 24 and f.max() > 2 ** 23
    assert set(np.unique(_values(lt.zeros(1000).random_(3)))) == {0, 1, 2}
    assert set(np.unique(_values(lt.zeros(1000).random_(3, 6)))) == {3, 4, 5}
    assert set(np.unique(lt.zeros(200, dtype=lt.bool).random_().numpy())) == {False, True}
    big = lt.zeros(1000, dtype=lt.int64).random_(-3, None).numpy()
    assert big.min() >= -3 and big.max() > 2 ** 60
    like = lt.randint_like(lt.ones(3, 2, dtype=lt.float16), 4, 9)
    assert like.dtype is lt.float16 and tuple(like.shape) == (3, 2) and _values(like).min() >= 4


def test_randint_is_uniform():
    lt.manual_seed(43)
    v = lt.randint(0, 7, (N,)).numpy()
    counts = np.bincount(v, minlength=7)
    chi2 = ((counts - N / 7) ** 2 / (N / 7)).sum()
    assert chi2 < 35  # 6 degrees of freedom


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 60), st.integers(0, 2 ** 32))
def test_randperm_is_a_permutation(n, seed):
    g = lt.Generator().manual_seed(seed)
    p = lt.randperm(n, generator=g)
    assert p.dtype is lt.int64 and tuple(p.shape) == (n,)
    assert sorted(p.tolist()) == list(range(n))
    assert g.get_offset() == n


def test_randperm_shuffles_evenly():
    lt.manual_seed(44)
    first = np.array([lt.randperm(4).numpy()[0] for _ in range(2000)])
    counts = np.bincount(first, minlength=4)
    assert counts.min() > 400  # 500 expected each
    assert lt.randperm(5, dtype=lt.float32).dtype is lt.float32


# ---- multinomial ----

def test_multinomial_frequencies():
    lt.manual_seed(51)
    w = lt.tensor([1.0, 0.0, 3.0, 6.0])
    s = lt.multinomial(w, N, replacement=True).numpy()
    freq = np.bincount(s, minlength=4) / N
    np.testing.assert_allclose(freq, [0.1, 0.0, 0.3, 0.6], atol=0.006)
    rows = lt.multinomial(lt.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 2.0]]), 1)
    assert rows.tolist() == [[0], [2]]
    # without replacement: each row a set of distinct categories with non-zero weight
    picks = lt.multinomial(lt.tensor([[1.0, 2.0, 0.0, 3.0]] * 500), 3).numpy()
    assert all(sorted(r) == [0, 1, 3] for r in picks)
    first = np.bincount(picks[:, 0], minlength=4) / 500
    np.testing.assert_allclose(first, [1 / 6, 2 / 6, 0, 3 / 6], atol=0.07)
    one = lt.multinomial(lt.ones(6, dtype=lt.float64), 6)
    assert sorted(one.tolist()) == list(range(6))
    assert tuple(lt.multinomial(lt.ones(0, 3), 2).shape) == (0, 2)


# ---- shapes, dtypes and arguments like PyTorch's factories ----

FACTORIES = [
    lambda L, **k: L.rand(2, 3, **k),
    lambda L, **k: L.rand((2, 3), **k),
    lambda L, **k: L.rand([4], **k),
    lambda L, **k: L.rand(size=(1, 2), **k),
    lambda L, **k: L.rand((), **k),
    lambda L, **k: L.rand(0, 3, **k),
    lambda L, **k: L.randn(3, 1, 2, **k),
    lambda L, **k: L.randn((), **k),
    lambda L, **k: L.rand_like(L.ones(2, 2), **k),
    lambda L, **k: L.randn_like(L.ones(3, dtype=L.float64), **k),
    lambda L, **k: L.normal(0.0, 1.0, (2, 2), **k),
]


@needs_torch
@pytest.mark.parametrize("case", range(len(FACTORIES)))
@pytest.mark.parametrize("dtype", [None] + FLOATS)
def test_factory_shapes_and_dtypes_match_torch(case, dtype):
    kwargs = {} if dtype is None else {"dtype": dtype}
    got = FACTORIES[case](lt, **kwargs)
    want = FACTORIES[case](torch, **({} if dtype is None else {"dtype": torch_dtype(dtype)}))
    assert tuple(got.shape) == tuple(want.shape)
    assert got.dtype.name == str(want.dtype).removeprefix("torch.")


@needs_torch
def test_integer_factories_match_torch():
    for build in (lambda L: L.randint(5, (3,)), lambda L: L.randint(1, 5, (2, 2), dtype=L.int16),
                  lambda L: L.randperm(4), lambda L: L.randperm(4, dtype=L.float64),
                  lambda L: L.randint_like(L.ones(2, dtype=L.float32), 5),
                  lambda L: L.multinomial(L.ones(2, 3), 2), lambda L: L.multinomial(L.ones(3), 5, True),
                  lambda L: L.bernoulli(L.ones(3, dtype=L.float64) / 2),
                  lambda L: L.normal(L.zeros(3), L.ones(2, 3, dtype=L.float64)),
                  lambda L: L.normal(0.0, L.ones(3, dtype=L.float16))):
        got, want = build(lt), build(torch)
        assert tuple(got.shape) == tuple(want.shape)
        assert got.dtype.name == str(want.dtype).removeprefix("torch.")


def test_requires_grad_and_device():
    t = lt.randn(3, requires_grad=True, device="cpu")
    assert t.requires_grad and t.is_leaf
    with pytest.raises(RuntimeError, match="Only Tensors of floating point"):
        lt.randint(3, (2,), requires_grad=True)
    with pytest.raises(RuntimeError, match="CUDA"):
        lt.rand(3, device="cuda")


def _raised(fn):
    try:
        fn()
    except Exception as e:  # noqa: BLE001 - the tests compare whatever both libraries raise
        return e
    return None


ERROR_CASES = [
    lambda L: L.rand(3, dtype=L.int64),
    lambda L: L.rand(3, dtype=L.bool),
    lambda L: L.randn(3, dtype=L.int64),
    lambda L: L.rand(-1),
    lambda L: L.rand(2.5),
    lambda L: L.randint(5, 5, (3,)),
    lambda L: L.randint(5, 2, (3,)),
    lambda L: L.randint(0, 5, (3,), dtype=L.bool),
    lambda L: L.randint(0, 300, (3,), dtype=L.uint8),
    lambda L: L.randint(-5, 3, (3,), dtype=L.uint8),
    lambda L: L.randint(0, 2 ** 63, (3,)),
    lambda L: L.randint(5, 3),
    lambda L: L.randperm(-1),
    lambda L: L.randperm(3.5),
    lambda L: L.randperm(300, dtype=L.int8),
    lambda L: L.randperm(3, dtype=L.bool),
    lambda L: L.randperm(3000, dtype=L.float16),
    lambda L: L.normal(0.0, -1.0, (3,)),
    lambda L: L.normal(L.zeros(3), -1.0),
    lambda L: L.normal(L.zeros(3, dtype=L.int64), L.ones(3)),
    lambda L: L.normal(0.0, L.ones(3, dtype=L.int64)),
    lambda L: L.bernoulli(L.full((3,), 0.5), 2.0),
    lambda L: L.bernoulli(L.ones(3, dtype=L.int64)),
    lambda L: L.multinomial(L.tensor([0.1, 0.0, 0.9]), 4),
    lambda L: L.multinomial(L.tensor([0.1, 0.0, 0.9]), 0),
    lambda L: L.multinomial(L.tensor([1, 2]), 1),
    lambda L: L.multinomial(L.tensor([1.0, -2.0]), 1),
    lambda L: L.multinomial(L.tensor([1.0, float("nan")]), 1),
    lambda L: L.multinomial(L.tensor([0.0, 0.0]), 1),
    lambda L: L.multinomial(L.ones(2, 2, 2), 1),
    lambda L: L.multinomial(L.ones(()), 1),
    lambda L: L.zeros(5).random_(6, 3),
    lambda L: L.zeros(5, dtype=L.int8).random_(300),
    lambda L: L.zeros(5, dtype=L.int32).random_(0, 2 ** 40),
    lambda L: L.zeros(5).uniform_(3, 2),
    lambda L: L.zeros(5, dtype=L.int64).uniform_(0, 1),
    lambda L: L.zeros(5).uniform_(0, float("inf")),
    lambda L: L.zeros(5).uniform_(-3e38, 3e38),
    lambda L: L.zeros(5, dtype=L.float16).uniform_(0, 1e6),
    lambda L: L.zeros(5, dtype=L.bfloat16).uniform_(0, 3.5e38),
    lambda L: L.zeros(5).normal_(0, -1),
    lambda L: L.zeros(5, dtype=L.int64).normal_(),
    lambda L: L.zeros(5).exponential_(0),
    lambda L: L.zeros(5, dtype=L.int64).exponential_(),
    lambda L: L.zeros(5).geometric_(1),
    lambda L: L.zeros(5, dtype=L.bool).geometric_(0.5),
    lambda L: L.zeros(5).cauchy_(0, -1),
    lambda L: L.zeros(5, dtype=L.int64).cauchy_(),
    lambda L: L.zeros(5).log_normal_(1, 0),
    lambda L: L.zeros(5, dtype=L.int64).log_normal_(),
    lambda L: L.zeros(5).bernoulli_(1.5),
    lambda L: L.rand_like(L.zeros(2, dtype=L.int64)),
]


@needs_torch
@pytest.mark.parametrize("case", range(len(ERROR_CASES)))
def test_errors_match_torch(case):
    want = _raised(lambda: ERROR_CASES[case](torch))
    got = _raised(lambda: ERROR_CASES[case](lt))
    assert want is not None, "the case should fail in torch"
    assert type(got) is type(want), f"{type(got).__name__}: {got} vs torch {type(want).__name__}: {want}"
    assert str(got).split("\n")[0] == str(want).split("\n")[0]


def test_errors_without_torch():
    with pytest.raises(NotImplementedError, match="\"check_uniform_bounds\" not implemented for 'Long'"):
        lt.rand(3, dtype=lt.int64)
    with pytest.raises(RuntimeError, match="random_ expects 'from' to be less than 'to', but got from=5 >= to=5"):
        lt.randint(5, 5, (3,))
    with pytest.raises(RuntimeError, match="normal expects std >= 0.0, but found std -1"):
        lt.normal(0.0, -1.0, (3,))
    with pytest.raises(RuntimeError, match="cannot sample n_sample > prob_dist.size"):
        lt.multinomial(lt.ones(3), 4)
    with pytest.raises(TypeError):
        lt.rand()


@needs_torch
def test_float_random_beyond_the_mantissa_warns_like_torch():
    with pytest.warns(UserWarning, match="to - 1 is out of bounds"):
        lt.zeros(3).random_(0, 2 ** 25)
