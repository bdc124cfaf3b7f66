"""Planning a matrix product: recognizing it in a kernel and choosing how matmul.py renders it.

A product is a SUM over one axis k of a MUL whose factors each stay constant along a kept axis:
`a` along n, `b` along m (structurally: EXPANDs of size-1 axes under elementwise ops). Where k
lies does not matter. lazytensor/linalg.py builds x @ w as (*batch, m, n, k) reduced over the
last axis; backward builds the weight gradient g.T @ x as a SUM over the *first* axis of the
forward's iteration shape (the batch), and the input gradient g @ w over the middle one; a user's
`(a[:, :, None] * b[:, None, :]).sum(0)` is one too. `plan` finds the m, n and k axes (`_roles`;
every other kept axis is a batch axis) and returns a `Plan`: the factors' roles and orientation,
the register tile (MR rows x 2 vectors), the packed block and group sizes, which factor is
packed and how (`_runs_along`), and how threads slice the product (`slice_columns`,
`Plan.rows_by_slice`). matmul.py renders a Plan as the packed, register-tiled loop nest.

The choices come from a rough model of the cycles one thread spends (`_cost`: packing about a
cycle a value, the tiles' fused multiply-adds 1 / (2 VL)), checked against measurement:
- the orientation (`_swap_pays`): b is packed once and reused by every row, so the smaller
  factor had better be b. x @ W.T at batch 64 would pack all of W (401k values) for 64 rows of x;
  transposed, the rows of the tile are W's (read in place: they run along k) and x (50k values)
  is packed. The tile's rows then lie along the output's contiguous axis, and the epilogue's
  loops run rows innermost (matmul.render); the threads take slices of W's rows (`rows_by_slice`).
  Measured on this 2-core Zen 5 VM, alone and interleaved: forward kernel of a 784-512 layer
  at batch 64 (bias + relu epilogue) 0.134 -> 0.109 ms;
- the thread slices (`slice_columns`): when the runtime splits the m axis and a is small, each
  thread takes a slice of the columns instead, so that b is packed once, not once per thread.
"""
from __future__ import annotations

from dataclasses import dataclass

import llvmlite.binding as llvm

from lazytensor.compiler import dtypes as dt
from lazytensor.compiler.ir import Node
from lazytensor.compiler.kernel import Kernel
from lazytensor.compiler.ops import ELEMENTWISE, Op

from . import threads

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
    a_along_m: bool  # a runs along m in memory (`matmul._pack_a` copies MR values at a time)
    b_along_k: bool  # b runs along k in memory (`matmul.render` packs it through transposes)
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
    a speed decision hangs on it (`matmul.render` packs the factor otherwise)."""
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
    `matmul.render` may split columns instead), the n axis ("n") or neither ("-": a batch axis,
    the same for every orientation). `pack_a`, `pack_b`: cycles to pack a value of each factor
    (0 for an a read in place); `strided`: the tile's rows run along the output's contiguous
    axis, so the epilogue stores each value a row apart (~1 cycle more a value)."""
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
    (`matmul.render` transposes b's vectors, `matmul._pack_a` does not pack a) or along its
    other axis (whole vectors copied), else about one (a value at a time)."""
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
    """Whether threads should split a product's columns rather than its rows (matmul.render).

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
