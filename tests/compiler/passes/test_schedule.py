"""Tests for compiler/passes/schedule.py: order, lifetimes and reuse of freed buffers."""
from __future__ import annotations

import os
import sys

from lazytensor.compiler.ops import Op, make
from lazytensor.compiler.passes import run_pipeline

sys.path.insert(0, os.path.dirname(__file__))
from graphs import leaf  # noqa: E402


def chain_of_reductions(n):
    """n kernels in a row: each step's value is an expanded reduction of the previous one."""
    x = leaf((8, 8))
    for _ in range(n):
        s = make(Op.MAX_REDUCE, (x,), (1,))
        x = make(Op.ADD, (x, make(Op.EXPAND, (s,), (8, 8))))
        x = make(Op.CONTIGUOUS, (x,))
    return x


def test_steps_run_after_their_inputs():
    y = chain_of_reductions(3)
    g = run_pipeline([y], "fuse,schedule", check=True)
    made = set()
    for step in g.schedule.steps:
        for x in step.inputs:
            assert isinstance(x, int) is False or x in made
        made.add(step.out_slot)
    assert g.schedule.outputs == (g.schedule.steps[-1].out_slot,)


def test_freed_buffers_are_reused_by_size():
    y = chain_of_reductions(4)
    g = run_pipeline([y], "fuse,schedule")
    s = g.schedule
    assert len(s.steps) == 8
    temps = [sl for sl in s.slots if not sl.is_output]
    # 7 temporaries of two sizes, but never more than 2 of each alive at once
    assert len(temps) <= 4
    sizes = {sl.nbytes for sl in temps}
    assert sizes == {8 * 4, 64 * 4}
    for i, step in enumerate(s.steps):  # a step never writes a slot it reads
        assert step.out_slot not in [x for x in step.inputs if isinstance(x, int)]


def test_outputs_get_their_own_slots():
    x = leaf((4,))
    a = make(Op.EXP2, (x,))
    b = make(Op.SQRT, (make(Op.EXPAND, (make(Op.SUM, (a,), (0,)),), (4,)),))
    g = run_pipeline([a, b], "fuse,schedule")
    outs = [g.schedule.slots[i] for i in g.schedule.outputs]
    assert all(sl.is_output for sl in outs) and len(set(g.schedule.outputs)) == 2


def test_stored_output_needs_no_kernel():
    x = leaf((5,))
    g = run_pipeline([x], "simplify,fuse,schedule")
    assert g.schedule.steps == () and g.schedule.outputs == (x,)


def test_reshaped_output_is_found_in_its_values_slot():
    x = leaf((4, 6))
    s = make(Op.SUM, (x,), (1,))
    flat = make(Op.RESHAPE, (s,), (4,))
    g = run_pipeline([flat, s], "simplify,fuse,schedule")
    (step,) = g.schedule.steps
    assert g.schedule.outputs == (step.out_slot, step.out_slot)
    assert g.schedule.slots[step.out_slot].is_output
    g = run_pipeline([make(Op.RESHAPE, (x,), (24,))], "simplify,fuse,schedule")
    assert g.schedule.steps == () and g.schedule.outputs == (x.srcs[0],)
