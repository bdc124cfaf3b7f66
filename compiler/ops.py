"""The primitive ops and their registry: one row per primitive.

A row holds the primitive's shape rule, dtype rule and numpy reference (the oracle every backend
is checked against). Later layers fill the other cells of the same row: `grad` (autodiff),
`llvm` and `cuda` (lowerings). `tests/compiler/test_ops.py` fails where a row has an empty cell
that its layer requires.

Conventions every backend follows:
- CONST has shape () and holds a Python scalar; EXPAND/RESHAPE broadcast it.
- Reductions (SUM, PROD, MAX_REDUCE) keep reduced axes as size 1 (`arg` = the axes).
- IDIV and MOD truncate toward zero (C semantics); the Tensor layer builds Python's floor rules.
- RAND(seed, offset) gives uniform [0, 1) floats from a counter-based hash of each element's
  flat index, so random numbers are lazy, fusable and equal on every backend.
"""
from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from . import dtypes as dt
from .ir import IRError, Node, _table, node, site, user_site


class Op(enum.Enum):
    __hash__ = object.__hash__  # identity: Enum's default hashes the name in Python, on every lookup

    # sources
    BUFFER = enum.auto()
    CONST = enum.auto()
    RAND = enum.auto()
    # unary
    NEG = enum.auto()
    EXP2 = enum.auto()
    LOG2 = enum.auto()
    SIN = enum.auto()
    COS = enum.auto()
    SQRT = enum.auto()
    RECIP = enum.auto()
    TRUNC = enum.auto()
    CAST = enum.auto()
    NOT = enum.auto()
    # binary
    ADD = enum.auto()
    DIV = enum.auto()
    MUL = enum.auto()
    MAX = enum.auto()
    CMPLT = enum.auto()
    CMPEQ = enum.auto()
    IDIV = enum.auto()
    MOD = enum.auto()
    AND = enum.auto()
    OR = enum.auto()
    XOR = enum.auto()
    # ternary
    WHERE = enum.auto()
    # reductions
    SUM = enum.auto()
    PROD = enum.auto()
    MAX_REDUCE = enum.auto()
    # movement (views: they never copy)
    RESHAPE = enum.auto()
    PERMUTE = enum.auto()
    EXPAND = enum.auto()
    PAD = enum.auto()
    SHRINK = enum.auto()
    FLIP = enum.auto()
    # indexed load along one axis (torch.gather)
    GATHER = enum.auto()
    # barrier: the value is materialized in its own buffer
    CONTIGUOUS = enum.auto()


UNARY = {Op.NEG, Op.EXP2, Op.LOG2, Op.SIN, Op.COS, Op.SQRT, Op.RECIP, Op.TRUNC, Op.CAST, Op.NOT}
BINARY = {Op.ADD, Op.DIV, Op.MUL, Op.MAX, Op.CMPLT, Op.CMPEQ, Op.IDIV, Op.MOD, Op.AND, Op.OR, Op.XOR}
ELEMENTWISE = UNARY | BINARY | {Op.WHERE}
REDUCE = {Op.SUM, Op.PROD, Op.MAX_REDUCE}
MOVEMENT = {Op.RESHAPE, Op.PERMUTE, Op.EXPAND, Op.PAD, Op.SHRINK, Op.FLIP}
SOURCES = {Op.BUFFER, Op.CONST, Op.RAND}


@dataclass
class Primitive:
    """One registry row."""
    op: Op
    arity: int
    shape: Callable  # (src shapes, arg) -> output shape; raises IRError when the inputs are wrong
    dtype: Callable  # (src dtypes, arg) -> output dtype; raises IRError when the inputs are wrong
    numpy: Callable  # (src arrays, node) -> output array
    grad: Any = None  # filled by the autodiff layer
    llvm: Any = None  # filled by the LLVM backend
    cuda: Any = None  # filled by the CUDA backend
    doc: str = ""
    extra: dict = field(default_factory=dict)


REGISTRY: dict[Op, Primitive] = {}


def _row(op, arity, shape, dtype, numpy, doc):
    REGISTRY[op] = Primitive(op, arity, shape, dtype, numpy, doc=doc)


# ---- shape rules ----

