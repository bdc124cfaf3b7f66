"""Tests for lazytensor.indexing: `x[i]`, `x[i] = v` and the index functions, against numpy and PyTorch.

Basic indices (ints, slices, None, `...`) must give views with PyTorch's shape, strides and offset,
through which writes reach the base; advanced indices (lists, integer tensors, boolean masks) give
copies with PyTorch's result layout; writes through any index must leave the tensor (and its base)
as PyTorch leaves it. Boolean masks flush only the mask; lazy integer indices are checked when the
graph runs. Comparisons with numpy always run; those with PyTorch where it is installed.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import lazytensor as lt
from lazytensor import lazy
from lazytensor.indexing import slice_dim
from lt_testing import assert_close, to_torch, torch, torch_dtype

needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch is not installed")


@pytest.fixture
def lazy_mode():
    """Tests about what stays pending run lazily even under LT_EAGER=1 (conftest resets the knob)."""
    lt.config.set(EAGER=False)


# ---- helpers ----

def _storage_owner(t: lt.Tensor) -> lt.Tensor:
    """The base tensor whose storage `t` reads."""
    return t._base if t._base is not None else t


def _is_pending(t: lt.Tensor) -> bool:
    return not lazy.is_realized(_storage_owner(t))


def _torch_copy(a: np.ndarray):
    """`a` as a contiguous torch tensor with torch's own strides (torch.tensor(array) gives empty arrays
    numpy's strides)."""
    src = to_torch(a)
    return torch.empty(a.shape, dtype=src.dtype).copy_(src)


def _arange(shape, dtype=lt.int64, layout="contiguous"):
    """0, 1, ... in `shape` as (lazytensor tensor, numpy array, torch tensor or None), laid out
    contiguously, as a transposed view or as a strided slice of a taller tensor."""
    n = int(np.prod(shape))
    a = np.arange(n).reshape(shape).astype(dtype.np_dtype)
    t = None
    if layout == "contiguous" or len(shape) == 0:
        x = lt.tensor(a)
        if torch is not None:
            t = _torch_copy(a)
    elif layout == "transposed":
        rev = tuple(range(len(shape) - 1, -1, -1))
        x = lt.tensor(np.ascontiguousarray(a.T)).permute(*rev)
        if torch is not None:
            t = _torch_copy(np.ascontiguousarray(a.T)).permute(*rev)
    else:  # every other row of a taller tensor
        tall = np.zeros((2 * shape[0],) + tuple(shape[1:]), dtype=a.dtype)
        tall[::2] = a
        x = lt.tensor(tall)[::2]
        if torch is not None:
            t = _torch_copy(tall)[::2]
    return x, a, t


def _to_torch_index(index):
    """The same index for torch: lazytensor tensors become torch tensors (inside tuples too)."""
    if isinstance(index, tuple):
        return tuple(_to_torch_index(i) for i in index)
    if isinstance(index, lt.Tensor):
        return to_torch(index)
    return index


def _random_array(rng, shape, dtype):
    if dtype is lt.bool:
        return rng.random(shape) < 0.5
    if dtype.is_floating_point:
        return rng.uniform(-5, 5, shape).astype(dtype.np_dtype)
    return rng.integers(0, 100, shape).astype(dtype.np_dtype)


# ---- basic indexing: views with PyTorch's strides ----

@st.composite
def basic_indices(draw, max_dims=4):
    """(shape, index): a random shape and a basic index for it: ints and slices for some leading dims,
    maybe a `...` and items for some trailing dims, and Nones anywhere."""
    shape = tuple(draw(st.lists(st.integers(0, 4), max_size=max_dims)))
    n = len(shape)

    def item(size):
        if size and draw(st.integers(0, 2)) == 0:
            return draw(st.integers(-size, size - 1))
        bound = st.one_of(st.none(), st.integers(-size - 2, size + 2))
        return slice(draw(bound), draw(bound), draw(st.sampled_from([None, 1, 2, 3])))

    lead = draw(st.integers(0, n))
    items = [item(shape[d]) for d in range(lead)]
    if draw(st.booleans()):
        trail = draw(st.integers(0, n - lead))
        items += [Ellipsis] + [item(shape[d]) for d in range(n - trail, n)]
    for _ in range(draw(st.integers(0, 2))):
        items.insert(draw(st.integers(0, len(items))), None)
    if len(items) == 1 and draw(st.booleans()):
        return shape, items[0]
    return shape, tuple(items)


@settings(max_examples=150, deadline=None)
@given(basic_indices(), st.sampled_from(["contiguous", "transposed", "sliced"]))
def test_basic_index_is_a_view_with_numpy_values_and_torch_strides(case, layout):
    shape, index = case
    if layout == "sliced" and (not shape or shape[0] == 0):
        layout = "contiguous"
    x, a, t = _arange(shape, layout=layout)
    v = x[index]
    expected = a[index]
    assert tuple(v.shape) == expected.shape
    np.testing.assert_array_equal(v.numpy(), expected)
    assert v._base is _storage_owner(x)  # a view of the same storage
    if torch is not None:
        e = t[index]
        assert v.stride() == e.stride(), (shape, index, v.stride(), e.stride())
        assert v.storage_offset() == e.storage_offset()
        assert v.is_contiguous() == e.is_contiguous()


@settings(max_examples=80, deadline=None)
@given(basic_indices(), st.sampled_from(["scalar", "full", "row", "leading1"]), st.integers(0, 2**31))
def test_basic_setitem_matches_numpy(case, value_kind, seed):
    shape, index = case
    rng = np.random.default_rng(seed)
    x, a, _ = _arange(shape, dtype=lt.float32)
    target = a[index].shape
    if value_kind == "scalar":
        value, lt_value = 7.5, 7.5
    else:
        vshape = target if value_kind == "full" else target[-1:] if value_kind == "row" else (1,) + target
        value = rng.uniform(-9, 9, vshape).astype(np.float32)
        lt_value = lt.tensor(value)
    x[index] = lt_value
    expected = a.copy()
    # PyTorch drops the value's leading 1s (numpy refuses them for a 0-d target)
    expected[index] = value.reshape(target) if value_kind == "leading1" else value
    np.testing.assert_array_equal(x.numpy(), expected)


