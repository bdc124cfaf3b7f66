"""`lt.load` on the PyTorch-written fixtures in shared/fixtures/torch_files (described by manifest.json).

Every valid file must load to exactly what the manifest describes (types, dtypes, shapes, strides,
offsets, shared storages, values by hash); the malicious files must be refused without their
payload running; the corrupt ones must raise a clear error.
"""
import collections
import hashlib
import json
import math
import os
import pickle
from pathlib import Path

import numpy as np
import pytest

import lazytensor as lt
from lazytensor.runtime.serialization import CheckpointError, UnsupportedCheckpointError

FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "torch_files"
if not FIXTURES.exists():  # the checkout may sit elsewhere beside shared/
    FIXTURES = Path("/work/shared/fixtures/torch_files")
pytestmark = pytest.mark.skipif(not (FIXTURES / "manifest.json").exists(), reason="fixtures not available")
MANIFEST = json.loads((FIXTURES / "manifest.json").read_text()) if (FIXTURES / "manifest.json").exists() else {"files": {}}
FILES = MANIFEST["files"]
# dtypes lazytensor has no tensors of: the file must be refused with an error naming the dtype
UNREPRESENTABLE = {"dtype_complex64.pt": "complex64", "dtype_uint16.pt": "uint16"}
VALID = sorted(k for k, v in FILES.items() if v["kind"] == "valid" and k not in UNREPRESENTABLE)


def _float(x):
    return {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}.get(x, x) if isinstance(x, str) else x


def _same_float(a, b):
    a, b = _float(a), _float(b)
    if math.isnan(b):
        return math.isnan(a)
    return a == b and math.copysign(1, a) == math.copysign(1, b)


class Checker:
    """Compares a loaded object with a manifest tree; tensors' storage groups are checked at the end."""

    def __init__(self):
        self.groups: dict = {}  # storage group -> id of the flat numpy storage

    def check(self, obj, d, path="$"):
        kind = d["type"]
        if kind in ("torch.Tensor", "torch.nn.Parameter"):
            return self.tensor(obj, d, path)
        if kind == "NoneType":
            assert obj is None, path
        elif kind in ("bool", "int", "str"):
            assert type(obj).__name__ == kind and obj == d["value"], (path, obj)
        elif kind == "float":
            assert type(obj) is float and _same_float(obj, d["value"]), (path, obj)
        elif kind == "complex":
            assert type(obj) is complex and [obj.real, obj.imag] == d["value"], path
        elif kind in ("bytes", "bytearray"):
            assert type(obj).__name__ == kind and bytes(obj).hex() == d["hex"], path
        elif kind == "torch.Size":
            assert type(obj) is lt.Size and list(obj) == d["value"], path
        elif kind == "torch.dtype":
            assert isinstance(obj, lt.dtype) and obj.name == d["value"], path
        elif kind == "torch.device":
            assert isinstance(obj, lt.device) and str(obj) == d["value"], path
        elif kind in ("list", "tuple"):
            assert type(obj).__name__ == kind and len(obj) == len(d["items"]), path
            for i, (x, e) in enumerate(zip(obj, d["items"])):
                self.check(x, e, f"{path}[{i}]")
        elif kind == "set":
            assert type(obj) is set and sorted(obj) == sorted(e["value"] for e in d["items"]), path
        elif kind in ("dict", "collections.OrderedDict", "collections.Counter"):
            expected_type = {"dict": dict, "collections.OrderedDict": collections.OrderedDict,
                             "collections.Counter": collections.Counter}[kind]
            assert type(obj) is expected_type, (path, type(obj))
            assert list(obj.keys()) == [k for k, _ in d["items"]], path
            for k, e in d["items"]:
                self.check(obj[k], e, f"{path}[{k!r}]")
            if "attrs" in d:
                for name, e in d["attrs"].items():
                    self.check(getattr(obj, name), e, f"{path}.{name}")
        else:
            raise AssertionError(f"{path}: unknown manifest type {kind}")

    def tensor(self, t, d, path):
        assert isinstance(t, lt.Tensor), (path, type(t))
        assert t.dtype.name == d["dtype"], path
        assert list(t.shape) == d["shape"], path
        if d["numel"]:
            assert list(t.stride()) == d["stride"], path
        assert t.storage_offset() == d["storage_offset"], path
        assert t.requires_grad == d["requires_grad"], path
        assert t.is_contiguous() == d["is_contiguous"], path
        storage = t.untyped_storage()
        assert storage.nbytes == d["storage_nbytes"], path
        values = np.ascontiguousarray(t.numpy(force=True))
        assert hashlib.sha256(values.tobytes()).hexdigest() == d["sha256"], path
        if "values" in d:
            flat = values.reshape(-1).astype(np.float64 if t.dtype.is_floating_point else object).tolist()
            expected = np.array(d["values"], dtype=object).reshape(-1).tolist() if d["shape"] else [d["values"]]
            for a, b in zip(flat, expected):
                assert _same_float(a, b) if t.dtype.is_floating_point else a == b, (path, a, b)
        if d["type"] == "torch.nn.Parameter":
            param = getattr(lt.nn, "Parameter", None)
            if param is not None:
                assert isinstance(t, param), path
        group = d["storage_group"]
        ident = id(storage)
        assert self.groups.setdefault(group, ident) == ident, f"{path}: should share storage group {group}"
        assert list(self.groups.values()).count(ident) == 1, f"{path}: shares a storage it should not"


