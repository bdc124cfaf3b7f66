"""Tests for dtypes and type promotion (compiler/dtypes.py) as the user sees them through lazytensor.

Promotion is checked against PyTorch (when installed) for every pair of dtypes and every kind of
operand: a tensor with dims, a 0-d tensor, and Python bool, int and float scalars; both through
`lt.result_type` and through the dtype an op actually returns. Without PyTorch the same sweep runs
against a table written from PyTorch's rules. Also: the dtype objects' attributes and names, the
default float dtype, true division, comparisons returning bool, and in-place ops refusing results
they cannot hold.
"""
from __future__ import annotations

import itertools
import pickle

import ml_dtypes
import numpy as np
import pytest

import lazytensor as lt
from lazytensor.compiler import dtypes as dt
from lt_testing import torch

needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch is not installed")

NAMES = ["bool", "uint8", "int8", "int16", "int32", "int64", "float16", "bfloat16", "float32", "float64"]
DTYPES = [getattr(lt, n) for n in NAMES]
KINDS = ["dim", "0-d", "bool", "int", "float"]
SCALAR = {"bool": True, "int": 3, "float": 2.5}


def operand(module, kind: str, name: str | None):
    """A tensor with dims, a 0-d tensor (of dtype `name`), or a Python scalar of `kind`."""
    if kind in SCALAR:
        return SCALAR[kind]
    shape = (2,) if kind == "dim" else ()
    return module.ones(shape, dtype=getattr(module, name))


def expected_promotion(a: str, b: str) -> str:
    """PyTorch's promote_types, written out: bool < integers < floats; ints by numpy's rules;
    float16 with bfloat16 is float32."""
    if a == b:
        return a
    if "bool" in (a, b):
        return b if a == "bool" else a
    fa, fb = a.startswith(("float", "bfloat")), b.startswith(("float", "bfloat"))
    if fa and fb:
        if {a, b} == {"float16", "bfloat16"}:
            return "float32"
        return max(a, b, key=lambda n: np.dtype(ml_dtypes.bfloat16 if n == "bfloat16" else n).itemsize)
    if fa or fb:
        return a if fa else b
    return np.promote_types(a, b).name


# ---- promote_types ----

@pytest.mark.parametrize("a, b", list(itertools.product(NAMES, NAMES)))
def test_promote_types_table(a, b):
    got = lt.promote_types(getattr(lt, a), getattr(lt, b))
    assert got.name == expected_promotion(a, b)
    assert got is lt.promote_types(getattr(lt, b), getattr(lt, a))  # symmetric
    assert dt.promote_types(getattr(lt, a), getattr(lt, b)) is got
    if torch is not None:
        assert repr(got) == str(torch.promote_types(getattr(torch, a), getattr(torch, b)))


# ---- result_type over every kind of operand ----

def _cases():
    for ka, kb in itertools.product(KINDS, KINDS):
        if ka in SCALAR and kb in SCALAR:
            yield ka, kb, None, None
            continue
        for na in (NAMES if ka not in SCALAR else [None]):
            for nb in (NAMES if kb not in SCALAR else [None]):
                yield ka, kb, na, nb


@needs_torch
@pytest.mark.parametrize("kind_a, kind_b", list(itertools.product(KINDS, KINDS)))
def test_result_type_matches_torch(kind_a, kind_b):
    for ka, kb, na, nb in _cases():
        if (ka, kb) != (kind_a, kind_b):
            continue
        want = torch.result_type(operand(torch, ka, na), operand(torch, kb, nb))
        got = lt.result_type(operand(lt, ka, na), operand(lt, kb, nb))
        assert repr(got) == str(want), (ka, na, kb, nb)