def _same_shape(shapes, arg):
    for s in shapes[1:]:
        if s != shapes[0]:
            raise IRError(f"operand shapes differ: {shapes[0]} vs {s}")
    return shapes[0]


def _reduce_shape(shapes, axes):
    (s,) = shapes
    if not all(0 <= a < len(s) for a in axes) or len(set(axes)) != len(axes):
        raise IRError(f"bad reduction axes {axes} for shape {s}")
    return tuple(1 if i in axes else d for i, d in enumerate(s))


def _reshape_shape(shapes, new):
    (s,) = shapes
    if math.prod(s) != math.prod(new) or any(d < 0 for d in new):
        raise IRError(f"reshape {s} -> {new} changes the element count")
    return tuple(new)


def _permute_shape(shapes, order):
    (s,) = shapes
    if sorted(order) != list(range(len(s))):
        raise IRError(f"{order} is not a permutation of {len(s)} axes")
    return tuple(s[i] for i in order)


def _expand_shape(shapes, new):
    (s,) = shapes
    if len(new) != len(s) or any(a != b and a != 1 for a, b in zip(s, new)):
        raise IRError(f"cannot expand {s} to {new}")
    return tuple(new)


def _pad_shape(shapes, pads):
    (s,) = shapes
    if len(pads) != len(s) or any(lo < 0 or hi < 0 for lo, hi in pads):
        raise IRError(f"bad padding {pads} for shape {s}")
    return tuple(d + lo + hi for d, (lo, hi) in zip(s, pads))


def _shrink_shape(shapes, bounds):
    (s,) = shapes
    if len(bounds) != len(s) or any(not (0 <= b <= e <= d) for d, (b, e) in zip(s, bounds)):
        raise IRError(f"bad shrink {bounds} for shape {s}")
    return tuple(e - b for b, e in bounds)


def _flip_shape(shapes, axes):
    (s,) = shapes
    if not all(0 <= a < len(s) for a in axes):
        raise IRError(f"bad flip axes {axes} for shape {s}")
    return s


def _gather_shape(shapes, axis):
    src, idx = shapes
    if len(src) != len(idx) or not 0 <= axis < len(src):
        raise IRError(f"gather needs equal ranks: {src} vs {idx}")
    if any(i > d for k, (d, i) in enumerate(zip(src, idx)) if k != axis):
        raise IRError(f"gather index shape {idx} exceeds source {src} off axis {axis}")
    return idx


def _where_shape(shapes, arg):
    return _same_shape(shapes, arg)


# ---- dtype rules ----

def _same_dtype(dtypes, arg):
    for d in dtypes[1:]:
        if d is not dtypes[0]:
            raise IRError(f"operand dtypes differ: {dtypes[0].name} vs {d.name}")
    return dtypes[0]


def _float_only(dtypes, arg):
    if not dtypes[0].is_floating_point:
        raise IRError(f"needs a float operand, got {dtypes[0].name}")
    return dtypes[0]


def _float_binary(dtypes, arg):
    return _float_only((_same_dtype(dtypes, arg),), arg)


def _int_only(dtypes, arg):
    d = _same_dtype(dtypes, arg)
    if d.category not in ("int", "uint", "bool"):
        raise IRError(f"needs integer or bool operands, got {d.name}")
    return d


def _compare(dtypes, arg):
    _same_dtype(dtypes, arg)
    return dt.bool_


def _where_dtype(dtypes, arg):
    if dtypes[0] is not dt.bool_:
        raise IRError(f"WHERE condition must be bool, got {dtypes[0].name}")
    return _same_dtype(dtypes[1:], arg)


def _gather_dtype(dtypes, arg):
    if dtypes[1] is not dt.int64 and dtypes[1] is not dt.int32:
        raise IRError(f"gather index must be int64 or int32, got {dtypes[1].name}")
    return dtypes[0]


def _first(dtypes, arg):
    return dtypes[0]


# ---- numpy references ----

def _quiet(fn):
    """Run a numpy reference with IEEE behaviour and no warnings (inf and nan are values here)."""
    def run(xs, n):
        with np.errstate(all="ignore"):
            return fn(xs, n)
    return run


