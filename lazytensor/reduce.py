"""Reductions, scans and normalizers: sum, mean, prod, max/min, argmax, var/std, all/any, logsumexp,
cumsum/cumprod, softmax, count_nonzero, norm.

Everything is built over three reduction primitives (SUM, PROD, MAX_REDUCE, which keep reduced
axes as size 1) plus elementwise and movement ops:
- min is -max(-x) for floats, ~max(~x) for integers and bool (both keep nan winning);
- an index (argmax, max(dim)) is the first position equal to the extreme (or holding a nan): a
  MAX_REDUCE over a reversed index ramp masked by that test;
- sums of float16/bfloat16 accumulate in float32 and round once, as PyTorch's CPU kernels do;
- scans (cumsum, cumprod) are blocked b-ary scans over the reductions: see `_scan_last`.

PyTorch's quirks are kept on purpose: ints and bool sum to int64, `all`/`any` of uint8 are uint8,
`all(x, dim=())` reduces nothing while `sum(x, dim=())` reduces everything, and the empty cases
(sum 0, prod 1, mean nan, max an error) follow torch.
"""
from __future__ import annotations

import builtins
import math
import numbers
import types
import warnings

import numpy as np

from lazytensor.compiler import dtypes as dt
from lazytensor.compiler.ir import Node
from lazytensor.compiler.build import like as _c
from lazytensor.compiler.ops import Op, make, make_known
from lazytensor.elementwise import (_add, _eq, _exp, _isnan, _log, _lt, _maximum, _mul, _neg, _not, _pow, _recip,
                                    _sub, _where, maximum, minimum)
from lazytensor.tensor import (Tensor, _torch_name, assign, cast_node, const, expand_node, get_default_dtype,
                               normalize_dim, wrap)

__all__ = ["sum", "nansum", "mean", "nanmean", "prod", "max", "min", "amax", "amin", "aminmax", "argmax", "argmin",
           "var", "std", "var_mean", "std_mean", "all", "any", "logsumexp", "cumsum", "cumprod", "softmax",
           "log_softmax", "count_nonzero", "norm", "return_types"]

Dims = int | tuple[int, ...] | list[int] | None  # a dim argument: one, several, or None/() for all


# ---- named results (torch.return_types) ----

return_types = types.SimpleNamespace()
return_types.__doc__ = "The named tuples reductions return, as torch.return_types (max, min, aminmax...)."


class _ReturnTuple(tuple):
    """Base of the named result tuples: prints as PyTorch's `torch.return_types.<name>(...)`."""

    __slots__ = ()
    _fields: tuple = ()

    def __repr__(self) -> str:
        body = ",\n".join(f"{f}={v!r}" for f, v in zip(self._fields, self))
        return f"torch.return_types.{type(self).__name__}(\n{body})"

    __str__ = __repr__

    def __reduce__(self):
        return (type(self), (tuple(self),))


def return_type(name: str, fields: tuple) -> type:
    """The named tuple class `lt.return_types.<name>` with these fields (made once, then shared)."""
    cls = getattr(return_types, name, None)
    if cls is not None:
        if cls._fields != tuple(fields):
            raise ValueError(f"return type {name} already has fields {cls._fields}")
        return cls
    attrs = {"__slots__": (), "_fields": tuple(fields), "__module__": __name__,
             "__qualname__": f"return_types.{name}",
             "__new__": lambda c, values: tuple.__new__(c, values),
             "__doc__": f"torch.return_types.{name}: a tuple ({', '.join(fields)})."}
    for i, f in enumerate(fields):
        attrs[f] = property(lambda self, i=i: tuple.__getitem__(self, i))
    cls = type(name, (_ReturnTuple,), attrs)
    setattr(return_types, name, cls)
    return cls


_MaxResult = return_type("max", ("values", "indices"))
_MinResult = return_type("min", ("values", "indices"))
_AminmaxResult = return_type("aminmax", ("min", "max"))


# ---- dims and shapes ----

def _dim_tuple(dim, name: str):
    """`dim` as a tuple of ints (None stays None); TypeError like PyTorch's for other types."""
    if dim is None:
        return None
    if isinstance(dim, (numbers.Integral, np.integer)) and not isinstance(dim, bool):
        return (int(dim),)
    if isinstance(dim, (tuple, list)):
        for d in dim:
            if not isinstance(d, (numbers.Integral, np.integer)) or isinstance(d, bool):
                raise TypeError(f"{name}(): argument 'dim' must be tuple of ints, but found element of type "
                                f"{type(d).__name__}")
        return tuple(int(d) for d in dim)
    raise TypeError(f"{name}(): argument 'dim' must be tuple of ints, not {type(dim).__name__}")


