"""The program: a compiled kernel as a callable, and the errors its kernel reports.

A ctypes call releases the GIL for its duration, so plain threads can later run slices of one
kernel (`start`, `end` over its first loop) in parallel.
"""
from __future__ import annotations

import ctypes

import numpy as np

from lazytensor.compiler.ir import format_location

from .lowering import ERR_IDIV, ERR_MOD
from .renderer import Rendered

_INT64_MIN, _INT64_MAX = np.iinfo(np.int64).min, np.iinfo(np.int64).max


class Program:
    """A kernel's machine code: `program(out, inputs)` runs it over the whole iteration range."""

    def __init__(self, rendered: Rendered, address: int, outer: int):
        self.rendered = rendered
        self.name = rendered.name
        self.outer = outer  # the trip count of the first loop: the range start..end splits
        argtypes = [ctypes.c_void_p] * (rendered.n_inputs + 2) + [ctypes.c_int64, ctypes.c_int64]
        self.fn = ctypes.CFUNCTYPE(None, *argtypes)(address)
        self.address = address

    def fresh_errors(self) -> np.ndarray:
        """The err array a launch starts from: no flags, max/min sentinels for gathers."""
        err = np.zeros(self.rendered.err_size, dtype=np.int64)
        for _, slot in self.rendered.gathers:
            err[slot + 1], err[slot + 2] = _INT64_MIN, _INT64_MAX
        return err

    def __call__(self, out: np.ndarray, inputs: list[np.ndarray], kernel=None) -> None:
        """Run the kernel writing `out` from `inputs`; raise what the kernel flagged (naming the
        source lines of `kernel`, the Kernel being run, when given)."""
        err = self.fresh_errors()
        self.fn(out.ctypes.data, *[a.ctypes.data for a in inputs], err.ctypes.data, 0, self.outer)
        if err.any():
            self.check(err, kernel)

    def check(self, err: np.ndarray, kernel=None) -> None:
        """Raise the error the numpy reference would raise for what the kernel flagged."""
        # the program is cached: its nodes may come from an earlier flush; name this one's lines
        source = kernel.source_of if kernel is not None else (lambda n: n)
        for node, slot in self.rendered.gathers:
            if err[slot]:
                axis = node.arg
                size = node.srcs[0].shape[axis]
                bad = int(err[slot + 1]) if err[slot + 1] >= size else int(err[slot + 2])
                raise IndexError(f"index {bad} is out of bounds for dimension {axis} with size "
                                 f"{size} (in GATHER built at {format_location(source(node).loc)})")
        for bit, what in ((ERR_IDIV, "division"), (ERR_MOD, "modulo")):
            if err[0] & bit:
                op = "IDIV" if bit == ERR_IDIV else "MOD"
                where = next((n for n in self.rendered.divisions if n.op.name == op), None)
                loc = format_location(source(where).loc) if where is not None else "<unknown>"
                raise ZeroDivisionError(f"integer {what} by zero (in {op} built at {loc})")
