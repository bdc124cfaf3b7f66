"""Tests for lazytensor.compiler.ir: hash-consing, structural keys, pruning, toposort, locations."""
from __future__ import annotations

import gc
import math
import os
import subprocess
import sys
import textwrap
import weakref

import pytest

import lazytensor as lt
from lazytensor.compiler import dtypes as dt
from lazytensor.compiler.ir import (Buffer, IRError, Node, format_location, live_node_count, node, prune,
                                    toposort, user_location)
from lazytensor.compiler.ops import Op, make


def const(value, dtype=dt.float32):
    """A CONST node, as the Tensor layer builds it."""
    return make(Op.CONST, arg=value, dtype=dtype)


# ---- hash-consing ----

def test_same_fields_give_the_same_node():
    b = Buffer(dt.float32, 6)
    x = make(Op.BUFFER, arg=b)
    assert make(Op.BUFFER, arg=b) is x
    y = make(Op.RESHAPE, (x,), (2, 3))
    assert make(Op.RESHAPE, (x,), (2, 3)) is y
    assert make(Op.ADD, (y, y)) is make(Op.ADD, (y, y))
    assert make(Op.SUM, (y,), (1,)) is make(Op.SUM, [y], (1,))  # a list of operands is the same key
    assert make(Op.RAND, arg=(1, 0), dtype=dt.float32, shape=(2,)) is \
        make(Op.RAND, arg=(1, 0), dtype=dt.float32, shape=(2,))


def test_different_fields_give_different_nodes():
    x = make(Op.BUFFER, arg=Buffer(dt.float32, 6))
    assert make(Op.BUFFER, arg=Buffer(dt.float32, 6)) is not x  # buffers are never merged
    a, b = make(Op.RESHAPE, (x,), (2, 3)), make(Op.RESHAPE, (x,), (3, 2))
    assert a is not b
    assert make(Op.ADD, (a, a)) is not make(Op.MUL, (a, a))
    assert make(Op.RAND, arg=(1, 0), dtype=dt.float32, shape=(2,)) is not \
        make(Op.RAND, arg=(1, 0), dtype=dt.float64, shape=(2,))
    assert const(1.0, dt.float32) is not const(1.0, dt.float64)


def test_python_equal_constants_stay_distinct():
    zero, negzero = const(0.0), const(-0.0)
    assert zero is not negzero and math.copysign(1, negzero.arg) == -1
    one_int, one_float, one_bool = const(1), const(1.0), const(True)
    assert len({id(one_int), id(one_float), id(one_bool)}) == 3
    assert type(one_int.arg) is int and type(one_float.arg) is float and type(one_bool.arg) is bool
    assert const(1, dt.int64) is not const(True, dt.int64)


def test_nan_constants_hash_cons():
    a = const(float("nan"))
    assert const(float("nan")) is a
    assert const(math.inf - math.inf) is a
    assert const(math.inf) is not const(-math.inf)


def test_node_refuses_a_second_type_for_the_same_operands():
    x = make(Op.BUFFER, arg=Buffer(dt.float32, 3))
    n = make(Op.NEG, (x,))
    assert node(Op.NEG, dt.float32, (3,), (x,)) is n
    with pytest.raises(IRError, match=r"NEG over these operands is f32\[3\], not f64\[3\]"):
        node(Op.NEG, dt.float64, (3,), (x,))


# ---- structural keys ----

_KEY_PROGRAM = textwrap.dedent("""
    from lazytensor.compiler import dtypes as dt
    from lazytensor.compiler.ir import Buffer
    from lazytensor.compiler.ops import Op, make

    def graph():
        x = make(Op.RESHAPE, (make(Op.BUFFER, arg=Buffer(dt.float32, 6, uid=1234567)),), (2, 3))
        r = make(Op.RAND, arg=(42, 7), dtype=dt.float32, shape=(2, 3))
        c = make(Op.EXPAND, (make(Op.RESHAPE, (make(Op.CONST, arg=-0.0, dtype=dt.float32),), (1, 1)),), (2, 3))
        y = make(Op.WHERE, (make(Op.CMPLT, (x, r)), make(Op.ADD, (x, c)), r))
        s = make(Op.SUM, (make(Op.CAST, (y,), dt.float64),), (0,))
        return make(Op.PAD, (make(Op.PERMUTE, (s,), (1, 0)),), ((1, 0), (0, 2)))
""")


