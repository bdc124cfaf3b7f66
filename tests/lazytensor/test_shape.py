"""Shape and movement ops (lazytensor/shape.py) against numpy and PyTorch.

Every op runs on contiguous, transposed and sliced inputs of several dtypes (0-d and empty
included); values must equal numpy's and PyTorch's, and for views the shape, strides, storage
offset, contiguity and view-ness must equal PyTorch's. Errors must be PyTorch's types and messages.
"""
import warnings

import numpy as np
import pytest

import lazytensor as lt
from lt_testing import torch

needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch is not installed")

DTYPES = [lt.float32, lt.int64, lt.bool]
LAYOUTS = ["contiguous", "transposed", "sliced"]


def _values(shape, dtype):
    n = int(np.prod(shape))
    v = np.arange(n).reshape(shape)
    return (v % 2 == 1) if dtype is lt.bool else v.astype(dtype.np_dtype)


def make_inputs(shape, dtype, layout):
    """The same values as a lazytensor, a numpy array and (if installed) a torch tensor, all with
    the memory layout `layout`: row-major, a transposed base, or a slice of a wider base."""
    values = _values(shape, dtype)
    if layout == "contiguous" or len(shape) == 0:
        stored, undo = values, lambda x: x
    elif layout == "transposed":
        order = tuple(range(len(shape) - 1, -1, -1))
        stored, undo = np.ascontiguousarray(values.transpose(order)), lambda x: x.permute(*order)
    else:
        stored = np.zeros(shape[:-1] + (shape[-1] + 3,), dtype=values.dtype)
        stored[..., 1:shape[-1] + 1] = values
        undo = lambda x: x.narrow(-1, 1, shape[-1])  # noqa: E731
    a = undo(lt.tensor(stored))
    t = None
    if torch is not None:
        t = torch.empty(stored.shape, dtype=getattr(torch, dtype.name))
        t.copy_(torch.from_numpy(stored.copy()))
        t = undo(t)
    return a, values, t


def check(op, np_op, shape, dtype=lt.float32, layout="contiguous"):
    """op(lazytensor) equals np_op(numpy) and op(torch): values, dtype, and for views the layout."""
    a, v, t = make_inputs(shape, dtype, layout)
    if t is not None:
        try:
            expected_t = op(t)
        except (RuntimeError, IndexError, ValueError, TypeError) as e:
            with pytest.raises(type(e)) as info:
                op(a)
            assert str(info.value).split("\n")[0] == str(e).split("\n")[0]
            return
    try:
        out = op(a)
    except RuntimeError as e:
        if t is None and "view size is not compatible" in str(e):
            pytest.skip("whether this layout has the view is PyTorch's to say (not installed)")
        raise
    expected = np_op(v)
    assert out.dtype is dtype
    np.testing.assert_array_equal(out.numpy(), expected)
    assert tuple(out.shape) == expected.shape
    if t is not None:
        assert tuple(out.shape) == tuple(expected_t.shape)
        # shares the input's storage exactly where PyTorch's does (a copy otherwise)
        shares = out is a or out._base is not None and out._base is (a._base if a._base is not None else a)
        assert shares == (expected_t.untyped_storage().data_ptr() == t.untyped_storage().data_ptr())
        assert (out is a) == (expected_t is t)
        if out._base is None and out is not a and not expected_t.is_contiguous():
            # PyTorch's clone keeps a dense input's strides (preserve_format); our copies are
            # always row-major bases
            assert out.is_contiguous()
            return
        assert out.stride() == expected_t.stride(), (out.stride(), expected_t.stride())
        assert out.storage_offset() == expected_t.storage_offset()
        assert out.is_contiguous() == expected_t.is_contiguous()


def _squeeze(v, dims=None):
    if dims is None:
        return v.squeeze()
    dims = [d % max(v.ndim, 1) for d in (dims if isinstance(dims, tuple) else (dims,))]
    return v.reshape([s for i, s in enumerate(v.shape) if not (i in dims and s == 1)])


