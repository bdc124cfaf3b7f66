"""Tests for the plan cache of lazytensor.runtime.llvm.backend: a flushed graph's schedule is
replayed for every later graph of the same structure over other buffers, and only then."""
from __future__ import annotations

import gc
import weakref

import numpy as np
import pytest

import lazytensor as lt
from lazytensor import config
from lazytensor.compiler import dtypes as dt
from lazytensor.compiler.ir import Buffer
from lazytensor.compiler.ops import Op, make
from lazytensor.compiler.passes import run_pipeline
from lazytensor.runtime import numpy_backend
from lazytensor.runtime.llvm import backend
from lt_testing import leaf


@pytest.fixture(autouse=True)
def _clean(tmp_path):
    config.set(CACHE_DIR=str(tmp_path))
    backend._plans.clear()
    yield
    backend._plans.clear()


def softmax_like(x, c=2.0, d=dt.float32):
    m = make(Op.MAX_REDUCE, (x,), (1,))
    shifted = make(Op.ADD, (x, make(Op.NEG, (make(Op.EXPAND, (m,), x.shape),))))
    e = make(Op.EXP2, (shifted,))
    s = make(Op.SUM, (e,), (1,))
    k = make(Op.EXPAND, (make(Op.RESHAPE, (make(Op.CONST, arg=c, dtype=d),), (1, 1)),),
             x.shape)
    return make(Op.MUL, (make(Op.MUL, (e, make(Op.EXPAND, (make(Op.RECIP, (s,)),), x.shape))), k))


def reference(a, c=2.0):
    e = np.exp2(a - a.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True) * c


def test_same_structure_over_other_buffers_replays_one_plan():
    rng = np.random.default_rng(0)
    for i in range(4):
        a = rng.standard_normal((5, 7)).astype(np.float32)
        got, = backend.run([softmax_like(leaf(a))])
        np.testing.assert_allclose(got, reference(a), rtol=1e-5)
        assert backend.plan_count() == 1


def test_structure_differences_make_new_plans():
    a = np.ones((5, 7), np.float32)
    backend.run([softmax_like(leaf(a))])
    backend.run([softmax_like(leaf(a), c=3.0)])  # another constant
    backend.run([softmax_like(leaf(np.ones((5, 8), np.float32)))])  # another shape
    got, = backend.run([softmax_like(leaf(a.astype(np.float64)), d=dt.float64)])  # another dtype
    assert got.dtype == np.float64
    x = leaf(a)
    backend.run([make(Op.ADD, (x, x))])  # one buffer read twice...
    backend.run([make(Op.ADD, (x, leaf(a)))])  # ...is not two buffers
    assert backend.plan_count() == 6
    zero, negzero = (make(Op.CONST, arg=v, dtype=dt.float32) for v in (0.0, -0.0))
    assert backend.signature([zero])[0] != backend.signature([negzero])[0]


def test_replayed_plan_reads_each_buffer_by_position():
    a, b = np.arange(6, dtype=np.int32), np.arange(6, dtype=np.int32) * 10
    for x, y in ((a, b), (b, a), (a, a + 1)):
        got, = backend.run([make(Op.ADD, (make(Op.MUL, (leaf(x), leaf(x))), leaf(y)))])
        np.testing.assert_array_equal(got, x * x + y)
    assert backend.plan_count() == 1


def test_several_outputs_and_stored_outputs_through_a_plan():
    for k in range(3):
        a = np.full((3, 4), k, np.float32)
        x = leaf(a)
        s = make(Op.SUM, (x,), (1,))
        outs = backend.run([make(Op.RESHAPE, (s,), (3,)), s, x])
        np.testing.assert_array_equal(outs[0], a.sum(1))
        np.testing.assert_array_equal(outs[1], a.sum(1, keepdims=True))
        np.testing.assert_array_equal(outs[2], a)
    assert backend.plan_count() == 1


