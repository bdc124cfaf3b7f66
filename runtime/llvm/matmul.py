"""Matrix products: a planned SUM(MUL(a, b)) kernel rendered as a packed, register-tiled loop nest.

matmul_plan.py recognizes a product (a SUM over one axis k of a MUL whose factors `a`, `b` stay
constant along the n and the m axis; every other kept axis is a batch axis) and chooses its
orientation, tiles and thread slices: a `Plan`. `render` turns the generic renderer's m*n dot
products with strided loads into, per slice of the split axis:

    for each batch index, each block of NB columns:
        pack b[:, block] (any view, read through index expressions) into micro-panels of NR
            columns: contiguous [k][NR] slabs (where b runs along k, W in x @ W.T: VL x VL
            blocks loaded as vectors along k and transposed in registers, `_transpose`)
        for each group of G row tiles:
            unless a runs along k in memory (x in x @ w: read in place), pack a[rows, :] into
                contiguous [k][MR] strips (g.T in the weight gradient g.T @ x: read in place,
                each k would touch another cache line), MR rows at a time where a runs along
                m, else CHUNK values of k per row at a time
            for each tile of MR rows, each micro-panel:
                MR x NR accumulators (MR*NR/VL vectors, kept in registers) += a[r, p] * panel[p, :]
                the tile goes through the kernel's elementwise epilogue (bias, relu, cast, an
                optimizer's update: whatever the fuse pass joins to the SUM) to out

VL is the host's vector width in elements; accumulators have the product's dtype (float32
products accumulate in float32 with fused multiply-adds, as BLAS does). When the runtime splits
the m axis across threads and a is small, each thread takes a slice of the columns instead (so
b is packed once, not once per thread: see `render`). The packed panels are malloc'ed per call
(k * NB and k * MR * G elements), so kernels with a huge k keep the generic loop (see
`matmul_plan.plan`).

Small products (a training step's layers: batch 64, 784-512) lost to two costs that the tile
loop of a big one hides:
- the orientation (`matmul_plan._swap_pays`): the smaller factor is packed as b and the other's
  rows read in place; the tile's rows then lie along the output's contiguous axis, and the
  epilogue's loops run rows innermost (`render`). Forward kernel of a 784-512 layer at batch 64
  (bias + relu epilogue) 0.134 -> 0.109 ms;
- the pack of an a that runs along m (g.T in the weight gradient): one vector of MR rows per k
  instead of a value at a time (`_pack_a`), and a b of at most matmul_plan.WHOLE_B_BYTES packed
  as one block so that a is packed once rather than once per block: the weight gradient
  g.T @ x of that layer (k = 64, 512 x 784 out) 0.125 -> 0.110 ms.

A third, smaller one: a b that runs along k (W in x @ W.T, untransposed) was packed a value
at a time through inserts; it is now read as vectors along k and transposed in registers
(relu(x @ W.T + b) at 1024^3: 4.79 -> 4.49 ms; x @ W.T at 32 x 2048 x 512: 0.257 -> 0.198 ms).
Nothing else showed as much (the epilogue, malloc: a few microseconds each). Both kernels
now run at ~470 GFLOP/s (2 flops a multiply-add), ~90% of the two cores' peak
(a loop of independent fused multiply-adds: ~260 GFLOP/s a core); the rest is the tiles'
padding (MR = 6: 516 rows for 512), the packs and the thread launch. (MR = 8, which AVX-512's
32 registers allow, measured the same on these two and pads more rows of a small m.)
"""
from __future__ import annotations

from . import matmul_plan, threads
from .lowering import ctype
from .matmul_plan import Plan

__all__ = ["render"]

CHUNK = 8  # values of k per row in one pass of the pack of a (see `_pack_a`)