# (id, shape, op on lazytensor/torch, the same op on numpy)
CASES = [
    ("reshape", (2, 3, 4), lambda x: x.reshape(4, 6), lambda v: v.reshape(4, 6)),
    ("reshape-1", (2, 3, 4), lambda x: x.reshape(-1, 4), lambda v: v.reshape(-1, 4)),
    ("reshape-list", (2, 3, 4), lambda x: x.reshape([3, 8]), lambda v: v.reshape(3, 8)),
    ("reshape-flat", (2, 3, 4), lambda x: x.reshape(-1), lambda v: v.reshape(-1)),
    ("reshape-same", (2, 3, 4), lambda x: x.reshape(2, 3, 4), lambda v: v),
    ("reshape-0d", (), lambda x: x.reshape(1, 1), lambda v: v.reshape(1, 1)),
    ("reshape-to-0d", (1, 1), lambda x: x.reshape(()), lambda v: v.reshape(())),
    ("reshape-empty", (0, 3), lambda x: x.reshape(3, 0, 1), lambda v: v.reshape(3, 0, 1)),
    ("view-split", (6, 4), lambda x: x.view(2, 3, 4), lambda v: v.reshape(2, 3, 4)),
    ("view-split-last", (6, 4), lambda x: x.view(6, 2, 2), lambda v: v.reshape(6, 2, 2)),
    ("view-merge", (6, 4), lambda x: x.view(24), lambda v: v.reshape(24)),
    ("view-1", (6, 4), lambda x: x.view(-1, 2), lambda v: v.reshape(-1, 2)),
    ("view-ones", (6, 4), lambda x: x.view(1, 6, 1, 4), lambda v: v.reshape(1, 6, 1, 4)),
    ("view-0d", (), lambda x: x.view(-1), lambda v: v.reshape(-1)),
    ("view_as", (6, 4), lambda x: x.view_as(x.reshape(3, 8)), lambda v: v.reshape(3, 8)),
    ("view_as-t", (6, 4), lambda x: x.view_as(x.reshape(4, 6)), lambda v: v.reshape(4, 6)),
    ("reshape_as", (6, 4), lambda x: x.reshape_as(x.reshape(4, 6)), lambda v: v.reshape(4, 6)),
    ("permute", (2, 3, 4), lambda x: x.permute(2, 0, 1), lambda v: v.transpose(2, 0, 1)),
    ("permute-tuple", (2, 3, 4), lambda x: x.permute((1, -1, 0)), lambda v: v.transpose(1, 2, 0)),
    ("permute-0d", (), lambda x: x.permute(()), lambda v: v),
    ("transpose", (2, 3, 4), lambda x: x.transpose(0, 2), lambda v: v.swapaxes(0, 2)),
    ("transpose-neg", (2, 3, 4), lambda x: x.transpose(-1, 1), lambda v: v.swapaxes(-1, 1)),
    ("transpose-0d", (), lambda x: x.transpose(0, -1), lambda v: v),
    ("swapaxes", (2, 3, 4), lambda x: x.swapaxes(0, 1), lambda v: v.swapaxes(0, 1)),
    ("swapdims", (2, 3, 4), lambda x: x.swapdims(2, 1), lambda v: v.swapaxes(2, 1)),
    ("t", (3, 4), lambda x: x.t(), lambda v: v.T),
    ("t-1d", (4,), lambda x: x.t(), lambda v: v),
    ("t-0d", (), lambda x: x.t(), lambda v: v),
    ("T", (3, 4), lambda x: x.T, lambda v: v.T),
    ("mT", (2, 3, 4), lambda x: x.mT, lambda v: v.swapaxes(-1, -2)),
    ("mT-2d", (3, 4), lambda x: x.mT, lambda v: v.T),
    ("mH", (2, 3, 4), lambda x: x.mH, lambda v: v.swapaxes(-1, -2)),
    ("adjoint", (2, 3, 4), lambda x: x.adjoint(), lambda v: v.swapaxes(-1, -2)),
    ("squeeze", (1, 3, 1, 4), lambda x: x.squeeze(), lambda v: v.squeeze()),
    ("squeeze-dim", (1, 3, 1, 4), lambda x: x.squeeze(2), lambda v: _squeeze(v, 2)),
    ("squeeze-neg", (1, 3, 1, 4), lambda x: x.squeeze(-4), lambda v: _squeeze(v, -4)),
    ("squeeze-not1", (1, 3, 1, 4), lambda x: x.squeeze(1), lambda v: v),
    ("squeeze-tuple", (1, 3, 1, 4), lambda x: x.squeeze((0, 2, 3)), lambda v: _squeeze(v, (0, 2, 3))),
    ("squeeze-0d", (), lambda x: x.squeeze(0), lambda v: v),
    ("squeeze-empty", (0, 1), lambda x: x.squeeze(), lambda v: v.reshape(0)),
    ("unsqueeze0", (3, 4), lambda x: x.unsqueeze(0), lambda v: v[None]),
    ("unsqueeze-last", (3, 4), lambda x: x.unsqueeze(-1), lambda v: v[..., None]),
    ("unsqueeze-neg", (3, 4), lambda x: x.unsqueeze(-2), lambda v: v[:, None]),
    ("unsqueeze-0d", (), lambda x: x.unsqueeze(-1), lambda v: v[None]),
    ("flatten", (2, 3, 4), lambda x: x.flatten(), lambda v: v.reshape(-1)),
    ("flatten-range", (2, 3, 4, 2), lambda x: x.flatten(1, 2), lambda v: v.reshape(2, 12, 2)),
    ("flatten-neg", (2, 3, 4, 2), lambda x: x.flatten(-3, -1), lambda v: v.reshape(2, 24)),
    ("flatten-same", (2, 3, 4), lambda x: x.flatten(1, 1), lambda v: v),
    ("flatten-0d", (), lambda x: x.flatten(), lambda v: v.reshape(1)),
    ("ravel", (2, 3, 4), lambda x: x.ravel(), lambda v: v.ravel()),
    ("unflatten", (2, 12), lambda x: x.unflatten(1, (3, 4)), lambda v: v.reshape(2, 3, 4)),
    ("unflatten-1", (2, 12), lambda x: x.unflatten(-1, (2, -1, 3)), lambda v: v.reshape(2, 2, 2, 3)),
    ("unflatten-0", (12, 2), lambda x: x.unflatten(0, [2, 6]), lambda v: v.reshape(2, 6, 2)),
    ("movedim", (2, 3, 4), lambda x: x.movedim(0, -1), lambda v: np.moveaxis(v, 0, -1)),
    ("movedim-multi", (2, 3, 4, 5), lambda x: x.movedim((0, 3), (2, 0)), lambda v: np.moveaxis(v, (0, 3), (2, 0))),
    ("moveaxis", (2, 3, 4), lambda x: x.moveaxis(-1, 0), lambda v: np.moveaxis(v, -1, 0)),
    ("expand", (3, 1), lambda x: x.expand(3, 4), lambda v: np.broadcast_to(v, (3, 4))),
    ("expand-1", (3, 1), lambda x: x.expand(-1, 4), lambda v: np.broadcast_to(v, (3, 4))),
    ("expand-lead", (3, 1), lambda x: x.expand(2, 1, 3, 5), lambda v: np.broadcast_to(v, (2, 1, 3, 5))),
    ("expand-list", (3, 1), lambda x: x.expand([2, 3, 2]), lambda v: np.broadcast_to(v, (2, 3, 2))),
    ("expand-0d", (), lambda x: x.expand(2, 3), lambda v: np.broadcast_to(v, (2, 3))),
    ("expand-0", (3, 1), lambda x: x.expand(3, 0), lambda v: np.broadcast_to(v, (3, 0))),
    ("expand_as", (3, 1), lambda x: x.expand_as(x.expand(2, 3, 3)), lambda v: np.broadcast_to(v, (2, 3, 3))),
    ("broadcast_to", (4,), lambda x: x.broadcast_to((2, 4)), lambda v: np.broadcast_to(v, (2, 4))),
    ("narrow", (5, 4), lambda x: x.narrow(0, 1, 3), lambda v: v[1:4]),
    ("narrow-neg", (5, 4), lambda x: x.narrow(-1, -3, 2), lambda v: v[:, 1:3]),
    ("narrow-empty", (5, 4), lambda x: x.narrow(0, 5, 0), lambda v: v[5:5]),
    ("select", (3, 4), lambda x: x.select(0, 1), lambda v: v[1]),
    ("select-neg", (3, 4, 2), lambda x: x.select(-2, -1), lambda v: v[:, -1]),
    ("select-1d", (4,), lambda x: x.select(0, 2), lambda v: v[2]),
    ("diagonal", (4, 4), lambda x: x.diagonal(), lambda v: np.diagonal(v)),
    ("diagonal-off", (3, 5), lambda x: x.diagonal(2), lambda v: np.diagonal(v, 2)),
    ("diagonal-negoff", (5, 3), lambda x: x.diagonal(-1), lambda v: np.diagonal(v, -1)),
    ("diagonal-far", (3, 4), lambda x: x.diagonal(7), lambda v: np.diagonal(v, 7)),
    ("diagonal-dims", (2, 3, 4), lambda x: x.diagonal(0, 0, 2), lambda v: np.diagonal(v, 0, 0, 2)),
    ("diagonal-swapped", (2, 3, 4), lambda x: x.diagonal(1, 2, 1), lambda v: np.diagonal(v, 1, 2, 1)),
    ("diagonal-neg-dims", (2, 3, 4), lambda x: x.diagonal(-1, -1, -3), lambda v: np.diagonal(v, -1, -1, -3)),
    ("diagonal-empty", (0, 3), lambda x: x.diagonal(), lambda v: np.diagonal(v)),
    ("clone", (3, 4), lambda x: x.clone(), lambda v: v),
    ("contiguous", (3, 4), lambda x: x.contiguous(), lambda v: v),
    ("detach", (3, 4), lambda x: x.detach(), lambda v: v),
]


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_ops_match_numpy_and_torch(case, layout):
    _, shape, op, np_op = case
    check(op, np_op, shape, lt.float32, layout)