def test_a_plan_keeps_no_buffer_alive():
    buf = Buffer(dt.float32, 8, data=np.ones(8, np.float32))
    ref = weakref.ref(buf)
    x = make(Op.BUFFER, arg=buf)
    backend.run([make(Op.EXP2, (x,))])
    del buf, x
    from lazytensor.compiler.ir import prune
    gc.collect()
    prune()
    assert ref() is None and backend.plan_count() == 1


def test_errors_from_a_replayed_plan_name_this_flush():
    def divide(a, b):
        return make(Op.IDIV, (leaf(np.array(a, np.int32)), leaf(np.array(b, np.int32))))
    backend.run([divide([1, 2], [1, 1])])
    n = divide([1, 2], [0, 1])
    with pytest.raises(ZeroDivisionError, match=f"test_backend.py:{n.loc[1]}"):
        backend.run([n])


def test_knobs_that_show_the_passes_bypass_plans(capsys):
    x = leaf(np.ones(4, np.float32))
    backend.run([make(Op.SQRT, (x,))])
    config.set(PRINT_AFTER="fuse")
    try:
        backend.run([make(Op.SQRT, (x,))])
    finally:
        config.set(PRINT_AFTER="")
    assert "IR after fuse" in capsys.readouterr().err


def test_clearing_the_kernels_drops_the_plans_that_launch_them():
    x = leaf(np.ones(4, np.float32))
    backend.run([make(Op.SIN, (x,))])
    backend.clear_kernels()
    assert backend.cache_size() == 0 and backend.plan_count() == 0
    backend.run([make(Op.SIN, (x,))])  # compiled again, not replayed from a stale plan
    assert backend.cache_size() == 1


def test_training_loop_flushes_replay_plans():
    old = config.get("BACKEND")
    config.set(BACKEND="llvm")
    try:
        w = lt.from_numpy(np.ones((4, 3), np.float32)).requires_grad_()
        xs = np.random.default_rng(1).standard_normal((6, 8, 4)).astype(np.float32)
        counts = []
        for xb in xs:
            loss = (lt.from_numpy(xb) @ w).relu().sum()
            loss.backward()
            with lt.no_grad():
                w -= 0.01 * w.grad
            w.grad = None
            loss.item()
            counts.append(backend.plan_count())
        assert counts[-1] == counts[2]  # steady state: no new plan per step
    finally:
        config.set(BACKEND=old)


# ---- outputs written in place (run(..., into=...)) ----

def buffer_of(a):
    buf = Buffer(dt.dtype_from_numpy(a.dtype), a.size, data=a.reshape(-1))
    n = make(Op.BUFFER, arg=buf)
    return n if n.shape == a.shape else make(Op.RESHAPE, (n,), a.shape)


def test_an_elementwise_update_is_written_into_its_storage():
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    b = np.ones((3, 4), np.float32)
    x = buffer_of(a)
    for _ in range(2):  # compiled, then replayed from the plan
        got, = backend.run([make(Op.ADD, (x, buffer_of(b)))], into=[a.reshape(-1)])
        assert np.shares_memory(got, a)
    np.testing.assert_array_equal(a, np.arange(12, dtype=np.float32).reshape(3, 4) + 2)


def const(value, dtype, shape):
    return make(Op.EXPAND, (make(Op.RESHAPE, (make(Op.CONST, arg=value, dtype=dtype),), (1,) * len(shape)),), shape)


