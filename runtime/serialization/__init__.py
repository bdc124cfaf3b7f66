"""`lt.save` / `lt.load`: checkpoints in PyTorch's file format, safe to load by default.

Files `lt.save` writes load in `torch.load(weights_only=True)`, and files `torch.save` writes load
here, with their dtypes, strides, offsets and shared storages (views of one storage stay views of
one storage). `lt.load` rebuilds only tensors and plain containers unless `weights_only=False` is
asked for, so an untrusted file can't run code. Saving to a path is atomic. Safetensors files go
through the optional `safetensors` package (`lt.save_safetensors` / `lt.load_safetensors`).

Built only on the public Tensor API: `untyped_storage()`, `stride()`, `storage_offset()`,
`lt.from_numpy` and `lt.as_strided`. The format is described in shared/docs/torch-file-format.md.
"""
from __future__ import annotations

import ctypes
import io
import os
import secrets
import stat
import sys
from typing import IO, Any, Callable, Union

import numpy as np

import lazytensor as lt
from lazytensor.runtime.serialization._archive import LEGACY_MAGIC, ZIP_MAGIC, read_legacy, read_zip, write_archive
from lazytensor.runtime.serialization._pickler import Pickler, StorageTable
# the errors a load raises, for callers to catch
from lazytensor.runtime.serialization._unpickler import (CheckpointError, UnsafeLoadError,  # noqa: F401
                                                         UnsupportedCheckpointError)

__all__ = ["save", "load", "save_safetensors", "load_safetensors"]

FileLike = Union[str, os.PathLike, IO[bytes]]


def save(obj: Any, f: FileLike, pickle_module: Any = None, pickle_protocol: int = 2,
         _use_new_zipfile_serialization: bool = True) -> None:
    """Save `obj` (tensors in nested dicts, lists, tuples and plain values) in PyTorch's zip format.

    To a path, the file is written beside its destination, flushed to disk (fdatasync) and renamed
    over it at the end, so an error or crash mid-save leaves the previous file as it was.
    """
    if pickle_module is not None:
        raise NotImplementedError("lt.save: pickle_module is not supported (the pickle is written by hand so "
                                  "that torch.load(weights_only=True) accepts it)")
    if pickle_protocol != 2:
        raise NotImplementedError(f"lt.save: pickle_protocol={pickle_protocol}: only protocol 2 is written "
                                  "(the one torch.save uses and torch's weights-only loader reads)")
    if not _use_new_zipfile_serialization:
        raise NotImplementedError("lt.save: the legacy (non-zip) format is read but not written")
    storages = StorageTable()
    data_pkl = Pickler(storages).dump(obj)  # before the file is touched: a refused object writes nothing
    if isinstance(f, (str, os.PathLike)):
        # the archive's size, a little over: the payloads, and per record its headers and directory entry
        size = len(data_pkl) + sum(flat.nbytes for _, flat in storages.arrays) + 256 * (len(storages.arrays) + 4)
        _atomic_write(os.fspath(f), lambda fh, on_written: write_archive(fh, data_pkl, storages, on_written),
                      size_hint=size)
    elif hasattr(f, "write"):
        write_archive(f, data_pkl, storages)
    else:
        raise TypeError(f"lt.save: f must be a path or a binary file object, got {type(f).__name__}")


