"""Views (lazytensor/views.py): strides, offsets and writes through chains of movement ops.

A view shares its base's storage. Its shape, `stride()`, `storage_offset()` and `is_contiguous()`
must equal PyTorch's after the same chain of ops; a write through any view must change the base and
every other view exactly as in PyTorch; and laziness must never show: pending results keep the
values they had when they were built.
"""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import lazytensor as lt
from lazytensor import views
from lazytensor.compiler.ops import Op
from lazytensor.tensor import assign, make_view
from lt_testing import assert_close, torch

needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch is not installed")


def _slice_dim(x, dim, start, stop, step):
    """x[..., start:stop:step] along dim, for a lazytensor or a torch tensor."""
    if isinstance(x, lt.Tensor):
        shape = tuple(x.shape)
        begin, end, step = slice(start, stop, step).indices(shape[dim])
        end = max(end, begin)
        return make_view(x, views.slice_vops(shape, dim, begin, end, step))
    return x[(slice(None),) * dim + (slice(start, stop, step),)]


def assert_same_view(a, t):
    """The lazytensor view `a` has torch's `t` shape, strides, offset, contiguity and values."""
    assert tuple(a.shape) == tuple(t.shape)
    assert a.stride() == t.stride(), (a.shape, a.stride(), t.stride())
    assert a.storage_offset() == t.storage_offset()
    assert a.is_contiguous() == t.is_contiguous()
    np.testing.assert_array_equal(a.numpy(), t.numpy())


# ---- random chains of view ops, applied alike to a lazytensor and a torch tensor ----

