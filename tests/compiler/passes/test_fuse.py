"""Tests for compiler/passes/fuse.py: which values are stored, and the kernels that make them."""
from __future__ import annotations

import os
import sys

import numpy as np

from lazytensor.compiler import dtypes as dt
from lazytensor.compiler.kernel import param_index
from lazytensor.compiler.ops import Op, make
from lazytensor.compiler.passes import run_pipeline

sys.path.insert(0, os.path.dirname(__file__))
from graphs import const, leaf  # noqa: E402


def fuse(outputs):
    logs = []
    g = run_pipeline(outputs, "fuse", check=True, log=lambda topic, msg: logs.append((topic, msg)))
    return g, logs


def test_ten_op_elementwise_chain_is_one_kernel():
    a, b, c = leaf((8, 8)), leaf((8, 8)), leaf((8, 8))
    y = a
    for i in range(10):
        y = make((Op.ADD, Op.MUL)[i % 2], (y, (b, c)[i % 2]))
    g, logs = fuse([y])
    assert len(g.kernels) == 1
    (k,) = g.kernels
    assert k.computes == (y,) and k.reduce_axes == () and k.shape == (8, 8)
    assert len(k.inputs) == 3 and [i.op for i in k.inputs] == [Op.BUFFER] * 3
    ops = [n.op for n in k.nodes()]
    assert ops.count(Op.ADD) + ops.count(Op.MUL) == 10
    assert any("kernel 0" in m for t, m in logs if t == "fusion")


def test_reduction_takes_producers_and_consumer():
    x = leaf((4, 6))
    s = make(Op.SUM, (make(Op.EXP2, (make(Op.MUL, (x, x)),)),), (1,))
    mean = make(Op.MUL, (s, const(1 / 6, dt.float32, (4, 1))))
    out = make(Op.SQRT, (mean,))
    g, logs = fuse([out])
    assert len(g.kernels) == 1
    (k,) = g.kernels
    assert k.shape == (4, 6) and k.reduce_axes == (1,) and k.computes == (out,)
    assert [n.op for n in k.reductions()] == [Op.SUM]
    assert any("fuse" in m and "SUM" in m for _, m in logs)


def test_expanded_reduction_materializes_softmax_style():
    x = leaf((4, 6))
    m = make(Op.MAX_REDUCE, (x,), (1,))
    shifted = make(Op.ADD, (x, make(Op.NEG, (make(Op.EXPAND, (m,), (4, 6)),))))
    e = make(Op.EXP2, (shifted,))
    s = make(Op.SUM, (e,), (1,))
    y = make(Op.MUL, (e, make(Op.EXPAND, (make(Op.RECIP, (s,)),), (4, 6))))
    g, _ = fuse([y])
    # max, then sum (taking the reciprocal as its consumer), then the output
    assert [k.computes[0].op for k in g.kernels] == [Op.MAX_REDUCE, Op.RECIP, Op.MUL]
    assert g.kernels[1].reduce_axes == (1,)


def test_broadcast_of_a_computed_value_materializes():
    a, b = leaf((1, 5)), leaf((1, 5))
    v = make(Op.EXP2, (make(Op.ADD, (a, b)),))
    y = make(Op.MUL, (make(Op.EXPAND, (v,), (7, 5)), leaf((7, 5))))
    g, logs = fuse([y])
    assert [k.computes[0] for k in g.kernels] == [v, y]
    assert any("expanded by" in m for _, m in logs)


def test_broadcast_of_buffer_or_constant_does_not_materialize():
    a = leaf((1, 5))
    y = make(Op.ADD, (make(Op.EXPAND, (a,), (7, 5)), const(2.0, dt.float32, (7, 5))))
    g, _ = fuse([y])
    assert len(g.kernels) == 1