def _int_dim(dim, name: str) -> int:
    """A single int dim; TypeError for tuples and floats, as PyTorch's int-dim overloads."""
    if isinstance(dim, (numbers.Integral, np.integer)) and not isinstance(dim, bool):
        return int(dim)
    raise TypeError(f"{name}(): argument 'dim' must be int, not {type(dim).__name__}")


def _axes(shape: tuple, dims) -> tuple:
    """Sorted axes to reduce: `dims` None or () means all; a 0-d tensor has none (dims 0/-1 check)."""
    ndim = len(shape)
    if dims is None or len(dims) == 0:
        return tuple(range(ndim))
    axes = [normalize_dim(d, ndim) for d in dims]
    seen = set()
    for a in axes:
        if a in seen:
            raise RuntimeError(f"dim {a} appears multiple times in the list of dims")
        seen.add(a)
    return tuple(sorted(axes)) if ndim else ()


def _kept(shape: tuple, axes: tuple) -> tuple:
    return tuple(1 if i in axes else d for i, d in enumerate(shape))


def _out_shape(shape: tuple, axes: tuple, keepdim: bool) -> tuple:
    if keepdim:
        return _kept(shape, axes)
    return tuple(d for i, d in enumerate(shape) if i not in axes)


def _count(shape: tuple, axes: tuple) -> int:
    """How many elements each output element reduces."""
    return math.prod(shape[a] for a in axes)


_SUM, _RESHAPE = Op.SUM, Op.RESHAPE  # named once: `Op.X` is a slow attribute lookup in Python 3.11


def _reshape(n: Node, shape: tuple) -> Node:
    return n if n.shape == shape else make(_RESHAPE, (n,), tuple(shape))


def _reduce(n: Node, op: Op, axes: tuple) -> Node:
    """`op` over `axes` of `n`, keeping them as size 1 (no node when there is nothing to reduce)."""
    return make(op, (n,), axes) if axes else n


# ---- dtypes ----

def _acc(d: dt.DType) -> dt.DType:
    """The accumulation dtype: float32 for the half types, as PyTorch's CPU kernels."""
    return dt.float32 if d in (dt.float16, dt.bfloat16) else d


def _widen(d: dt.DType) -> dt.DType:
    """sum/prod's result dtype: ints and bool give int64."""
    return d if d.is_floating_point else dt.int64


def _truthy(n: Node) -> Node:
    """`n != 0` as bool (nan counts as true)."""
    return n if n.dtype is dt.bool_ else _not(_eq(n, _c(0, n)))


def _isinf(n: Node) -> Node:
    return _eq(_maximum(n, _neg(n)), _c(float("inf"), n))


def _abs(n: Node) -> Node:
    return _where(_lt(n, _c(0, n)), _neg(n), n)


# ---- sum, mean, prod ----

def _sum_node(n: Node, axes: tuple, dtype: dt.DType) -> Node:
    """SUM of `n` over `axes` as `dtype` (cast first; halves accumulate in float32), axes kept."""
    x = cast_node(cast_node(n, dtype), _acc(dtype))
    return cast_node(_reduce(x, Op.SUM, axes), dtype)


def sum(input: Tensor, dim: Dims = None, keepdim: bool = False, *,  # noqa: A001 - PyTorch's name
        dtype: dt.DType | None = None) -> Tensor:
    """Sum over `dim` (an int, a tuple, or None/() for all); ints and bool give int64."""
    n = input.node
    shape = n.shape
    if dtype is None and (n.dtype is dt.float32 or n.dtype is dt.float64) and shape:
        if type(dim) is int:
            # one float axis: the general path's nodes (no casts, one SUM, a RESHAPE unless keepdim)
            axis = normalize_dim(dim, len(shape))
            before, after = shape[:axis], shape[axis + 1:]
            s = make_known(_SUM, (n,), (axis,), n.dtype, before + (1,) + after)
            if keepdim:
                return wrap(s)
            return wrap(make_known(_RESHAPE, (s,), before + after, n.dtype, before + after))
        if dim is None and not keepdim:  # every axis: one SUM, a RESHAPE to 0-d
            s = make_known(_SUM, (n,), tuple(range(len(shape))), n.dtype, (1,) * len(shape))
            return wrap(make_known(_RESHAPE, (s,), (), n.dtype, ()))
    axes = _axes(shape, _dim_tuple(dim, "sum"))
    out = dtype or _widen(input.dtype)
    return wrap(_reshape(_sum_node(input.node, axes, out), _out_shape(shape, axes, keepdim)))


