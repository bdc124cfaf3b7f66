"""Tests for lazytensor.compiler.text: the IR text form prints and parses back to the same graph."""
from __future__ import annotations

import math
import weakref

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lazytensor.compiler import dtypes as dt
from lazytensor.compiler.ir import Buffer, IRError, Node, prune, toposort
from lazytensor.compiler.ops import Op, make
from lazytensor.compiler.text import IRParseError, parse_graph, print_graph
from lazytensor.compiler.verify import verify

INTS = [dt.uint8, dt.int8, dt.int16, dt.int32, dt.int64]
FLOATS = [dt.float16, dt.bfloat16, dt.float32, dt.float64]
DTYPES = [dt.bool_, *INTS, *FLOATS]

# uids far above any the runtime hands out in a test run, so text can name them without clashing
# (all have 10 digits: the error columns and golden text below rely on it)
_uids = iter(range(10 ** 9, 2 * 10 ** 9))


def fresh_uid() -> int:
    """A buffer uid that no live Buffer has."""
    return next(_uids)


# ---- a random graph builder (draws plain values only, so the graph dies with the test's locals) ----

def scalars(d: dt.DType):
    """Python scalars of the kind `tensor.const` stores for dtype `d`."""
    if d is dt.bool_:
        return st.booleans()
    if d.is_floating_point:
        return st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from([-0.0, 0.0, math.inf])
    info = __import__("numpy").iinfo(d.np_dtype)
    return st.integers(int(info.min), int(info.max))


def _const(draw, d: dt.DType, shape: tuple):
    c = make(Op.CONST, arg=draw(scalars(d)), dtype=d)
    if shape:
        c = make(Op.EXPAND, (make(Op.RESHAPE, (c,), (1,) * len(shape)),), shape)
    return c


def _leaf(draw, d: dt.DType, shape: tuple):
    kind = draw(st.sampled_from(["buffer", "const", "rand"] if d.is_floating_point else ["buffer", "const"]))
    if kind == "const":
        return _const(draw, d, shape)
    if kind == "rand":
        return make(Op.RAND, arg=(draw(st.integers(0, 2 ** 32)), draw(st.integers(0, 100))), dtype=d,
                    shape=shape)
    size = math.prod(shape)
    n = make(Op.BUFFER, arg=Buffer(d, size))
    return n if shape == (size,) else make(Op.RESHAPE, (n,), shape)


def _partner(draw, pool, x):
    """Another node with x's dtype and shape: one from the pool or a broadcast constant."""
    same = [i for i, n in enumerate(pool) if n.dtype is x.dtype and n.shape == x.shape]
    if same and draw(st.booleans()):
        return pool[same[draw(st.integers(0, len(same) - 1))]]
    return _leaf(draw, x.dtype, x.shape)


def _step(draw, pool, x):
    """A new node over x by a randomly chosen primitive."""
    family = draw(st.sampled_from(["unary", "cast", "binary", "where", "reduce", "reshape", "permute",
                                   "expand", "pad", "shrink", "flip", "gather", "contiguous"]))
    nd = len(x.shape)
    if family == "unary":
        ops = [Op.NEG] + ([Op.EXP2, Op.LOG2, Op.SIN, Op.SQRT, Op.RECIP, Op.TRUNC]
                          if x.dtype.is_floating_point else [Op.NOT])
        return make(draw(st.sampled_from(ops)), (x,))
    if family == "cast":
        return make(Op.CAST, (x,), draw(st.sampled_from(DTYPES)))
    if family == "binary":
        ops = [Op.ADD, Op.MUL, Op.MAX, Op.CMPLT, Op.CMPEQ, Op.MOD]
        if not x.dtype.is_floating_point:
            ops += [Op.IDIV, Op.AND, Op.OR, Op.XOR]
        return make(draw(st.sampled_from(ops)), (x, _partner(draw, pool, x)))
    if family == "where":
        cond = make(Op.CMPLT, (x, _partner(draw, pool, x)))
        return make(Op.WHERE, (cond, x, _partner(draw, pool, x)))
    if family == "reduce":
        axes = tuple(sorted(draw(st.sets(st.integers(0, nd - 1), max_size=nd)))) if nd else ()
        return make(draw(st.sampled_from([Op.SUM, Op.PROD, Op.MAX_REDUCE])), (x,), axes)
    if family == "reshape":
        size = math.prod(x.shape)
        options = [(size,), x.shape + (1,), (1,) + x.shape, tuple(reversed(x.shape))]
        return make(Op.RESHAPE, (x,), draw(st.sampled_from(options)))
    if family == "permute":
        return make(Op.PERMUTE, (x,), tuple(draw(st.permutations(range(nd)))))
    if family == "expand":
        if 1 not in x.shape:
            x = make(Op.RESHAPE, (x,), (1,) + x.shape)
        new = tuple(draw(st.integers(0, 3)) if d == 1 else d for d in x.shape)
        return make(Op.EXPAND, (x,), new)
    if family == "pad":
        return make(Op.PAD, (x,), tuple((draw(st.integers(0, 2)), draw(st.integers(0, 2))) for _ in x.shape))
    if family == "shrink":
        bounds = []
        for d in x.shape:
            b = draw(st.integers(0, d))
            bounds.append((b, draw(st.integers(b, d))))
        return make(Op.SHRINK, (x,), tuple(bounds))
    if family == "flip":
        return make(Op.FLIP, (x,), tuple(sorted(draw(st.sets(st.integers(0, nd - 1), max_size=nd)))) if nd else ())
    if family == "gather":
        if nd == 0 or 0 in x.shape:
            return make(Op.CONTIGUOUS, (x,))
        axis = draw(st.integers(0, nd - 1))
        shape = tuple(draw(st.integers(0, 3)) if k == axis else draw(st.integers(1, d))
                      for k, d in enumerate(x.shape))
        idx = _leaf(draw, draw(st.sampled_from([dt.int64, dt.int32])), shape)
        return make(Op.GATHER, (x, idx), axis)
    return make(Op.CONTIGUOUS, (x,))


