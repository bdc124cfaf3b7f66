"""Tests for lazytensor.compiler.verify: sound graphs pass, each kind of broken node is named."""
from __future__ import annotations

import sys

import numpy as np
import pytest

import lazytensor as lt
from lazytensor.compiler import dtypes as dt
from lazytensor.compiler.ir import Buffer, IRError, Node, node, toposort
from lazytensor.compiler.ops import Op, make
from lazytensor.compiler.text import print_graph
from lazytensor.compiler.verify import VerifyError, arg_problem, infer_type, verify

LOC = ("model.py", 7)


def buf(dtype=dt.float32, shape=(3,)):
    """A node reading a fresh buffer, shaped."""
    n = make(Op.BUFFER, arg=Buffer(dtype, int(np.prod(shape))))
    return n if n.shape == shape else make(Op.RESHAPE, (n,), shape)


def rejects(n: Node, *fragments: str) -> VerifyError:
    """verify([n]) raises, naming the node's location and every fragment."""
    with pytest.raises(VerifyError) as info:
        verify([n])
    msg = str(info.value)
    for f in ("model.py:7",) + fragments:
        assert f in msg, f"{f!r} not in {msg!r}"
    return info.value


# ---- sound graphs pass ----

def test_graphs_built_by_make_pass():
    x, y = buf(shape=(2, 3)), buf(shape=(2, 3))
    s = make(Op.SUM, (make(Op.MUL, (x, y)),), (0,))
    c = make(Op.CAST, (make(Op.CMPLT, (x, y)),), dt.float32)
    verify([s, c, make(Op.CONTIGUOUS, (s,))])
    verify([])


