"""Matrix products: a SUM(MUL(a, b)) kernel rendered as a packed, register-tiled loop nest.

lazytensor/linalg.py builds every product as SUM over the last axis of MUL(a, b) with iteration
shape (*batch, m, n, k), where `a` does not vary along n (an EXPAND of a (..., m, 1, k) view) and
`b` does not vary along m. The generic renderer walks that as m*n dot products with strided loads;
here it becomes, per slice of the split axis:

    for each block of NB columns:  pack b[:, block] (any view, read through index expressions)
                                   into micro-panels of NR columns: contiguous [k][NR] slabs
        for each tile of MR rows, each micro-panel:
            MR x NR accumulators (MR*NR/VL vectors, kept in registers) += a[r, p] * panel[p, :]
            the tile goes through the kernel's elementwise epilogue (bias, relu, cast) to out

VL is the host's vector width in elements; accumulators have the product's dtype (float32
products accumulate in float32 with fused multiply-adds, as BLAS does). The packed panel is
malloc'ed per call (k * NB elements), so kernels with a huge k keep the generic loop (see `plan`).
"""
from __future__ import annotations

from dataclasses import dataclass

import llvmlite.binding as llvm

from lazytensor.compiler import dtypes as dt
from lazytensor.compiler.ir import Node
from lazytensor.compiler.kernel import Kernel
from lazytensor.compiler.ops import ELEMENTWISE, Op

from .lowering import ctype

SUPPORTED = (dt.float32, dt.float64, dt.int32, dt.int64)
MR = 6  # rows per register tile
MAX_PANEL_BYTES = 32 << 20  # one k x NR micro-panel; beyond it the generic loop is used
BLOCK_BYTES = 1 << 20  # target size of a packed block of columns (k x NB)


def vector_bytes() -> int:
    """The host's vector register width in bytes (64 with AVX-512, else 32)."""
    feats = llvm.get_host_cpu_features()
    return 64 if feats.get("avx512f", False) else 32


@dataclass(frozen=True)
class Plan:
    """What the matmul renderer needs: the reduction, the two factors and the tiling."""
    red: Node
    a: Node  # constant along the n axis
    b: Node  # constant along the m axis
    vl: int  # lanes per vector
    nr: int  # columns per register tile (2 vectors)
    nb: int  # columns per packed block (a multiple of nr)


def _constant_along(n: Node, axis: int, memo: dict) -> bool:
    """True when `n`'s value does not change along `axis` (structurally: size 1 there, or an
    EXPAND of size 1 there under elementwise ops)."""
    key = id(n)
    if key not in memo:
        if n.shape[axis] == 1 or n.op is Op.CONST:
            memo[key] = True
        elif n.op is Op.EXPAND:
            memo[key] = n.srcs[0].shape[axis] == 1 or _constant_along(n.srcs[0], axis, memo)
        elif n.op in ELEMENTWISE:
            memo[key] = all(_constant_along(s, axis, memo) for s in n.srcs)
        else:
            memo[key] = False
    return memo[key]