def build_graph(draw) -> list:
    """Random outputs over BUFFER, CONST and RAND leaves of random dtypes and shapes (0-d, empty)."""
    shapes = st.lists(st.integers(0, 3), max_size=3).map(tuple)
    pool = [_leaf(draw, draw(st.sampled_from(DTYPES)), draw(shapes))
            for _ in range(draw(st.integers(1, 3)))]
    for _ in range(draw(st.integers(0, 12))):
        pool.append(_step(draw, pool, pool[draw(st.integers(0, len(pool) - 1))]))
    picks = draw(st.lists(st.integers(0, len(pool) - 1), min_size=1, max_size=3))
    return [pool[i] for i in picks]


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_round_trip_returns_the_same_nodes(data):
    outs = build_graph(data.draw)
    text = print_graph(outs)
    parsed = parse_graph(text)
    assert len(parsed) == len(outs)
    assert all(p is o for p, o in zip(parsed, outs))
    assert print_graph(parsed) == text
    verify(outs)  # every graph make() builds is well-formed


def _text_and_keys(draw):
    # in its own frame so that no local keeps the graph alive afterwards
    outs = build_graph(draw)
    return print_graph(outs), [o.key for o in outs], [weakref.ref(o) for o in outs]


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_parsing_rebuilds_a_dead_graph_exactly(data):
    text, keys, refs = _text_and_keys(data.draw)
    prune()  # nodes hold no cycles: refcounting frees them once the table lets go
    assert all(r() is None for r in refs), "the graph should be gone before it is parsed back"
    parsed = parse_graph(text)
    assert [p.key for p in parsed] == keys
    assert print_graph(parsed) == text  # locations come back from the comments
    verify(parsed)


# ---- golden text ----

def test_golden_broadcast_add():
    buf = Buffer(dt.float32, 6, uid=fresh_uid())
    x = make(Op.RESHAPE, (make(Op.BUFFER, arg=buf),), (2, 3))
    one = make(Op.CONST, arg=1.0, dtype=dt.float32)
    y = make(Op.ADD, (x, make(Op.EXPAND, (make(Op.RESHAPE, (one,), (1, 1)),), (2, 3))))
    assert print_graph([y], locations=False) == (
        f"%0 = BUFFER #{buf.uid} : f32[6]\n"
        "%1 = RESHAPE %0 (2, 3) : f32[2,3]\n"
        "%2 = CONST 1.0 : f32[]\n"
        "%3 = RESHAPE %2 (1, 1) : f32[1,1]\n"
        "%4 = EXPAND %3 (2, 3) : f32[2,3]\n"
        "%5 = ADD %1, %4 : f32[2,3]\n"
        "return %5\n")


