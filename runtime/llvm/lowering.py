"""Per-primitive LLVM lowerings: the `llvm` cells of the registry rows (compiler/ops.py).

What a cell holds depends on the op's kind, and the renderer (renderer.py) knows which is which:
- elementwise ops: `emit(r, node, operand_values) -> value`;
- movement ops: `index(r, node, idx) -> (src_idx, valid)`: the source index an output index reads,
  and an i1 validity value (PAD) or None;
- reductions: a `Reduction` (accumulator type, identity, combine);
- BUFFER, CONST, RAND, GATHER, CONTIGUOUS: `load(r, node, idx) -> value`, reading at an index.

Values are LLVM SSA names (or literals) of the op's *compute type*: i1 for bool, iN for integers,
float for float16/bfloat16/float32 (half types compute in float32 and round to their precision
after every op, so results match the numpy reference op by op), double for float64.
"""
from __future__ import annotations

import struct
import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from lazytensor.compiler import dtypes as dt
from lazytensor.compiler.ops import REGISTRY, Op

HALF = (dt.float16, dt.bfloat16)
# the bits of the error word (err[0]) a kernel sets; the runtime turns them into exceptions
ERR_IDIV, ERR_MOD = 1, 2


def ctype(d: dt.DType) -> str:
    """The LLVM type a value of dtype `d` is computed in."""
    if d is dt.bool_:
        return "i1"
    if d.is_floating_point:
        return "double" if d is dt.float64 else "float"
    return f"i{d.bits}"


def stype(d: dt.DType) -> str:
    """The LLVM type a value of dtype `d` is stored as in memory."""
    if d is dt.bool_:
        return "i8"
    if d in HALF:
        return "i16"
    return ctype(d)


def float_literal(value: float, d: dt.DType) -> str:
    """An exact LLVM literal for `value` rounded to dtype `d` (hex: no decimal rounding)."""
    if d is not dt.float64:
        value = float(np.array(value, dtype=d.np_dtype))  # round to the dtype's precision first
    return "0x%016X" % struct.unpack("<Q", struct.pack("<d", value))[0]


def literal(value, d: dt.DType) -> str:
    """The LLVM literal of a Python scalar as a value of dtype `d`."""
    if d is dt.bool_:
        return "1" if value else "0"
    if d.is_floating_point:
        return float_literal(float(value), d)
    return str(int(value))


def round_half(r, d: dt.DType, v: str) -> str:
    """Round a float32 value to float16/bfloat16 precision (a no-op for other dtypes)."""
    if d is dt.float16:
        return r.val(f"fpext half {r.val(f'fptrunc float {v} to half')} to float")
    if d is dt.bfloat16:
        bits = r.val(f"bitcast float {v} to i32")
        # round to nearest even on the top 16 bits; a NaN stays a (quiet) NaN
        lsb = r.val(f"and i32 {r.val(f'lshr i32 {bits}, 16')}, 1")
        rounded = r.val(f"add i32 {bits}, {r.val(f'add i32 {lsb}, 32767')}")
        nan = r.val(f"fcmp uno float {v}, 0.0")
        quiet = r.val(f"or i32 {bits}, 4194304")
        pick = r.val(f"select i1 {nan}, i32 {quiet}, i32 {rounded}")
        return r.val(f"bitcast i32 {r.val(f'and i32 {pick}, -65536')} to float")
    return v


# ---- elementwise ----

def _unary_float(intrinsic: str):
    def emit(r, n, xs):
        t = ctype(n.dtype)
        suffix = "f64" if t == "double" else "f32"
        return round_half(r, n.dtype, r.call(f"llvm.{intrinsic}.{suffix}", t, [(t, xs[0])]))
    return emit


# 2^f = e^(f ln2) for f in [-0.5, 0.5]: Taylor terms (ln2)^k / k!, k = 0..7 (truncation error
# < 6e-9 relative; Horner in float32 adds a few ulp), highest first for Horner's rule.
_EXP2_COEFFS = [math.log(2) ** k / math.factorial(k) for k in range(7, -1, -1)]


