"""Broadcasting properties: lazytensor broadcasts exactly as numpy (and PyTorch) do."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp

import lazytensor as lt
from lazytensor.tensor import broadcast_shapes
from lt_testing import torch


@settings(max_examples=60, deadline=None)
@given(hnp.mutually_broadcastable_shapes(num_shapes=3, min_dims=0, max_dims=4, max_side=4), st.data())
def test_broadcasting_matches_numpy(shapes, data):
    a, b, c = (data.draw(hnp.arrays(np.float32, s, elements=st.floats(-4, 4, width=32))) for s in shapes.input_shapes)
    ta, tb, tc = lt.tensor(a), lt.tensor(b), lt.tensor(c)
    assert broadcast_shapes(*shapes.input_shapes) == shapes.result_shape
    np.testing.assert_allclose((ta + tb * tc).numpy(), a + b * c, rtol=1e-6)
    np.testing.assert_array_equal(lt.where(ta > tb, ta, tc).numpy(), np.where(a > b, a, c))
    assert (ta - tb).shape == np.broadcast_shapes(a.shape, b.shape)


@settings(max_examples=40, deadline=None)
@given(hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=1, max_dims=3, max_side=3))
def test_broadcasting_in_place_keeps_the_target_shape(shapes):
    s0, s1 = shapes.input_shapes
    target = lt.zeros(*s0)
    if tuple(shapes.result_shape) == tuple(s0):
        target.add_(lt.ones(*s1))
        assert target.shape == s0 and target.sum().item() == float(np.prod(s0))
    else:
        with pytest.raises(RuntimeError, match="doesn't match the broadcast shape"):
            target.add_(lt.ones(*s1))


@pytest.mark.parametrize("a, b", [((2, 3), (4,)), ((5, 1, 3), (2, 4)), ((0,), (2,))])
def test_incompatible_shapes_name_both_shapes(a, b):
    with pytest.raises(RuntimeError, match=r"must match the size") as info:
        lt.ones(*a) * lt.ones(*b)
    assert str(list(a)) in str(info.value) and str(list(b)) in str(info.value)
    if torch is not None:
        with pytest.raises(RuntimeError):
            torch.ones(*a) * torch.ones(*b)


def test_expanded_operands_are_not_copied_in_the_graph():
    x = lt.ones(3, 1)
    y = x + lt.ones(1, 4)
    ops = {n.op.name for n in __import__("lazytensor").compiler.ir.toposort([y.node])}
    assert "EXPAND" in ops and "CONTIGUOUS" not in ops


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 3), min_size=0, max_size=4), st.lists(st.integers(0, 3), min_size=0, max_size=4))
def test_broadcast_of_two_shapes_matches_numpy_and_names_the_mismatch(a, b):
    # two shapes of one rank take a shortcut; its answers and errors are the general loop's
    try:
        expected = np.broadcast_shapes(tuple(a), tuple(b))
    except ValueError:
        with pytest.raises(RuntimeError, match="must match the size of tensor b"):
            broadcast_shapes(tuple(a), tuple(b))
        return
    assert broadcast_shapes(tuple(a), tuple(b)) == expected
    assert type(broadcast_shapes(tuple(a), tuple(b))) is tuple