def test_basic_index_views_write_through():
    x = lt.arange(12.).reshape(3, 4)
    v = x[1:, ::2]
    v.add_(1)
    v[0] = 5
    expected = np.arange(12.).reshape(3, 4)
    expected[1:, ::2] += 1
    expected[1, ::2] = 5
    np.testing.assert_array_equal(x.numpy(), expected)
    np.testing.assert_array_equal(v.numpy(), expected[1:, ::2])
    # ints, None and ... give views too
    for index in (1, (1, 2), (None, 0), (Ellipsis, 1), (slice(None), None, 3), Ellipsis, ()):
        assert x[index]._base is _storage_owner(x), index
    w = x[1, None, ...]
    w.zero_()
    assert x[1].tolist() == [0.0] * 4


def test_writes_through_a_view_are_seen_by_other_views_and_lazily(lazy_mode):
    x = lt.zeros(4, 5)
    a, b = x[1:3], x[:, 2]
    before = x.clone()
    a[:, 2] = 1.0  # pending: nothing has run
    assert _is_pending(x)
    np.testing.assert_array_equal(b.numpy(), [0, 1, 1, 0])
    np.testing.assert_array_equal(before.numpy(), np.zeros((4, 5)))  # built before: keeps its value


@needs_torch
@pytest.mark.parametrize("index", [
    (slice(1, None), slice(None, None, 2)), (0, slice(1, 3)), (None, 1, Ellipsis, None), (Ellipsis, 0, None),
    (slice(0, 1, 2), slice(None), slice(3, 3)), (slice(None, None, 5),), (1, None, None, 2),
    (slice(-2, None), Ellipsis), (slice(None), slice(1, 2, 3), slice(None, None, 2)),
])
def test_basic_index_strides_and_offsets_equal_torch(index):
    for layout in ("contiguous", "transposed", "sliced"):
        x, _, t = _arange((3, 4, 5), layout=layout)
        v, e = x[index], t[index]
        assert tuple(v.shape) == tuple(e.shape)
        assert v.stride() == e.stride(), (layout, index, v.stride(), e.stride())
        assert v.storage_offset() == e.storage_offset()
        np.testing.assert_array_equal(v.numpy(), e.numpy())


@needs_torch
def test_multiple_ellipses_follow_torch():
    x, _, t = _arange((2, 3, 4))
    for index in ((Ellipsis, 0, Ellipsis), (0, Ellipsis, 0, Ellipsis), (Ellipsis, None, Ellipsis)):
        np.testing.assert_array_equal(x[index].numpy(), t[index].numpy())


def test_zero_dim_tensor_indices():
    x = lt.tensor(5.0)
    assert x[...].shape == () and x[...]._base is x
    assert x[None].tolist() == [5.0]
    assert x[None, ..., None].shape == (1, 1)
    assert x[True].tolist() == [5.0]
    assert x[False].shape == (0,)
    with pytest.raises(IndexError, match="invalid index of a 0-dim tensor"):
        x[0]
    with pytest.raises(IndexError, match="slice"):
        x[0:1]
    with pytest.raises(IndexError, match="too many indices for tensor of dimension 0"):
        x[[0]]
    x[...] = 2
    assert x.item() == 2.0
    x[None] = 3
    assert x.item() == 3.0


def test_zero_dim_integer_tensor_selects_like_an_int():
    x = lt.arange(12).reshape(3, 4)
    i = lt.tensor(2)
    v = x[i]
    assert v._base is _storage_owner(x) and v.tolist() == [8, 9, 10, 11]
    assert x[1, lt.tensor(-1, dtype=lt.int32)].item() == 7
    x[lt.tensor(0)] = -1
    assert x[0].tolist() == [-1] * 4


def test_slice_bounds_accept_index_like_objects():
    x = lt.arange(10)
    assert x[np.int64(2):lt.tensor(5)].tolist() == [2, 3, 4]
    assert x[np.int32(-3)].item() == 7
    assert x[np.array(4)].item() == 4


def test_slice_dim_is_a_view():
    x = lt.arange(24.).reshape(4, 6)
    v = slice_dim(x, -1, 1, None, 2)
    np.testing.assert_array_equal(v.numpy(), np.arange(24.).reshape(4, 6)[:, 1::2])
    assert v._base is _storage_owner(x)
    if torch is not None:
        assert v.stride() == torch.arange(24.).reshape(4, 6)[:, 1::2].stride()
    v.zero_()
    expected = np.arange(24.).reshape(4, 6)
    expected[:, 1::2] = 0
    np.testing.assert_array_equal(x.numpy(), expected)
    assert slice_dim(x, 0, -10, 2).shape == (2, 6)
    with pytest.raises(ValueError, match="step must be greater than zero"):
        slice_dim(x, 0, None, None, -1)


# ---- advanced indexing ----

