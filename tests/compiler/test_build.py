"""Tests for lazytensor.compiler.build: the constant cache gives the constant asked for, and nothing else."""
from __future__ import annotations

import gc
import math
import weakref

import numpy as np

from lazytensor.compiler import build
from lazytensor.compiler import dtypes as dt
from lazytensor.compiler.ir import prune
from lazytensor.compiler.ops import Op, make


def _value(n):
    """The scalar a broadcast constant holds."""
    while n.op is not Op.CONST:
        n = n.srcs[0]
    return n.arg


def test_equal_values_of_different_bits_or_types_are_different_constants():
    shape = (2, 3)
    values = [0.0, -0.0, 0, False, 1, 1.0, True, np.float32(0.0), np.float32(-0.0), np.float64(-0.0),
              float("nan"), float("inf"), 2.5]
    for dtype in (dt.float32, dt.float64):
        nodes = [build.const(v, dtype, shape) for v in values]
        for v, n in zip(values, nodes):
            held = _value(n)
            if isinstance(v, (float, np.floating)) and math.isnan(v):
                assert math.isnan(held)
            else:
                assert held == v and math.copysign(1, held) == math.copysign(1, float(v)), (v, held)
            assert n.shape == shape and n.dtype is dtype
            assert build.const(v, dtype, shape) is n  # asked again: the same node
    assert _value(build.const(-0.0, dt.float32)) == 0 and math.copysign(1, _value(build.const(-0.0, dt.float32))) < 0
    assert _value(build.const(False, dt.int64, (4,))) == 0 == _value(build.const(0, dt.int64, (4,)))
    assert _value(build.const(False, dt.bool_, (4,))) is False


def test_a_cached_constant_is_what_the_builders_make():
    n = build.const(0.75, dt.float32, (3, 1, 2))
    c = make(Op.CONST, arg=0.75, dtype=dt.float32)
    assert n is make(Op.EXPAND, (make(Op.RESHAPE, (c,), (1, 1, 1)),), (3, 1, 2))
    assert build.const(0.75, dt.float32) is c


def test_the_cache_does_not_keep_constants_alive():
    n = build.const(123.25, dt.float64, (5, 7))
    ref = weakref.ref(n)
    del n
    gc.collect()
    prune()
    assert ref() is None
    again = build.const(123.25, dt.float64, (5, 7))  # the dead entry is rebuilt
    assert _value(again) == 123.25 and again.shape == (5, 7)


def test_the_cache_sweeps_dead_entries():
    for i in range(build._sweep_at[0] + 10):
        build.const(i + 0.5, dt.float32, (1,))
    prune()
    assert len(build._const_cache) <= build._sweep_at[0]
