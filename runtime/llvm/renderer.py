"""The renderer: a fused `Kernel` -> LLVM IR text.

The kernel's function is `void @name(ptr noalias %out0, ptr noalias %in0.., ptr %err, i64 %start,
i64 %end)`: one loop per dimension of the iteration shape, innermost last (so the innermost loop
walks memory contiguously for a contiguous output and LLVM vectorizes it); the first loop runs
`start..end` of the first kept dimension so the runtime can split a kernel across threads. A
reducing kernel nests the reduced dimensions' loops inside the kept ones, accumulating in stack
slots that mem2reg turns into registers (reductions.py: float32 blocks from a cache line on, and
several rows of a big source read side by side). Two shapes get loop nests of their own: matrix
products (matmul.py) and reductions that keep the last axis (columns.py); a big elementwise
output is written with streaming stores (`_streamed_loop`).

Values are rendered on demand at a symbolic index (one i64 per dimension of the node's shape):
an elementwise op renders its operands at the same index; a movement op maps the index to its
source's (index arithmetic, never a copy); a BUFFER turns it into a load (those cells are in
indexing.py). Index arithmetic on constants is folded here, so broadcasts and size-1 dimensions
cost nothing.

Errors a kernel detects (integer division by zero, gather indices out of range) go to the i64
array `err`; the runtime raises them after the call (program.py).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import llvmlite.binding as llvm

from lazytensor import config
from lazytensor.compiler import dtypes as dt
from lazytensor.compiler.ir import Node, format_location
from lazytensor.compiler.kernel import Kernel
from lazytensor.compiler.ops import ELEMENTWISE, MOVEMENT, REDUCE, REGISTRY

# (importing indexing.py fills the registry's cells for view ops)
from . import columns, indexing, matmul, matmul_plan, reductions  # noqa: F401
from .lowering import ctype, literal, stype

# An elementwise kernel whose output has at least STREAM_BYTES writes it with non-temporal
# (streaming) stores, which skip the cache: an ordinary store first reads the output's line from
# memory, so streaming cuts a 3-input chain's memory traffic by a fifth. Below the size of the
# last-level cache the output is better left in it for whoever reads it next.
STREAM_BYTES = 32 << 20
STREAM_TILE = 64  # bytes of output computed into a stack tile (one line), then streamed out
# (measured on the 10-op chain: 64-byte tiles 4.8 ms, 256: 4.9, 1024: 5.2, 4096: 5.6, no streaming 6.0)
STREAMS = llvm.get_process_triple().startswith("x86_64")  # needs x86's `sfence` (see `_streamed_loop`)


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
        self.blocked = False  # a blocked float reduction (reductions.blocked): needs `%bacc0`..
        self.tile = False  # a streaming kernel (`_streamed_loop`): needs `%tile`
        self.acc_t: str | None = None  # a reducing kernel's accumulator type: needs `%acc0`..
        self.naccs = 1  # `%acc0`.. (and `%bacc0`.. when blocked): one per row read at once
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

    def output_index(self, idx) -> list:
        """The output's index of the kernel's iteration index `idx` (reduced axes at 0). A
        reducing kernel may store its reduction's value under RESHAPEs that drop or add size-1
        axes (fuse.unit_reshape: `x.sum(1) * 2`, `relu(x @ W.T + b)`): the axes longer than 1
        are the kept ones, in order, so the index maps one axis to one axis."""
        k = self.kernel
        (out,) = k.outputs
        kept = [1 if d in k.reduce_axes else n for d, n in enumerate(k.shape)]
        if list(out.shape) == kept:
            return list(idx)
        big = [i for i, d in zip(idx, kept) if d != 1]
        if len(big) != sum(1 for d in out.shape if d != 1):
            raise NotImplementedError(f"kernel {k.name}: output {list(out.shape)} is not the "
                                      f"kept shape {kept} with size-1 axes dropped or added")
        it = iter(big)
        return [0 if d == 1 else next(it) for d in out.shape]

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

    def line_start(self, address: str, size: int, lo, hi, otherwise) -> str:
        """The first index from `lo` on whose element (`size` bytes, element `lo` at `address`)
        starts a 64-byte cache line, at most `hi`; `otherwise` when the address is not a
        multiple of `size` (numpy allows such arrays: no element of them starts a line)."""
        gap = self.val(f"and i64 {self.val(f'sub i64 0, {address}')}, 63")  # bytes to a boundary
        start = self.iadd(lo, self.val(f"udiv i64 {gap}, {size}"))
        start = self.val(f"select i1 {self.val(f'icmp slt i64 {start}, {hi}')}, i64 {start}, i64 {hi}")
        whole = self.val(f"icmp eq i64 {self.val(f'and i64 {address}, {size - 1}')}, 0")
        return self.val(f"select i1 {whole}, i64 {start}, i64 {otherwise}")

    def render_kernel(self, mode: str = "main") -> str:
        """The text of one function of the kernel's module.

        `mode` "main": the whole kernel over `start..end` of the split axis (see `split_axis`).
        For a full reduction (no kept axis longer than 1) two more functions split the reduction
        itself: "part" accumulates `start..end` of the first reduced axis and stores the raw
        accumulator to `%out0[0]`; "fin" combines `%nparts` such partials from `%part` and
        applies the kernel's epilogue, writing the output. Partials sit in 8-byte slots
        whatever the accumulator's type.

        A big reduction reads several stretches of its input at once (reductions.stretches): in
        "main" the split axis' `start..end` is cut into that many equal runs of rows walked side
        by side (`_stretched_rows`; the rows left over get a loop of their own); a long blocked
        innermost axis is cut likewise (reductions.stretched_blocks).
        """
        k = self.kernel
        shape, axes = k.shape, set(k.reduce_axes)
        reds = k.reductions()
        if len(reds) > 1:
            raise NotImplementedError(f"kernel {k.name} holds {len(reds)} reductions")
        if mode == "main" and columns.applies(k):
            return columns.render(self)
        if reds:
            self.acc_t = ctype(REGISTRY[reds[0].op].llvm.acc_type(reds[0].dtype))
        idx: list = [0] * len(shape)
        if mode == "fin":
            reductions.finish(self, idx)
            return self._function(mode)
        if mode == "part":  # every kept axis has size 1: no loop over them
            self._rows([idx], [], mode)
            return self._function(mode)
        kept = [d for d in range(len(shape)) if d not in axes]
        split = self.split_axis()
        streamed = self.streams()
        # the kept axes before the split one have size 1 (one iteration each); `tail`: after it
        at = kept.index(split) if split is not None else len(kept)
        head, tail = kept[:at], kept[at + 1:]
        ivs = []
        for d in head:
            ivs.append(self.open_loop(0, shape[d]))
        if split is None:  # one outer iteration: the loop keeps the start..end contract
            ivs.append(self.open_loop("%start", "%end"))
            self._rows([idx], [], mode)
        elif streamed:
            last = kept[-1]
            for d in [split, *tail][:-1]:
                iv = self.open_loop("%start" if d == split else 0,
                                    "%end" if d == split else shape[d])
                idx[d] = iv if shape[d] != 1 else 0
                ivs.append(iv)
            self._streamed_loop(("%start", "%end") if last == split else (0, shape[last]), idx)
        else:
            lo = self._stretched_rows(idx, split, tail, mode)
            iv = self.open_loop(lo, "%end")  # every row, or those left over
            idx[split] = iv
            self._rows([idx], tail, mode)
            self.close_loop(iv)
        for iv in reversed(ivs):
            self.close_loop(iv)
        return self._function(mode)

    def _stretched_rows(self, idx: list, split: int, tail: list[int], mode: str):
        """Runs of rows read side by side (reductions.stretches): `start..end` of the split axis
        cut into that many equal runs, one loop walking them together; returns where the rows
        left over begin (`%start` for a kernel that reads one stretch)."""
        n = reductions.stretches(self)
        if n == 1:
            return "%start"
        per = self.val(f"sdiv i64 {self.val('sub nsw i64 %end, %start')}, {n}")
        iv = self.open_loop(0, per)
        row = self.iadd("%start", iv)
        idxs = []
        for s in range(n):
            at = list(idx)
            at[split] = self.iadd(row, self.val(f"mul nsw i64 {per}, {s}") if s else 0)
            idxs.append(at)
        self._rows(idxs, tail, mode)
        self.close_loop(iv)
        return self.iadd("%start", self.val(f"mul nsw i64 {per}, {n}"))

    def _rows(self, idxs: list, tail: list[int], mode: str) -> None:
        """The loops of the kept axes `tail` (after the split one) and, inside, the kernel's
        value at each index of `idxs` (rows read side by side): its reduction, if any, then
        (except in "part") the output's store."""
        k = self.kernel
        (out,) = k.outputs
        shape = k.shape
        ivs = []
        for d in tail:
            iv = self.open_loop(0, shape[d])
            for idx in idxs:
                idx[d] = iv if shape[d] != 1 else 0
            ivs.append(iv)
        out_idxs = [list(idx) for idx in idxs]
        if k.reductions():
            reductions.reduce(self, idxs, mode)
        if mode != "part":
            for out_idx in out_idxs:
                at = self.output_index(out_idx)
                value = self.render(out, at)
                self.store("%out0", out.dtype, self.linearize(at, out.shape), value)
        for iv in reversed(ivs):
            self.close_loop(iv)

    def _function(self, mode: str) -> str:
        """The text of the function whose body `self.lines` holds (see `render_kernel`)."""
        self.emit("ret void")
        params = ["ptr noalias %out0"] + [f"ptr noalias %in{i}" for i in range(len(self.kernel.inputs))]
        params += ["ptr noalias %err"]
        params += ["ptr noalias %part", "i64 %nparts"] if mode == "fin" else ["i64 %start", "i64 %end"]
        entry = ["entry:"]
        if self.acc_t is not None:
            entry += [f"  %acc{s} = alloca {self.acc_t}" for s in range(max(self.naccs, 1))]
        if self.blocked:
            entry += [f"  %bacc{s} = alloca float" for s in range(max(self.naccs, 1))]
        if self.tile:
            entry.append(f"  %tile = alloca i8, i64 {STREAM_TILE}, align 64")
        suffix = "" if mode == "main" else f"_{mode}"
        return "\n".join([f"define void @{self.name}{suffix}({', '.join(params)}) {{",
                          *entry, *self.lines, "}"])

    # ---- streaming stores (big elementwise outputs) ----

    def streams(self) -> bool:
        """Whether this kernel writes its output with streaming stores (STREAM_BYTES): an
        elementwise kernel with a big output whose last axis holds at least four tiles (the
        elements before the first line boundary and after the last are stored as usual)."""
        k = self.kernel
        if not STREAMS or k.reductions() or not k.shape:
            return False
        (out,) = k.outputs
        return (out.size * out.dtype.itemsize >= STREAM_BYTES
                and k.shape[-1] * out.dtype.itemsize >= 4 * STREAM_TILE)

    def _streamed_loop(self, bounds: tuple, idx: list) -> None:
        """The innermost loop of a streaming kernel, over `bounds` of the last axis: elements up
        to the first 64-byte boundary of the output are stored as usual; then, tile by tile,
        the values are computed into the stack tile (a loop of constant length: LLVM makes it
        one vector) and the tile is stored with one aligned non-temporal 64-byte store; the
        leftover elements as usual.
        `sfence` at the end orders the streaming stores before the kernel returns (x86 keeps
        them in write-combining buffers otherwise)."""
        (out,) = self.kernel.outputs
        lo, hi = bounds
        size = out.dtype.itemsize
        per_tile = STREAM_TILE // size
        last = len(idx) - 1
        self.tile = True
        row = self.linearize(idx[:last] + [0], out.shape)  # the flat offset of the row's start
        first = self.val(f"getelementptr {stype(out.dtype)}, ptr %out0, i64 {self.iadd(row, lo)}")
        address = self.val(f"ptrtoint ptr {first} to i64")
        start = self.line_start(address, size, lo, hi, otherwise=hi)  # misaligned: no tiles
        count = self.val(f"sdiv i64 {self.val(f'sub nsw i64 {hi}, {start}')}, {per_tile}")
        end = self.iadd(start, self.val(f"mul nsw i64 {count}, {per_tile}"))

        def plain(a, b) -> None:
            iv = self.open_loop(a, b)
            idx[last] = iv
            self.memo = {}
            self.store("%out0", out.dtype, self.linearize(idx, out.shape), self.render(out, idx))
            self.close_loop(iv)

        plain(lo, start)
        t = self.open_loop(0, count)
        base = self.iadd(start, self.val(f"mul nsw i64 {t}, {per_tile}"))
        j = self.open_loop(0, per_tile)
        idx[last] = self.iadd(base, j)
        self.memo = {}
        self.store("%tile", out.dtype, j, self.render(out, idx))
        self.close_loop(j)
        idx[last] = base
        dst = self.val(f"getelementptr {stype(out.dtype)}, ptr %out0, i64 "
                       f"{self.linearize(idx, out.shape)}")
        vec_t = f"<{STREAM_TILE // 8} x i64>"
        vec = self.val(f"load {vec_t}, ptr %tile, align 64")
        self.emit(f"store {vec_t} {vec}, ptr {dst}, align 64, !nontemporal !1")
        self.close_loop(t)
        plain(end, hi)
        self.memo = {}
        self.decls.add("declare void @llvm.x86.sse.sfence()")
        self.emit("call void @llvm.x86.sse.sfence()")


def render_module(kernel: Kernel, name: str) -> Rendered:
    """The kernel's module: `@name`, plus `@name_part` and `@name_fin` for a full reduction."""
    main = Renderer(kernel, name)
    product = matmul_plan.plan(kernel, main.split_axis())
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
                      '!0 = !{!"branch_weights", i32 1, i32 1048576}', "!1 = !{i32 1}", ""])
    acc = None
    if not split:
        red = kernel.reductions()[0]
        acc = REGISTRY[red.op].llvm.acc_type(red.dtype)
    return Rendered(name, text, len(kernel.inputs), main.err_size, main.gathers, main.divisions,
                    acc)


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
