"""Column-wise reductions: a reduction that keeps its last axis (`x.sum(0)`), rendered row by row.

Nesting the reduced loops inside the kept ones (the renderer's general loop nest) would read a
whole row's stride apart per element. Here each tile of COLUMN_TILE columns gets a stack array of
accumulators; every reduced index adds its row segment to them (a loop over contiguous columns,
which vectorizes), COLUMN_ROWS rows per pass, and the epilogue stores each column's total
through the kernel's elementwise tail. 4096x4096 `sum(0)`: 205 ms nested, 1.4 ms this way.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from lazytensor.compiler.kernel import Kernel
from lazytensor.compiler.ops import REGISTRY

from .lowering import cast, ctype

if TYPE_CHECKING:
    from .renderer import Renderer

COLUMN_TILE = 2048  # columns per tile
COLUMN_ROWS = 8  # rows added per pass over a tile's accumulators


def applies(kernel: Kernel) -> bool:
    """Whether this reducing kernel keeps its last axis (longer than 1) and reduces an axis
    before it. Nesting the reduced loops inside the kept ones would then walk memory with a
    stride of a whole row per element; `render` walks it row by row instead."""
    shape, axes = kernel.shape, set(kernel.reduce_axes)
    last = len(shape) - 1
    return (len(kernel.reductions()) == 1 and last >= 1 and last not in axes and shape[last] > 1
            and any(shape[d] != 1 for d in axes))


def render(r: Renderer) -> str:
    """The kernel function of a column-wise reduction: the kept axes other than the last are
    outer loops (the split one running start..end; when the last axis is the split one its
    start..end is cut into tiles); for each tile of COLUMN_TILE columns an accumulator per
    column (a stack array) is reset, every reduced index adds its row segment to them (an
    inner loop over contiguous columns: it vectorizes), and the epilogue stores each column."""
    k = r.kernel
    (out,) = k.outputs
    shape, axes = k.shape, set(k.reduce_axes)
    red = k.reductions()[0]
    reduction = REGISTRY[red.op].llvm
    acc_dtype = reduction.acc_type(red.dtype)
    acc_t = ctype(acc_dtype)
    last = len(shape) - 1
    split = r.split_axis()
    idx: list = [0] * len(shape)
    ivs = []
    for d in range(last):
        if d not in axes:
            iv = r.open_loop("%start" if d == split else 0, "%end" if d == split else shape[d])
            idx[d] = iv if shape[d] != 1 else 0
            ivs.append(iv)
    lo, hi = ("%start", "%end") if split == last else (0, shape[last])
    count = r.val(f"sub nsw i64 {hi}, {lo}")
    ntiles = r.val(f"sdiv i64 {r.val(f'add nsw i64 {count}, {COLUMN_TILE - 1}')}, "
                      f"{COLUMN_TILE}")
    tile = r.open_loop(0, ntiles)
    tlo = r.iadd(lo, r.val(f"mul nsw i64 {tile}, {COLUMN_TILE}"))
    tend = r.val(f"add nsw i64 {tlo}, {COLUMN_TILE}")
    thi = r.val(f"select i1 {r.val(f'icmp slt i64 {tend}, {hi}')}, i64 {tend}, i64 {hi}")

    def column_loop() -> tuple[str, str]:
        j = r.open_loop(tlo, thi)
        at = r.val(f"sub nsw i64 {j}, {tlo}")
        return j, r.val(f"getelementptr {acc_t}, ptr %cacc, i64 {at}")

    j, p = column_loop()  # reset the tile's accumulators
    r.emit(f"store {acc_t} {reduction.identity(acc_dtype)}, ptr {p}")
    r.close_loop(j)
    inner = []
    innermost = max(axes)
    for d in sorted(axes):
        if d != innermost:
            iv = r.open_loop(0, shape[d])
            idx[d] = iv if shape[d] != 1 else 0
            inner.append(iv)
    # the innermost reduced axis: COLUMN_ROWS rows per pass over the tile (each accumulator
    # is loaded and stored once per COLUMN_ROWS rows, not per row), then the leftover rows
    n = shape[innermost]
    for first, end, rows in ((0, n // COLUMN_ROWS, COLUMN_ROWS),
                             (n // COLUMN_ROWS * COLUMN_ROWS, n, 1)):
        if first >= end:
            continue
        iv = r.open_loop(first, end)
        j, p = column_loop()
        idx[last] = j
        r.memo = {}
        acc = r.val(f"load {acc_t}, ptr {p}")
        for row in range(rows):
            idx[innermost] = iv if rows == 1 else r.iadd(r.imul(iv, rows), row)
            x = cast(r, r.render(red.srcs[0], idx), red.srcs[0].dtype, acc_dtype)
            acc = reduction.combine(r, acc_dtype, acc, x)
        r.emit(f"store {acc_t} {acc}, ptr {p}")
        r.close_loop(j)
        r.close_loop(iv)
    for iv in reversed(inner):
        r.close_loop(iv)
    j, p = column_loop()  # the epilogue, per column
    out_idx = [0 if d in axes else i for d, i in enumerate(idx)]
    out_idx[last] = j
    r.memo = {}
    total = r.val(f"load {acc_t}, ptr {p}")
    r.memo[(id(red), tuple(out_idx))] = cast(r, total, acc_dtype, red.dtype)
    at = r.output_index(out_idx)  # the output may drop the reduced axes (x.sum(0) * 2)
    r.store("%out0", out.dtype, r.linearize(at, out.shape), r.render(out, at))
    r.close_loop(j)
    r.close_loop(tile)
    for iv in reversed(ivs):
        r.close_loop(iv)
    r.emit("ret void")
    params = ["ptr noalias %out0"] + [f"ptr noalias %in{i}" for i in range(len(k.inputs))]
    params += ["ptr noalias %err", "i64 %start", "i64 %end"]
    entry = ["entry:", f"  %cacc = alloca {acc_t}, i64 {COLUMN_TILE}, align 64"]
    return "\n".join([f"define void @{r.name}({', '.join(params)}) {{",
                      *entry, *r.lines, "}"])