def _atomic_write(path: str, write: Callable[[IO[bytes], Callable[[int, int], None] | None], None],
                  size_hint: int = 0) -> None:
    """Run `write` on a new file in `path`'s directory, make it durable, then rename it onto `path`.

    The file's blocks are reserved first (`size_hint` bytes, where the file system can): written
    into reserved blocks, the data needs no allocation when it goes to the disk or when the rename
    replaces a file (ext4 allocates a renamed file's delayed blocks at once, for ~100 ms per 256 MB).
    `write(fh, on_written)` calls `on_written(offset, nbytes)` after each chunk it writes: the
    chunk is handed to the disk at once (`sync_file_range`, asynchronous), so the disk works while
    the rest is written and the final `fdatasync` waits only for the last chunks.
    """
    directory, name = os.path.split(os.path.abspath(path))
    tmp = os.path.join(directory, f".{name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as fh:
            reserved = size_hint > 0 and _reserve(fd, size_hint)
            write(fh, _start_writeback(fh))
            fh.flush()
            if reserved:
                os.ftruncate(fd, fh.tell())  # the file ends where the archive does
            # the bytes reach the disk before the name points at them (fdatasync: the data and the
            # size; the timestamps need not be durable)
            getattr(os, "fdatasync", os.fsync)(fh.fileno())
        try:
            os.chmod(tmp, stat.S_IMODE(os.stat(path).st_mode))  # an overwritten file keeps its mode
        except FileNotFoundError:
            pass
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


_SYNC_FILE_RANGE_WRITE = 2  # <linux/fs.h>: start writeback of the range's dirty pages, do not wait


def _libc_function(name: str, argtypes: list):
    """A Linux libc function by name (None elsewhere, or where libc lacks it)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        fn = getattr(ctypes.CDLL(None, use_errno=True), name)
    except (OSError, AttributeError):
        return None
    fn.argtypes = argtypes
    fn.restype = ctypes.c_int
    return fn


# fallocate(2), not posix_fallocate: where the file system cannot reserve blocks, glibc's
# posix_fallocate writes zeros instead, which would cost as much as the save
_libc_fallocate = _libc_function("fallocate", [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64])
_libc_sync_file_range = _libc_function("sync_file_range", [ctypes.c_int, ctypes.c_int64, ctypes.c_int64,
                                                           ctypes.c_uint])


def _reserve(fd: int, nbytes: int) -> bool:
    """Reserve the file's first `nbytes` on the disk (it grows to that size); False where it can't."""
    return _libc_fallocate is not None and _libc_fallocate(fd, 0, 0, nbytes) == 0


def _start_writeback(fh) -> Callable[[int, int], None] | None:
    """A hook starting the disk's writeback of each written range, where the OS has one (Linux)."""
    if _libc_sync_file_range is None:
        return None
    fd = fh.fileno()

    def on_written(offset: int, nbytes: int) -> None:
        if nbytes >= 1 << 20:  # small pieces may still sit in Python's buffer
            fh.flush()
            _libc_sync_file_range(fd, offset, nbytes, _SYNC_FILE_RANGE_WRITE)  # a failure only loses the head start

    return on_written


def load(f: FileLike, map_location: Any = None, pickle_module: Any = None, *, weights_only: bool | None = True,
         mmap: bool | None = None, **pickle_load_args) -> Any:
    """Load an object saved by `lt.save` or `torch.save` (zip or legacy format).

    `weights_only=True` (the default) rebuilds only tensors, Parameters and plain containers and
    raises `pickle.UnpicklingError` naming anything else, without running it; `weights_only=False`
    loads any pickled object and so can run code: use it only for files you trust. `mmap=True` maps
    the storages from the file (copy-on-write) instead of reading them. `map_location` may be
    'cpu', a device, a dict mapping saved locations, or a function (storage, location).
    """
    if pickle_module is not None or pickle_load_args:
        raise NotImplementedError("lt.load: pickle_module and extra pickle arguments are not supported")
    weights_only = True if weights_only is None else weights_only
    place = _placer(map_location)
    if isinstance(f, (str, os.PathLike)):
        name = os.fspath(f)
        with open(name, "rb") as fh:
            return _load_from(fh, name, place, weights_only, bool(mmap))
    if not hasattr(f, "read"):
        raise TypeError(f"lt.load: f must be a path or a binary file object, got {type(f).__name__}")
    name = getattr(f, "name", None) or type(f).__name__
    if not _seekable(f):
        if mmap:
            raise ValueError("lt.load(mmap=True) needs a file path or a seekable file")
        f = io.BytesIO(f.read())
    return _load_from(f, str(name), place, weights_only, bool(mmap))


def _seekable(f) -> bool:
    try:
        return bool(f.seekable())
    except (AttributeError, OSError, ValueError):
        return False


def _load_from(fh, name: str, place, weights_only: bool, use_mmap: bool):
    start = fh.tell()
    magic = fh.read(4)
    fh.seek(start)
    if magic == ZIP_MAGIC:
        return read_zip(fh, name, use_mmap, place, weights_only)
    if magic == LEGACY_MAGIC:
        if use_mmap:
            raise CheckpointError(f"{name} is in PyTorch's legacy format, which can't be memory-mapped: load it "
                                  "with mmap=False")
        return read_legacy(fh, name, place, weights_only)
    if not magic:
        raise CheckpointError(f"{name} is empty: not a checkpoint")
    raise CheckpointError(f"{name} is not a PyTorch or lazytensor checkpoint: it starts with {magic!r}, "
                          "not a zip archive's 'PK\\x03\\x04' (nor the legacy format's pickle)")


def _placer(map_location) -> Callable[[np.ndarray, str], np.ndarray]:
    """map_location as a function placing one storage's array saved at `location`."""
    def check(location: str) -> None:
        try:
            dev = lt.device(location)
        except (RuntimeError, TypeError) as e:
            raise CheckpointError(f"a storage was saved on an unknown device {location!r} ({e})") from None
        if dev.type != "cpu":
            raise RuntimeError(f"Attempting to deserialize object on {location}, but lazytensor has no CUDA "
                               "backend yet. Pass map_location='cpu' to load the storages on the CPU.")

    if map_location is None:
        def place(array, location):
            check(location)
            return array
    elif isinstance(map_location, (str, lt.device)):
        target = str(map_location)

        def place(array, location):
            check(target)
            return array
    elif isinstance(map_location, dict):
        def place(array, location):
            check(str(map_location.get(location, location)))
            return array
    elif callable(map_location):
        def place(array, location):
            out = map_location(array, location)
            if out is None:
                check(location)
                return array
            if isinstance(out, (str, lt.device)):
                check(str(out))
                return array
            if not isinstance(out, np.ndarray) or out.dtype != array.dtype or out.shape != array.shape:
                raise TypeError("lt.load: a map_location function must return None, a device, or the numpy "
                                "storage it was given (or one of its dtype and size)")
            return out
    else:
        raise TypeError(f"lt.load: map_location must be None, a str, a device, a dict or a function, got "
                        f"{type(map_location).__name__}")
    return place


# ---- safetensors (the optional `safetensors` package) ----

def _safetensors():
    try:
        import safetensors
    except ImportError:
        raise ImportError("lt.save_safetensors/lt.load_safetensors need the safetensors package: "
                          "pip install 'lazytensor[serialization]' (or pip install safetensors)") from None
    return safetensors


def save_safetensors(tensors: dict, filename: str | os.PathLike, metadata: dict | None = None) -> None:
    """Save a flat dict of named tensors as a .safetensors file (each tensor's values, contiguous)."""
    st = _safetensors()
    if not isinstance(tensors, dict):
        raise TypeError(f"save_safetensors expects a dict of tensors, got {type(tensors).__name__}")
    arrays, specs = [], {}
    for key, t in tensors.items():
        if not isinstance(key, str) or not isinstance(t, lt.Tensor):
            raise TypeError(f"save_safetensors: entry {key!r} must map a str to a tensor, got {type(t).__name__}")
        a = np.array(t.numpy(force=True), order="C", copy=True)  # ascontiguousarray makes 0-d 1-d
        arrays.append(a)  # alive until the file is written: the spec holds only its address
        specs[key] = st.TensorSpec(dtype=a.dtype.name, shape=a.shape, data_ptr=a.ctypes.data, data_len=a.nbytes)
    path = os.fspath(filename)
    directory, name = os.path.split(os.path.abspath(path))
    tmp = os.path.join(directory, f".{name}.{secrets.token_hex(6)}.tmp")
    try:
        st.serialize_file(specs, tmp, metadata=metadata)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def load_safetensors(filename: str | os.PathLike, device: str = "cpu") -> dict:
    """The tensors of a .safetensors file, by name (memory-mapped by the safetensors package)."""
    st = _safetensors()
    lt.device(device)
    if lt.device(device).type != "cpu":
        raise RuntimeError(f"load_safetensors: device {device!r}: lazytensor has no CUDA backend yet")
    out = {}
    with st.safe_open(os.fspath(filename), framework="np") as fh:
        for key in fh.keys():
            array = fh.get_tensor(key)
            if array.dtype.name not in _SAFETENSORS_HELD:
                raise UnsupportedCheckpointError(
                    f"safetensors entry {key!r} holds {array.dtype.name} values: lazytensor has no such dtype")
            out[key] = lt.from_numpy(np.array(array, copy=True) if not array.flags.writeable else array)
    return out


_SAFETENSORS_HELD = ("bool", "uint8", "int8", "int16", "int32", "int64", "float16", "bfloat16", "float32", "float64")
