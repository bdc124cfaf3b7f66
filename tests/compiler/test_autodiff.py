"""Tests for lazytensor.compiler.autodiff and the gradient rules (compiler/gradients.py): each
differentiable primitive's rule against central finite differences in float64, on random inputs."""
from __future__ import annotations

import numpy as np
import pytest

from lazytensor.compiler import dtypes as dt
from lazytensor.compiler.autodiff import autodiff, gradients
from lazytensor.compiler.gradients import NOT_DIFFERENTIABLE, NON_DIFFERENTIABLE, RULES
from lazytensor.compiler.ops import REGISTRY, Op, make
from lazytensor.runtime.numpy_backend import run
from lt_testing import leaf

F64 = dt.float64


def numeric_grad(build, arrays, seed, which, eps=1e-6):
    """Central differences of sum(build(*arrays) * seed) with respect to arrays[which]."""
    x = arrays[which]
    out = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        vals = []
        for step in (eps, -eps):
            xs = [a.copy() for a in arrays]
            xs[which][i] += step
            (y,) = run([build(*[leaf(a) for a in xs])])
            vals.append(float(np.sum(y * seed)))
        out[i] = (vals[0] - vals[1]) / (2 * eps)
    return out


def check(build, arrays, wrt=None, rtol=1e-6, atol=1e-7):
    """The rule's gradient of `build` equals finite differences for every float input in `wrt`."""
    rng = np.random.default_rng(0)
    nodes = [leaf(a) for a in arrays]
    out = build(*nodes)
    seed = rng.standard_normal(out.shape)
    grads = gradients([out], [leaf(seed)], nodes)
    for k in (wrt if wrt is not None else range(len(arrays))):
        assert grads[k] is not None, f"no gradient for input {k}"
        (got,) = run([grads[k]])
        np.testing.assert_allclose(got, numeric_grad(build, arrays, seed, k), rtol=rtol, atol=atol)


rng = np.random.default_rng(1)


def r(*shape, lo=-2.0, hi=2.0):
    return rng.uniform(lo, hi, shape)


# ---- the registry's cells ----

def test_every_primitive_has_a_rule_or_the_marker():
    for op, row in REGISTRY.items():
        assert callable(row.grad), op
        if op in NON_DIFFERENTIABLE:
            assert row.grad is NOT_DIFFERENTIABLE
        else:
            assert row.grad is RULES[op]


def test_marker_gives_no_gradient():
    a = leaf(r(3))
    n = make(Op.CMPLT, (a, a))
    assert NOT_DIFFERENTIABLE(n, a) == (None, None)


# ---- each rule by finite differences ----

UNARY_CASES = [
    (Op.NEG, lambda x: make(Op.NEG, (x,)), r(2, 3)),
    (Op.EXP2, lambda x: make(Op.EXP2, (x,)), r(2, 3)),
    (Op.LOG2, lambda x: make(Op.LOG2, (x,)), r(2, 3, lo=0.5, hi=3)),
    (Op.SIN, lambda x: make(Op.SIN, (x,)), r(2, 3)),
    (Op.COS, lambda x: make(Op.COS, (x,)), r(2, 3)),
    (Op.SQRT, lambda x: make(Op.SQRT, (x,)), r(2, 3, lo=0.5, hi=3)),
    (Op.RECIP, lambda x: make(Op.RECIP, (x,)), r(2, 3, lo=0.5, hi=3)),
    (Op.TRUNC, lambda x: make(Op.TRUNC, (x,)), r(2, 3) + 0.25),
    (Op.SUM, lambda x: make(Op.SUM, (x,), (0, 2)), r(2, 3, 2)),
    (Op.PROD, lambda x: make(Op.PROD, (x,), (1,)), r(3, 4)),
    (Op.MAX_REDUCE, lambda x: make(Op.MAX_REDUCE, (x,), (1,)), r(3, 4)),
    (Op.RESHAPE, lambda x: make(Op.RESHAPE, (x,), (3, 2)), r(2, 3)),
    (Op.PERMUTE, lambda x: make(Op.PERMUTE, (x,), (2, 0, 1)), r(2, 3, 4)),
    (Op.EXPAND, lambda x: make(Op.EXPAND, (x,), (3, 2, 4)), r(1, 2, 1)),
    (Op.PAD, lambda x: make(Op.PAD, (x,), ((1, 0), (2, 1))), r(2, 3)),
    (Op.SHRINK, lambda x: make(Op.SHRINK, (x,), ((1, 2), (0, 2))), r(3, 3)),
    (Op.FLIP, lambda x: make(Op.FLIP, (x,), (0, 1)), r(2, 3)),
    (Op.CONTIGUOUS, lambda x: make(Op.CONTIGUOUS, (x,)), r(2, 3)),
]


@pytest.mark.parametrize("op, build, x", UNARY_CASES, ids=[c[0].name for c in UNARY_CASES])
def test_unary_rule(op, build, x):
    check(build, [x])