def _draw_step(data, shape):
    """One view op that applies to `shape`, as (name, args)."""
    n = len(shape)
    kinds = ["unsqueeze", "reshape", "expand", "squeeze_all"]
    if n:
        kinds += ["permute", "transpose", "narrow", "select", "squeeze", "slice", "flatten", "movedim"]
    if n >= 2:
        kinds += ["diagonal", "mT"]
    kind = data.draw(st.sampled_from(kinds))
    dim = lambda: data.draw(st.integers(-n, n - 1))  # noqa: E731
    if kind == "permute":
        return kind, tuple(data.draw(st.permutations(range(n))))
    if kind == "transpose":
        return kind, (dim(), dim())
    if kind == "narrow":
        d = dim()
        size = shape[d]
        start = data.draw(st.integers(-size, size))
        length = data.draw(st.integers(0, size - (start % size if size and start < 0 else start)))
        return kind, (d, start, length)
    if kind == "select":
        d = dim()
        if shape[d] == 0:
            return "squeeze_all", ()
        return kind, (d, data.draw(st.integers(-shape[d], shape[d] - 1)))
    if kind == "unsqueeze":
        return kind, (data.draw(st.integers(-n - 1, n)),)
    if kind == "squeeze":
        return kind, (dim(),)
    if kind == "squeeze_all":
        return kind, ()
    if kind == "slice":
        d = dim()
        start = data.draw(st.integers(0, shape[d]))
        stop = data.draw(st.integers(start, shape[d]))
        return kind, (d % n, start, stop, data.draw(st.integers(1, 3)))
    if kind == "flatten":
        a, b = sorted((dim() % n, dim() % n))
        return kind, (a, b)
    if kind == "movedim":
        return kind, (dim(), dim())
    if kind == "diagonal":
        a = dim() % n
        b = data.draw(st.sampled_from([d for d in range(n) if d != a]))
        return kind, (data.draw(st.integers(-3, 3)), a, b)
    if kind == "mT":
        return kind, ()
    if kind == "expand":
        lead = data.draw(st.integers(0, 2 if n < 4 else 0))
        sizes = [data.draw(st.integers(0, 3)) for _ in range(lead)]
        sizes += [data.draw(st.sampled_from([1, 2, 3])) if d == 1 else data.draw(st.sampled_from([-1, d]))
                  for d in shape]
        return (kind, tuple(sizes)) if sizes else ("squeeze_all", ())
    # reshape: merge two neighbours, split one dim, or add a 1; with or without a -1
    new = list(shape)
    how = data.draw(st.sampled_from(["merge", "split", "one"]))
    if how == "merge" and n >= 2:
        i = data.draw(st.integers(0, n - 2))
        new[i:i + 2] = [new[i] * new[i + 1]]
    elif how == "split" and n:
        i = data.draw(st.integers(0, n - 1))
        f = data.draw(st.sampled_from([f for f in range(1, max(new[i], 1) + 1) if new[i] % f == 0] or [1]))
        new[i:i + 1] = [f, new[i] // f] if new[i] else [0, 1]
    else:
        new.insert(data.draw(st.integers(0, n)), 1)
    if new and 0 not in new and data.draw(st.booleans()):
        new[data.draw(st.integers(0, len(new) - 1))] = -1
    return kind, tuple(new)


def _apply_step(x, kind, args):
    """The step on a lazytensor or torch tensor (the same method names serve both)."""
    if kind == "permute":
        return x.permute(*args)
    if kind == "squeeze_all":
        return x.squeeze()
    if kind == "slice":
        return _slice_dim(x, *args)
    if kind == "mT":
        return x.mT
    if kind == "reshape":
        return x.view(*args)
    if kind == "expand":
        return x.expand(*args)
    return getattr(x, kind)(*args)


def _run_chain(data, base_shape, max_steps):
    """Build the same random view chain on a lazytensor and a torch tensor; returns both lists."""
    n = int(np.prod(base_shape))
    a = lt.arange(n, dtype=lt.float32).reshape(base_shape).clone()
    t = torch.arange(n, dtype=torch.float32).reshape(base_shape).clone()
    ours, theirs = [a], [t]
    for _ in range(data.draw(st.integers(1, max_steps))):
        kind, args = _draw_step(data, tuple(ours[-1].shape))
        try:
            t_next = _apply_step(theirs[-1], kind, args)
        except RuntimeError:  # e.g. a view that strides can't express: we must refuse it too
            with pytest.raises(RuntimeError):
                _apply_step(ours[-1], kind, args)
            continue
        a_next = _apply_step(ours[-1], kind, args)
        ours.append(a_next)
        theirs.append(t_next)
    return ours, theirs


shapes = st.lists(st.integers(0, 4), min_size=1, max_size=3).map(tuple)


@needs_torch
@settings(max_examples=250, deadline=None)
@given(shapes, st.data())
def test_random_view_chains_match_torch(base_shape, data):
    ours, theirs = _run_chain(data, base_shape, 6)
    for a, t in zip(ours, theirs):
        assert_same_view(a, t)
        assert (a._base is not None) == t._is_view()  # a view where torch's is, else a copy


@needs_torch
@settings(max_examples=200, deadline=None)
@given(shapes, st.data())
def test_writes_through_random_view_chains_match_torch(base_shape, data):
    ours, theirs = _run_chain(data, base_shape, 5)
    # take a few of the views before writing, to check they all see the write
    k = data.draw(st.integers(0, len(ours) - 1))
    if data.draw(st.booleans()):
        lt.realize(ours[k])  # writes through realized and pending bases alike
    op = data.draw(st.sampled_from(["add_", "mul_", "zero_", "fill_", "copy_"]))
    if op in ("zero_", "fill_") and 0 in theirs[-1].stride():
        op = "add_"  # fills of expanded views: test_fill_of_expanded_views_is_allowed_like_torch
    args = {"add_": (5.0,), "mul_": (-2.0,), "zero_": (), "fill_": (7.5,)}.get(op)
    if op == "copy_":
        src = np.arange(ours[-1].numel(), dtype=np.float32).reshape(tuple(ours[-1].shape)) + 100
        a_args, t_args = (lt.tensor(src),), (torch.tensor(src),)
    else:
        a_args = t_args = args
    try:
        getattr(theirs[-1], op)(*t_args)
    except RuntimeError as e:
        assert "single memory location" in str(e)
        with pytest.raises(RuntimeError, match="single memory location"):
            getattr(ours[-1], op)(*a_args)
        return
    getattr(ours[-1], op)(*a_args)
    for a, t in zip(ours, theirs):
        np.testing.assert_array_equal(a.numpy(), t.numpy())


# ---- reshape_strides: ATen's computeStride ----

@needs_torch
@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 4), st.integers(0, 12)), min_size=0, max_size=4), st.data())
def test_reshape_strides_is_torch_view(dims, data):
    shape = tuple(d for d, _ in dims)
    strides = tuple(s for _, s in dims)
    numel = int(np.prod(shape))
    storage = torch.zeros(1 + sum((d - 1) * s for d, s in dims if d) + 1)
    t = storage.as_strided(shape, strides)
    # a new shape with the same element count: regroup the prime factors, add ones
    factors = [f for d in shape for f in _factors(d)] if numel else [0]
    factors = data.draw(st.permutations(factors))
    new, i = [], 0
    while i < len(factors):
        j = data.draw(st.integers(i + 1, len(factors)))
        new.append(int(np.prod(factors[i:j])))
        i = j
    for _ in range(data.draw(st.integers(0, 2))):
        new.insert(data.draw(st.integers(0, len(new))), 1)
    new = tuple(new)
    if numel == 0 and data.draw(st.booleans()):
        new = shape
    ours = views.reshape_strides(shape, strides, new)
    try:
        expected = t.view(new).stride()
    except RuntimeError:
        assert ours is None
    else:
        assert ours == expected


