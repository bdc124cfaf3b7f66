"""Reading `data.pkl` safely: a restricted unpickler and the stand-ins for torch's rebuild functions.

`weights_only=True` (the default) runs an opcode loop limited as PyTorch's own weights-only loader
(format notes §8): only its opcodes; GLOBAL resolves only the names in `_SAFE` (our stand-ins,
never an import); REDUCE calls only those; BUILD only sets a state dict's attributes; APPEND(S)
only on lists, SETITEM(S) only on dicts. Anything else raises `UnsafeLoadError` naming it, before
anything runs. Python's pure pickle loop is used (not the C one) because the C loop's BUILD would
let a file set attributes on our own functions and classes.
"""
from __future__ import annotations

import _codecs
import collections
import pickle
import sys
import warnings

import numpy as np

import lazytensor as lt
from lazytensor.compiler import dtypes as dt
from lazytensor.runtime.serialization._formats import (STORAGE_CLASS, STORAGE_DTYPE, TORCH_ALIASES,
                                                        TORCH_DTYPES, UnsupportedDType)


class UnsafeLoadError(pickle.UnpicklingError):
    """A file asks for a global or an opcode that safe loading refuses (nothing was executed)."""


class CheckpointError(RuntimeError):
    """A file that is not a valid checkpoint: truncated, corrupt or foreign."""


class UnsupportedCheckpointError(RuntimeError):
    """A valid PyTorch file holding something lazytensor has no equivalent of (complex tensors...)."""


# ---- storages and tensors ----

class LoadedStorage:
    """One storage of the file: its flat bytes as a numpy array, and one base tensor per dtype view."""

    def __init__(self, key: str, array: np.ndarray, dtype_name: str | None, location: str):
        self.key = key
        self.array = array            # flat, of `dtype_name` (uint8 bytes for an UntypedStorage)
        self.dtype_name = dtype_name  # None: untyped, the rebuild call names the dtype
        self.location = location
        self._bases: dict = {}

    def base(self, dtype_name: str):
        """The flat lazytensor tensor over this storage, as `dtype_name` (one per dtype)."""
        t = self._bases.get(dtype_name)
        if t is None:
            dtype = _held_dtype(dtype_name, f"storage data/{self.key}")
            array = self.array
            if self.dtype_name is None:  # bytes of an UntypedStorage, read as the rebuild's dtype
                if array.size % dtype.itemsize:
                    raise CheckpointError(f"storage data/{self.key} holds {array.size} bytes, not a whole "
                                          f"number of {dtype_name} elements")
                array = array.view(dtype.np_dtype)
            t = self._bases[dtype_name] = lt.from_numpy(array)
        return t

    def tensor(self, dtype_name: str, offset, size, stride):
        """The tensor (size, stride, offset) viewing this storage as `dtype_name`."""
        base = self.base(dtype_name)
        size, stride, offset = _ints(size, "size"), _ints(stride, "stride"), _int(offset, "storage_offset")
        if len(size) != len(stride):
            raise CheckpointError(f"tensor on storage data/{self.key}: size {list(size)} and stride "
                                  f"{list(stride)} differ in length")
        if min(size + stride + (offset,), default=0) < 0:
            raise CheckpointError(f"tensor on storage data/{self.key}: negative size, stride or offset "
                                  f"(size {list(size)}, stride {list(stride)}, offset {offset})")
        numel = base.numel()
        if 0 not in size and offset + sum((d - 1) * s for d, s in zip(size, stride)) >= numel:
            raise CheckpointError(f"tensor on storage data/{self.key} reads past its end: size {list(size)}, "
                                  f"stride {list(stride)}, offset {offset}, storage of {numel} elements")
        try:
            return lt.as_strided(base, size, stride, offset)
        except RuntimeError as e:
            # An interleaved layout no movement-op view expresses: the values are right, but this
            # tensor no longer shares memory with the others on its storage.
            warnings.warn(f"lt.load: tensor on storage data/{self.key} loaded as a copy: {e}")
            flat = base.numpy()
            item = flat.itemsize
            values = np.lib.stride_tricks.as_strided(flat[offset:], size, tuple(s * item for s in stride))
            return lt.from_numpy(np.array(values))


