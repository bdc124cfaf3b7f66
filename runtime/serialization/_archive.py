"""The containers: PyTorch's zip archive (written and read) and its legacy format (read).

Zip (format notes §2): records under one top-level folder: `data.pkl`, `version`, `byteorder` and
one `data/<key>` per storage, all stored uncompressed with their payloads at 64-byte file offsets
(an `FB` padding extra field, as torch writes), so a reader can map or `readinto` them in place.
"""
from __future__ import annotations

import io
import mmap as mmap_module
import struct
import sys
import zipfile
import zlib
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

import numpy as np

from lazytensor.runtime.serialization._unpickler import (CheckpointError, LoadedStorage, SafeUnpickler,
                                                         StorageType, TrustedUnpickler, UnsafeLoadError,
                                                         UnsupportedCheckpointError, _held_dtype)

ZIP_MAGIC = b"PK\x03\x04"
LEGACY_MAGIC = b"\x80\x02\x8a\x0a"
_ALIGN = 64
_MAX_VERSION = 10  # the newest archive version torch 2.13 reads


# ---- writing ----

# Zip structures (APPNOTE 4.3, 4.5.3), as torch's writer lays them out: every record stored, flag
# bit 3 (the CRC and sizes follow the payload in a data descriptor, the local header holds zeros)
# and bit 11 (UTF-8 names), DOS date and time zero.
_LOCAL = struct.Struct("<4sHHHHHIIIHH")
_CENTRAL = struct.Struct("<4sBBBBHHHHIIIHHHHHII")
_END = struct.Struct("<4sHHHHIIH")
_END64 = struct.Struct("<4sQHHIIQQQQ")
_LOCATOR64 = struct.Struct("<4sIQI")
_FLAGS = 0x0808
_LIMIT = zipfile.ZIP64_LIMIT  # past this, sizes and offsets go to zip64 fields (zipfile's threshold)
_COUNT_LIMIT = zipfile.ZIP_FILECOUNT_LIMIT
_CHUNK = 16 << 20  # bytes per write: big sequential writes, and a steady start of the disk's writeback
_CRC_IN_THREAD = 1 << 20  # records from this size have their CRC computed beside the write


