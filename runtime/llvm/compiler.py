"""The compiler: LLVM IR text -> machine code for this CPU, through llvmlite.

One MCJIT engine holds every compiled kernel. Modules are optimized at O3 for the host CPU's
name and features (so inner loops vectorize with the widest vector unit the machine has) before
they are added to the engine.
"""
from __future__ import annotations

import threading

import llvmlite.binding as llvm

_lock = threading.Lock()
_state: dict = {}


def _target():
    """(target machine, execution engine), made once."""
    if not _state:
        llvm.initialize_native_target()
        llvm.initialize_native_asmprinter()
        target = llvm.Target.from_default_triple()
        tm = target.create_target_machine(cpu=llvm.get_host_cpu_name(),
                                          features=llvm.get_host_cpu_features().flatten(), opt=3)
        engine = llvm.create_mcjit_compiler(llvm.parse_assembly(""), tm)
        _state.update(tm=tm, engine=engine, modules=[])
    return _state["tm"], _state["engine"]


def optimize(ir_text: str):
    """Parse, verify and optimize (O3, host CPU) a module; returns the llvmlite ModuleRef."""
    tm, _ = _target()
    mod = llvm.parse_assembly(ir_text)
    mod.triple = tm.triple
    mod.data_layout = str(tm.target_data)
    mod.verify()
    pto = llvm.PipelineTuningOptions(speed_level=3)
    pto.loop_vectorization = True
    pto.slp_vectorization = True
    pb = llvm.create_pass_builder(tm, pto)
    pb.getModulePassManager().run(mod, pb)
    return mod


def compile_ir(ir_text: str, name: str) -> tuple[int, str]:
    """Machine code for function `name` of `ir_text`: (its address, the optimized IR text)."""
    with _lock:  # the engine is shared; adding modules is not thread-safe
        _, engine = _target()
        mod = optimize(ir_text)
        engine.add_module(mod)
        engine.finalize_object()
        _state["modules"].append(mod)  # the engine owns it; keep the Python handle alive too
        return engine.get_function_address(name), str(mod)


def assembly(ir_text: str) -> str:
    """The host assembly of a module (for LT_DEBUG=5 and for inspecting vectorization)."""
    tm, _ = _target()
    return tm.emit_assembly(optimize(ir_text))
