"""Tests for lazytensor.runtime.llvm.compiler: the disk kernel cache (hits, misses, keys,
corrupt entries, concurrent writers, LT_NOCACHE) and the backend's use of LT_CACHE_DIR."""
from __future__ import annotations

import ctypes
import glob
import os
import subprocess
import sys

import numpy as np
import pytest

from lazytensor import config
from lazytensor.compiler.ops import Op, make
from lazytensor.runtime.llvm import backend as llvm_backend
from lazytensor.runtime.llvm import compiler

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from test_llvm_backend import agree, leaf  # noqa: E402

IR = """define i64 @{name}(i64 %a) {{
  %b = mul i64 %a, {k}
  %c = add i64 %b, 1
  ret i64 %c
}}
"""


@pytest.fixture(autouse=True)
def _temporary_kernel_cache(tmp_path_factory):
    config.set(CACHE_DIR=str(tmp_path_factory.mktemp("kernels")))


def call(address: int, x: int) -> int:
    return ctypes.CFUNCTYPE(ctypes.c_int64, ctypes.c_int64)(address)(x)


def entries(cache_dir) -> list[str]:
    return sorted(glob.glob(os.path.join(str(cache_dir), "kernels", "*", "*")))


def test_miss_writes_an_entry_and_the_next_compile_loads_it(tmp_path):
    ir = IR.format(name="cache_f1", k=3)
    addrs, hit = compiler.compile_ir(ir, ["cache_f1"], str(tmp_path))
    assert not hit and call(addrs["cache_f1"], 5) == 16
    assert entries(tmp_path) == [compiler.cache_path(str(tmp_path), compiler.cache_key(ir))]
    addrs, hit = compiler.compile_ir(ir, ["cache_f1"], str(tmp_path))
    assert hit and call(addrs["cache_f1"], 7) == 22
    assert not glob.glob(os.path.join(str(tmp_path), "kernels", "*", ".tmp-*"))


def test_no_cache_dir_writes_nothing(tmp_path):
    addrs, hit = compiler.compile_ir(IR.format(name="cache_f2", k=4), ["cache_f2"], None)
    assert not hit and call(addrs["cache_f2"], 1) == 5
    assert entries(tmp_path) == []


def test_key_covers_ir_flags_and_toolchain(monkeypatch):
    a, b = IR.format(name="f", k=2), IR.format(name="f", k=3)
    assert compiler.cache_key(a) != compiler.cache_key(b)
    assert compiler.cache_key(a) == compiler.cache_key(a)
    before = compiler.cache_key(a)
    monkeypatch.setattr(compiler, "OPT_FLAGS", "O2")
    assert compiler.cache_key(a) != before
    monkeypatch.undo()
    monkeypatch.setattr(compiler.llvmlite, "__version__", "0.0.0")
    assert compiler.cache_key(a) != before


@pytest.mark.parametrize("damage", ["garbage", "truncated", "flipped", "empty"])
def test_corrupt_entry_is_ignored_and_rebuilt(tmp_path, damage):
    ir = IR.format(name=f"cache_bad_{damage}", k=6)
    compiler.compile_ir(ir, [f"cache_bad_{damage}"], str(tmp_path))
    (path,) = entries(tmp_path)
    blob = open(path, "rb").read()
    bad = {"garbage": b"\x7fELF not an object at all" * 10, "truncated": blob[: len(blob) // 2],
           "flipped": blob[:-20] + bytes([blob[-20] ^ 0xFF]) + blob[-19:], "empty": b""}[damage]
    with open(path, "wb") as f:
        f.write(bad)
    addrs, hit = compiler.compile_ir(ir, [f"cache_bad_{damage}"], str(tmp_path))
    assert not hit and call(addrs[f"cache_bad_{damage}"], 2) == 13
    assert open(path, "rb").read() == blob  # rebuilt in place
    assert compiler.compile_ir(ir, [f"cache_bad_{damage}"], str(tmp_path))[1]


def test_unwritable_cache_dir_warns_and_still_compiles(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.warns(RuntimeWarning, match="cannot write the kernel cache"):
        addrs, hit = compiler.compile_ir(IR.format(name="cache_ro", k=9), ["cache_ro"],
                                         str(blocker))
    assert not hit and call(addrs["cache_ro"], 1) == 10


WRITER = """
import sys
from lazytensor.runtime.llvm import compiler
ir = sys.argv[2]
for _ in range(5):
    addrs, hit = compiler.compile_ir(ir, ["cache_race"], sys.argv[1])
import ctypes
assert ctypes.CFUNCTYPE(ctypes.c_int64, ctypes.c_int64)(addrs["cache_race"])(2) == 15
"""


def test_processes_compiling_the_same_kernel_at_once(tmp_path):
    ir = IR.format(name="cache_race", k=7)
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path), ir])
             for _ in range(4)]
    assert all(p.wait(timeout=120) == 0 for p in procs)
    (path,) = entries(tmp_path)
    assert compiler._read_entry(path) is not None
    assert not glob.glob(os.path.join(str(tmp_path), "kernels", "*", ".tmp-*"))


def test_backend_uses_lt_cache_dir_and_lt_nocache(tmp_path):
    x = leaf(np.arange(12, dtype=np.float32).reshape(3, 4))
    c = make(Op.CONST, arg=-1234.25, dtype=x.dtype)  # a kernel no other test compiles
    y = make(Op.ADD, (x, make(Op.EXPAND, (make(Op.RESHAPE, (c,), (1, 1)),), (3, 4))))
    config.set(CACHE_DIR=str(tmp_path / "off"), NOCACHE=True)
    agree(y)
    assert entries(tmp_path / "off") == []
    llvm_backend.clear_kernels()
    config.set(CACHE_DIR=str(tmp_path / "on"), NOCACHE=False)
    agree(y)
    assert len(entries(tmp_path / "on")) == 1
    llvm_backend.clear_kernels()  # a fresh process would load the entry from disk
    prog, hit = llvm_backend.program_for(
        llvm_backend.run_pipeline([y], llvm_backend.PIPELINE).schedule.steps[0].kernel)
    assert not hit and prog.from_disk
