"""Tests for compiler/passes/__init__.py: pipelines, the verifier between passes, IR dumps."""
from __future__ import annotations

import os
import sys

import pytest

from lazytensor.compiler import dtypes as dt
from lazytensor.compiler.ir import Node
from lazytensor.compiler.ops import Op, make
from lazytensor.compiler.passes import PASSES, Graph, parse_pipeline, register, run_pipeline
from lazytensor.compiler.verify import VerifyError

sys.path.insert(0, os.path.dirname(__file__))
from graphs import const, leaf  # noqa: E402


def test_pipeline_names():
    assert {"simplify", "fuse", "schedule"} <= set(PASSES)
    assert parse_pipeline(" simplify, fuse ,schedule") == ["simplify", "fuse", "schedule"]
    with pytest.raises(ValueError, match="unknown pass 'fusee'"):
        parse_pipeline("simplify,fusee")


def test_print_after_dumps_ir_text():
    x = leaf((2, 2))
    y = make(Op.MUL, (make(Op.EXP2, (x,)), const(1.0, dt.float32, (2, 2))))
    dumps = []
    g = run_pipeline([y], "simplify,fuse,schedule", print_after="simplify,schedule",
                     printer=dumps.append)
    assert len(dumps) == 2
    assert "IR after simplify" in dumps[0] and "MUL" not in dumps[0] and "EXP2" in dumps[0]
    assert "; kernel 0" in dumps[1] and "; schedule" in dumps[1] and "step 0" in dumps[1]
    assert g.schedule is not None
    every = []
    run_pipeline([y], "simplify,fuse", print_after="all", printer=every.append)
    assert len(every) == 2


def test_passes_are_pure():
    x = leaf((3,))
    y = make(Op.NEG, (make(Op.NEG, (x,)),))
    g0 = Graph((y,))
    g1 = PASSES["simplify"](g0, None)
    assert g0.outputs == (y,) and g1.outputs == (x,)


def test_verifier_runs_between_passes_when_checking():
    x = leaf((3,))

    @register("_break_graph")
    def _break(g, ctx):
        bad = Node(Op.EXP2, dt.float32, (4,), (x,), None, None)  # wrong shape, not hash-consed
        return g.with_(outputs=(bad,))

    try:
        run_pipeline([x], "_break_graph")  # no check: passes through
        with pytest.raises(VerifyError):
            run_pipeline([x], "_break_graph", check=True)
    finally:
        del PASSES["_break_graph"]


def test_order_errors():
    x = leaf((3,))
    with pytest.raises(ValueError, match="run the fuse pass first"):
        run_pipeline([x], "schedule")
    with pytest.raises(ValueError, match="before fuse"):
        run_pipeline([x], "fuse,simplify")
