"""Auto-flush: what observes a value, what stays lazy, and that long loops stay bounded."""
import gc
import tracemalloc

import numpy as np
import pytest

import lazytensor as lt
from lazytensor import config, lazy
from lazytensor.compiler.ir import live_node_count
from lazytensor.compiler.ops import Op
from lazytensor.runtime import backends


@pytest.fixture
def flushes(monkeypatch):
    """Counts backend runs (one per flush)."""
    calls = []
    backend = backends.current()  # whichever LT_BACKEND selects, so the suite runs on each
    real = backend.run

    def counting_run(outputs):
        calls.append(len(outputs))
        return real(outputs)

    monkeypatch.setattr(backend, "run", counting_run)
    return calls


def test_ops_do_not_run_until_observed(flushes):
    x = lt.ones(3)
    y = (x + 2) * 3 - x.exp()
    assert flushes == []
    assert y.node.op is not Op.BUFFER
    assert y.shape == (3,) and y.dtype is lt.float32  # metadata needs no flush
    assert flushes == []


@pytest.mark.parametrize("observe", [
    repr, str, lambda t: t.item(), lambda t: t.tolist(), lambda t: t.numpy(), lambda t: np.asarray(t),
    bool, int, float, lambda t: t.realize(), lambda t: lt.realize(t), lambda t: t.data_ptr(),
])
def test_observations_flush(flushes, observe):
    y = lt.ones(()) * 2
    observe(y)
    assert len(flushes) == 1


def test_realized_nodes_become_buffer_reads():
    y = lt.ones(2, 3) + 1
    y.realize()
    n = y.node
    assert n.op is Op.RESHAPE and n.srcs[0].op is Op.BUFFER
    y.realize()  # nothing left to do
    assert y.node is n


def test_a_flush_stores_the_pending_values_it_computes_anyway(flushes):
    a = lt.arange(4.0)
    b = a * 2
    c = b + 1
    d = a - 1  # shares no computed value with c
    assert c.tolist() == [1.0, 3.0, 5.0, 7.0]
    assert lazy.is_realized(b) and not lazy.is_realized(d)
    assert b.tolist() == [0.0, 2.0, 4.0, 6.0]  # stored by c's flush: no second one
    assert len(flushes) == 1
    assert d.tolist() == [-1.0, 0.0, 1.0, 2.0]
    assert len(flushes) == 2


def test_a_training_loop_stays_flat():
    """Observing the loss also stores the optimizer's pending updates, so nothing piles up."""
    lt.manual_seed(0)
    w = lt.randn(8, 4, requires_grad=True)
    x = lt.randn(16, 8)
    depths = []
    for _ in range(20):
        loss = (x @ w).tanh().sum()
        loss.backward()
        with lt.no_grad():
            w.sub_(0.01 * w.grad)
            w.grad.zero_()
        loss.item()
        depths.append(len(__import__("lazytensor").compiler.ir.toposort([w.node])))
    assert max(depths[5:]) <= 3, depths  # w is a read of its storage after every step


def test_eager_mode_flushes_after_every_op(flushes):
    config.set(EAGER=True)
    x = lt.ones(3)
    y = x + 1
    y = y * 2
    assert lazy.is_realized(y)
    assert len(flushes) == 3


def test_eager_mode_from_environment(monkeypatch):
    monkeypatch.setenv("LT_EAGER", "1")
    config.reset()
    assert config.get("EAGER") is True
    monkeypatch.setenv("LT_EAGER", "0")
    config.reset()
    assert config.get("EAGER") is False


def test_pending_graph_is_bounded_without_observation(flushes):
    config.set(MAX_PENDING=200)
    x = lt.zeros(4)
    for _ in range(2000):
        x = x + 1
    assert len(flushes) >= 5  # it flushed by itself
    assert x.tolist() == [2000.0] * 4


def test_hundred_thousand_op_loop_stays_bounded():
    """100,000 ops with an observation every 1,000: live nodes and memory stay flat."""
    x = lt.zeros(16)
    w = lt.full((16,), 0.5)
    node_counts, peaks = [], []
    gc.collect()
    tracemalloc.start()
    try:
        for i in range(1, 50_001):
            x = x * 0.999 + w  # two ops per iteration
            if i % 500 == 0:
                x.tolist()
                if i % 5_000 == 0:
                    gc.collect()
                    node_counts.append(live_node_count())
                    peaks.append(tracemalloc.get_traced_memory()[0])
    finally:
        tracemalloc.stop()
    # bounded: the last measurements are no larger than the early ones (allowing small noise)
    assert max(node_counts[3:]) <= node_counts[1] + 50, node_counts
    assert max(peaks[3:]) <= peaks[1] * 1.5 + 200_000, peaks
    expected = np.zeros(16, np.float32)
    for _ in range(50_000):
        expected = expected * np.float32(0.999) + np.float32(0.5)
    np.testing.assert_allclose(x.numpy(), expected, rtol=1e-4)


