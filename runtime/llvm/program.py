"""The program: a compiled kernel as a callable, and the errors its kernel reports.

A ctypes call releases the GIL for its duration, so threads run slices of one kernel (`start`,
`end` over its split loop) in parallel (threads.py). A full reduction instead splits its first
reduced axis: each thread stores a partial accumulator and `_fin` combines them.
"""
from __future__ import annotations

import ctypes

import numpy as np

from lazytensor.compiler.ops import IntegerDivisionByZero

from . import threads
from .lowering import ERR_IDIV, ERR_MOD
from .renderer import Rendered

_INT64_MIN, _INT64_MAX = np.iinfo(np.int64).min, np.iinfo(np.int64).max


class Program:
    """A kernel's machine code: `program(out, inputs)` runs it over the whole iteration range."""

    def __init__(self, rendered: Rendered, addresses: dict[str, int], outer: int, work: int,
                 part_total: int = 0):
        """`addresses`: function name -> address; `outer`: the split loop's trip count; `work`:
        elements the kernel visits (decides whether to split); `part_total`: a full reduction's
        split axis length (its `_part` function runs slices of it)."""
        self.rendered = rendered
        self.name = rendered.name
        self.outer = outer
        self.work = work
        self.part_total = part_total
        ranged = [ctypes.c_void_p] * (rendered.n_inputs + 2) + [ctypes.c_int64, ctypes.c_int64]
        self.fn = ctypes.CFUNCTYPE(None, *ranged)(addresses[self.name])
        self.address = addresses[self.name]
        self.partial = rendered.partial
        self.from_disk = False  # loaded from the disk cache rather than compiled (LT_DEBUG=1)
        self._no_errors = self.fresh_errors()  # the err array of a kernel that flags nothing
        if self.partial is not None:
            self.part_fn = ctypes.CFUNCTYPE(None, *ranged)(addresses[self.name + "_part"])
            fin = [ctypes.c_void_p] * (rendered.n_inputs + 3) + [ctypes.c_int64]
            self.fin_fn = ctypes.CFUNCTYPE(None, *fin)(addresses[self.name + "_fin"])

    def fresh_errors(self) -> np.ndarray:
        """The err array a launch starts from: no flags, max/min sentinels for gathers."""
        err = np.zeros(self.rendered.err_size, dtype=np.int64)
        for _, slot in self.rendered.gathers:
            err[slot + 1], err[slot + 2] = _INT64_MIN, _INT64_MAX
        return err

    def __call__(self, out: np.ndarray, inputs: list[np.ndarray], kernel=None) -> None:
        """Run the kernel writing `out` from `inputs`; raise what the kernel flagged (naming the
        source lines of `kernel`, the Kernel being run, when given)."""
        ptrs = [a.ctypes.data for a in inputs]
        out_ptr = out.ctypes.data
        if self.partial is not None and self.work >= threads.MIN_PARALLEL_WORK:
            self._reduce_in_parts(out_ptr, ptrs, kernel)
            return
        if not (self.rendered.gathers or self.rendered.divisions):
            # nothing can flag an error: every slice gets the same untouched err array
            fn, err_ptr = self.fn, self._no_errors.ctypes.data
            threads.parallel_for(lambda i, start, end: fn(out_ptr, *ptrs, err_ptr, start, end),
                                 self.outer, self.work)
            return
        errs: dict[int, np.ndarray] = {}

        def part(i: int, start: int, end: int) -> None:
            err = errs[i] = self.fresh_errors()
            self.fn(out_ptr, *ptrs, err.ctypes.data, start, end)

        threads.parallel_for(part, self.outer, self.work)
        err = self._merge(list(errs.values()))
        if err.any():
            self.check(err, kernel)

    def _reduce_in_parts(self, out_ptr: int, ptrs: list, kernel) -> None:
        """A full reduction on all cores: partial accumulators per slice, then `_fin`."""
        parts = threads.chunks(self.part_total, threads.workers())
        partials = np.empty(max(len(parts), 1), dtype=np.int64)  # 8-byte slots (renderer)
        base, step = partials.ctypes.data, 8
        err = self.fresh_errors()  # no error-flagging op here (renderer.render_module)

        def part(i: int, start: int, end: int) -> None:
            self.part_fn(base + i * step, *ptrs, err.ctypes.data, start, end)

        n = threads.parallel_for(part, self.part_total, self.work)
        self.fin_fn(out_ptr, *ptrs, err.ctypes.data, base, n)

    def _merge(self, errs: list[np.ndarray]) -> np.ndarray:
        """One err array from each slice's: flags or-ed, gather index extremes kept."""
        err = errs[0]
        for other in errs[1:]:
            err[0] |= other[0]
            for _, slot in self.rendered.gathers:
                err[slot] |= other[slot]
                err[slot + 1] = max(err[slot + 1], other[slot + 1])
                err[slot + 2] = min(err[slot + 2], other[slot + 2])
        return err

    def check(self, err: np.ndarray, kernel=None) -> None:
        """Raise the error the numpy reference would raise for what the kernel flagged."""
        # the program is cached: its sites name this flush's lines through `kernel` (Site)
        for site, slot in self.rendered.gathers:
            if err[slot]:
                axis, size = site.axis, site.size
                bad = int(err[slot + 1]) if err[slot + 1] >= size else int(err[slot + 2])
                raise IndexError(f"index {bad} is out of bounds for dimension {axis} with size "
                                 f"{size} (in GATHER built at {site.location(kernel)})")
        for bit, what in ((ERR_IDIV, "division"), (ERR_MOD, "modulo")):
            if err[0] & bit:
                op = "IDIV" if bit == ERR_IDIV else "MOD"
                where = next((s for s in self.rendered.divisions if s.op == op), None)
                loc = where.location(kernel) if where is not None else "<unknown>"
                raise IntegerDivisionByZero(f"ZeroDivisionError: integer {what} by zero (in {op} built at {loc})")