def nansum(input: Tensor, dim: Dims = None, keepdim: bool = False, *, dtype: dt.DType | None = None) -> Tensor:
    """Sum treating nan as zero."""
    n = input.node
    if n.dtype.is_floating_point:
        n = _where(_isnan(n), _c(0.0, n), n)
    shape = input.node.shape
    axes = _axes(shape, _dim_tuple(dim, "nansum"))
    out = dtype or _widen(input.dtype)
    return wrap(_reshape(_sum_node(n, axes, out), _out_shape(shape, axes, keepdim)))


def _mean_dtype(name: str, input: Tensor, dtype) -> dt.DType:
    if dtype is not None:
        if not dtype.is_floating_point:
            raise RuntimeError(f"{name}(): could not infer output dtype. Optional dtype must be either a floating "
                               f"point or complex dtype. Got: {_torch_name(dtype)}")
        return dtype
    if not input.dtype.is_floating_point:
        raise RuntimeError(f"{name}(): could not infer output dtype. Input dtype must be either a floating point "
                           f"or complex dtype. Got: {_torch_name(input.dtype)}")
    return input.dtype


def _mean_node(x: Node, axes: tuple) -> Node:
    """Mean over `axes` of a float node, axes kept (0 elements give nan: 0 * (1/0))."""
    s = _reduce(x, Op.SUM, axes)
    return _mul(s, _recip(const(_count(x.shape, axes), x.dtype, s.shape)))


def mean(input: Tensor, dim: Dims = None, keepdim: bool = False, *, dtype: dt.DType | None = None) -> Tensor:
    """Arithmetic mean over `dim`; floats only (pass dtype= for integer input)."""
    out = _mean_dtype("mean", input, dtype)
    shape = input.node.shape
    axes = _axes(shape, _dim_tuple(dim, "mean"))
    x = cast_node(cast_node(input.node, out), _acc(out))
    return wrap(cast_node(_reshape(_mean_node(x, axes), _out_shape(shape, axes, keepdim)), out))


def nanmean(input: Tensor, dim: Dims = None, keepdim: bool = False, *, dtype: dt.DType | None = None) -> Tensor:
    """Mean of the non-nan elements (nan where there are none)."""
    if not input.dtype.is_floating_point:
        raise RuntimeError(f"nanmean(): expected input to have floating point or complex dtype but got "
                           f"{_torch_name(input.dtype)}")
    out = _mean_dtype("nanmean", input, dtype)
    shape = input.node.shape
    axes = _axes(shape, _dim_tuple(dim, "nanmean"))
    x = cast_node(cast_node(input.node, out), _acc(out))
    keep = _not(_isnan(x))
    total = _reduce(_where(keep, x, _c(0.0, x)), Op.SUM, axes)
    count = _reduce(cast_node(keep, x.dtype), Op.SUM, axes)
    return wrap(cast_node(_reshape(_mul(total, _recip(count)), _out_shape(shape, axes, keepdim)), out))


def prod(input: Tensor, dim: int | None = None, keepdim: bool = False, *, dtype: dt.DType | None = None) -> Tensor:
    """Product of all elements, or over one int `dim`; ints and bool give int64."""
    shape = input.node.shape
    axes = _axes(shape, None if dim is None else (_int_dim(dim, "prod"),))
    out = dtype or _widen(input.dtype)
    x = cast_node(cast_node(input.node, out), _acc(out))
    r = cast_node(_reduce(x, Op.PROD, axes), out)
    return wrap(_reshape(r, _out_shape(shape, axes, keepdim and dim is not None)))


# ---- max, min and their indices ----

def _extreme(n: Node, axes: tuple, largest: bool) -> Node:
    """max (or min) over `axes`, kept as size 1; nan wins either way."""
    if largest:
        return _reduce(n, Op.MAX_REDUCE, axes)
    if n.dtype.is_floating_point:
        return _neg(_reduce(_neg(n), Op.MAX_REDUCE, axes))
    # ~x reverses the order of every integer type (and is `not` for bool), without overflow
    return _not(_reduce(_not(n), Op.MAX_REDUCE, axes))


def _first_index(n: Node, m: Node, axis: int) -> Node:
    """The first index along `axis` where `n` equals the kept extreme `m` (or is nan), axis kept."""
    size = n.shape[axis]
    hit = _eq(n, expand_node(m, n.shape))
    if n.dtype.is_floating_point:
        hit = make(Op.OR, (hit, _isnan(n)))  # a nan anywhere is the extreme; the first one wins
    from lazytensor.creation import iota
    # size-1-i for index i: the largest of these among the hits belongs to the first hit
    ramp = make(Op.FLIP, (iota(size, dt.int64).node,), (0,))
    ramp = expand_node(_reshape(ramp, tuple(size if i == axis else 1 for i in range(len(n.shape)))), n.shape)
    best = _reduce(_where(hit, ramp, _c(0, ramp)), Op.MAX_REDUCE, (axis,))
    return _sub(_c(size - 1, best), best)


