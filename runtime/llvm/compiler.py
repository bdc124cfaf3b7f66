"""The compiler: LLVM IR text -> machine code for this CPU, through llvmlite.

One MCJIT engine holds every compiled kernel. Modules are optimized at O3 for the host CPU's
name and features (so inner loops vectorize with the widest vector unit the machine has), turned
into an object file and loaded into the engine. A small kernel (`fast=True`: the renderer decides,
from the elements it visits) skips the IR optimizer and is generated at O0: 10-20x quicker to
compile, and its run time (microseconds) is less than what the optimizer would cost.

The disk cache keeps those object files (loading one costs ~0.1 ms; optimizing and generating
code costs tens of ms). An entry's name hashes the IR text, the CPU name and features, the
optimisation flags and the llvmlite/LLVM versions; its content is a header with the payload's
SHA-256, so a torn or corrupt file is detected (and rebuilt) instead of being loaded. Writes go
to a temporary file renamed into place, so processes compiling the same kernel at once are safe.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
import threading
import warnings

import llvmlite
import llvmlite.binding as llvm

_lock = threading.Lock()
_state: dict = {}

OPT_FLAGS = "O3,loop-vectorize,slp-vectorize"
FAST_FLAGS = "O0"  # small kernels: no IR passes, fast instruction selection and register allocation
_MAGIC = b"LTOBJ1\n"
_warned_write = False


def _after_fork_in_child() -> None:
    global _lock
    _lock = threading.Lock()  # a fork while another thread compiled leaves the lock held


os.register_at_fork(after_in_child=_after_fork_in_child)


def _target(fast: bool = False):
    """(target machine, execution engine), made once; `fast`: the O0 target machine."""
    if not _state:
        llvm.initialize_native_target()
        llvm.initialize_native_asmprinter()
        target = llvm.Target.from_default_triple()
        cpu, features = llvm.get_host_cpu_name(), llvm.get_host_cpu_features().flatten()
        tm = target.create_target_machine(cpu=cpu, features=features, opt=3)
        tm_fast = target.create_target_machine(cpu=cpu, features=features, opt=0)
        engine = llvm.create_mcjit_compiler(llvm.parse_assembly(""), tm)
        # what the cache key says of this machine (the features string is long and costly to
        # build: once, not per kernel)
        host = "\0".join([cpu, features, tm.triple])
        _state.update(tm=tm, tm_fast=tm_fast, engine=engine, modules=[], host=host,
                      data_layout=str(tm.target_data))
    return _state["tm_fast" if fast else "tm"], _state["engine"]


def optimize(ir_text: str, fast: bool = False):
    """Parse, verify and optimize (O3, host CPU; `fast`: no IR passes) a module; returns the
    llvmlite ModuleRef."""
    tm, _ = _target(fast)
    mod = llvm.parse_assembly(ir_text)
    mod.triple = tm.triple
    mod.data_layout = _state["data_layout"]  # the same for both target machines
    mod.verify()
    if fast:
        return mod
    pto = llvm.PipelineTuningOptions(speed_level=3)
    pto.loop_vectorization = True
    pto.slp_vectorization = True
    pb = llvm.create_pass_builder(tm, pto)
    pb.getModulePassManager().run(mod, pb)
    return mod


def cache_key(ir_text: str, fast: bool = False) -> str:
    """The disk cache's name for `ir_text` compiled here: IR, CPU, flags and toolchain."""
    _target()
    parts = [ir_text, _state["host"], FAST_FLAGS if fast else OPT_FLAGS, llvmlite.__version__,
             ".".join(map(str, llvm.llvm_version_info))]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def cache_path(cache_dir: str, key: str) -> str:
    """Where the object file of cache key `key` lives under `cache_dir`."""
    return os.path.join(cache_dir, "kernels", key[:2], key[2:] + ".o")


def _read_entry(path: str) -> bytes | None:
    """The object code stored at `path`, or None when missing, torn or corrupt."""
    try:
        with open(path, "rb") as f:
            blob = f.read()
    except OSError:
        return None
    head = len(_MAGIC) + 64
    if len(blob) <= head or not blob.startswith(_MAGIC):
        return None
    payload = blob[head:]
    if hashlib.sha256(payload).hexdigest().encode() != blob[len(_MAGIC):head]:
        return None
    return payload


def _write_entry(path: str, payload: bytes) -> None:
    """Store `payload` at `path` atomically (temporary file in the same folder, then rename)."""
    global _warned_write
    try:
        folder = os.path.dirname(path)
        try:  # the folder exists but for the first kernel in it: no makedirs per kernel
            fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".o")
        except FileNotFoundError:
            os.makedirs(folder, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".o")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(_MAGIC + hashlib.sha256(payload).hexdigest().encode() + payload)
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError as e:  # a read-only or full disk costs compile time, never correctness
        if not _warned_write:
            _warned_write = True
            warnings.warn(f"lazytensor: cannot write the kernel cache ({e}); set LT_NOCACHE=1 "
                          f"or LT_CACHE_DIR to a writable folder", RuntimeWarning, stacklevel=3)


def compile_ir(ir_text: str, names: list[str], cache_dir: str | None = None,
               fast: bool = False) -> tuple[dict, bool]:
    """Machine code for the functions `names` of `ir_text`: (name -> address, whether it came
    from the disk cache under `cache_dir`; None: no disk cache). `fast`: compile at O0."""
    with _lock:  # the engine is shared; adding code is not thread-safe
        tm, engine = _target(fast)
        path = cache_path(cache_dir, cache_key(ir_text, fast)) if cache_dir else None
        obj = _read_entry(path) if path else None
        hit = obj is not None
        if obj is None:
            obj = tm.emit_object(optimize(ir_text, fast))
            if path:
                _write_entry(path, obj)
        ref = llvm.ObjectFileRef.from_data(obj)
        engine.add_object_file(ref)
        engine.finalize_object()
        _state["modules"].append(ref)  # keep the object's handle alive beside the engine
        return {n: engine.get_function_address(n) for n in names}, hit


def assembly(ir_text: str, fast: bool = False) -> str:
    """The host assembly of a module (for LT_DEBUG=5 and for inspecting vectorization)."""
    tm, _ = _target(fast)
    return tm.emit_assembly(optimize(ir_text, fast))