# (shape, index as a tuple of plain items, numpy agrees with torch)
ADVANCED = [
    ((5,), ([0, 2, 4],), True),
    ((5,), ([-1, 0, -5, 0],), True),
    ((3, 4), ([2, 0, 2],), True),
    ((3, 4), ([[0, 1], [2, 0]],), True),
    ((3, 4), (slice(None), [3, 0]), True),
    ((3, 4), ([0, 2], [1, 3]), True),
    ((3, 4), ([[0], [2]], [1, 3, 0]), True),
    ((3, 4, 5), ([0, 2], slice(None), [1, 4]), True),  # separated by a slice: broadcast dims first
    ((3, 4, 5), (slice(1, None), [0, 3], [4, 4]), True),  # adjacent: in place
    ((3, 4, 5), (Ellipsis, [1, 2]), True),
    ((3, 4, 5), ([1], Ellipsis, [0, 2]), True),
    ((3, 4, 5), (slice(None, None, 2), [3, 1], slice(1, 4)), True),
    ((3, 4, 5), (None, [0, 1], None, slice(None)), True),
    ((2, 3, 4), ([0, 1], 0, [0, 1]), True),
    ((2, 3, 4), ([1, 0], 2), True),
    ((2, 3, 4), (0, slice(None), [0, 1]), False),  # torch: the int is a select, so [0, 1] stays in place
    ((2, 3, 4, 5), (slice(None), [0, 1], slice(None), 0), False),
    ((2, 3, 4), ([0, 1], None, [0, 1]), False),
    ((3, 4), ([],), True),
    ((3, 4), (slice(None), []), True),
    ((0, 3), ([],), True),
    ((3, 0), ([1, 2],), True),
    ((3, 4), (True,), False),
    ((3, 4), (False,), False),
    ((3, 4), ([0, 1], True), False),
    ((3, 4), (None, [1, 1, 2]), True),
]


def _index_form(items, form):
    """The index with its integer lists as lists, numpy arrays, or (lazy) int64/int32 tensors."""
    def conv(item):
        if not isinstance(item, list):
            return item
        a = np.array(item, dtype=np.int64).reshape(np.shape(item))
        if form == "list":
            return item
        if form == "numpy":
            return a
        if form == "int32":
            return lt.tensor(a.astype(np.int32))
        t = lt.tensor(a)
        return t + 0 if form == "lazy" else t  # + 0: a pending tensor, checked when it runs
    return tuple(conv(i) for i in items)


@pytest.mark.parametrize("form", ["list", "numpy", "tensor", "lazy", "int32"])
@pytest.mark.parametrize("shape,items,numpy_agrees", ADVANCED)
def test_advanced_getitem(shape, items, numpy_agrees, form):
    x, a, t = _arange(shape, dtype=lt.float32)
    index = _index_form(items, form)
    out = x[index]
    assert out._base is None  # a copy
    if numpy_agrees and not any(isinstance(i, bool) for i in items):
        np.testing.assert_array_equal(out.numpy(), a[tuple(np.array(i, dtype=np.int64) if isinstance(i, list)
                                                            else i for i in items)])
    if torch is not None:
        e = t[tuple(torch.tensor(i, dtype=torch.int64) if isinstance(i, list) else i for i in items)]
        assert tuple(out.shape) == tuple(e.shape)
        np.testing.assert_array_equal(out.numpy(), e.numpy())


@needs_torch
@pytest.mark.parametrize("form", ["list", "tensor", "lazy"])
@pytest.mark.parametrize("shape,items,numpy_agrees", ADVANCED)
def test_advanced_setitem_matches_torch(shape, items, numpy_agrees, form):
    rng = np.random.default_rng(0)
    t_index = tuple(torch.tensor(i, dtype=torch.int64) if isinstance(i, list) else i for i in items)
    for value_kind in ("scalar", "full", "row"):
        x, a, t = _arange(shape, dtype=lt.float32)
        result_shape = tuple(t[t_index].shape)
        if value_kind == "scalar":
            lt_value = value = -3.0
        else:
            vshape = result_shape if value_kind == "full" else result_shape[-1:]
            arr = rng.uniform(-9, 9, vshape).astype(np.float32)
            lt_value, value = lt.tensor(arr), torch.from_numpy(arr)
        x[_index_form(items, form)] = lt_value
        t[t_index] = value
        np.testing.assert_array_equal(x.numpy(), t.numpy(), err_msg=f"{items} {value_kind}")


@pytest.mark.parametrize("form", ["list", "tensor", "lazy"])
def test_duplicate_indices_last_write_wins(form):
    x = lt.zeros(5)
    idx = _index_form(([1, 3, 1, 1, 0],), form)
    x[idx] = lt.tensor([10.0, 20.0, 30.0, 40.0, 50.0])
    np.testing.assert_array_equal(x.numpy(), [50, 40, 0, 20, 0])
    y = lt.zeros(3, 2)
    y[_index_form(([2, 2], [1, 1]), form)] = lt.tensor([1.0, 2.0])
    np.testing.assert_array_equal(y.numpy(), [[0, 0], [0, 0], [0, 2]])
    z = lt.zeros(3, 2)
    z[_index_form(([0, 2, 0],), form)] = lt.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    np.testing.assert_array_equal(z.numpy(), [[5, 6], [0, 0], [3, 4]])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(1, 4), min_size=1, max_size=3), st.integers(0, 2**31), st.booleans(),
       st.sampled_from(["list", "tensor", "lazy"]))
def test_single_advanced_index_matches_numpy(shape, seed, with_slice, form):
    # one advanced index (with slices around it): numpy's and torch's rules agree
    rng = np.random.default_rng(seed)
    shape = tuple(shape)
    dim = int(rng.integers(0, len(shape)))
    idx = rng.integers(-shape[dim], shape[dim], tuple(rng.integers(0, 3, int(rng.integers(1, 3)))))
    items = [slice(None, None, 2) if with_slice and d != dim else slice(None) for d in range(len(shape))]
    items[dim] = idx.tolist()
    x, a, _ = _arange(shape, dtype=lt.float64)
    np_index = tuple(np.array(i, dtype=np.int64) if isinstance(i, list) else i for i in items)
    np.testing.assert_array_equal(x[_index_form(tuple(items), form)].numpy(), a[np_index])
    # a write: numpy's last-write-wins for duplicates on a plain ndarray is sequential too
    value = rng.uniform(-1, 1, a[np_index].shape)
    x[_index_form(tuple(items), form)] = lt.tensor(value)
    expected = a.copy()
    expected[np_index] = value
    np.testing.assert_array_equal(x.numpy(), expected)


