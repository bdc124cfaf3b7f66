"""The program: a compiled kernel as a callable, and the errors its kernel reports.

A big kernel runs in parts (`start`, `end` over its split loop) on every core, through the
native thread pool (threads.py): a launch is one ctypes call over a task table made once per
program and part count (`_Launch`); a call only writes its buffers' addresses into the parts'
argument arrays. A full reduction instead splits its first reduced axis: each part stores a
partial accumulator and `_fin` combines them. A kernel that can flag errors gets an err array per
part, merged after the launch.
"""
from __future__ import annotations

import ctypes

import numpy as np

from lazytensor.compiler.ops import IndexOutOfBounds, IntegerDivisionByZero

from . import threads
from .allocator import address
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
        self._no_errors_ptr = self._no_errors.ctypes.data
        self._launches: dict[int, _Launch] = {}  # parts -> its launch (threads.MIN_PARALLEL_WORK)
        self._flags = bool(rendered.gathers or rendered.divisions)  # may flag errors
        if self.partial is not None:
            self.part_address = addresses[self.name + "_part"]
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
        self.launch(address(out), [address(a) for a in inputs], kernel)

    def launch(self, out_ptr: int, ptrs: list[int], kernel=None) -> None:
        """`self(out, inputs, kernel)` given the arrays' addresses (a plan's replay knows them
        without asking numpy: see backend.execute)."""
        n = threads.workers() if self.work >= threads.MIN_PARALLEL_WORK else 1
        launch = (self._launches.get(n) or self._prepare(n)) if n > 1 else None
        if launch is None or launch.nparts <= 1:  # all on the calling thread
            if not self._flags:
                self.fn(out_ptr, *ptrs, self._no_errors_ptr, 0, self.outer)
                return
            err = self.fresh_errors()
            self.fn(out_ptr, *ptrs, err.ctypes.data, 0, self.outer)
            if err.any():
                self.check(err, kernel)
            return
        with threads.lock:  # the launch's tables are this program's, shared by all threads
            launch.fill(out_ptr, ptrs)
            threads.run(launch.address, launch.nparts)
            if launch.partials is not None:  # a full reduction: combine the parts' partials
                self.fin_fn(out_ptr, *ptrs, self._no_errors_ptr, launch.partials_ptr,
                            launch.nparts)
            elif launch.errs is not None:
                err = self._merge(list(launch.errs))
                if err.any():
                    self.check(err, kernel)

    def _prepare(self, n: int) -> "_Launch":
        """The launch of this kernel in (at most) `n` parts, made once per `n`."""
        launch = self._launches[n] = _Launch(self, n)
        return launch

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
                raise IndexOutOfBounds(f"index {bad} is out of bounds for dimension {axis} with size "
                                 f"{size} (in GATHER built at {site.location(kernel)})")
        for bit, what in ((ERR_IDIV, "division"), (ERR_MOD, "modulo")):
            if err[0] & bit:
                op = "IDIV" if bit == ERR_IDIV else "MOD"
                where = next((s for s in self.rendered.divisions if s.op == op), None)
                loc = where.location(kernel) if where is not None else "<unknown>"
                raise IntegerDivisionByZero(f"ZeroDivisionError: integer {what} by zero (in {op} built at {loc})")


class _Launch:
    """A program split into parts, ready to launch: the task table (threads.task_table) and each
    part's argument array `[out, inputs.., err]`, filled in per call under threads.lock.

    - a kernel that flags nothing: one argument array shared by all parts;
    - one that flags errors: an array per part, each with its own err array (`errs`);
    - a full reduction (`_part` functions): an array per part, each writing its own 8-byte slot
      of `partials` (the renderer's slot size), combined by `_fin`."""

    def __init__(self, prog: Program, n: int):
        split = prog.part_total if prog.partial is not None else prog.outer
        parts = threads.chunks(split, n)
        self.nparts = len(parts)
        self.n_inputs = prog.rendered.n_inputs
        self.width = width = self.n_inputs + 2
        self.errs = self.partials = None
        self._fresh = None
        rows = self.nparts if (prog._flags or prog.partial is not None) else 1
        self.args = (ctypes.c_int64 * (rows * width))()
        base = ctypes.addressof(self.args)
        fn = prog.address
        if prog.partial is not None:
            fn = prog.part_address
            self.partials = np.zeros(max(self.nparts, 1), dtype=np.int64)
            self.partials_ptr = self.partials.ctypes.data
            for i in range(rows):
                self.args[i * width] = self.partials_ptr + 8 * i
                self.args[i * width + width - 1] = prog._no_errors_ptr
        elif prog._flags:
            self._fresh = prog.fresh_errors()
            self.errs = np.empty((self.nparts, prog.rendered.err_size), dtype=np.int64)
            for i in range(rows):
                self.args[i * width + width - 1] = self.errs[i].ctypes.data
        else:
            self.args[width - 1] = prog._no_errors_ptr
        self.rows = rows
        self.tasks = threads.task_table(threads.trampoline(width), fn,
                                        [base + 8 * width * min(i, rows - 1)
                                         for i in range(self.nparts)], parts)
        self.address = self.tasks.ctypes.data

    def fill(self, out_ptr: int, ptrs: list[int]) -> None:
        """Write this call's buffers into the argument arrays (and reset the err arrays)."""
        args, width, n = self.args, self.width, self.n_inputs
        if self.partials is not None:  # each part writes its own partial: inputs only
            for i in range(self.rows):
                args[i * width + 1:i * width + 1 + n] = ptrs
            return
        row = [out_ptr, *ptrs]
        for i in range(self.rows):
            args[i * width:i * width + n + 1] = row
        if self.errs is not None:
            self.errs[:] = self._fresh
