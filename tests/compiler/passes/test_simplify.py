"""Tests for compiler/passes/simplify.py: folding and exact identities, checked as structure."""
from __future__ import annotations

import math
import sys
import os

import numpy as np
import pytest

from lazytensor.compiler import dtypes as dt
from lazytensor.compiler.ops import Op, make
from lazytensor.compiler.passes import run_pipeline
from lazytensor.compiler.passes.simplify import simplify_nodes, uniform_const
from lazytensor.compiler.text import print_graph
from lazytensor.compiler.verify import verify

sys.path.insert(0, os.path.dirname(__file__))
from graphs import const, leaf  # noqa: E402


def simp(n):
    (out,) = simplify_nodes([n])
    verify([out])
    return out


@pytest.mark.parametrize("dtype, one", [(dt.float32, 1.0), (dt.int32, 1), (dt.bool_, True)])
def test_mul_by_one_is_dropped(dtype, one):
    x = leaf((2, 3), dtype)
    assert simp(make(Op.MUL, (x, const(one, dtype, (2, 3))))) is x
    assert simp(make(Op.MUL, (const(one, dtype, (2, 3)), x))) is x


def test_add_negative_zero_is_dropped_but_positive_zero_is_kept():
    x = leaf((4,))
    assert simp(make(Op.ADD, (x, const(-0.0, dt.float32, (4,))))) is x
    plus = make(Op.ADD, (x, const(0.0, dt.float32, (4,))))
    assert simp(plus) is plus  # -0.0 + 0.0 is +0.0: not an identity
    i = leaf((4,), dt.int64)
    assert simp(make(Op.ADD, (i, const(0, dt.int64, (4,))))) is i


def test_mul_by_zero_is_kept():
    x = leaf((4,))
    n = make(Op.MUL, (x, const(0.0, dt.float32, (4,))))
    assert simp(n) is n  # nan * 0 is nan


def test_double_neg_cast_and_views():
    x = leaf((2, 3))
    assert simp(make(Op.NEG, (make(Op.NEG, (x,)),))) is x
    assert simp(make(Op.CAST, (x,), dt.float32)) is x
    r = simp(make(Op.RESHAPE, (make(Op.RESHAPE, (x,), (3, 2)),), (6,)))
    assert r.op is Op.RESHAPE and r.srcs[0] is x.srcs[0] or r is x.srcs[0]
    assert simp(make(Op.RESHAPE, (make(Op.RESHAPE, (x,), (6,)),), (2, 3))) is x
    p = simp(make(Op.PERMUTE, (make(Op.PERMUTE, (x,), (1, 0)),), (1, 0)))
    assert p is x
    y = leaf((2, 3, 4))
    q = simp(make(Op.PERMUTE, (make(Op.PERMUTE, (y,), (1, 2, 0)),), (1, 2, 0)))
    assert q.op is Op.PERMUTE and q.srcs[0] is y and q.arg == (2, 0, 1)
    assert simp(make(Op.EXPAND, (x,), (2, 3))) is x


def test_constant_folding_matches_numpy_reference():
    a = const(3.0, dt.float32, (2, 2))
    b = const(0.1, dt.float32, (2, 2))
    n = simp(make(Op.ADD, (make(Op.MUL, (a, b)), b)))
    c = uniform_const(n)
    assert c is not None and n.shape == (2, 2)
    assert c.arg == float(np.float32(3.0) * np.float32(0.1) + np.float32(0.1))
    text = print_graph([n], locations=False)
    assert "MUL" not in text and "ADD" not in text


def test_folding_leaves_integer_division_by_zero_to_the_runtime():
    n = make(Op.IDIV, (const(1, dt.int32, (3,)), const(0, dt.int32, (3,))))
    assert simp(n) is n


def test_folding_of_casts_and_nan():
    n = simp(make(Op.CAST, (const(2.7, dt.float32, (3,)),), dt.int8))
    assert uniform_const(n).arg == 2 and n.dtype is dt.int8
    nan = simp(make(Op.MAX, (const(math.nan, dt.float32, ()), const(1.0, dt.float32, ()))))
    assert math.isnan(nan.arg)


def test_dead_code_is_not_in_the_result():
    x = leaf((3,))
    _unused = make(Op.EXP2, (x,))
    y = make(Op.SQRT, (x,))
    g = run_pipeline([y], "simplify")
    assert "EXP2" not in print_graph(g.outputs)


def test_simplify_keeps_locations():
    x = leaf((3,))
    y = make(Op.SQRT, (make(Op.MUL, (x, const(1.0, dt.float32, (3,)))),))
    out = simp(y)
    assert out.op is Op.SQRT and out.srcs[0] is x and out.loc == y.loc