def _np_buffer(xs, n):
    data = n.arg.data
    if data is None:
        raise IRError(f"buffer #{n.arg.uid} has no data")
    return data.view()  # a view, so a caller never mistakes the storage for a fresh result


def _np_const(xs, n):
    return np.array(n.arg, dtype=n.dtype.np_dtype)


def _np_rand(xs, n):
    seed, offset = n.arg
    index = np.arange(n.size, dtype=np.uint64)
    return random_bits_to_float(counter_hash(index + np.uint64(offset), seed), n.dtype).reshape(n.shape)


def counter_hash(counter: np.ndarray, seed: int) -> np.ndarray:
    """The RAND primitive's 64 random bits: output `counter` of a SplitMix64 stream seeded `seed`.

    The state is seed + (counter + 1) * golden, then SplitMix64's finalizer mixes it: every bit of
    the output depends on every bit of seed and counter, so nearby seeds give unrelated streams.
    """
    golden = np.uint64(0x9E3779B97F4A7C15)
    z = np.uint64(seed & 0xFFFFFFFFFFFFFFFF) + (counter.astype(np.uint64) + np.uint64(1)) * golden
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def random_bits_to_float(bits: np.ndarray, dtype: dt.DType) -> np.ndarray:
    """Uniform [0, 1) from 64 random bits: as many top bits as the dtype's significand holds
    (53 for float64, 24 float32, 11 float16, 8 bfloat16), so no value rounds up to 1."""
    if dtype is dt.float64:
        return (bits >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))
    keep = {dt.float16: 11, dt.bfloat16: 8}.get(dtype, 24)
    return ((bits >> np.uint64(64 - keep)).astype(np.float32) * np.float32(1.0 / (1 << keep))).astype(dtype.np_dtype)


class IntegerDivisionByZero(RuntimeError, ZeroDivisionError):
    """An integer division or modulo by zero: PyTorch raises RuntimeError('ZeroDivisionError');
    it is also a ZeroDivisionError, as Python's own `1 // 0` is."""


class IndexOutOfBounds(IndexError, RuntimeError):
    """A GATHER index out of range, found when the graph runs. PyTorch raises IndexError for
    indexing, index_select and embedding, RuntimeError for gather and scatter: it is both."""


def _np_idiv(xs, n):
    a, b = xs
    if n.dtype is dt.bool_:
        return a & b
    if np.any(b == 0):
        raise IntegerDivisionByZero("ZeroDivisionError: integer division by zero")
    q = np.floor_divide(a, b)
    # numpy floors; C (and this primitive) truncates toward zero
    fix = (np.remainder(a, b) != 0) & ((a < 0) != (b < 0))
    return (q + fix.astype(q.dtype)).astype(a.dtype)


def _np_mod(xs, n):
    a, b = xs
    if n.dtype.is_integer and np.any(b == 0):
        raise IntegerDivisionByZero("ZeroDivisionError: integer modulo by zero")
    return np.fmod(a, b).astype(a.dtype)


def _np_gather(xs, n):
    src, idx = xs
    axis = n.arg
    size = src.shape[axis]
    if idx.size and (idx.min() < 0 or idx.max() >= size):
        raise IndexOutOfBounds(f"index {int(idx.max() if idx.max() >= size else idx.min())} is out of bounds "
                         f"for dimension {axis} with size {size}")
    sl = tuple(slice(0, d) if k != axis else slice(None) for k, d in enumerate(idx.shape))
    return np.take_along_axis(src[sl], idx.astype(np.int64), axis=axis)


def _cast(x, dtype):
    if dtype is dt.bool_:
        return x != 0
    if dtype.is_integer and x.dtype.kind == "f":
        # float -> int truncates toward zero like C; out-of-range values are undefined in C,
        # numpy gives the same wrap-around as the x86 backends
        with np.errstate(all="ignore"):
            return np.trunc(x).astype(dtype.np_dtype)
    return x.astype(dtype.np_dtype)


_row(Op.BUFFER, 0, lambda s, a: (a.size,), lambda d, a: a.dtype, _np_buffer,
     "the contents of a Buffer, flat (shape (size,))")