class ArchiveWriter:
    """Writes the records of one archive into a binary file object.

    Written here rather than through `zipfile`, which reads it back: zipfile's writer records
    offsets from the stream's first byte, so an archive saved into a stream at an offset (after a
    header of the user's) is unreadable to torch.load (miniz); it also seeks back to each header.

    A storage's bytes go from its memory to the file with no copy, and their CRC32 (zlib releases
    the GIL) is computed in a second thread while they are written: the CRC goes into the data
    descriptor after the payload, so nothing is written twice and the file is never sought in.
    `on_written(offset, nbytes)` is told of each chunk once it is written (offsets in the file).
    """

    def __init__(self, fileobj, prefix: str = "archive", on_written: Callable[[int, int], None] | None = None):
        self.fileobj = fileobj
        self.prefix = prefix
        self.on_written = on_written
        try:
            self.start = fileobj.tell()  # the archive's offsets count from its first byte
        except (AttributeError, OSError, ValueError):
            self.start = 0
        self.pos = self.start  # where the next byte goes
        self.entries: list[tuple[bytes, int, int, int]] = []  # (name, crc, size, header offset)
        self._crc_thread: ThreadPoolExecutor | None = None

    def _write(self, data) -> None:
        """Write all of `data` (bytes or a byte memoryview)."""
        n = len(data)
        done = self.fileobj.write(data)
        if done is not None and done < n:  # a raw (unbuffered) file may write less
            view = memoryview(data)
            while done < n:
                wrote = self.fileobj.write(view[done:])
                if not wrote:
                    raise OSError(f"lt.save: the file accepted only {done} of {n} bytes")
                done += wrote
        if self.on_written is not None:
            self.on_written(self.pos, n)
        self.pos += n

    def write_record(self, name: str, data) -> None:
        """Store `data` (bytes or a contiguous numpy array) as `<prefix>/<name>`, 64-byte aligned."""
        if isinstance(data, np.ndarray):
            data = memoryview(data.reshape(-1).view(np.uint8)) if data.size else b""
        payload = memoryview(data).cast("B") if len(data) else memoryview(b"")
        size = len(payload)
        crc = None
        if size >= _CRC_IN_THREAD:
            if self._crc_thread is None:
                self._crc_thread = ThreadPoolExecutor(1, thread_name_prefix="lt-save-crc")
            crc = self._crc_thread.submit(zlib.crc32, payload)
        filename = f"{self.prefix}/{name}".encode("utf-8")
        zip64 = size > _LIMIT
        # zip64: the sizes are in the extra field (zeros here too: the descriptor holds them)
        extra64 = struct.pack("<HHQQ", 1, 16, 0, 0) if zip64 else b""
        pad = -(self.pos + _LOCAL.size + len(filename) + len(extra64) + 4) % _ALIGN
        extra = extra64 + b"FB" + struct.pack("<H", pad) + b"Z" * pad
        offset = self.pos - self.start
        sizes = 0xFFFFFFFF if zip64 else 0
        self._write(_LOCAL.pack(b"PK\x03\x04", 45 if zip64 else 20, _FLAGS, zipfile.ZIP_STORED, 0, 0, 0, sizes,
                                sizes, len(filename), len(extra)) + filename + extra)
        try:
            for i in range(0, size, _CHUNK):
                self._write(payload[i:i + _CHUNK])
        finally:
            crc = zlib.crc32(payload) if crc is None else crc.result()  # never left running on an error
        self._write(struct.pack("<4sIQQ" if zip64 else "<4sIII", b"PK\x07\x08", crc, size, size))
        self.entries.append((filename, crc, size, offset))

    def stop(self) -> None:
        """End the CRC thread (after an error, or before the end records)."""
        if self._crc_thread is not None:
            self._crc_thread.shutdown()
            self._crc_thread = None

    def close(self) -> None:
        """Write the central directory and the end records."""
        self.stop()
        directory = bytearray()
        for filename, crc, size, offset in self.entries:
            # the zip64 extra holds the fields too big for the header, in this order
            fields = ([size, size] if size > _LIMIT else []) + ([offset] if offset > _LIMIT else [])
            extra = struct.pack(f"<HH{len(fields)}Q", 1, 8 * len(fields), *fields) if fields else b""
            version = 45 if fields else 20
            small = 0xFFFFFFFF if size > _LIMIT else size
            directory += _CENTRAL.pack(b"PK\x01\x02", version, 0, version, 0, _FLAGS, zipfile.ZIP_STORED, 0, 0,
                                       crc, small, small, len(filename), len(extra), 0, 0, 0, 0,
                                       0xFFFFFFFF if offset > _LIMIT else offset)
            directory += filename + extra
        start = self.pos - self.start
        count = len(self.entries)
        end = bytearray()
        if count >= _COUNT_LIMIT or start > _LIMIT or len(directory) > _LIMIT:
            end += _END64.pack(b"PK\x06\x06", _END64.size - 12, 45, 45, 0, 0, count, count, len(directory), start)
            end += _LOCATOR64.pack(b"PK\x06\x07", 0, start + len(directory), 1)
        end += _END.pack(b"PK\x05\x06", 0, 0, min(count, 0xFFFF), min(count, 0xFFFF),
                         min(len(directory), 0xFFFFFFFF), min(start, 0xFFFFFFFF), 0)
        self._write(bytes(directory + end))


def write_archive(fileobj, data_pkl: bytes, storages, on_written: Callable[[int, int], None] | None = None) -> None:
    """The whole archive: data.pkl, the storages in key order, byteorder and version."""
    writer = ArchiveWriter(fileobj, on_written=on_written)
    try:
        writer.write_record("data.pkl", data_pkl)
        writer.write_record("byteorder", b"little")  # storages are written little-endian on every host
        for key, flat in storages.arrays:
            writer.write_record(f"data/{key}", flat if sys.byteorder == "little" else flat.byteswap())
        writer.write_record("version", b"3\n")
    except BaseException:
        writer.stop()
        raise
    writer.close()


# ---- reading ----

