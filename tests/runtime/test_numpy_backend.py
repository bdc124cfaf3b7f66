"""Tests for lazytensor.runtime.numpy_backend: the IR interpreter every backend is checked against."""
from __future__ import annotations

import sys
import weakref

import numpy as np
import pytest

import lazytensor as lt
from lazytensor.compiler import dtypes as dt
from lazytensor.compiler.ir import Buffer
from lazytensor.compiler.ops import REGISTRY, Op, make
from lazytensor.runtime import numpy_backend
from lazytensor.runtime.numpy_backend import FlushError, run


def leaf(a):
    """A node reading array `a`."""
    a = np.asarray(a)
    n = make(Op.BUFFER, arg=Buffer(dt.dtype_from_numpy(a.dtype), a.size, data=a.reshape(-1)))
    return n if n.shape == a.shape else make(Op.RESHAPE, (n,), a.shape)


def here() -> int:
    """The caller's line number."""
    return sys._getframe(1).f_lineno


@pytest.fixture
def spy(monkeypatch):
    """Count calls of an op's numpy reference and watch the arrays it returns."""
    calls: dict[Op, int] = {}
    outputs: list[weakref.ref] = []
    alive_at_call: list[int] = []

    def watch(op):
        row = REGISTRY[op]
        original = row.numpy

        def counted(xs, n):
            calls[op] = calls.get(op, 0) + 1
            alive_at_call.append(sum(r() is not None for r in outputs))
            out = original(xs, n)
            outputs.append(weakref.ref(out))
            return out

        monkeypatch.setattr(row, "numpy", counted)

    watch.calls, watch.alive_at_call = calls, alive_at_call
    return watch


def test_run_computes_every_output():
    a, b = leaf(np.array([[1.0, -2.0], [3.0, 4.0]])), leaf(np.array([[0.5, 0.5], [2.0, -1.0]]))
    s = make(Op.ADD, (a, b))
    m = make(Op.MAX_REDUCE, (make(Op.MUL, (a, b)),), (1,))
    out_s, out_m, out_a = run([s, m, a])
    np.testing.assert_array_equal(out_s, [[1.5, -1.5], [5.0, 3.0]])
    np.testing.assert_array_equal(out_m, [[0.5], [6.0]])
    np.testing.assert_array_equal(out_a, [[1.0, -2.0], [3.0, 4.0]])
    assert out_s.dtype == np.float64


def test_shared_subgraphs_run_once(spy):
    spy(Op.SIN)
    x = leaf(np.linspace(0, 1, 5, dtype=np.float32))
    shared = make(Op.SIN, (x,))
    y = make(Op.ADD, (shared, shared))
    z = make(Op.MUL, (shared, make(Op.SQRT, (shared,))))
    out_y, out_z, out_shared, again = run([y, z, shared, shared])
    assert spy.calls[Op.SIN] == 1
    np.testing.assert_allclose(out_y, 2 * np.sin(np.linspace(0, 1, 5, dtype=np.float32)))
    assert out_shared is again  # one value per node


def test_equal_graphs_built_twice_are_one_graph(spy):
    spy(Op.EXP2)
    x = leaf(np.arange(3, dtype=np.float32))
    first, second = make(Op.EXP2, (x,)), make(Op.EXP2, (x,))  # hash-consed: the same node
    run([first, second])
    assert spy.calls[Op.EXP2] == 1


def test_intermediates_are_freed_after_their_last_use(spy):
    spy(Op.SIN)
    x = leaf(np.ones(1000, dtype=np.float64))
    chain = [x]
    for _ in range(20):
        chain.append(make(Op.SIN, (chain[-1],)))
    kept = chain[5]
    (out_last, out_kept) = run([chain[-1], kept])
    # while each SIN runs, only its input (the previous SIN's result) and the kept output are alive
    assert max(spy.alive_at_call) <= 2, spy.alive_at_call
    np.testing.assert_allclose(out_kept, np.sin(np.sin(np.sin(np.sin(np.sin(np.ones(1000)))))))
    assert out_last.shape == (1000,)


def test_result_dtype_is_the_node_dtype():
    # numpy would promote int8 + int8 sums or bool adds differently; the backend keeps the IR's dtype
    a = leaf(np.array([100, 27], np.int8))
    (out,) = run([make(Op.SUM, (make(Op.ADD, (a, a)),), (0,))])
    assert out.dtype == np.int8 and out.tolist() == [-2]
    (cast,) = run([make(Op.CAST, (a,), dt.bfloat16)])
    assert cast.dtype == dt.bfloat16.np_dtype


def test_integer_division_by_zero_names_the_user_line():
    a, b = leaf(np.array([4, 5], np.int32)), leaf(np.array([2, 0], np.int32))
    line = here() + 1
    q = make(Op.IDIV, (a, b))
    out = make(Op.NEG, (q,))
    with pytest.raises(ZeroDivisionError) as info:
        run([out])
    assert f"{__file__}:{line}" in str(info.value)
    assert "integer division by zero" in str(info.value) and "IDIV" in str(info.value)


def test_gather_out_of_range_names_the_user_line():
    src, idx = leaf(np.zeros((2, 3), np.float32)), leaf(np.array([[0], [7]], np.int64))
    line = here() + 1
    g = make(Op.GATHER, (src, idx), 1)
    with pytest.raises(IndexError, match=rf"out of bounds .* \(in GATHER built at .*{line}\)"):
        run([g])


def test_other_failures_raise_flush_error_naming_the_node_and_line():
    line = here() + 1
    empty = make(Op.BUFFER, arg=Buffer(dt.float32, 4))  # no data
    y = make(Op.EXP2, (empty,))
    with pytest.raises(FlushError) as info:
        run([y])
    msg = str(info.value)
    assert f"BUFFER f32[4] built at {__file__}:{line} failed" in msg and "has no data" in msg
    assert isinstance(info.value, RuntimeError)


def test_division_by_zero_through_the_tensor_api_names_the_user_line():
    a, b = lt.tensor([1, 2]), lt.tensor([0, 1])
    line = here() + 1
    q = a // b
    with pytest.raises(ZeroDivisionError) as info:
        q.tolist()
    assert f"{__file__}:{line}" in str(info.value)


def test_rand_runs_through_the_backend():
    r = make(Op.RAND, arg=(5, 0), dtype=dt.float32, shape=(4, 4))
    (a,) = run([r])
    (b,) = run([make(Op.RAND, arg=(5, 0), dtype=dt.float32, shape=(4, 4))])
    np.testing.assert_array_equal(a, b)
    assert a.dtype == np.float32 and ((a >= 0) & (a < 1)).all()


def test_allocate_gives_flat_storage():
    out = numpy_backend.allocate(dt.int16, 5)
    assert out.shape == (5,) and out.dtype == np.int16