BINARY_CASES = [
    (Op.ADD, r(2, 3), r(2, 3)),
    (Op.MUL, r(2, 3), r(2, 3)),
    (Op.DIV, r(2, 3), r(2, 3, lo=0.5, hi=2)),
    (Op.MAX, r(2, 3), r(2, 3)),
    (Op.MOD, r(2, 3, lo=0.1, hi=3), r(2, 3, lo=0.7, hi=1.3)),
]


@pytest.mark.parametrize("op, a, b", BINARY_CASES, ids=[c[0].name for c in BINARY_CASES])
def test_binary_rule(op, a, b):
    check(lambda x, y: make(op, (x, y)), [a, b])


def test_where_rule():
    c = rng.uniform(size=(3, 4)) < 0.5
    check(lambda a, b: make(Op.WHERE, (leaf(c), a, b)), [r(3, 4), r(3, 4)])


def test_gather_rule_is_a_scatter_add():
    idx = np.array([[0, 2, 2], [1, 1, 3]], dtype=np.int64)  # repeats
    check(lambda s: make(Op.GATHER, (s, leaf(idx)), 1), [r(3, 4)])
    idx0 = np.array([[2, 0], [2, 2]], dtype=np.int64)
    check(lambda s: make(Op.GATHER, (s, leaf(idx0)), 0), [r(3, 3)])


def test_cast_passes_the_gradient_back_in_the_source_dtype():
    a = leaf(r(4))
    seed = r(4)
    (g,) = gradients([make(Op.CAST, (a,), dt.float32)], [leaf(seed.astype(np.float32))], [a])
    assert g.dtype is F64
    np.testing.assert_array_equal(run([g])[0], seed.astype(np.float32).astype(np.float64))
    i = leaf(np.arange(3))
    assert gradients([make(Op.CAST, (i,), F64)], [leaf(r(3))], [i]) == [None]


def test_max_splits_ties_evenly():
    a = leaf(np.array([1.0, 2.0, 3.0]))
    b = leaf(np.array([1.0, 3.0, 2.0]))
    ga, gb = gradients([make(Op.MAX, (a, b))], [leaf(np.ones(3))], [a, b])
    np.testing.assert_array_equal(run([ga, gb])[0], [0.5, 0.0, 1.0])
    np.testing.assert_array_equal(run([gb])[0], [0.5, 1.0, 0.0])


def test_prod_with_zeros_is_exact():
    x = np.array([[2.0, 0.0, 3.0], [0.0, 0.0, 1.0], [1.0, 2.0, 4.0]])
    n = leaf(x)
    (g,) = gradients([make(Op.PROD, (n,), (1,))], [leaf(np.ones((3, 1)))], [n])
    np.testing.assert_array_equal(run([g])[0], [[0.0, 6.0, 0.0], [0.0, 0.0, 0.0], [8.0, 4.0, 2.0]])


# ---- the walk ----

def test_only_paths_to_wrt_are_differentiated():
    a, b = leaf(r(3)), leaf(r(3))
    out = make(Op.MUL, (make(Op.EXP2, (a,)), b))
    ga, gb = gradients([out], [leaf(np.ones(3))], [a, leaf(r(3))])
    assert ga is not None and gb is None


def test_stop_nodes_are_not_crossed():
    a = leaf(r(3))
    inner = make(Op.MUL, (a, a))  # treated as a constant input
    out = make(Op.MUL, (inner, a))
    (g,) = gradients([out], [leaf(np.ones(3))], [a], stop=[inner])
    np.testing.assert_allclose(run([g])[0], run([inner])[0])


def test_several_outputs_sum_their_seeds():
    x = r(4)
    a = leaf(x)
    (g,) = gradients([make(Op.NEG, (a,)), make(Op.MUL, (a, a))], [leaf(np.ones(4)), leaf(np.ones(4))], [a])
    np.testing.assert_allclose(run([g])[0], -1 + 2 * x)


def test_gradients_of_gradients():
    x = r(5)
    a = leaf(x)
    cube = make(Op.MUL, (make(Op.MUL, (a, a)), a))
    (g,) = gradients([cube], [leaf(np.ones(5))], [a])
    (gg,) = gradients([g], [leaf(np.ones(5))], [a])
    np.testing.assert_allclose(run([g])[0], 3 * x * x)
    np.testing.assert_allclose(run([gg])[0], 6 * x)


def test_autodiff_pass_appends_gradients():
    x = r(3)
    a, b = leaf(x), leaf(r(3))
    out = make(Op.SUM, (make(Op.MUL, (a, a)),), (0,))
    nodes = autodiff([out], [leaf(np.ones(1))], [a, b])
    assert nodes[0] is out
    got = run(nodes)
    np.testing.assert_allclose(got[1], 2 * x)
    np.testing.assert_array_equal(got[2], np.zeros(3))


def test_seed_shape_must_match():
    a = leaf(r(3))
    with pytest.raises(ValueError, match="seed shape"):
        gradients([a], [leaf(r(2))], [a])