@needs_torch
def test_legacy_sequence_index_is_a_tuple():
    x, _, t = _arange((3, 4))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for index in ([[0, 1], [1, 0]], [0, [1, 2]], [slice(1, None), 0], [None, 1]):
            np.testing.assert_array_equal(x[index].numpy(), t[index].numpy())
    # plain lists of ints are index tensors (lists of floats too: PyTorch truncates them), numpy arrays
    # are never tuples
    np.testing.assert_array_equal(x[[0.5, 2.0]].numpy(), t[[0.5, 2.0]].numpy())
    np.testing.assert_array_equal(x[[1, 2]].numpy(), t[[1, 2]].numpy())
    np.testing.assert_array_equal(x[np.array([[0, 1], [1, 0]])].numpy(), t[np.array([[0, 1], [1, 0]])].numpy())


@pytest.mark.parametrize("layout", ["transposed", "sliced"])
def test_advanced_index_of_non_contiguous_tensors(layout):
    x, a, _ = _arange((4, 3, 2), dtype=lt.float32, layout=layout)
    np.testing.assert_array_equal(x[[3, 0], :, [1, 0]].numpy(), a[[3, 0], :, [1, 0]])
    np.testing.assert_array_equal(x[:, [2, 2]].numpy(), a[:, [2, 2]])
    x[[0, 3], 1] = lt.tensor([[7.0, 8.0]])
    expected = a.copy()
    expected[[0, 3], 1] = [[7.0, 8.0]]
    np.testing.assert_array_equal(x.numpy(), expected)


@pytest.mark.parametrize("dtype", [lt.float16, lt.bfloat16, lt.float64, lt.int32, lt.uint8, lt.bool])
def test_advanced_index_dtypes(dtype):
    rng = np.random.default_rng(1)
    a = _random_array(rng, (4, 3), dtype)
    x = lt.tensor(a)
    out = x[[3, 1, 3], 1:]
    assert out.dtype is dtype
    np.testing.assert_array_equal(out.numpy(), a[[3, 1, 3], 1:])
    value = _random_array(rng, (2, 3), dtype)
    x[[2, 0]] = lt.tensor(value)
    expected = a.copy()
    expected[[2, 0]] = value
    np.testing.assert_array_equal(x.numpy(), expected)
    x[lt.tensor([1]) + 0, 0] = 1
    expected[1, 0] = 1
    np.testing.assert_array_equal(x.numpy(), expected)


def test_lazy_index_is_checked_when_it_runs(lazy_mode):
    x = lt.arange(6).reshape(2, 3)
    bad = lt.tensor([0, 5]) + 0  # pending: its values are not known when x[bad] is built
    out = x[:, bad]
    with pytest.raises(IndexError, match="out of bounds"):
        out.numpy()
    two = x[lt.tensor([0]) + 0, lt.tensor([-4]) + 0]
    with pytest.raises(IndexError, match="out of bounds"):
        two.tolist()
    # negative lazy indices count from the end
    assert x[lt.tensor([-1, 0]) + 0, lt.tensor([-1]) + 0].tolist() == [5, 2]


# ---- boolean masks ----

@pytest.mark.parametrize("form", ["tensor", "lazy", "list", "numpy"])
def test_bool_mask_getitem(form):
    rng = np.random.default_rng(2)
    x, a, t = _arange((3, 4, 2), dtype=lt.float32)
    for where, mshape in ((0, (3,)), (0, (3, 4)), (1, (4,)), (1, (4, 2)), (0, (3, 4, 2))):
        m = rng.random(mshape) < 0.5
        mask = {"tensor": lt.tensor(m), "lazy": lt.tensor(m) | False, "list": m.tolist(), "numpy": m}[form]
        index = (slice(None),) * where + (mask,)
        out = x[index]
        np.testing.assert_array_equal(out.numpy(), a[(slice(None),) * where + (m,)])
        if torch is not None:
            e = t[(slice(None),) * where + (torch.from_numpy(m),)]
            np.testing.assert_array_equal(out.numpy(), e.numpy())


def test_bool_mask_flushes_only_the_mask(lazy_mode):
    x = lt.arange(6.) * 2  # pending
    y = lt.arange(6.) + 1  # pending, and shares no computed value with the mask's graph
    m = x > 5  # pending
    out = y[m]
    assert lazy.is_realized(m)  # the result's shape needs the mask's values
    assert lazy.is_realized(x)  # computed for the mask anyway, so stored with it
    assert _is_pending(y) and _is_pending(out)  # the rest stays lazy until observed
    assert out.shape == (3,)
    np.testing.assert_array_equal(out.numpy(), [4.0, 5.0, 6.0])


def test_bool_mask_with_other_indices():
    x, a, t = _arange((3, 4), dtype=lt.float32)
    m = np.array([True, False, True, True])
    np.testing.assert_array_equal(x[1:, lt.tensor(m)].numpy(), a[1:, m])
    np.testing.assert_array_equal(x[[2, 0, 1], lt.tensor(m)].numpy(), a[[2, 0, 1], m])
    np.testing.assert_array_equal(x[lt.tensor([True, False, True]), 1:3].numpy(), a[[True, False, True], 1:3])
    if torch is not None:
        np.testing.assert_array_equal(x[lt.tensor(True)].numpy(), t[torch.tensor(True)].numpy())
        np.testing.assert_array_equal(x[None, lt.tensor(m[None].repeat(3, 0))].numpy(),
                                      t[None, torch.from_numpy(m[None].repeat(3, 0))].numpy())


def test_bool_mask_setitem_with_a_scalar_stays_lazy(lazy_mode):
    x = lt.arange(6.).reshape(2, 3) - 2
    m = x < 0  # pending
    x[m] = 0
    assert _is_pending(m) and _is_pending(x)  # a WHERE: no flush needed
    np.testing.assert_array_equal(x.numpy(), np.maximum(np.arange(6.).reshape(2, 3) - 2, 0))
    # one-element tensors of another dtype are cast, as PyTorch's masked_fill path does
    y = lt.zeros(4, dtype=lt.int64)
    y[lt.tensor([True, False, True, False])] = lt.tensor([3.9])
    assert y.tolist() == [3, 0, 3, 0]
    y[[False, True, False, False]] = lt.tensor(7.0, dtype=lt.float64)
    assert y.tolist() == [3, 7, 3, 0]