def test_view_chain_does_not_copy():
    x = leaf((4, 6))
    v = make(Op.PERMUTE, (x,), (1, 0))
    v = make(Op.SHRINK, (v,), ((1, 5), (0, 3)))
    v = make(Op.FLIP, (v,), (0,))
    v = make(Op.PAD, (v,), ((1, 1), (0, 2)))
    y = make(Op.EXP2, (v,))
    g, _ = fuse([y])
    assert len(g.kernels) == 1
    (k,) = g.kernels
    assert len(k.inputs) == 1 and k.inputs[0] is x.srcs[0]
    ops = {n.op for n in k.nodes()}
    assert {Op.PERMUTE, Op.SHRINK, Op.FLIP, Op.PAD} <= ops and Op.CONTIGUOUS not in ops


def test_contiguous_and_outputs_materialize():
    x = leaf((3, 3))
    c = make(Op.CONTIGUOUS, (make(Op.PERMUTE, (x,), (1, 0)),))
    y = make(Op.EXP2, (c,))
    z = make(Op.SQRT, (y,))
    g, _ = fuse([z, y])
    assert [k.computes[0] for k in g.kernels] == [c, y, z]


def test_kernels_of_equal_work_share_a_key():
    a, b = leaf((5,)), leaf((5,))
    ka = fuse([make(Op.EXP2, (a,))])[0].kernels[0]
    kb = fuse([make(Op.EXP2, (b,))])[0].kernels[0]
    assert ka.key == kb.key and ka.outputs == kb.outputs
    assert param_index(ka.outputs[0].srcs[0]) == 0
    kc = fuse([make(Op.SIN, (a,))])[0].kernels[0]
    assert kc.key != ka.key


def test_fusion_is_deterministic():
    x = leaf((4, 4))
    y = make(Op.SUM, (make(Op.MUL, (x, x)),), (0,))
    z = make(Op.ADD, (make(Op.EXPAND, (y,), (4, 4)), x))
    first = fuse([z, y])
    second = fuse([z, y])
    assert [k.key for k in first[0].kernels] == [k.key for k in second[0].kernels]
    assert first[1] == second[1]


def test_reshaped_output_is_its_value_stored_with_another_shape():
    x = leaf((4, 6))
    full = make(Op.RESHAPE, (make(Op.SUM, (x,), (0, 1)),), ())  # x.sum()
    rows = make(Op.RESHAPE, (make(Op.SQRT, (make(Op.SUM, (x,), (1,)),)),), (4,))  # sqrt(x.sum(1))
    for out, computes in ((full, full.srcs[0]), (rows, rows.srcs[0])):
        g, logs = fuse([out])
        assert [k.computes[0] for k in g.kernels] == [computes]  # no copy kernel after it
        assert not any("RESHAPE" in m for _, m in logs if "materialize" in m)


def test_reshape_of_a_stored_buffer_needs_no_kernel():
    x = leaf((4, 6))
    g, _ = fuse([make(Op.RESHAPE, (x,), (24,))])
    assert g.kernels == ()


# ---- rule 4 through RESHAPEs of size-1 axes: a reduction's consumers behind a dropped axis ----

def reductions_and_kernels(out):
    """(kernel count, reductions per kernel) of the fused graph of `out`."""
    g, logs = fuse([out])
    return len(g.kernels), [len(k.reductions()) for k in g.kernels], logs


def test_linear_bias_relu_is_one_kernel():
    import lazytensor as lt
    rng = np.random.default_rng(0)
    x = lt.from_numpy(rng.random((6, 5), dtype=np.float32))
    w = lt.from_numpy(rng.random((7, 5), dtype=np.float32))
    b = lt.from_numpy(rng.random(7, dtype=np.float32))
    y = (x @ w.t() + b).relu()
    count, reds, logs = reductions_and_kernels(y.node)
    assert (count, reds) == (1, [1])
    # the product's RESHAPE (dropping k) and relu's WHERE(CMPLT(y, 0), 0, y) join its kernel
    (msg,) = [m for _, m in logs if m.startswith("fuse")]
    assert "RESHAPE" in msg and "CMPLT" in msg and "WHERE" in msg
    scaled = (x @ w.t()) * 0.5 + b
    assert reductions_and_kernels(scaled.node)[:2] == (1, [1])


