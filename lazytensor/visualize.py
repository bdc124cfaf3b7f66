"""The graph visualizer's library side: record flushes and draw them as one self-contained HTML page.

- `record_graph(outputs)` runs the pass pipeline on a graph and keeps a snapshot of the graph
  before and after each pass: every node (op, type, argument, sources, the user's source line) and
  its kernel. After `fuse` the kernels are the pass's own, with their rendered LLVM IR; before it
  they are the kernels `fuse` would make of that graph (drawn dashed).
- `Recorder` listens to flushes (`lazy.on_flush`); `LT_VIZ=trace.json` installs one for the whole
  program and writes the trace at exit.
- `to_html(trace)` is a single HTML file (inline JS/SVG, no network) drawing each snapshot with a
  layered layout, kernels as clusters (collapsed to one box each on large graphs; a click expands a
  cluster and shows its kernel's source); `to_dot(trace)` is Graphviz text.
- `viz(tensor_or_fn, path)` is `lt.viz`.
"""
from __future__ import annotations

import atexit
import json
import os
import shutil
import subprocess
import warnings
from typing import Any, Iterable

from lazytensor import config, lazy
from lazytensor.compiler.ir import Node, format_location, toposort
from lazytensor.compiler.ops import Op
from lazytensor.compiler.passes import Graph, parse_pipeline, run_pipeline
from lazytensor.compiler.passes.fuse import materialized_nodes
from lazytensor.compiler.text import format_node, print_graph
from lazytensor.compiler.verify import type_str

__all__ = ["viz"]

PIPELINE = "simplify,fuse,schedule"
COLLAPSE_ABOVE = 150  # snapshots with more nodes open with every kernel collapsed to one box


def _regions(order: list[Node], roots: list[Node]) -> dict[int, int]:
    """node id -> index of the first root whose kernel region holds it (walks stop at BUFFERs and
    at other roots: those are the kernel's inputs, as in compiler/kernel.build_kernel)."""
    stored = {id(r) for r in roots}
    owner: dict[int, int] = {}
    for k, root in enumerate(roots):
        stack, seen = [root], set()
        while stack:
            n = stack.pop()
            if id(n) in seen:
                continue
            seen.add(id(n))
            owner.setdefault(id(n), k)
            for s in n.srcs:
                if s.op is not Op.BUFFER and id(s) not in stored:
                    stack.append(s)
    return owner


def _render_source(kernel) -> str:
    """The kernel's LLVM IR, or its IR text where the LLVM renderer cannot render it."""
    try:
        from lazytensor.runtime.llvm.renderer import render
        return render(kernel, f"k_{kernel.name}").ir
    except Exception as e:  # noqa: BLE001 - shown in the page instead of the source
        return f"; LLVM IR unavailable ({type(e).__name__}: {e})\n{print_graph(kernel.outputs, False)}"


def _snapshot(name: str, g: Graph, sources: dict[int, str]) -> dict:
    order = toposort(g.outputs)
    number = {id(n): i for i, n in enumerate(order)}
    names = {id(n): f"%{i}" for i, n in enumerate(order)}
    if g.kernels is not None:
        kernels = list(g.kernels)
        if g.schedule is not None:
            kernels = [s.kernel for s in g.schedule.steps]
        roots = [k.computes[0] for k in kernels]
        clusters = []
        for k in kernels:
            if id(k) not in sources:
                sources[id(k)] = _render_source(k)
            clusters.append({"name": k.name, "shape": list(k.shape), "reduce": list(k.reduce_axes),
                             "inputs": len(k.inputs), "source": sources[id(k)], "real": True})
    else:
        stored = materialized_nodes(g.outputs)
        roots = [n for n in order if id(n) in stored]
        clusters = [{"name": f"would-be kernel {i}: {r.op.name} {type_str(r.dtype, r.shape)}",
                     "shape": list(r.shape), "reduce": [], "inputs": 0, "real": False,
                     "source": "(the fuse pass has not run: this is the kernel it would make)\n"}
                    for i, r in enumerate(roots)]
    owner = _regions(order, roots)
    nodes = []
    for n in order:
        nodes.append({"op": n.op.name, "type": type_str(n.dtype, n.shape),
                      "text": format_node(n, names, locations=False),
                      "srcs": [number[id(s)] for s in n.srcs],
                      "loc": format_location(n.loc) if n.loc else "",
                      "k": owner.get(id(n))})
    counts: dict[int, int] = {}
    for nd in nodes:
        if nd["k"] is not None:
            counts[nd["k"]] = counts.get(nd["k"], 0) + 1
    for i, c in enumerate(clusters):
        c["ops"] = counts.get(i, 0)
    return {"name": name, "nodes": nodes, "outputs": [number[id(o)] for o in g.outputs],
            "clusters": clusters}


