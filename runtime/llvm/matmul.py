"""Matrix products: a SUM(MUL(a, b)) kernel rendered as a packed, register-tiled loop nest.

A product is a SUM over one axis k of a MUL whose factors each stay constant along a kept axis:
`a` along n, `b` along m (structurally: EXPANDs of size-1 axes under elementwise ops). Where k
lies does not matter. lazytensor/linalg.py builds x @ w as (*batch, m, n, k) reduced over the
last axis; backward builds the weight gradient g.T @ x as a SUM over the *first* axis of the
forward's iteration shape (the batch), and the input gradient g @ w over the middle one; a user's
`(a[:, :, None] * b[:, None, :]).sum(0)` is one too. `plan` finds the m, n and k axes (`_roles`;
every other kept axis is a batch axis) and the generic renderer's m*n dot products with strided
loads become, per slice of the split axis:

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
(k * NB and k * MR * G elements), so kernels with a huge k keep the generic loop (see `plan`).

Small products (a training step's layers: batch 64, 784-512) lost to two costs that the tile
loop of a big one hides:
- the orientation (`_swap_pays`): b is packed once and reused by every row, so the smaller
  factor had better be b. x @ W.T at batch 64 would pack all of W (401k values) for 64 rows of x;
  transposed, the rows of the tile are W's (read in place: they run along k) and x (50k values)
  is packed. The tile's rows then lie along the output's contiguous axis, and the epilogue's
  loops run rows innermost (`render`); the threads take slices of W's rows (`rows_by_slice`).
  Measured on this 2-core Zen 5 VM, alone and interleaved: forward kernel of a 784-512 layer
  at batch 64 (bias + relu epilogue) 0.134 -> 0.109 ms;
- the pack of an a that runs along m (g.T in the weight gradient): one vector of MR rows per k
  instead of a value at a time (`_pack_a`), and a b of at most WHOLE_B_BYTES packed as one block
  so that a is packed once rather than once per block: the weight gradient g.T @ x of that layer
  (k = 64, 512 x 784 out) 0.125 -> 0.110 ms.

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

from dataclasses import dataclass

import llvmlite.binding as llvm

from lazytensor.compiler import dtypes as dt
from lazytensor.compiler.ir import Node
from lazytensor.compiler.kernel import Kernel
from lazytensor.compiler.ops import ELEMENTWISE, Op

from . import threads
from .lowering import ctype

SUPPORTED = (dt.float32, dt.float64, dt.int32, dt.int64)
MR = 6  # rows per register tile
MAX_PANEL_BYTES = 32 << 20  # one k x NR micro-panel; beyond it the generic loop is used
BLOCK_BYTES = 1 << 20  # target size of a packed block of columns (k x NB)
# A b up to this size is packed as one block: with k = 64 (the weight gradient of a layer at
# batch 64) a block of 8 panels is 64 KB, and every block packed a afresh (784 columns: 4 times;
# 0.116 -> 0.112 ms as one block). A bigger one keeps blocks of 8 panels at most: a 1 MB block
# (x @ W with k = 512, n = 784) ran 3% slower than 512 KB ones.
WHOLE_B_BYTES = 256 << 10
GROUP_BYTES = 256 << 10  # target size of a packed group of rows (k x MR x group)
MAX_GROUP = 16  # row tiles per group at most
CHUNK = 8  # values of k per row in one pass of the pack of a (see `_pack_a`)
SLICE_N_BYTES = 2 << 20  # threads split a bigger a (m x k) by rows (see `slice_columns`)


def vector_bytes() -> int:
    """The host's vector register width in bytes (64 with AVX-512, else 32)."""
    feats = llvm.get_host_cpu_features()
    return 64 if feats.get("avx512f", False) else 32


@dataclass(frozen=True)
class Plan:
    """What the matmul renderer needs: the reduction, the two factors, the axes and the tiling."""
    red: Node
    a: Node  # constant along the n axis (read once per row and k, broadcast across a tile row)
    b: Node  # constant along the m axis (packed once, reused by every row)
    m_axis: int  # rows of a register tile
    n_axis: int  # columns: the packed, vectorized axis
    k_axis: int  # the reduced axis
    vl: int  # lanes per vector
    nr: int  # columns per register tile (2 vectors)
    nb: int  # columns per packed block (a multiple of nr)
    group: int  # row tiles per packed group of a
    pack_a: bool  # a is packed (else read in place: it runs along k in memory, see `_runs_along`)
    a_along_m: bool  # a runs along m in memory (`_pack_a` copies MR values at a time)
    b_along_k: bool  # b runs along k in memory (`render` packs it through transposes)
    # A transposed product whose split axis is n: each thread takes a slice of m (a's rows: W's
    # in x @ W.T) and packs all of b (x, the small factor), rather than a slice of n streaming
    # all of a. Measured in a training step (784-512 at batch 64): the forward itself the same
    # (isolated 0.111 vs 0.114 ms), but each core then reads the half of W that the SGD
    # update (split by rows the same way) writes: that kernel 0.021 -> 0.016 ms.
    rows_by_slice: bool = False


