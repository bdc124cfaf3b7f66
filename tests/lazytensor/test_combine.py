"""Tests for lazytensor.combine: joining, splitting, gather/scatter, masking, repeating, flipping, in-place writes.

Every op is compared with numpy and, where installed, with PyTorch (values, shape and dtype), over
random shapes including 0-d, empty, non-contiguous (transposed and strided) inputs and negative
dims; errors are checked for PyTorch's exception type and message.
"""
from __future__ import annotations

import re
import zlib

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import lazytensor as lt
from lazytensor import lazy
from lazytensor.compiler.ir import toposort
from lazytensor.compiler.ops import Op
from lt_testing import assert_close, to_torch, torch

needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch is not installed")

DTYPES = [lt.float32, lt.float64, lt.float16, lt.bfloat16, lt.int64, lt.int32, lt.int8, lt.uint8, lt.bool]
LAYOUTS = ["contiguous", "transposed", "strided"]


# ---- helpers ----

def seed(*parts) -> int:
    """A random seed that is stable across runs (Python's str hash is salted per process)."""
    return zlib.crc32(repr(parts).encode())


def rand_array(rng, shape, dtype) -> np.ndarray:
    """Random values of `dtype` (small integers, so sums don't overflow)."""
    shape = tuple(shape)
    if dtype is lt.bool:
        return rng.random(shape) < 0.5
    if dtype.is_floating_point:
        return rng.standard_normal(shape).astype(dtype.np_dtype)
    low = 0 if dtype is lt.uint8 else -5
    return rng.integers(low, 6, shape).astype(dtype.np_dtype)


def make_input(rng, shape, dtype=lt.float32, layout="contiguous"):
    """(lazytensor tensor, numpy array of its values); non-contiguous layouts where the shape allows."""
    shape = tuple(shape)
    arr = rand_array(rng, shape, dtype)
    if layout == "contiguous" or len(shape) == 0:
        return lt.tensor(arr), arr
    if layout == "transposed":
        order = tuple(range(len(shape) - 1, -1, -1))
        t = lt.tensor(np.ascontiguousarray(arr.transpose(order))).permute(order)
        return t, arr
    # strided: every other element of a wider private block, seen through a view
    big = rand_array(rng, shape[:-1] + (2 * shape[-1] + 1,), dtype)
    big[..., ::2][..., :shape[-1]] = arr
    view = big[..., ::2][..., :shape[-1]]
    return lt.from_numpy(view), arr


def torch_of(x):
    """A torch tensor with the values of a numpy array or lazytensor tensor; other values unchanged."""
    if isinstance(x, (np.ndarray, lt.Tensor)):
        return to_torch(x)
    if isinstance(x, (list, tuple)):
        return type(x)(torch_of(v) for v in x)
    return x


def dtype_name(d) -> str:
    return str(d).removeprefix("torch.")


def check(actual, expected_np=None, expected_torch=None):
    """`actual` (a tensor or tuple of tensors) equals numpy's and torch's answers, dtype included."""
    if isinstance(actual, tuple):
        if expected_np is not None:
            assert len(actual) == len(expected_np)
        if expected_torch is not None:
            assert len(actual) == len(expected_torch)
        for i, a in enumerate(actual):
            check(a, None if expected_np is None else expected_np[i],
                  None if expected_torch is None else expected_torch[i])
        return
    assert isinstance(actual, lt.Tensor)
    if expected_np is not None:
        assert_close(actual, np.asarray(expected_np))
    if expected_torch is not None:
        assert dtype_name(actual.dtype) == dtype_name(expected_torch.dtype)
        assert tuple(actual.shape) == tuple(expected_torch.shape)
        assert_close(actual, expected_torch)


def both(fn, *args, expected_np=None):
    """fn(lt, *args) checked against numpy and against fn(torch, *args as torch) where installed."""
    out = fn(lt, *args)
    expected_torch = fn(torch, *torch_of(list(args))) if torch is not None else None
    check(out, expected_np, expected_torch)
    return out


def graph_ops(t: lt.Tensor) -> set:
    return {n.op for n in toposort([t.node])}


# ---- cat ----

@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dim", [0, 1, -1, -3])
def test_cat_random_shapes(layout, dim):
    rng = np.random.default_rng(seed(layout, dim))
    for _ in range(3):
        shape = list(rng.integers(1, 4, 3))
        d = dim % 3
        arrays, tensors = [], []
        for size in rng.integers(0, 4, rng.integers(1, 5)):
            shape[d] = size
            t, a = make_input(rng, shape, lt.float32, layout)
            arrays.append(a)
            tensors.append(t)
        both(lambda L, *ts: L.cat(ts, dim), *tensors, expected_np=np.concatenate(arrays, axis=d))


@pytest.mark.parametrize("da,db", [(lt.float32, lt.int64), (lt.int32, lt.int64), (lt.uint8, lt.int8),
                                   (lt.bool, lt.int16), (lt.float16, lt.bfloat16), (lt.float16, lt.float64),
                                   (lt.bool, lt.bool), (lt.int8, lt.float16), (lt.bfloat16, lt.int64)])
def test_cat_promotes_dtypes(da, db):
    rng = np.random.default_rng(1)
    ta, a = make_input(rng, (2, 3), da, "transposed")
    tb, b = make_input(rng, (1, 3), db)
    want = lt.promote_types(da, db)
    expected = np.concatenate([a.astype(want.np_dtype), b.astype(want.np_dtype)])
    out = both(lambda L, x, y: L.cat([x, y]), ta, tb, expected_np=expected)
    assert out.dtype is want
    three = lt.cat([ta, tb, lt.zeros(1, 3, dtype=lt.float64)])
    assert three.dtype is lt.promote_types(want, lt.float64)


def test_cat_aliases_and_single_input_copy():
    x = lt.tensor([[1.0, 2.0]])
    for fn in (lt.cat, lt.concat, lt.concatenate):
        check(fn([x, x], 1), np.array([[1.0, 2.0, 1.0, 2.0]]))
    y = lt.cat([x])
    y.fill_(7.0)  # a new tensor, not a view of x
    assert x.tolist() == [[1.0, 2.0]]
    assert y.tolist() == [[7.0, 7.0]]


def test_cat_skips_legacy_empty_1d_tensors():
    x = lt.ones(2, 3, dtype=lt.int32)
    e = lt.zeros(0, dtype=lt.int64)
    out = both(lambda L, a, b: L.cat([b, a, b], 1), x, e, expected_np=np.ones((2, 3)))
    assert out.dtype is lt.int64  # skipped tensors still take part in promotion
    assert tuple(lt.cat([e, e], dim=3).shape) == (0,)  # all skipped: any dim goes
    both(lambda L, a: L.cat([a, a]), e, expected_np=np.zeros(0))


