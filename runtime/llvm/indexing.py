"""The renderer's cells for sources, views and gathers: index-level lowerings.

A source cell (`LOAD_LOWERINGS`: BUFFER, CONST, RAND, GATHER, CONTIGUOUS) returns the node's
value at a multi-index; a view cell (`INDEX_LOWERINGS`: RESHAPE, PERMUTE, EXPAND, PAD, SHRINK,
FLIP) maps the index to its source's and says where it is valid (PAD), so views cost index
arithmetic, never a copy. The elementwise and reduction cells are in lowering.py.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from lazytensor.compiler import dtypes as dt
from lazytensor.compiler.ir import Node
from lazytensor.compiler.kernel import param_index
from lazytensor.compiler.ops import Op

from . import lowering
from .lowering import ctype, literal

if TYPE_CHECKING:
    from .renderer import Renderer


def _buffer(r: "Renderer", n: Node, idx) -> str:
    i = param_index(n)
    if i is None:
        raise NotImplementedError("a kernel graph reads stored data through parameters only")
    return r.load(f"%in{i}", n.dtype, idx[0])


def _const(r: "Renderer", n: Node, idx) -> str:
    return literal(n.arg, n.dtype)


def _rand(r: "Renderer", n: Node, idx) -> str:
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


def _gather(r: "Renderer", n: Node, idx) -> str:
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
    bad = r.val(f"icmp uge i64 {raw}, {size}")  # unsigned: a negative index is out of range too
    r._note_bad_index(bad, slot, raw)
    if size == 0 or src.size == 0:
        return literal(0, n.dtype)
    j = r.val(f"select i1 {bad}, i64 0, i64 {raw}")  # keep the load in bounds; the runtime raises
    src_idx = list(idx)
    src_idx[axis] = j
    return r.render(src, src_idx)


def _contiguous(r: "Renderer", n: Node, idx) -> str:
    return r.render(n.srcs[0], idx)


def _reshape(r: "Renderer", n: Node, idx):
    src = n.srcs[0].shape
    if [d for d in src if d != 1] == [d for d in n.shape if d != 1]:
        # only size-1 axes come or go: the other axes map one to one, no division
        big = iter(i for i, d in zip(idx, n.shape) if d != 1)
        return [0 if d == 1 else next(big) for d in src], None
    flat = r.linearize(idx, n.shape)
    return ([flat] if len(src) == 1 else r.delinearize(flat, src)), None


def _permute(r: "Renderer", n: Node, idx):
    out = [0] * len(idx)
    for i, axis in enumerate(n.arg):
        out[axis] = idx[i]
    return out, None


def _expand(r: "Renderer", n: Node, idx):
    src = n.srcs[0].shape
    return [0 if s == 1 and d != 1 else i for i, s, d in zip(idx, src, n.shape)], None


def _pad(r: "Renderer", n: Node, idx):
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


def _shrink(r: "Renderer", n: Node, idx):
    return [r.iadd(i, b) for i, (b, e) in zip(idx, n.arg)], None


def _flip(r: "Renderer", n: Node, idx):
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
