"""The writer of `data.pkl`: pickle protocol 2 opcodes emitted by hand, as `torch.save` writes them.

Python's own pickler can't name `torch._utils._rebuild_tensor_v2` without importing torch, and it
would write whatever an object's `__reduce__` says; this writer knows each type it accepts and
emits only the opcodes and globals that PyTorch's `weights_only=True` loader allows (format
notes §8, §10), so every file `lt.save` writes loads in `torch.load(weights_only=True)`.
"""
from __future__ import annotations

import collections
import struct
import sys

import numpy as np

import lazytensor as lt
from lazytensor.runtime.serialization._formats import STORAGE_CLASS

# opcodes (pickletools' names)
_MARK, _STOP, _TUPLE, _EMPTY_TUPLE, _TUPLE1, _TUPLE2, _TUPLE3 = b"(", b".", b"t", b")", b"\x85", b"\x86", b"\x87"
_NONE, _TRUE, _FALSE = b"N", b"\x88", b"\x89"
_EMPTY_LIST, _APPEND, _APPENDS, _EMPTY_DICT, _SETITEM, _SETITEMS = b"]", b"a", b"e", b"}", b"s", b"u"
_REDUCE, _BUILD, _BINPERSID = b"R", b"b", b"Q"
_BATCH = 1000  # items per APPENDS/SETITEMS, as pickle does


class StorageTable:
    """The distinct storages met while pickling, keyed '0', '1', ... in order of first use."""

    def __init__(self):
        self.keys: dict = {}      # (address, nbytes, dtype name) -> key
        self.arrays: list = []    # (key, flat numpy array) in key order

    def key_for(self, flat: np.ndarray, dtype) -> str:
        """The key of the storage `flat` (a new one the first time it is seen)."""
        ident = (flat.__array_interface__["data"][0], flat.nbytes, dtype.name)
        key = self.keys.get(ident)
        if key is None:
            key = self.keys[ident] = str(len(self.arrays))
            self.arrays.append((key, flat))  # holding the array keeps the address unique
        return key