def test_cat_empty_along_dim_and_empty_others():
    rng = np.random.default_rng(2)
    a, na = make_input(rng, (2, 0, 3))
    b, nb = make_input(rng, (2, 2, 3), layout="strided")
    both(lambda L, x, y: L.cat([x, y, x], 1), a, b, expected_np=np.concatenate([na, nb, na], 1))
    c, nc = make_input(rng, (0, 3))
    both(lambda L, x: L.cat([x, x], 0), c, expected_np=np.zeros((0, 3)))
    both(lambda L, x: L.cat([x, x], 1), c, expected_np=np.zeros((0, 6)))


def test_cat_keeps_negative_zero_nan_and_inf():
    x = lt.tensor([-0.0, float("nan"), float("-inf")])
    out = lt.cat([x, x]).numpy()
    assert np.signbit(out[[0, 3]]).all()
    assert np.isnan(out[[1, 4]]).all()
    assert (out[[2, 5]] == -np.inf).all()


def test_cat_is_lazy_and_primitive_only():
    lt.config.set(EAGER=False)  # LT_EAGER=1 runs of this file would flush at once
    a, b = lt.ones(2, 3), lt.zeros(4, 3)
    out = lt.cat([a, b, a, b, a])
    assert not lazy.is_realized(out)  # nothing ran yet
    assert graph_ops(out) <= {Op.CONST, Op.EXPAND, Op.RESHAPE, Op.PAD, Op.WHERE}
    assert out.numpy().sum() == 18


def test_cat_out_argument():
    out = lt.zeros(4, 2, dtype=lt.int64)
    r = lt.cat([lt.ones(2, 2), lt.ones(2, 2)], out=out)
    assert r is out and out.tolist() == [[1, 1]] * 4


# ---- stack and friends ----

@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dim", [0, 1, 2, -1, -3])
def test_stack_random(layout, dim):
    rng = np.random.default_rng(seed(layout, dim, "stack"))
    shape = tuple(rng.integers(0, 4, 2))
    pairs = [make_input(rng, shape, lt.int32, layout) for _ in range(3)]
    tensors = [t for t, _ in pairs]
    both(lambda L, *ts: L.stack(ts, dim), *tensors, expected_np=np.stack([a for _, a in pairs], axis=dim))


def test_stack_0d_and_promotion():
    out = both(lambda L, a, b: L.stack([a, b]), lt.tensor(1.5), lt.tensor(2, dtype=lt.int64),
               expected_np=np.array([1.5, 2.0], dtype=np.float32))
    assert out.dtype is lt.float32


@pytest.mark.parametrize("shapes", [[(), (3,)], [(3,), (2,)], [(2, 3), (2, 1)], [(2, 1, 3), (2, 2, 3)],
                                    [(0,), (0,)]])
def test_hstack(shapes):
    rng = np.random.default_rng(3)
    pairs = [make_input(rng, s, lt.float64) for s in shapes]
    both(lambda L, *ts: L.hstack(ts), *[t for t, _ in pairs], expected_np=np.hstack([a for _, a in pairs]))


def _stack_inputs(shapes, seed):
    rng = np.random.default_rng(seed)
    pairs = [make_input(rng, s, lt.float32, "transposed") for s in shapes]
    return [t for t, _ in pairs], [a for _, a in pairs]


@pytest.mark.parametrize("shapes", [[(), ()], [(3,), (3,)], [(2, 3), (3,)], [(1, 2, 3), (2, 2, 3)], [(0, 2), (2,)]])
def test_vstack(shapes):
    ts, arrays = _stack_inputs(shapes, 4)
    both(lambda L, *x: L.vstack(x), *ts, expected_np=np.vstack(arrays))


@pytest.mark.parametrize("shapes", [[(), ()], [(3,), (3,)], [(1, 3), (3,)], [(2, 3), (2, 3, 2)]])
def test_dstack(shapes):
    ts, arrays = _stack_inputs(shapes, 5)
    both(lambda L, *x: L.dstack(x), *ts, expected_np=np.dstack(arrays))


@pytest.mark.parametrize("shapes", [[(), ()], [(3,), (3,)], [(3,), (3, 2), (3,)], [(0,), (0, 2)]])
def test_column_stack(shapes):
    ts, arrays = _stack_inputs(shapes, 6)
    both(lambda L, *x: L.column_stack(x), *ts, expected_np=np.column_stack(arrays))


# ---- splitting ----

@pytest.mark.parametrize("layout", LAYOUTS)
def test_split_chunk_unbind_tensor_split_random(layout):
    rng = np.random.default_rng(seed(layout, "split"))
    for _ in range(4):
        shape = tuple(rng.integers(0, 6, 3))
        x, a = make_input(rng, shape, lt.float32, layout)
        d = int(rng.integers(-3, 3))
        n = shape[d]
        k = int(rng.integers(1, 4))
        both(lambda L, t: L.split(t, k, d), x, expected_np=[a.take(range(i, min(i + k, n)), d)
                                                               for i in range(0, max(n, 1), k)])
        cuts = sorted(rng.integers(0, n + 1, 2))
        sizes = [cuts[0], cuts[1] - cuts[0], n - cuts[1]]
        both(lambda L, t: t.split(sizes, d), x, expected_np=np.split(a, np.cumsum(sizes)[:-1], axis=d))
        both(lambda L, t: L.chunk(t, k, d), x)
        both(lambda L, t: t.tensor_split(k, d), x, expected_np=np.array_split(a, k, axis=d))
        idx = [int(i) for i in rng.integers(-n - 2, n + 3, 3)]
        both(lambda L, t: L.tensor_split(t, idx, d), x, expected_np=np.array_split(a, idx, axis=d))
        if n:
            both(lambda L, t: L.unbind(t, d), x, expected_np=[a.take(i, d) for i in range(n)])


def test_split_edge_cases():
    x = lt.arange(5.0)
    assert [tuple(p.shape) for p in x.split(2)] == [(2,), (2,), (1,)]
    assert [tuple(p.shape) for p in lt.zeros(0).split(0)] == [(0,)]
    assert [tuple(p.shape) for p in lt.zeros(0).chunk(3)] == [(0,), (0,), (0,)]  # torch keeps the count
    assert [tuple(p.shape) for p in x.chunk(10)] == [(1,)] * 5
    assert [tuple(p.shape) for p in lt.zeros(6).chunk(4)] == [(2,), (2,), (2,)]
    assert [tuple(p.shape) for p in x.tensor_split(lt.tensor([1, 3]))] == [(1,), (2,), (2,)]
    assert [tuple(p.shape) for p in x.tensor_split(lt.tensor(2))] == [(3,), (2,)]
    assert [tuple(p.shape) for p in lt.split(x, lt.tensor(2))] == [(2,), (2,), (1,)]
    assert lt.unbind(lt.zeros(0, 3)) == ()


def test_hsplit_vsplit_dsplit():
    rng = np.random.default_rng(5)
    x, a = make_input(rng, (4, 6, 2), layout="transposed")
    both(lambda L, t: L.hsplit(t, 3), x, expected_np=np.hsplit(a, 3))
    both(lambda L, t: t.hsplit([1, 4]), x, expected_np=np.hsplit(a, [1, 4]))
    both(lambda L, t: L.vsplit(t, 2), x, expected_np=np.vsplit(a, 2))
    both(lambda L, t: L.dsplit(t, [1]), x, expected_np=np.dsplit(a, [1]))
    v, b = make_input(rng, (6,))
    both(lambda L, t: L.hsplit(t, 2), v, expected_np=np.hsplit(b, 2))