@needs_torch
def test_bool_mask_setitem_with_tensors_matches_torch():
    rng = np.random.default_rng(3)
    for mshape, where in (((3,), 0), ((3, 4), 0), ((4,), 1)):
        m = rng.random(mshape) < 0.5
        m.flat[0] = True
        x, _, t = _arange((3, 4), dtype=lt.float32)
        index = (slice(None),) * where + (lt.tensor(m),)
        t_index = (slice(None),) * where + (torch.from_numpy(m),)
        result_shape = tuple(t[t_index].shape)
        value = rng.uniform(-1, 1, result_shape).astype(np.float32)
        x[index] = lt.tensor(value)
        t[t_index] = torch.from_numpy(value)
        np.testing.assert_array_equal(x.numpy(), t.numpy())
        row = rng.uniform(-1, 1, result_shape[-1:]).astype(np.float32)
        x[index] = lt.tensor(row)
        t[t_index] = torch.from_numpy(row)
        np.testing.assert_array_equal(x.numpy(), t.numpy())


def test_uint8_mask_is_a_deprecated_bool_mask():
    x = lt.arange(4)
    with pytest.warns(UserWarning, match="uint8"):
        out = x[lt.tensor([1, 0, 1, 1], dtype=lt.uint8)]
    assert out.tolist() == [0, 2, 3]


# ---- writes: views of views, numpy storage, broadcasting, errors ----

@needs_torch
def test_setitem_through_views_of_views():
    x, _, t = _arange((3, 4), dtype=lt.float32)
    x.T[1:][0] = 3
    t.T[1:][0] = 3
    x[1:][::2, 1:][0, [0, 2]] = lt.tensor([-1.0, -2.0])
    t[1:][::2, 1:][0, [0, 2]] = torch.tensor([-1.0, -2.0])
    x.T[[0, 3]] = 9
    t.T[[0, 3]] = 9
    v = x[:, 1:3]
    v[v > 5] = 0
    tv = t[:, 1:3]
    tv[tv > 5] = 0
    np.testing.assert_array_equal(x.numpy(), t.numpy())


def test_writes_into_from_numpy_change_the_array():
    a = np.zeros((3, 4))
    x = lt.from_numpy(a)
    x[...] = 1
    assert (a == 1).all()
    x[1, ::2] = 7
    x[[0, 2], [3, 3]] = lt.tensor([5.0, 6.0], dtype=lt.float64)
    x[x > 6] = 9
    x[:, 0][1:] = lt.tensor([2.0, 3.0], dtype=lt.float32)  # cast to float64 on the way in
    expected = np.ones((3, 4))
    expected[1, ::2] = 7
    expected[[0, 2], [3, 3]] = [5, 6]
    expected[expected > 6] = 9
    expected[1:, 0] = [2, 3]
    np.testing.assert_array_equal(a, expected)


def test_setitem_value_conversions():
    x = lt.zeros(4, dtype=lt.int64)
    x[1] = 2.7  # Python numbers are cast to the tensor's dtype
    x[2] = True
    x[0:1] = lt.tensor([1.5])  # basic writes cast tensors too
    assert x.tolist() == [1, 2, 1, 0]
    b = lt.zeros(3, dtype=lt.bool)
    b[[0, 2]] = 5
    assert b.tolist() == [True, False, True]
    f = lt.zeros(2, 3)
    f[0] = lt.ones(1, 1, 3)  # leading 1s of the value are dropped
    f[[1]] = lt.full((1, 1, 1, 3), 2.0)
    np.testing.assert_array_equal(f.numpy(), [[1, 1, 1], [2, 2, 2]])
    f[False] = 100  # writes nothing
    np.testing.assert_array_equal(f.numpy(), [[1, 1, 1], [2, 2, 2]])
    f[True] = 4
    assert (f.numpy() == 4).all()


SETITEM_ERRORS = [
    (0, "ones2", RuntimeError, r"The expanded size of the tensor \(4\) must match the existing size \(2\)"),
    (0, "ones213", RuntimeError, "the number of sizes provided"),
    ([0, 1], "ones3", RuntimeError, r"shape mismatch: value tensor of shape \[3\] cannot be broadcast to "
                                    r"indexing result of shape \[2, 4\]"),
    ([0, 1], "double4", RuntimeError, "Index put requires the source and destination dtypes match, got Float "
                                      "for the destination and Double for the source."),
    (0, "list", TypeError, "can't assign a list to a torch.FloatTensor"),
    (0, "array", TypeError, "can't assign a ndarray"),
    (5, "scalar", IndexError, "index 5 is out of bounds for dimension 0 with size 3"),
]


@pytest.mark.parametrize("index,value,exc,match", SETITEM_ERRORS)
def test_setitem_errors(index, value, exc, match):
    x = lt.zeros(3, 4)
    values = {"ones2": lt.ones(2), "ones213": lt.ones(2, 1, 4), "ones3": lt.ones(3),
              "double4": lt.ones(4, dtype=lt.float64), "list": [1, 2, 3, 4], "array": np.ones(4), "scalar": 1}
    with pytest.raises(exc, match=match):
        x[index] = values[value]
    if torch is not None:
        t = torch.zeros(3, 4)
        tv = values[value]
        tv = to_torch(tv) if isinstance(tv, lt.Tensor) else tv
        with pytest.raises(exc):
            t[index] = tv


def test_writes_into_expanded_views():
    base = lt.zeros(3)
    x = base.expand(2, 3)
    x[0, 1:] = 1  # one row of the expanded view: each storage element written once
    assert base.tolist() == [0.0, 1.0, 1.0]
    for index in ((slice(None), 0), Ellipsis):  # elements that share storage: refused, as PyTorch
        with pytest.raises(RuntimeError, match="single memory location"):
            x[index] = 2