def test_a_reduction_epilogue_update_is_written_in_place():
    # the target read only in the epilogue, at the element written: in place (products, rows,
    # columns, a full reduction's fin); read under the reduction too: never in place
    rng = np.random.default_rng(5)
    g = buffer_of(rng.standard_normal((40, 24)).astype(np.float32))
    xin = buffer_of(rng.standard_normal((40, 16)).astype(np.float32))
    big = buffer_of(rng.standard_normal((300, 300)).astype(np.float32))
    gt = make(Op.PERMUTE, (g,), (1, 0))  # (24, 40)
    grad = make(Op.RESHAPE, (make(Op.SUM, (make(Op.MUL, (
        make(Op.EXPAND, (make(Op.RESHAPE, (gt,), (24, 1, 40)),), (24, 16, 40)),
        make(Op.EXPAND, (make(Op.RESHAPE, (make(Op.PERMUTE, (xin,), (1, 0)),), (1, 16, 40)),), (24, 16, 40)))),),
        (2,)),), (24, 16))
    cases = [  # (shape of the target, update of target w, reads w under the reduction)
        ((24, 16), lambda w: make(Op.ADD, (w, make(Op.MUL, (grad, const(-0.1, dt.float32, (24, 16)))))), False),
        ((300, 1), lambda w: make(Op.ADD, (w, make(Op.SUM, (big,), (1,)))), False),
        ((1, 300), lambda w: make(Op.ADD, (w, make(Op.SUM, (big,), (0,)))), False),
        ((1, 1), lambda w: make(Op.ADD, (w, make(Op.SUM, (big,), (0, 1)))), False),
        ((300, 1), lambda w: make(Op.ADD, (w, make(Op.SUM, (make(Op.MUL, (big, make(Op.EXPAND, (w,), (300, 300)))),), (1,)))), True),
    ]
    for shape, update, reads_under in cases:
        for _ in range(2):  # compiled, then replayed from the plan
            a = rng.standard_normal(shape).astype(np.float32)
            want, = numpy_backend.run([update(buffer_of(a.copy()))])
            (k,) = run_pipeline([update(buffer_of(a))], "fuse").kernels
            assert k.reductions()  # one kernel: the update is the reduction's epilogue
            got, = backend.run([update(buffer_of(a))], into=[a.reshape(-1)])
            assert np.shares_memory(got, a) is not reads_under
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4)
            if not reads_under:
                np.testing.assert_allclose(a, want, rtol=1e-5, atol=1e-4)


def moved_reads(x):
    """Updates of x that read it at other elements than they write (never in place)."""
    n = x.shape[0]
    return [make(Op.ADD, (x, make(Op.FLIP, (x,), (0,)))),
            make(Op.MUL, (x, make(Op.PERMUTE, (x,), (1, 0)))),
            make(Op.ADD, (x, make(Op.EXPAND, (make(Op.SHRINK, (x,), ((0, 1), (0, n))),), (n, n))))]


def test_updates_reading_other_elements_are_not_written_in_place():
    for k, update in enumerate(moved_reads(buffer_of(np.zeros((4, 4), np.float32)))):
        a = np.random.default_rng(k).standard_normal((4, 4)).astype(np.float32)
        x = buffer_of(a)
        want = [a + a[::-1], a * a.T, a + a[:1]][k]
        update = moved_reads(x)[k]
        got, = backend.run([update], into=[a.reshape(-1)])
        assert not np.shares_memory(got, a)
        np.testing.assert_allclose(got, want, rtol=1e-6)


def test_no_in_place_write_when_a_later_step_reads_the_storage():
    a = np.arange(6, dtype=np.float32)
    x = buffer_of(a)
    new = make(Op.ADD, (x, x))
    # the second output needs the old contents after the first is computed
    s = make(Op.SUM, (make(Op.MUL, (x, new)),), (0,))
    got_new, got_s = backend.run([new, s], into=[a, None])
    old = np.arange(6, dtype=np.float32)
    np.testing.assert_array_equal(got_new, 2 * old)
    assert float(got_s.reshape(())) == float((old * 2 * old).sum())


def test_no_in_place_write_into_another_dtype_or_a_stored_output():
    a = np.arange(6, dtype=np.float64)
    x = buffer_of(np.arange(6, dtype=np.float32))
    got, = backend.run([make(Op.EXP2, (x,))], into=[a])
    assert not np.shares_memory(got, a) and got.dtype == np.float32
    b = np.arange(6, dtype=np.float32)
    y = buffer_of(b)
    got_new, got_old = backend.run([make(Op.ADD, (y, y)), y], into=[b, None])
    np.testing.assert_array_equal(got_old, np.arange(6))  # handed back before any write