def _constant_along(n: Node, axis: int, memo: dict) -> bool:
    """True when `n`'s value does not change along `axis` (structurally: size 1 there, or an
    EXPAND of size 1 there under elementwise ops). A loop, not recursion: a factor may be a long
    elementwise chain."""
    stack = [(n, False)]
    while stack:
        m, ready = stack.pop()
        if id(m) in memo:
            continue
        if m.shape[axis] == 1 or m.op is Op.CONST:
            memo[id(m)] = True
        elif m.op is Op.EXPAND and m.srcs[0].shape[axis] == 1:
            memo[id(m)] = True
        elif m.op is not Op.EXPAND and m.op not in ELEMENTWISE:
            memo[id(m)] = False
        elif ready:
            memo[id(m)] = all(memo[id(s)] for s in m.srcs)
        else:
            stack.append((m, True))
            stack.extend((s, False) for s in m.srcs if id(s) not in memo)
    return memo[id(n)]


def _flat(idx, shape) -> int:
    flat = 0
    for i, d in zip(idx, shape):
        flat = flat * d + i
    return flat


def _runs_along(n: Node, axis: int) -> bool:
    """True when every stored value `n` reads (through RESHAPE, PERMUTE, EXPAND and SHRINK views
    under elementwise ops) lies one element further in memory for one step along `axis`
    (probed at the origin): reading it in place along that axis walks memory contiguously. Only
    a speed decision hangs on it (`render` packs the factor otherwise)."""
    start = [0] * len(n.shape)
    step = list(start)
    step[axis] = 1
    stack = [(n, start, step)]
    while stack:
        m, i0, i1 = stack.pop()
        if m.op is Op.BUFFER:
            if _flat(i1, m.shape) - _flat(i0, m.shape) != 1:
                return False
        elif m.op is Op.CONST:
            continue
        elif m.op in ELEMENTWISE:
            stack.extend((s, i0, i1) for s in m.srcs)
        elif m.op is Op.RESHAPE:
            src = m.srcs[0].shape

            def unflat(flat):
                out = []
                for d in reversed(src):
                    out.append(flat % d if d else 0)
                    flat = flat // d if d else 0
                return out[::-1]
            stack.append((m.srcs[0], unflat(_flat(i0, m.shape)), unflat(_flat(i1, m.shape))))
        elif m.op is Op.PERMUTE:
            j0, j1 = [0] * len(i0), [0] * len(i1)
            for i, ax in enumerate(m.arg):
                j0[ax], j1[ax] = i0[i], i1[i]
            stack.append((m.srcs[0], j0, j1))
        elif m.op is Op.EXPAND:
            src = m.srcs[0].shape
            stack.append((m.srcs[0], [0 if d == 1 else i for i, d in zip(i0, src)],
                          [0 if d == 1 else i for i, d in zip(i1, src)]))
        elif m.op is Op.SHRINK:
            stack.append((m.srcs[0], [i + b for i, (b, _) in zip(i0, m.arg)],
                          [i + b for i, (b, _) in zip(i1, m.arg)]))
        else:
            return False
    return True


def _roles(shape: tuple, k_axis: int, x: Node, y: Node) -> tuple | None:
    """(a, b, m_axis, n_axis) for the factors `x`, `y` of a product reduced over `k_axis`, or None.

    The n axis is a kept axis (longer than 1) along which one factor, `a`, is constant; the m
    axis an earlier kept axis along which the other, `b`, is constant. Among the choices the
    latest n axis wins (the output's innermost axis, so a tile row is stored contiguously), then
    an m axis longer than 1, then the latest. Every other kept axis is a batch axis. Requiring
    m before n keeps a matrix-vector product (m, 1, k) with the generic loop: read as the
    product of the vector and the transposed matrix, the matrix would be packed for one use."""
    kept = [d for d in range(len(shape)) if d != k_axis]
    best = None
    for a, b in ((x, y), (y, x)):
        for n_axis in reversed(kept):
            if shape[n_axis] < 2 or not _constant_along(a, n_axis, {}):
                continue
            ms = [d for d in kept if d < n_axis and _constant_along(b, d, {})]
            if ms:
                m_axis = max(ms, key=lambda d: (shape[d] > 1, d))
                rank = (n_axis, shape[m_axis] > 1, m_axis)
                if best is None or rank > best[0]:
                    best = (rank, (a, b, m_axis, n_axis))
                break
    return None if best is None else best[1]