def test_splits_return_views_that_write_into_the_input():
    x = lt.arange(12.0).reshape(3, 4)
    left, right = x.chunk(2, dim=1)
    right.fill_(-1.0)
    assert x.tolist() == [[0, 1, -1, -1], [4, 5, -1, -1], [8, 9, -1, -1]]
    row = lt.unbind(x, 0)[1]
    row.zero_()
    assert x.tolist()[1] == [0, 0, 0, 0]
    piece = x.split([2, 1], dim=0)[1]
    piece.copy_(lt.tensor([7.0, 8.0, 9.0, 10.0]))
    assert x.tolist()[2] == [7, 8, 9, 10]
    part = lt.tensor_split(x, [1], dim=1)[0]
    part.add_(100)
    assert [r[0] for r in x.tolist()] == [100, 100, 107]
    # and the view sees later writes to the input
    first = x.split(1, 1)[0]
    x.fill_(3.0)
    assert first.tolist() == [[3.0]] * 3
    assert not left.is_contiguous()  # a strided view, as torch's chunk of a row-major matrix


def test_iterating_a_tensor_unbinds_it():
    x = lt.tensor([[1, 2], [3, 4]])
    assert [r.tolist() for r in x] == [[1, 2], [3, 4]]


# ---- gather / index_select / take_along_dim ----

@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", [lt.float32, lt.int64, lt.bool, lt.bfloat16])
def test_gather_random(layout, dtype):
    rng = np.random.default_rng(seed(layout, dtype.name, "gather"))
    for _ in range(3):
        shape = tuple(rng.integers(1, 5, 3))
        x, a = make_input(rng, shape, dtype, layout)
        d = int(rng.integers(-3, 3))
        ishape = tuple(int(rng.integers(0, s + 1)) if k != d % 3 else int(rng.integers(0, 6))
                       for k, s in enumerate(shape))
        idx = rng.integers(0, shape[d], ishape)
        index = lt.tensor(idx)
        crop = a[tuple(slice(0, s) if k != d % 3 else slice(None) for k, s in enumerate(ishape))]
        both(lambda L, t, i: L.gather(t, d, i), x, index, expected_np=np.take_along_axis(crop, idx, d))
        both(lambda L, t, i: t.gather(d, i.to(L.int32)) if L is torch else t.gather(d, lt.tensor(idx, dtype=lt.int32)),
             x, index, expected_np=np.take_along_axis(crop, idx, d))


def test_gather_0d_and_errors_at_flush():
    both(lambda L, t, i: L.gather(t, 0, i), lt.tensor(2.5), lt.tensor(0), expected_np=np.float32(2.5))
    both(lambda L, t, i: L.gather(t, 0, i), lt.tensor(2.5), lt.tensor([0, 0]), expected_np=np.full(2, 2.5))
    both(lambda L, t, i: L.gather(t, -1, i), lt.tensor([1, 2, 3]), lt.tensor(2), expected_np=np.int64(3))
    with pytest.raises(IndexError, match="out of bounds"):  # out of range: found when the graph runs
        lt.gather(lt.zeros(3, 4), 0, lt.tensor([[5, 0]])).numpy()


@pytest.mark.parametrize("op", ["gather", "index_select", "scatter", "embedding"])
def test_negative_indices_are_refused_where_torch_refuses_them(op):
    # gather, index_select, scatter and embedding take 0 <= index < size; torch raises RuntimeError
    # for some and IndexError for others: IndexOutOfBounds is both, raised at the next observation
    x = lt.arange(12.0).reshape(3, 4)
    calls = {"gather": lambda L, t, i: L.gather(t, 1, i.reshape(3, 1)),
             "index_select": lambda L, t, i: L.index_select(t, 0, i),
             "scatter": lambda L, t, i: t.scatter(1, i.reshape(3, 1), 5.0),
             "embedding": lambda L, t, i: L.nn.functional.embedding(i, t)}
    index = lt.tensor([0, -1, 1])
    out = calls[op](lt, x, index)
    for cls in (IndexError, RuntimeError):
        with pytest.raises(cls, match="index -1 is out of bounds"):
            out.numpy()
    if torch is not None:
        with pytest.raises((IndexError, RuntimeError), match="out of"):
            calls[op](torch, to_torch(x), torch.tensor([0, -1, 1]))


def test_take_along_dim_and_indexing_count_negative_indices_from_the_end():
    x, a = make_input(np.random.default_rng(3), (3, 4), layout="strided")
    idx = np.array([[-1, 0], [-4, 3], [2, -2]])
    for index in (lt.tensor(idx), lt.tensor(idx) + 0):  # stored and pending indices
        both(lambda L, t, i: L.take_along_dim(t, i, 1), x, index,
             expected_np=np.take_along_axis(a, idx % 4, 1))
        with pytest.raises(IndexError, match="index -4 is out of bounds"):  # flat: as gather
            lt.take_along_dim(x, index.reshape(-1)).numpy()
    rows = np.array([-1, -3, 2, 0])
    np.testing.assert_array_equal(x[lt.tensor(rows) + 0].numpy(), a[rows])
    np.testing.assert_array_equal(x[lt.tensor(rows) + 0, lt.tensor([-4, 1, -1, 3]) + 0].numpy(),
                                  a[rows, [-4, 1, -1, 3]])
    with pytest.raises(IndexError, match="index -5 is out of bounds for dimension 1 with size 4"):
        lt.take_along_dim(x, lt.tensor([[-5]]) + 0, 1).numpy()  # beyond -size: named as written
    with pytest.raises(IndexError, match="index -4 is out of bounds"):
        x[lt.tensor([-4]) + 0].numpy()


@pytest.mark.parametrize("layout", LAYOUTS)
def test_index_select_random(layout):
    rng = np.random.default_rng(seed(layout, "index_select"))
    for _ in range(4):
        shape = tuple(rng.integers(1, 5, 3))
        x, a = make_input(rng, shape, lt.float64, layout)
        d = int(rng.integers(-3, 3))
        idx = rng.integers(0, shape[d], int(rng.integers(0, 6)))
        for dtype in (lt.int64, lt.int32):
            both(lambda L, t, i: L.index_select(t, d, i), x, lt.tensor(idx, dtype=dtype),
                 expected_np=np.take(a, idx, axis=d))
    both(lambda L, t, i: t.index_select(0, i), lt.tensor(4.0), lt.tensor([0]), expected_np=np.float32(4.0))
    both(lambda L, t, i: t.index_select(0, i), lt.tensor([4.0, 5.0]), lt.tensor(1), expected_np=np.array([5.0]))