@pytest.mark.parametrize("dtype", [lt.int64, lt.bool, lt.float16])
@pytest.mark.parametrize("case", [c for c in CASES if c[0] in (
    "reshape", "view-split", "permute", "t", "squeeze", "unsqueeze-neg", "flatten-range", "expand-lead", "narrow",
    "select-neg", "diagonal-dims", "movedim-multi", "unflatten", "clone")], ids=lambda c: c[0])
def test_ops_keep_other_dtypes(case, dtype):
    _, shape, op, np_op = case
    check(op, np_op, shape, dtype, "transposed")


@pytest.mark.parametrize("fn, np_fn", [(lt.atleast_1d, np.atleast_1d), (lt.atleast_2d, np.atleast_2d),
                                       (lt.atleast_3d, np.atleast_3d)])
@pytest.mark.parametrize("shape", [(), (3,), (2, 3), (2, 3, 4), (1, 2, 1, 2)])
@pytest.mark.parametrize("layout", ["contiguous", "sliced"])
def test_atleast(fn, np_fn, shape, layout):
    tfn = getattr(torch, fn.__name__) if torch is not None else None
    a, v, t = make_inputs(shape, lt.float32, layout)
    out = fn(a)
    np.testing.assert_array_equal(out.numpy(), np_fn(v))
    if t is not None:
        expected = tfn(t)
        assert tuple(out.shape) == tuple(expected.shape)
        assert out.stride() == expected.stride() and out.storage_offset() == expected.storage_offset()
        assert (out is a) == (expected is t)
    # several tensors give a tuple, as PyTorch
    both = fn(a, a)
    assert isinstance(both, tuple) and len(both) == 2 and tuple(both[1].shape) == np_fn(v).shape
    assert isinstance(fn([a, a]), tuple)