def _rule_result(ka, na, kb, nb) -> str:
    """The result dtype by PyTorch's rule (c10's ResultTypeState): promote within each group
    (tensors with dims, 0-d tensors, Python scalars as bool/int64/default float), then let a lower
    group in only where its category is higher."""
    def is_float(n):
        return n.startswith(("float", "bfloat"))

    def combine(higher, lower):
        if higher is None or lower is None:
            return higher or lower
        if is_float(higher):
            return higher
        if higher == "bool" or is_float(lower):
            return expected_promotion(higher, lower)
        return higher

    groups = {"dim": None, "0-d": None, "scalar": None}
    for k, n in ((ka, na), (kb, nb)):
        g, n = ("scalar", {"bool": "bool", "int": "int64", "float": "float32"}[k]) if k in SCALAR else (k, n)
        groups[g] = n if groups[g] is None else expected_promotion(groups[g], n)
    return combine(groups["dim"], combine(groups["0-d"], groups["scalar"]))


@pytest.mark.parametrize("kind_a, kind_b", list(itertools.product(KINDS, KINDS)))
def test_result_type_matches_the_rule(kind_a, kind_b):
    for ka, kb, na, nb in _cases():
        if (ka, kb) != (kind_a, kind_b):
            continue
        got = lt.result_type(operand(lt, ka, na), operand(lt, kb, nb))
        assert got.name == _rule_result(ka, na, kb, nb), (ka, na, kb, nb)


@needs_torch
@pytest.mark.parametrize("op", ["add", "mul", "div", "eq", "maximum", "where"])
def test_ops_return_the_promoted_dtype(op):
    for ka, kb, na, nb in _cases():
        if ka in SCALAR and kb in SCALAR:
            continue
        if op == "maximum" and (ka in SCALAR or kb in SCALAR):
            continue
        args_l = (operand(lt, ka, na), operand(lt, kb, nb))
        args_t = (operand(torch, ka, na), operand(torch, kb, nb))
        if op == "where":
            got = lt.where(lt.tensor(True), *args_l)
            want = torch.where(torch.tensor(True), *args_t)
        else:
            try:
                want = getattr(torch, op)(*args_t)
            except TypeError:  # torch.eq(2, t): the functional form needs a tensor first
                with pytest.raises(TypeError):
                    getattr(lt, op)(*args_l)
                continue
            got = getattr(lt, op)(*args_l)
        assert repr(got.dtype) == str(want.dtype), (op, ka, na, kb, nb)
        assert tuple(got.shape) == tuple(want.shape)


def test_comparisons_return_bool_for_every_dtype():
    for a, b in itertools.product(DTYPES, DTYPES):
        x, y = lt.ones(2, dtype=a), lt.zeros(2, dtype=b)
        for out in (x == y, x != y, x < y, x <= y, x > y, x >= y, lt.eq(x, 1), lt.gt(x, 0.5), lt.isnan(x),
                    lt.isfinite(y), lt.logical_and(x, y), lt.logical_not(x), lt.isclose(x, x)):
            assert out.dtype is lt.bool
        assert (x == y).tolist() == [False, False] and (x > y).tolist() == [True, True]


# ---- true division and the default float dtype ----

