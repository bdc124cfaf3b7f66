"""The numpy backend: an interpreter of the IR, node by node, by the registry's numpy references.

It is the oracle every compiled backend is checked against, and the backend of last resort. It
returns arrays that may be views of its inputs (reshape, permute, slicing); the caller copies
before it keeps one as storage.
"""
from __future__ import annotations

from lazytensor.compiler.ir import Node, format_location, toposort
from lazytensor.compiler.ops import REGISTRY

import numpy as np


class FlushError(RuntimeError):
    """A node failed while a graph ran; the message names the user's line that built it."""


def run(outputs: list[Node]) -> list[np.ndarray]:
    """Evaluate `outputs`, sharing common subgraphs; one numpy array per output."""
    values: dict[int, np.ndarray] = {}
    order = toposort(outputs)
    # Free an intermediate as soon as its last user has run, so memory stays near the live set.
    last_use: dict[int, int] = {}
    for i, n in enumerate(order):
        for s in n.srcs:
            last_use[id(s)] = i
    keep = {id(o) for o in outputs}
    for i, n in enumerate(order):
        try:
            out = REGISTRY[n.op].numpy([values[id(s)] for s in n.srcs], n)
        except (ZeroDivisionError, IndexError) as e:
            raise type(e)(f"{e} (in {n.op.name} built at {format_location(n.loc)})") from e
        except Exception as e:  # a bug or a broken graph: say which node and whose line
            raise FlushError(f"{n.op.name} {n.dtype.short}{list(n.shape)} built at "
                             f"{format_location(n.loc)} failed: {e}") from e
        if out.dtype != n.dtype.np_dtype:
            out = out.astype(n.dtype.np_dtype)
        values[id(n)] = out
        for s in n.srcs:
            if last_use[id(s)] == i and id(s) not in keep:
                values.pop(id(s), None)
    return [values[id(o)] for o in outputs]


def allocate(dtype, size: int) -> np.ndarray:
    """Fresh flat storage for `size` elements of `dtype`."""
    return np.empty(size, dtype=dtype.np_dtype)
