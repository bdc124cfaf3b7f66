"""The pass manager: named pure passes over a `Graph`, run from a pipeline string.

`run_pipeline(outputs, "simplify,fuse,schedule", check=..., print_after=..., log=...)` threads a
`Graph` through the named passes. A pass is a function `(Graph, PassContext) -> Graph` that never
changes its input (nodes are immutable; a pass returns a new Graph). Flags come in as arguments:
the compiler never reads the user API's config, the runtime passes `LT_CHECK`, `LT_PRINT_AFTER`
and `LT_LOG` down.

- `check=True` runs the IR verifier on every graph between passes (outputs and kernel graphs);
- `print_after="fuse"` (or "all", or a comma list) hands the IR text after those passes to
  `printer` (stderr by default);
- `log(topic, message)` receives each decision a pass explains (the fuse pass logs "fusion").
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, field, replace
from typing import Callable

from ..ir import Node
from ..kernel import Kernel
from ..text import print_graph
from ..verify import verify


@dataclass(frozen=True)
class Graph:
    """What passes transform: the values asked for, then kernels, then their schedule."""
    outputs: tuple[Node, ...]
    kernels: tuple[Kernel, ...] | None = None
    schedule: object | None = None  # a schedule.Schedule once the schedule pass ran

    def with_(self, **changes) -> "Graph":
        """A copy with some fields changed (passes are pure)."""
        return replace(self, **changes)


def _no_log(topic: str, message: str) -> None:
    pass


@dataclass
class PassContext:
    """What a pass may consult besides its graph: the logging callback and its topics."""
    log: Callable[[str, str], None] = _no_log
    options: dict = field(default_factory=dict)


PASSES: dict[str, Callable[[Graph, PassContext], Graph]] = {}


def register(name: str):
    """Decorator: make a function a pass named `name` in pipeline strings."""
    def deco(fn):
        PASSES[name] = fn
        return fn
    return deco


def graph_text(g: Graph) -> str:
    """The IR text of a graph at any stage: its outputs, then each kernel, then the schedule."""
    parts = ["; outputs", print_graph(g.outputs)]
    for i, k in enumerate(g.kernels or ()):
        parts.append(f"; kernel {i} {k.name}: shape={list(k.shape)} reduce={list(k.reduce_axes)} "
                     f"inputs={len(k.inputs)}")
        parts.append(print_graph(k.outputs))
    if g.schedule is not None:
        parts.append("; schedule")
        parts.append(g.schedule.describe())
    return "\n".join(parts)


def verify_graph(g: Graph) -> None:
    """Run the IR verifier over the outputs and every kernel graph."""
    verify(g.outputs)
    for k in g.kernels or ():
        verify(k.outputs)


def parse_pipeline(pipeline: str) -> list[str]:
    """Pass names of a pipeline string; ValueError naming an unknown pass."""
    names = [p.strip() for p in pipeline.split(",") if p.strip()]
    for name in names:
        if name not in PASSES:
            raise ValueError(f"unknown pass {name!r} in pipeline {pipeline!r}; "
                             f"passes: {', '.join(sorted(PASSES))}")
    return names


def run_pipeline(outputs, pipeline: str = "simplify,fuse,schedule", *, check: bool = False,
                 print_after: str = "", log: Callable[[str, str], None] | None = None,
                 printer: Callable[[str], None] | None = None) -> Graph:
    """Run the named passes over the graph of `outputs` and return the final Graph."""
    names = parse_pipeline(pipeline)
    wanted = {p.strip() for p in print_after.split(",") if p.strip()}
    printer = printer or (lambda text: print(text, file=sys.stderr))
    ctx = PassContext(log=log or _no_log)
    g = outputs if isinstance(outputs, Graph) else Graph(tuple(outputs))
    if check:
        verify_graph(g)
    for name in names:
        g = PASSES[name](g, ctx)
        if check:
            verify_graph(g)
        if name in wanted or "all" in wanted:
            printer(f"; ---- IR after {name} ----\n{graph_text(g)}")
    return g


# the passes register themselves on import
from . import fuse, schedule, simplify  # noqa: E402,F401