# ---- index errors ----

GETITEM_ERRORS = [
    (5, IndexError, "index 5 is out of bounds for dimension 0 with size 3"),
    ((0, 7), IndexError, "index 7 is out of bounds for dimension 1 with size 4"),
    ((Ellipsis, -5), IndexError, "index -5 is out of bounds for dimension 1 with size 4"),
    ((0, 0, 0), IndexError, "too many indices for tensor of dimension 2"),
    ((slice(None), slice(None), [0]), IndexError, "too many indices for tensor of dimension 2"),
    (slice(None, None, -1), ValueError, "step must be greater than zero"),
    (slice(None, None, 0), ValueError, "slice step cannot be zero"),
    ([3], IndexError, "index 3 is out of bounds for dimension 0 with size 3"),
    ((slice(None), [0, -5]), IndexError, "index -5 is out of bounds for dimension 1 with size 4"),
    ("mask3", IndexError, r"The shape of the mask \[4\] at index 0 does not match the shape of the indexed "
                          r"tensor \[3, 4\] at index 0"),
    ("mask34", IndexError, r"The shape of the mask \[3, 3\] at index 1 does not match the shape of the indexed "
                           r"tensor \[3, 4\] at index 1"),
    (([0, 1], [0, 1, 2]), IndexError, r"shape mismatch: indexing tensors could not be broadcast together with "
                                      r"shapes \[2\], \[3\]"),
    (1.5, IndexError, r"only integers, slices \(`:`\), ellipsis \(`...`\), None and long or byte Variables are "
                      r"valid indices \(got float\)"),
    ("float_tensor", IndexError, "tensors used as indices must be long, int, byte or bool tensors"),
    ("int16_tensor", IndexError, "tensors used as indices must be long, int, byte or bool tensors"),
    (np.bool_(True), IndexError, "valid indices"),
]


@pytest.mark.parametrize("index,exc,match", GETITEM_ERRORS)
def test_getitem_errors(index, exc, match):
    x, _, t = _arange((3, 4))
    special = {"mask3": lt.tensor([True, False, True, True]), "mask34": lt.ones(3, 3, dtype=lt.bool),
               "float_tensor": lt.tensor([1.0]), "int16_tensor": lt.tensor([1], dtype=lt.int16)}
    if isinstance(index, str):
        index = special[index]
    with pytest.raises(exc, match=match):
        x[index]
    if torch is not None:
        with pytest.raises(exc), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t[_to_torch_index(index)]


# ---- nonzero, argwhere, masked_select ----

@pytest.mark.parametrize("dtype", [lt.float32, lt.int64, lt.bool, lt.uint8])
@pytest.mark.parametrize("shape", [(), (0,), (6,), (3, 4), (2, 0, 3), (2, 3, 2)])
def test_nonzero_and_argwhere(shape, dtype):
    rng = np.random.default_rng(4)
    a = np.asarray((rng.random(shape) < 0.5).astype(dtype.np_dtype) * (3 if dtype is not lt.bool else 1))
    if dtype.is_floating_point and a.size:
        a.flat[-1] = np.nan  # nan is nonzero
    x = lt.tensor(a) + 0 if dtype is not lt.bool else lt.tensor(a) | False  # pending: nonzero flushes
    out = lt.nonzero(x)
    assert out.dtype is lt.int64
    np.testing.assert_array_equal(out.numpy(), np.argwhere(a))
    np.testing.assert_array_equal(x.argwhere().numpy(), np.argwhere(a))
    parts = x.nonzero(as_tuple=True)
    expected = np.nonzero(a.reshape(1) if a.ndim == 0 else a)
    assert len(parts) == len(expected)
    for p, e in zip(parts, expected):
        np.testing.assert_array_equal(p.numpy(), e)
    if torch is not None:
        t = to_torch(a)
        assert tuple(out.shape) == tuple(torch.nonzero(t).shape)
        assert len(parts) == len(torch.nonzero(t, as_tuple=True))


@pytest.mark.parametrize("input_shape,mask_shape", [((2, 3), (3,)), ((3,), (2, 3)), ((2, 3), (2, 3)),
                                                     ((), ()), ((0, 3), (3,)), ((2, 1), (1, 4))])
def test_masked_select(input_shape, mask_shape):
    rng = np.random.default_rng(5)
    x, a, _ = _arange(input_shape, dtype=lt.float32)
    m = np.asarray(rng.random(mask_shape) < 0.5)
    out = lt.masked_select(x, lt.tensor(m))
    shape = np.broadcast_shapes(a.shape, m.shape)
    np.testing.assert_array_equal(out.numpy(), np.broadcast_to(a, shape)[np.broadcast_to(m, shape)])
    np.testing.assert_array_equal(x.masked_select(lt.tensor(m)).numpy(), out.numpy())
    if torch is not None:
        np.testing.assert_array_equal(out.numpy(), torch.masked_select(to_torch(a), torch.from_numpy(m)).numpy())


def test_masked_select_errors():
    x = lt.arange(3)
    with pytest.raises(RuntimeError, match="masked_select: expected BoolTensor for mask"):
        lt.masked_select(x, lt.tensor([1, 0, 1]))
    with pytest.raises(RuntimeError, match="must match"):
        lt.masked_select(x, lt.tensor([True, False]))


# ---- take ----

@pytest.mark.parametrize("lazy_index", [False, True])
def test_take(lazy_index):
    x, a, _ = _arange((2, 3), dtype=lt.float32, layout="transposed")
    idx = np.array([[0, 5], [-1, 2]])
    index = lt.tensor(idx) + 0 if lazy_index else lt.tensor(idx)
    out = lt.take(x, index)
    np.testing.assert_array_equal(out.numpy(), np.take(a, idx))
    np.testing.assert_array_equal(x.take(lt.tensor(3)).numpy(), np.take(a, 3))
    assert lt.take(lt.tensor(7), lt.tensor([0, 0])).tolist() == [7, 7]
    if torch is not None:
        np.testing.assert_array_equal(out.numpy(), torch.take(to_torch(x), torch.from_numpy(idx)).numpy())