def test_in_place_updates_through_the_tensor_api_agree_with_numpy():
    old = config.get("BACKEND")
    config.set(BACKEND="llvm")
    try:
        rng = np.random.default_rng(3)
        a = rng.standard_normal((6, 6)).astype(np.float32)
        x = (lt.from_numpy(a) * 1).realize()  # storage nobody outside sees
        ref = a.copy()
        x.add_(1.5)
        ref += 1.5
        x.mul_(x)
        ref *= ref
        x.add_(x.flip(0))
        ref += ref[::-1].copy()
        x.copy_(x.t() - 1)
        ref[:] = ref.T - 1
        x[1:] += x[:-1]
        ref[1:] += ref[:-1].copy()
        np.testing.assert_allclose(x.numpy(), ref, rtol=1e-5)
        y = lt.from_numpy(a.copy())  # storage numpy shares: writes land there at once
        arr = y.numpy()
        y.sub_(2.0)
        np.testing.assert_allclose(arr, a - 2, rtol=1e-6)
    finally:
        config.set(BACKEND=old)


def test_a_failing_flush_leaves_in_place_targets_unchanged():
    a = np.arange(4, dtype=np.int32)
    x = buffer_of(a)
    bad = make(Op.IDIV, (x, buffer_of(np.array([1, 0, 1, 1], np.int32))))
    for _ in range(2):  # compiled, then from the plan
        with pytest.raises(ZeroDivisionError):
            backend.run([make(Op.ADD, (x, bad))], into=[a])
        np.testing.assert_array_equal(a, np.arange(4))
    old = config.get("BACKEND")
    config.set(BACKEND="llvm")
    try:
        t = (lt.arange(4, dtype=lt.int32) * 1).realize()
        with pytest.raises(ZeroDivisionError):
            t.add_(t // lt.tensor([1, 0, 1, 1], dtype=lt.int32))
            t.realize()
        # t stays pending (observing it raises again); its storage keeps the old values
        np.testing.assert_array_equal(t._buffer.data, np.arange(4))
    finally:
        config.set(BACKEND=old)


def _in_place_program(seed: int, backend_name: str) -> list:
    """A small random program of in-place updates, views, reductions and observations (with a
    tensor's storage shared with numpy throughout); what it observes, in order."""
    import random
    config.set(BACKEND=backend_name)
    r = random.Random(seed)
    n = r.choice([3, 64, 130])
    data = np.random.default_rng(seed)
    a = lt.tensor(data.standard_normal((n, n)).astype(np.float32))
    b = lt.tensor(data.standard_normal((n, n)).astype(np.float32))
    shared = a.numpy()  # writes to a's storage now run at once
    seen = []
    for _ in range(8):
        k = r.randrange(14)
        if k == 0:
            a = a + b.t()
        elif k == 1:
            a.mul_(0.5)
        elif k == 2:
            a = a.exp().clamp(max=5)
        elif k == 3:
            b.add_(a[:, :1])
        elif k == 4:
            a = a.softmax(-1)
        elif k == 5:
            seen.append(a.sum(0).numpy().copy())
        elif k == 6:
            a[1:] = a[:-1] * 2
        elif k == 7:
            b = (a @ b) / n
        elif k == 8:
            a = a.flip(1).contiguous()
        elif k == 9:
            seen.append(np.float32(b.mean().item()))
        elif k == 10:
            b.copy_(a.t())
        elif k == 11:
            a = lt.where(a > 0, a, b)
        elif k == 12:
            b.add_((a @ a) / n)  # b in the product's epilogue only: may be written in place
        else:
            a.sub_(a.sum(1, keepdim=True) / n)  # a under the reduction too: never in place
    return seen + [a.numpy().copy(), b.numpy().copy(), shared.copy()]


@pytest.mark.parametrize("seed", range(120))
def test_random_in_place_programs_agree_with_the_numpy_backend(seed):
    # run twice on llvm: the second run replays cached plans over new buffers
    want = _in_place_program(seed, "numpy")
    for _ in range(2):
        got = _in_place_program(seed, "llvm")
        for w, g in zip(want, got, strict=True):
            np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-4)


# ---- what a flush pays per plan replay ----