class Pickler:
    """Pickles one object tree into protocol-2 bytes; tensors go to `storages`."""

    def __init__(self, storages: StorageTable):
        self.out = bytearray(b"\x80\x02")
        self.memo: dict = {}  # id(obj) or ('global', module, name) -> memo index
        self.keep: list = []  # objects whose id() is a memo key stay alive until the end
        self.storages = storages
        self.parameter_type = _parameter_type()

    def dump(self, obj) -> bytes:
        """The pickle of `obj`, ending in STOP."""
        self.save(obj)
        self.out += _STOP
        return bytes(self.out)

    # ---- memo ----

    def _put(self, key) -> None:
        i = self.memo[key] = len(self.memo)
        self.out += b"q" + bytes((i,)) if i < 256 else b"r" + struct.pack("<I", i)

    def _get(self, key) -> bool:
        i = self.memo.get(key)
        if i is None:
            return False
        self.out += b"h" + bytes((i,)) if i < 256 else b"j" + struct.pack("<I", i)
        return True

    def _memoize(self, obj) -> None:
        self.keep.append(obj)
        self._put(id(obj))

    def global_(self, module: str, name: str) -> None:
        """GLOBAL module.name (memoized, as pickle does)."""
        key = ("global", module, name)
        if not self._get(key):
            self.out += b"c" + module.encode() + b"\n" + name.encode() + b"\n"
            self._put(key)

    # ---- values ----

    def save(self, obj) -> None:
        """Append the opcodes that rebuild `obj`."""
        t = type(obj)
        if obj is None:
            self.out += _NONE
        elif t is bool:
            self.out += _TRUE if obj else _FALSE
        elif t is int:
            self._int(obj)
        elif t is float:
            self.out += b"G" + struct.pack(">d", obj)
        elif t is str:
            data = obj.encode("utf-8", "surrogatepass")
            self.out += b"X" + struct.pack("<I", len(data)) + data
        elif self._get(id(obj)):
            return  # the same container or tensor again: one object after loading, as pickle does
        elif isinstance(obj, lt.Tensor):
            self._tensor(obj)
        elif t is tuple or t is lt.Size:
            self._tuple(obj)
        elif t is list:
            self.out += _EMPTY_LIST
            self._memoize(obj)
            self._items(obj, _APPEND, _APPENDS, lambda x: self.save(x))
        elif t is dict:
            self.out += _EMPTY_DICT
            self._memoize(obj)
            self._dict_items(obj)
        elif t is collections.OrderedDict:
            self.global_("collections", "OrderedDict")
            self.out += _EMPTY_TUPLE + _REDUCE
            self._memoize(obj)
            self._dict_items(obj)
            attrs = getattr(obj, "__dict__", None)
            if attrs:  # a state dict's `_metadata`
                self.save(dict(attrs))
                self.out += _BUILD
        elif t is collections.Counter:
            self._reduce("collections", "Counter", (dict(obj),), obj)
        elif t is bytes:
            self._reduce("_codecs", "encode", (obj.decode("latin1"), "latin1"), obj)
        elif t is bytearray:
            self._reduce("__builtin__", "bytearray", (bytes(obj).decode("latin1"), "latin-1"), obj)
        elif t is set:
            self._reduce("__builtin__", "set", (list(obj),), obj)
        elif t is complex:
            self._reduce("__builtin__", "complex", (obj.real, obj.imag), obj)
        elif t is lt.dtype:
            self.global_("torch", obj.name)
        elif t is lt.device:
            self._reduce("torch", "device", (str(obj),), obj)
        else:
            raise TypeError(
                f"lt.save can't save an object of type {t.__module__}.{t.__qualname__}: only tensors, "
                "dict/OrderedDict/list/tuple/set/Counter containers, and int, float, bool, str, bytes, "
                "complex, None, dtype, device and Size values are written (what torch.load(weights_only="
                "True) accepts); convert numpy arrays with lt.from_numpy and numpy scalars with .item()")

    def _int(self, x: int) -> None:
        if 0 <= x < 256:
            self.out += b"K" + bytes((x,))
        elif 0 <= x < 65536:
            self.out += b"M" + struct.pack("<H", x)
        elif -(1 << 31) <= x < (1 << 31):
            self.out += b"J" + struct.pack("<i", x)
        else:
            data = x.to_bytes((x.bit_length() + 8) // 8, "little", signed=True)
            if len(data) > 255:  # LONG4 is refused by PyTorch's loader
                raise OverflowError(f"lt.save: int with {len(data)} bytes is too large to save (at most 255)")
            self.out += b"\x8a" + bytes((len(data),)) + data

    def _tuple(self, obj) -> None:
        if type(obj) is lt.Size:
            self._reduce("torch", "Size", (tuple(obj),), obj)
            return
        n = len(obj)
        if n == 0:
            self.out += _EMPTY_TUPLE
            return
        if n > 3:
            self.out += _MARK
        for x in obj:
            self.save(x)
        self.out += (_TUPLE1, _TUPLE2, _TUPLE3)[n - 1] if n <= 3 else _TUPLE
        self._memoize(obj)

    def _items(self, items, one: bytes, many: bytes, save_item) -> None:
        items = list(items)
        for start in range(0, len(items), _BATCH):
            batch = items[start:start + _BATCH]
            if len(batch) == 1:
                save_item(batch[0])
                self.out += one
            else:
                self.out += _MARK
                for x in batch:
                    save_item(x)
                self.out += many

    def _dict_items(self, d) -> None:
        def pair(kv):
            self.save(kv[0])
            self.save(kv[1])
        self._items(d.items(), _SETITEM, _SETITEMS, pair)

    def _reduce(self, module: str, name: str, args: tuple, obj) -> None:
        self.global_(module, name)
        self.save(args)
        self.out += _REDUCE
        self._memoize(obj)

    def _tensor(self, t) -> None:
        is_parameter = self.parameter_type is not None and isinstance(t, self.parameter_type)
        if is_parameter:
            self.global_("torch._utils", "_rebuild_parameter")
            self.out += _MARK
        self._tensor_v2(t)
        if is_parameter:
            self.save(bool(t.requires_grad))
            self._empty_ordered_dict()
            self.out += _TUPLE + _REDUCE
        self._memoize(t)

    def _tensor_v2(self, t) -> None:
        dtype = t.dtype
        flat = t.untyped_storage()  # the flat storage of t's base (flushes)
        key = self.storages.key_for(flat, dtype)
        self.global_("torch._utils", "_rebuild_tensor_v2")
        self.out += _MARK
        # persistent id ('storage', class, key, location, numel)
        self.out += _MARK
        self.save("storage")
        self.global_("torch", STORAGE_CLASS[dtype.name])
        self.save(key)
        self.save("cpu")
        self.save(int(flat.size))
        self.out += _TUPLE + _BINPERSID
        self.save(int(t.storage_offset()))
        self.save(tuple(int(d) for d in t.shape))
        self.save(tuple(int(s) for s in t.stride()))
        self.save(bool(t.requires_grad))
        self._empty_ordered_dict()  # backward hooks
        self.out += _TUPLE + _REDUCE

    def _empty_ordered_dict(self) -> None:
        self.global_("collections", "OrderedDict")
        self.out += _EMPTY_TUPLE + _REDUCE


def _parameter_type():
    """`lt.nn.Parameter` where the nn library provides it (saved as torch's Parameter)."""
    nn = sys.modules.get("lazytensor.nn")
    return getattr(nn, "Parameter", None) if nn is not None else None