def test_take_along_dim():
    rng = np.random.default_rng(6)
    x, a = make_input(rng, (3, 4), layout="strided")
    idx = np.argsort(a, axis=1)
    both(lambda L, t, i: L.take_along_dim(t, i, 1), x, lt.tensor(idx), expected_np=np.take_along_axis(a, idx, 1))
    flat = np.array([11, 0, 5])
    both(lambda L, t, i: t.take_along_dim(i), x, lt.tensor(flat), expected_np=a.reshape(-1)[flat])
    # broadcasting outside dim
    y, b = make_input(rng, (3, 1))
    idx2 = rng.integers(0, 3, (2, 5))
    both(lambda L, t, i: L.take_along_dim(t, i, 0), y, lt.tensor(idx2),
         expected_np=np.take_along_axis(np.broadcast_to(b, (3, 5)), idx2, 0))
    both(lambda L, t, i: L.take_along_dim(t, i, -2), y, lt.tensor(idx2),
         expected_np=np.take_along_axis(np.broadcast_to(b, (3, 5)), idx2, 0))


# ---- masked_fill, tril, triu ----

@pytest.mark.parametrize("dtype", [lt.float32, lt.int64, lt.bool, lt.float16, lt.uint8])
@pytest.mark.parametrize("layout", LAYOUTS)
def test_masked_fill_random(dtype, layout):
    rng = np.random.default_rng(seed(layout, dtype.name, "mf"))
    x, a = make_input(rng, (3, 4), dtype, layout)
    for mshape in [(3, 4), (4,), (3, 1), (), (2, 3, 4)]:
        m = rng.random(mshape) < 0.5
        for value in (2, 1.5, True):
            want = np.where(m, np.array(value).astype(dtype.np_dtype), a)
            out = both(lambda L, t, mm: L.masked_fill(t, mm, value), x, lt.tensor(m), expected_np=want)
            assert out.dtype is dtype
        both(lambda L, t, mm, v: t.masked_fill(mm, v), x, lt.tensor(m), lt.tensor(3.75),
             expected_np=np.where(m, np.array(3.75).astype(dtype.np_dtype), a))


def test_masked_fill_inplace_through_view_and_0d():
    x = lt.zeros(2, 3)
    col = x.T  # non-contiguous view
    col.masked_fill_(lt.tensor([[True], [False], [True]]), 5.0)
    assert x.tolist() == [[5, 0, 5], [5, 0, 5]]
    s = lt.tensor(1.0)
    s.masked_fill_(lt.tensor(True), -2)
    assert s.item() == -2.0
    e = lt.zeros(0, 3)
    assert tuple(e.masked_fill(lt.ones(3, dtype=lt.bool), 1).shape) == (0, 3)
    y = lt.tensor([-0.0, 1.0])
    assert np.signbit(y.masked_fill(lt.tensor([False, True]), 2).numpy()[0])


@pytest.mark.parametrize("shape", [(3, 3), (2, 5), (5, 2), (2, 3, 4), (0, 3), (2, 0, 2), (1, 1)])
@pytest.mark.parametrize("layout", LAYOUTS)
def test_tril_triu_random(shape, layout):
    rng = np.random.default_rng(seed(shape, layout))
    for dtype in (lt.float32, lt.int32, lt.bool):
        x, a = make_input(rng, shape, dtype, layout)
        for k in (-6, -1, 0, 2, 7):
            both(lambda L, t: L.tril(t, k), x, expected_np=np.tril(a, k))
            both(lambda L, t: t.triu(diagonal=k), x, expected_np=np.triu(a, k))


def test_tril_triu_inplace_through_view():
    x = lt.arange(9.0).reshape(3, 3)
    x.T.tril_()  # the transpose's lower triangle is x's upper one
    assert x.tolist() == [[0, 1, 2], [0, 4, 5], [0, 0, 8]]
    y = lt.ones(2, 2, 2, dtype=lt.int64)
    lt.unbind(y, 0)[1].triu_(1)
    assert y.tolist() == [[[1, 1], [1, 1]], [[0, 1], [0, 0]]]


# ---- repeat, tile, repeat_interleave ----

@pytest.mark.parametrize("layout", LAYOUTS)
def test_repeat_and_tile_random(layout):
    rng = np.random.default_rng(seed(layout, "repeat"))
    for _ in range(4):
        shape = tuple(rng.integers(0, 4, int(rng.integers(1, 4))))
        x, a = make_input(rng, shape, lt.int16, layout)
        reps = tuple(int(r) for r in rng.integers(0, 3, len(shape) + int(rng.integers(0, 2))))
        both(lambda L, t: t.repeat(*reps), x, expected_np=np.tile(a, reps))
        both(lambda L, t: t.repeat(reps), x, expected_np=np.tile(a, reps))
        short = reps[-1:]
        both(lambda L, t: L.tile(t, short), x, expected_np=np.tile(a, short))
        both(lambda L, t: t.tile(*short), x, expected_np=np.tile(a, short))
    both(lambda L, t: t.repeat(2, 3), lt.tensor(1.5), expected_np=np.full((2, 3), 1.5))
    both(lambda L, t: t.repeat(()), lt.tensor(1.5), expected_np=np.float32(1.5))
    assert lt.ones(2, 3).repeat(2, 3).is_contiguous()


@pytest.mark.parametrize("layout", LAYOUTS)
def test_repeat_interleave(layout):
    rng = np.random.default_rng(seed(layout, "ri"))
    x, a = make_input(rng, (2, 3), lt.float32, layout)
    both(lambda L, t: t.repeat_interleave(2), x, expected_np=np.repeat(a, 2))
    both(lambda L, t: L.repeat_interleave(t, 3, dim=-1), x, expected_np=np.repeat(a, 3, axis=1))
    both(lambda L, t: L.repeat_interleave(t, 0, 0), x, expected_np=np.zeros((0, 3)))
    reps = np.array([1, 0, 2])
    both(lambda L, t, r: L.repeat_interleave(t, r, 1), x, lt.tensor(reps), expected_np=np.repeat(a, reps, axis=1))
    both(lambda L, t, r: t.repeat_interleave(r, 0, output_size=4), x, lt.tensor(2),
         expected_np=np.repeat(a, 2, axis=0))
    both(lambda L, r: L.repeat_interleave(r), lt.tensor(reps), expected_np=np.repeat(np.arange(3), reps))
    both(lambda L, t: L.repeat_interleave(t, 2), lt.tensor(1.0), expected_np=np.ones(2))


# ---- flip, roll, rot90 ----

@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", [lt.float32, lt.int8, lt.bool])
def test_flip_random(layout, dtype):
    rng = np.random.default_rng(seed(layout, dtype.name, "flip"))
    for _ in range(3):
        shape = tuple(rng.integers(0, 4, 3))
        x, a = make_input(rng, shape, dtype, layout)
        dims = tuple(int(d) for d in rng.choice([0, 1, -1], int(rng.integers(0, 3)), replace=False))
        both(lambda L, t: L.flip(t, dims), x, expected_np=np.flip(a, dims) if dims else a)
        if dims:
            both(lambda L, t: t.flip(*dims), x, expected_np=np.flip(a, dims))
        both(lambda L, t: L.fliplr(t), x, expected_np=np.fliplr(a))
        both(lambda L, t: t.flipud(), x, expected_np=np.flipud(a))
    both(lambda L, t: L.flip(t, (0,)), lt.tensor(3), expected_np=np.int64(3))