@needs_torch
@pytest.mark.parametrize("shape", [(3, 4), (2, 3, 4), (4,)])
def test_T_reverses_dims_and_warns_like_torch_beyond_2d(shape):
    a, v, t = make_inputs(shape, lt.float32, "transposed")
    with warnings.catch_warnings(record=True) as ours:
        warnings.simplefilter("always")
        out = a.T
    # PyTorch warns once per process, so its count can't be compared: it warns unless 2-d
    assert len(ours) == (len(shape) != 2)
    if ours:
        assert "x.T` on tensors of dimension other than 2" in str(ours[0].message)
    np.testing.assert_array_equal(out.numpy(), v.T)
    assert out.stride() == t.T.stride()
    b = lt.tensor(5.0)
    with pytest.warns(UserWarning, match="deprecated on 0-D tensors"):
        assert b.T.item() == 5.0
    with pytest.warns(UserWarning, match="deprecated on 0-D tensors"):
        assert b.mT.item() == 5.0


@needs_torch
def test_view_of_a_non_contiguous_tensor_where_strides_allow():
    x, t = lt.arange(12.0).reshape(3, 4), torch.arange(12.0).reshape(3, 4)
    cases = [lambda y: y.t().view(2, 2, 3), lambda y: y.t().view(4, 3, 1), lambda y: y.t().view(1, 4, 3),
             lambda y: y.narrow(1, 1, 2).view(3, 2, 1), lambda y: y.narrow(0, 1, 2).view(8),
             lambda y: y.narrow(1, 0, 2).view(3, 1, 2), lambda y: y.unsqueeze(1).expand(3, 2, 4).view(3, 2, 2, 2)]
    for f in cases:
        ours, theirs = f(x), f(t)
        assert ours._base is not None
        assert ours.stride() == theirs.stride() and ours.storage_offset() == theirs.storage_offset()
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


