"""Kernels: what the fuse pass makes and what renderers consume.

A `Kernel` computes one materialized value in one pass over memory. Its ops form a sub-graph of
ordinary IR nodes whose leaves are *parameters*: BUFFER nodes over placeholder buffers numbered by
position (`param_node(i, ...)`), so two kernels that do the same work over different buffers are
the same nodes and share `Kernel.key` (hence one compiled program). A parameter is flat (a BUFFER
has shape (size,)); where the original value had another shape the kernel graph reads it through a
RESHAPE, which renderers turn into index arithmetic like every other movement op.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from . import dtypes as dt
from .ir import Buffer, Node, node, toposort
from .ops import REDUCE, Op, make

# Placeholder buffers get uids far above any real buffer's, so the IR text can still name them.
PARAM_UID_BASE = 10 ** 12
_params: dict[tuple, Buffer] = {}


def param_buffer(index: int, dtype: dt.DType, size: int) -> Buffer:
    """The placeholder buffer for parameter `index` of this type (one object per triple)."""
    key = (index, dtype, size)
    buf = _params.get(key)
    if buf is None:
        # uid: base + index, so the structural key of a kernel graph names parameters by position
        buf = _params[key] = Buffer(dtype, size, device="param", uid=PARAM_UID_BASE + index)
    return buf


def param_node(index: int, dtype: dt.DType, shape: tuple) -> Node:
    """Parameter `index` read as a tensor of `shape` (a flat BUFFER, reshaped when needed)."""
    size = 1
    for d in shape:
        size *= d
    n = make(Op.BUFFER, arg=param_buffer(index, dtype, size))
    return n if n.shape == shape else make(Op.RESHAPE, (n,), shape)


def param_index(n: Node) -> int | None:
    """The parameter number of a BUFFER node over a placeholder buffer, else None."""
    if n.op is Op.BUFFER and n.arg.device == "param":
        return n.arg.uid - PARAM_UID_BASE
    return None


@dataclass(frozen=True, eq=False)
class Kernel:
    """One fused kernel.

    - `outputs`: the kernel graph's roots (one value per output buffer), over parameters. A
      reducing kernel's output has the reduction's kept shape, or that shape with size-1 axes
      dropped or added (the fuse pass takes consumers through such RESHAPEs: `x.sum(1) * 2`);
    - `inputs`: the values the parameters stand for, by position: nodes of the *original* graph
      (BUFFER nodes of stored data, or values that another kernel materializes);
    - `computes`: the original-graph nodes whose values `outputs` are (same order);
    - `shape`: the iteration shape (the reduction's input shape for a reducing kernel);
    - `reduce_axes`: the axes of `shape` that are reduced (() for an elementwise kernel);
    - `origin`: id of a kernel-graph node -> the original node it stands for. Kernel graphs are
      hash-consed and shared between flushes, so their nodes' source lines are those of the first
      graph that built them; an error names the line of `origin`'s node instead.
    """
    outputs: tuple[Node, ...]
    inputs: tuple[Node, ...]
    computes: tuple[Node, ...]
    shape: tuple
    reduce_axes: tuple
    origin: dict = field(default_factory=dict)

    def source_of(self, n: Node) -> Node:
        """The node of the flushed graph that kernel-graph node `n` computes (for its location)."""
        return self.origin.get(id(n), n)

    @property
    def key(self) -> str:
        """The structural key: equal for kernels doing the same work over different buffers."""
        return hashlib.sha256(repr([o.key for o in self.outputs]).encode()).hexdigest()[:32]

    @property
    def name(self) -> str:
        """A readable, stable name: kind, iteration shape and a key prefix."""
        kind = "r" if self.reduce_axes else "e"
        return f"{kind}_{'_'.join(str(d) for d in self.shape) or 'scalar'}_{self.key[:8]}"

    def nodes(self) -> list[Node]:
        """The kernel graph's nodes, sources first."""
        return toposort(self.outputs)

    def reductions(self) -> list[Node]:
        """The reduction nodes inside the kernel graph (at most one in a fused kernel)."""
        return [n for n in self.nodes() if n.op in REDUCE]


def build_kernel(root: Node, materialized: set[int]) -> Kernel:
    """The kernel computing `root`: its sub-graph down to materialized values and BUFFERs.

    Every leaf that is stored (a BUFFER, or a node in `materialized` other than `root`) becomes a
    parameter, numbered in the order the walk below first meets it, so the numbering depends only
    on the graph's structure.
    """
    inputs: list[Node] = []
    param_of: dict[int, Node] = {}
    new: dict[int, Node] = {}
    origin: dict[int, Node] = {}
    # root's kernel region, sources first: stored values are read as leaves, never looked inside
    order = toposort(root.srcs, materialized) + [root]
    for n in order:
        stored = n is not root and (n.op is Op.BUFFER or id(n) in materialized)
        if stored:
            if id(n) not in param_of:
                param_of[id(n)] = param_node(len(inputs), n.dtype, n.shape)
                inputs.append(n)
            new[id(n)] = param_of[id(n)]
            continue
        srcs = tuple(new[id(s)] for s in n.srcs)
        new[id(n)] = n if srcs == n.srcs else node(n.op, n.dtype, n.shape, srcs, n.arg, loc=n.loc)
        origin[id(new[id(n)])] = n
    out = new[id(root)]
    reds = [n for n in toposort([out]) if n.op in REDUCE]
    if reds:
        shape, axes = reds[0].srcs[0].shape, reds[0].arg
    else:
        shape, axes = root.shape, ()
    return Kernel((out,), tuple(inputs), (root,), tuple(shape), tuple(sorted(axes)), origin)