class _Storages:
    """The persistent-id hook: loads each storage once, by key, from the archive."""

    def __init__(self, read, place, legacy: bool = False):
        self.read = read    # key, dtype, numel -> flat numpy array
        self.place = place  # array, location -> array (map_location)
        self.legacy = legacy
        self.by_key: dict = {}

    def __call__(self, pid):
        n = 6 if self.legacy else 5
        if type(pid) is not tuple or len(pid) != n or pid[0] != "storage":
            raise CheckpointError(f"persistent id {pid!r} is not a ('storage', type, key, location, numel) tuple")
        _, storage_type, key, location, numel = pid[:5]
        if not isinstance(storage_type, StorageType):
            raise CheckpointError(f"persistent id names {storage_type!r}, not a storage class")
        if type(key) is not str or type(location) is not str or type(numel) is not int or numel < 0:
            raise CheckpointError(f"persistent id {pid!r} is malformed")
        storage = self.by_key.get(key)
        if storage is not None:
            if storage.dtype_name != storage_type.dtype_name:
                raise CheckpointError(f"storage data/{key} is named with two dtypes")
            return storage
        name = storage_type.dtype_name
        if name is None:
            np_dtype = np.dtype(np.uint8)  # UntypedStorage: numel counts bytes
        else:
            np_dtype = _held_dtype(name, f"storage data/{key} ({storage_type.name})").np_dtype
        array = self.place(self.read(key, np_dtype, numel), location)
        storage = self.by_key[key] = LoadedStorage(key, array, name, location)
        return storage


def _unpickle(data: bytes, storages, weights_only: bool, what: str):
    loader = SafeUnpickler if weights_only else TrustedUnpickler
    try:
        return loader(io.BytesIO(data), storages).load()
    except (UnsafeLoadError, CheckpointError, UnsupportedCheckpointError):
        raise
    except Exception as e:  # a truncated or garbled pickle: EOFError, struct.error, IndexError...
        detail = str(e) or "the pickle stream ends before its STOP opcode"
        raise CheckpointError(f"{what} is corrupt or truncated ({type(e).__name__}: {detail})") from e


def read_zip(fileobj, name: str, use_mmap: bool, place, weights_only: bool):
    """The object saved in the zip archive `fileobj`."""
    try:
        archive = zipfile.ZipFile(fileobj)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as e:
        raise CheckpointError(f"{name} is not a readable zip archive: it is truncated or corrupt ({e})") from e
    infos = archive.infolist()
    if not infos or "/" not in infos[0].filename:
        raise CheckpointError(f"{name}: the records of the archive are not in a top-level folder")
    prefix = infos[0].filename.split("/", 1)[0] + "/"
    records = {i.filename[len(prefix):]: i for i in infos if i.filename.startswith(prefix)}
    if "data.pkl" not in records:
        raise CheckpointError(f"{name} has no {prefix}data.pkl record: not a PyTorch/lazytensor checkpoint")
    version = records.get("version") or records.get(".data/version")
    if version is not None:
        text = archive.read(version).decode("ascii", "replace").strip()
        if not text.isdigit() or not 1 <= int(text) <= _MAX_VERSION:
            raise CheckpointError(f"{name}: archive version {text!r} is not one this reader knows (1 to "
                                  f"{_MAX_VERSION})")
    byteorder = archive.read(records["byteorder"]).decode("ascii", "replace") if "byteorder" in records else "little"
    if byteorder not in ("little", "big"):
        raise CheckpointError(f"{name}: unknown byteorder {byteorder!r}")
    try:
        data_pkl = archive.read(records["data.pkl"])
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        raise CheckpointError(f"{name}: data.pkl can't be read ({e})") from e

    mapped = None
    if use_mmap:
        try:
            mapped = mmap_module.mmap(fileobj.fileno(), 0, access=mmap_module.ACCESS_COPY)
        except (AttributeError, OSError, io.UnsupportedOperation, ValueError) as e:
            raise ValueError(f"lt.load(mmap=True) needs a file path or a real file, not {type(fileobj).__name__} "
                             f"({e})") from e

    def read(key: str, np_dtype: np.dtype, numel: int) -> np.ndarray:
        info = records.get(f"data/{key}")
        if info is None:
            raise CheckpointError(f"{name}: storage key {key!r} is used but the archive has no "
                                  f"{prefix}data/{key} record (the file is corrupt)")
        nbytes = numel * np_dtype.itemsize
        if info.file_size != nbytes:
            raise CheckpointError(f"{name}: record data/{key} holds {info.file_size} bytes but its storage needs "
                                  f"{numel} x {np_dtype.itemsize} = {nbytes}")
        if info.compress_type != zipfile.ZIP_STORED:
            if mapped is not None:
                raise CheckpointError(f"{name}: record data/{key} is compressed and can't be memory-mapped; "
                                      "load with mmap=False")
            array = np.frombuffer(bytearray(archive.read(info)), dtype=np_dtype)
        else:
            offset = _payload_offset(fileobj, info, name)
            if mapped is not None:
                if offset + nbytes > len(mapped):
                    raise CheckpointError(f"{name}: record data/{key} runs past the end of the file")
                array = np.frombuffer(mapped, dtype=np_dtype, count=numel, offset=offset)
            else:
                array = np.empty(numel, dtype=np_dtype)
                fileobj.seek(offset)
                got = _read_into(fileobj, array.view(np.uint8) if numel else array)
                if got != nbytes:
                    raise CheckpointError(f"{name}: record data/{key} is truncated ({got} of {nbytes} bytes)")
        if byteorder != sys.byteorder and np_dtype.itemsize > 1:
            array = array.byteswap()  # a copy, in this machine's order
        return array

    storages = _Storages(read, place)
    return _unpickle(data_pkl, storages, weights_only, f"{name}: data.pkl")


