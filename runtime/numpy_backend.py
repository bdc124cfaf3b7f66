"""The numpy backend: an interpreter of the IR, node by node, by the registry's numpy references.

It is the oracle every compiled backend is checked against, and the backend of last resort. It
returns arrays that may be views of its inputs (reshape, permute, slicing); the caller copies
before it keeps one as storage.
"""
from __future__ import annotations

from lazytensor.compiler import dtypes as dt
from lazytensor.compiler.ir import Node, format_location, toposort
from lazytensor.compiler.ops import REGISTRY, Op

import numpy as np


class FlushError(RuntimeError):
    """A node failed while a graph ran; the message names the user's line that built it."""


def run(outputs: list[Node]) -> list[np.ndarray]:
    """Evaluate `outputs`, sharing common subgraphs; one numpy array per output."""
    order = toposort(outputs)
    keep = {id(o) for o in outputs}
    inputs, skipped = _plan_contractions(order, keep)
    values: dict[int, np.ndarray] = {}
    # Free an intermediate as soon as its last user has run, so memory stays near the live set.
    last_use: dict[int, int] = {}
    for i, n in enumerate(order):
        for s in inputs.get(id(n), n.srcs):
            last_use[id(s)] = i
    for i, n in enumerate(order):
        if id(n) in skipped:
            continue
        srcs = inputs.get(id(n))
        try:
            if srcs is None:
                out = REGISTRY[n.op].numpy([values[id(s)] for s in n.srcs], n)
            else:
                out = _contract(n, [values[id(s)] for s in srcs])
        except (ZeroDivisionError, IndexError) as e:
            raise type(e)(f"{e} (in {n.op.name} built at {format_location(n.loc)})") from e
        except Exception as e:  # a bug or a broken graph: say which node and whose line
            raise FlushError(f"{n.op.name} {n.dtype.short}{list(n.shape)} built at "
                             f"{format_location(n.loc)} failed: {e}") from e
        if out.dtype != n.dtype.np_dtype:
            out = out.astype(n.dtype.np_dtype)
        values[id(n)] = out
        for s in (srcs if srcs is not None else n.srcs):
            if last_use[id(s)] == i and id(s) not in keep:
                values.pop(id(s), None)
    return [values[id(o)] for o in outputs]


# ---- contractions: SUM(MUL(EXPAND a, EXPAND b)) without materializing the product ----
#
# Matrix products are built as expand . mul . sum (lazytensor/linalg.py). Evaluated node by node
# the MUL would hold an m x n x k array (4 GB for a 1024^3 matmul); einsum over the unexpanded
# operands computes the same sums with BLAS.

def _plan_contractions(order: list[Node], keep: set[int]) -> tuple[dict, set]:
    """SUM nodes to compute by einsum ({id: operand nodes}) and the nodes that then never run."""
    uses: dict[int, int] = {}
    for n in order:
        for s in n.srcs:
            uses[id(s)] = uses.get(id(s), 0) + 1
    inputs, skipped = {}, set()
    for n in order:
        if n.op is not Op.SUM or n.srcs[0].op is not Op.MUL or n.dtype is dt.bool_:
            continue
        mul = n.srcs[0]
        if uses[id(mul)] != 1 or id(mul) in keep:
            continue
        operands = []
        for x in mul.srcs:
            if x.op is Op.EXPAND and uses[id(x)] == 1 and id(x) not in keep:
                skipped.add(id(x))
                x = x.srcs[0]
            operands.append(x)
        skipped.add(id(mul))
        inputs[id(n)] = operands
    return inputs, skipped


def _contract(n: Node, arrays: list[np.ndarray]) -> np.ndarray:
    """SUM over n.arg of the broadcast product of `arrays` (each of the product's rank)."""
    shape = n.srcs[0].shape
    letters = [chr(ord("a") + i) if i < 26 else chr(ord("A") + i - 26) for i in range(len(shape))]
    subscripts = []
    squeezed = []
    for a in arrays:
        # a dim of size 1 that the product broadcasts is left out of the operand's subscript
        dims = [d for d in range(len(shape)) if not (a.shape[d] == 1 and shape[d] != 1)]
        subscripts.append("".join(letters[d] for d in dims))
        squeezed.append(a.reshape([a.shape[d] for d in dims]))
    out = "".join(letters[d] for d in range(len(shape)) if d not in n.arg)
    result = np.einsum(",".join(subscripts) + "->" + out, *squeezed, optimize=len(arrays) > 1)
    return np.asarray(result, dtype=n.dtype.np_dtype).reshape(n.shape)


def allocate(dtype, size: int) -> np.ndarray:
    """Fresh flat storage for `size` elements of `dtype`."""
    return np.empty(size, dtype=dtype.np_dtype)