@pytest.mark.parametrize("name", VALID)
@pytest.mark.parametrize("use_mmap", [False, True])
def test_valid_fixture_loads_as_described(name, use_mmap):
    entry = FILES[name]
    if use_mmap and entry["container"]["format"] != "zip":
        with pytest.raises(CheckpointError, match="legacy format"):
            lt.load(FIXTURES / name, mmap=True)
        return
    obj = lt.load(str(FIXTURES / name), mmap=use_mmap)
    Checker().check(obj, entry["object"])


@pytest.mark.parametrize("name", VALID)
def test_valid_fixture_loads_from_a_file_object(name):
    with open(FIXTURES / name, "rb") as f:
        obj = lt.load(f)
    Checker().check(obj, FILES[name]["object"])


@pytest.mark.parametrize("name,dtype", sorted(UNREPRESENTABLE.items()))
def test_unrepresentable_dtypes_raise_naming_the_dtype(name, dtype):
    assert FILES[name]["object"]["dtype"] == dtype
    with pytest.raises(UnsupportedCheckpointError, match=f"{dtype} values: lazytensor has no {dtype} dtype"):
        lt.load(FIXTURES / name)


def test_shared_storage_stays_shared_after_loading():
    a, view, ones = lt.load(FIXTURES / "shared_storage_list.pt")
    a[3] = 100.0
    assert view[1].item() == 100.0
    assert ones.tolist() == [1.0, 1.0, 1.0]


def test_legacy_views_share_memory():
    d = lt.load(FIXTURES / "legacy_format.pt")
    assert d["row1"].storage_offset() == 3
    d["weight"][1, 0] = -5.0
    assert d["row1"][0].item() == -5.0


@pytest.mark.parametrize("name", sorted(k for k, v in FILES.items() if v["kind"] == "malicious"))
@pytest.mark.parametrize("use_mmap", [False, True])
def test_malicious_files_are_refused_without_running(name, use_mmap):
    marker = Path(FILES[name]["expected"]["marker_file_must_not_exist"])
    if marker.exists():
        marker.unlink()
    with pytest.raises(pickle.UnpicklingError) as info:
        lt.load(FIXTURES / name, mmap=use_mmap)
    refused = {"malicious_os_system.pt": "os.system", "malicious_nested_exec.pt": "builtins.exec"}[name]
    assert refused in str(info.value)
    assert "weights_only=False" in str(info.value)
    assert not marker.exists()


@pytest.mark.parametrize("name", sorted(k for k, v in FILES.items() if v["kind"] == "corrupted"))
def test_corrupt_files_raise_a_clear_error(name):
    with pytest.raises(CheckpointError) as info:
        lt.load(FIXTURES / name)
    message = str(info.value)
    assert name in message
    expected = {"corrupted_truncated.pt": "not a readable zip archive",
                "corrupted_pickle_truncated.pt": "corrupt or truncated",
                "corrupted_missing_storage.pt": "no corrupted_missing_storage/data/0 record"}[name]
    assert expected in message


def test_fixture_records_are_found_under_any_prefix():
    # torch names the archive folder after the file's stem; the reader must not assume 'archive/'
    entry = FILES["mlp_state_dict.pt"]
    assert entry["container"]["archive_prefix"] == "mlp_state_dict/"
    sd = lt.load(FIXTURES / "mlp_state_dict.pt")
    assert [k for k in sd] == ["0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias"]
    assert sd._metadata[""] == {"version": 1}


def test_mmap_storages_are_file_backed():
    import mmap
    sd = lt.load(FIXTURES / "mlp_state_dict.pt", mmap=True)
    storage = sd["0.weight"].untyped_storage()
    owner = storage
    while isinstance(owner, np.ndarray) and owner.base is not None:
        owner = owner.base
    owner = owner.obj if isinstance(owner, memoryview) else owner
    assert isinstance(owner, mmap.mmap)
    # copy-on-write: writing the tensor changes neither the file nor other loads
    before = (FIXTURES / "mlp_state_dict.pt").read_bytes()
    sd["0.weight"][0, 0] = 123.0
    assert sd["0.weight"][0, 0].item() == 123.0
    assert (FIXTURES / "mlp_state_dict.pt").read_bytes() == before
    assert os.access(FIXTURES / "mlp_state_dict.pt", os.R_OK)