def _held_dtype(name: str, what: str):
    name = TORCH_ALIASES.get(name, name)
    if name in STORAGE_CLASS:  # the dtypes lazytensor holds
        return dt.dtype_from_name(name)
    raise UnsupportedCheckpointError(
        f"{what} holds {name} values: lazytensor has no {name} dtype (it holds bool, uint8, int8, "
        "int16, int32, int64, float16, bfloat16, float32 and float64); convert the tensor in "
        "PyTorch before saving")


def _int(x, what: str) -> int:
    if type(x) is not int:
        raise CheckpointError(f"tensor {what} must be an int, got {type(x).__name__}")
    return x


def _ints(x, what: str) -> tuple:
    if not isinstance(x, (tuple, list)) or any(type(v) is not int for v in x):
        raise CheckpointError(f"tensor {what} must be a tuple of ints, got {x!r}")
    return tuple(x)


def _set_requires_grad(t, requires_grad) -> None:
    if requires_grad:
        t.requires_grad = True


def _parameter(t, requires_grad: bool):
    """`t` as `lt.nn.Parameter` where that exists, else `t` with `requires_grad`."""
    nn = sys.modules.get("lazytensor.nn")
    param = getattr(nn, "Parameter", None) if nn is not None else None
    if param is not None:
        return param(t, requires_grad=bool(requires_grad))
    _set_requires_grad(t, requires_grad)
    return t


def _check_metadata(metadata) -> None:
    if metadata and (metadata.get("conj") or metadata.get("neg")):
        raise UnsupportedCheckpointError("a saved tensor has its conj or neg bit set (complex tensors): "
                                         "lazytensor has no such tensors")


def _storage(storage) -> LoadedStorage:
    if not isinstance(storage, LoadedStorage):
        raise CheckpointError(f"a tensor's storage must be a persistent id, got {type(storage).__name__}")
    return storage


def rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None,
                      metadata=None):
    """Stand-in for torch._utils._rebuild_tensor_v2: a view of a loaded storage."""
    storage = _storage(storage)
    if storage.dtype_name is None:
        raise CheckpointError(f"storage data/{storage.key} is untyped but rebuilt without a dtype")
    _check_metadata(metadata)
    t = storage.tensor(storage.dtype_name, storage_offset, size, stride)
    _set_requires_grad(t, requires_grad)
    return t


def rebuild_tensor_v3(storage, storage_offset, size, stride, requires_grad, backward_hooks, dtype,
                      metadata=None):
    """Stand-in for torch._utils._rebuild_tensor_v3: as v2, the dtype given apart (UntypedStorage)."""
    storage = _storage(storage)
    if isinstance(dtype, UnsupportedDType):
        _held_dtype(dtype.name, f"storage data/{storage.key}")
    if not isinstance(dtype, lt.dtype):
        raise CheckpointError(f"_rebuild_tensor_v3: expected a dtype, got {dtype!r}")
    _check_metadata(metadata)
    t = storage.tensor(dtype.name, storage_offset, size, stride)
    _set_requires_grad(t, requires_grad)
    return t


def rebuild_tensor(storage, storage_offset, size, stride):
    """Stand-in for torch._utils._rebuild_tensor (old files)."""
    return rebuild_tensor_v2(storage, storage_offset, size, stride)


def rebuild_parameter(data, requires_grad, backward_hooks):
    """Stand-in for torch._utils._rebuild_parameter: the tensor as a Parameter."""
    if not isinstance(data, lt.Tensor):
        raise CheckpointError(f"_rebuild_parameter: expected a tensor, got {type(data).__name__}")
    return _parameter(data, requires_grad)