def test_structural_key_is_stable_across_processes():
    namespace: dict = {}
    exec(_KEY_PROGRAM, namespace)
    here = namespace["graph"]().key
    env = dict(os.environ, PYTHONHASHSEED="12345")  # a different str hash: the key must not use hash()
    out = subprocess.run([sys.executable, "-c", _KEY_PROGRAM + "\nprint(graph().key)"], env=env,
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == here
    assert len(here) == 32 and int(here, 16) >= 0


def test_structural_keys_distinguish_graphs():
    x = make(Op.BUFFER, arg=Buffer(dt.float32, 3))
    y = make(Op.BUFFER, arg=Buffer(dt.float32, 3))
    nodes = [x, y, make(Op.ADD, (x, y)), make(Op.ADD, (y, x)), make(Op.MUL, (x, y)), make(Op.NEG, (x,)),
             const(0.0), const(-0.0), const(1), const(1.0), const(True), const(1.0, dt.float64),
             make(Op.RESHAPE, (x,), (3, 1)), make(Op.RESHAPE, (x,), (1, 3)), make(Op.FLIP, (x,), (0,)),
             make(Op.RAND, arg=(1, 0), dtype=dt.float32, shape=(3,)),
             make(Op.RAND, arg=(1, 1), dtype=dt.float32, shape=(3,)),
             make(Op.CAST, (x,), dt.int32), make(Op.CAST, (x,), dt.int64)]
    keys = [n.key for n in nodes]
    assert len(set(keys)) == len(keys)


def test_key_of_equal_graphs_is_equal_and_ignores_location():
    def build():
        b = Buffer(dt.int32, 4, uid=2345678)
        return make(Op.SUM, (make(Op.BUFFER, arg=b),), (0,))

    first = build()
    key = first.key
    del first
    prune()
    second = build()  # a new node object (the first is gone), built on another line
    assert second.key == key


# ---- the table frees what nobody holds ----

def test_prune_frees_unreachable_nodes():
    gc.collect()
    prune()  # garbage of earlier tests (freed by gc.collect below) must not count here
    x = make(Op.BUFFER, arg=Buffer(dt.float32, 4))
    chain = [x]
    for _ in range(50):
        chain.append(make(Op.EXP2, (chain[-1],)))
    refs = [weakref.ref(n) for n in chain]
    keep = chain[10]
    before = live_node_count()
    del chain, x
    gc.collect()
    after = prune()
    assert after == before - 40  # nodes 11..50 were held by the table alone
    assert all(r() is None for r in refs[11:])
    assert all(r() is not None for r in refs[:11])  # `keep` holds its sources
    assert make(Op.EXP2, (keep.srcs[0],)) is keep
    del keep
    prune()
    assert all(r() is None for r in refs)


def test_prune_keeps_nodes_of_live_tensors():
    t = lt.ones(3) * 2
    n = t.node
    ref = weakref.ref(n)
    del n
    prune()
    assert ref() is t.node


# ---- toposort ----

def test_toposort_orders_sources_first_and_visits_shared_nodes_once():
    x = make(Op.BUFFER, arg=Buffer(dt.float32, 3))
    a = make(Op.NEG, (x,))
    b = make(Op.ADD, (a, x))
    c = make(Op.MUL, (b, a))
    order = toposort([c, a, c])
    assert order == [x, a, b, c]
    pos = {id(n): i for i, n in enumerate(order)}
    assert all(pos[id(s)] < pos[id(n)] for n in order for s in n.srcs)


def test_toposort_of_a_deep_chain_does_not_recurse():
    x = make(Op.BUFFER, arg=Buffer(dt.float32, 2))
    first = x
    for _ in range(100_000):
        x = make(Op.NEG, (x,))
    order = toposort([x])
    assert len(order) == 100_001 and order[0] is first and order[-1] is x
    assert len(x.key) == 32  # the key walks the chain too
    del x, first, order
    assert prune() < 100_000  # and the chain is freed without recursing either


# ---- locations ----

def test_location_is_the_user_line():
    line = sys._getframe().f_lineno + 1
    n = make(Op.RAND, arg=(99, 1234), dtype=dt.float32, shape=(5, 7))
    assert n.loc == (__file__, line)
    assert format_location(n.loc) == f"{__file__}:{line}"
    assert format_location(None) == "<unknown>"


def test_location_through_the_tensor_api():
    line = sys._getframe().f_lineno + 1
    t = lt.full((2, 9), 3.25) * lt.full((2, 9), -1.5)
    assert t.node.loc == (__file__, line)


def test_every_node_of_a_composite_op_records_the_user_line():
    x = lt.full((3, 4), 0.5).realize()
    line = sys._getframe().f_lineno + 1
    y = (x.exp() @ x.t()).sum(1, keepdim=True) + lt.where(x > 0, x, -x).relu().mean()
    # the nodes over x's stored value are new (constants and their broadcasts may be older)
    over_x = {id(x.node)}
    fresh = []
    for n in toposort([y.node]):
        if any(id(s) in over_x for s in n.srcs):
            over_x.add(id(n))
            fresh.append(n)
    assert len(fresh) > 10 and all(n.loc == (__file__, line) for n in fresh)


def test_a_location_far_down_a_long_function_is_its_own_line():
    # a node keeps (code, offset) and decodes the line when read: the decoding must agree with f_lineno
    body = "".join(f"    v{i} = {i}\n" for i in range(300))
    src = f"def far(lt, sys):\n{body}    here = sys._getframe().f_lineno + 1\n    t = lt.full((2,), 1.5) + 2.0\n" \
          "    return t, here\n"
    scope = {}
    exec(compile(src, "/user/long_script.py", "exec"), scope)
    t, here = scope["far"](lt, sys)
    assert t.node.loc == ("/user/long_script.py", here)
    assert format_location(t.node.loc) == f"/user/long_script.py:{here}"


def test_no_location_is_left_set_after_an_op_fails():
    from lazytensor.compiler import ir
    with pytest.raises(RuntimeError):
        lt.ones(2, 3) + lt.ones(4, 5)
    assert ir.site[0] is None
    line = sys._getframe().f_lineno + 1
    n = make(Op.NEG, (lt.ones(7).node,))
    assert n.loc == (__file__, line)


def test_a_node_pickles_with_its_location():
    import pickle
    line = sys._getframe().f_lineno + 1
    t = lt.full((2, 3), 1.5).exp()
    back = pickle.loads(pickle.dumps(t.node))
    assert back.loc == t.node.loc == (__file__, line)
    assert (back.op, back.dtype, back.shape, back.srcs[0].op) == (t.node.op, t.node.dtype, t.node.shape,
                                                                 t.node.srcs[0].op)


def test_user_site_is_user_location_undecoded():
    from lazytensor.compiler.ir import _resolve, user_site
    line = sys._getframe().f_lineno
    site, location = user_site(), user_location()
    assert _resolve(site) == location == (__file__, line + 1)


def test_user_location_skips_library_frames():
    assert user_location() == (__file__, sys._getframe().f_lineno)


def test_node_repr_names_op_type_and_location():
    n = Node(Op.NEG, dt.float32, (2, 3), (), None, ("model.py", 4))
    assert repr(n) == "<NEG f32[2, 3] at model.py:4>"


def test_a_recent_only_prune_frees_the_new_dead_nodes_and_leaves_older_ones():
    from lazytensor.compiler import ir as _ir
    old = _ir.node(Op.CONST, dt.float32, (), (), 12345.5)
    old_ref = weakref.ref(old)
    del old
    _ir.prune(recent_only=True)  # `old` was made after the last prune, so it is looked at and freed
    assert old_ref() is None
    kept = _ir.node(Op.CONST, dt.float32, (), (), 54321.5)
    _ir.prune()
    kept_ref = weakref.ref(kept)
    del kept  # dead, but made before the last prune
    new = _ir.node(Op.CONST, dt.float32, (), (), 99999.5)
    new_ref = weakref.ref(new)
    del new
    _ir.prune(recent_only=True)
    assert new_ref() is None and kept_ref() is not None  # only what came after the last prune
    _ir.prune()
    assert kept_ref() is None


def _big_old_table(n: int) -> list:
    """`n` live nodes made before a full prune (the old part of the table), held by the list."""
    keep = [const(float(i) + 0.25) for i in range(n)]
    prune()
    return keep


@pytest.fixture
def every_flush_prunes(monkeypatch):
    """prune_after_flush without its small-flush exemption (the policy the tests below check)."""
    from lazytensor.compiler import ir as _ir
    monkeypatch.setattr(_ir, "SMALL_FLUSH_ENTRIES", 0)


def test_a_small_flush_leaves_its_dead_nodes_to_a_later_prune():
    from lazytensor.compiler import ir as _ir
    prune()
    first = weakref.ref(const(0.625))  # dead at once: only the table holds it
    _ir.prune_after_flush()
    assert first() is not None  # a small flush leaves it...
    keep = [const(i + 0.75) for i in range(_ir.SMALL_FLUSH_ENTRIES)]
    _ir.prune_after_flush()
    assert first() is None  # ...until SMALL_FLUSH_ENTRIES entries were made since the last prune
    # a flush that made SMALL_FLUSH_BYTES of new buffers prunes at once
    second = weakref.ref(const(0.0625))
    Buffer(dt.uint8, _ir.SMALL_FLUSH_BYTES)
    _ir.prune_after_flush()
    assert second() is None
    del keep
    prune()


@pytest.mark.usefixtures("every_flush_prunes")
def test_a_flush_prune_frees_dead_nodes_made_since_the_last_full_prune():
    from lazytensor.compiler import ir as _ir
    keep = _big_old_table(500)
    survivor = const(0.125)  # young: made after the full prune
    _ir.prune(recent_only=True)  # ...and alive at a partial prune since
    survivor_ref = weakref.ref(survivor)
    del survivor
    dead = const(0.375)
    dead_ref = weakref.ref(dead)
    del dead
    _ir.prune_after_flush()
    # both are freed: a flush looks at everything made since the last full prune
    assert survivor_ref() is None and dead_ref() is None
    del keep
    prune()


@pytest.mark.usefixtures("every_flush_prunes")
def test_a_flush_prune_leaves_old_dead_nodes_to_a_full_prune():
    from lazytensor.compiler import ir as _ir
    keep = _big_old_table(500)
    old_ref = weakref.ref(keep[-1])
    del keep[-1]  # dead, but made before the last full prune
    _ir.prune_after_flush()
    assert old_ref() is not None
    prune()
    assert old_ref() is None
    del keep
    prune()


@pytest.mark.usefixtures("every_flush_prunes")
def test_a_flush_prune_looks_at_the_new_entries_only(monkeypatch):
    from lazytensor.compiler import ir as _ir
    keep = _big_old_table(2000)
    looked_at = []
    real = _ir._prune_newest
    monkeypatch.setattr(_ir, "_prune_newest", lambda count: looked_at.append(count) or real(count))
    for i in range(5):
        x = const(float(i) + 0.5)
        make(Op.NEG, (make(Op.EXP2, (x,)),))
        del x
        _ir.prune_after_flush()
    assert looked_at and max(looked_at) <= 10, looked_at  # not the 2000 old entries
    del keep
    prune()


@pytest.mark.usefixtures("every_flush_prunes")
def test_flush_prunes_walk_the_whole_table_now_and_then(monkeypatch):
    from lazytensor.compiler import ir as _ir
    keep = _big_old_table(100)
    size = len(_ir._table)
    old_ref = weakref.ref(keep[-1])
    del keep[-1]
    # once the partial prunes have looked at as many entries as the table holds, a full one runs
    # (here each looks at one more survivor than the last: 1 + 2 + ... + i > size)
    young = []
    for i in range(1, 100_000):
        young.append(const(float(i) + 0.75))
        _ir.prune_after_flush()
        if old_ref() is None:
            break
    assert old_ref() is None and i * (i + 1) // 2 <= size + i + 1, (i, size)
    # ...and after PRUNE_AFTER_BYTES of new buffers since the last full prune
    old_ref = weakref.ref(keep[-1])
    del keep[-1]
    _ir.prune_after_flush()
    assert old_ref() is not None
    monkeypatch.setattr(_ir, "FULL_PRUNE_AFTER_BYTES", 1 << 40)  # no full prune while allocating
    Buffer(dt.float32, (_ir.PRUNE_AFTER_BYTES >> 2) + 1)
    _ir.prune_after_flush()
    assert old_ref() is None
    del keep, young
    prune()


def _reference_toposort(roots, stop=frozenset()):
    """toposort's contract, written recursively: sources left to right, each node once."""
    order, seen = [], set()

    def visit(n):
        if id(n) in seen:
            return
        seen.add(id(n))
        if id(n) not in stop:
            for s in n.srcs:
                visit(s)
        order.append(n)

    for r in roots:
        visit(r)
    return order


def test_toposort_matches_a_recursive_depth_first_walk():
    import random
    for trial in range(200):
        r = random.Random(trial)
        nodes = [make(Op.BUFFER, arg=Buffer(dt.float32, 3)) for _ in range(r.randint(1, 3))]
        for _ in range(r.randint(0, 30)):
            k = r.randint(1, 3)
            picks = tuple(r.choice(nodes) for _ in range(k))
            op = {1: Op.NEG, 2: Op.ADD, 3: Op.WHERE}[k]
            if k == 3:
                picks = (make(Op.CMPLT, picks[:2]),) + picks[1:]
            nodes.append(make(op, picks))
        roots = [r.choice(nodes) for _ in range(r.randint(1, 4))]
        stop = {id(r.choice(nodes)) for _ in range(r.randint(0, 3))}
        for s in (frozenset(), stop):
            assert [id(n) for n in toposort(roots, s)] == [id(n) for n in _reference_toposort(roots, s)]


def test_buffer_live_maps_uids_of_live_buffers_and_forgets_dead_ones():
    kept = Buffer(dt.float32, 2)
    assert Buffer.live[kept.uid] is kept and kept.uid in Buffer.live
    before = len(Buffer.live._refs)
    n = 2 * before + 2048  # enough to pass the next sweep point, whatever the map holds
    for _ in range(n):
        Buffer(dt.float32, 2)  # dies at once
    gc.collect()
    gone = Buffer(dt.float32, 2)
    uid = gone.uid
    del gone
    assert Buffer.live.get(uid) is None and uid not in Buffer.live
    with pytest.raises(KeyError):
        Buffer.live[uid]
    # swept as it grows: the dead ones do not pile up
    assert len(Buffer.live._refs) <= Buffer.live._sweep_at + 1 and len(Buffer.live._refs) < before + n
    assert Buffer.live.get(kept.uid) is kept