def test_pending_result_keeps_old_value_after_inplace_update():
    x = lt.tensor([1.0, 2.0])
    x.realize()
    y = x * 10  # reads x's storage
    x.add_(1)  # then x's storage is overwritten...
    x.realize()
    assert y.tolist() == [10.0, 20.0]  # ...but y was computed first
    assert x.tolist() == [2.0, 3.0]


def test_inplace_on_numpy_shared_storage_is_seen_at_once():
    a = np.zeros(3, np.float32)
    t = lt.from_numpy(a)
    t.add_(2)
    assert a.tolist() == [2.0, 2.0, 2.0]
    a[0] = 7
    assert t.tolist()[0] == 7.0


def test_numpy_of_a_tensor_is_a_view_of_its_storage():
    t = lt.arange(6.0).reshape(2, 3)
    a = t.numpy()
    a[0, 0] = 100
    assert t.tolist()[0][0] == 100.0
    t.mul_(2)
    assert a[0, 0] == 200.0


def test_shape_errors_raise_at_the_users_line():
    a, b = lt.ones(2, 3), lt.ones(4)
    with pytest.raises(RuntimeError, match=r"\[2, 3\].*\[4\]") as info:
        a + b  # noqa: B018 - the op itself must raise
    frames = [f for f in info.traceback if f.path.name == "test_lazy.py"]
    assert frames, "the error passes through the user's line"


def test_flush_errors_name_the_users_line():
    a = lt.tensor([1, 2])
    b = lt.tensor([0, 1])
    q = a // b  # the failing op is built here
    line = q.node.loc[1]
    with pytest.raises(ZeroDivisionError, match=rf"test_lazy.py:{line}"):
        q.tolist()


def test_nodes_remember_the_users_line():
    x = lt.ones(3)
    y = x.exp() * 7.5  # this line
    import inspect
    line = inspect.currentframe().f_lineno - 2
    assert y.node.loc[0].endswith("test_lazy.py") and y.node.loc[1] == line


def test_pending_list_is_pruned_after_flush():
    xs = [lt.ones(2) + i for i in range(50)]
    lt.realize(*xs)
    assert all(lazy.is_realized(x) for x in xs)
    del xs
    gc.collect()
    lt.ones(1).add(1).tolist()
    assert len(lazy._pending) < 5


# In-place updates whose source reads the destination's own storage through another layout: a
# lazy graph has value semantics, so each is the numpy result of the same update on a copy
# (PyTorch refuses some of these as overlapping; lazytensor computes them).
_SELF_READS = {
    "copy_ from own transpose": (lambda x: x.copy_(x.t()), lambda a: a.T),
    "add_ own transpose": (lambda x: x.add_(x.t()), lambda a: a + a.T),
    "add_ own flip": (lambda x: x.add_(x.flip(0)), lambda a: a + a[::-1]),
    "shifted slices": (lambda x: x[1:].add_(x[:-1]), lambda a: np.concatenate([a[:1], a[1:] + a[:-1]])),
    "strided setitem": (lambda x: x.__setitem__(slice(None, None, 2), x[1::2]),
                        lambda a: np.stack([a[1::2], a[1::2]], 1).reshape(a.shape)),
    "sub_ own column mean": (lambda x: x.sub_(x.mean(0, keepdim=True)), lambda a: a - a.mean(0, keepdims=True)),
}