@needs_torch
@pytest.mark.parametrize("f", [lambda y: y.t().view(-1), lambda y: y.t().view(12), lambda y: y.narrow(1, 1, 2).view(6),
                               lambda y: y.unsqueeze(0).expand(2, 3, 4).view(6, 4)],
                         ids=["t-flat", "t-12", "narrow", "expanded"])
def test_view_refuses_what_strides_cannot_express(f):
    with pytest.raises(RuntimeError) as theirs:
        f(torch.arange(12.0).reshape(3, 4))
    with pytest.raises(RuntimeError) as ours:
        f(lt.arange(12.0).reshape(3, 4))
    assert str(ours.value) == str(theirs.value)
    assert "Use .reshape(...) instead" in str(ours.value)


# Ops that PyTorch refuses: ours must raise the same exception type with the same message.
ERRORS = [
    lambda x: x.view(-1, -1), lambda x: x.view(5, -1), lambda x: x.view(0, -1), lambda x: x.view(-2, 6),
    lambda x: x.view(13), lambda x: x.reshape(2, -1, 0), lambda x: x.reshape(5, 5),
    lambda x: x.view(2.0, 6), lambda x: x.reshape(2, "6"),
    lambda x: x.narrow(0, 0, 0).view(-1, 0),
    lambda x: x.permute(0, 0), lambda x: x.permute(0), lambda x: x.permute(0, 2), lambda x: x.transpose(0, 2),
    lambda x: x.unsqueeze(0).t(), lambda x: x.select(0, 0).mT,
    lambda x: x.squeeze(2), lambda x: x.squeeze((0, 0)), lambda x: x.unsqueeze(3), lambda x: x.unsqueeze(-4),
    lambda x: x.flatten(1, 0), lambda x: x.flatten(0, 2),
    lambda x: x.unflatten(1, (3, -1)), lambda x: x.unflatten(1, (3, 2)), lambda x: x.unflatten(1, ()),
    lambda x: x.unflatten(1, (-1, -1)), lambda x: x.unflatten(2, (2, 2)),
    lambda x: x.movedim((0, 0), (1, 0)), lambda x: x.movedim((0, 1), (0,)), lambda x: x.movedim((0, 1), (1, 1)),
    lambda x: x.movedim(0, 2),
    lambda x: x.expand(4), lambda x: x.expand(2, 4), lambda x: x.expand(-1, 3, 4), lambda x: x.expand(3, 5),
    lambda x: x.select(0, 0).expand(3, 3), lambda x: x.select(0, 0).expand(-2),
    lambda x: x.narrow(0, -5, 1), lambda x: x.narrow(0, 4, 0), lambda x: x.narrow(0, 2, 2),
    lambda x: x.narrow(0, 0, -1), lambda x: x.narrow(2, 0, 1),
    lambda x: x.select(0, 3), lambda x: x.select(1, -5), lambda x: x.select(2, 0),
    lambda x: x.select(0, 0).select(0, 0).select(0, 0),
    lambda x: x.diagonal(0, 0, 0), lambda x: x.diagonal(0, 1, -1), lambda x: x.select(0, 0).diagonal(),
    lambda x: x.diagonal(0, 0, 2),
]


@needs_torch
@pytest.mark.parametrize("f", ERRORS, ids=[f"err{i}" for i in range(len(ERRORS))])
def test_errors_match_torch(f):
    t = torch.arange(12.0).reshape(3, 4)
    with pytest.raises(Exception) as theirs:
        f(t)
    with pytest.raises(type(theirs.value)) as ours:
        f(lt.arange(12.0).reshape(3, 4))
    first = str(theirs.value).split("\n")[0]
    if type(theirs.value) is TypeError:
        return  # torch's argument-parser messages list its overloads; the type is what matters
    assert str(ours.value).split("\n")[0] == first