def test_golden_every_argument_kind():
    a = make(Op.BUFFER, arg=Buffer(dt.float64, 4, uid=fresh_uid()))
    m = make(Op.RESHAPE, (a,), (2, 2))
    r = make(Op.RAND, arg=(7, 3), dtype=dt.float64, shape=(2, 2))
    s = make(Op.SUM, (make(Op.MUL, (m, r)),), (1,))
    p = make(Op.PAD, (make(Op.PERMUTE, (s,), (1, 0)),), ((0, 1), (2, 0)))
    k = make(Op.FLIP, (make(Op.SHRINK, (p,), ((0, 2), (1, 3))),), (0, 1))
    idx = make(Op.CAST, (make(Op.CONST, arg=True, dtype=dt.bool_),), dt.int64)
    g = make(Op.GATHER, (k, make(Op.EXPAND, (make(Op.RESHAPE, (idx,), (1, 1)),), (1, 2))), 1)
    uid = a.arg.uid
    assert print_graph([g, s], locations=False) == (
        f"%0 = BUFFER #{uid} : f64[4]\n"
        "%1 = RESHAPE %0 (2, 2) : f64[2,2]\n"
        "%2 = RAND seed=7, offset=3 : f64[2,2]\n"
        "%3 = MUL %1, %2 : f64[2,2]\n"
        "%4 = SUM %3 (1,) : f64[2,1]\n"
        "%5 = PERMUTE %4 (1, 0) : f64[1,2]\n"
        "%6 = PAD %5 ((0, 1), (2, 0)) : f64[2,4]\n"
        "%7 = SHRINK %6 ((0, 2), (1, 3)) : f64[2,2]\n"
        "%8 = FLIP %7 (0, 1) : f64[2,2]\n"
        "%9 = CONST True : b1[]\n"
        "%10 = CAST %9 i64 : i64[]\n"
        "%11 = RESHAPE %10 (1, 1) : i64[1,1]\n"
        "%12 = EXPAND %11 (1, 2) : i64[1,2]\n"
        "%13 = GATHER %8, %12 axis=1 : f64[1,2]\n"
        "return %13, %4\n")


def test_golden_text_with_locations_round_trips():
    uid = fresh_uid()
    text = (f"%0 = BUFFER #{uid} : i32[3]                # model.py:3\n"
            "%1 = CONST 3 : i32[]                            # model.py:4\n"
            "%2 = RESHAPE %1 (1,) : i32[1]                   # model.py:4\n"
            "%3 = EXPAND %2 (3,) : i32[3]                    # model.py:4\n"
            "%4 = IDIV %0, %3 : i32[3]                       # /home/me/C:odd #name.py:12\n"
            "%5 = CMPLT %4, %0 : b1[3]\n"
            "return %4, %5\n")
    outs = parse_graph(text)
    assert print_graph(outs) == text
    assert outs[0].srcs[0].loc == ("model.py", 3)
    assert outs[0].loc == ("/home/me/C:odd #name.py", 12)  # the last ':' splits file from line
    assert outs[1].loc is None  # no comment: no location (not the parser's caller)
    assert outs[0].srcs[0].arg.data is None  # a placeholder buffer for a uid nobody holds


def test_several_and_repeated_outputs():
    x = make(Op.CONST, arg=2.5, dtype=dt.float16)
    y = make(Op.NEG, (x,))
    text = print_graph([y, x, y], locations=False)
    assert text.endswith("return %1, %0, %1\n")
    assert parse_graph(text) == [y, x, y]
    assert print_graph([]) == "return\n" and parse_graph("return\n") == []


@pytest.mark.parametrize("value", [0.0, -0.0, math.nan, math.inf, -math.inf, 1e300, 5e-324, 1 / 3, -2.5e-8,
                                   1e16, True, False, 0, -1, 2 ** 63 - 1, -2 ** 63])
def test_const_values_round_trip_exactly(value):
    d = dt.bool_ if type(value) is bool else dt.int64 if type(value) is int else dt.float64
    c = make(Op.CONST, arg=value, dtype=d)
    text = print_graph([c])
    (same,) = parse_graph(text)
    assert same is c
    ref = weakref.ref(c)
    del c, same
    prune()
    assert ref() is None
    (fresh,) = parse_graph(text)
    assert type(fresh.arg) is type(value)
    if isinstance(value, float):
        assert fresh.arg.hex() == value.hex() or (math.isnan(value) and math.isnan(fresh.arg))
        assert math.copysign(1, fresh.arg) == math.copysign(1, value) or math.isnan(value)