def _exp2(r, n, xs):
    """exp2 of a float32 compute value as inline, vectorizable arithmetic (llvm.exp2.f32 is a
    scalar libm call per element); double keeps the intrinsic."""
    t = ctype(n.dtype)
    if t == "double":
        return r.call("llvm.exp2.f64", t, [(t, xs[0])])
    x = xs[0]
    # clamp (NaN is restored at the end): beyond +-160 the result is inf or 0 anyway
    c = r.call("llvm.minnum.f32", t, [(t, r.call("llvm.maxnum.f32", t, [(t, x), (t, "-160.0")])),
                                      (t, "160.0")])
    k = r.call("llvm.rint.f32", t, [(t, c)])
    f = r.val(f"fsub float {c}, {k}")
    p = float_literal(_EXP2_COEFFS[0], dt.float32)
    for coeff in _EXP2_COEFFS[1:]:
        p = r.val(f"fadd float {r.val(f'fmul float {p}, {f}')}, {float_literal(coeff, dt.float32)}")
    # 2^k as two normal powers 2^a * 2^b (a = k >> 1): subnormal results and overflow to inf
    # come out of the multiplications with IEEE rounding
    ki = r.val(f"fptosi float {k} to i32")
    a = r.val(f"ashr i32 {ki}, 1")
    b = r.val(f"sub i32 {ki}, {a}")
    pa, pb = _pow2(r, a), _pow2(r, b)
    y = r.val(f"fmul float {r.val(f'fmul float {p}, {pa}')}, {pb}")
    y = r.val(f"select i1 {r.val(f'fcmp uno float {x}, 0.0')}, float {x}, float {y}")
    return round_half(r, n.dtype, y)


def _pow2(r, e: str) -> str:
    """2^e as a float32 for an i32 exponent e in the normal range."""
    biased = r.val(f"add i32 {e}, 127")
    return r.val(f"bitcast i32 {r.val(f'shl i32 {biased}, 23')} to float")


def _neg(r, n, xs):
    t = ctype(n.dtype)
    if n.dtype.is_floating_point:
        return r.val(f"fneg {t} {xs[0]}")
    if n.dtype is dt.bool_:
        raise NotImplementedError("NEG of a bool tensor has no LLVM lowering (torch refuses it too)")
    return r.val(f"sub {t} 0, {xs[0]}")


def _recip(r, n, xs):
    t = ctype(n.dtype)
    return round_half(r, n.dtype, r.val(f"fdiv {t} {float_literal(1.0, dt.float64)}, {xs[0]}"))


def _not(r, n, xs):
    return r.val(f"xor {ctype(n.dtype)} {xs[0]}, -1" if n.dtype is not dt.bool_ else f"xor i1 {xs[0]}, 1")


def cast(r, v: str, src: dt.DType, dst: dt.DType) -> str:
    """Convert a value of `src` to `dst` with the numpy reference's semantics."""
    if src is dst:
        return v
    ts, td = ctype(src), ctype(dst)
    if dst is dt.bool_:
        return r.val(f"fcmp une {ts} {v}, 0.0" if src.is_floating_point else f"icmp ne {ts} {v}, 0")
    if src is dt.bool_:
        return r.val(f"uitofp i1 {v} to {td}" if dst.is_floating_point else f"zext i1 {v} to {td}")
    if src.is_floating_point and dst.is_floating_point:
        if dst is dt.float64:
            return r.val(f"fpext float {v} to double")
        if src is dt.float64:
            if dst is dt.float16:  # one rounding, double -> half, as numpy does
                return r.val(f"fpext half {r.val(f'fptrunc float {_to_float_odd(r, v)} to half')} to float")
            v = r.val(f"fptrunc double {v} to float")
        return round_half(r, dst, v)
    if src.is_floating_point:
        # C truncation; out of range (and NaN) gives the x86 "integer indefinite" value, as
        # numpy's conversion does on this machine, instead of LLVM's poison
        wide = 64 if dst.bits == 64 else 32
        limit = float_literal(2.0 ** (wide - 1), dt.float64)
        fits = r.val(f"fcmp olt {ts} {r.call(f'llvm.fabs.{_fsuffix(ts)}', ts, [(ts, v)])}, {limit}")
        conv = r.val(f"fptosi {ts} {v} to i{wide}")
        out = r.val(f"select i1 {fits}, i{wide} {conv}, i{wide} {-(2 ** (wide - 1))}")
        return out if wide == dst.bits else r.val(f"trunc i{wide} {out} to {td}")
    if dst.is_floating_point:
        op = "sitofp" if src.category == "int" else "uitofp"
        return round_half(r, dst, r.val(f"{op} {ts} {v} to {td}"))
    if dst.bits < src.bits:
        return r.val(f"trunc {ts} {v} to {td}")
    if dst.bits > src.bits:
        return r.val(f"{'sext' if src.category == 'int' else 'zext'} {ts} {v} to {td}")
    return v  # same width: the same bits (int8 <-> uint8)


