"""The schedule pass: kernels in dependency order, buffer lifetimes and buffer reuse.

Each kernel's output goes to a *slot*. An output of the graph gets a slot of its own (the caller
keeps the array); an output that is a RESHAPE of a stored value is found in that value's slot
(fuse.storage_root), read with the output's shape. An intermediate value's slot is freed after
the last step that reads it, and a later intermediate of the same byte size takes a freed slot
instead of new memory. A slot freed after step i is reusable from step i+1 on, so a kernel never
writes the memory it reads.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..ir import Node
from ..kernel import Kernel
from . import Graph, PassContext, register
from .fuse import storage_root


@dataclass(frozen=True)
class Step:
    """One kernel launch: its kernel, the slot it writes, and where each parameter is read from
    (a slot number, or the original BUFFER node for stored data)."""
    kernel: Kernel
    out_slot: int
    inputs: tuple


@dataclass(frozen=True)
class Slot:
    """A piece of memory: its byte size, whether it is a graph output, and its live range
    (the steps of its values' first write and last read, inclusive)."""
    nbytes: int
    is_output: bool
    first: int
    last: int


@dataclass(frozen=True)
class Schedule:
    """Steps in run order, the slots they use, and where each graph output is found
    (a slot number, or a BUFFER node when the output is stored data already), to be read with
    the output's shape."""
    steps: tuple[Step, ...]
    slots: tuple[Slot, ...]
    outputs: tuple

    def describe(self) -> str:
        """One line per step: kernel, output slot, inputs; then the slots."""
        lines = []
        for i, s in enumerate(self.steps):
            ins = ", ".join(f"slot{x}" if isinstance(x, int) else f"#{x.arg.uid}" for x in s.inputs)
            lines.append(f"step {i}: {s.kernel.name} -> slot{s.out_slot} ({ins})")
        for i, sl in enumerate(self.slots):
            kind = "output" if sl.is_output else "temp"
            lines.append(f"slot{i}: {sl.nbytes} bytes, {kind}, steps {sl.first}..{sl.last}")
        return "\n".join(lines)


def _nbytes(n: Node) -> int:
    return n.size * n.dtype.itemsize


def order_kernels(kernels) -> list[Kernel]:
    """Kernels sorted so each runs after the kernels that compute its inputs (stable)."""
    by_value = {id(k.computes[0]): k for k in kernels}
    done: set[int] = set()
    out: list[Kernel] = []

    def visit(k: Kernel) -> None:
        stack = [(k, False)]
        while stack:
            cur, expanded = stack.pop()
            if expanded:
                if id(cur) not in done:
                    done.add(id(cur))
                    out.append(cur)
                continue
            if id(cur) in done:
                continue
            stack.append((cur, True))
            for x in reversed(cur.inputs):
                dep = by_value.get(id(x))
                if dep is not None and id(dep) not in done:
                    stack.append((dep, False))

    for k in kernels:
        visit(k)
    return out


def make_schedule(outputs: tuple[Node, ...], kernels) -> Schedule:
    """Order the kernels, give each value a slot, reuse freed slots of equal size."""
    kernels = order_kernels(kernels)
    roots = [storage_root(o) for o in outputs]
    out_ids = {id(r) for r in roots}
    last_read: dict[int, int] = {}
    for i, k in enumerate(kernels):
        for x in k.inputs:
            last_read[id(x)] = i
    slots: list[list] = []  # [nbytes, is_output, first, last]
    slot_of: dict[int, int] = {}
    free: dict[int, list[int]] = {}  # nbytes -> freed slot numbers
    steps = []
    for i, k in enumerate(kernels):
        value = k.computes[0]
        nbytes = _nbytes(value)
        if id(value) in out_ids:
            s = len(slots)
            slots.append([nbytes, True, i, len(kernels)])
        elif free.get(nbytes):
            s = free[nbytes].pop()
            slots[s][3] = i
        else:
            s = len(slots)
            slots.append([nbytes, False, i, i])
        slot_of[id(value)] = s
        ins = tuple(slot_of.get(id(x), x) for x in k.inputs)
        steps.append(Step(k, s, ins))
        # free the temporaries this step read for the last time (usable from the next step on)
        for x in k.inputs:
            xs = slot_of.get(id(x))
            if xs is not None and last_read[id(x)] == i and not slots[xs][1]:
                slots[xs][3] = max(slots[xs][3], i)
                free.setdefault(slots[xs][0], []).append(xs)
        if id(value) not in out_ids and id(value) not in last_read:
            free.setdefault(nbytes, []).append(s)  # never read: free at once
    where = tuple(slot_of.get(id(r), r) for r in roots)
    return Schedule(tuple(steps), tuple(Slot(*sl) for sl in slots), where)


@register("schedule")
def schedule(g: Graph, ctx: PassContext) -> Graph:
    """Order the kernels and assign memory (needs the fuse pass first)."""
    if g.kernels is None:
        raise ValueError("schedule needs kernels: run the fuse pass first")
    return g.with_(schedule=make_schedule(g.outputs, g.kernels))