_row(Op.CONST, 0, lambda s, a: (), lambda d, a: d, _np_const,
     "a scalar constant; the node's dtype is given, arg is a Python number")
_row(Op.RAND, 0, lambda s, a: s, lambda d, a: d, _quiet(_np_rand),
     "uniform [0, 1): arg=(seed, counter offset), shape and float dtype given")
_row(Op.NEG, 1, _same_shape, _first, _quiet(lambda x, n: np.negative(x[0])), "-x")
_row(Op.EXP2, 1, _same_shape, _float_only, _quiet(lambda x, n: np.exp2(x[0])), "2**x")
_row(Op.LOG2, 1, _same_shape, _float_only, _quiet(lambda x, n: np.log2(x[0])), "log2(x)")
_row(Op.SIN, 1, _same_shape, _float_only, _quiet(lambda x, n: np.sin(x[0])), "sin(x)")
_row(Op.COS, 1, _same_shape, _float_only, _quiet(lambda x, n: np.cos(x[0])), "cos(x)")
_row(Op.SQRT, 1, _same_shape, _float_only, _quiet(lambda x, n: np.sqrt(x[0])), "sqrt(x)")
_row(Op.RECIP, 1, _same_shape, _float_only,
     _quiet(lambda x, n: np.reciprocal(x[0])), "1/x")
_row(Op.TRUNC, 1, _same_shape, _float_only, _quiet(lambda x, n: np.trunc(x[0])), "round toward zero")
_row(Op.CAST, 1, _same_shape, lambda d, a: a, _quiet(lambda x, n: _cast(x[0], n.arg)), "convert to arg dtype")
_row(Op.NOT, 1, _same_shape, _int_only,
     lambda x, n: np.logical_not(x[0]) if n.dtype is dt.bool_ else np.invert(x[0]), "bitwise / logical not")
_row(Op.ADD, 2, _same_shape, _same_dtype,
     _quiet(lambda x, n: np.logical_or(*x) if n.dtype is dt.bool_ else np.add(*x)), "a + b")
_row(Op.DIV, 2, _same_shape, _float_binary, _quiet(lambda x, n: np.divide(*x)),
     "a / b, IEEE division rounded once (a * (1 / b) can be an ulp off)")
_row(Op.MUL, 2, _same_shape, _same_dtype,
     _quiet(lambda x, n: np.logical_and(*x) if n.dtype is dt.bool_ else np.multiply(*x)), "a * b")
_row(Op.MAX, 2, _same_shape, _same_dtype, _quiet(lambda x, n: np.maximum(*x)), "max(a, b), nan wins")
_row(Op.CMPLT, 2, _same_shape, _compare, _quiet(lambda x, n: np.less(*x)), "a < b")
_row(Op.CMPEQ, 2, _same_shape, _compare, _quiet(lambda x, n: np.equal(*x)), "a == b")
_row(Op.IDIV, 2, _same_shape, _int_only, _quiet(_np_idiv), "integer a / b truncated toward zero")
_row(Op.MOD, 2, _same_shape, _same_dtype, _quiet(_np_mod), "remainder with the sign of a (C fmod)")
_row(Op.AND, 2, _same_shape, _int_only, lambda x, n: np.bitwise_and(*x), "bitwise and")
_row(Op.OR, 2, _same_shape, _int_only, lambda x, n: np.bitwise_or(*x), "bitwise or")
_row(Op.XOR, 2, _same_shape, _int_only, lambda x, n: np.bitwise_xor(*x), "bitwise xor")
_row(Op.WHERE, 3, _where_shape, _where_dtype, lambda x, n: np.where(*x), "c ? a : b")
_row(Op.SUM, 1, _reduce_shape, _first,
     _quiet(lambda x, n: np.sum(x[0], axis=n.arg, keepdims=True, dtype=x[0].dtype)
            if n.dtype is not dt.bool_ else np.any(x[0], axis=n.arg, keepdims=True)), "sum over arg axes")
_row(Op.PROD, 1, _reduce_shape, _first,
     _quiet(lambda x, n: np.prod(x[0], axis=n.arg, keepdims=True, dtype=x[0].dtype)
            if n.dtype is not dt.bool_ else np.all(x[0], axis=n.arg, keepdims=True)), "product over arg axes")