def test_flip_returns_a_copy():
    x = lt.arange(4.0)
    y = x.flip(0)
    assert y.is_contiguous()
    y.fill_(0.0)
    assert x.tolist() == [0, 1, 2, 3]
    z = x.flip(0)
    x.fill_(1.0)
    assert z.tolist() == [3, 2, 1, 0]


@pytest.mark.parametrize("layout", LAYOUTS)
def test_roll_random(layout):
    rng = np.random.default_rng(seed(layout, "roll"))
    for _ in range(4):
        shape = tuple(rng.integers(0, 5, 3))
        x, a = make_input(rng, shape, lt.float64, layout)
        s = int(rng.integers(-7, 8))
        both(lambda L, t: L.roll(t, s), x, expected_np=np.roll(a, s))
        shifts = tuple(int(v) for v in rng.integers(-7, 8, 2))
        dims = tuple(int(v) for v in rng.choice([0, 1, 2, -1], 2))
        both(lambda L, t: t.roll(shifts, dims), x, expected_np=np.roll(a, shifts, dims))
        both(lambda L, t: t.roll(s, -2), x, expected_np=np.roll(a, s, -2))
    both(lambda L, t: L.roll(t, 1), lt.tensor(2.0), expected_np=np.float32(2.0))


@pytest.mark.parametrize("layout", LAYOUTS)
def test_rot90(layout):
    rng = np.random.default_rng(seed(layout, "rot"))
    x, a = make_input(rng, (2, 3, 4), lt.int32, layout)
    for k in range(-5, 6):
        for dims in [(0, 1), (1, 2), (2, 0), (-1, -3)]:
            out = both(lambda L, t: L.rot90(t, k, dims), x, expected_np=np.rot90(a, k, dims))
            if torch is not None:
                assert out.stride() == torch.rot90(torch_of(a), k, dims).stride()
    both(lambda L, t: t.rot90(), lt.zeros(0, 3), expected_np=np.zeros((3, 0)))


# ---- zero_, fill_, copy_ ----

def test_zero_fill_through_views_into_base():
    x = lt.arange(6.0).reshape(2, 3)
    lt.zero_(x.narrow(1, 1, 1))
    assert x.tolist() == [[0, 0, 2], [3, 0, 5]]
    x.T.narrow(0, 2, 1).fill_(lt.tensor(9))  # 0-d tensor value, other dtype
    assert x.tolist() == [[0, 0, 9], [3, 0, 9]]
    i = lt.zeros(3, dtype=lt.int64)
    assert i.fill_(2.7).tolist() == [2, 2, 2]  # cast to the tensor's dtype
    b = lt.zeros(2)
    assert b.fill_(True).tolist() == [1.0, 1.0]
    assert lt.fill_(lt.zeros(2), 3).tolist() == [3.0, 3.0]
    f = lt.fill(x, 1.5)
    assert f.tolist() == [[1.5] * 3] * 2 and x.tolist()[0] == [0, 0, 9]


def test_fill_an_expanded_view_and_numpy_memory():
    base = lt.zeros(1)
    e = base.expand(3)
    e.fill_(4.0)  # every element is the one stored one: torch allows this for fill_
    assert base.tolist() == [4.0] and e.tolist() == [4.0] * 3
    arr = np.zeros((2, 2), dtype=np.float32)
    t = lt.from_numpy(arr)
    t.unbind(1)[0].fill_(1.0)
    assert arr.tolist() == [[1, 0], [1, 0]]  # in-place writes reach shared numpy storage


@pytest.mark.parametrize("src_shape", [(2, 3), (3,), (1, 3), (), (2, 1)])
def test_copy_broadcasts_and_casts(src_shape):
    rng = np.random.default_rng(7)
    for dtype in (lt.int32, lt.float16, lt.bool):
        src, a = make_input(rng, src_shape, lt.float64, "transposed")
        x = lt.ones(2, 3, dtype=dtype)
        r = x.copy_(src)
        assert r is x and x.dtype is dtype
        want = np.broadcast_to(a, (2, 3))
        want = (want != 0) if dtype is lt.bool else (np.trunc(want) if dtype.is_integer else want)
        assert_close(x, want.astype(dtype.np_dtype))
        if torch is not None:
            tx = torch.ones(2, 3, dtype=getattr(torch, dtype.name))
            tx.copy_(torch_of(a))
            assert_close(x, tx)


def test_copy_through_view_and_from_self():
    x = lt.arange(6).reshape(2, 3)
    x.unbind(0)[0].copy_(x.unbind(0)[1])  # reads the old values before writing
    assert x.tolist() == [[3, 4, 5], [3, 4, 5]]
    y = lt.arange(4.0)
    y.copy_(y.flip(0))
    assert y.tolist() == [3, 2, 1, 0]
    y.copy_(5)
    assert y.tolist() == [5.0] * 4


# ---- scatter ----

def np_scatter(dest, dim, index, src, mode):
    """Reference scatter: a loop over index positions."""
    out = dest.copy()
    scalar = np.ndim(src) == 0 and np.ndim(index) > 0
    if out.ndim == 0:
        out, index = out.reshape(1), index.reshape(1)
        src = src if scalar else np.reshape(src, 1)
    for pos in np.ndindex(*index.shape):
        tgt = list(pos)
        tgt[dim] = index[pos]
        v = src if scalar else src[pos]
        if mode == "set":
            out[tuple(tgt)] = v
        elif mode == "add":
            out[tuple(tgt)] = out[tuple(tgt)] + v
        else:
            out[tuple(tgt)] = out[tuple(tgt)] * v
    return out.reshape(dest.shape)


def unique_index(rng, ishape, d, n):
    """Indices that are distinct along `d` (ishape[d] <= n), so scatter's result is defined."""
    full = ishape[:d] + (n,) + ishape[d + 1:]
    perm = np.argsort(rng.random(full), axis=d)
    return np.take(perm, range(ishape[d]), axis=d)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", [lt.float32, lt.int64, lt.bool])
def test_scatter_random(layout, dtype):
    rng = np.random.default_rng(seed(layout, dtype.name, "scatter"))
    for _ in range(4):
        shape = tuple(rng.integers(1, 5, 2))
        x, a = make_input(rng, shape, dtype, layout)
        d = int(rng.integers(-2, 2))
        ishape = tuple(int(rng.integers(0, s + 1)) for s in shape)
        idx = unique_index(rng, ishape, d % 2, shape[d])
        src, s_np = make_input(rng, tuple(i + int(rng.integers(0, 2)) for i in ishape), dtype, layout)
        both(lambda L, t, i, s: L.scatter(t, d, i, s), x, lt.tensor(idx), src,
             expected_np=np_scatter(a, d % 2, idx, s_np, "set"))
        both(lambda L, t, i: t.scatter(d, i, value=1), x, lt.tensor(idx),
             expected_np=np_scatter(a, d % 2, idx, np.array(1).astype(a.dtype), "set"))