def test_python_scalar_kinds_stay_distinct_constants():
    # 1, 1.0 and True are equal in Python, but not the same constant; text keeps them apart
    consts = [make(Op.CONST, arg=v, dtype=dt.float32) for v in (1, 1.0, True, 0.0, -0.0)]
    assert len({id(c) for c in consts}) == 5
    for c in consts:
        assert parse_graph(print_graph([c])) == [c]


def test_live_buffer_is_resolved_and_dead_buffer_gets_a_placeholder():
    import numpy as np
    live = Buffer(dt.int16, 3, data=np.arange(3, dtype=np.int16))
    (n,) = parse_graph(f"%0 = BUFFER #{live.uid} : i16[3]\nreturn %0\n")
    assert n.arg is live
    uid = fresh_uid()
    (a, b) = parse_graph(f"%a = BUFFER #{uid} : u8[5]\n%b = BUFFER #{uid} : u8[5]\nreturn %a, %b\n")
    assert a is b and a.arg.uid == uid and a.arg.dtype is dt.uint8 and a.arg.size == 5
    assert Buffer.live[uid] is a.arg


def test_names_blank_lines_and_comments():
    text = ("# a graph written by hand\n"
            "\n"
            "%x = CONST 0.75 : f32[]    # not a location\n"
            "   %y.1 = SQRT %x : f32[]\n"
            "return %y.1   # the result\n")
    (y,) = parse_graph(text)
    assert y.op is Op.SQRT and y.srcs[0].arg == 0.75
    assert print_graph([y], locations=False) == "%0 = CONST 0.75 : f32[]\n%1 = SQRT %0 : f32[]\nreturn %1\n"


def test_deep_chain_prints_and_parses():
    x = make(Op.BUFFER, arg=Buffer(dt.float32, 2))
    for _ in range(5000):
        x = make(Op.NEG, (x,))
    assert parse_graph(print_graph([x])) == [x]


# ---- errors ----

B = "%0 = BUFFER #{uid} : f32[3]\n"