def test_errors_without_torch():
    x = lt.arange(12.0).reshape(3, 4)
    with pytest.raises(RuntimeError, match="only one dimension can be inferred"):
        x.view(-1, -1)
    with pytest.raises(RuntimeError, match=r"shape '\[5, -1\]' is invalid for input of size 12"):
        x.reshape(5, -1)
    with pytest.raises(RuntimeError, match="view size is not compatible"):
        x.t().view(-1)
    with pytest.raises(IndexError, match="Dimension out of range"):
        x.unsqueeze(3)
    with pytest.raises(RuntimeError, match="must match the existing size"):
        x.expand(3, 5)
    with pytest.raises(IndexError, match="out of range for tensor of size"):
        x.select(0, 3)


def test_narrow_and_select_take_tensor_indices():
    x = lt.arange(12.0).reshape(3, 4)
    np.testing.assert_array_equal(x.narrow(0, lt.tensor(1), 2).numpy(), np.arange(12.0).reshape(3, 4)[1:3])
    np.testing.assert_array_equal(x.select(1, lt.tensor(2)).numpy(), np.arange(12.0).reshape(3, 4)[:, 2])


def test_module_functions_match_methods():
    x = lt.arange(24.0).reshape(2, 3, 4)
    v = np.arange(24.0).reshape(2, 3, 4)
    np.testing.assert_array_equal(lt.reshape(x, (4, 6)).numpy(), v.reshape(4, 6))
    np.testing.assert_array_equal(lt.permute(x, (2, 0, 1)).numpy(), v.transpose(2, 0, 1))
    np.testing.assert_array_equal(lt.transpose(x, 0, 1).numpy(), v.swapaxes(0, 1))
    np.testing.assert_array_equal(lt.swapaxes(x, 0, 2).numpy(), v.swapaxes(0, 2))
    np.testing.assert_array_equal(lt.squeeze(x.unsqueeze(0), 0).numpy(), v)
    np.testing.assert_array_equal(lt.unsqueeze(x, 1).numpy(), v[:, None])
    np.testing.assert_array_equal(lt.flatten(x, 1).numpy(), v.reshape(2, 12))
    np.testing.assert_array_equal(lt.unflatten(x, 2, (2, 2)).numpy(), v.reshape(2, 3, 2, 2))
    np.testing.assert_array_equal(lt.movedim(x, 0, 2).numpy(), np.moveaxis(v, 0, 2))
    np.testing.assert_array_equal(lt.narrow(x, 2, 1, 2).numpy(), v[:, :, 1:3])
    np.testing.assert_array_equal(lt.select(x, 1, 0).numpy(), v[:, 0])
    np.testing.assert_array_equal(lt.diagonal(x, 0, 1, 2).numpy(), np.diagonal(v, 0, 1, 2))
    np.testing.assert_array_equal(lt.broadcast_to(x, (2, 2, 3, 4)).numpy(), np.broadcast_to(v, (2, 2, 3, 4)))
    np.testing.assert_array_equal(lt.ravel(x.mT).numpy(), v.swapaxes(1, 2).ravel())
    np.testing.assert_array_equal(lt.clone(x).numpy(), v)
    np.testing.assert_array_equal(lt.t(x.select(0, 1)).numpy(), v[1].T)
    np.testing.assert_array_equal(lt.adjoint(x).numpy(), v.swapaxes(1, 2))
    np.testing.assert_array_equal(lt.moveaxis(x, 2, 0).numpy(), np.moveaxis(v, 2, 0))
    np.testing.assert_array_equal(lt.swapdims(x, 2, 0).numpy(), v.swapaxes(2, 0))


@needs_torch
def test_diagonal_is_a_writable_view_of_any_layout():
    for make in (lambda m: m, lambda m: m.t(), lambda m: m.narrow(1, 1, 4), lambda m: m.permute(1, 0).narrow(0, 1, 3),
                 lambda m: m.unsqueeze(0).expand(2, 5, 6).select(0, 1)):
        for offset in (-2, 0, 1, 3):
            x, t = lt.zeros(5, 6), torch.zeros(5, 6)
            dx, dt = make(x).diagonal(offset), make(t).diagonal(offset)
            assert dx.stride() == dt.stride() and dx.storage_offset() == dt.storage_offset()
            dx.add_(lt.arange(float(dx.shape[0])) + 1)
            dt.add_(torch.arange(float(dt.shape[0])) + 1)
            np.testing.assert_array_equal(x.numpy(), t.numpy())
    # 3-d, over the outer dims, then written by fill_
    x, t = lt.zeros(3, 2, 3), torch.zeros(3, 2, 3)
    x.diagonal(0, 0, 2).fill_(7)
    t.diagonal(0, 0, 2).fill_(7)
    np.testing.assert_array_equal(x.numpy(), t.numpy())