def plan(kernel: Kernel, split_axis: int | None) -> Plan | None:
    """The matmul plan of `kernel`, or None when it is not a product this renderer handles."""
    shape = kernel.shape
    if split_axis is None or len(shape) < 3 or kernel.reduce_axes != (len(shape) - 1,):
        return None
    reds = kernel.reductions()
    if len(reds) != 1 or reds[0].op is not Op.SUM or reds[0].dtype not in SUPPORTED:
        return None
    red = reds[0]
    mul = red.srcs[0]
    if mul.op is not Op.MUL or mul.dtype is not red.dtype:
        return None
    m_axis, n_axis = len(shape) - 3, len(shape) - 2
    m, n, k = shape[-3:]
    if k == 0 or n < 2:  # nothing to accumulate, or a matrix-vector product: generic loop
        return None
    x, y = mul.srcs
    mn, mm = {}, {}
    if _constant_along(x, n_axis, mn) and _constant_along(y, m_axis, mm):
        a, b = x, y
    elif _constant_along(y, n_axis, mn) and _constant_along(x, m_axis, mm):
        a, b = y, x
    else:
        return None
    size = red.dtype.itemsize
    vl = vector_bytes() // size
    nr = 2 * vl
    if k * nr * size > MAX_PANEL_BYTES:
        return None
    panels = max(1, min(8, BLOCK_BYTES // (k * nr * size)))
    panels = min(panels, -(-n // nr))
    return Plan(red, a, b, vl, nr, nr * panels)


def render(r, p: Plan) -> str:
    """The text of the kernel's main function (same signature as Renderer.render_kernel's)."""
    k_ = r.kernel
    (out,) = k_.outputs
    shape = k_.shape
    nd = len(shape)
    m_axis, n_axis, k_axis = nd - 3, nd - 2, nd - 1
    K = shape[k_axis]
    split = r.split_axis()
    T = ctype(p.red.dtype)
    is_float = p.red.dtype.is_floating_point
    size = p.red.dtype.itemsize
    VL, NR, NB = p.vl, p.nr, p.nb
    V = f"<{VL} x {T}>"
    ncv = NR // VL  # vectors per tile row
    zero = "0.0" if is_float else "0"

    def bounds(d):
        return ("%start", "%end") if d == split else (0, shape[d])

    def smin(a, b):
        return r.val(f"select i1 {r.val(f'icmp slt i64 {a}, {b}')}, i64 {a}, i64 {b}")

    idx: list = [0] * nd
    ivs = []
    for d in range(m_axis):  # batch loops
        lo, hi = bounds(d)
        iv = r.open_loop(lo, hi)
        idx[d] = iv if shape[d] != 1 else 0
        ivs.append(iv)
    mlo, mhi = bounds(m_axis)
    nlo, nhi = bounds(n_axis)
    ncols = r.val(f"sub i64 {nhi}, {nlo}")
    nblocks = r.val(f"sdiv i64 {r.val(f'add i64 {ncols}, {NB - 1}')}, {NB}")
    jb = r.open_loop(0, nblocks)
    j0 = r.val(f"add i64 {nlo}, {r.val(f'mul i64 {jb}, {NB}')}")
    last_col = r.val(f"sub i64 {nhi}, 1")
    # ---- pack b[:, j0:j0+NB] as micro-panels [NB/NR][K][NR], zero past the last column ----
    q = r.open_loop(0, NB // NR)
    pk = r.open_loop(0, K)
    c = r.open_loop(0, NR)
    r.memo = {}
    qc = r.val(f"add i64 {r.val(f'mul i64 {q}, {NR}')}, {c}")
    j = r.val(f"add i64 {j0}, {qc}")
    ok = r.val(f"icmp slt i64 {j}, {nhi}")
    b_idx = list(idx)
    b_idx[m_axis], b_idx[n_axis], b_idx[k_axis] = 0, r.val(f"select i1 {ok}, i64 {j}, i64 {last_col}"), pk
    bv = r.val(f"select i1 {ok}, {T} {r.render(p.b, b_idx)}, {T} {zero}")
    row = r.val(f"add i64 {r.val(f'mul i64 {q}, {K}')}, {pk}")
    dst = r.val(f"add i64 {r.val(f'mul i64 {row}, {NR}')}, {c}")
    bpp = r.val(f"getelementptr {T}, ptr %bp, i64 {dst}")
    r.emit(f"store {T} {bv}, ptr {bpp}")
    r.close_loop(c)
    r.close_loop(pk)
    r.close_loop(q)
    # ---- row tiles x micro-panels ----
    nrows = r.val(f"sub i64 {mhi}, {mlo}")
    ntiles = r.val(f"sdiv i64 {r.val(f'add i64 {nrows}, {MR - 1}')}, {MR}")
    it = r.open_loop(0, ntiles)
    i0 = r.val(f"add i64 {mlo}, {r.val(f'mul i64 {it}, {MR}')}")
    last_row = r.val(f"sub i64 {mhi}, 1")
    rows = [smin(r.val(f"add i64 {i0}, {i}"), last_row) for i in range(MR)]  # clamped: loads stay in range
    cols_left = r.val(f"sub i64 {nhi}, {j0}")
    npanels = smin(r.val(f"sdiv i64 {r.val(f'add i64 {cols_left}, {NR - 1}')}, {NR}"), NB // NR)
    q = r.open_loop(0, npanels)
    for i in range(MR):
        for v in range(ncv):
            r.emit(f"store {V} zeroinitializer, ptr %acc{i}_{v}")
    panel = r.val(f"getelementptr {T}, ptr %bp, i64 {r.val(f'mul i64 {q}, {K * NR}')}")
    pk = r.open_loop(0, K)
    r.memo = {}
    bptr = r.val(f"getelementptr {T}, ptr {panel}, i64 {r.val(f'mul i64 {pk}, {NR}')}")
    bvecs = []
    for v in range(ncv):
        vp = r.val(f"getelementptr {T}, ptr {bptr}, i64 {v * VL}")
        bvecs.append(r.val(f"load {V}, ptr {vp}, align {size}"))
    for i in range(MR):
        a_idx = list(idx)
        a_idx[m_axis], a_idx[n_axis], a_idx[k_axis] = rows[i], 0, pk
        s = r.val(f"insertelement {V} poison, {T} {r.render(p.a, a_idx)}, i64 0")
        av = r.val(f"shufflevector {V} {s}, {V} poison, <{VL} x i32> zeroinitializer")
        for v in range(ncv):
            acc = r.val(f"load {V}, ptr %acc{i}_{v}")
            if is_float:
                sfx = f"v{VL}f{size * 8}"
                new = r.call(f"llvm.fmuladd.{sfx}", V, [(V, av), (V, bvecs[v]), (V, acc)])
            else:
                new = r.val(f"add {V} {acc}, {r.val(f'mul {V} {av}, {bvecs[v]}')}")
            r.emit(f"store {V} {new}, ptr %acc{i}_{v}")
    r.close_loop(pk)
    for i in range(MR):
        for v in range(ncv):
            tv = r.val(f"load {V}, ptr %acc{i}_{v}")
            tp = r.val(f"getelementptr {T}, ptr %tile, i64 {i * NR + v * VL}")
            r.emit(f"store {V} {tv}, ptr {tp}")
    # ---- epilogue: the tile's valid part through the kernel's elementwise consumers ----
    jq = r.val(f"add i64 {j0}, {r.val(f'mul i64 {q}, {NR}')}")
    nr_valid = smin(r.val(f"sub i64 {mhi}, {i0}"), MR)
    nc_valid = smin(r.val(f"sub i64 {nhi}, {jq}"), NR)
    ri = r.open_loop(0, nr_valid)
    ci = r.open_loop(0, nc_valid)
    r.memo = {}
    at = r.val(f"add i64 {r.val(f'mul i64 {ri}, {NR}')}, {ci}")
    t = r.val(f"load {T}, ptr {r.val(f'getelementptr {T}, ptr %tile, i64 {at}')}")
    out_idx = list(idx)
    out_idx[m_axis] = r.val(f"add i64 {i0}, {ri}") if shape[m_axis] != 1 else 0
    out_idx[n_axis] = r.val(f"add i64 {jq}, {ci}")
    out_idx[k_axis] = 0
    r.memo[(id(p.red), tuple(out_idx))] = t
    value = r.render(out, out_idx)
    r.store("%out0", out.dtype, r.linearize(out_idx, out.shape), value)
    r.close_loop(ci)
    r.close_loop(ri)
    r.close_loop(q)
    r.close_loop(it)
    r.close_loop(jb)
    for iv in reversed(ivs):
        r.close_loop(iv)
    r.emit("call void @free(ptr %bp)")
    r.emit("ret void")
    r.decls.add("declare noalias ptr @malloc(i64)")
    r.decls.add("declare void @free(ptr)")
    entry = ["entry:", f"  %tile = alloca [{MR * NR} x {T}], align 64"]
    entry += [f"  %acc{i}_{v} = alloca {V}, align 64" for i in range(MR) for v in range(ncv)]
    entry.append(f"  %bp = call ptr @malloc(i64 {K * NB * size})")
    params = ["ptr noalias %out0"] + [f"ptr noalias %in{i}" for i in range(len(k_.inputs))]
    params += ["ptr noalias %err", "i64 %start", "i64 %end"]
    return "\n".join([f"define void @{r.name}({', '.join(params)}) {{", *entry, *r.lines, "}"])