@pytest.mark.filterwarnings("ignore:The reduce argument of torch.scatter")
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", [lt.float64, lt.int32, lt.float32])
def test_scatter_add_and_reduce_sum_duplicates(layout, dtype):
    rng = np.random.default_rng(seed(layout, dtype.name, "scatter_add"))
    for _ in range(4):
        shape = tuple(rng.integers(1, 4, 3))
        x, a = make_input(rng, shape, dtype, layout)
        d = int(rng.integers(-3, 3))
        ishape = tuple(int(rng.integers(0, 6)) if k == d % 3 else int(rng.integers(0, s + 1))
                       for k, s in enumerate(shape))
        idx = rng.integers(0, shape[d], ishape)  # duplicates allowed: they accumulate
        src, s_np = make_input(rng, ishape, dtype, layout)
        both(lambda L, t, i, s: L.scatter_add(t, d, i, s), x, lt.tensor(idx), src,
             expected_np=np_scatter(a, d % 3, idx, s_np, "add"))
        both(lambda L, t, i, s: t.scatter(d, i, s, reduce="add"), x, lt.tensor(idx), src,
             expected_np=np_scatter(a, d % 3, idx, s_np, "add"))
        both(lambda L, t, i: L.scatter(t, d, i, 2, reduce="multiply"), x, lt.tensor(idx),
             expected_np=np_scatter(a, d % 3, idx, np.array(2).astype(a.dtype), "multiply"))


def test_scatter_0d_empty_index_and_exact_values():
    both(lambda L, t, i, s: L.scatter(t, 0, i, s), lt.tensor(1.0), lt.tensor(0), lt.tensor(5.0),
         expected_np=np.float32(5.0))
    both(lambda L, t, i, s: L.scatter(t, 0, i, s), lt.zeros(3), lt.tensor(2), lt.tensor(5.0),
         expected_np=np.array([0, 0, 5.0]))
    both(lambda L, t, i, s: L.scatter(t, 0, i, s), lt.ones(3, 4), lt.zeros(0, 4, dtype=lt.int64), lt.ones(2, 4),
         expected_np=np.ones((3, 4)))
    x = lt.tensor([-0.0, 1.0, -0.0])
    out = lt.scatter(x, 0, lt.tensor([1, 2]), lt.tensor([float("nan"), -0.0])).numpy()
    assert np.signbit(out[0]) and np.isnan(out[1]) and np.signbit(out[2])
    assert np.signbit(lt.scatter_add(x, 0, lt.tensor([1]), lt.tensor([2.0])).numpy()[0])
    with pytest.raises(IndexError, match="out of bounds"):
        lt.scatter(lt.zeros(3), 0, lt.tensor([3]), lt.ones(1)).numpy()


def test_scatter_inplace_through_views():
    x = lt.zeros(3, 4)
    r = x.T.scatter_(1, lt.tensor([[2], [0], [1], [2]]), lt.ones(4, 1))
    assert r.shape == (4, 3)
    assert x.tolist() == [[0, 1, 0, 0], [0, 0, 1, 0], [1, 0, 0, 1]]
    x.unbind(0)[0].scatter_add_(0, lt.tensor([3, 3]), lt.tensor([2.0, 3.0]))
    assert x.tolist()[0] == [0, 1, 0, 5]
    x.scatter_(0, lt.tensor([[1]]), 7.0, reduce="multiply")
    assert x.tolist()[1][0] == 0.0
    assert lt.scatter(lt.zeros(2), 0, lt.tensor([1]), value=3).tolist() == [0, 3]


# ---- errors: PyTorch's types and messages ----

def _z(L, *s, **kw):
    return L.zeros(*(s or ((),)), **kw)


def _i(L, *values):
    return L.tensor(values, dtype=L.int64)


