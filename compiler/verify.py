"""The IR verifier: checks that a graph obeys every rule the registry and the IR promise.

`verify(outputs)` walks the graph (iteratively: graphs can be deep) and checks each node:
- its fields are well-typed (an `Op`, a `DType`, a shape tuple of Python ints >= 0, a tuple of
  source nodes) and the graph has no cycle;
- its arity and its `arg` fit its op (`arg_problem`): tuples of Python ints for shapes and axes,
  pairs for PAD/SHRINK, a `DType` for CAST, a `Buffer` for BUFFER, `(seed, offset)` for RAND, an
  axis for GATHER, a Python scalar of the dtype's kind (and range) for CONST;
- the registry's shape and dtype rules, recomputed from its sources, give its own shape and dtype
  (`infer_type`, the same dispatch as `ops.make`);
- it is the hash-consed node for its fields: `node(...)` of them returns the node itself.

The first broken node (sources before users) raises `VerifyError`, naming the node, its op, its
number in `print_graph`'s numbering and the user's source line that built it. Passes run this
between steps in tests and under `LT_CHECK=1`. The text parser (`text.py`) applies the same arg
and type checks but not the CONST rule (`const_problem`), so every graph `ops.make` can build
prints and parses back; verify such text after parsing it to hold it to the stricter rules.
"""
from __future__ import annotations

from typing import Any, Iterable

import numpy as np

from . import dtypes as dt
from .ir import Buffer, IRError, Node, format_location, node, toposort
from .ops import REGISTRY, Op


class VerifyError(IRError):
    """A graph breaks an IR rule; `node` is the offending node (its location is in the message)."""

    def __init__(self, message: str, node: Any = None):
        super().__init__(message)
        self.node = node


# What each op's `arg` is. Ops missing here take no argument (arg is None).
ARG_KINDS: dict[Op, str] = {
    Op.BUFFER: "buffer", Op.CONST: "scalar", Op.RAND: "seed", Op.CAST: "dtype",
    Op.RESHAPE: "shape", Op.EXPAND: "shape",
    Op.PERMUTE: "axes", Op.FLIP: "axes", Op.SUM: "axes", Op.PROD: "axes", Op.MAX_REDUCE: "axes",
    Op.PAD: "pairs", Op.SHRINK: "pairs", Op.GATHER: "axis",
}

_KIND_WANTS = {
    "buffer": "a Buffer", "scalar": "a Python bool, int or float", "seed": "(seed, offset) ints",
    "dtype": "a DType", "shape": "a tuple of ints >= 0", "axes": "a tuple of ints",
    "pairs": "a tuple of (int, int) pairs", "axis": "an int",
}

_DTYPES = frozenset((*dt.ALL_DTYPES, dt.uint32))


def _is_int(x) -> bool:
    # Python ints only: numpy ints compare equal but change `repr`, hence the structural key.
    return type(x) is int


def _int_tuple(x, minimum: int | None = None) -> bool:
    return type(x) is tuple and all(_is_int(v) and (minimum is None or v >= minimum) for v in x)


def type_str(dtype: dt.DType, shape: tuple) -> str:
    """A node type as the IR text spells it: 'f32[2,3]', 'i64[]' for a scalar."""
    return f"{dtype.short}[{','.join(str(d) for d in shape)}]"


def arg_problem(op: Op, arg: Any) -> str | None:
    """Why `arg` is not a well-formed argument for `op`, or None when it is."""
    kind = ARG_KINDS.get(op)
    if kind is None:
        ok = arg is None
    elif kind == "buffer":
        ok = isinstance(arg, Buffer)
    elif kind == "scalar":
        ok = type(arg) in (bool, int, float)
    elif kind == "seed":
        ok = _int_tuple(arg) and len(arg) == 2 and 0 <= arg[1] < 2 ** 64
    elif kind == "dtype":
        ok = arg in _DTYPES
    elif kind == "shape":
        ok = _int_tuple(arg, 0)
    elif kind == "axes":
        ok = _int_tuple(arg)
    elif kind == "pairs":
        ok = type(arg) is tuple and all(_int_tuple(p) and len(p) == 2 for p in arg)
    else:  # axis
        ok = _is_int(arg)
    if ok:
        return None
    if kind is None:
        return f"{op.name} takes no argument, got {arg!r}"
    return f"{op.name} needs {_KIND_WANTS[kind]} as its argument, got {arg!r}"


def const_problem(value: Any, dtype: dt.DType) -> str | None:
    """Why a CONST of `value` cannot have `dtype` (wrong Python type or out of range), or None.

    `tensor.const` stores bools for bool, ints for integer and floats for float dtypes; two
    spellings of one constant (1 and 1.0) would be two nodes that CSE cannot merge.
    """
    want = {"bool": bool, "float": float}.get(dtype.category, int)
    if type(value) is not want:
        return f"a CONST of dtype {dtype.short} holds a Python {want.__name__}, got {value!r}"
    if want is int:
        info = np.iinfo(dtype.np_dtype)
        if not info.min <= value <= info.max:
            return f"CONST {value} is out of range for {dtype.short}"
    return None


