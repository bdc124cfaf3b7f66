"""The loop nest of a reducing kernel (`Renderer.render_kernel` opens the kept axes' loops and
calls `reduce` inside them): an accumulator per row, the reduced axes' loops, and the totals.

Two things make a big float reduction run at memory speed:
- a float32 sum or product runs its innermost loop in blocks (`blocked`) from the first 64-byte
  boundary of its input on (`peel_to_alignment`): float accumulators within a block vectorize
  with several partial sums, each block's total goes to the double accumulator;
- a reduction over a big source reads several far-apart stretches of it at once (`stretches`):
  the renderer walks runs of rows side by side (one accumulator each), and a long innermost axis
  is cut into runs read side by side (`stretched_blocks`).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from lazytensor.compiler import dtypes as dt
from lazytensor.compiler.ir import Node
from lazytensor.compiler.kernel import param_index
from lazytensor.compiler.ops import ELEMENTWISE, REGISTRY, Op

from . import lowering
from .indexing import INDEX_LOWERINGS
from .lowering import cast, ctype, stype

if TYPE_CHECKING:
    from .renderer import Renderer

BLOCK = 4096  # elements per float32 block of a blocked float reduction (`blocked`)
BLOCK_MIN = 256  # shorter innermost reduced loops accumulate in double directly
# A reduction over at least STRETCH_BYTES reads STRETCHES far-apart stretches of its input at
# once (two runs of rows: Renderer.render_kernel; or two halves of a long row: `stretched_blocks`).
# One stream of reads per core leaves memory bandwidth unused on this machine: the core's
# prefetchers keep too few lines in flight. Measured on hand-written kernels (2-core VM, 64 MiB,
# each core its half): a sum 0.49 -> 0.38 ms, row sums of 4096x4096 0.41 -> 0.35 ms (0.85 ->
# 0.78 ms in the VM's slow memory state); four stretches gained no more than two; a row cut into
# pieces read side by side lost (0.41 -> 0.43 ms). Through lazytensor, whole calls in the slow
# state, one process, eight rounds: `x.sum()` of 2^24 0.89 -> 0.83 ms, `x.sum(1)` of 4096x4096
# 0.86 -> 0.83 ms.
STRETCHES = 2
STRETCH_BYTES = 16 << 20


def stretches(r: Renderer) -> int:
    """How many far-apart stretches of its input a reducing kernel reads at once: STRETCHES
    when the reduction visits at least STRETCH_BYTES of its source, else 1 (a source that
    fits the caches gains nothing). See STRETCHES."""
    k = r.kernel
    reds = k.reductions()
    if not reds or STRETCHES < 2:
        return 1
    work = 1
    for n in k.shape:
        work *= n
    return STRETCHES if work * reds[0].srcs[0].dtype.itemsize >= STRETCH_BYTES else 1


def blocked(reduction, red: Node, acc_dtype, n: int, first: bool) -> bool:
    """Whether the innermost reduced loop (length `n`, or `start..end` when `first`) runs in
    blocks of BLOCK elements: for a float32 (or float16/bfloat16, computed as float) SUM or
    PROD whose accumulator is double. Within a block the values accumulate in float (`%bacc0`..)
    (`reassoc`, so LLVM keeps several vector partial accumulators, with no per-element
    conversion to double) and each block's total is added to the double accumulator: the
    error stays that of a short float32 sum."""
    return (reduction.combine in lowering.BLOCKED and acc_dtype is dt.float64
            and red.srcs[0].dtype in (dt.float32, dt.float16, dt.bfloat16)
            and (first or n >= BLOCK_MIN))


def reduce(r: Renderer, idxs: list, mode: str) -> None:
    """The reduced loops and an accumulator per index of `idxs`; afterwards each total is
    the reduction's value at its index (`memo`), or in "part" (one index) the raw total is
    stored to `%out0`."""
    k = r.kernel
    shape, axes = k.shape, set(k.reduce_axes)
    red = k.reductions()[0]
    reduction = REGISTRY[red.op].llvm
    acc_dtype = reduction.acc_type(red.dtype)
    acc_t = ctype(acc_dtype)
    r.naccs = max(r.naccs, len(idxs))
    accs = [f"%acc{s}" for s in range(len(idxs))]
    out_idxs = [tuple(idx) for idx in idxs]
    for acc in accs:
        r.emit(f"store {acc_t} {reduction.identity(acc_dtype)}, ptr {acc}")
    inner = []
    part_axis = next((d for d in sorted(axes) if shape[d] != 1), min(axes, default=None))
    innermost = max(axes, default=None)
    block = None
    for d in sorted(axes):
        first = mode == "part" and d == part_axis
        lo, hi = ("%start", "%end") if first else (0, shape[d])
        if d == innermost and blocked(reduction, red, acc_dtype, shape[d], first):
            r.blocked = True
            lo = peel_to_alignment(r, red, reduction, acc_dtype, idxs, d, lo, hi, accs)
            # (a row shorter than STRETCHES blocks has no whole run to read: no code for one)
            if len(idxs) == 1 and stretches(r) > 1 and shape[d] >= STRETCHES * BLOCK:
                lo = stretched_blocks(r, red, reduction, acc_dtype, idxs[0], d, lo, hi)
            identity = reduction.identity(dt.float32)
            b, block = open_blocks(r, lo, hi, [(f"%bacc{s}", identity) for s in range(len(idxs))])
            inner.append(b)
            continue
        iv = r.open_loop(lo, hi)
        for idx in idxs:
            idx[d] = iv if shape[d] != 1 or first else 0
        inner.append(iv)
    r.memo = {}
    if block is None:
        for idx, acc in zip(idxs, accs):
            x = cast(r, r.render(red.srcs[0], idx), red.srcs[0].dtype, acc_dtype)
            combine_into(r, reduction, acc_dtype, acc, x)
    else:  # the innermost reduced loop runs in blocks: see `blocked`
        for s, idx in enumerate(idxs):
            idx[innermost] = block
            x = cast(r, r.render(red.srcs[0], idx), red.srcs[0].dtype, dt.float32)
            combine_into(r, reduction, dt.float32, f"%bacc{s}", x)
        r.close_loop(block)
        for s, acc in enumerate(accs):
            part = cast(r, r.val(f"load float, ptr %bacc{s}"), dt.float32, acc_dtype)
            combine_into(r, reduction, acc_dtype, acc, part)
    for iv in reversed(inner):
        r.close_loop(iv)
    r.memo = {}
    for acc, out_idx in zip(accs, out_idxs):
        total = r.val(f"load {acc_t}, ptr {acc}")
        if mode == "part":
            r.emit(f"store {acc_t} {total}, ptr %out0")
        else:
            r.memo[(id(red), out_idx)] = cast(r, total, acc_dtype, red.dtype)


def peel_to_alignment(r: Renderer, red: Node, reduction, acc_dtype, idxs: list, d: int, lo, hi,
                       accs: list[str]):
    """Emit the first elements of a blocked reduction's innermost loop (axis `d`, `lo..hi`),
    up to the first 64-byte boundary of the buffer it reads, as a plain loop into the
    accumulators (one per index of `idxs`: the rows read together, see `stretches`; the
    boundary is the first row's); returns where the blocks start. Every vector load of the
    blocks then stays within one cache line: numpy's big arrays start 16 bytes past a line,
    and a 64-byte load from there touches two (measured, same process under load: the row
    sums of such a 4096x4096 array 0.72 -> 0.63 ms, a sum of 2^24 0.71 -> 0.62 ms)."""
    at = list(idxs[0])
    at[d] = lo
    found = first_read(r, red.srcs[0], at)
    if found is None:
        return lo
    address, size = found
    start = r.line_start(address, size, lo, hi, otherwise=lo)  # misaligned: no peel
    iv = r.open_loop(lo, start)
    r.memo = {}
    for idx, acc in zip(idxs, accs):
        idx[d] = iv
        x = cast(r, r.render(red.srcs[0], idx), red.srcs[0].dtype, acc_dtype)
        combine_into(r, reduction, acc_dtype, acc, x)
    r.close_loop(iv)
    r.memo = {}
    return start


def first_read(r: Renderer, n: Node, idx) -> "tuple[str, int] | None":
    """(address as i64, element size) of the first kernel input that `n` reads at `idx`,
    looking through elementwise ops and views (not padding or gathers); None if there is
    none within a few nodes. Only used to choose where aligned blocks begin."""
    stack = [(n, list(idx))]
    for _ in range(64):
        if not stack:
            return None
        m, at = stack.pop()
        if m.op is Op.BUFFER:
            i = param_index(m)
            if i is not None:
                p = r.val(f"getelementptr {stype(m.dtype)}, ptr %in{i}, i64 {at[0]}")
                return r.val(f"ptrtoint ptr {p} to i64"), m.dtype.itemsize
        elif m.op in ELEMENTWISE:
            stack.extend((s, at) for s in reversed(m.srcs))
        elif m.op in INDEX_LOWERINGS:
            src_idx, valid = INDEX_LOWERINGS[m.op](r, m, at)
            if valid is None:
                stack.append((m.srcs[0], src_idx))
        elif m.op is Op.CONTIGUOUS:
            stack.append((m.srcs[0], at))
    return None


def combine_into(r: Renderer, reduction, d: dt.DType, ptr: str, x: str) -> None:
    """`*ptr = combine(*ptr, x)` for the accumulator of dtype `d` in stack slot `ptr`."""
    t = ctype(d)
    acc = r.val(f"load {t}, ptr {ptr}")
    r.emit(f"store {t} {reduction.combine(r, d, acc, x)}, ptr {ptr}")


def open_blocks(r: Renderer, lo, hi, identities: list[tuple[str, str]]) -> tuple[str, str]:
    """Open the loop over blocks of `lo..hi` and the loop within one, setting each block
    accumulator of `identities` ((slot, identity) pairs) between them; returns both
    induction variables (block, element)."""
    count = r.val(f"sub nsw i64 {hi}, {lo}")
    nblocks = r.val(f"sdiv i64 {r.val(f'add nsw i64 {count}, {BLOCK - 1}')}, {BLOCK}")
    b = r.open_loop(0, nblocks)
    blo = r.iadd(lo, r.val(f"mul nsw i64 {b}, {BLOCK}"))
    bend = r.val(f"add nsw i64 {blo}, {BLOCK}")
    bhi = r.val(f"select i1 {r.val(f'icmp slt i64 {bend}, {hi}')}, i64 {bend}, i64 {hi}")
    for slot, identity in identities:
        r.emit(f"store float {identity}, ptr {slot}")
    return b, r.open_loop(blo, bhi)


def stretched_blocks(r: Renderer, red: Node, reduction, acc_dtype, idx: list, d: int, lo, hi):
    """Whole blocks of `lo..hi` (the innermost reduced axis `d`) read from STRETCHES equal
    runs side by side, into `%acc0`; returns where the elements left over begin (the
    caller's ordinary blocks take them). Each run is whole blocks long, so every run starts
    on a cache line when the first does."""
    n = STRETCHES
    count = r.val(f"sub nsw i64 {hi}, {lo}")
    nblocks = r.val(f"sdiv i64 {count}, {n * BLOCK}")
    per = r.val(f"mul nsw i64 {nblocks}, {BLOCK}")  # elements per run
    b = r.open_loop(0, nblocks)
    blo = r.iadd(lo, r.val(f"mul nsw i64 {b}, {BLOCK}"))
    r.emit(f"store float {reduction.identity(dt.float32)}, ptr %bacc0")
    j = r.open_loop(blo, r.val(f"add nsw i64 {blo}, {BLOCK}"))
    r.memo = {}
    for s in range(n):
        at = list(idx)
        at[d] = j if s == 0 else r.iadd(j, r.val(f"mul nsw i64 {per}, {s}"))
        x = cast(r, r.render(red.srcs[0], at), red.srcs[0].dtype, dt.float32)
        combine_into(r, reduction, dt.float32, "%bacc0", x)
    r.close_loop(j)
    part = cast(r, r.val("load float, ptr %bacc0"), dt.float32, acc_dtype)
    combine_into(r, reduction, acc_dtype, "%acc0", part)
    r.close_loop(b)
    r.memo = {}
    return r.iadd(lo, r.val(f"mul nsw i64 {per}, {n}"))


def finish(r: Renderer, idx: list) -> None:
    """The body of "fin": combine the `%nparts` partials and store the epilogue's value."""
    k = r.kernel
    (out,) = k.outputs
    red = k.reductions()[0]
    reduction = REGISTRY[red.op].llvm
    acc_dtype = reduction.acc_type(red.dtype)
    acc_t = ctype(acc_dtype)
    r.emit(f"store {acc_t} {reduction.identity(acc_dtype)}, ptr %acc0")
    iv = r.open_loop(0, "%nparts")
    p = r.val(f"getelementptr i64, ptr %part, i64 {iv}")  # 8-byte slots
    combine_into(r, reduction, acc_dtype, "%acc0", r.val(f"load {acc_t}, ptr {p}"))
    r.close_loop(iv)
    r.memo = {}
    total = r.val(f"load {acc_t}, ptr %acc0")
    r.memo[(id(red), tuple(idx))] = cast(r, total, acc_dtype, red.dtype)
    at = r.output_index(idx)
    r.store("%out0", out.dtype, r.linearize(at, out.shape), r.render(out, at))