@needs_torch
def test_squeeze_unsqueeze_select_keep_torch_strides_on_size_one_dims():
    x, t = lt.arange(12.0).reshape(3, 4), torch.arange(12.0).reshape(3, 4)
    for f in (lambda y: y.t().unsqueeze(-1), lambda y: y.t().unsqueeze(1), lambda y: y.t().unsqueeze(0),
              lambda y: y.narrow(1, 0, 1).t().squeeze(1), lambda y: y.t().narrow(1, 2, 1).unsqueeze(0).squeeze(2),
              lambda y: y.t().narrow(0, 1, 1).select(1, 2), lambda y: y.t().unsqueeze(-1).expand(1, 4, 3, 2),
              lambda y: y.narrow(0, 0, 1).expand(1, 1, 4)):
        assert f(x).stride() == f(t).stride()


def test_views_share_storage_and_copies_do_not():
    x = lt.arange(6.0).reshape(2, 3)
    for v in (x.view(3, 2), x.t(), x.unsqueeze(0), x.narrow(1, 1, 1), x.select(0, 1), x.flatten(), x.ravel(),
              x.expand(2, 2, 3), x.diagonal(), x.movedim(0, 1), x.mT, x.squeeze(), x.detach(), x.unflatten(1, (3, 1))):
        assert v.data_ptr() == x.data_ptr() + v.storage_offset() * 4
    c = x.clone()
    assert c.data_ptr() != x.data_ptr()


def test_ops_on_pending_tensors_and_after_flush_agree():
    x = lt.arange(24.0).reshape(2, 3, 4) * 2  # pending
    a = x.permute(2, 0, 1).narrow(0, 1, 2).diagonal(0, 1, 2)
    expected = np.diagonal((np.arange(24.0).reshape(2, 3, 4) * 2).transpose(2, 0, 1)[1:3], 0, 1, 2)
    np.testing.assert_array_equal(a.numpy(), expected)
    b = x.permute(2, 0, 1).narrow(0, 1, 2).diagonal(0, 1, 2)  # x is realized now
    np.testing.assert_array_equal(b.numpy(), expected)
    assert a.stride() == b.stride() and a.storage_offset() == b.storage_offset()


# ---- t() and transpose() of a matrix: the view permute() makes ----

def test_t_and_transpose_build_permutes_view():
    from lazytensor.compiler.ops import Op
    from lazytensor.compiler.verify import verify
    x = lt.arange(6.0).reshape(2, 3)
    for v in (x, x[:, 1:], x.t(), x.t().t(), x.unsqueeze(0)[0]):
        for a, order in ((v.t(), (1, 0)), (v.transpose(0, 1), (1, 0)), (v.transpose(-1, 0), (1, 0)),
                         (v.transpose(1, 1), (0, 1))):
            verify([a.node])  # the types t() gives its node are the rules' own
            b = lt.permute(v, order)
            assert a.node is b.node and a._base is b._base and a._vops == b._vops
            assert a.stride() == b.stride() and a.tolist() == b.tolist()
    y = lt.arange(24.0).reshape(2, 3, 4)
    assert y.transpose(0, 2)._vops == lt.permute(y, (2, 1, 0))._vops
    assert y.transpose(0, 2)._vops[-1] == (Op.PERMUTE, (2, 1, 0))
    assert y.transpose(0, 2).node is lt.permute(y, (2, 1, 0)).node
    assert y.transpose(1, -2)._vops == lt.permute(y, (0, 1, 2))._vops
    z = x
    for _ in range(5):
        z = z.t()
    assert z._vops == x._vops + ((Op.PERMUTE, (1, 0)),) and z.t()._vops == x._vops  # a loop of t(): a short chain
    assert z.tolist() == x.t().tolist()
    with pytest.raises(RuntimeError, match="t\\(\\) expects a tensor with <= 2 dimensions, but self is 3D"):
        y.t()