def infer_type(op: Op, srcs: tuple, arg: Any, dtype: dt.DType | None = None,
               shape: tuple | None = None) -> tuple[dt.DType, tuple]:
    """(dtype, shape) that the registry gives `op` over `srcs` (IRError when its rules refuse).

    The dispatch is `ops.make`'s: BUFFER takes its buffer's type, CONST its given dtype and shape
    (), RAND its given dtype and shape; every other op derives both from its sources and arg.
    """
    row = REGISTRY[op]
    if len(srcs) != row.arity:
        raise IRError(f"{op.name} takes {row.arity} operands, got {len(srcs)}")
    if op is Op.BUFFER:
        return arg.dtype, (arg.size,)
    if op is Op.CONST:
        return dtype, ()
    if op is Op.RAND:
        return dtype, tuple(shape)
    out_shape = tuple(row.shape([s.shape for s in srcs], arg))
    return row.dtype([s.dtype for s in srcs], arg), out_shape


def node_problem(n: Node) -> str | None:
    """Why `n` breaks a rule of its op (fields, arg, types, hash-consing), or None if it is sound.

    Its sources are assumed checked already (the verifier goes sources first).
    """
    if not isinstance(n.op, Op):
        return f"op {n.op!r} is not a primitive"
    if n.dtype not in _DTYPES:
        return f"dtype {n.dtype!r} is not a DType"
    if not _int_tuple(n.shape, 0):
        return f"shape {n.shape!r} is not a tuple of Python ints >= 0"
    problem = arg_problem(n.op, n.arg)
    if problem:
        return problem
    if n.op is Op.CONST:
        problem = const_problem(n.arg, n.dtype)
        if problem:
            return problem
    if n.op is Op.RAND and not n.dtype.is_floating_point:
        return f"RAND makes floats, not {n.dtype.short}"
    try:
        dtype, shape = infer_type(n.op, n.srcs, n.arg, n.dtype, n.shape)
    except IRError as e:
        return str(e)
    if dtype is not n.dtype or shape != n.shape:
        return (f"the registry gives {type_str(dtype, shape)} but the node says "
                f"{type_str(n.dtype, n.shape)}")
    try:
        canonical = node(n.op, n.dtype, n.shape, n.srcs, n.arg, loc=n.loc)
    except TypeError as e:  # an unhashable field
        return f"its fields cannot be hash-consed: {e}"
    except IRError as e:  # the table holds a node with these operands but another type
        return f"not the hash-consed node for its fields: {e}"
    if canonical is not n:
        return ("not the hash-consed node for its fields (built with Node(...) instead of node(), "
                "or changed after it was built)")
    return None


def _describe(n: Any, index: int | None = None) -> str:
    """'%4 = ADD f32[2,3] built at file.py:12' for error messages; robust to broken fields."""
    op = getattr(n.op, "name", repr(n.op))
    try:
        ty = type_str(n.dtype, n.shape)
    except Exception:  # a broken dtype or shape is what we are reporting
        ty = f"{n.dtype!r}{n.shape!r}"
    name = f"%{index} = " if index is not None else ""
    return f"{name}{op} {ty} built at {format_location(getattr(n, 'loc', None))}"


def _walk(outputs: list[Any]) -> list[Node]:
    """Nodes reachable from `outputs`, sources first; VerifyError on a non-node or a cycle."""
    order: list[Node] = []
    state: dict[int, int] = {}  # id -> 1 while on the DFS path, 2 once finished
    for root in outputs:
        if not isinstance(root, Node):
            raise VerifyError(f"output {root!r} is not a Node")
        if state.get(id(root)) == 2:
            continue
        state[id(root)] = 1
        stack = [(root, 0)]
        while stack:
            n, i = stack[-1]
            srcs = n.srcs
            if type(srcs) is not tuple:
                raise VerifyError(f"{_describe(n)}: srcs {srcs!r} is not a tuple", n)
            if i == len(srcs):
                stack.pop()
                state[id(n)] = 2
                order.append(n)
                continue
            stack[-1] = (n, i + 1)
            s = srcs[i]
            if not isinstance(s, Node):
                raise VerifyError(f"{_describe(n)}: operand {i} is {s!r}, not a Node", n)
            seen = state.get(id(s))
            if seen == 1:
                raise VerifyError(f"{_describe(n)}: the graph has a cycle: its operand {i}, "
                                  f"{_describe(s)}, depends on it", n)
            if seen is None:
                state[id(s)] = 1
                stack.append((s, 0))
    return order


def verify(outputs: Iterable[Node]) -> None:
    """Check every node reachable from `outputs`; raise VerifyError at the first broken one."""
    outputs = list(outputs)
    _walk(outputs)  # first the structure: every source a node, no cycle
    # then numbered in toposort order, which is print_graph's, so '%4' in a message is '%4' there
    for i, n in enumerate(toposort(outputs)):
        problem = node_problem(n)
        if problem is not None:
            raise VerifyError(f"{_describe(n, i)}: {problem}", n)