ERRORS = [
    # joining
    (lambda L: L.cat([]), ValueError, "torch.cat(): expected a non-empty list of Tensors"),
    (lambda L: L.cat([_z(L, 2, 3), 1]), TypeError, "expected Tensor as element 1 in argument 0, but got int"),
    (lambda L: L.cat(_z(L, 2, 3)), TypeError, "must be tuple of Tensors, not Tensor"),
    (lambda L: L.cat([_z(L, 0), _z(L)]), RuntimeError,
     "zero-dimensional tensor (at position 1) cannot be concatenated"),
    (lambda L: L.cat([_z(L, 2, 3), _z(L, 2, 3, 4)]), RuntimeError,
     "Tensors must have same number of dimensions: got 2 and 3"),
    (lambda L: L.cat([_z(L, 3, 2), _z(L, 4, 2)], dim=1), RuntimeError,
     "Sizes of tensors must match except in dimension 1. Expected size 3 but got size 4 for tensor number 1 in the "
     "list."),
    (lambda L: L.cat([_z(L, 0), _z(L, 2, 3), _z(L, 2, 4)]), RuntimeError,
     "Sizes of tensors must match except in dimension 0. Expected size 3 but got size 4 for tensor number 2 in the "
     "list."),
    (lambda L: L.cat([_z(L, 2, 3), _z(L, 2, 4)], 2), IndexError,
     "Dimension out of range (expected to be in range of [-2, 1], but got 2)"),
    (lambda L: L.stack([]), RuntimeError, "stack expects a non-empty TensorList"),
    (lambda L: L.stack([_z(L, 2, 3), _z(L, 2, 4)]), RuntimeError,
     "stack expects each tensor to be equal size, but got [2, 3] at entry 0 and [2, 4] at entry 1"),
    (lambda L: L.stack([_z(L, 2), _z(L, 2)], 2), IndexError, "Dimension out of range"),
    (lambda L: L.hstack([]), RuntimeError, "hstack expects a non-empty TensorList"),
    (lambda L: L.vstack(()), RuntimeError, "vstack expects a non-empty TensorList"),
    (lambda L: L.dstack([]), RuntimeError, "dstack expects a non-empty TensorList"),
    (lambda L: L.column_stack([]), RuntimeError, "column_stack expects a non-empty TensorList"),
    # splitting
    (lambda L: _z(L, 5).split(-1), RuntimeError, "split expects split_size be non-negative, but got split_size=-1"),
    (lambda L: _z(L, 5).split(0), RuntimeError,
     "split_size can only be 0 if dimension size is 0, but got dimension size of 5"),
    (lambda L: _z(L).split(1), RuntimeError, "split expects at least a 1-dimensional tensor"),
    (lambda L: _z(L, 5).split([2, 2]), RuntimeError,
     "split_with_sizes expects split_sizes to sum exactly to 5 (input tensor's size at dimension 0), but got "
     "split_sizes=[2, 2]"),
    (lambda L: _z(L, 5).split([-1, 6]), RuntimeError,
     "split_with_sizes expects split_sizes have only non-negative entries, but got split_sizes=[-1, 6]"),
    (lambda L: _z(L, 5, 2).split(2, 2), IndexError, "Dimension out of range"),
    (lambda L: _z(L, 5).chunk(0), RuntimeError, "chunk expects `chunks` to be greater than 0, got: 0"),
    (lambda L: _z(L).chunk(1), RuntimeError, "chunk expects at least a 1-dimensional tensor"),
    (lambda L: _z(L).unbind(), IndexError, "Dimension specified as 0 but tensor has no dimensions"),
    (lambda L: _z(L, 5).tensor_split(0), RuntimeError, "number of sections must be larger than 0, got 0"),
    (lambda L: _z(L).tensor_split(2), RuntimeError,
     "tensor_split expected at least a 1-dimensional tensor, but got a tensor with 0 dims"),
    (lambda L: _z(L, 5).tensor_split(L.tensor([1.0])), RuntimeError,
     "tensor_split expected tensor_indices_or_sections to have dtype of long, but got Float"),
    (lambda L: _z(L, 5).tensor_split(L.tensor([[1]])), RuntimeError,
     "tensor_split expected tensor_indices_or_sections to be a zero-dimensional or one-dimensional tensor, but got "
     "a tensor with 2 dims"),
    (lambda L: _z(L, 2, 5).hsplit(2), RuntimeError,
     "torch.hsplit attempted to split along dimension 1, but the size of the dimension 5 is not divisible by the "
     "split_size 2!"),
    (lambda L: _z(L, 5).vsplit(2), RuntimeError,
     "torch.vsplit requires a tensor with at least 2 dimension, but got a tensor with 1 dimensions!"),
    (lambda L: _z(L, 4, 5).dsplit(1), RuntimeError,
     "torch.dsplit requires a tensor with at least 3 dimension, but got a tensor with 2 dimensions!"),
    (lambda L: _z(L).hsplit(1), RuntimeError,
     "torch.hsplit requires a tensor with at least 1 dimension, but got a tensor with 0 dimensions!"),
    # gathering
    (lambda L: L.gather(_z(L, 3, 4), 0, _z(L, 2, 4)), RuntimeError, "gather(): Expected dtype int32/int64 for index"),
    (lambda L: L.gather(_z(L, 3, 4), 0, _z(L, 2, dtype=L.int64)), RuntimeError,
     "Index tensor must have the same number of dimensions as input tensor"),
    (lambda L: L.gather(_z(L, 3, 4), 0, _z(L, 2, 5, dtype=L.int64)), RuntimeError,
     "Size does not match at dimension 1 expected index [2, 5] to be no larger than self [3, 4] apart from "
     "dimension 0"),
    (lambda L: L.gather(_z(L, 3, 4), 2, _z(L, 2, 4, dtype=L.int64)), IndexError, "Dimension out of range"),
    (lambda L: L.index_select(_z(L, 3, 4), 0, L.tensor([0.0])), RuntimeError,
     "index_select(): Expected dtype int32 or int64 for index"),
    (lambda L: L.index_select(_z(L, 3, 4), 0, _i(L, 0, 2).reshape(1, 2)), IndexError,
     "index_select(): Index is supposed to be a vector"),
    (lambda L: L.index_select(_z(L), 0, _i(L, 0, 0)), RuntimeError,
     "index_select(): Index to scalar can have only 1 value, got 2 value(s)"),
    (lambda L: L.take_along_dim(_z(L, 3, 4), _i(L, 0, 1), 0), RuntimeError,
     "torch.take_along_dim(): input and indices should have the same number of dimensions, but got 2 dimensions "
     "for input, and 1 dimensions for indices"),
    (lambda L: L.take_along_dim(_z(L, 3, 4), L.tensor([[0]], dtype=L.int32), 0), RuntimeError,
     "torch.take_along_dim(): dtype of indices should be Long but got Int"),
    (lambda L: L.take_along_dim(_z(L, 3, 2), _z(L, 2, 5, dtype=L.int64), 0), RuntimeError,
     "The size of tensor a (2) must match the size of tensor b (5) at non-singleton dimension 1"),
    # masking, triangles
    (lambda L: _z(L, 3).masked_fill(_z(L, 3), 1), RuntimeError,
     "masked_fill_ only supports boolean masks, but got mask with dtype float"),
    (lambda L: _z(L, 3).masked_fill(_z(L, 3, dtype=L.int64), 1), RuntimeError,
     "masked_fill_ only supports boolean masks, but got mask with dtype long int"),
    (lambda L: _z(L, 3).masked_fill(_z(L, 3, dtype=L.bool), _z(L, 2)), RuntimeError,
     "masked_fill_ only supports a 0-dimensional value tensor, but got tensor with 1 dimension(s)."),
    (lambda L: _z(L, 3).masked_fill_(_z(L, 2, 3, dtype=L.bool), 1.0), RuntimeError,
     "output with shape [3] doesn't match the broadcast shape [2, 3]"),
    (lambda L: _z(L, 3).masked_fill(_z(L, 4, dtype=L.bool), 1), RuntimeError,
     "The size of tensor a (4) must match the size of tensor b (3) at non-singleton dimension 0"),
    (lambda L: _z(L, 3).tril(), RuntimeError, "tril: input tensor must have at least 2 dimensions"),
    (lambda L: L.triu(_z(L)), RuntimeError, "triu: input tensor must have at least 2 dimensions"),
    # repeating, flipping
    (lambda L: _z(L, 2, 3).repeat(2), RuntimeError,
     "Number of dimensions of repeat dims can not be smaller than number of dimensions of tensor"),
    (lambda L: _z(L, 2, 3).repeat(2, -1), RuntimeError, "Trying to create tensor with negative dimension -3: [4, -3]"),
    (lambda L: _z(L, 2, 3).repeat_interleave(-1), RuntimeError, "Repeats must be non-negative"),
    (lambda L: _z(L, 2, 3).repeat_interleave(_i(L, 1, 2, 3), 0), RuntimeError,
     "repeats must have the same size as input along dim, but got repeats.size(0) = 3 and input.size(0) = 2"),
    (lambda L: _z(L, 2, 3).repeat_interleave(_i(L, 1, -2), 0), RuntimeError, "repeats can not be negative"),
    (lambda L: _z(L, 2, 3).repeat_interleave(_i(L, 1, 2).reshape(1, 2), 0), RuntimeError,
     "repeats must be 0-dim or 1-dim tensor"),
    (lambda L: _z(L, 2, 3).repeat_interleave(_i(L, 1, 2), 0, output_size=4), RuntimeError,
     "allocated size does not match required size"),
    (lambda L: _z(L, 2, 3).flip([0, -2]), RuntimeError, "dim 0 appears multiple times in the list of dims"),
    (lambda L: _z(L, 2, 3).flip(2), IndexError, "Dimension out of range"),
    (lambda L: _z(L, 3).fliplr(), RuntimeError, "Input must be >= 2-d."),
    (lambda L: _z(L).flipud(), RuntimeError, "Input must be >= 1-d."),
    (lambda L: _z(L, 2, 3).roll((1, 2), 0), RuntimeError, "shifts and dimensions must align. shifts: 2, dims:1"),
    (lambda L: _z(L, 2, 3).roll((1, 2)), RuntimeError, "shifts and dimensions must align. shifts: 2, dims:0"),
    (lambda L: _z(L, 2, 3).roll((), 0), RuntimeError, "`shifts` required"),
    (lambda L: _z(L).roll(1, 0), IndexError, "Dimension specified as 0 but tensor has no dimensions"),
    (lambda L: _z(L, 2, 3).rot90(1, (0, 1, 2)), RuntimeError, "expected total rotation dims == 2, but got dims = 3"),
    (lambda L: _z(L, 3).rot90(), RuntimeError, "expected total dims >= 2, but got total dims = 1"),
    (lambda L: _z(L, 2, 3).rot90(1, (0, -2)), RuntimeError,
     "expected rotation dims to be different, but got dim0 = 0 and dim1 = -2"),
    # in-place writes
    (lambda L: _z(L, 3).fill_(_z(L, 2)), RuntimeError,
     "fill_ only supports 0-dimension value tensor but got tensor with 1 dimensions."),
    (lambda L: _z(L, 3).copy_(_z(L, 2)), RuntimeError,
     "The size of tensor a (3) must match the size of tensor b (2) at non-singleton dimension 0"),
    (lambda L: _z(L, 3).copy_(_z(L, 2, 3)), RuntimeError,
     "output with shape [3] doesn't match the broadcast shape [2, 3]"),
    (lambda L: _z(L, 1).expand(3).copy_(L.ones(3)), RuntimeError,
     "unsupported operation: more than one element of the written-to tensor refers to a single memory location."),
    # scattering
    (lambda L: L.scatter(_z(L, 3, 4), 0, _z(L, 2, 4), L.ones(2, 4)), RuntimeError,
     "scatter(): Expected dtype int32/int64 for index"),
    (lambda L: L.scatter(_z(L, 3, 4), 0, _z(L, 2, 4, dtype=L.int64), L.ones(2, 4, dtype=L.int64)), RuntimeError,
     "scatter(): Expected self.dtype to be equal to src.dtype"),
    (lambda L: L.scatter_add(_z(L, 3, 4), 0, _z(L, 2, 4, dtype=L.int64), L.ones(2, 4, dtype=L.int64)), RuntimeError,
     "scatter(): Expected self.dtype to be equal to src.dtype"),
    (lambda L: L.scatter(_z(L, 3, 4), 0, _z(L, 2, dtype=L.int64), L.ones(2, 4)), RuntimeError,
     "Index tensor must have the same number of dimensions as self tensor"),
    (lambda L: L.scatter(_z(L, 3, 4), 0, _z(L, 2, 5, dtype=L.int64), L.ones(2, 5)), RuntimeError,
     "Expected index [2, 5] to be no larger than self [3, 4] apart from dimension 0 and to be no larger size than "
     "src [2, 5]"),
    (lambda L: L.scatter(_z(L, 3, 4), 0, _z(L, 2, 4, dtype=L.int64), L.ones(1, 4)), RuntimeError,
     "Expected index [2, 4] to be no larger than self [3, 4] apart from dimension 0 and to be no larger size than "
     "src [1, 4]"),
    (lambda L: L.scatter(_z(L, 3), 0, _i(L, 0), 2.0, reduce="mean"), RuntimeError,
     "reduce argument must be either add or multiply."),
    (lambda L: L.scatter_add(_z(L, 3, 4), 0, _z(L, 2, 4, dtype=L.int64), 1.0), TypeError, "must be Tensor, not float"),
]


