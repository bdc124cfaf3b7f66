"""Names shared by the writer and the reader: torch's storage classes and dtypes (format notes §4)."""
from __future__ import annotations

# lazytensor dtype name -> torch's legacy storage class (module `torch`)
STORAGE_CLASS = {
    "float64": "DoubleStorage", "float32": "FloatStorage", "float16": "HalfStorage",
    "bfloat16": "BFloat16Storage", "int64": "LongStorage", "int32": "IntStorage",
    "int16": "ShortStorage", "int8": "CharStorage", "uint8": "ByteStorage", "bool": "BoolStorage",
}
# storage class -> dtype name, including the ones lazytensor can't hold (refused with their name)
STORAGE_DTYPE = {v: k for k, v in STORAGE_CLASS.items()} | {
    "ComplexFloatStorage": "complex64", "ComplexDoubleStorage": "complex128",
    "QInt8Storage": "qint8", "QUInt8Storage": "quint8", "QInt32Storage": "qint32",
    "QUInt4x2Storage": "quint4x2", "QUInt2x4Storage": "quint2x4",
}
# every torch dtype a file may name as a global (`torch float16`); only STORAGE_CLASS's are held
TORCH_DTYPES = frozenset(STORAGE_CLASS) | {
    "complex32", "complex64", "complex128", "uint16", "uint32", "uint64", "float8_e4m3fn",
    "float8_e5m2", "float8_e4m3fnuz", "float8_e5m2fnuz", "float8_e8m0fnu", "float4_e2m1fn_x2",
    "qint8", "quint8", "qint32", "quint4x2", "quint2x4", "bits1x8", "bits2x4", "bits4x2", "bits8",
    "bits16", "int1", "int2", "int3", "int4", "int5", "int6", "int7", "uint1", "uint2", "uint3",
    "uint4", "uint5", "uint6", "uint7",
    # the aliases torch also exports as module attributes
    "float", "double", "half", "long", "int", "short", "bool", "cfloat", "cdouble", "chalf",
}
TORCH_ALIASES = {"float": "float32", "double": "float64", "half": "float16", "long": "int64",
                 "int": "int32", "short": "int16", "cfloat": "complex64", "cdouble": "complex128",
                 "chalf": "complex32"}


class UnsupportedDType:
    """A torch dtype lazytensor has no tensors of (complex64, uint16...): named in the error it causes."""

    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:
        return f"torch.{self.name}"
