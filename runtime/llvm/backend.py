"""The LLVM backend's `run(outputs) -> arrays`, the contract of runtime/numpy_backend.py.

A flush runs the pass pipeline (simplify, fuse, schedule), compiles each kernel it has not seen
(an in-memory cache keyed by the kernel's structural key, so a training loop compiles once; under
it the disk cache of compiler.py, LT_CACHE_DIR / LT_NOCACHE), and launches the schedule's steps
over memory from the caching allocator (allocator.py: outputs come back `claim`able), each
kernel split across the cores (threads.py). The schedule of a flushed graph is cached as a
*plan* keyed by the graph's structure, so a loop that flushes the same graph over other buffers
skips the passes (`signature`, `execute`); an in-place target's kernel writes straight into its
storage where the schedule allows (`run(..., into=...)`, `_in_place`). Knobs (read here, passed
to the compiler as arguments): LT_CHECK, LT_PRINT_AFTER, LT_LOG=fusion, LT_DEBUG (1: a line per launch,
2: the schedule, 3: each kernel's IR, 4: its LLVM IR, 5: its assembly; 3+ print at compile time).
"""
from __future__ import annotations

import bisect
import sys
import time
from collections import OrderedDict
from dataclasses import dataclass, field, replace

import numpy as np

from lazytensor import config
from lazytensor.compiler.ir import Node, toposort
from lazytensor.compiler.kernel import Kernel, param_index
from lazytensor.compiler.ops import ELEMENTWISE, Op
from lazytensor.compiler.passes import run_pipeline
from lazytensor.compiler.text import print_graph

from . import allocator
from .allocator import address
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
    addresses, disk_hit = compile_ir(rendered.ir, names, cache_dir, rendered.fast)
    if debug >= 5:
        print(assembly(rendered.ir, rendered.fast), file=sys.stderr)
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


WRITES_IN_PLACE = True  # run() takes `into` (lazy.realize passes in-place targets' storage)


# claim(array): True once for an output array of `run` that the caller may keep without a copy
# (nothing else sees its memory); the allocator's own, called once per flushed output
claim = allocator.claim


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


# ---- plans: a flushed graph's schedule, cached by the graph's structure ----
#
# Running the passes costs tens of microseconds per kernel in Python at every flush, and a loop
# flushes the same graph over and over with other buffers. So a flush first computes the graph's
# *signature* (its nodes' ops, types, shapes and arguments, with stored buffers numbered by the
# order the walk meets them) and replays the plan recorded for that signature: the schedule's
# steps with each input named by slot or by buffer number. A plan holds no graph node (it would
# keep their storage alive): an error raised while replaying one is raised again by running the
# graph uncached, so its message names the lines of this flush.

MAX_PLANS = 512
_plans: "OrderedDict[tuple, Plan]" = OrderedDict()


class _Signature(tuple):
    """A graph's structural key that hashes itself once: a plan lookup hashes its key up to three
    times (get, move_to_end, del), and a training step's key is hundreds of nested tuples."""

    def __hash__(self) -> int:
        try:
            return self._hash
        except AttributeError:  # the first time (TypeError where an op argument does not hash)
            self._hash = h = tuple.__hash__(self)
            return h


def signature(outputs) -> tuple[tuple, list[Node]]:
    """(a hashable structural key of the graph of `outputs`, its BUFFER nodes in key order)."""
    # One depth-first walk in ir.toposort's order (sources left to right), numbering each node as
    # it is listed: every flush of the llvm backend pays this walk, so it is not toposort's walk
    # followed by a second loop. In a DAG a node met again is always finished (one still on the
    # path would be its own source), so "numbered" is the only mark a node needs.
    index: dict[Node, int] = {}
    leaves: list[Node] = []
    parts: list[tuple] = []
    buffer = Op.BUFFER

    def number_source(n: Node) -> None:
        arg = n.arg
        if n.op is buffer:
            arg = ("buffer", len(leaves))
            leaves.append(n)
        elif type(arg) is float:
            arg = arg.hex()  # -0.0 and nan are constants of their own
        index[n] = len(parts)
        parts.append((n.op, n.dtype, n.shape, arg, ()))

    for root in outputs:
        if root in index:
            continue
        if not root.srcs:
            number_source(root)
            continue
        path, pending = [root], [iter(root.srcs)]
        while path:
            for s in pending[-1]:
                if s not in index:
                    if s.srcs:
                        path.append(s)
                        pending.append(iter(s.srcs))
                        break
                    number_source(s)  # a source is numbered at once, never pushed
            else:
                pending.pop()
                n = path.pop()
                arg = n.arg
                if type(arg) is float:
                    arg = arg.hex()
                srcs = n.srcs
                # one and two operands spelled out: a third quicker than a comprehension
                if len(srcs) == 1:
                    at = (index[srcs[0]],)
                elif len(srcs) == 2:
                    at = (index[srcs[0]], index[srcs[1]])
                else:
                    at = tuple([index[s] for s in srcs])
                index[n] = len(parts)
                parts.append((n.op, n.dtype, n.shape, arg, at))
    return _Signature((tuple(parts), tuple([index[o] for o in outputs]))), leaves