@pytest.mark.parametrize("fn,exc,message", ERRORS, ids=range(len(ERRORS)))
def test_errors_match_torch(fn, exc, message):
    with pytest.raises(exc, match=re.escape(message)):
        fn(lt)
    if torch is not None:
        with pytest.raises(exc, match=re.escape(message)):
            fn(torch)


# ---- properties ----

_shapes = st.lists(st.integers(0, 4), min_size=1, max_size=3).map(tuple)


@settings(max_examples=40, deadline=None)
@given(shape=_shapes, k=st.integers(1, 5), data=st.data())
def test_cat_of_split_is_identity(shape, k, data):
    d = data.draw(st.integers(-len(shape), len(shape) - 1))
    layout = data.draw(st.sampled_from(LAYOUTS))
    x, a = make_input(np.random.default_rng(data.draw(st.integers(0, 2**16))), shape, lt.float32, layout)
    pieces = lt.split(x, k, d)
    assert all(p.shape[d] <= k for p in pieces)
    assert_close(lt.cat(pieces, d), a)
    assert_close(lt.cat(lt.chunk(x, k, d), d), a)
    assert_close(lt.cat(lt.tensor_split(x, k, d), d), a)


@settings(max_examples=40, deadline=None)
@given(shape=_shapes, data=st.data())
def test_stack_of_unbind_is_identity(shape, data):
    d = data.draw(st.integers(-len(shape), len(shape) - 1))
    assume(shape[d] > 0)
    layout = data.draw(st.sampled_from(LAYOUTS))
    x, a = make_input(np.random.default_rng(data.draw(st.integers(0, 2**16))), shape, lt.int32, layout)
    assert_close(lt.stack(lt.unbind(x, d), d), a)


@settings(max_examples=30, deadline=None)
@given(shape=_shapes, shifts=st.lists(st.integers(-9, 9), min_size=1, max_size=3), data=st.data())
def test_roll_and_flip_properties(shape, shifts, data):
    x, a = make_input(np.random.default_rng(data.draw(st.integers(0, 2**16))), shape, lt.float64,
                      data.draw(st.sampled_from(LAYOUTS)))
    dims = [data.draw(st.integers(-len(shape), len(shape) - 1)) for _ in shifts]
    assert_close(lt.roll(x, shifts, dims), np.roll(a, shifts, dims))
    assert_close(lt.roll(lt.roll(x, shifts, dims), [-s for s in shifts], dims), a)
    assert_close(x.flip(dims[0]).flip(dims[0]), a)


@settings(max_examples=30, deadline=None)
@given(shape=st.lists(st.integers(1, 4), min_size=2, max_size=3).map(tuple), data=st.data())
def test_gather_of_argsort_sorts_and_scatter_inverts_it(shape, data):
    d = data.draw(st.integers(-len(shape), len(shape) - 1))
    x, a = make_input(np.random.default_rng(data.draw(st.integers(0, 2**16))), shape, lt.float32,
                      data.draw(st.sampled_from(LAYOUTS)))
    order = np.argsort(a, axis=d, kind="stable")
    sorted_x = lt.gather(x, d, lt.tensor(order))
    assert_close(sorted_x, np.sort(a, axis=d, kind="stable"))
    assert_close(lt.scatter(lt.zeros(*shape), d, lt.tensor(order), sorted_x), a)