def test_sum_without_keepdim_then_arithmetic_is_one_kernel():
    x = leaf((4, 6))
    s = make(Op.RESHAPE, (make(Op.SUM, (x,), (1,)),), (4,))
    y = make(Op.ADD, (make(Op.MUL, (s, const(2.0, dt.float32, (4,)))), const(1.0, dt.float32, (4,))))
    g, logs = fuse([y])
    assert len(g.kernels) == 1
    (k,) = g.kernels
    assert k.shape == (4, 6) and k.reduce_axes == (1,) and k.computes == (y,)
    assert k.outputs[0].shape == (4,)


def test_mean_over_the_first_axis_and_full_mean_are_one_kernel_each():
    import lazytensor as lt
    x = lt.from_numpy(np.random.default_rng(1).random((5, 3), dtype=np.float32))
    for y in (x.mean(0), x.mean(), x.sum() * 2 + 1, x.mean(1).exp()):
        assert reductions_and_kernels(y.node)[:2] == (1, [1])


def test_reshape_adding_size_one_axes_fuses():
    x = leaf((4, 6))
    s = make(Op.SUM, (x,), (1,))  # (4, 1)
    up = make(Op.RESHAPE, (s,), (1, 4, 1, 1))
    y = make(Op.SQRT, (make(Op.MUL, (up, up)),))
    g, _ = fuse([y])
    assert len(g.kernels) == 1 and g.kernels[0].outputs[0].shape == (1, 4, 1, 1)
    # dropped, then added again around elementwise ops
    d = make(Op.EXP2, (make(Op.RESHAPE, (s,), (4,)),))
    z = make(Op.NEG, (make(Op.RESHAPE, (d,), (4, 1, 1)),))
    g, _ = fuse([z])
    assert len(g.kernels) == 1 and g.kernels[0].computes == (z,)


def test_reshape_merging_axes_stops_the_consumer_chain():
    x = leaf((2, 3, 4))
    s = make(Op.SUM, (x,), (2,))
    y = make(Op.EXP2, (make(Op.RESHAPE, (s,), (6,)),))
    g, logs = fuse([y])
    assert [k.computes[0] for k in g.kernels] == [s, y]
    assert any("keep" in m and "SUM" in m for _, m in logs)


def test_region_stops_where_a_value_leaves_it():
    x = leaf((4, 6))
    s = make(Op.RESHAPE, (make(Op.SUM, (x,), (1,)),), (4,))
    e = make(Op.EXP2, (s,))
    out1 = make(Op.NEG, (e,))
    out2 = make(Op.SIN, (e,))  # e has two users that never meet: the kernel stores e
    g, _ = fuse([out1, out2])
    assert [k.computes[0] for k in g.kernels] == [e, out1, out2]
    assert g.kernels[0].reductions()
    # a region never ends in a RESHAPE: the kernel stores the elementwise node under it
    r = make(Op.RESHAPE, (e,), (4, 1))
    g, _ = fuse([make(Op.EXP2, (make(Op.EXPAND, (r,), (4, 3)),))])
    assert [len(k.reductions()) for k in g.kernels] == [1, 0]
    assert g.kernels[0].computes == (e,) and g.kernels[0].outputs[0].shape == (4,)


def test_a_region_node_reduced_again_stays_with_the_first_reduction_only():
    x = leaf((4, 6))
    s = make(Op.RESHAPE, (make(Op.SUM, (x,), (1,)),), (4,))
    e = make(Op.EXP2, (s,))
    t = make(Op.SUM, (e,), (0,))  # a second reduction over the first one's consumer
    y = make(Op.SQRT, (t,))
    g, _ = fuse([y])
    assert [len(k.reductions()) for k in g.kernels] == [1, 1]
    assert [k.computes[0] for k in g.kernels] == [e, y]