def _factors(d):
    out, f = [], 2
    while d > 1:
        while d % f == 0:
            out.append(f)
            d //= f
        f += 1
    return out


def test_reshape_strides_known_cases():
    # a transposed matrix: splitting a dim is a view, merging the two is not
    assert views.reshape_strides((4, 3), (1, 4), (2, 2, 3)) == (2, 1, 4)
    assert views.reshape_strides((4, 3), (1, 4), (12,)) is None
    assert views.reshape_strides((), (), (1, 1)) == (1, 1)
    assert views.reshape_strides((0, 3), (1, 7), (0, 3)) == (1, 7)
    assert views.reshape_strides((0, 3), (1, 7), (3, 0)) == (1, 1)
    assert views.contiguous_strides((2, 0, 3)) == (3, 3, 1)


# ---- as_strided_vops: any sliced / transposed / broadcast numpy layout ----

def _interpret(flat: np.ndarray, vops) -> np.ndarray:
    """Apply view ops to a numpy array, by the primitives' meaning."""
    x = flat
    for op, arg in vops:
        if op is Op.RESHAPE:
            x = x.reshape(tuple(arg))
        elif op is Op.PERMUTE:
            x = x.transpose(arg)
        elif op is Op.EXPAND:
            x = np.broadcast_to(x, arg)
        elif op is Op.SHRINK:
            x = x[tuple(slice(b, e) for b, e in arg)]
        elif op is Op.PAD:
            x = np.pad(x, arg)
        else:
            raise AssertionError(op)
    return x


