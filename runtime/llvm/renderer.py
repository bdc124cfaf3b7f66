"""The renderer: a fused `Kernel` -> LLVM IR text.

The kernel's function is `void @name(ptr noalias %out0, ptr noalias %in0.., ptr %err, i64 %start,
i64 %end)`: one loop per dimension of the iteration shape, innermost last (so the innermost loop
walks memory contiguously for a contiguous output and LLVM vectorizes it); the first loop runs
`start..end` of the first kept dimension so the runtime can split a kernel across threads. A
reducing kernel nests the reduced dimensions' loops inside the kept ones, accumulating in a stack
slot that mem2reg turns into registers.

Values are rendered on demand at a symbolic index (one i64 per dimension of the node's shape):
an elementwise op renders its operands at the same index; a movement op maps the index to its
source's (index arithmetic, never a copy); a BUFFER turns it into a load. Index arithmetic on
constants is folded here, so broadcasts and size-1 dimensions cost nothing.

Errors a kernel detects (integer division by zero, gather indices out of range) go to the i64
array `err`; the runtime raises them after the call (program.py).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from lazytensor import config
from lazytensor.compiler import dtypes as dt
from lazytensor.compiler.ir import Node, format_location
from lazytensor.compiler.kernel import Kernel, param_index
from lazytensor.compiler.ops import ELEMENTWISE, MOVEMENT, REDUCE, REGISTRY, Op

from . import lowering, matmul
from .lowering import cast, ctype, literal, stype

BLOCK = 4096  # elements per float32 block of a blocked float reduction (Renderer._blocked)
BLOCK_MIN = 256  # shorter innermost reduced loops accumulate in double directly
COLUMN_TILE = 2048  # columns per tile of a column-wise reduction (Renderer.render_columns)
COLUMN_ROWS = 8  # rows added per pass over a tile's accumulators




@dataclass(frozen=True)
class Site:
    """An error-flagging op (GATHER, IDIV, MOD) of a kernel, named without holding its node: a
    compiled program is cached for the whole process and must keep no graph node (nor, through
    the hash-cons table, any user's graph) alive. `position` is the op's place in
    `kernel.nodes()`, the same in every kernel with this structural key."""
    op: str
    position: int
    loc: "tuple | None"  # the source line of the graph the kernel was first compiled from
    axis: int = 0  # GATHER: the gathered axis and its size
    size: int = 0

    def location(self, kernel: "Kernel | None" = None) -> str:
        """'file.py:12': where the op was built in the graph `kernel` was made from (the kernel
        being run, when given), else in the first graph compiled."""
        if kernel is not None:
            nodes = kernel.nodes()
            if self.position < len(nodes) and nodes[self.position].op.name == self.op:
                return format_location(kernel.source_of(nodes[self.position]).loc)
        return format_location(self.loc)


@dataclass
class Rendered:
    """A kernel's LLVM IR and what the runtime needs to call it and read its errors."""
    name: str
    ir: str
    n_inputs: int
    err_size: int
    gathers: list = field(default_factory=list)  # [(Site, err slot)]
    divisions: list = field(default_factory=list)  # [Site] of IDIV / MOD, for error messages
    partial: "dt.DType | None" = None  # a full reduction's accumulator type (has _part/_fin)
    fast: bool = False  # small: compile at O0 rather than O3 (LT_FAST_COMPILE, see `render`)


class Renderer:
    """Emits one kernel function; the lowerings call `val`, `call` and `flag_if` on it."""

    def __init__(self, kernel: Kernel, name: str):
        self.kernel = kernel
        self.name = name
        self.lines: list[str] = []
        self.decls: set[str] = set()
        self.counter = 0
        self.nloops = 0
        self.nlabels = 0
        self.block = "entry"
        self.memo: dict = {}
        self.gather_slot: dict[int, int] = {}
        self.gathers: list = []
        self.divisions: list = []
        self.err_size = 1
        self.blocked = False  # a blocked float reduction (`_blocked`): needs `%bacc`
        self._positions: dict[int, int] | None = None

    def site(self, n: Node, **extra) -> Site:
        """The `Site` of kernel-graph node `n` (see Site)."""
        if self._positions is None:
            self._positions = {id(m): i for i, m in enumerate(self.kernel.nodes())}
        return Site(n.op.name, self._positions[id(n)], n.loc, **extra)

    # ---- emission helpers (used by lowering.py) ----

    def val(self, text: str) -> str:
        """Emit `%vN = text` and return `%vN`."""
        self.counter += 1
        name = f"%v{self.counter}"
        self.lines.append(f"  {name} = {text}")
        return name

    def emit(self, text: str) -> None:
        """Emit an instruction that defines no value."""
        self.lines.append(f"  {text}")

    def label(self, name: str) -> None:
        """Start basic block `name`."""
        self.lines.append(f"{name}:")
        self.block = name

    def call(self, fn: str, ret: str, args: list[tuple[str, str]]) -> str:
        """Call intrinsic `fn` (declared once per module) and return its value."""
        self.decls.add(f"declare {ret} @{fn}({', '.join(t for t, _ in args)})")
        return self.val(f"call {ret} @{fn}({', '.join(f'{t} {v}' for t, v in args)})")

    def flag_if(self, cond: str, slot: int, bit: int) -> None:
        """err[slot] |= bit when `cond` holds (a cold branch, off the vectorizable path)."""
        self.nlabels += 1
        bad, ok = f"bad{self.nlabels}", f"ok{self.nlabels}"
        self.emit(f"br i1 {cond}, label %{bad}, label %{ok}, !prof !0")
        self.label(bad)
        ptr = self.val(f"getelementptr i64, ptr %err, i64 {slot}")
        old = self.val(f"load i64, ptr {ptr}")
        self.emit(f"store i64 {self.val(f'or i64 {old}, {bit}')}, ptr {ptr}")
        self.emit(f"br label %{ok}")
        self.label(ok)

    def _note_bad_index(self, cond: str, slot: int, raw: str) -> None:
        """On `cond`: err[slot] = 1, err[slot+1] = max(.., raw), err[slot+2] = min(.., raw)."""
        self.nlabels += 1
        bad, ok = f"bad{self.nlabels}", f"ok{self.nlabels}"
        self.emit(f"br i1 {cond}, label %{bad}, label %{ok}, !prof !0")
        self.label(bad)
        p0 = self.val(f"getelementptr i64, ptr %err, i64 {slot}")
        self.emit(f"store i64 1, ptr {p0}")
        for k, pred in ((1, "sgt"), (2, "slt")):
            p = self.val(f"getelementptr i64, ptr %err, i64 {slot + k}")
            old = self.val(f"load i64, ptr {p}")
            better = self.val(f"icmp {pred} i64 {raw}, {old}")
            self.emit(f"store i64 {self.val(f'select i1 {better}, i64 {raw}, i64 {old}')}, ptr {p}")
        self.emit(f"br label %{ok}")
        self.label(ok)

    # ---- index arithmetic, folded on constants ----

    def iadd(self, a, b):
        if isinstance(a, int) and isinstance(b, int):
            return a + b
        if b == 0:
            return a
        if a == 0:
            return b
        return self.val(f"add nsw i64 {a}, {b}")

    def imul(self, a, c: int):
        if isinstance(a, int):
            return a * c
        if c == 1:
            return a
        if c == 0:
            return 0
        return self.val(f"mul nsw i64 {a}, {c}")

    def linearize(self, idx, shape) -> "int | str":
        """The flat row-major offset of multi-index `idx` in `shape`."""
        flat, stride = 0, 1
        for i, d in reversed(list(zip(idx, shape))):
            if d != 1:
                flat = self.iadd(flat, self.imul(i, stride))
            stride *= d
        return flat

    def delinearize(self, flat, shape) -> list:
        """The multi-index in `shape` of flat offset `flat` (constant divisors: cheap)."""
        out, stride = [], 1
        strides = []
        for d in reversed(shape):
            strides.append(stride)
            stride *= d
        for d, s in zip(shape, reversed(strides)):
            if d == 1:
                out.append(0)
            elif isinstance(flat, int):
                out.append((flat // s) % d)
            else:
                q = flat if s == 1 else self.val(f"udiv i64 {flat}, {s}")
                out.append(q if s * d == stride else self.val(f"urem i64 {q}, {d}"))
        return out

    # ---- values ----

    def render(self, n: Node, idx) -> str:
        """The value of `n` at multi-index `idx` (memoized within the current loop body)."""
        key = (id(n), tuple(idx))
        v = self.memo.get(key)
        if v is not None:
            return v
        cell = REGISTRY[n.op].llvm
        if n.op in ELEMENTWISE:
            self._render_operands(n, idx)
            v = cell(self, n, [self.render(s, idx) for s in n.srcs])
        elif n.op in MOVEMENT:
            src = n.srcs[0]
            src_idx, valid = cell(self, n, idx)
            if valid is None:
                v = self.render(src, src_idx)
            else:
                zero = literal(0, n.dtype)
                if src.size == 0:
                    v = zero
                else:  # clamp the index into range so the load is safe; select drops the value
                    src_idx = [self.val(f"select i1 {valid}, i64 {i}, i64 0") if isinstance(i, str)
                               else i for i in src_idx]
                    t = ctype(n.dtype)
                    v = self.val(f"select i1 {valid}, {t} {self.render(src, src_idx)}, {t} {zero}")
        elif n.op in REDUCE:
            raise NotImplementedError(f"{n.op.name} outside the kernel's reduction loop")
        else:
            v = cell(self, n, idx)
        self.memo[key] = v
        return v

    def _render_operands(self, n: Node, idx) -> None:
        """Render the elementwise region under `n` (all at `idx`) sources first, with a loop
        instead of recursion: a flush may hold a chain of thousands of ops."""
        key_idx = tuple(idx)
        order, seen, stack = [], set(), [(n, False)]
        while stack:
            m, expanded = stack.pop()
            if expanded:
                order.append(m)
                continue
            if id(m) in seen or (id(m), key_idx) in self.memo:
                continue
            seen.add(id(m))
            stack.append((m, True))
            if m.op in ELEMENTWISE:
                stack.extend((s, False) for s in reversed(m.srcs))
        for m in order[:-1]:  # everything below n; n itself is the caller's
            self.render(m, idx)

    def load(self, pointer: str, d: dt.DType, flat) -> str:
        """Load element `flat` of a buffer of dtype `d`, as its compute type."""
        p = self.val(f"getelementptr {stype(d)}, ptr {pointer}, i64 {flat}")
        raw = self.val(f"load {stype(d)}, ptr {p}")
        if d is dt.bool_:
            return self.val(f"icmp ne i8 {raw}, 0")
        if d is dt.float16:
            return self.val(f"fpext half {self.val(f'bitcast i16 {raw} to half')} to float")
        if d is dt.bfloat16:
            wide = self.val(f"shl i32 {self.val(f'zext i16 {raw} to i32')}, 16")
            return self.val(f"bitcast i32 {wide} to float")
        return raw

    def store(self, pointer: str, d: dt.DType, flat, v: str) -> None:
        """Store compute-type value `v` as element `flat` of a buffer of dtype `d`."""
        if d is dt.bool_:
            v = self.val(f"zext i1 {v} to i8")
        elif d is dt.float16:
            v = self.val(f"bitcast half {self.val(f'fptrunc float {v} to half')} to i16")
        elif d is dt.bfloat16:  # the value is bfloat16-exact already: keep its top half
            bits = self.val(f"lshr i32 {self.val(f'bitcast float {v} to i32')}, 16")
            v = self.val(f"trunc i32 {bits} to i16")
        p = self.val(f"getelementptr {stype(d)}, ptr {pointer}, i64 {flat}")
        self.emit(f"store {stype(d)} {v}, ptr {p}")

    # ---- loops ----

    def open_loop(self, start, end) -> str:
        """Open `for (i = start; i < end; i++)`; returns the induction variable."""
        k = self.nloops
        self.nloops += 1
        pre = self.block
        self.emit(f"br label %h{k}")
        self.label(f"h{k}")
        self.lines.append(f"  %i{k} = phi i64 [{start}, %{pre}], [%n{k}, %l{k}]")
        self.emit(f"br i1 {self.val(f'icmp slt i64 %i{k}, {end}')}, label %b{k}, label %x{k}")
        self.label(f"b{k}")
        return f"%i{k}"

    def close_loop(self, iv: str) -> None:
        """Close the loop whose induction variable is `iv`."""
        k = iv[2:]
        self.emit(f"br label %l{k}")
        self.label(f"l{k}")
        self.lines.append(f"  %n{k} = add nsw i64 %i{k}, 1")
        self.emit(f"br label %h{k}")
        self.label(f"x{k}")

    # ---- the kernel ----

    def split_axis(self) -> int | None:
        """The kept axis whose loop runs `start..end`: the first kept axis longer than 1 (None
        when every kept axis has size 1: a full reduction, or a one-element kernel)."""
        k = self.kernel
        return next((d for d, n in enumerate(k.shape) if d not in k.reduce_axes and n != 1), None)

    def _blocked(self, reduction, red: Node, acc_dtype, n: int, first: bool) -> bool:
        """Whether the innermost reduced loop (length `n`, or `start..end` when `first`) runs in
        blocks of BLOCK elements: for a float32 (or float16/bfloat16, computed as float) SUM or
        PROD whose accumulator is double. Within a block the values accumulate in float `%bacc`
        (`reassoc`, so LLVM keeps several vector partial accumulators, with no per-element
        conversion to double) and each block's total is added to the double accumulator: the
        error stays that of a short float32 sum."""
        return (reduction.combine in lowering.BLOCKED and acc_dtype is dt.float64
                and red.srcs[0].dtype in (dt.float32, dt.float16, dt.bfloat16)
                and (first or n >= BLOCK_MIN))

    def open_blocks(self, lo, hi, identity: str) -> tuple[str, str]:
        """Open the loop over blocks of `lo..hi` and the loop within one, zeroing `%bacc` between
        them; returns both induction variables (block, element)."""
        count = self.val(f"sub nsw i64 {hi}, {lo}")
        nblocks = self.val(f"sdiv i64 {self.val(f'add nsw i64 {count}, {BLOCK - 1}')}, {BLOCK}")
        b = self.open_loop(0, nblocks)
        blo = self.iadd(lo, self.val(f"mul nsw i64 {b}, {BLOCK}"))
        bend = self.val(f"add nsw i64 {blo}, {BLOCK}")
        bhi = self.val(f"select i1 {self.val(f'icmp slt i64 {bend}, {hi}')}, i64 {bend}, i64 {hi}")
        self.emit(f"store float {identity}, ptr %bacc")
        return b, self.open_loop(blo, bhi)

    def render_kernel(self, mode: str = "main") -> str:
        """The text of one function of the kernel's module.

        `mode` "main": the whole kernel over `start..end` of the split axis (see `split_axis`).
        For a full reduction (no kept axis longer than 1) two more functions split the reduction
        itself: "part" accumulates `start..end` of the first reduced axis and stores the raw
        accumulator to `%out0[0]`; "fin" combines `%nparts` such partials from `%part` and
        applies the kernel's epilogue, writing the output. Partials sit in 8-byte slots
        whatever the accumulator's type.
        """
        k = self.kernel
        (out,) = k.outputs
        shape, axes = k.shape, set(k.reduce_axes)
        reds = k.reductions()
        if len(reds) > 1:
            raise NotImplementedError(f"kernel {k.name} holds {len(reds)} reductions")
        if mode == "main" and self.columns():
            return self.render_columns()
        kept = [d for d in range(len(shape)) if d not in axes]
        split = self.split_axis()
        idx: list = [0] * len(shape)
        acc_ptr = None
        if reds:
            red = reds[0]
            reduction = REGISTRY[red.op].llvm
            acc_dtype = reduction.acc_type(red.dtype)
            acc_t = ctype(acc_dtype)
            acc_ptr = "%acc"
        # outer loops over the kept dimensions; the split one runs start..end
        ivs = []
        if mode == "main":
            for d in kept:
                iv = self.open_loop("%start" if d == split else 0,
                                    "%end" if d == split else shape[d])
                idx[d] = iv if shape[d] != 1 else 0
                ivs.append(iv)
            if split is None:  # one outer iteration: the loop keeps the start..end contract
                ivs.append(self.open_loop("%start", "%end"))
        out_idx = list(idx)
        if reds and mode in ("main", "part"):
            self.emit(f"store {acc_t} {reduction.identity(acc_dtype)}, ptr {acc_ptr}")
            inner = []
            part_axis = next((d for d in sorted(axes) if shape[d] != 1), min(axes, default=None))
            block = None
            for d in sorted(axes):
                first = mode == "part" and d == part_axis
                lo, hi = ("%start", "%end") if first else (0, shape[d])
                if d == max(axes) and self._blocked(reduction, red, acc_dtype, shape[d], first):
                    self.blocked = True
                    b, block = self.open_blocks(lo, hi, reduction.identity(dt.float32))
                    inner.append(b)
                    continue
                iv = self.open_loop(lo, hi)
                idx[d] = iv if shape[d] != 1 or first else 0
                inner.append(iv)
            self.memo = {}
            if block is None:
                x = cast(self, self.render(red.srcs[0], idx), red.srcs[0].dtype, acc_dtype)
                acc = self.val(f"load {acc_t}, ptr {acc_ptr}")
                self.emit(f"store {acc_t} {reduction.combine(self, acc_dtype, acc, x)}, "
                          f"ptr {acc_ptr}")
            else:  # the innermost reduced loop runs in blocks: see `_blocked`
                idx[max(axes)] = block
                x = cast(self, self.render(red.srcs[0], idx), red.srcs[0].dtype, dt.float32)
                acc = self.val("load float, ptr %bacc")
                self.emit(f"store float {reduction.combine(self, dt.float32, acc, x)}, ptr %bacc")
                self.close_loop(block)
                part = cast(self, self.val("load float, ptr %bacc"), dt.float32, acc_dtype)
                acc = self.val(f"load {acc_t}, ptr {acc_ptr}")
                self.emit(f"store {acc_t} {reduction.combine(self, acc_dtype, acc, part)}, "
                          f"ptr {acc_ptr}")
            for iv in reversed(inner):
                self.close_loop(iv)
            self.memo = {}
            total = self.val(f"load {acc_t}, ptr {acc_ptr}")
            if mode == "part":
                self.emit(f"store {acc_t} {total}, ptr %out0")
            else:
                self.memo[(id(red), tuple(out_idx))] = cast(self, total, acc_dtype, red.dtype)
        elif reds and mode == "fin":
            self.emit(f"store {acc_t} {reduction.identity(acc_dtype)}, ptr {acc_ptr}")
            iv = self.open_loop(0, "%nparts")
            p = self.val(f"getelementptr i64, ptr %part, i64 {iv}")  # 8-byte slots
            acc = self.val(f"load {acc_t}, ptr {acc_ptr}")
            x = self.val(f"load {acc_t}, ptr {p}")
            self.emit(f"store {acc_t} {reduction.combine(self, acc_dtype, acc, x)}, ptr {acc_ptr}")
            self.close_loop(iv)
            self.memo = {}
            total = self.val(f"load {acc_t}, ptr {acc_ptr}")
            self.memo[(id(red), tuple(out_idx))] = cast(self, total, acc_dtype, red.dtype)
        if mode != "part":
            value = self.render(out, out_idx)
            self.store("%out0", out.dtype, self.linearize(out_idx, out.shape), value)
        for iv in reversed(ivs):
            self.close_loop(iv)
        self.emit("ret void")
        params = ["ptr noalias %out0"] + [f"ptr noalias %in{i}" for i in range(len(k.inputs))]
        params += ["ptr noalias %err"]
        params += ["ptr noalias %part", "i64 %nparts"] if mode == "fin" else ["i64 %start", "i64 %end"]
        entry = ["entry:"]
        if acc_ptr:
            entry.append(f"  {acc_ptr} = alloca {acc_t}")
        if self.blocked:
            entry.append("  %bacc = alloca float")
        suffix = "" if mode == "main" else f"_{mode}"
        return "\n".join([f"define void @{self.name}{suffix}({', '.join(params)}) {{",
                          *entry, *self.lines, "}"])

    # ---- column-wise reductions (the last axis kept: x.sum(0)) ----

    def columns(self) -> bool:
        """Whether this reducing kernel keeps its last axis (longer than 1) and reduces an axis
        before it. Nesting the reduced loops inside the kept ones would then walk memory with a
        stride of a whole row per element; `render_columns` walks it row by row instead."""
        k = self.kernel
        shape, axes = k.shape, set(k.reduce_axes)
        last = len(shape) - 1
        return (len(k.reductions()) == 1 and last >= 1 and last not in axes and shape[last] > 1
                and any(shape[d] != 1 for d in axes))

    def render_columns(self) -> str:
        """The kernel function of a column-wise reduction: the kept axes other than the last are
        outer loops (the split one running start..end; when the last axis is the split one its
        start..end is cut into tiles); for each tile of COLUMN_TILE columns an accumulator per
        column (a stack array) is reset, every reduced index adds its row segment to them (an
        inner loop over contiguous columns: it vectorizes), and the epilogue stores each column."""
        k = self.kernel
        (out,) = k.outputs
        shape, axes = k.shape, set(k.reduce_axes)
        red = k.reductions()[0]
        reduction = REGISTRY[red.op].llvm
        acc_dtype = reduction.acc_type(red.dtype)
        acc_t = ctype(acc_dtype)
        last = len(shape) - 1
        split = self.split_axis()
        idx: list = [0] * len(shape)
        ivs = []
        for d in range(last):
            if d not in axes:
                iv = self.open_loop("%start" if d == split else 0, "%end" if d == split else shape[d])
                idx[d] = iv if shape[d] != 1 else 0
                ivs.append(iv)
        lo, hi = ("%start", "%end") if split == last else (0, shape[last])
        count = self.val(f"sub nsw i64 {hi}, {lo}")
        ntiles = self.val(f"sdiv i64 {self.val(f'add nsw i64 {count}, {COLUMN_TILE - 1}')}, "
                          f"{COLUMN_TILE}")
        tile = self.open_loop(0, ntiles)
        tlo = self.iadd(lo, self.val(f"mul nsw i64 {tile}, {COLUMN_TILE}"))
        tend = self.val(f"add nsw i64 {tlo}, {COLUMN_TILE}")
        thi = self.val(f"select i1 {self.val(f'icmp slt i64 {tend}, {hi}')}, i64 {tend}, i64 {hi}")

        def column_loop() -> tuple[str, str]:
            j = self.open_loop(tlo, thi)
            at = self.val(f"sub nsw i64 {j}, {tlo}")
            return j, self.val(f"getelementptr {acc_t}, ptr %cacc, i64 {at}")

        j, p = column_loop()  # reset the tile's accumulators
        self.emit(f"store {acc_t} {reduction.identity(acc_dtype)}, ptr {p}")
        self.close_loop(j)
        inner = []
        innermost = max(axes)
        for d in sorted(axes):
            if d != innermost:
                iv = self.open_loop(0, shape[d])
                idx[d] = iv if shape[d] != 1 else 0
                inner.append(iv)
        # the innermost reduced axis: COLUMN_ROWS rows per pass over the tile (each accumulator
        # is loaded and stored once per COLUMN_ROWS rows, not per row), then the leftover rows
        n = shape[innermost]
        for first, end, rows in ((0, n // COLUMN_ROWS, COLUMN_ROWS),
                                 (n // COLUMN_ROWS * COLUMN_ROWS, n, 1)):
            if first >= end:
                continue
            iv = self.open_loop(first, end)
            j, p = column_loop()
            idx[last] = j
            self.memo = {}
            acc = self.val(f"load {acc_t}, ptr {p}")
            for r in range(rows):
                idx[innermost] = iv if rows == 1 else self.iadd(self.imul(iv, rows), r)
                x = cast(self, self.render(red.srcs[0], idx), red.srcs[0].dtype, acc_dtype)
                acc = reduction.combine(self, acc_dtype, acc, x)
            self.emit(f"store {acc_t} {acc}, ptr {p}")
            self.close_loop(j)
            self.close_loop(iv)
        for iv in reversed(inner):
            self.close_loop(iv)
        j, p = column_loop()  # the epilogue, per column
        out_idx = [0 if d in axes else i for d, i in enumerate(idx)]
        out_idx[last] = j
        self.memo = {}
        total = self.val(f"load {acc_t}, ptr {p}")
        self.memo[(id(red), tuple(out_idx))] = cast(self, total, acc_dtype, red.dtype)
        self.store("%out0", out.dtype, self.linearize(out_idx, out.shape),
                   self.render(out, out_idx))
        self.close_loop(j)
        self.close_loop(tile)
        for iv in reversed(ivs):
            self.close_loop(iv)
        self.emit("ret void")
        params = ["ptr noalias %out0"] + [f"ptr noalias %in{i}" for i in range(len(k.inputs))]
        params += ["ptr noalias %err", "i64 %start", "i64 %end"]
        entry = ["entry:", f"  %cacc = alloca {acc_t}, i64 {COLUMN_TILE}, align 64"]
        return "\n".join([f"define void @{self.name}({', '.join(params)}) {{",
                          *entry, *self.lines, "}"])


def render_module(kernel: Kernel, name: str) -> Rendered:
    """The kernel's module: `@name`, plus `@name_part` and `@name_fin` for a full reduction."""
    main = Renderer(kernel, name)
    product = matmul.plan(kernel, main.split_axis())
    if product is not None:  # a matrix product: the packed, register-tiled loop nest
        body = matmul.render(main, product)
        text = "\n".join([*sorted(main.decls), body,
                          '!0 = !{!"branch_weights", i32 1, i32 1048576}', ""])
        return Rendered(name, text, len(kernel.inputs), main.err_size, main.gathers,
                        main.divisions, None)
    functions = [main.render_kernel("main")]
    # a kernel that flags errors keeps one function: the err slots are numbered per function
    split = (main.split_axis() is not None or not kernel.reductions() or main.gathers
             or main.divisions)
    decls = set(main.decls)
    if not split:
        for mode in ("part", "fin"):
            r = Renderer(kernel, name)
            functions.append(r.render_kernel(mode))
            decls |= r.decls
    text = "\n".join([*sorted(decls), *functions,
                      '!0 = !{!"branch_weights", i32 1, i32 1048576}', ""])
    acc = None
    if not split:
        red = kernel.reductions()[0]
        acc = REGISTRY[red.op].llvm.acc_type(red.dtype)
    return Rendered(name, text, len(kernel.inputs), main.err_size, main.gathers, main.divisions,
                    acc)


# ---- the cells of sources, views and gathers (index-level lowerings) ----

def _buffer(r: Renderer, n: Node, idx) -> str:
    i = param_index(n)
    if i is None:
        raise NotImplementedError("a kernel graph reads stored data through parameters only")
    return r.load(f"%in{i}", n.dtype, idx[0])


def _const(r: Renderer, n: Node, idx) -> str:
    return literal(n.arg, n.dtype)


def _rand(r: Renderer, n: Node, idx) -> str:
    seed, offset = n.arg
    counter = r.iadd(r.linearize(idx, n.shape), offset) if offset < 2 ** 63 else \
        r.val(f"add i64 {r.linearize(idx, n.shape)}, {offset - 2 ** 64}")
    # SplitMix64, exactly as ops.counter_hash: z = seed + (counter + 1) * golden, then mix
    golden = 0x9E3779B97F4A7C15 - 2 ** 64
    step = r.val(f"mul i64 {r.val(f'add i64 {counter}, 1')}, {golden}")
    z = r.val(f"add i64 {_i64(seed)}, {step}")
    for shift, mul in ((30, 0xBF58476D1CE4E5B9), (27, 0x94D049BB133111EB)):
        mixed = r.val(f"xor i64 {z}, {r.val(f'lshr i64 {z}, {shift}')}")
        z = r.val(f"mul i64 {mixed}, {_i64(mul)}")
    bits = r.val(f"xor i64 {z}, {r.val(f'lshr i64 {z}, 31')}")
    if n.dtype is dt.float64:
        top = r.val(f"uitofp i64 {r.val(f'lshr i64 {bits}, 11')} to double")
        return r.val(f"fmul double {top}, {lowering.float_literal(2.0 ** -53, dt.float64)}")
    keep = {dt.float16: 11, dt.bfloat16: 8}.get(n.dtype, 24)
    top = r.val(f"uitofp i64 {r.val(f'lshr i64 {bits}, {64 - keep}')} to float")
    return r.val(f"fmul float {top}, {lowering.float_literal(2.0 ** -keep, dt.float32)}")


def _i64(v: int) -> int:
    """A 64-bit pattern as LLVM's signed i64 literal."""
    v &= 2 ** 64 - 1
    return v - 2 ** 64 if v >= 2 ** 63 else v


def _gather(r: Renderer, n: Node, idx) -> str:
    src, index = n.srcs
    axis = n.arg
    size = src.shape[axis]
    raw = r.render(index, idx)
    if index.dtype is not dt.int64:
        raw = r.val(f"sext {ctype(index.dtype)} {raw} to i64")
    slot = r.gather_slot.get(id(n))
    if slot is None:
        slot = r.gather_slot[id(n)] = r.err_size
        r.err_size += 3
        r.gathers.append((r.site(n, axis=axis, size=size), slot))
    j = r.val(f"select i1 {r.val(f'icmp slt i64 {raw}, 0')}, i64 {r.val(f'add i64 {raw}, {size}')}, "
              f"i64 {raw}")
    bad = r.val(f"or i1 {r.val(f'icmp slt i64 {j}, 0')}, {r.val(f'icmp sge i64 {j}, {size}')}")
    r._note_bad_index(bad, slot, raw)
    if size == 0 or src.size == 0:
        return literal(0, n.dtype)
    j = r.val(f"select i1 {bad}, i64 0, i64 {j}")  # keep the load in bounds; the runtime raises
    src_idx = list(idx)
    src_idx[axis] = j
    return r.render(src, src_idx)


def _contiguous(r: Renderer, n: Node, idx) -> str:
    return r.render(n.srcs[0], idx)


def _reshape(r: Renderer, n: Node, idx):
    src = n.srcs[0].shape
    if [d for d in src if d != 1] == [d for d in n.shape if d != 1]:
        # only size-1 axes come or go: the other axes map one to one, no division
        big = iter(i for i, d in zip(idx, n.shape) if d != 1)
        return [0 if d == 1 else next(big) for d in src], None
    flat = r.linearize(idx, n.shape)
    return ([flat] if len(src) == 1 else r.delinearize(flat, src)), None


def _permute(r: Renderer, n: Node, idx):
    out = [0] * len(idx)
    for i, axis in enumerate(n.arg):
        out[axis] = idx[i]
    return out, None


def _expand(r: Renderer, n: Node, idx):
    src = n.srcs[0].shape
    return [0 if s == 1 and d != 1 else i for i, s, d in zip(idx, src, n.shape)], None


def _pad(r: Renderer, n: Node, idx):
    out, valid = [], None
    for i, (lo, hi), s in zip(idx, n.arg, n.srcs[0].shape):
        j = r.iadd(i, -lo)
        if lo or hi:
            if isinstance(j, int):
                ok = "1" if 0 <= j < s else "0"
            else:
                ok = r.val(f"icmp ult i64 {j}, {s}")  # unsigned: negative is out of range too
            valid = ok if valid is None else r.val(f"and i1 {valid}, {ok}")
        out.append(j)
    return out, valid


def _shrink(r: Renderer, n: Node, idx):
    return [r.iadd(i, b) for i, (b, e) in zip(idx, n.arg)], None


def _flip(r: Renderer, n: Node, idx):
    out = list(idx)
    for axis in n.arg:
        d = n.shape[axis]
        i = idx[axis]
        out[axis] = (d - 1 - i) if isinstance(i, int) else r.val(f"sub nsw i64 {d - 1}, {i}")
    return out, None


INDEX_LOWERINGS = {Op.RESHAPE: _reshape, Op.PERMUTE: _permute, Op.EXPAND: _expand, Op.PAD: _pad,
                   Op.SHRINK: _shrink, Op.FLIP: _flip}
LOAD_LOWERINGS = {Op.BUFFER: _buffer, Op.CONST: _const, Op.RAND: _rand, Op.GATHER: _gather,
                  Op.CONTIGUOUS: _contiguous}
lowering.register(INDEX_LOWERINGS, LOAD_LOWERINGS)


def render(kernel: Kernel, name: str) -> Rendered:
    """LLVM IR text of `kernel` as function `name` (and its split-reduction helpers), marked
    `fast` (compile at O0) when it visits fewer than LT_FAST_COMPILE elements: such a kernel
    runs in microseconds either way, while O3 with vectorization costs ~30-50 ms to compile
    (most of a test run's time; ~1 ms at O0)."""
    rendered = render_module(kernel, name)
    work = 1
    for d in kernel.shape:  # the elements its loops visit, reduced axes included
        work *= d
    rendered.fast = work < config.get("FAST_COMPILE")
    return rendered


__all__ = ["Rendered", "Renderer", "render"]