def rebuild_parameter_with_state(data, requires_grad, backward_hooks, state):
    """Stand-in for torch._utils._rebuild_parameter_with_state (only an empty state is held)."""
    if state:
        raise UnsupportedCheckpointError(f"a saved Parameter carries Python attributes {sorted(state)!r}, "
                                         "which lazytensor's tensors can't hold")
    return rebuild_parameter(data, requires_grad, backward_hooks)


class _TensorType:
    """Stand-in for the classes torch names in `_rebuild_from_type_v2` (Tensor, Parameter)."""

    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:
        return self.name


TENSOR_TYPE, PARAMETER_TYPE = _TensorType("torch.Tensor"), _TensorType("torch.nn.parameter.Parameter")
_REBUILDERS = (rebuild_tensor_v2, rebuild_tensor_v3, rebuild_tensor, rebuild_parameter,
               rebuild_parameter_with_state)


def rebuild_from_type_v2(func, new_type, args, state):
    """Stand-in for torch._tensor._rebuild_from_type_v2 (Tensor and Parameter, without attributes)."""
    if not any(func is f for f in _REBUILDERS) or not isinstance(args, tuple):
        raise UnsafeLoadError(f"_rebuild_from_type_v2 with {func!r}: only torch's tensor rebuild functions "
                              "are allowed")
    if not isinstance(new_type, _TensorType):
        raise UnsupportedCheckpointError(f"a saved tensor is of class {new_type!r}: tensor subclasses are "
                                         "not supported")
    if state:
        raise UnsupportedCheckpointError("a saved tensor carries Python attributes "
                                         f"{sorted(state) if isinstance(state, dict) else state!r}")
    t = func(*args)
    return _parameter(t, t.requires_grad) if new_type is PARAMETER_TYPE else t


def _encode(obj: str, encoding: str = "utf-8"):
    """`_codecs.encode` for the text codecs pickle uses for bytes (no other codec runs)."""
    if not isinstance(obj, str) or encoding.lower().replace("_", "-") not in ("latin1", "latin-1", "utf-8", "utf8"):
        raise UnsafeLoadError(f"_codecs.encode with {type(obj).__name__} and {encoding!r}: only latin1/utf-8 "
                              "encoding of a str is allowed")
    return _codecs.encode(obj, encoding)


def _device(spec, index=None):
    return lt.device(spec, index)


class _Unsupported:
    """A global PyTorch allows whose objects lazytensor lacks: raises, naming it, when used."""

    def __init__(self, name: str, what: str):
        self.name, self.what = name, what

    def __call__(self, *args, **kwargs):
        raise UnsupportedCheckpointError(f"{self.name}: {self.what} are not supported by lazytensor")

    def __repr__(self) -> str:
        return self.name


class StorageType:
    """Stand-in for a torch storage class (`torch FloatStorage`) in a persistent id."""

    def __init__(self, name: str, dtype_name: str | None):
        self.name, self.dtype_name = name, dtype_name

    def __repr__(self) -> str:
        return f"torch.{self.name}"