@pytest.mark.parametrize("name", NAMES)
def test_true_division_gives_a_float(name):
    x = lt.ones(3, dtype=getattr(lt, name))
    expected = name if name in ("float16", "bfloat16", "float32", "float64") else "float32"
    assert (x / x).dtype.name == expected
    assert (x / 2).dtype.name == expected
    assert (2 / x).dtype.name == expected
    assert lt.true_divide(x, x).dtype.name == expected
    assert (x // x if name != "bool" else x.int() // x.int()).dtype.name == (name if name != "bool" else "int32")
    if torch is not None:
        t = torch.ones(3, dtype=getattr(torch, name))
        assert str((t / t).dtype) == repr((x / x).dtype)
        assert str((t / 2).dtype) == repr((x / 2).dtype)


def test_set_default_dtype_float64():
    lt.set_default_dtype(lt.float64)
    try:
        assert lt.get_default_dtype() is lt.float64
        i = lt.tensor([1, 2])
        assert lt.tensor([1.5]).dtype is lt.float64
        assert lt.tensor(1.5).dtype is lt.float64
        assert lt.tensor([1, 2.5]).dtype is lt.float64
        assert (i / i).dtype is lt.float64
        assert (i * 1.5).dtype is lt.float64
        assert lt.exp(i).dtype is lt.float64
        assert lt.zeros(2).dtype is lt.float64 and lt.ones(2).dtype is lt.float64
        assert lt.full((2,), 1.5).dtype is lt.float64
        assert lt.arange(0, 1, 0.5).dtype is lt.float64 and lt.arange(3).dtype is lt.int64
        assert lt.linspace(0, 1, 3).dtype is lt.float64 and lt.eye(2).dtype is lt.float64
        assert lt.result_type(2.5, 2) is lt.float64
        # float tensors keep their own dtype: only Python floats follow the default
        assert (lt.ones(2, dtype=lt.float32) * 1.5).dtype is lt.float32
        assert (lt.ones(2, dtype=lt.float16) + 2.5).dtype is lt.float16
        assert lt.tensor(np.array([1.5], dtype=np.float32)).dtype is lt.float32
    finally:
        lt.set_default_dtype(lt.float32)
    assert lt.tensor([1.5]).dtype is lt.float32 and (lt.tensor([1]) / 2).dtype is lt.float32


@pytest.mark.parametrize("name", ["float16", "bfloat16"])
def test_set_default_dtype_half(name):
    d = getattr(lt, name)
    lt.set_default_dtype(d)
    try:
        assert lt.tensor([1.5]).dtype is d and (lt.tensor([1]) / 2).dtype is d
        if torch is not None:
            torch.set_default_dtype(getattr(torch, name))
            try:
                assert str((torch.tensor([1]) / 2).dtype) == repr((lt.tensor([1]) / 2).dtype)
            finally:
                torch.set_default_dtype(torch.float32)
    finally:
        lt.set_default_dtype(lt.float32)


@pytest.mark.parametrize("name", ["int32", "int64", "bool", "uint8"])
def test_set_default_dtype_refuses_non_floats(name):
    with pytest.raises(TypeError, match="only floating-point types are supported as the default type"):
        lt.set_default_dtype(getattr(lt, name))
    assert lt.get_default_dtype() is lt.float32
    if torch is not None:
        with pytest.raises(TypeError):
            torch.set_default_dtype(getattr(torch, name))


# ---- in-place ops refuse results their tensor cannot hold ----

TORCH_NAMES = {"float32": "Float", "float64": "Double", "float16": "Half", "bfloat16": "BFloat16", "int64": "Long",
               "int32": "Int", "int16": "Short", "int8": "Char", "uint8": "Byte", "bool": "Bool"}


@pytest.mark.parametrize("target", NAMES)
def test_inplace_refuses_a_higher_category(target):
    for other in NAMES:
        result = lt.promote_types(getattr(lt, target), getattr(lt, other))
        x = lt.ones(2, dtype=getattr(lt, target))
        y = lt.ones(2, dtype=getattr(lt, other))
        refuse = dt.category_rank(result) > dt.category_rank(getattr(lt, target))
        if refuse:
            message = (f"result type {TORCH_NAMES[result.name]} can't be cast to the desired output type "
                       f"{TORCH_NAMES[target]}")
            with pytest.raises(RuntimeError, match=message):
                x.mul_(y)
            assert x.tolist() == [1, 1] or x.tolist() == [True, True]
        else:
            x.mul_(y)
            assert x.dtype.name == target
        if torch is not None:
            t = torch.ones(2, dtype=getattr(torch, target))
            u = torch.ones(2, dtype=getattr(torch, other))
            try:
                t.mul_(u)
                assert not refuse, (target, other)
            except RuntimeError as e:
                assert refuse and str(e) == message, (target, other, e)


def test_inplace_refuses_float_results_for_integers():
    x = lt.tensor([1, 2])
    for op in (lambda: x.add_(0.5), lambda: x.div_(x), lambda: x.mul_(1.5), lambda: x.exp_(), lambda: x.sigmoid_(),
               lambda: x.true_divide_(2), lambda: x.pow_(0.5)):
        with pytest.raises(RuntimeError, match="result type Float can't be cast to the desired output type Long"):
            op()
    assert x.tolist() == [1, 2]
    x.floor_divide_(2)
    x.add_(True)
    assert x.dtype is lt.int64 and x.tolist() == [1, 2]
    b = lt.tensor([True, False])
    with pytest.raises(RuntimeError, match="result type Long can't be cast to the desired output type Bool"):
        b.add_(1)
    b.logical_or_(lt.tensor([False, True]))
    assert b.tolist() == [True, True]


# ---- the dtype objects ----

@pytest.mark.parametrize("name", NAMES)
def test_dtype_attributes(name):
    d = getattr(lt, name)
    assert repr(d) == str(d) == f"torch.{name}"
    assert d.is_floating_point == (name.startswith("float") or name == "bfloat16")
    assert d.is_signed == (name not in ("bool", "uint8"))
    assert d.is_complex is False and d.to_real() is d
    assert d.itemsize == np.dtype(ml_dtypes.bfloat16 if name == "bfloat16" else name).itemsize
    assert d.bits == 8 * d.itemsize
    assert d.np_dtype == (np.dtype(ml_dtypes.bfloat16) if name == "bfloat16" else np.dtype(name))
    assert pickle.loads(pickle.dumps(d)) is d
    assert dt.dtype_from_name(name) is d and dt.dtype_from_name(f"torch.{name}") is d
    assert dt.dtype_from_name(d.short) is d
    assert dt.dtype_from_numpy(d.np_dtype) is d
    assert lt.ones(1, dtype=d).dtype is d and lt.ones(1, dtype=d).element_size() == d.itemsize
    assert isinstance(d, lt.dtype)
    if torch is not None:
        t = getattr(torch, name)
        assert (d.is_floating_point, d.is_signed, d.itemsize, str(d)) == \
            (t.is_floating_point, t.is_signed, t.itemsize, str(t))


def test_dtype_aliases():
    assert lt.float is lt.float32 and lt.double is lt.float64 and lt.half is lt.float16
    assert lt.long is lt.int64 and lt.int is lt.int32 and lt.short is lt.int16 and lt.bool is dt.bool_
    for alias, name in [("float", "float32"), ("double", "float64"), ("half", "float16"), ("long", "int64"),
                        ("int", "int32"), ("short", "int16"), ("bool", "bool")]:
        assert dt.dtype_from_name(alias) is getattr(lt, name)
    assert lt.float32 == lt.float32 and lt.float32 != lt.float64
    assert len({lt.float32, lt.float, lt.float64}) == 2


def test_unknown_dtypes_are_refused():
    with pytest.raises(TypeError, match="unknown dtype"):
        dt.dtype_from_name("float128")
    for np_type in (np.uint16, np.uint64, np.complex64, np.object_, np.str_):
        with pytest.raises(TypeError, match="can't convert np.ndarray"):
            dt.dtype_from_numpy(np_type)
    assert not hasattr(lt, "complex64") and not hasattr(lt, "cfloat")


def test_can_cast_and_category_rank():
    for a, b in itertools.product(DTYPES, DTYPES):
        expected = dt.category_rank(a) <= dt.category_rank(b)
        assert lt.can_cast(a, b) == expected
        if torch is not None:
            assert torch.can_cast(getattr(torch, a.name), getattr(torch, b.name)) == expected
    assert [dt.category_rank(d) for d in (lt.bool, lt.uint8, lt.int64, lt.float16)] == [0, 1, 1, 2]


def test_numpy_scalars_promote_like_python_scalars():
    h, i = lt.ones(2, dtype=lt.float16), lt.ones(2, dtype=lt.int32)
    assert (h + np.float64(2.5)).dtype is lt.float16
    assert (i + np.int64(3)).dtype is lt.int32
    assert (i + np.float32(2.5)).dtype is lt.float32
    assert lt.result_type(i, np.float64(1.0)) is lt.float32
