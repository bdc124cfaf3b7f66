"""Conversions between dtypes and devices: `to`, `float()`, `long()`, `type()`, `cpu()`..."""
from __future__ import annotations

from lazytensor.compiler import dtypes as dt
from lazytensor.device import device as Device, resolve
from lazytensor.tensor import Tensor, cast_node, wrap

__all__: list[str] = []


def to(input: Tensor, *args, dtype: dt.DType | None = None, device=None, non_blocking: bool = False,
       copy: bool = False, memory_format=None) -> Tensor:
    """The tensor as another dtype and/or device: `to(dtype)`, `to(device)`, `to(other)`, `to(device, dtype)`."""
    for a in args:
        if a is None:
            continue
        if isinstance(a, dt.DType):
            dtype = a
        elif isinstance(a, Tensor):
            dtype, device = a.dtype, a.device
        elif isinstance(a, (str, Device, int)):
            device = a
        else:
            raise TypeError(f"to() received an invalid combination of arguments - got {type(a).__name__}")
    resolve(device)
    if dtype is None or dtype is input.dtype:
        return wrap(input.node) if copy else input
    return wrap(cast_node(input.node, dtype))


def type_(input: Tensor, dtype=None, non_blocking: bool = False):
    """The dtype's name ('torch.FloatTensor') without arguments; a converted tensor with one."""
    if dtype is None:
        return f"torch.{_LEGACY[input.dtype.name]}Tensor"
    if isinstance(dtype, str):
        # only the legacy tensor-type names: 'torch.FloatTensor', 'torch.cuda.LongTensor'
        name = dtype.removeprefix("torch.")
        device = "cuda" if name.startswith("cuda.") else None
        name = name.removeprefix("cuda.")
        by_legacy = {f"{v}Tensor": k for k, v in _LEGACY.items()}
        if not dtype.startswith("torch.") or name not in by_legacy:
            raise ValueError(f"invalid type: '{dtype}'")
        return to(input, dt.dtype_from_name(by_legacy[name]), device=device)
    return to(input, dtype)


_LEGACY = {"float32": "Float", "float64": "Double", "float16": "Half", "bfloat16": "BFloat16", "int64": "Long",
           "int32": "Int", "int16": "Short", "int8": "Char", "uint8": "Byte", "bool": "Bool"}


def _caster(d: dt.DType, name: str):
    def method(self: Tensor, memory_format=None) -> Tensor:
        return to(self, d)
    method.__name__ = name
    method.__doc__ = f"The tensor as {d.name}."
    return method


for _name, _d in (("float", dt.float32), ("double", dt.float64), ("half", dt.float16), ("bfloat16", dt.bfloat16),
                  ("long", dt.int64), ("int", dt.int32), ("short", dt.int16), ("char", dt.int8),
                  ("byte", dt.uint8), ("bool", dt.bool_)):
    setattr(Tensor, _name, _caster(_d, _name))

Tensor.to = to
Tensor.type = type_
Tensor.type_as = lambda self, other: to(self, other.dtype)
Tensor.cpu = lambda self, memory_format=None: self
Tensor.cuda = lambda self, device=None, non_blocking=False: to(self, device="cuda")