@dataclass
class PlanStep:
    """One launch: the kernel's cache key and program, where its output goes (slot, dtype,
    shape, whether the slot is a graph output, the slot's bytes), and its inputs (a slot number,
    or ("buffer", i) for the flush's i-th stored buffer)."""
    key: str
    prog: Program
    slot: int
    dtype: object
    shape: tuple
    is_output: bool
    nbytes: int
    inputs: tuple
    kernel: Kernel | None = None  # only while the plan runs the graph it was made from
    hit: bool = True  # the program came from the in-memory cache (LT_DEBUG=1)
    same_index: frozenset = frozenset()  # inputs read only where the output is written


@dataclass
class Plan:
    """A schedule over numbered buffers: its steps and where each output is found."""
    steps: list
    outputs: tuple  # per output: a slot number or ("buffer", i)
    _layout: tuple | None = field(default=None, repr=False, compare=False)
    _facts: tuple | None = field(default=None, repr=False, compare=False)
    # the cache's own key object: looked up by identity, an equal key is compared in full again
    key: tuple | None = field(default=None, repr=False, compare=False)

    def stripped(self) -> "Plan":
        """The plan without its kernels (what the cache keeps: no graph node stays alive)."""
        return Plan([replace(s, kernel=None) for s in self.steps], self.outputs)

    def layout(self) -> tuple[dict[int, int], int, int]:
        """(temporary slot -> byte offset in one block, the block's bytes, the index of the last
        step whose kernel may raise or -1), worked out once per plan: a replay allocates its
        temporaries in one piece."""
        if self._layout is None:
            offsets: dict[int, int] = {}
            total = 0
            last_raising = -1
            for i, s in enumerate(self.steps):
                if not s.is_output and s.slot not in offsets:
                    offsets[s.slot] = total
                    total += -(-max(s.nbytes, 1) // allocator.ALIGN) * allocator.ALIGN
                if s.prog.rendered.gathers or s.prog.rendered.divisions:
                    last_raising = i
            self._layout = (offsets, total, last_raising)
        return self._layout

    def in_place_facts(self) -> tuple[dict[int, int], list, list, list]:
        """What `_in_place` needs of the plan itself, worked out once: (output slot -> the last
        step writing it, for steps after every step that may raise; (step, input position, leaf)
        for each stored buffer a step reads, in step order; those reads' steps; the leaves handed
        back as outputs)."""
        if self._facts is None:
            last_raising = self.layout()[2]
            writer = {s.slot: i for i, s in enumerate(self.steps)
                      if s.is_output and i > last_raising}
            reads = [(i, pos, x[1]) for i, s in enumerate(self.steps)
                     for pos, x in enumerate(s.inputs) if not isinstance(x, int)]
            stored = [x[1] for x in self.outputs if not isinstance(x, int)]
            self._facts = (writer, reads, [r[0] for r in reads], stored)
        return self._facts


def make_plan(sched, leaves: list[Node]) -> Plan | None:
    """The plan of a schedule, naming stored buffers by their place in `leaves` (None when a
    buffer is not among them)."""
    number = {id(x): i for i, x in enumerate(leaves)}

    def name(x):
        if isinstance(x, int):
            return x
        i = number.get(id(x))
        if i is None:
            raise KeyError(x)
        return ("buffer", i)

    try:
        steps = []
        for step in sched.steps:
            value = step.kernel.computes[0]
            slot = sched.slots[step.out_slot]
            prog, hit = program_for(step.kernel)
            steps.append(PlanStep(step.kernel.key, prog, step.out_slot, value.dtype, value.shape,
                                  slot.is_output, slot.nbytes, tuple(name(x) for x in step.inputs),
                                  step.kernel, hit, same_index_inputs(step.kernel)))
        return Plan(steps, tuple(name(x) for x in sched.outputs))
    except KeyError:
        return None


def same_index_inputs(kernel: Kernel) -> frozenset:
    """Positions of the inputs that a kernel reads only at the element it writes: every path from
    the parameter to the output is RESHAPEs and elementwise ops, and the input has the output's
    size (row-major position in = row-major position out). Writing the output over such an input
    is safe: each element is read before it is written, by the same iteration. In a reducing
    kernel that is an input of the epilogue only (`w - lr * (g.T @ x)`): every renderer (the
    loop nest, column tiles, matmul tiles, a full reduction's `_fin`) stores an output element
    once, after its reduction, and reads the epilogue's inputs there; inputs under the
    reduction are read at other elements and never qualify."""
    (out,) = kernel.outputs
    clean: dict[int, frozenset] = {}  # node -> params reaching it through clean paths only
    reach: dict[int, frozenset] = {}  # node -> every param under it
    bad: set[int] = set()
    for n in toposort([out]):
        i = param_index(n)
        if i is not None:
            clean[id(n)] = reach[id(n)] = frozenset([i]) if n.size == out.size else frozenset()
            if n.size != out.size:
                bad.add(i)
            continue
        under = frozenset().union(*(reach[id(s)] for s in n.srcs))
        reach[id(n)] = under
        if n.op is Op.RESHAPE or n.op in ELEMENTWISE:
            clean[id(n)] = frozenset().union(*(clean[id(s)] for s in n.srcs))
        else:  # a view that moves elements, a gather, a source: its params are read elsewhere
            clean[id(n)] = frozenset()
            bad.update(under)
    return frozenset(clean[id(out)] - bad)


def _in_place(plan: Plan, leaves: list[Node], into) -> dict[int, np.ndarray]:
    """slot -> destination array, for the outputs whose kernel may write straight into the
    storage `into` names for them (the schedule allows it): no kernel from the writing step on
    can raise; the output is computed by a kernel of the destination's dtype and size; no later
    step, and no output handed back as stored data, reads memory the destination may share; the
    writing step reads such memory only as the very same array, element by element where it
    writes (`same_index_inputs`); and no two destinations overlap."""
    dests: dict[int, np.ndarray] = {}
    # A kernel may raise (index out of range, division by zero): the flush then fails or is run
    # again, and either way the old contents must still be there. So only a step after the last
    # one that may raise writes in place (a training step's gather comes long before its updates).
    writer, reads, read_steps, stored = plan.in_place_facts()
    if not writer:
        return dests
    steps = plan.steps
    for where, dest in zip(plan.outputs, into):
        if dest is None or not isinstance(where, int) or where in dests:
            continue
        w = writer.get(where)
        if w is None:
            continue
        step = steps[w]
        if (dest.dtype != step.dtype.np_dtype or not dest.flags.c_contiguous
                or not dest.flags.writeable or dest.size != _size(step.shape)):
            continue
        if dests and any(np.may_share_memory(dest, d) for d in dests.values()):
            continue
        ok = True
        for i, pos, k in reads[bisect.bisect_left(read_steps, w):]:  # steps from the writer on
            data = leaves[k].arg.data
            if data is dest:  # the update reads its own storage (cheaper than the tests below)
                same = i == w and pos in steps[i].same_index
            elif data is None or not np.may_share_memory(dest, data):
                continue
            else:
                same = (i == w and pos in steps[i].same_index
                        and data.ctypes.data == dest.ctypes.data
                        and data.dtype == dest.dtype and data.size == dest.size)
            if not same and dest.size:
                ok = False
                break
        for k in stored:
            data = leaves[k].arg.data
            if data is not None and np.may_share_memory(dest, data):
                ok = False
        if ok:
            dests[where] = dest
    return dests


def _size(shape: tuple) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def execute(plan: Plan, leaves: list[Node], outputs, debug: int = 0,
            into=None) -> list[np.ndarray]:
    """Run a plan over the flush's stored buffers `leaves`; one array per output node. `into`:
    per output, the storage the caller will store it in (or None); where the schedule allows
    (`_in_place`) the kernel writes there directly and the result is that storage.

    Kernels are launched with addresses, each found once per flush: a temporary's is its offset
    in the plan's one block (no array is made for it), a stored buffer's is looked up once
    however many kernels read it (asking numpy for an address costs ~0.3 us warm, several
    after a big kernel has emptied the caches; a training step's replay used to ask ~80 times)."""
    dests = _in_place(plan, leaves, into) if into is not None else None
    offsets, total, _ = plan.layout()
    block = allocator.slot(total) if total else None  # every temporary, at its offset
    base = address(block) if block is not None else 0
    empty = allocator.empty
    arrays: dict[int, np.ndarray] = {}  # output slot -> the array of the value it holds now
    at: dict = {}  # slot, or ("buffer", i) -> the address of the value it holds now
    kept = []  # stored buffers converted for a kernel (contiguous, typed): alive until the end
    for step in plan.steps:
        if not step.is_output:
            out_ptr = base + offsets[step.slot]
        else:
            if dests and step.slot in dests:
                out = dests[step.slot].reshape(step.shape)
            else:
                out = empty(step.dtype, step.shape)
            arrays[step.slot] = out
            out_ptr = address(out)
        ptrs = []
        for x in step.inputs:
            ptr = at.get(x)
            if ptr is None:  # a stored buffer met for the first time in this flush
                data = _input_array(leaves[x[1]])
                kept.append(data)
                ptr = at[x] = address(data)
            ptrs.append(ptr)
        prog = step.prog
        if debug:
            t0 = time.perf_counter()
            prog.launch(out_ptr, ptrs, step.kernel)
            _print_launch(plan, step, leaves, time.perf_counter() - t0)
        else:
            prog.launch(out_ptr, ptrs, step.kernel)
        at[step.slot] = out_ptr
    results = []
    for where, node in zip(plan.outputs, outputs):
        if isinstance(where, int):  # the value's own array, or a RESHAPE of it (fuse.storage_root)
            value = arrays[where]
            results.append(value if value.shape == node.shape else value.reshape(node.shape))
        else:  # a stored buffer asked for as is: a view, so the caller copies before keeping it
            results.append(_input_array(leaves[where[1]]).view().reshape(node.shape))
    return results


def _print_launch(plan: Plan, step: PlanStep, leaves: list[Node], seconds: float) -> None:
    """LT_DEBUG=1's line for one launch: time, bytes moved per second, where the program came
    from."""
    sizes = {s.slot: s.nbytes for s in plan.steps}
    nbytes = step.nbytes + sum(sizes[x] if isinstance(x, int) else leaves[x[1]].arg.data.nbytes
                               for x in step.inputs)
    prog = step.prog
    how = "(plan)" if step.kernel is None else "(cached)" if step.hit else \
        "(disk cache)" if prog.from_disk else "(compiled)"
    print(f"{prog.name:<40} {seconds * 1e3:9.3f} ms {nbytes / max(seconds, 1e-9) / 1e9:8.2f} GB/s"
          f"  {how}", file=sys.stderr)


def _cached_plan(sig) -> Plan | None:
    try:
        plan = _plans.get(sig)
    except TypeError:  # an op argument that does not hash: no plan for this graph
        return None
    if plan is not None:
        _plans.move_to_end(plan.key)
    return plan


def run(outputs: list[Node], into=None) -> list[np.ndarray]:
    """Evaluate `outputs` with compiled kernels; one array per output (BUFFER outputs as views).
    `into` (optional): per output, the flat array the caller will store it in, or None; an output
    written there directly comes back as that array (see `execute`)."""
    knobs = config.values  # (read directly: config.get is a call per knob, at every flush)
    check, print_after, debug = knobs["CHECK"], knobs["PRINT_AFTER"], knobs["DEBUG"]
    # the knobs that show the passes' work run them every time
    use_plans = not (check or print_after or knobs["LOG"] or debug >= 2)
    sig, leaves = signature(outputs)
    if use_plans:
        plan = _cached_plan(sig)
        if plan is not None:
            try:
                return execute(plan, leaves, outputs, debug, into)
            except Exception:
                pass  # run uncached below: the error then names this flush's source lines
    g = run_pipeline(list(outputs), PIPELINE, check=check, print_after=print_after, log=_log)
    sched = g.schedule
    if debug >= 2:
        print(f"; schedule\n{sched.describe()}", file=sys.stderr)
    plan = make_plan(sched, leaves)
    if plan is None:  # the passes never make buffers: every one read is a leaf of the graph
        raise RuntimeError("internal error: the schedule reads a buffer outside the flushed graph")
    results = execute(plan, leaves, g.outputs, debug, into)
    kept = plan.stripped()
    kept.key = sig
    try:
        _plans[sig] = kept
    except TypeError:
        return results
    if len(_plans) > MAX_PLANS:
        _plans.popitem(last=False)
    return results


def plan_count() -> int:
    """How many flushed-graph plans are cached."""
    return len(_plans)


def clear_kernels() -> None:
    """Forget every compiled kernel held in memory, and the plans that launch them (the disk
    cache stays: a kernel compiled again may come from there)."""
    _cache.clear()
    _plans.clear()