def _to_float_odd(r, v: str) -> str:
    """double -> float rounded to odd: then float -> half rounds exactly as double -> half would.

    (LLVM lowers a direct double -> half conversion to a libgcc call that this process may not
    have; round-to-odd through a format with 2+ extra bits is the textbook exact alternative.)
    """
    t = r.val(f"fptrunc double {v} to float")
    back = r.val(f"fpext float {t} to double")
    inexact = r.val(f"fcmp one double {back}, {v}")
    away = r.val(f"fcmp ogt double {r.call('llvm.fabs.f64', 'double', [('double', back)])}, "
                 f"{r.call('llvm.fabs.f64', 'double', [('double', v)])}")
    bits = r.val(f"bitcast float {t} to i32")
    bits = r.val(f"select i1 {away}, i32 {r.val(f'sub i32 {bits}, 1')}, i32 {bits}")
    bits = r.val(f"select i1 {inexact}, i32 {r.val(f'or i32 {bits}, 1')}, i32 {bits}")
    return r.val(f"bitcast i32 {bits} to float")


def _fsuffix(t: str) -> str:
    return "f64" if t == "double" else "f32"


def _cast(r, n, xs):
    return cast(r, xs[0], n.srcs[0].dtype, n.dtype)


def _arith(int_op: str, float_op: str, bool_op: str):
    def emit(r, n, xs):
        t = ctype(n.dtype)
        if n.dtype is dt.bool_:
            return r.val(f"{bool_op} i1 {xs[0]}, {xs[1]}")
        if n.dtype.is_floating_point:
            return round_half(r, n.dtype, r.val(f"{float_op} {t} {xs[0]}, {xs[1]}"))
        return r.val(f"{int_op} {t} {xs[0]}, {xs[1]}")
    return emit


def maximum(r, d: dt.DType, a: str, b: str) -> str:
    """max(a, b) with numpy.maximum's rules: a NaN operand wins."""
    t = ctype(d)
    if d is dt.bool_:
        return r.val(f"or i1 {a}, {b}")
    if d.is_floating_point:
        bigger = r.val(f"select i1 {r.val(f'fcmp ogt {t} {a}, {b}')}, {t} {a}, {t} {b}")
        return r.val(f"select i1 {r.val(f'fcmp uno {t} {a}, 0.0')}, {t} {a}, {t} {bigger}")
    cmp = "sgt" if d.category == "int" else "ugt"
    return r.val(f"select i1 {r.val(f'icmp {cmp} {t} {a}, {b}')}, {t} {a}, {t} {b}")


def _max(r, n, xs):
    return maximum(r, n.dtype, xs[0], xs[1])


def _compare(float_pred: str, signed_pred: str, unsigned_pred: str):
    def emit(r, n, xs):
        d = n.srcs[0].dtype
        t = ctype(d)
        if d.is_floating_point:
            return r.val(f"fcmp {float_pred} {t} {xs[0]}, {xs[1]}")
        pred = signed_pred if d.category == "int" else unsigned_pred
        return r.val(f"icmp {pred} {t} {xs[0]}, {xs[1]}")
    return emit


def _divmod(is_mod: bool):
    def emit(r, n, xs):
        a, b = xs
        d = n.dtype
        t = ctype(d)
        if d is dt.bool_:
            return "0" if is_mod else r.val(f"and i1 {a}, {b}")
        if d.is_floating_point:  # MOD only (IDIV is integer-only): C fmod
            return round_half(r, d, r.val(f"frem {t} {a}, {b}"))
        zero = r.val(f"icmp eq {t} {b}, 0")
        site = r.site(n)
        if site not in r.divisions:
            r.divisions.append(site)
        r.flag_if(zero, 0, ERR_MOD if is_mod else ERR_IDIV)
        bad = zero
        signed = d.category == "int"
        if signed:  # MIN / -1 overflows (x86 traps): numpy gives MIN, and remainder 0
            ovf = r.val(f"and i1 {r.val(f'icmp eq {t} {a}, {-(2 ** (d.bits - 1))}')}, "
                        f"{r.val(f'icmp eq {t} {b}, -1')}")
            bad = r.val(f"or i1 {zero}, {ovf}")
        safe = r.val(f"select i1 {bad}, {t} 1, {t} {b}")
        op = ("srem" if signed else "urem") if is_mod else ("sdiv" if signed else "udiv")
        out = r.val(f"{op} {t} {a}, {safe}")
        if signed:
            out = r.val(f"select i1 {ovf}, {t} {'0' if is_mod else a}, {t} {out}")
        return out
    return emit