def test_graphs_built_by_tensor_ops_pass():
    a = lt.arange(12, dtype=lt.float32).reshape(3, 4)
    b = (a.t() * 2 + 1).sum(0) - a[1:, ::2].float().mean()
    c = (lt.ones(3, dtype=lt.int64) // 2) % 3
    verify([b.node, c.node])


def test_deep_chain_verifies_without_recursion():
    x = buf()
    for _ in range(20000):
        x = make(Op.NEG, (x,))
    verify([x])


def test_infer_type_agrees_with_make():
    x = buf(dt.int32, (2, 3))
    for n in (make(Op.PERMUTE, (x,), (1, 0)), make(Op.CMPEQ, (x, x)), make(Op.PAD, (x,), ((1, 0), (0, 2))),
              make(Op.GATHER, (x, buf(dt.int64, (1, 3))), 0)):
        assert infer_type(n.op, n.srcs, n.arg) == (n.dtype, n.shape)


@pytest.mark.parametrize("value, dtype", [(1, dt.int32), (1.0, dt.float32), (True, dt.bool_), (-0.0, dt.float64),
                                          (float("nan"), dt.float16), (1, dt.float32), (True, dt.int8)])
def test_node_keys_constants_like_make(value, dtype):
    # the parser and verifier key CONSTs as make does; drift would break round trips silently
    c = make(Op.CONST, arg=value, dtype=dtype)
    assert node(Op.CONST, dtype, (), (), value) is c


# ---- broken nodes are named with their location ----

def test_wrong_shape_is_rejected():
    a, b = buf(), buf()
    bad = Node(Op.ADD, dt.float32, (2, 3), (a, b), None, LOC)
    e = rejects(bad, "ADD f32[2,3]", "the registry gives f32[3] but the node says f32[2,3]")
    assert e.node is bad
    assert isinstance(e, IRError)


def test_wrong_dtype_is_rejected():
    a = buf()
    rejects(Node(Op.CMPLT, dt.float32, (3,), (a, a), None, LOC), "CMPLT", "registry gives b1[3]")


def test_shape_rule_failure_is_reported():
    rejects(Node(Op.RESHAPE, dt.float32, (4,), (buf(),), (4,), LOC),
            "RESHAPE f32[4]", "reshape (3,) -> (4,) changes the element count")


def test_dtype_rule_failure_is_reported():
    rejects(Node(Op.SQRT, dt.int32, (3,), (buf(dt.int32),), None, LOC), "needs a float operand, got int32")


def test_wrong_arity_is_rejected():
    a = buf()
    rejects(Node(Op.NEG, dt.float32, (3,), (a, a), None, LOC), "NEG takes 1 operands, got 2")


@pytest.mark.parametrize("op, arg, message", [
    (Op.RESHAPE, (3.0,), "RESHAPE needs a tuple of ints >= 0 as its argument, got (3.0,)"),
    (Op.RESHAPE, [3], "RESHAPE needs a tuple of ints >= 0 as its argument, got [3]"),
    (Op.EXPAND, (np.int64(3),), "EXPAND needs a tuple of ints >= 0"),
    (Op.SUM, (True,), "SUM needs a tuple of ints as its argument, got (True,)"),
    (Op.PAD, ((0, 1, 2),), "PAD needs a tuple of (int, int) pairs"),
    (Op.SHRINK, (0, 3), "SHRINK needs a tuple of (int, int) pairs"),
    (Op.CAST, "f32", "CAST needs a DType as its argument, got 'f32'"),
    (Op.NEG, 1, "NEG takes no argument, got 1"),
    (Op.FLIP, None, "FLIP needs a tuple of ints as its argument, got None"),
])
def test_malformed_arguments_are_rejected(op, arg, message):
    rejects(Node(op, dt.float32, (3,), (buf(),), arg, LOC), message)


def test_malformed_source_arguments_are_rejected():
    rejects(Node(Op.BUFFER, dt.float32, (3,), (), "buffer", LOC), "BUFFER needs a Buffer")
    rejects(Node(Op.RAND, dt.float32, (3,), (), (1, -1), LOC), "RAND needs (seed, offset) ints")
    rejects(Node(Op.RAND, dt.int32, (3,), (), (1, 0), LOC), "RAND makes floats, not i32")
    rejects(Node(Op.CONST, dt.float32, (), (), np.float32(1), LOC), "CONST needs a Python bool, int or float")
    rejects(Node(Op.GATHER, dt.float32, (3,), (buf(), buf(dt.int64)), True, LOC), "GATHER needs an int")
    rejects(Node(Op.BUFFER, dt.float64, (3,), (), Buffer(dt.float32, 3), LOC),
            "the registry gives f32[3] but the node says f64[3]")


def test_const_must_match_its_dtype_kind_and_range():
    # values no other test builds, so that `node` makes these nodes here, at LOC
    rejects(node(Op.CONST, dt.float32, (), (), 1717, LOC), "holds a Python float, got 1717")
    rejects(node(Op.CONST, dt.int32, (), (), 17.5, LOC), "holds a Python int, got 17.5")
    rejects(node(Op.CONST, dt.uint8, (), (), 300, LOC), "CONST 300 is out of range for u8")
    verify([make(Op.CONST, arg=255, dtype=dt.uint8), make(Op.CONST, arg=-2 ** 63, dtype=dt.int64)])


def test_broken_fields_are_rejected():
    rejects(Node("ADD", dt.float32, (3,), (), None, LOC), "op 'ADD' is not a primitive")
    rejects(Node(Op.NEG, np.float32, (3,), (buf(),), None, LOC), "is not a DType")
    rejects(Node(Op.NEG, dt.float32, (np.int64(3),), (buf(),), None, LOC), "is not a tuple of Python ints")
    rejects(Node(Op.NEG, dt.float32, [3], (buf(),), None, LOC), "is not a tuple of Python ints")


def test_node_built_without_hash_consing_is_rejected():
    a = buf()
    twin = Node(Op.NEG, dt.float32, (3,), (a,), None, LOC)  # make(Op.NEG, (a,)) is the real one
    rejects(twin, "NEG f32[3]", "not the hash-consed node for its fields")


def test_non_node_operand_and_output_are_rejected():
    rejects(Node(Op.ADD, dt.float32, (3,), (buf(), "x"), None, LOC), "operand 1 is 'x', not a Node")
    rejects(Node(Op.NEG, dt.float32, (3,), [buf()], None, LOC), "is not a tuple")
    with pytest.raises(VerifyError, match="output 3 is not a Node"):
        verify([3])


def test_cycle_is_rejected():
    a = Node(Op.NEG, dt.float32, (3,), (), None, LOC)
    b = Node(Op.NEG, dt.float32, (3,), (a,), None, ("other.py", 1))
    a.srcs = (b,)  # nodes are never changed after they are built; this one is, to make a cycle
    rejects(a, "NEG f32[3] built at other.py:1: the graph has a cycle: its operand 0, NEG f32[3] built at "
               "model.py:7, depends on it")


def test_broken_node_deep_in_a_graph_is_named_by_its_print_number():
    x = buf(shape=(2, 3))
    bad = Node(Op.EXP2, dt.float32, (3, 2), (x,), None, LOC)  # shape should be (2, 3)
    out = make(Op.SUM, (make(Op.NEG, (bad,)),), (0, 1))
    lines = print_graph([out], locations=False).splitlines()
    index = [n for n in toposort([out])].index(bad)
    assert lines[index].startswith(f"%{index} = EXP2 ")
    with pytest.raises(VerifyError) as info:
        verify([out])
    assert str(info.value).startswith(f"%{index} = EXP2 f32[3,2] built at model.py:7: ")
    assert info.value.node is bad


def test_location_is_the_user_line():
    x = buf()
    line = sys._getframe().f_lineno + 1
    bad = node(Op.CONST, dt.float32, (), (), 2)
    with pytest.raises(VerifyError) as info:
        verify([make(Op.ADD, (x, make(Op.EXPAND, (make(Op.RESHAPE, (bad,), (1,)),), (3,))))])
    assert f"{__file__}:{line}" in str(info.value)


def test_arg_problem_accepts_every_well_formed_kind():
    assert arg_problem(Op.CONST, True) is None
    assert arg_problem(Op.RAND, (-5, 0)) is None
    assert arg_problem(Op.PAD, ()) is None
    assert arg_problem(Op.CAST, dt.bfloat16) is None
    assert arg_problem(Op.GATHER, -1) is None
    assert arg_problem(Op.WHERE, None) is None