def record_graph(outputs: Iterable[Node], pipeline: str = PIPELINE, label: str = "graph") -> dict:
    """Snapshots of the graph of `outputs` before and after each pass of `pipeline`."""
    g = Graph(tuple(outputs))
    sources: dict[int, str] = {}
    stages = [_snapshot("input", g, sources)]
    for name in parse_pipeline(pipeline):
        g = run_pipeline(g, name)
        stages.append(_snapshot(f"after {name}", g, sources))
    return {"label": label, "count": 1, "stages": stages}


def new_trace(flushes: list | None = None) -> dict:
    """A trace: the format lt-viz reads (`LT_VIZ` files, `Recorder.trace()`)."""
    return {"format": "lazytensor-viz", "version": 1, "flushes": list(flushes or [])}


class Recorder:
    """A flush listener that records each flush's graph (repeats of one graph are counted once).

    `with Recorder() as r: ...` listens while the block runs; `r.trace()` is the result.
    """

    def __init__(self, pipeline: str = PIPELINE, limit: int = 100):
        self.pipeline = pipeline
        self.limit = limit
        self.flushes: list[dict] = []
        self._by_key: dict[tuple, dict] = {}
        self._warned = False

    def __call__(self, nodes: list[Node]) -> None:
        try:
            key = tuple(n.key for n in nodes)
            if key in self._by_key:
                self._by_key[key]["count"] += 1
                return
            if len(self.flushes) >= self.limit:
                return
            where = next((n.loc for n in reversed(toposort(nodes)) if n.loc), None)
            label = f"flush {len(self.flushes)} ({len(nodes)} output{'s' * (len(nodes) != 1)}"
            label += f", built at {format_location(where)})" if where else ")"
            rec = record_graph(nodes, self.pipeline, label)
        except Exception as e:  # noqa: BLE001 - recording must never break the user's program
            if not self._warned:
                warnings.warn(f"lazytensor.viz could not record a flush: {type(e).__name__}: {e}")
                self._warned = True
            return
        self._by_key[key] = rec
        self.flushes.append(rec)

    def __enter__(self) -> "Recorder":
        lazy.on_flush.append(self)
        return self

    def __exit__(self, *exc) -> None:
        lazy.on_flush.remove(self)

    def trace(self) -> dict:
        """What was recorded, as a trace."""
        return new_trace(self.flushes)


def write_trace(trace: dict, path: str) -> None:
    """Write a trace as JSON."""
    with open(path, "w") as f:
        json.dump(trace, f)


def read_trace(path: str) -> dict:
    """Read a trace written by `write_trace` (ValueError when the file is not one)."""
    with open(path) as f:
        trace = json.load(f)
    if not isinstance(trace, dict) or trace.get("format") != "lazytensor-viz":
        raise ValueError(f"{path} is not a lazytensor-viz trace (written by LT_VIZ or lt.viz)")
    return trace


# ---- output formats ----

def to_html(trace: dict, title: str = "lazytensor graph") -> str:
    """The trace as one self-contained HTML page (inline script, no network)."""
    from lazytensor.viz_page import PAGE
    data = json.dumps({**trace, "collapse_above": COLLAPSE_ABOVE}).replace("</", "<\\/")
    return (PAGE.replace("__TITLE__", title.replace("<", "&lt;").replace("&", "&amp;"))
            .replace("__TRACE__", data))