_row(Op.MAX_REDUCE, 1, _reduce_shape, _first,
     _quiet(lambda x, n: np.max(x[0], axis=n.arg, keepdims=True)), "max over arg axes, nan wins")
_row(Op.RESHAPE, 1, _reshape_shape, _first, lambda x, n: np.reshape(x[0], n.arg), "same elements, new shape")
_row(Op.PERMUTE, 1, _permute_shape, _first, lambda x, n: np.transpose(x[0], n.arg), "reorder axes")
_row(Op.EXPAND, 1, _expand_shape, _first, lambda x, n: np.broadcast_to(x[0], n.arg), "broadcast size-1 axes")
_row(Op.PAD, 1, _pad_shape, _first, lambda x, n: np.pad(x[0], n.arg), "zero padding ((lo, hi) per axis)")
_row(Op.SHRINK, 1, _shrink_shape, _first,
     lambda x, n: x[0][tuple(slice(b, e) for b, e in n.arg)], "sub-box ((begin, end) per axis)")
_row(Op.FLIP, 1, _flip_shape, _first, lambda x, n: np.flip(x[0], n.arg), "reverse arg axes")
_row(Op.GATHER, 2, _gather_shape, _gather_dtype, _np_gather,
     "out[..i..] = src[.., idx[..i..], ..] along axis arg, 0 <= idx < size (torch.gather)")
_row(Op.CONTIGUOUS, 1, _same_shape, _first,
     lambda x, n: np.ascontiguousarray(x[0]), "materialize in a fresh buffer")

assert set(REGISTRY) == set(Op), "every primitive needs a registry row"


# ---- a new node's dtype and shape in one call (the hot path of building a graph) ----
#
# `infer(srcs, arg) -> (dtype, shape)` per op: the row's arity check, shape rule and dtype rule
# together. The common ops get a specialized version that handles the usual operands inline and
# hands anything else to the general one, so every result and every error is the row's own.

def _general(row: Primitive) -> Callable:
    op, arity, shape_rule, dtype_rule = row.op, row.arity, row.shape, row.dtype

    def infer(srcs: tuple, arg):
        if len(srcs) != arity:
            raise IRError(f"{op.name} takes {arity} operands, got {len(srcs)}")
        shape = shape_rule([s.shape for s in srcs], arg)
        return dtype_rule([s.dtype for s in srcs], arg), shape
    return infer


def _fast_unary(general, float_only: bool = False, cast: bool = False):
    def infer(srcs, arg):
        if len(srcs) == 1:
            a = srcs[0]
            if cast:
                return arg, a.shape
            d = a.dtype
            if not float_only or d.category == "float":
                return d, a.shape
        return general(srcs, arg)
    return infer


def _fast_binary(general, result=None, float_only: bool = False):
    def infer(srcs, arg):
        if len(srcs) == 2:
            a, b = srcs
            d = a.dtype
            if b.dtype is d and b.shape == a.shape and (not float_only or d.category == "float"):
                return result or d, a.shape
        return general(srcs, arg)
    return infer


def _fast_where(general):
    def infer(srcs, arg):
        if len(srcs) == 3:
            c, a, b = srcs
            if c.dtype is dt.bool_ and b.dtype is a.dtype and a.shape == c.shape and b.shape == c.shape:
                return a.dtype, c.shape
        return general(srcs, arg)
    return infer


def _fast_reduce(general):
    def infer(srcs, axes):
        if len(srcs) == 1 and type(axes) is tuple and len(axes) == 1:
            a = srcs[0]
            s = a.shape
            axis = axes[0]
            if type(axis) is int and 0 <= axis < len(s):
                return a.dtype, s[:axis] + (1,) + s[axis + 1:]
        return general(srcs, axes)
    return infer


def _fast_reshape(general):
    def infer(srcs, new):
        if len(srcs) == 1:
            a = srcs[0]
            if type(new) is tuple and math.prod(new) == math.prod(a.shape) and (not new or min(new) >= 0):
                return a.dtype, tuple(new)
        return general(srcs, new)
    return infer