def test_take_errors(lazy_mode):
    x = lt.arange(6).reshape(2, 3)
    with pytest.raises(IndexError, match="out of range: tried to access index 6 on a tensor of 6 elements."):
        lt.take(x, lt.tensor([6]))
    with pytest.raises(IndexError, match="out of range: tried to access index -7"):
        lt.take(x, lt.tensor([-7]))
    with pytest.raises(RuntimeError, match="take\\(\\): Expected a long tensor for index, but got Int"):
        lt.take(x, lt.tensor([1], dtype=lt.int32))
    out = lt.take(x, lt.tensor([6]) + 0)  # lazy: checked when it runs
    with pytest.raises(IndexError):
        out.numpy()


# ---- index_put, index_fill, masked_scatter ----

@pytest.mark.parametrize("form", ["tensor", "lazy"])
def test_index_put(form):
    rng = np.random.default_rng(6)
    a = rng.uniform(-1, 1, (4, 3)).astype(np.float32)
    rows, cols = np.array([0, 2, 0, 0]), np.array([1, 1, 1, 2])
    values = rng.uniform(-1, 1, 4).astype(np.float32)

    def ix(v):
        return lt.tensor(v) + 0 if form == "lazy" else lt.tensor(v)

    # accumulate: duplicates add up
    x = lt.tensor(a)
    out = x.index_put_((ix(rows), ix(cols)), lt.tensor(values), accumulate=True)
    assert out is x
    expected = a.copy()
    np.add.at(expected, (rows, cols), values)
    np.testing.assert_allclose(x.numpy(), expected, rtol=1e-6, atol=1e-6)
    # not accumulating: the last write wins; index_put leaves its input alone
    y = lt.tensor(a)
    z = lt.index_put(y, (ix(rows), ix(cols)), lt.tensor(values))
    expected = a.copy()
    expected[rows, cols] = values  # numpy writes duplicates in order too
    np.testing.assert_array_equal(z.numpy(), expected)
    np.testing.assert_array_equal(y.numpy(), a)
    # one index: whole rows; a 0-d value broadcast; a bool mask index
    w = lt.tensor(a).index_put((ix(np.array([3, 3])),), lt.tensor(1.5), accumulate=True)
    expected = a.copy()
    expected[3] += 3.0
    np.testing.assert_allclose(w.numpy(), expected, rtol=1e-6)
    m = np.array([True, False, True, False])
    v = lt.tensor(a).index_put((lt.tensor(m),), lt.tensor([9.0, 8.0, 7.0]))
    expected = a.copy()
    expected[m] = [9.0, 8.0, 7.0]
    np.testing.assert_array_equal(v.numpy(), expected)
    if torch is not None:
        t = torch.from_numpy(a.copy()).index_put_((torch.from_numpy(rows), torch.from_numpy(cols)),
                                                  torch.from_numpy(values), accumulate=True)
        np.testing.assert_allclose(x.numpy(), t.numpy(), rtol=1e-6, atol=1e-6)
        t = torch.from_numpy(a.copy()).index_put((torch.from_numpy(rows), torch.from_numpy(cols)),
                                                 torch.from_numpy(values))
        np.testing.assert_array_equal(z.numpy(), t.numpy())


@pytest.mark.parametrize("rows,writes", [(5, 2000), (50, 120), (400, 400)])
def test_index_put_accumulate_many_duplicates(rows, writes):
    # few rows written many times (a one-hot sum) and many rows written a few times (rounds)
    rng = np.random.default_rng(8)
    idx = rng.integers(0, rows, writes)
    values = rng.integers(-5, 5, (writes, 2))
    x = lt.zeros(rows, 2, dtype=lt.int64).index_put_((lt.tensor(idx),), lt.tensor(values), accumulate=True)
    expected = np.zeros((rows, 2), dtype=np.int64)
    np.add.at(expected, idx, values)
    np.testing.assert_array_equal(x.numpy(), expected)
    counts = lt.zeros(rows, dtype=lt.int64).index_put_((lt.tensor(idx),), lt.tensor(1), accumulate=True)
    np.testing.assert_array_equal(counts.numpy(), np.bincount(idx, minlength=rows))


def test_index_put_zero_dim_and_int_bool_dtypes():
    x = lt.zeros(2, 3, dtype=lt.int32)
    x.index_put_((lt.tensor(1),), lt.tensor([1, 2, 3], dtype=lt.int32))  # a 0-d index tensor
    x.index_put_((lt.tensor([0, 0]), lt.tensor([2, 2])), lt.tensor(5, dtype=lt.int32), accumulate=True)
    assert x.tolist() == [[0, 0, 10], [1, 2, 3]]
    b = lt.zeros(4, dtype=lt.bool)
    b.index_put_((lt.tensor([1, 1, 3]),), lt.tensor([True, False, True]), accumulate=True)
    assert b.tolist() == [False, True, False, True]


def test_index_put_errors():
    x = lt.zeros(2, 3)
    with pytest.raises(TypeError, match="must be Tensor, not float"):
        x.index_put_((lt.tensor([0]),), 1.0)
    with pytest.raises(TypeError, match="expected Tensor as element 0"):
        x.index_put_((None,), lt.tensor(1.0))
    with pytest.raises(IndexError, match="too many indices for tensor of dimension 2"):
        x.index_put_((lt.tensor([0]),) * 3, lt.tensor(1.0))
    with pytest.raises(RuntimeError, match="Index put requires the source and destination dtypes match"):
        x.index_put_((lt.tensor([0]),), lt.tensor(1.0, dtype=lt.float64))
    with pytest.raises(IndexError, match="index 5 is out of bounds for dimension 1 with size 3"):
        x.index_put_((lt.tensor([0, 1]), lt.tensor([0, 5])), lt.tensor(1.0))
    with pytest.raises(IndexError, match="tensors used as indices"):
        x.index_put_((lt.tensor(1.0),), lt.tensor(1.0))