def _check_nonempty(name: str, shape: tuple, axes: tuple, all_dims: bool) -> None:
    """PyTorch's errors for a max-like reduction (no identity) over nothing."""
    if all_dims and math.prod(shape) == 0:
        raise RuntimeError(f"{name}(): Expected reduction dim to be specified for input.numel() == 0. "
                           f"Specify the reduction dim with the 'dim' argument.")
    for a in axes:
        if shape[a] == 0:
            raise IndexError(f"{name}(): Expected reduction dim {a} to have non-zero size.")


def _with_indices(input: Tensor, dim, keepdim: bool, largest: bool, name: str, cls: type):
    d = _int_dim(dim, name)
    shape = input.node.shape
    n = input.node
    if not shape:  # a 0-d tensor is its own extreme, at index 0
        normalize_dim(d, 0)
        return cls((wrap(n), wrap(const(0, dt.int64))))
    axis = normalize_dim(d, len(shape))
    _check_nonempty(name, shape, (axis,), False)
    m = _extreme(n, (axis,), largest)
    out_shape = _out_shape(shape, (axis,), keepdim)
    return cls((wrap(_reshape(m, out_shape)), wrap(_reshape(_first_index(n, m, axis), out_shape))))


def max(input: Tensor, dim: int | Tensor | None = None, keepdim: bool = False, *,  # noqa: A001
        other: Tensor | None = None) -> Tensor | tuple:
    """The largest element; with an int `dim`, (values, indices) along it; with a tensor, `maximum`."""
    if isinstance(dim, Tensor) or other is not None:
        return maximum(input, dim if isinstance(dim, Tensor) else other)
    if dim is None:
        return amax(input) if not keepdim else _bad_keepdim("max")
    return _with_indices(input, dim, keepdim, True, "max", _MaxResult)


def min(input: Tensor, dim: int | Tensor | None = None, keepdim: bool = False, *,  # noqa: A001
        other: Tensor | None = None) -> Tensor | tuple:
    """The smallest element; with an int `dim`, (values, indices) along it; with a tensor, `minimum`."""
    if isinstance(dim, Tensor) or other is not None:
        return minimum(input, dim if isinstance(dim, Tensor) else other)
    if dim is None:
        return amin(input) if not keepdim else _bad_keepdim("min")
    return _with_indices(input, dim, keepdim, False, "min", _MinResult)


def _bad_keepdim(name: str):
    raise TypeError(f"{name}() received an invalid combination of arguments: keepdim needs an int dim")


def _amax_amin(input: Tensor, dim, keepdim: bool, largest: bool, name: str) -> Tensor:
    shape = input.node.shape
    dims = _dim_tuple(dim, name)
    axes = _axes(shape, dims)
    _check_nonempty(name, shape, axes, not dims)
    return wrap(_reshape(_extreme(input.node, axes, largest), _out_shape(shape, axes, keepdim)))


def amax(input: Tensor, dim: Dims = (), keepdim: bool = False) -> Tensor:
    """Maximum over `dim` (an int or tuple; () or None for all); nan wins."""
    return _amax_amin(input, dim, keepdim, True, "amax")


def amin(input: Tensor, dim: Dims = (), keepdim: bool = False) -> Tensor:
    """Minimum over `dim` (an int or tuple; () or None for all); nan wins."""
    return _amax_amin(input, dim, keepdim, False, "amin")


def aminmax(input: Tensor, *, dim: int | None = None, keepdim: bool = False) -> tuple:
    """(min, max) over one int `dim`, or over everything."""
    shape = input.node.shape
    axes = _axes(shape, None if dim is None else (_int_dim(dim, "aminmax"),))
    if dim is None and math.prod(shape) == 0:
        raise RuntimeError("aminmax(): cannot compute aminmax over an empty dimension as the operation has no "
                           "identity.")
    for a in axes:
        if shape[a] == 0:
            raise IndexError(f"aminmax: Expected reduction dim {a} to have non-zero size.")
    out_shape = _out_shape(shape, axes, keepdim)
    lo, hi = (_reshape(_extreme(input.node, axes, big), out_shape) for big in (False, True))
    return _AminmaxResult((wrap(lo), wrap(hi)))


