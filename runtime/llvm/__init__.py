"""The LLVM CPU backend: renderer (Kernel -> LLVM IR), compiler (llvmlite, O3, host CPU),
program (a ctypes function) and allocator; `backend.run` is the entry point (LT_BACKEND=llvm)."""
from .backend import run  # noqa: F401