@st.composite
def strided_arrays(draw):
    """A numpy view of a contiguous array made by slicing with steps, transposing, adding and
    broadcasting dims; returns (owner, view)."""
    shape = tuple(draw(st.lists(st.integers(1, 5), min_size=1, max_size=3)))
    owner = np.arange(int(np.prod(shape)), dtype=np.float64).reshape(shape)
    v = owner
    for _ in range(draw(st.integers(1, 4))):
        how = draw(st.sampled_from(["slice", "slice", "transpose", "newaxis", "broadcast", "diagonal"]))
        if how == "slice":
            d = draw(st.integers(0, v.ndim - 1))
            start = draw(st.integers(0, v.shape[d]))
            stop = draw(st.integers(start, v.shape[d]))
            v = v[(slice(None),) * d + (slice(start, stop, draw(st.integers(1, 3))),)]
        elif how == "transpose":
            v = v.transpose(draw(st.permutations(range(v.ndim))))
        elif how == "newaxis":
            d = draw(st.integers(0, v.ndim))
            v = np.expand_dims(v, d)
        elif how == "broadcast":
            ones = [i for i, d in enumerate(v.shape) if d == 1]
            if ones:
                target = list(v.shape)
                target[draw(st.sampled_from(ones))] = draw(st.integers(2, 3))
                v = np.broadcast_to(v, target)
        elif how == "diagonal" and v.ndim >= 2:
            a, b = draw(st.permutations(range(v.ndim)))[:2]
            v = np.diagonal(v, draw(st.integers(-2, 2)), a, b)
    return owner, v