def _payload_offset(fileobj, info: zipfile.ZipInfo, name: str) -> int:
    """Where a stored record's bytes start: after its local header (whose extra may differ from the
    central directory's)."""
    fileobj.seek(info.header_offset)
    header = fileobj.read(30)
    if len(header) != 30 or header[:4] != ZIP_MAGIC:
        raise CheckpointError(f"{name}: the local header of {info.filename} is missing or corrupt")
    name_len, extra_len = struct.unpack("<HH", header[26:30])
    return info.header_offset + 30 + name_len + extra_len


def _read_into(fileobj, array: np.ndarray) -> int:
    view = memoryview(array).cast("B") if array.size else memoryview(b"")
    total = 0
    readinto = getattr(fileobj, "readinto", None)
    while total < len(view):
        if readinto is not None:
            n = readinto(view[total:])
        else:
            chunk = fileobj.read(len(view) - total)
            n = len(chunk)
            view[total:total + n] = chunk
        if not n:
            break
        total += n
    return total


# ---- the legacy (pre-1.6) format: five pickles, then the raw storages (format notes §9) ----

_LEGACY_MAGIC_NUMBER = 0x1950A86A20F9469CFC6C


def read_legacy(fileobj, name: str, place, weights_only: bool):
    """The object saved in torch's legacy format."""
    def header():
        try:
            return SafeUnpickler(fileobj, _no_storages).load()
        except (UnsafeLoadError, CheckpointError):
            raise
        except Exception as e:
            raise CheckpointError(f"{name}: the legacy header is corrupt ({type(e).__name__}: {e})") from e

    if header() != _LEGACY_MAGIC_NUMBER:
        raise CheckpointError(f"{name}: not a PyTorch checkpoint (bad magic number)")
    if header() != 1001:
        raise CheckpointError(f"{name}: unknown legacy protocol version")
    sys_info = header()
    if not isinstance(sys_info, dict) or not sys_info.get("little_endian", True):
        raise CheckpointError(f"{name}: big-endian legacy files are not supported")
    # The storages come after the object: allocate them now, fill them in place afterwards (the
    # tensors share their memory, so they see the bytes once read).
    pending: dict = {}

    def allocate(key: str, np_dtype: np.dtype, numel: int) -> np.ndarray:
        pending[key] = np.empty(numel, dtype=np_dtype)
        return pending[key]

    rest = fileobj.read()
    unpickler_file = io.BytesIO(rest)
    storages = _Storages(allocate, place, legacy=True)
    loader = SafeUnpickler if weights_only else TrustedUnpickler
    try:
        obj = loader(unpickler_file, storages).load()
        keys = SafeUnpickler(unpickler_file, _no_storages).load()
    except (UnsafeLoadError, CheckpointError, UnsupportedCheckpointError):
        raise
    except Exception as e:
        raise CheckpointError(f"{name}: the legacy pickle is corrupt ({type(e).__name__}: {e})") from e
    if not isinstance(keys, list) or set(keys) != set(pending):
        raise CheckpointError(f"{name}: the legacy storage list does not match the pickled storages")
    pos = unpickler_file.tell()
    for key in keys:
        array = pending[key]
        if pos + 8 > len(rest):
            raise CheckpointError(f"{name}: legacy storage {key} is truncated")
        (count,) = struct.unpack("<q", rest[pos:pos + 8])
        nbytes = array.nbytes
        if count != array.size or pos + 8 + nbytes > len(rest):
            raise CheckpointError(f"{name}: legacy storage {key} has {count} elements, expected {array.size}")
        array.view(np.uint8)[:] = np.frombuffer(rest, np.uint8, nbytes, pos + 8) if nbytes else array.view(np.uint8)
        pos += 8 + nbytes
    return obj


def _no_storages(pid):
    raise CheckpointError("a header pickle refers to a storage")