def plan(kernel: Kernel, split_axis: int | None) -> Plan | None:
    """The matmul plan of `kernel`, or None when it is not a product this renderer handles: a
    SUM over one axis (any position: x @ w reduces the last axis of its iteration shape, the
    weight gradient g.T @ x of backward the first) of a MUL whose factors are each constant
    along a kept axis (see `_roles`); transposed where that pays (`_swap_pays`)."""
    shape = kernel.shape
    if split_axis is None or len(shape) < 3 or len(kernel.reduce_axes) != 1:
        return None
    (k_axis,) = kernel.reduce_axes
    reds = kernel.reductions()
    if len(reds) != 1 or reds[0].op is not Op.SUM or reds[0].dtype not in SUPPORTED:
        return None
    red = reds[0]
    mul = red.srcs[0]
    if mul.op is not Op.MUL or mul.dtype is not red.dtype:
        return None
    k = shape[k_axis]
    if k == 0:  # nothing to accumulate
        return None
    roles = _roles(shape, k_axis, *mul.srcs)
    if roles is None:
        return None
    a, b, m_axis, n_axis = roles
    size = red.dtype.itemsize
    vl = vector_bytes() // size
    nr = 2 * vl
    if k * nr * size > MAX_PANEL_BYTES:
        return None
    rows_by_slice = False
    if shape[m_axis] > 1 and _swap_pays(shape, m_axis, n_axis, k_axis, a, b, split_axis, nr, vl,
                                        size):
        a, b, m_axis, n_axis = b, a, n_axis, m_axis
        rows_by_slice = split_axis == n_axis
    n = shape[n_axis]
    panels = max(1, min(8, BLOCK_BYTES // (k * nr * size)))
    if k * -(-n // nr) * nr * size <= WHOLE_B_BYTES:  # all of b in one block, a packed once
        panels = -(-n // nr)
    panels = min(panels, -(-n // nr))
    group = max(1, min(MAX_GROUP, GROUP_BYTES // (k * MR * size)))
    pack_a = k > 1 and not _runs_along(a, k_axis)
    a_along_m = pack_a and _runs_along(a, m_axis)
    b_along_k = k >= vl and _runs_along(b, k_axis)
    return Plan(red, a, b, m_axis, n_axis, k_axis, vl, nr, nr * panels, group, pack_a, a_along_m,
                b_along_k, rows_by_slice)


def _cost(m: int, n: int, k: int, split: str, pack_a: float, pack_b: float, strided: bool,
          nr: int, vl: int, size: int, workers: int) -> float:
    """Cycles one thread spends on an m x n x k product (the model of `slice_columns`: a
    multiply-add costs 1 / (2 vl)) when the runtime splits the m axis (`split` "m", where
    `render` may split columns instead), the n axis ("n") or neither ("-": a batch axis, the
    same for every orientation). `pack_a`, `pack_b`: cycles to pack a value of each factor (0
    for an a read in place); `strided`: the tile's rows run along the output's contiguous axis,
    so the epilogue stores each value a row apart (~1 cycle more a value)."""
    def ceil(x: int, y: int) -> int:
        return -(-x // y)
    w = max(1, workers)
    fma = 2 * vl
    if split == "m" and slice_columns(m, n, k, nr, vl, size, w):
        m_part, n_part = m, ceil(ceil(n, nr), w) * nr
    elif split == "m":
        m_part, n_part = ceil(m, w), n
    elif split == "n":
        m_part, n_part = m, ceil(n, w)
    else:
        m_part, n_part = m, n
    cost = pack_b * k * n_part + pack_a * k * m_part
    cost += ceil(m_part, MR) * MR * ceil(n_part, nr) * nr * k / fma
    if strided:
        cost += m_part * n_part
    return cost


def _pack_cost(x: Node, k_axis: int, other: int, k: int) -> float:
    """Cycles to pack a value of factor `x` (see `_cost`): a quarter where it runs along k
    (`render` transposes b's vectors, `_pack_a` does not pack a) or along its other axis (whole
    vectors copied), else about one (a value at a time)."""
    if k > 1 and _runs_along(x, k_axis):
        return 0.25
    return 0.25 if _runs_along(x, other) else 1.0


def _swap_pays(shape: tuple, m_axis: int, n_axis: int, k_axis: int, a: Node, b: Node,
               split: int | None, nr: int, vl: int, size: int) -> bool:
    """Whether the product runs faster transposed: b's axis as the rows, a's as the packed
    columns (then a is packed and b, its rows, read in place or packed per group).

    The packed factor is reused by every row, so it had better be the smaller one: in the
    forward x @ W.T of a 784-512 layer at batch 64 (m = 64, n = 512, k = 784), the first
    orientation packs all of W (401k values, reused 64 times), the transposed one packs x (50k
    values, reused 512 times) and reads W's rows in place (0.134 -> 0.109 ms on 2 cores; one
    thread, 0.256 -> 0.210 ms; with b's transposing pack, 0.127 ms untransposed). The rows of a
    transposed tile go along the output's contiguous axis (strided epilogue stores), and a
    thread given columns streams all of the rows: as in `slice_columns`, a transposed a (b
    here) larger than SLICE_N_BYTES is never streamed that way. Checked against measurement
    (x @ W.T, m x n x k, 2 threads, both orientations forced): transposed, 64 x 512 x 784 (0.127
    -> 0.111 ms) and 64 x 10 x 512 (6.6 -> 5.2 us); not, 64 x 512 x 128 (transposed 20.6 -> 24.5
    us) and 256, 128 x 384 x 384 (the same either way), 200 x 100 x 300, 512 x 64 x 784."""
    M, N, K = shape[m_axis], shape[n_axis], shape[k_axis]
    if N * K * size > SLICE_N_BYTES:
        return False  # the transposed rows would be streamed by every thread
    w = threads.workers()
    in_place = K > 1 and _runs_along(a, k_axis)
    now = _cost(M, N, K, "m" if split == m_axis else "n" if split == n_axis else "-",
                0.0 if in_place else _pack_cost(a, k_axis, m_axis, K),
                _pack_cost(b, k_axis, n_axis, K), False, nr, vl, size, w)
    in_place = K > 1 and _runs_along(b, k_axis)
    swapped = _cost(N, M, K, "m" if split == n_axis else "n" if split == m_axis else "-",
                    0.0 if in_place else _pack_cost(b, k_axis, n_axis, K),
                    _pack_cost(a, k_axis, m_axis, K), True, nr, vl, size, w)
    return swapped < 0.95 * now  # a margin: the model is rough


def slice_columns(m: int, n: int, k: int, nr: int, vl: int, size: int, workers: int) -> bool:
    """Whether threads should split a product's columns rather than its rows (see `render`).

    A thread given rows packs all of b (k x n) for them; a thread given columns packs only its
    micro-panels of b but runs every row. Packing costs about a cycle per element, the tiles
    about 1 / (2 vl) (two fused multiply-adds of vl lanes a cycle): the cheaper slice per thread
    wins. Columns also lose when a is large: every thread would stream all of it from memory for
    each block of columns (measured on a 2-core Zen 5: 1024^3 float32, 4 MB of a, 5.9 ms per
    thread by columns vs 5.3 by rows; m = 512, n = 512, k = 784 (1.6 MB), 1.03 vs 1.07 ms;
    m = 64: 0.18 vs 0.25 ms). `workers` is the thread count the kernel is compiled for: a
    kernel run on another count is still right, only its slices less even."""
    if workers < 2 or m * k * size > SLICE_N_BYTES:
        return False

    def ceil(a: int, b: int) -> int:
        return -(-a // b)
    fma = 2 * vl
    rows = ceil(ceil(m, workers), MR) * MR  # a thread's rows, in whole tiles
    by_rows = k * n + rows * n * k / fma
    panels = ceil(n, nr)
    cols = ceil(panels, min(workers, panels)) * nr  # a thread's columns, in whole panels
    by_cols = k * cols + ceil(m, MR) * MR * cols * k / fma
    return by_cols < by_rows


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

    if split == m_axis and slice_columns(shape[m_axis], shape[n_axis], K, NR, VL, size,
                                         threads.workers()):
        # The runtime slices the m axis (the first kept one) across threads, but then every
        # thread packs all of b. Here a slice start..end of m stands for the same fraction of
        # n's micro-panels instead, and every thread runs all rows over its own columns. (The
        # choice is made once, here, so that every slice makes the same one.)
        nlo, nhi = share(n_axis, NR, m_axis)
        mlo, mhi = 0, shape[m_axis]
    elif split == n_axis and p.rows_by_slice:
        # A transposed product (`_swap_pays`): the runtime slices its n axis (x's rows in
        # x @ W.T), but then every thread streams all of a (W). A slice start..end of n stands
        # for the same fraction of m's row tiles instead (see `Plan.rows_by_slice`).
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
    # transposed product (`_swap_pays`), whose tile columns lie a row apart in the output.
    # (Measured with the columns inner, x @ W.T at m = 64, n = 512, k = 256 transposed: LLVM
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