def test_signature_numbers_nodes_in_toposort_order():
    from lazytensor.compiler.ir import toposort
    a, b = leaf(np.ones((5, 7), np.float32)), leaf(np.zeros((5, 7), np.float32))
    raw = make(Op.BUFFER, arg=Buffer(dt.float32, 3, data=np.ones(3, np.float32)))
    outs = [softmax_like(a), make(Op.ADD, (a, b)), raw, a]
    (parts, where), leaves = backend.signature(outs)
    order = toposort(outs)
    assert len(parts) == len(order)
    assert [p[0] for p in parts] == [n.op for n in order]
    assert [id(n) for n in leaves] == [id(n) for n in order if n.op is Op.BUFFER]
    assert [order[i] for i in where] == outs
    for p, n in zip(parts, order):  # each node names its sources by their numbers
        assert [order[i] for i in p[4]] == list(n.srcs)


def test_a_signature_hashes_once_and_equals_an_equal_graphs():
    x = leaf(np.ones((5, 7), np.float32))
    first, _ = backend.signature([softmax_like(x)])
    second, _ = backend.signature([softmax_like(leaf(np.ones((5, 7), np.float32)))])
    assert first == second and first is not second and hash(first) == hash(second)
    assert first._hash == hash(first)  # kept: a plan lookup hashes its key more than once
    assert first != backend.signature([softmax_like(x, c=3.0)])[0]


def test_a_replayed_plan_finds_its_entry_by_the_stored_key():
    a = np.ones((5, 7), np.float32)
    backend.run([softmax_like(leaf(a))])
    sig, _ = backend.signature([softmax_like(leaf(a))])
    plan = backend._cached_plan(sig)
    assert plan is not None and plan.key == sig and plan.key is not sig
    assert next(iter(backend._plans)) is plan.key


def test_a_plans_temporaries_share_one_block_without_overlapping():
    a = np.random.default_rng(2).standard_normal((5, 7)).astype(np.float32)
    for _ in range(2):  # the plan's first run, then a replay
        got, = backend.run([softmax_like(leaf(a))])
        np.testing.assert_allclose(got, reference(a), rtol=1e-5)
    (plan,) = backend._plans.values()
    offsets, total, _ = plan.layout()
    temps = {s.slot: s.nbytes for s in plan.steps if not s.is_output}
    assert temps and set(offsets) == set(temps)
    spans = sorted((offsets[k], offsets[k] + temps[k]) for k in temps)
    assert all(start % 64 == 0 for start, _ in spans)
    assert all(end <= nxt for (_, end), (nxt, _) in zip(spans, spans[1:])) and spans[-1][1] <= total


def test_an_update_after_every_kernel_that_may_raise_is_written_in_place():
    a = np.arange(6, dtype=np.float32)
    idx = np.array([2, 0, 1], np.int64)
    for k in range(2):  # compiled, then replayed from the plan
        x = buffer_of(a)
        picked = make(Op.GATHER, (x, buffer_of(idx)), 0)  # may raise: index out of range
        total = make(Op.SUM, (picked,), (0,))
        update = make(Op.ADD, (x, make(Op.EXPAND, (total,), (6,))))
        old = a.copy()
        got_total, got_update = backend.run([total, update], into=[None, a])
        assert np.shares_memory(got_update, a)  # the update runs after the gather's kernel
        np.testing.assert_array_equal(got_total, [old[[2, 0, 1]].sum()])
        np.testing.assert_array_equal(a, old + old[[2, 0, 1]].sum())


def test_a_raising_kernel_before_an_in_place_update_leaves_it_unwritten():
    a = np.arange(6, dtype=np.float32)
    for k in range(2):  # compiled, then replayed from the plan
        x = buffer_of(a)
        bad = make(Op.GATHER, (x, buffer_of(np.array([2, 9, 1], np.int64))), 0)
        update = make(Op.ADD, (x, make(Op.EXPAND, (make(Op.SUM, (bad,), (0,)),), (6,))))
        with pytest.raises(IndexError):
            backend.run([update], into=[a])
        np.testing.assert_array_equal(a, np.arange(6))