def _fast_permute(general):
    def infer(srcs, order):
        if len(srcs) == 1:
            a = srcs[0]
            s = a.shape
            if order == (1, 0) and len(s) == 2:  # a matrix transposed
                return a.dtype, (s[1], s[0])
            if type(order) is tuple and len(order) == len(s) and sorted(order) == list(range(len(s))):
                return a.dtype, tuple(map(s.__getitem__, order))
        return general(srcs, order)
    return infer


def _fast_expand(general):
    def infer(srcs, new):
        if len(srcs) == 1:
            a = srcs[0]
            s = a.shape
            if type(new) is tuple and len(new) == len(s):
                for have, want in zip(s, new):
                    if have != want and have != 1:
                        break
                else:
                    return a.dtype, tuple(new)
        return general(srcs, new)
    return infer


def _infer_rule(row: Primitive) -> Callable:
    general = _general(row)
    if row.arity == 1 and row.shape is _same_shape:
        if row.dtype is _first:
            return _fast_unary(general)
        if row.dtype is _float_only:
            return _fast_unary(general, float_only=True)
        if row.op is Op.CAST:
            return _fast_unary(general, cast=True)
    if row.arity == 2 and row.shape is _same_shape:
        if row.dtype is _same_dtype:
            return _fast_binary(general)
        if row.dtype is _compare:
            return _fast_binary(general, result=dt.bool_)
        if row.dtype is _float_binary:
            return _fast_binary(general, float_only=True)
    if row.op is Op.WHERE and row.dtype is _where_dtype:
        return _fast_where(general)
    if row.shape is _reduce_shape and row.dtype is _first:
        return _fast_reduce(general)
    if row.dtype is _first:
        fast = {_reshape_shape: _fast_reshape, _permute_shape: _fast_permute, _expand_shape: _fast_expand}
        if row.shape in fast:
            return fast[row.shape](general)
    return general


INFER: dict[Op, Callable] = {op: _infer_rule(row) for op, row in REGISTRY.items()}
GENERAL_INFER: dict[Op, Callable] = {op: _general(row) for op, row in REGISTRY.items()}  # what INFER must equal
_new = object.__new__


def make(op: Op, srcs: tuple = (), arg: Any = None, dtype: dt.DType | None = None,
         shape: tuple | None = None) -> Node:
    """The node for `op` over `srcs`, typed and shaped by the registry's rules (IRError if broken).

    Sources take `dtype` and `shape` (CONST's shape is always ()); every other op derives both.
    """
    if srcs:
        if type(srcs) is not tuple:
            srcs = tuple(srcs)
        key = (op, srcs, arg)
        n = _table.get(key)
        if n is not None:  # built before: its rules were checked then
            return n
        dtype, shape = INFER[op](srcs, arg)
        # What ir.node would do, without its second lookup of a key just missed. This is the hot
        # path of building every graph: Node.__init__ inlined (the class call cost a third of a node).
        n = _new(Node)
        n.op = op
        n.dtype = dtype
        n.shape = shape
        n.srcs = srcs
        n.arg = arg
        n._loc = site[0] or user_site()
        n._key = None
        _table[key] = n
        return n
    row = REGISTRY[op]
    if row.arity:
        raise IRError(f"{op.name} takes {row.arity} operands, got 0")
    if op is Op.BUFFER:
        return node(op, arg.dtype, (arg.size,), (), arg)
    if op is Op.CONST:
        return node(op, dtype, (), (), arg)
    return node(op, dtype, tuple(shape), (), arg)


def make_known(op: Op, srcs: tuple, arg: Any, dtype: dt.DType, shape: tuple) -> Node:
    """`make(op, srcs, arg)` for a builder that has checked its operands already and passes the
    `dtype` and `shape` the row's rules give (a fast path over known-good shapes: `x @ w`).

    The rules are not run again; tests hold each caller to them (compiler/verify.py checks a graph).
    """
    key = (op, srcs, arg)
    n = _table.get(key)
    if n is not None:
        return n
    # the node built inline, as in make(): a shared helper would add a call to every node built
    n = _new(Node)
    n.op = op
    n.dtype = dtype
    n.shape = shape
    n.srcs = srcs
    n.arg = arg
    n._loc = site[0] or user_site()
    n._key = None
    _table[key] = n
    return n