def _arg(input: Tensor, dim, keepdim: bool, largest: bool, name: str) -> Tensor:
    if input.dtype is dt.bool_:
        raise RuntimeError(f"{name}(): does not support bool input")
    shape = input.node.shape
    n = input.node
    if dim is None:
        if math.prod(shape) == 0:
            raise IndexError(f"{name}(): Expected reduction dim to be specified for input.numel() == 0.")
        # the index into the flattened tensor
        flat = _reshape(n, (math.prod(shape),))
        idx = _first_index(flat, _extreme(flat, (0,), largest), 0)
        return wrap(_reshape(idx, (1,) * len(shape) if keepdim else ()))
    d = _int_dim(dim, name)
    if not shape:
        normalize_dim(d, 0)
        return wrap(const(0, dt.int64))
    axis = normalize_dim(d, len(shape))
    _check_nonempty(name, shape, (axis,), False)
    idx = _first_index(n, _extreme(n, (axis,), largest), axis)
    return wrap(_reshape(idx, _out_shape(shape, (axis,), keepdim)))


def argmax(input: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor:
    """Index of the first maximum (a nan counts as the maximum); over the flattened tensor without `dim`."""
    return _arg(input, dim, keepdim, True, "argmax")


def argmin(input: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor:
    """Index of the first minimum (a nan counts as the minimum); over the flattened tensor without `dim`."""
    return _arg(input, dim, keepdim, False, "argmin")


# ---- var, std ----

def _correction(name: str, dim, unbiased, correction):
    """(dim, correction) from PyTorch's overloads: var(x, unbiased), var(x, dim, unbiased), correction=."""
    if isinstance(dim, bool):  # var(x, True): the old (input, unbiased) overload
        if unbiased is not None:
            raise TypeError(f"{name}() received an invalid combination of arguments - got (Tensor, bool, bool)")
        dim, unbiased = None, dim
    if unbiased is not None and correction is not None:
        raise TypeError(f"{name}() received an invalid combination of arguments: pass 'correction' or "
                        f"'unbiased', not both")
    if correction is None:
        correction = 0 if unbiased is False else 1
    return dim, correction


def _var_parts(input: Tensor, dim, unbiased, keepdim, correction, name: str, kind: str):
    """(variance, mean) nodes in the accumulation dtype with the output shape, and the output dtype."""
    if not input.dtype.is_floating_point:
        what = "std and var" if kind in ("var", "std") else kind
        raise RuntimeError(f"{what} only support floating point and complex dtypes")
    dim, correction = _correction(name, dim, unbiased, correction)
    shape = input.node.shape
    axes = _axes(shape, _dim_tuple(dim, name))
    x = cast_node(input.node, _acc(input.dtype))
    m = _mean_node(x, axes)
    dev = _sub(x, expand_node(m, shape))
    ss = _reduce(_mul(dev, dev), Op.SUM, axes)
    count = _count(shape, axes)
    dof = builtins.max(0, count - correction)
    if dof <= 0:
        warnings.warn(f"{name}(): degrees of freedom is <= 0. Correction should be strictly less than the "
                      f"reduction factor (input numel divided by output numel).", UserWarning, stacklevel=3)
    v = _mul(ss, _recip(const(dof, x.dtype, ss.shape)))  # dof 0 gives inf (or nan for 0/0), as torch
    out_shape = _out_shape(shape, axes, keepdim)
    return _reshape(v, out_shape), _reshape(m, out_shape), input.dtype


def var(input: Tensor, dim: Dims = None, unbiased: bool | None = None, keepdim: bool = False, *,
        correction: float | None = None) -> Tensor:
    """Variance over `dim` with `correction` (1, Bessel's, by default; `unbiased=False` means 0)."""
    v, _, out = _var_parts(input, dim, unbiased, keepdim, correction, "var", "var")
    return wrap(cast_node(v, out))


def std(input: Tensor, dim: Dims = None, unbiased: bool | None = None, keepdim: bool = False, *,
        correction: float | None = None) -> Tensor:
    """Standard deviation over `dim` (the square root of `var`)."""
    v, _, out = _var_parts(input, dim, unbiased, keepdim, correction, "std", "std")
    return wrap(cast_node(make(Op.SQRT, (v,)), out))


def var_mean(input: Tensor, dim: Dims = None, unbiased: bool | None = None, keepdim: bool = False, *,
             correction: float | None = None) -> tuple:
    """(var, mean) over `dim`, as a plain tuple."""
    v, m, out = _var_parts(input, dim, unbiased, keepdim, correction, "var_mean", "var_mean")
    return wrap(cast_node(v, out)), wrap(cast_node(m, out))


def std_mean(input: Tensor, dim: Dims = None, unbiased: bool | None = None, keepdim: bool = False, *,
             correction: float | None = None) -> tuple:
    """(std, mean) over `dim`, as a plain tuple."""
    v, m, out = _var_parts(input, dim, unbiased, keepdim, correction, "std_mean", "std_mean")
    return wrap(cast_node(make(Op.SQRT, (v,)), out)), wrap(cast_node(m, out))


# ---- all, any, count_nonzero ----

def _logical_reduce(input: Tensor, dim, keepdim: bool, op: Op, name: str) -> Tensor:
    out = dt.uint8 if input.dtype is dt.uint8 else dt.bool_
    b = _truthy(input.node)
    dims = _dim_tuple(dim, name)
    shape = input.node.shape
    if dims == ():  # PyTorch reduces nothing for an explicit empty dim list here
        return wrap(cast_node(b, out))
    axes = _axes(shape, dims)
    # SUM over bool is `or`, PROD is `and`: both have an identity, so empty reductions work
    return wrap(cast_node(_reshape(_reduce(b, op, axes), _out_shape(shape, axes, keepdim)), out))


def all(input: Tensor, dim: Dims = None, keepdim: bool = False) -> Tensor:  # noqa: A001
    """True where every element (over `dim`) is nonzero; uint8 input gives uint8, as PyTorch."""
    return _logical_reduce(input, dim, keepdim, Op.PROD, "all")


def any(input: Tensor, dim: Dims = None, keepdim: bool = False) -> Tensor:  # noqa: A001
    """True where some element (over `dim`) is nonzero; uint8 input gives uint8, as PyTorch."""
    return _logical_reduce(input, dim, keepdim, Op.SUM, "any")


def count_nonzero(input: Tensor, dim: Dims = None) -> Tensor:
    """How many elements (over `dim`) are nonzero, as int64."""
    shape = input.node.shape
    axes = _axes(shape, _dim_tuple(dim, "count_nonzero"))
    ones = cast_node(_truthy(input.node), dt.int64)
    return wrap(_reshape(_reduce(ones, Op.SUM, axes), _out_shape(shape, axes, False)))


# ---- logsumexp, softmax ----

def _float_out(d: dt.DType) -> dt.DType:
    return d if d.is_floating_point else get_default_dtype()


def logsumexp(input: Tensor, dim: Dims, keepdim: bool = False) -> Tensor:
    """log(sum(exp(input))) over `dim`, computed stably (the max is subtracted first)."""
    out = _float_out(input.dtype)
    shape = input.node.shape
    axes = _axes(shape, _dim_tuple(dim, "logsumexp"))
    out_shape = _out_shape(shape, axes, keepdim)
    x = cast_node(input.node, _acc(out))
    if _count(shape, axes) == 0:  # the sum of nothing is 0, its log -inf (and MAX has no identity)
        return wrap(const(float("-inf"), out, out_shape))
    m = _extreme(x, axes, True)
    # an infinite max would make x - m nan; shifting by 0 then gives inf or -inf, as PyTorch
    m = _where(_isinf(m), _c(0.0, m), m)
    s = _reduce(_exp(_sub(x, expand_node(m, shape))), Op.SUM, axes)
    return wrap(cast_node(_reshape(_add(_log(s), m), out_shape), out))


def _softmax_input(input: Tensor, dim, dtype, name: str) -> tuple[Node, int]:
    n = input.node if dtype is None else cast_node(input.node, dtype)
    if not n.dtype.is_floating_point and n.size:  # torch checks the dtype only where a kernel runs
        raise NotImplementedError(f"\"{name}_kernel_impl\" not implemented for '{_torch_name(n.dtype)}'")
    axis = normalize_dim(_int_dim(dim, name), len(n.shape))
    return n, axis


def _shifted(x: Node, axis: int) -> Node:
    """x minus its max along `axis` (so exp never overflows)."""
    return _sub(x, expand_node(_reduce(x, Op.MAX_REDUCE, (axis,)), x.shape))


def softmax(input: Tensor, dim: int, dtype: dt.DType | None = None) -> Tensor:
    """exp(x) / sum(exp(x)) along `dim`, stable; `dtype` casts the input first."""
    n, axis = _softmax_input(input, dim, dtype, "softmax")
    if n.size == 0:
        return wrap(n)
    x = cast_node(_reshape(n, (1,)) if not n.shape else n, _acc(n.dtype))
    e = _exp(_shifted(x, axis))
    r = _mul(e, expand_node(_recip(_reduce(e, Op.SUM, (axis,))), e.shape))
    return wrap(cast_node(_reshape(r, n.shape), n.dtype))


def log_softmax(input: Tensor, dim: int, dtype: dt.DType | None = None) -> Tensor:
    """x - logsumexp(x) along `dim`, stable; `dtype` casts the input first."""
    n, axis = _softmax_input(input, dim, dtype, "log_softmax")
    if n.size == 0:
        return wrap(n)
    x = cast_node(_reshape(n, (1,)) if not n.shape else n, _acc(n.dtype))
    z = _shifted(x, axis)
    r = _sub(z, expand_node(_log(_reduce(_exp(z), Op.SUM, (axis,))), z.shape))
    return wrap(cast_node(_reshape(r, n.shape), n.dtype))


# ---- cumsum, cumprod ----
#
# There is no scan primitive. A scan of length k can be written as one reduction: expand the
# row to a k x k square, keep the lower triangle (column j <= row i; the identity elsewhere) and
# reduce each row. That costs k*k elements, so long scans are blocked, b-ary:
#   1. pad the length to a multiple of B and split it into rows of B;
#   2. scan each row with the triangle (n*B elements);
#   3. scan the row totals (the last column), recursively: n/B elements, so n/B*B more;
#   4. combine each row with the total of all rows before it (the scanned totals shifted by one).
# Memory is O(n*B) over all levels (with B = 16 here: a 16x overhead, against n*sqrt(n) for
# a two-level split) and the graph depth O(log_B n). Padding sits past the end and only reaches
# positions that are cut off, so zero padding serves both + and *. Integer results are exact
# (wrapping + and * are associative); float results differ from a sequential scan only by
# rounding order.

_SCAN_DIRECT = 32  # scan lengths up to this use one triangle
_SCAN_BLOCK = 16   # longer scans are split into rows of this many


def _triangle_scan(x: Node, op: Op) -> Node:
    """Inclusive scan along the last axis by a masked square: O(k*k) for length k."""
    from lazytensor.creation import iota
    *lead, k = x.shape
    lead = tuple(lead)
    square = lead + (k, k)
    ramp = iota(k, dt.int64).node
    rows = expand_node(_reshape(ramp, (k, 1)), (k, k))
    cols = expand_node(_reshape(ramp, (1, k)), (k, k))
    keep = expand_node(_not(_lt(rows, cols)), square)  # column <= row
    values = expand_node(_reshape(x, lead + (1, k)), square)
    identity = 0 if op is Op.SUM else 1
    masked = _where(keep, values, const(identity, x.dtype, square))
    return _reshape(make(op, (masked,), (len(square) - 1,)), x.shape)


def _scan_last(x: Node, op: Op) -> Node:
    """Inclusive scan (+ or *) along the last axis: blocked and recursive, see above."""
    *lead, n = x.shape
    lead = tuple(lead)
    if n <= _SCAN_DIRECT:
        return _triangle_scan(x, op)
    b = _SCAN_BLOCK
    rows = -(-n // b)
    padded = x if rows * b == n else make(Op.PAD, (x,), tuple((0, 0) for _ in lead) + ((0, rows * b - n),))
    inner = _triangle_scan(_reshape(padded, lead + (rows, b)), op)  # (..., rows, b)
    full = tuple((0, d) for d in lead)
    totals = _reshape(make(Op.SHRINK, (inner,), full + ((0, rows), (b - 1, b))), lead + (rows,))
    running = _scan_last(totals, op)
    # the total of the rows before each row: shift right by one, the identity in front
    before = make(Op.PAD, (make(Op.SHRINK, (running,), full + ((0, rows - 1),)),), tuple((0, 0) for _ in lead)
                  + ((1, 0),))
    if op is Op.PROD:
        one = make(Op.PAD, (const(1, x.dtype, lead + (1,)),), tuple((0, 0) for _ in lead) + ((0, rows - 1),))
        before = _add(before, one)
    before = expand_node(_reshape(before, lead + (rows, 1)), lead + (rows, b))
    combined = make(Op.ADD if op is Op.SUM else Op.MUL, (inner, before))
    flat = _reshape(combined, lead + (rows * b,))
    return flat if rows * b == n else make(Op.SHRINK, (flat,), full + ((0, n),))


def _scan(input: Tensor, dim, dtype, op: Op, name: str) -> Tensor:
    d = _int_dim(dim, name)
    shape = input.node.shape
    axis = normalize_dim(d, len(shape))
    out = dtype or _widen(input.dtype)
    if out is dt.bool_ and shape and input.node.size:  # torch checks the dtype only where a kernel runs
        raise NotImplementedError(f"\"{name}_out_cpu\" not implemented for 'Bool'")
    x = cast_node(cast_node(input.node, out), _acc(out))
    if not shape or shape[axis] <= 1 or x.size == 0:
        return wrap(cast_node(x, out))
    last = len(shape) - 1
    if axis != last:
        order = tuple(i for i in range(len(shape)) if i != axis) + (axis,)
        x = make(Op.PERMUTE, (x,), order)
    r = _scan_last(x, op)
    if axis != last:
        inverse = tuple(sorted(range(len(order)), key=lambda i: order[i]))
        r = make(Op.PERMUTE, (r,), inverse)
    return wrap(cast_node(r, out))


def cumsum(input: Tensor, dim: int, *, dtype: dt.DType | None = None) -> Tensor:
    """Running sums along `dim`; ints and bool give int64."""
    return _scan(input, dim, dtype, Op.SUM, "cumsum")


def cumprod(input: Tensor, dim: int, *, dtype: dt.DType | None = None) -> Tensor:
    """Running products along `dim`; ints and bool give int64."""
    return _scan(input, dim, dtype, Op.PROD, "cumprod")


def _inplace_scan(fn):
    def method(self: Tensor, dim: int, *, dtype: dt.DType | None = None) -> Tensor:
        if dtype is not None and dtype is not self.dtype:
            raise RuntimeError(f"Bad in-place call: input tensor dtype {self.dtype.name} and output tensor dtype "
                               f"{dtype.name} should match")
        return assign(self, fn(self, dim, dtype=dtype).node)
    method.__name__ = fn.__name__ + "_"
    method.__doc__ = f"In-place {fn.__name__}."
    return method


# ---- norm ----

def _format_p(p) -> str:
    return str(int(p)) if isinstance(p, float) and p.is_integer() else str(p)


def _vector_norm(input: Tensor, p: float, dim, keepdim: bool, dtype) -> Tensor:
    """PyTorch's linalg.vector_norm: (sum |x|^p)^(1/p) over `dim`, with the inf, -inf and 0 cases."""
    if not input.dtype.is_floating_point:
        raise RuntimeError(f"linalg.vector_norm: Expected a floating point or complex tensor as input. Got "
                           f"{_torch_name(input.dtype)}")
    if dtype is not None and not dtype.is_floating_point:
        raise RuntimeError(f"linalg.vector_norm: dtype should be floating point or complex, but got "
                           f"{_torch_name(dtype)}")
    out = dtype or input.dtype
    shape = input.node.shape
    dims = _dim_tuple(dim, "linalg.vector_norm")
    axes = _axes(shape, dims)
    p = float(p)
    if p < 0 or p == math.inf:  # no identity: an empty reduction has no answer
        if not dims and math.prod(shape) == 0:
            raise RuntimeError(f"linalg.vector_norm cannot compute the {_format_p(p)} norm on an empty tensor "
                               f"because the operation does not have an identity")
        for a in axes:
            if shape[a] == 0:
                raise RuntimeError(f"linalg.vector_norm cannot compute the {_format_p(p)} norm on the dimension "
                                   f"{a} because this dimension is empty and the operation does not have an "
                                   f"identity")
    x = _abs(cast_node(cast_node(input.node, out), _acc(out)))
    if p == math.inf:
        r = _extreme(x, axes, True)
    elif p == -math.inf:
        r = _extreme(x, axes, False)
    elif p == 0:
        r = _reduce(cast_node(_truthy(x), x.dtype), Op.SUM, axes)
    elif p == 1:
        r = _reduce(x, Op.SUM, axes)
    elif p == 2:
        r = make(Op.SQRT, (_reduce(_mul(x, x), Op.SUM, axes),))
    else:
        s = _reduce(_pow(x, _c(p, x)), Op.SUM, axes)
        r = _pow(s, _c(1.0 / p, s))
    return wrap(cast_node(_reshape(r, _out_shape(shape, axes, keepdim)), out))


def norm(input: Tensor, p: float | str | None = "fro", dim: Dims = None, keepdim: bool = False, out=None,
         dtype: dt.DType | None = None) -> Tensor:
    """The vector p-norm over `dim` (p a number, inf, -inf, or 'fro' for the 2-norm); 'nuc' is unsupported."""
    if out is not None:
        raise TypeError("norm(): out= is not supported by lazytensor (results are new tensors)")
    if p is None:
        p = 2.0
    if isinstance(p, str):
        dims = _dim_tuple(dim, "norm")
        if p == "fro" and (dims is None or len(dims) <= 2):
            return _vector_norm(input, 2.0, dim, keepdim, dtype)
        if p == "nuc":
            raise NotImplementedError("norm(p='nuc'): the nuclear norm needs singular values, which lazytensor "
                                      "does not compute")
        if p != "fro":
            raise RuntimeError(f"linalg.matrix_norm: Order {p} not supported.")
        raise RuntimeError(f"linalg.matrix_norm: dim must be a 2-tuple. Got {' '.join(str(d) for d in dims)}")
    return _vector_norm(input, p, dim, keepdim, dtype)


# ---- Tensor methods ----

for _f in (sum, nansum, mean, nanmean, prod, max, min, amax, amin, aminmax, argmax, argmin, var, std, all, any,
           logsumexp, cumsum, cumprod, softmax, log_softmax, count_nonzero, norm):
    setattr(Tensor, _f.__name__, _f)
Tensor.cumsum_ = _inplace_scan(cumsum)
Tensor.cumprod_ = _inplace_scan(cumprod)