def _dot_id(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def to_dot(trace: dict, flush: int = -1, stage: int = -1) -> str:
    """One snapshot (default: the last stage of the last flush) as Graphviz text, kernels as
    clusters."""
    if not trace["flushes"]:
        raise ValueError("the trace holds no flush")
    st = trace["flushes"][flush]["stages"][stage]
    lines = ["digraph lazytensor {", "  rankdir=TB;", '  node [shape=box, fontname="monospace", '
             'fontsize=10];', f"  label={_dot_id(trace['flushes'][flush]['label'] + ' - ' + st['name'])};"]
    members: dict[Any, list[int]] = {}
    for i, n in enumerate(st["nodes"]):
        members.setdefault(n["k"], []).append(i)

    def node_line(i: int) -> str:
        n = st["nodes"][i]
        tip = n["text"] + (f"  ({n['loc']})" if n["loc"] else "")
        return f"n{i} [label={_dot_id(n['op'] + chr(10) + n['type'])}, tooltip={_dot_id(tip)}];"

    for k, ids in members.items():
        if k is None:
            lines += ["  " + node_line(i) for i in ids]
            continue
        c = st["clusters"][k]
        style = "solid" if c["real"] else "dashed"
        lines.append(f"  subgraph cluster_{k} {{ label={_dot_id(c['name'])}; style={style};")
        lines += ["    " + node_line(i) for i in ids]
        lines.append("  }")
    for i, n in enumerate(st["nodes"]):
        lines += [f"  n{s} -> n{i};" for s in n["srcs"]]
    lines.append("}")
    return "\n".join(lines) + "\n"


def dot_to_svg(dot: str) -> str:
    """Graphviz text drawn as SVG by Graphviz's `dot` (RuntimeError where it is not installed)."""
    exe = shutil.which("dot")
    if exe is None:
        raise RuntimeError("SVG output needs Graphviz's `dot` program, which is not installed "
                           "(apt-get install graphviz); --format html needs nothing")
    proc = subprocess.run([exe, "-Tsvg"], input=dot, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"dot failed: {proc.stderr.strip()}")
    return proc.stdout


def render_trace(trace: dict, fmt: str, title: str = "lazytensor graph") -> str:
    """The trace in `fmt`: html, dot, svg or json."""
    if fmt == "html":
        return to_html(trace, title)
    if fmt == "dot":
        return to_dot(trace)
    if fmt == "svg":
        return dot_to_svg(to_dot(trace))
    if fmt == "json":
        return json.dumps(trace)
    raise ValueError(f"unknown format {fmt!r}: html, dot, svg or json")


def _format_of(path: str) -> str:
    ext = os.path.splitext(path)[1].lower().lstrip(".")
    return {"htm": "html", "gv": "dot"}.get(ext, ext) if ext in ("html", "htm", "dot", "gv", "svg",
                                                                  "json") else "html"


def viz(tensor_or_fn: Any, path: str, pipeline: str = PIPELINE) -> dict:
    """Draw the pending graph of a tensor (or tensors), or every flush a function makes, to `path`
    (.html by default; .dot, .svg or .json by extension). Returns the trace."""
    from lazytensor.tensor import Tensor
    if callable(tensor_or_fn) and not isinstance(tensor_or_fn, Tensor):
        with Recorder(pipeline) as rec:
            result = tensor_or_fn()
        trace = rec.trace()
        pending = [t for t in _tensors(result) if not lazy.is_realized(t._base or t)]
        if pending:
            trace["flushes"].append(record_graph([t.node for t in pending], pipeline,
                                                 "pending result (not flushed)"))
    else:
        tensors = _tensors(tensor_or_fn)
        if not tensors:
            raise TypeError(f"lt.viz draws a Tensor, tensors or a function, not "
                            f"{type(tensor_or_fn).__name__}")
        trace = new_trace([record_graph([t.node for t in tensors], pipeline, "tensor graph")])
    with open(path, "w") as f:
        f.write(render_trace(trace, _format_of(path)))
    return trace


def _tensors(obj: Any) -> list:
    from lazytensor.tensor import Tensor
    if isinstance(obj, Tensor):
        return [obj]
    if isinstance(obj, (list, tuple)):
        return [t for x in obj for t in _tensors(x)]
    if isinstance(obj, dict):
        return [t for x in obj.values() for t in _tensors(x)]
    return []


# ---- LT_VIZ=trace.json: record the whole program ----

_env_recorder: Recorder | None = None


def _install_from_env() -> None:
    global _env_recorder
    path = config.get("VIZ")
    if not path or _env_recorder is not None:
        return
    _env_recorder = Recorder()
    lazy.on_flush.append(_env_recorder)
    atexit.register(lambda: write_trace(_env_recorder.trace(), path))


_install_from_env()

