"""The LLVM backend's `run(outputs) -> arrays`, the contract of runtime/numpy_backend.py.

A flush runs the pass pipeline (simplify, fuse, schedule), compiles each kernel it has not seen
(an in-memory cache keyed by the kernel's structural key, so a training loop compiles once; under
it the disk cache of compiler.py, LT_CACHE_DIR / LT_NOCACHE), and launches the schedule's steps
over numpy-allocated memory, each kernel split across the cores (threads.py). Knobs (read here, passed to the
compiler as arguments): LT_CHECK, LT_PRINT_AFTER, LT_LOG=fusion, LT_DEBUG (1: a line per launch,
2: the schedule, 3: each kernel's IR, 4: its LLVM IR, 5: its assembly; 3+ print at compile time).
"""
from __future__ import annotations

import sys
import time

import numpy as np

from lazytensor import config
from lazytensor.compiler.ir import Node
from lazytensor.compiler.kernel import Kernel
from lazytensor.compiler.passes import run_pipeline
from lazytensor.compiler.text import print_graph

from . import allocator
from .compiler import assembly, compile_ir
from .program import Program
from .renderer import render

PIPELINE = "simplify,fuse,schedule"
_cache: dict[str, Program] = {}


def _log(topic: str, message: str) -> None:
    topics = {t.strip() for t in config.get("LOG").split(",")}
    if topic in topics or "all" in topics:
        print(f"[{topic}] {message}", file=sys.stderr)


def program_for(kernel: Kernel) -> tuple[Program, bool]:
    """The compiled program of `kernel` and whether it came from the cache."""
    key = kernel.key
    prog = _cache.get(key)
    if prog is not None:
        return prog, True
    debug = config.get("DEBUG")
    name = f"k_{kernel.name}"
    rendered = render(kernel, name)
    if debug >= 3:
        print(f"; kernel {name}\n{print_graph(kernel.outputs)}", file=sys.stderr)
    if debug >= 4:
        print(rendered.ir, file=sys.stderr)
    names = [name] + ([name + "_part", name + "_fin"] if rendered.partial is not None else [])
    cache_dir = None if config.get("NOCACHE") else config.get("CACHE_DIR")
    addresses, disk_hit = compile_ir(rendered.ir, names, cache_dir)
    if debug >= 5:
        print(assembly(rendered.ir), file=sys.stderr)
    prog = _cache[key] = Program(rendered, addresses, *_ranges(kernel))
    prog.from_disk = disk_hit
    return prog, False


def _ranges(kernel: Kernel) -> tuple[int, int, int]:
    """(trip count of the split loop, elements visited, trip count of a full reduction's split
    axis): the loops renderer.Renderer chooses to run start..end."""
    shape, axes = kernel.shape, kernel.reduce_axes
    work = 1
    for d in shape:
        work *= d
    split = next((n for d, n in enumerate(shape) if d not in axes and n != 1), None)
    if split is not None or not axes or not kernel.reductions():
        return (split if split is not None else 1), work, 0
    part = next((shape[d] for d in axes if shape[d] != 1), shape[min(axes)])
    return 1, work, part


def cache_size() -> int:
    """How many compiled kernels the in-memory cache holds."""
    return len(_cache)


def _input_array(x: Node) -> np.ndarray:
    data = x.arg.data
    if data is None:
        raise RuntimeError(f"buffer #{x.arg.uid} has no data")
    if not data.flags.c_contiguous or data.dtype != x.dtype.np_dtype:
        data = np.ascontiguousarray(data, dtype=x.dtype.np_dtype)
    return data


def run(outputs: list[Node]) -> list[np.ndarray]:
    """Evaluate `outputs` with compiled kernels; one array per output (BUFFER outputs as views)."""
    g = run_pipeline(list(outputs), PIPELINE, check=config.get("CHECK"),
                     print_after=config.get("PRINT_AFTER"), log=_log)
    sched = g.schedule
    debug = config.get("DEBUG")
    if debug >= 2:
        print(f"; schedule\n{sched.describe()}", file=sys.stderr)
    raw: dict[int, np.ndarray] = {}  # slot -> memory
    typed: dict[int, np.ndarray] = {}  # slot -> the array of the value it holds now
    for step in sched.steps:
        value = step.kernel.computes[0]
        slot = sched.slots[step.out_slot]
        if slot.is_output:
            out = allocator.empty(value.dtype, value.shape)
        else:
            if step.out_slot not in raw:
                raw[step.out_slot] = allocator.slot(slot.nbytes)
            out = allocator.view(raw[step.out_slot], value.dtype, value.shape)
        inputs = [typed[x] if isinstance(x, int) else _input_array(x) for x in step.inputs]
        prog, hit = program_for(step.kernel)
        t0 = time.perf_counter() if debug else 0.0
        prog(out, inputs, step.kernel)
        if debug:
            dt_s = time.perf_counter() - t0
            nbytes = out.nbytes + sum(a.nbytes for a in inputs)
            print(f"{prog.name:<40} {dt_s * 1e3:9.3f} ms {nbytes / max(dt_s, 1e-9) / 1e9:8.2f} GB/s"
                  f"{'  (cached)' if hit else '  (disk cache)' if prog.from_disk else '  (compiled)'}",
                  file=sys.stderr)
        typed[step.out_slot] = out
    results = []
    for where, node in zip(sched.outputs, g.outputs):
        if isinstance(where, int):
            results.append(typed[where])
        else:  # a stored buffer asked for as is: a view, so the caller copies before keeping it
            results.append(_input_array(where).view().reshape(node.shape))
    return results