@pytest.mark.parametrize("text, line, column, message", [
    ("%0 = ADDD %1 : f32[]\nreturn %0\n", 1, 6, "unknown op 'ADDD' (did you mean 'ADD'?)"),
    ("%0 = sqrt %1 : f32[]\n", 1, 6, "unknown op 'sqrt' (did you mean 'SQRT'?)"),
    ("%0 = FROB %1 : f32[]\n", 1, 6, "unknown op 'FROB'"),
    (B + "%1 = ADD %0, %7 : f32[3]\nreturn %1\n", 2, 14, "use of undefined value %7"),
    (B + "%1 = NEG %0 : f32[3]\n%1 = NEG %1 : f32[3]\n", 3, 1, "redefinition of value %1 (first defined on line 2)"),
    (B + "%1 = RESHAPE %0 (1, 3 : f32[1,3]\nreturn %1\n", 2, 23, "expected ',' or ')', got ':'"),
    (B + "%1 = RESHAPE %0 (1; 3) : f32[1,3]\n", 2, 19, "unexpected character ';'"),
    (B + "%1 = RESHAPE %0 (1, 3) : f32[1 3]\n", 2, 32, "expected ',' or ']', got '3'"),
    (B + "%1 = RESHAPE %0 (1, 3) : f33[1,3]\n", 2, 26,
     "unknown dtype 'f33' (dtypes: b1, u8, i8, i16, i32, i64, f16, bf16, f32, f64, u32)"),
    (B + "%1 = RESHAPE %0 (1, 3) f32[1,3]\n", 2, 24, "expected ':' and the type, got 'f32'"),
    (B + "%1 = RESHAPE %0 (1, 3) : f32[1,-3]\n", 2, 32, "expected a dimension (an integer >= 0), got -3"),
    (B + "%1 = RESHAPE %0 (1, 3) : f32[1,3] extra\n", 2, 35, "expected end of line, got 'extra'"),
    (B + "%1 = RESHAPE %0 (1, 4) : f32[1,4]\n", 2, 6, "RESHAPE: reshape (3,) -> (1, 4) changes the element count"),
    (B + "%1 = RESHAPE %0 (1, 2.0) : f32[1,2]\n", 2, 21, "expected an integer or '(', got '2.0'"),
    (B + "%1 = ADD %0 : f32[3]\n", 2, 6, "ADD takes 2 operands, got 1"),
    (B + "%1 = NEG %0 (0,) : f32[3]\n", 2, 13, "NEG takes no argument"),
    (B + "%1 = NEG %0 : f32[2,3]\n", 2, 15, "type mismatch: NEG says f32[2,3] but operands give f32[3]"),
    (B + "%1 = CAST %0 i8 : f32[3]\n", 2, 19, "type mismatch: CAST says f32[3] but operands give i8[3]"),
    (B + "%1 = NOT %0 : f32[3]\n", 2, 6, "NOT: needs integer or bool operands, got float32"),
    (B + "%1 = SUM %0 (3,) : f32[3]\n", 2, 6, "SUM: bad reduction axes (3,) for shape (3,)"),
    (B + "%1 = PAD %0 (1, 2) : f32[3]\n", 2, 13, "PAD needs a tuple of (int, int) pairs as its argument, got (1, 2)"),
    (B + "%1 = GATHER %0, %0 1 : f32[3]\n", 2, 20, "expected 'axis=', got '1'"),
    (B + "%1 = BUFFER #{uid} : f32[4]\n", 2, 27, "type mismatch: BUFFER says f32[4] but buffer #{uid} is f32[3]"),
    ("%0 = BUFFER #{uid} : f32[2,2]\n", 1, 27, "a BUFFER is 1-D, but the line says f32[2,2]"),
    ("%0 = CONST 1.0 : f32[2]\n", 1, 18, "type mismatch: CONST says f32[2] but a CONST is always f32[]"),
    ("%0 = CONST x : f32[]\n", 1, 12, "expected a number, True or False, got 'x'"),
    ("%0 = RAND seed=1, offset=-1 : f32[2]\n", 1, 11, "RAND needs (seed, offset) ints as its argument, got (1, -1)"),
    ("%0 = RAND seed=1 offset=0 : f32[2]\n", 1, 18, "expected ',', got 'offset'"),
    ("%0 = RAND seed=1, offset=0 : i32[2]\n", 1, 30, "RAND makes floats, not i32"),
    ("%0 = CONST 1.0 : f32[]\n%1 = NEG %0 : f32[]\n", 2, 20, "missing 'return' line at the end of the graph"),
    ("", 1, 1, "missing 'return' line at the end of the graph"),
    ("%0 = CONST 1.0 : f32[]\nreturn %0\n%1 = NEG %0 : f32[]\n", 3, 1, "unexpected statement after 'return'"),
    ("%0 = CONST 1.0 : f32[]\nreturn %0 %0\n", 2, 11, "expected ',' or end of line, got '%0'"),
    ("%0 = CONST 1.0 : f32[]\nreturn %1\n", 2, 8, "use of undefined value %1"),
    ("CONST 1.0 : f32[]\n", 1, 1, "expected a value like %3 or 'return', got 'CONST'"),
    ("%0 CONST 1.0 : f32[]\n", 1, 4, "expected '=', got 'CONST'"),
])
def test_parse_errors_have_exact_positions(text, line, column, message):
    uid = fresh_uid()
    text, message = text.replace("{uid}", str(uid)), message.replace("{uid}", str(uid))
    with pytest.raises(IRParseError) as info:
        parse_graph(text)
    e = info.value
    assert (e.message, e.line, e.column) == (message, line, column)
    assert str(e) == f"{line}:{column}: {message}"
    assert isinstance(e, IRError)


def test_diagnostic_shows_the_line_and_a_caret():
    with pytest.raises(IRParseError) as info:
        parse_graph("%0 = CONST 1.0 : f32[]\n%1 = ADD %0, %9 : f32[]\nreturn %1\n")
    assert info.value.diagnostic("g.ir") == (
        "g.ir:2:14: error: use of undefined value %9\n"
        "%1 = ADD %0, %9 : f32[]\n"
        "             ^")


def test_print_numbers_nodes_in_toposort_order():
    a = make(Op.CONST, arg=4.0, dtype=dt.float32)
    b = make(Op.SQRT, (a,))
    c = make(Op.ADD, (b, a))
    lines = print_graph([c], locations=False).splitlines()
    order = toposort([c])
    assert [ln.split(" = ")[1].split()[0] for ln in lines[:-1]] == [n.op.name for n in order]


def test_broken_argument_still_prints_but_does_not_parse():
    x = make(Op.BUFFER, arg=Buffer(dt.float32, 3, uid=fresh_uid()))
    bad = Node(Op.RESHAPE, dt.float32, (3,), (x,), [3], ("model.py", 1))  # a list, not a tuple
    text = print_graph([bad], locations=False)
    assert "%1 = RESHAPE %0 <bad argument [3]> : f32[3]" in text
    with pytest.raises(IRParseError, match="unexpected character '<'"):
        parse_graph(text)