def _pack_a(r, p: Plan, idx: list, g0: str, gtiles: str, last_row: str, smin) -> None:
    """Pack the rows g0 .. g0 + gtiles * MR of a as [tile][K][MR] at %ap: every micro-panel then
    reads the tile's rows of a from one contiguous strip. For an a that does not run along k in
    memory (g.T in the weight gradient g.T @ x: the next k is a whole row of memory away), read
    in place each k would touch another cache line.

    Where a runs along m (g.T again: a row of g holds a row of a's k-th values) and every row of
    the group exists, the pack walks k outermost and each tile's MR rows innermost: MR
    consecutive values in, MR out, which LLVM turns into one vector load and store (measured,
    the weight gradient of a 784-512 layer at batch 64: its 2 x 16k values took 0.017 of the
    kernel's 0.128 ms in the loop below, ~4 cycles a value, which walks each row's k-th values
    a row of g apart). Otherwise it walks CHUNK values of k at a time for each row (clamped to
    the last row), so it reads whole cache lines whether a runs along k or along m."""
    MR = matmul_plan.MR  # the planner's tile height, read per call (it may be patched)
    shape = r.kernel.shape
    m_axis, n_axis, k_axis = p.m_axis, p.n_axis, p.k_axis
    K = shape[k_axis]
    T = ctype(p.red.dtype)

    def store(t, i, row, pk):
        r.memo = {}
        a_idx = list(idx)
        a_idx[m_axis], a_idx[n_axis], a_idx[k_axis] = row, 0, pk
        tk = r.val(f"add i64 {r.val(f'mul i64 {t}, {K}')}, {pk}")
        dst = r.val(f"add i64 {r.val(f'mul i64 {tk}, {MR}')}, {i}")
        r.emit(f"store {T} {r.render(p.a, a_idx)}, "
               f"ptr {r.val(f'getelementptr {T}, ptr %ap, i64 {dst}')}")

    def chunked():
        pc = r.open_loop(0, -(-K // CHUNK))
        t = r.open_loop(0, gtiles)
        i = r.open_loop(0, MR)
        tri = r.val(f"add i64 {r.val(f'mul i64 {t}, {MR}')}, {i}")
        row = smin(r.val(f"add i64 {g0}, {tri}"), last_row)  # clamped: loads stay in range
        p0 = r.val(f"mul i64 {pc}, {CHUNK}")
        pk = r.open_loop(p0, smin(r.val(f"add i64 {p0}, {CHUNK}"), K))
        store(t, i, row, pk)
        r.close_loop(pk)
        r.close_loop(i)
        r.close_loop(t)
        r.close_loop(pc)

    if not p.a_along_m:
        chunked()
        return
    end = r.val(f"add i64 {g0}, {r.val(f'mul i64 {gtiles}, {MR}')}")
    whole = r.val(f"icmp sle i64 {end}, {r.val(f'add i64 {last_row}, 1')}")
    r.nlabels += 1
    fast, slow, done = (f"{w}{r.nlabels}" for w in ("apackw", "apackc", "apackd"))
    r.emit(f"br i1 {whole}, label %{fast}, label %{slow}")
    r.label(fast)
    pk = r.open_loop(0, K)
    t = r.open_loop(0, gtiles)
    i = r.open_loop(0, MR)
    tri = r.val(f"add i64 {r.val(f'mul i64 {t}, {MR}')}, {i}")
    row = r.val(f"add i64 {g0}, {tri}")
    store(t, i, row, pk)
    r.close_loop(i)
    r.close_loop(t)
    r.close_loop(pk)
    r.emit(f"br label %{done}")
    r.label(slow)
    chunked()
    r.emit(f"br label %{done}")
    r.label(done)


def _transpose(r, rows: list, V: str, VL: int) -> list:
    """The VL x VL matrix whose rows are the vectors `rows`, transposed: log2(VL) rounds of
    two-input shuffles, each swapping the off-diagonal blocks of size h (VL/2, .., 1)."""
    rows = list(rows)
    h = VL // 2
    while h >= 1:
        new = list(rows)
        for i in range(VL):
            if i & h:
                continue
            lo = ", ".join(f"i32 {j if not j & h else VL + j - h}" for j in range(VL))
            hi = ", ".join(f"i32 {j + h if not j & h else VL + j}" for j in range(VL))
            pair = f"{V} {rows[i]}, {V} {rows[i + h]}"
            new[i] = r.val(f"shufflevector {pair}, <{VL} x i32> <{lo}>")
            new[i + h] = r.val(f"shufflevector {pair}, <{VL} x i32> <{hi}>")
        rows = new
        h //= 2
    return rows


def render(r, p: Plan) -> str:
    """The text of the kernel's main function (same signature as Renderer.render_kernel's)."""
    MR = matmul_plan.MR  # the planner's tile height, read per call (it may be patched)
    k_ = r.kernel
    (out,) = k_.outputs
    shape = k_.shape
    nd = len(shape)
    m_axis, n_axis, k_axis = p.m_axis, p.n_axis, p.k_axis
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
    for d in range(nd):  # batch loops, outermost
        if d in (m_axis, n_axis, k_axis):
            continue
        lo, hi = bounds(d)
        iv = r.open_loop(lo, hi)
        idx[d] = iv if shape[d] != 1 else 0
        ivs.append(iv)
    mlo, mhi = bounds(m_axis)
    nlo, nhi = bounds(n_axis)
    def share(axis: int, unit: int, sliced: int) -> tuple:
        """The runtime's slice start..end of axis `sliced`, as the same fraction of `axis`
        taken in whole units of `unit` indices: (lo, hi) on `axis`."""
        units = -(-shape[axis] // unit)
        lo = r.val(f"sdiv i64 {r.val(f'mul i64 %start, {units}')}, {shape[sliced]}")
        hi = r.val(f"sdiv i64 {r.val(f'mul i64 %end, {units}')}, {shape[sliced]}")
        return r.val(f"mul i64 {lo}, {unit}"), smin(r.val(f"mul i64 {hi}, {unit}"), shape[axis])

    if split == m_axis and matmul_plan.slice_columns(shape[m_axis], shape[n_axis], K, NR, VL,
                                                     size, threads.workers()):
        # The runtime slices the m axis (the first kept one) across threads, but then every
        # thread packs all of b. Here a slice start..end of m stands for the same fraction of
        # n's micro-panels instead, and every thread runs all rows over its own columns. (The
        # choice is made once, here, so that every slice makes the same one.)
        nlo, nhi = share(n_axis, NR, m_axis)
        mlo, mhi = 0, shape[m_axis]
    elif split == n_axis and p.rows_by_slice:
        # A transposed product (`matmul_plan._swap_pays`): the runtime slices its n axis (x's
        # rows in x @ W.T), but then every thread streams all of a (W). A slice start..end of n
        # stands for the same fraction of m's row tiles instead (see `Plan.rows_by_slice`).
        mlo, mhi = share(m_axis, MR, n_axis)
        nlo, nhi = 0, shape[n_axis]
    ncols = r.val(f"sub i64 {nhi}, {nlo}")
    nblocks = r.val(f"sdiv i64 {r.val(f'add i64 {ncols}, {NB - 1}')}, {NB}")
    jb = r.open_loop(0, nblocks)
    j0 = r.val(f"add i64 {nlo}, {r.val(f'mul i64 {jb}, {NB}')}")
    last_col = r.val(f"sub i64 {nhi}, 1")
    # ---- pack b[:, j0:j0+NB] as micro-panels [NB/NR][K][NR], zero past the last column ----
    # Full panels first, their NR columns unrolled into whole vectors (the loop vectorizer
    # would otherwise walk k with gathers and scatters); then at most one partial panel.
    cols_left = r.val(f"sub i64 {nhi}, {j0}")
    npanels = smin(r.val(f"sdiv i64 {r.val(f'add i64 {cols_left}, {NR - 1}')}, {NR}"), NB // NR)
    nfull = smin(r.val(f"sdiv i64 {cols_left}, {NR}"), NB // NR)
    q = r.open_loop(0, nfull)
    jq = r.val(f"add i64 {j0}, {r.val(f'mul i64 {q}, {NR}')}")

    def b_vector(col: int, pk, step: str) -> str:
        """VL values of b as a vector: columns jq+col.. at k = pk ("n"), or column jq+col at
        k = pk.. ("k")."""
        vec = "poison"
        for lane in range(VL):
            b_idx = list(idx)
            b_idx[m_axis] = 0
            b_idx[n_axis] = r.iadd(jq, col + (lane if step == "n" else 0))
            b_idx[k_axis] = r.iadd(pk, lane if step == "k" else 0)
            vec = r.val(f"insertelement {V} {vec}, {T} {r.render(p.b, b_idx)}, i64 {lane}")
        return vec

    def store_row(pk, v: int, vec: str) -> None:
        row = r.val(f"add i64 {r.val(f'mul i64 {q}, {K}')}, {pk}")
        base = r.val(f"getelementptr {T}, ptr %bp, i64 {r.val(f'mul i64 {row}, {NR}')}")
        r.emit(f"store {V} {vec}, ptr {r.val(f'getelementptr {T}, ptr {base}, i64 {v * VL}')}, "
               f"align {size}")

    k_vectors = 0
    if p.b_along_k:
        # b runs along k (W in x @ W.T): a panel's column at k..k+VL is one vector load;
        # VL of them transposed in registers give VL rows of the panel (`_transpose`)
        k_vectors = K // VL
        pb = r.open_loop(0, k_vectors)
        r.memo = {}
        p0 = r.val(f"mul i64 {pb}, {VL}")
        for v in range(ncv):
            rows = _transpose(r, [b_vector(v * VL + c, p0, "k") for c in range(VL)], V, VL)
            for lane, vec in enumerate(rows):
                store_row(r.iadd(p0, lane), v, vec)
        r.close_loop(pb)
    pk = r.open_loop(k_vectors * VL, K)
    r.memo = {}
    for v in range(ncv):
        store_row(pk, v, b_vector(v * VL, pk, "n"))
    r.close_loop(pk)
    r.close_loop(q)
    q = r.open_loop(nfull, npanels)
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
    # ---- groups of G row tiles (a is packed per group: `_pack_a`) ----
    G = p.group
    nrows = r.val(f"sub i64 {mhi}, {mlo}")
    ngroups = r.val(f"sdiv i64 {r.val(f'add i64 {nrows}, {G * MR - 1}')}, {G * MR}")
    grp = r.open_loop(0, ngroups)
    g0 = r.val(f"add i64 {mlo}, {r.val(f'mul i64 {grp}, {G * MR}')}")
    last_row = r.val(f"sub i64 {mhi}, 1")
    rows_left = r.val(f"sub i64 {mhi}, {g0}")
    gtiles = smin(r.val(f"sdiv i64 {r.val(f'add i64 {rows_left}, {MR - 1}')}, {MR}"), G)
    if p.pack_a:
        _pack_a(r, p, idx, g0, gtiles, last_row, smin)
    # ---- row tiles x micro-panels ----
    it = r.open_loop(0, gtiles)
    i0 = r.val(f"add i64 {g0}, {r.val(f'mul i64 {it}, {MR}')}")
    if p.pack_a:
        astrip = r.val(f"getelementptr {T}, ptr %ap, i64 {r.val(f'mul i64 {it}, {K * MR}')}")
    else:  # read in place (it runs along k), from rows clamped so that the loads stay in range
        rows = [smin(r.val(f"add i64 {i0}, {i}"), last_row) for i in range(MR)]
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
    if p.pack_a:
        aptr = r.val(f"getelementptr {T}, ptr {astrip}, i64 {r.val(f'mul i64 {pk}, {MR}')}")
    for i in range(MR):
        if p.pack_a:
            ai = r.val(f"load {T}, ptr {r.val(f'getelementptr {T}, ptr {aptr}, i64 {i}')}")
        else:
            a_idx = list(idx)
            a_idx[m_axis], a_idx[n_axis], a_idx[k_axis] = rows[i], 0, pk
            ai = r.render(p.a, a_idx)
        s = r.val(f"insertelement {V} poison, {T} {ai}, i64 0")
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
    # The inner loop walks the output's contiguous axis: the n axis, or the m axis of a
    # transposed product (`matmul_plan._swap_pays`), whose tile columns lie a row apart in the
    # output. (Measured with the columns inner, x @ W.T at m = 64, n = 512, k = 256 transposed: LLVM
    # vectorized the column loop into scatters, ~3.5 cycles a value, 0.058 ms in all; rows
    # inner 0.040 ms.)
    jq = r.val(f"add i64 {j0}, {r.val(f'mul i64 {q}, {NR}')}")
    nr_valid = smin(r.val(f"sub i64 {mhi}, {i0}"), MR)
    nc_valid = smin(r.val(f"sub i64 {nhi}, {jq}"), NR)
    if m_axis > n_axis:
        ci = r.open_loop(0, nc_valid)
        ri = r.open_loop(0, nr_valid)
    else:
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
    at = r.output_index(out_idx)  # the output drops the reduced axis (linalg's RESHAPE)
    value = r.render(out, at)
    r.store("%out0", out.dtype, r.linearize(at, out.shape), value)
    if m_axis > n_axis:
        r.close_loop(ri)
        r.close_loop(ci)
    else:
        r.close_loop(ci)
        r.close_loop(ri)
    r.close_loop(q)
    r.close_loop(it)
    r.close_loop(grp)
    r.close_loop(jb)
    for iv in reversed(ivs):
        r.close_loop(iv)
    r.emit("call void @free(ptr %bp)")
    if p.pack_a:
        r.emit("call void @free(ptr %ap)")
    r.emit("ret void")
    r.decls.add("declare noalias ptr @malloc(i64)")
    r.decls.add("declare void @free(ptr)")
    entry = ["entry:", f"  %tile = alloca [{MR * NR} x {T}], align 64"]
    entry += [f"  %acc{i}_{v} = alloca {V}, align 64" for i in range(MR) for v in range(ncv)]
    entry.append(f"  %bp = call ptr @malloc(i64 {K * NB * size})")
    if p.pack_a:
        entry.append(f"  %ap = call ptr @malloc(i64 {K * MR * G * size})")
    params = ["ptr noalias %out0"] + [f"ptr noalias %in{i}" for i in range(len(k_.inputs))]
    params += ["ptr noalias %err", "i64 %start", "i64 %end"]
    return "\n".join([f"define void @{r.name}({', '.join(params)}) {{", *entry, *r.lines, "}"])