@pytest.mark.parametrize("form", ["tensor", "lazy"])
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_index_fill(dim, form):
    x, a, _ = _arange((3, 4), dtype=lt.float32, layout="transposed")
    idx = np.array([0, -1, 0])
    index = lt.tensor(idx) + 0 if form == "lazy" else lt.tensor(idx)
    out = lt.index_fill(x, dim, index, -2.5)
    expected = a.copy()
    sl = [slice(None)] * 2
    sl[dim] = idx
    expected[tuple(sl)] = -2.5
    np.testing.assert_array_equal(out.numpy(), expected)
    np.testing.assert_array_equal(x.numpy(), a)  # out of place
    x.index_fill_(dim, index, lt.tensor(-2.5, dtype=lt.float64))
    np.testing.assert_array_equal(x.numpy(), expected)
    if torch is not None:
        t = torch.from_numpy(a.copy()).index_fill(dim, torch.from_numpy(idx), -2.5)
        np.testing.assert_array_equal(out.numpy(), t.numpy())


def test_index_fill_details():
    x = lt.zeros(3, 4, dtype=lt.int64)
    x.index_fill_(1, lt.tensor(2), 1.5)  # 0-d index; the value is cast
    assert x[:, 2].tolist() == [1, 1, 1]
    assert lt.zeros(()).index_fill(0, lt.tensor([0]), 1).item() == 1.0
    with pytest.raises(IndexError, match="index_fill_\\(\\): Expected dtype int64 for index."):
        x.index_fill_(1, lt.tensor([0], dtype=lt.int32), 1)
    with pytest.raises(RuntimeError, match="only supports a 0-dimensional value tensor"):
        x.index_fill_(1, lt.tensor([0]), lt.tensor([1]))
    with pytest.raises(RuntimeError, match="Index has to be a vector/scalar"):
        x.index_fill_(1, lt.tensor([[0]]), 1)
    with pytest.raises(IndexError, match="index 7 is out of bounds for dimension 1 with size 4"):
        x.index_fill_(1, lt.tensor([7]), 1)


def test_masked_scatter():
    src = np.arange(10.0, dtype=np.float32).reshape(2, 5)
    m = np.array([[True, False, True], [False, True, True]])
    out = lt.masked_scatter(lt.zeros(2, 3), lt.tensor(m), lt.tensor(src))
    expected = np.zeros((2, 3))
    expected[m] = src.reshape(-1)[:m.sum()]
    np.testing.assert_array_equal(out.numpy(), expected)
    # the mask broadcasts; out of place, the input broadcasts too
    b = lt.zeros(2, 3).masked_scatter(lt.tensor([True, False, True]), lt.tensor(src))
    np.testing.assert_array_equal(b.numpy(), [[0, 0, 1], [2, 0, 3]])
    c = lt.zeros(3).masked_scatter(lt.tensor(m), lt.arange(6.))
    assert c.shape == (2, 3)
    x = lt.zeros(2, 3)
    x.T.masked_scatter_(lt.tensor(m.T), lt.arange(1.0, 7.0))  # through a transposed view
    if torch is not None:
        t = torch.zeros(2, 3)
        t.T.masked_scatter_(torch.from_numpy(m.T), torch.arange(1.0, 7.0))
        np.testing.assert_array_equal(x.numpy(), t.numpy())
        e = torch.zeros(2, 3).masked_scatter(torch.from_numpy(m), torch.from_numpy(src))
        np.testing.assert_array_equal(out.numpy(), e.numpy())
    with pytest.raises(RuntimeError, match="Number of elements of source < number of ones in mask"):
        lt.zeros(2, 3).masked_scatter(lt.tensor([True, False, True]), lt.arange(3.))
    with pytest.raises(RuntimeError, match="expected self and source to have same dtypes"):
        lt.zeros(2, 3).masked_scatter(lt.tensor([True, False, True]), lt.arange(6))
    with pytest.raises(RuntimeError, match="only supports boolean masks"):
        lt.zeros(2, 3).masked_scatter(lt.tensor([1, 0, 1]), lt.arange(6.))


def test_functions_are_exported_and_attached():
    import lazytensor.indexing as indexing
    for name in ("nonzero", "argwhere", "masked_select", "take", "index_put", "index_fill", "masked_scatter"):
        assert name in indexing.__all__ and getattr(lt, name) is getattr(indexing, name)
    assert "slice_dim" not in indexing.__all__
    for name in ("nonzero", "argwhere", "masked_select", "take", "index_put_", "index_put", "index_fill_",
                 "index_fill", "masked_scatter_", "masked_scatter"):
        assert callable(getattr(lt.Tensor, name))


@needs_torch
@pytest.mark.parametrize("dtype", [lt.float16, lt.bfloat16, lt.int32, lt.bool])
def test_getitem_and_setitem_dtypes_match_torch(dtype):
    rng = np.random.default_rng(7)
    a = _random_array(rng, (3, 4), dtype)
    x, t = lt.tensor(a), to_torch(a)
    for index in ((1, slice(None, None, 2)), ([2, 0], slice(1, None)), (a[:, 0] > a[:, 0].min(),)):
        lt_index = tuple(lt.tensor(i) if isinstance(i, np.ndarray) else i for i in index)
        t_index = tuple(torch.from_numpy(i) if isinstance(i, np.ndarray) else i for i in index)
        assert_close(x[lt_index], t[t_index])
        x[lt_index] = 1
        t[t_index] = 1
        assert_close(x, t)
    assert x.dtype is dtype and t.dtype == torch_dtype(dtype)
