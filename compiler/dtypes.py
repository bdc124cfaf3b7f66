"""Data types of IR values, and PyTorch's type promotion between them.

A `DType` names an element type once for every layer: the IR types nodes with it, the numpy
backend stores it as `np_dtype`, and the user sees it as `lt.float32` whose repr is PyTorch's
(`torch.float32`), because PyTorch's printed output is this project's contract.
"""
from __future__ import annotations

import ml_dtypes
import numpy as np


class DType:
    """An element type: a name, a size in bytes, a category and the numpy dtype that stores it."""

    __slots__ = ("name", "itemsize", "category", "np_dtype", "short")

    def __init__(self, name: str, itemsize: int, category: str, np_dtype, short: str):
        self.name = name
        self.itemsize = itemsize
        self.category = category  # 'bool', 'uint', 'int' or 'float'
        self.np_dtype = np.dtype(np_dtype)
        self.short = short  # the IR text form's spelling: f32, i64, ...

    @property
    def is_floating_point(self) -> bool:
        """True for float16, bfloat16, float32, float64."""
        return self.category == "float"

    @property
    def is_signed(self) -> bool:
        """True for signed integers and floats, as torch.dtype.is_signed."""
        return self.category in ("int", "float")

    @property
    def is_complex(self) -> bool:
        """Always False: complex dtypes are not supported."""
        return False

    @property
    def is_integer(self) -> bool:
        """True for bool-free integer types."""
        return self.category in ("int", "uint")

    @property
    def bits(self) -> int:
        """Size in bits."""
        return self.itemsize * 8

    def to_real(self) -> "DType":
        return self

    def __repr__(self) -> str:
        return f"torch.{self.name}"

    def __reduce__(self):
        return (dtype_from_name, (self.name,))


bool_ = DType("bool", 1, "bool", np.bool_, "b1")
uint8 = DType("uint8", 1, "uint", np.uint8, "u8")
int8 = DType("int8", 1, "int", np.int8, "i8")
int16 = DType("int16", 2, "int", np.int16, "i16")
int32 = DType("int32", 4, "int", np.int32, "i32")
int64 = DType("int64", 8, "int", np.int64, "i64")
float16 = DType("float16", 2, "float", np.float16, "f16")
bfloat16 = DType("bfloat16", 2, "float", ml_dtypes.bfloat16, "bf16")
float32 = DType("float32", 4, "float", np.float32, "f32")
float64 = DType("float64", 8, "float", np.float64, "f64")
# Internal only: the counter-based random generator works on 32-bit unsigned words.
uint32 = DType("uint32", 4, "uint", np.uint32, "u32")

ALL_DTYPES = (bool_, uint8, int8, int16, int32, int64, float16, bfloat16, float32, float64)
_BY_NAME = {d.name: d for d in ALL_DTYPES + (uint32,)}
_BY_SHORT = {d.short: d for d in ALL_DTYPES + (uint32,)}
_BY_NUMPY = {d.np_dtype: d for d in ALL_DTYPES}  # uint32 is internal: numpy's uint32 arrays are refused
# PyTorch's aliases, so `lt.float`, `lt.long`... exist as in torch.
ALIASES = {"float": float32, "double": float64, "half": float16, "long": int64, "int": int32,
           "short": int16, "bool": bool_}


def dtype_from_name(name: str) -> DType:
    """The DType called `name` ('float32', 'f32', 'float', 'torch.float32' all work)."""
    name = name.removeprefix("torch.")
    if name in _BY_NAME:
        return _BY_NAME[name]
    if name in _BY_SHORT:
        return _BY_SHORT[name]
    if name in ALIASES:
        return ALIASES[name]
    raise TypeError(f"unknown dtype {name!r}")


def dtype_from_numpy(np_dtype) -> DType:
    """The DType stored as numpy dtype `np_dtype`; TypeError for ones PyTorch lacks."""
    d = _BY_NUMPY.get(np.dtype(np_dtype))
    if d is None:
        raise TypeError(
            f"can't convert np.ndarray of type numpy.{np.dtype(np_dtype)}. The only supported types are: "
            "float64, float32, float16, bfloat16, int64, int32, int16, int8, uint8, and bool.")
    return d


# ---- promotion (c10/core/ScalarType.h promoteTypes) ----

def _rank(d: DType) -> int:
    return {"bool": 0, "uint": 1, "int": 1, "float": 2}[d.category]


def promote_types(a: DType, b: DType) -> DType:
    """PyTorch's torch.promote_types for two dtypes."""
    if a is b:
        return a
    if a is bool_:
        return b
    if b is bool_:
        return a
    if a.is_floating_point and b.is_floating_point:
        if {a, b} == {float16, bfloat16}:
            return float32
        return a if a.itemsize > b.itemsize else b
    if a.is_floating_point:
        return a
    if b.is_floating_point:
        return b
    # both integers: numpy's integer promotion is PyTorch's (uint8 + int8 -> int16)
    return dtype_from_numpy(np.promote_types(a.np_dtype, b.np_dtype))


def category_rank(d: DType) -> int:
    """0 for bool, 1 for integers, 2 for floats: the order of PyTorch's type categories."""
    return _rank(d)


def result_type(dim_dtypes, zero_dim_dtypes, scalar_dtypes) -> DType:
    """PyTorch's result type for an op over tensors with dims, 0-d tensors and Python scalars.

    Each group is promoted on its own; a lower-priority group only matters when its category is
    higher (`int32_tensor + 2.5` is float, `int32_tensor + 0-d int64` stays int32).
    """
    def fold(ds):
        out = None
        for d in ds:
            out = d if out is None else promote_types(out, d)
        return out

    def combine(higher, lower):
        if higher is None:
            return lower
        if lower is None or higher.is_floating_point:
            return higher
        if higher is bool_ or _rank(lower) > _rank(higher):
            return promote_types(higher, lower)
        return higher

    return combine(fold(dim_dtypes), combine(fold(zero_dim_dtypes), fold(scalar_dtypes)))