@settings(max_examples=200, deadline=None)
@given(strided_arrays())
def test_as_strided_vops_round_trip(arrays):
    owner, v = arrays
    flat = owner.reshape(-1)
    item = v.itemsize
    offset = (v.__array_interface__["data"][0] - flat.__array_interface__["data"][0]) // item
    strides = tuple(s // item for s in v.strides)
    vops = views.as_strided_vops(flat.size, v.shape, strides, offset)
    np.testing.assert_array_equal(_interpret(flat, vops), v)
    # and the strides and offset this chain reports are numpy's
    shape, got_strides, got_offset = views.strided((flat.size,), vops)
    assert shape == v.shape
    if v.size:
        assert got_offset == offset
        assert got_strides == strides


@settings(max_examples=100, deadline=None)
@given(strided_arrays(), st.data())
def test_from_numpy_of_strided_arrays_shares_storage(arrays, data):
    owner, v = arrays
    x = lt.from_numpy(v)
    np.testing.assert_array_equal(x.numpy(), v)
    if torch is not None and v.size:
        t = torch.from_numpy(v)
        assert x.stride() == t.stride() and x.storage_offset() == t.storage_offset()
        assert x.is_contiguous() == t.is_contiguous()
    if v.flags.writeable and not any(s == 0 and d > 1 for s, d in zip(v.strides, v.shape)):
        expected = owner.copy()
        expected_view = np.lib.stride_tricks.as_strided(
            expected.reshape(-1)[(v.__array_interface__["data"][0] - owner.__array_interface__["data"][0])
                                 // v.itemsize:], v.shape, v.strides)
        expected_view += 3
        x.add_(3)  # the storage is numpy's: the write is seen at once
        np.testing.assert_array_equal(owner, expected)


def test_as_strided_vops_refuses_negative_and_overlapping_strides():
    a = np.arange(6.0)
    with pytest.raises(ValueError, match="negative strides are not currently supported"):
        lt.from_numpy(a[::-1])
    with pytest.raises(ValueError, match="overlap or interleave"):
        views.as_strided_vops(6, (2, 2), (1, 1), 0)


def test_from_numpy_keeps_strides_of_size_one_and_broadcast_dims():
    a = np.ones((3, 4))
    assert lt.from_numpy(a[:, :1]).stride() == (4, 1)
    b = lt.from_numpy(np.broadcast_to(np.arange(3.0), (1, 3)))
    assert b.stride() == (0, 1)
    c = lt.from_numpy(np.broadcast_to(np.arange(3.0), (2, 3)))
    assert c.stride() == (0, 1) and c.tolist() == [[0, 1, 2], [0, 1, 2]]


# ---- slice_vops ----

@settings(max_examples=150, deadline=None)
@given(st.lists(st.integers(0, 6), min_size=1, max_size=3), st.data())
def test_slice_vops_with_steps_match_numpy(shape, data):
    shape = tuple(shape)
    a = np.arange(int(np.prod(shape)), dtype=np.int64).reshape(shape)
    x = lt.tensor(a)
    d = data.draw(st.integers(0, len(shape) - 1))
    start = data.draw(st.integers(0, shape[d]))
    stop = data.draw(st.integers(start, shape[d]))
    step = data.draw(st.integers(1, 4))
    v = make_view(x, views.slice_vops(shape, d, start, stop, step))
    expected = a[(slice(None),) * d + (slice(start, stop, step),)]
    np.testing.assert_array_equal(v.numpy(), expected)
    if expected.size:
        assert v.stride() == tuple(s // a.itemsize for s in expected.strides)
        assert v.storage_offset() * a.itemsize == (expected.__array_interface__["data"][0]
                                                   - a.__array_interface__["data"][0])
    if torch is not None:
        assert_same_view(v, _slice_dim(torch.arange(a.size).reshape(shape), d, start, stop, step))
    # a write lands on exactly the sliced elements
    v.add_(1000)
    expected_base = a.copy()
    expected_base[(slice(None),) * d + (slice(start, stop, step),)] += 1000
    np.testing.assert_array_equal(x.numpy(), expected_base)


# ---- storage sharing, writes, copies ----

@needs_torch
def test_data_ptr_of_a_view_is_base_plus_offset():
    x = lt.arange(24.0).reshape(2, 3, 4)
    for v in (x.narrow(2, 1, 2), x.select(1, 2), x.permute(2, 0, 1).narrow(0, 3, 1), x.diagonal(1, 1, 2)):
        assert v.data_ptr() == x.data_ptr() + v.storage_offset() * x.element_size()
    t = torch.arange(24.0).reshape(2, 3, 4)
    assert x.diagonal(1, 1, 2).storage_offset() == t.diagonal(1, 1, 2).storage_offset()


def test_writes_through_one_view_reach_the_base_and_other_views():
    x = lt.zeros(3, 4)
    row, col, tr = x.select(0, 1), x.narrow(1, 2, 1), x.t()
    row.add_(1)
    col.mul_(0).add_(5)
    tr.select(0, 0).add_(2)
    expected = np.zeros((3, 4), np.float32)
    expected[1] += 1
    expected[:, 2:3] = expected[:, 2:3] * 0 + 5
    expected[:, 0] += 2
    np.testing.assert_array_equal(x.numpy(), expected)
    np.testing.assert_array_equal(row.numpy(), expected[1])
    np.testing.assert_array_equal(tr.numpy(), expected.T)
    np.testing.assert_array_equal(col.numpy(), expected[:, 2:3])


@pytest.mark.parametrize("dtype", [lt.float32, lt.int64, lt.bool, lt.float16])
def test_writes_through_views_keep_dtype(dtype):
    x = lt.zeros(2, 3, dtype=dtype)
    x.t().select(0, 1).fill_(1)
    expected = np.zeros((2, 3), dtype=dtype.np_dtype)
    expected[:, 1] = 1
    assert x.dtype is dtype
    np.testing.assert_array_equal(x.numpy(), expected)


def test_from_numpy_writes_reach_the_array():
    a = np.zeros((3, 4), np.float32)
    x = lt.from_numpy(a)
    x.t().narrow(0, 1, 2).add_(1)
    assert a[:, 1:3].sum() == 6 and a.sum() == 6
    x.select(0, 2).mul_(10)
    np.testing.assert_array_equal(a[2], [0, 10, 10, 0])
    v = x.view(2, 6)
    v.zero_()
    assert a.sum() == 0


@needs_torch
def test_write_to_expanded_view_raises_like_torch():
    x = lt.ones(1, 4)
    e = x.expand(3, 4)
    for f in (lambda v: v.add_(1), lambda v: v.mul_(2), lambda v: v.copy_(lt.zeros(3, 4))):
        with pytest.raises(RuntimeError, match="more than one element of the written-to tensor"):
            f(e)
    # one row of the expansion does not overlap itself: torch allows the write, and so do we
    t = torch.ones(1, 4)
    e.select(0, 2).add_(1)
    t.expand(3, 4).select(0, 2).add_(1)
    np.testing.assert_array_equal(x.numpy(), t.numpy())
    # nor does the diagonal of an expanded matrix
    y, u = lt.arange(3.0).reshape(1, 3), torch.arange(3.0).reshape(1, 3)
    y.expand(3, 3).diagonal().mul_(-1)
    u.expand(3, 3).diagonal().mul_(-1)
    np.testing.assert_array_equal(y.numpy(), u.numpy())
    assert y.numpy()[0, 0] == u.numpy()[0, 0] and np.signbit(y.numpy()[0, 0])  # -0.0 survives
    # an empty expansion writes nothing and is allowed
    z = lt.ones(1, 0)
    z.expand(2, 0).add_(1)
    assert z.shape == (1, 0)


@needs_torch
def test_fill_of_expanded_views_is_allowed_like_torch():
    # a fill writes one value, so PyTorch allows it where elements share memory
    for make in (lambda x: x.expand(3, 2), lambda x: x.expand(3, 2).unsqueeze(0).permute(2, 0, 1),
                 lambda x: x.expand(0, 2), lambda x: x.unsqueeze(1).expand(2, 0)):
        for op, args in (("zero_", ()), ("fill_", (4.0,))):
            a, t = lt.arange(2.0), torch.arange(2.0)
            getattr(make(a), op)(*args)
            getattr(make(t), op)(*args)
            np.testing.assert_array_equal(a.numpy(), t.numpy())


def test_write_back_allows_overlap_for_fills():
    x = lt.arange(2.0)
    assign(x.expand(3, 2).unsqueeze(0), lt.tensor(4.0).node, allow_overlap=True)
    np.testing.assert_array_equal(x.numpy(), [4, 4])
    y = lt.arange(2.0)
    assign(y.unsqueeze(1).expand(2, 0), lt.tensor(4.0).node, allow_overlap=True)
    np.testing.assert_array_equal(y.numpy(), [0, 1])
    with pytest.raises(RuntimeError, match="single memory location"):
        assign(y.expand(3, 2), lt.tensor(4.0).node)


def test_reshape_of_a_non_viewable_layout_is_a_copy():
    x = lt.arange(12.0).reshape(3, 4)
    flat = x.t().reshape(-1)  # not a view: writes don't reach x
    assert flat._base is None
    flat.add_(100)
    np.testing.assert_array_equal(x.numpy(), np.arange(12.0).reshape(3, 4))
    np.testing.assert_array_equal(flat.numpy(), np.arange(12.0).reshape(3, 4).T.reshape(-1) + 100)
    view = x.reshape(2, 6)  # a view: writes do
    view.add_(1)
    np.testing.assert_array_equal(x.numpy(), np.arange(12.0).reshape(3, 4) + 1)


@pytest.mark.parametrize("make", [lambda x: x.clone(), lambda x: x.contiguous(), lambda x: x.reshape(-1)])
def test_copies_of_non_contiguous_tensors_are_independent(make):
    x = lt.arange(12.0).reshape(3, 4)
    src = x.t().narrow(0, 1, 2)
    c = make(src)
    expected = np.arange(12.0).reshape(3, 4).T[1:3].copy()
    x.zero_()  # the copy keeps the values it had
    np.testing.assert_array_equal(c.numpy().reshape(expected.shape), expected)
    c.add_(1)  # and its writes stay its own
    assert x.numpy().sum() == 0
    assert c.is_contiguous() and c._base is None


def test_contiguous_of_a_contiguous_tensor_is_itself_and_clone_is_not():
    x = lt.arange(6.0).reshape(2, 3)
    assert x.contiguous() is x
    c = x.clone()
    c.add_(1)
    np.testing.assert_array_equal(x.numpy(), np.arange(6.0).reshape(2, 3))


def test_detach_shares_storage():
    x = lt.zeros(3)
    d = x.detach()
    d.add_(1)
    np.testing.assert_array_equal(x.numpy(), [1, 1, 1])
    assert d.data_ptr() == x.data_ptr()


# ---- laziness never shows ----

@needs_torch
@pytest.mark.parametrize("shared", [False, True])
def test_pending_results_keep_values_from_before_an_in_place_write(shared):
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    x = lt.from_numpy(a.copy()) if shared else lt.tensor(a)
    t = torch.tensor(a)
    y, u = x * 2, t * 2
    v, w = x.t(), t.t()  # a view taken before the write sees it
    s, r = x.t().reshape(-1), t.t().reshape(-1)  # a copy taken before does not
    x.add_(1)
    t.add_(1)
    z, q = x * 2, t * 2
    x.select(0, 0).mul_(-1)
    t.select(0, 0).mul_(-1)
    for ours, theirs in ((y, u), (v, w), (s, r), (z, q), (x, t)):
        assert_close(ours, theirs)
        assert repr(ours) == repr(theirs)  # what print(y) shows


@pytest.mark.xfail(reason="design: a pending result reads shared numpy storage when it is flushed, so a "
                          "write made directly to the numpy array after the op (not through lazytensor) "
                          "is seen by it; PyTorch computed it before the write", strict=True)
def test_pending_results_ignore_later_direct_writes_to_the_numpy_array():
    a = np.zeros(3, np.float32)
    x = lt.from_numpy(a)
    y, c = x + 1, x.clone()
    a[0] = 5  # not through lazytensor: nothing tells the pending graph
    np.testing.assert_array_equal(y.numpy(), [1, 1, 1])
    np.testing.assert_array_equal(c.numpy(), [0, 0, 0])


def test_in_place_on_the_base_is_seen_by_a_pending_view():
    x = lt.zeros(2, 3)
    v = x.narrow(1, 1, 2)
    x.add_(1)  # nothing has been flushed yet
    x.select(0, 1).add_(1)
    np.testing.assert_array_equal(v.numpy(), [[1, 1], [2, 2]])


def test_pending_results_of_shared_storage_keep_old_values():
    a = np.ones(4, np.float32)
    x = lt.from_numpy(a)
    y = x * 2
    x.add_(1)  # written into `a` at once; y must still be 2s
    np.testing.assert_array_equal(a, [2, 2, 2, 2])
    np.testing.assert_array_equal(y.numpy(), [2, 2, 2, 2])
    v = x.narrow(0, 1, 2)
    w = v + 0
    v.zero_()
    np.testing.assert_array_equal(a, [2, 0, 0, 2])
    np.testing.assert_array_equal(w.numpy(), [2, 2])


def test_eager_mode_gives_the_same_view_results():
    lt.config.set(EAGER=True)
    x = lt.arange(12.0).reshape(3, 4)
    v = x.t().narrow(1, 1, 2)
    v.mul_(2)
    expected = np.arange(12.0).reshape(3, 4)
    expected[1:3] *= 2
    np.testing.assert_array_equal(x.numpy(), expected)
    assert v.stride() == (1, 4) and v.storage_offset() == 4


def test_a_view_of_a_view_chains_its_ops_as_views_extend_does():
    # make_view merges one op onto a one-op chain itself (x.t() in a loop); the result is extend's
    import itertools

    from lazytensor import views
    from lazytensor.compiler.ops import Op
    from lazytensor.tensor import _extend_one
    ops = [(Op.PERMUTE, (1, 0)), (Op.PERMUTE, (0, 1)), (Op.RESHAPE, (3, 2)), (Op.EXPAND, (2, 3)),
           (Op.SHRINK, ((0, 1), (1, 3))), (Op.SHRINK, ((0, 2), (0, 2)))]
    for prev, new in itertools.product([()] + [(o,) for o in ops], ops):
        assert _extend_one(prev, (new,)) == views.extend(prev, (new,)), (prev, new)