def _safe_globals() -> dict:
    table = {
        ("collections", "OrderedDict"): collections.OrderedDict,
        ("collections", "Counter"): collections.Counter,
        ("builtins", "set"): set,
        ("builtins", "complex"): complex,
        ("builtins", "bytearray"): bytearray,
        ("_codecs", "encode"): _encode,
        ("torch", "Size"): lt.Size,
        ("torch", "device"): _device,
        ("torch", "Tensor"): TENSOR_TYPE,
        ("torch.nn.parameter", "Parameter"): PARAMETER_TYPE,
        ("torch._utils", "_rebuild_tensor_v2"): rebuild_tensor_v2,
        ("torch._utils", "_rebuild_tensor_v3"): rebuild_tensor_v3,
        ("torch._utils", "_rebuild_tensor"): rebuild_tensor,
        ("torch._utils", "_rebuild_parameter"): rebuild_parameter,
        ("torch._utils", "_rebuild_parameter_with_state"): rebuild_parameter_with_state,
        ("torch._tensor", "_rebuild_from_type_v2"): rebuild_from_type_v2,
        ("torch.storage", "UntypedStorage"): StorageType("storage.UntypedStorage", None),
    }
    for cls, dtype_name in STORAGE_DTYPE.items():
        table[("torch", cls)] = StorageType(cls, dtype_name)
    for name in TORCH_DTYPES:
        real = TORCH_ALIASES.get(name, name)
        try:
            table[("torch", name)] = _held_dtype(real, "")
        except UnsupportedCheckpointError:
            table[("torch", name)] = UnsupportedDType(real)
    for name, what in (("_rebuild_qtensor", "quantized tensors"), ("_rebuild_sparse_tensor", "sparse tensors"),
                       ("_rebuild_nested_tensor", "nested tensors"),
                       ("_rebuild_meta_tensor_no_storage", "meta tensors"),
                       ("_rebuild_wrapper_subclass", "tensor subclasses"),
                       ("_rebuild_device_tensor_from_numpy", "device tensors"),
                       ("_rebuild_device_tensor_from_cpu_tensor", "device tensors")):
        table[("torch._utils", name)] = _Unsupported(f"torch._utils.{name}", what)
    table[("torch.serialization", "_get_layout")] = _Unsupported("torch.serialization._get_layout",
                                                                 "sparse layouts")
    return table


_SAFE = _safe_globals()
_PY2_MODULES = {"__builtin__": "builtins", "copy_reg": "copyreg"}
_BLOCKED_MODULES = ("os", "sys", "posix", "nt", "subprocess", "shutil", "socket", "importlib", "runpy")


def safe_global(module: str, name: str):
    """The stand-in for an allowed global; UnsafeLoadError naming any other."""
    module = _PY2_MODULES.get(module, module)
    obj = _SAFE.get((module, name))
    if obj is not None:
        return obj
    root = module.split(".")[0]
    if root in _BLOCKED_MODULES:
        why = f"Trying to load unsupported GLOBAL {module}.{name} whose module {root} is blocked."
    else:
        why = f"Unsupported global: GLOBAL {module}.{name} was not an allowed global by default."
    raise UnsafeLoadError(f"Weights only load failed. {why} lt.load(weights_only=True) rebuilds only tensors "
                          "and plain containers, and ran nothing from this file. Load with weights_only=False "
                          "only if you trust the file's source: that runs whatever code it names.")


# ---- the opcode loop ----

_ALLOWED_OPCODES = ("PROTO", "STOP", "GLOBAL", "REDUCE", "NEWOBJ", "BUILD", "MARK", "TUPLE", "TUPLE1", "TUPLE2",
                    "TUPLE3", "EMPTY_TUPLE", "EMPTY_LIST", "APPEND", "APPENDS", "EMPTY_DICT", "SETITEM",
                    "SETITEMS", "EMPTY_SET", "NONE", "NEWTRUE", "NEWFALSE", "BININT", "BININT1", "BININT2",
                    "LONG1", "BINFLOAT", "BINUNICODE", "SHORT_BINSTRING", "BINPERSID", "BINGET", "LONG_BINGET",
                    "BINPUT", "LONG_BINPUT")
_OPCODE_NAMES = {op.code.encode("latin1")[0]: op.name for op in __import__("pickletools").opcodes}


class _Dispatch(dict):
    def __missing__(self, code):
        name = _OPCODE_NAMES.get(code)
        if name is None:
            raise CheckpointError(f"data.pkl holds byte {code:#04x}, which is no pickle opcode (corrupt file)")
        raise UnsafeLoadError(f"Weights only load failed: pickle opcode {name} is not allowed (only the "
                              "protocol-2 opcodes torch.save writes are)")


_NEWOBJ_CLASSES = (collections.OrderedDict, collections.Counter, set)