def _bitwise(op: str):
    def emit(r, n, xs):
        return r.val(f"{op} {ctype(n.dtype)} {xs[0]}, {xs[1]}")
    return emit


def _where(r, n, xs):
    t = ctype(n.dtype)
    return r.val(f"select i1 {xs[0]}, {t} {xs[1]}, {t} {xs[2]}")


# ---- reductions ----

@dataclass(frozen=True)
class Reduction:
    """How a reduction accumulates: the accumulator's type, its identity, the combine step and
    the conversion of the final accumulator to the node's dtype."""
    acc_type: Callable  # dtype -> (llvm type, DType the accumulator behaves as)
    identity: Callable  # dtype -> LLVM literal
    combine: Callable  # (r, acc dtype, acc, x) -> new acc


def _wide(d: dt.DType) -> dt.DType:
    # float sums and products accumulate in double: closer to exact than numpy's pairwise float32
    return dt.float64 if d.is_floating_point else d


def _sum_combine(r, d, acc, x):
    t = ctype(d)
    if d is dt.bool_:
        return r.val(f"or i1 {acc}, {x}")
    # reassoc: the accumulator may be split into vector partial sums (exact enough in double)
    return r.val(f"fadd reassoc {t} {acc}, {x}" if d.is_floating_point else f"add {t} {acc}, {x}")


def _prod_combine(r, d, acc, x):
    t = ctype(d)
    if d is dt.bool_:
        return r.val(f"and i1 {acc}, {x}")
    return r.val(f"fmul reassoc {t} {acc}, {x}" if d.is_floating_point else f"mul {t} {acc}, {x}")


# float32 sums and products accumulate in float32 blocks inside the double (reductions.blocked)
BLOCKED = (_sum_combine, _prod_combine)


def _max_identity(d: dt.DType) -> str:
    if d is dt.bool_:
        return "0"
    if d.is_floating_point:
        return float_literal(float("-inf"), dt.float64)
    return str(-(2 ** (d.bits - 1)) if d.category == "int" else 0)


SUM = Reduction(_wide, lambda d: literal(False if d is dt.bool_ else 0, d), _sum_combine)
PROD = Reduction(_wide, lambda d: literal(True if d is dt.bool_ else 1, d), _prod_combine)
def _max_combine(r, d, acc, x):
    # llvm.maximum (a NaN operand wins, like numpy.maximum) vectorizes as a reduction; the
    # compare-and-select form of `maximum` does not
    if d.is_floating_point:
        t = ctype(d)
        return r.call(f"llvm.maximum.{'f64' if t == 'double' else 'f32'}", t, [(t, acc), (t, x)])
    return maximum(r, d, acc, x)


MAX_REDUCE = Reduction(lambda d: d, _max_identity, _max_combine)


# ---- registration ----

ELEMENTWISE_LOWERINGS = {
    Op.NEG: _neg, Op.EXP2: _exp2, Op.LOG2: _unary_float("log2"),
    Op.SIN: _unary_float("sin"), Op.COS: _unary_float("cos"), Op.SQRT: _unary_float("sqrt"), Op.RECIP: _recip,
    Op.TRUNC: _unary_float("trunc"), Op.CAST: _cast, Op.NOT: _not,
    Op.ADD: _arith("add", "fadd", "or"), Op.DIV: _arith("div", "fdiv", "div"), Op.MUL: _arith("mul", "fmul", "and"), Op.MAX: _max,
    Op.CMPLT: _compare("olt", "slt", "ult"), Op.CMPEQ: _compare("oeq", "eq", "eq"),
    Op.IDIV: _divmod(False), Op.MOD: _divmod(True),
    Op.AND: _bitwise("and"), Op.OR: _bitwise("or"), Op.XOR: _bitwise("xor"), Op.WHERE: _where,
}
REDUCTIONS = {Op.SUM: SUM, Op.PROD: PROD, Op.MAX_REDUCE: MAX_REDUCE}


def register(index_lowerings: dict, load_lowerings: dict) -> None:
    """Fill every registry row's `llvm` cell (the renderer supplies the index/load cells)."""
    cells = {**ELEMENTWISE_LOWERINGS, **REDUCTIONS, **index_lowerings, **load_lowerings}
    missing = set(Op) - set(cells)
    assert not missing, f"no LLVM lowering for {sorted(op.name for op in missing)}"
    for op, cell in cells.items():
        REGISTRY[op].llvm = cell