@pytest.mark.parametrize("backend", ["numpy", "llvm"])
@pytest.mark.parametrize("shared", [False, True], ids=["own storage", "from_numpy"])
@pytest.mark.parametrize("case", list(_SELF_READS))
def test_in_place_updates_that_read_their_own_storage_differently(case, shared, backend):
    lt.config.set(BACKEND=backend)
    update, expected = _SELF_READS[case]
    for n in (4, 96):  # 96²: big enough for the llvm backend's in-place kernel outputs
        a = np.arange(n * n, dtype=np.float32).reshape(n, n) / 7
        x = lt.from_numpy(a.copy()) if shared else lt.tensor(a)
        x.realize()
        update(x)
        np.testing.assert_allclose(x.numpy(), expected(a.copy()), rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("backend", ["numpy", "llvm"])
@pytest.mark.parametrize("n", [4, 64])
def test_a_pending_view_is_stored_before_its_storage_is_overwritten(backend, n):
    # b reads a's storage transposed; a's storage is shared with numpy, so the write to it runs at
    # once, in a flush that also stores b: b must get a's values from before the write
    lt.config.set(BACKEND=backend)
    a0 = np.arange(n * n, dtype=np.float32).reshape(n, n)
    a, b = lt.tensor(a0), lt.zeros(n, n)
    shared = a.numpy()
    b.copy_(a.t())
    a[1:] = a[:-1] * 2
    after = a0.copy()
    after[1:] = a0[:-1] * 2
    np.testing.assert_array_equal(b.numpy(), a0.T)
    np.testing.assert_array_equal(a.numpy(), after)
    np.testing.assert_array_equal(shared, after)


def _reference_shares_work(root, computed_ids):
    """The rule `lazy._sharing` answers, walked per root: the graph of `root` (not looking below
    the computed nodes) reaches a computed node that is more than a read of a buffer or constant."""
    from lazytensor.compiler.ir import toposort
    from lazytensor.compiler.ops import MOVEMENT
    for n in toposort([root], computed_ids):
        if id(n) in computed_ids:
            while n.op in MOVEMENT:
                n = n.srcs[0]
            if n.op is not Op.BUFFER and n.op is not Op.CONST:
                return True
    return False


def test_one_sharing_walk_answers_as_a_walk_per_pending_tensor():
    import random
    from lazytensor.compiler import dtypes as dt
    from lazytensor.compiler.ir import Buffer, toposort
    from lazytensor.compiler.ops import make
    for trial in range(300):
        r = random.Random(trial)
        nodes = []
        for _ in range(r.randint(1, 30)):
            pick = r.random()
            if not nodes or pick < 0.2:
                nodes.append(make(Op.BUFFER, arg=Buffer(dt.float32, 4)) if r.random() < 0.6
                             else make(Op.EXPAND, (make(Op.RESHAPE, (make(Op.CONST, arg=r.random(),
                                        dtype=dt.float32),), (1,)),), (4,)))
            elif pick < 0.4:
                nodes.append(make(r.choice([Op.FLIP, Op.PERMUTE]), (r.choice(nodes),),
                                  (0,)))
            elif pick < 0.7:
                nodes.append(make(Op.NEG, (r.choice(nodes),)))
            else:
                nodes.append(make(Op.ADD, (r.choice(nodes), r.choice(nodes))))
        bases = [r.choice(nodes) for _ in range(r.randint(1, 3))]
        others = [r.choice(nodes) for _ in range(r.randint(1, 6))]
        computed = lazy._reachable(bases)
        assert computed == set(toposort(bases))
        ids = {id(n) for n in computed}
        shares = lazy._sharing(others, computed)
        assert [shares[o] for o in others] == [_reference_shares_work(o, ids) for o in others]


def test_a_flush_beside_many_live_nodes_prunes_only_the_new_ones(monkeypatch):
    from lazytensor.compiler import ir
    from lazytensor.compiler.ops import make
    keep = [make(Op.CONST, arg=i + 0.5) for i in range(5000)]  # unrelated, alive
    ir.prune()
    looked_at = []
    real = ir._prune_newest
    monkeypatch.setattr(ir, "_prune_newest", lambda count: looked_at.append(count) or real(count))
    monkeypatch.setattr(ir, "SMALL_FLUSH_ENTRIES", 0)  # every flush prunes (else these are exempt)
    x = lt.ones(4)
    for _ in range(3):
        x = (x * 2 + 1).realize()
    assert x.tolist() == [15.0] * 4
    # a flush's prune costs what the flush made, not what the table holds
    assert looked_at and max(looked_at) < 100, looked_at
    del keep


def test_stored_values_are_read_by_nodes_of_the_observing_line():
    import sys
    x = lt.ones(2, 3) * 2
    y = lt.ones(4) + 1
    lazy.realize([x, y]); line = sys._getframe().f_lineno  # noqa: E702 - the same line
    for t in (x, y):
        assert t.node.loc == (__file__, line)
        assert all(s.loc == (__file__, line) for s in t.node.srcs)  # the BUFFER under a RESHAPE