class SafeUnpickler(pickle._Unpickler):
    """Python's pickle loop restricted to what rebuilds tensors and containers (module docstring)."""

    dispatch = _Dispatch({code: fn for code, fn in pickle._Unpickler.dispatch.items()
                          if _OPCODE_NAMES.get(code) in _ALLOWED_OPCODES})

    def __init__(self, file, persistent_load):
        super().__init__(file, encoding="utf-8")
        self._persistent_load = persistent_load
        self._globals: list = []

    def find_class(self, module: str, name: str):
        obj = safe_global(module, name)
        self._globals.append(obj)
        return obj

    def persistent_load(self, pid):
        return self._persistent_load(pid)

    def load_global(self):
        module, name = self.readline(), self.readline()
        if not module.endswith(b"\n") or not name.endswith(b"\n"):
            raise EOFError("the pickle stream ends inside a GLOBAL opcode")
        self.append(self.find_class(module[:-1].decode("utf-8"), name[:-1].decode("utf-8")))

    def _is_global(self, obj) -> bool:
        return any(obj is g for g in self._globals)

    def load_reduce(self):
        args = self.stack.pop()
        func = self.stack[-1]
        if not self._is_global(func) or not callable(func):
            raise UnsafeLoadError(f"Weights only load failed: REDUCE on {type(func).__name__}, which is not an "
                                  "allowed global")
        if type(args) is not tuple:
            raise CheckpointError(f"REDUCE arguments must be a tuple, got {type(args).__name__}")
        self.stack[-1] = func(*args)

    def load_newobj(self):
        args = self.stack.pop()
        cls = self.stack.pop()
        if not self._is_global(cls) or cls not in _NEWOBJ_CLASSES or type(args) is not tuple:
            raise UnsafeLoadError(f"Weights only load failed: NEWOBJ on {cls!r} is not allowed")
        self.append(cls.__new__(cls, *args))

    def load_build(self):
        state = self.stack.pop()
        inst = self.stack[-1]
        if isinstance(state, tuple) and len(state) == 2 and state[1] is None:
            state = state[0]
        if type(inst) in (collections.OrderedDict, collections.Counter) and isinstance(state, dict) \
                and all(type(k) is str for k in state):
            inst.__dict__.update(state)  # a state dict's `_metadata`
            return
        if isinstance(inst, lt.Tensor) and not state:
            return
        raise UnsafeLoadError(f"Weights only load failed: BUILD on {type(inst).__name__} with "
                              f"{type(state).__name__} state is not allowed")

    def load_append(self):
        value = self.stack.pop()
        self._list(self.stack[-1]).append(value)

    def load_appends(self):
        items = self.pop_mark()
        self._list(self.stack[-1]).extend(items)

    def load_setitem(self):
        value = self.stack.pop()
        key = self.stack.pop()
        self._dict(self.stack[-1])[key] = value

    def load_setitems(self):
        items = self.pop_mark()
        d = self._dict(self.stack[-1])
        for i in range(0, len(items), 2):
            d[items[i]] = items[i + 1]

    @staticmethod
    def _list(obj):
        if type(obj) is not list:
            raise UnsafeLoadError(f"Weights only load failed: APPEND on {type(obj).__name__} (only lists)")
        return obj

    @staticmethod
    def _dict(obj):
        if type(obj) not in (dict, collections.OrderedDict, collections.Counter):
            raise UnsafeLoadError(f"Weights only load failed: SETITEM on {type(obj).__name__} (only dicts)")
        return obj


for _name in ("global", "reduce", "newobj", "build", "append", "appends", "setitem", "setitems"):
    SafeUnpickler.dispatch[getattr(pickle, _name.upper())[0]] = getattr(SafeUnpickler, "load_" + _name)


class TrustedUnpickler(pickle.Unpickler):
    """weights_only=False: any global may load (the file is trusted); torch's names map to our stand-ins."""

    def __init__(self, file, persistent_load):
        super().__init__(file, encoding="utf-8")
        self._persistent_load = persistent_load

    def find_class(self, module: str, name: str):
        obj = _SAFE.get((_PY2_MODULES.get(module, module), name))
        return obj if obj is not None else super().find_class(module, name)

    def persistent_load(self, pid):
        return self._persistent_load(pid)
