"""The backend registry: which backend runs a flushed graph (`LT_BACKEND`)."""
from __future__ import annotations

from types import ModuleType

from lazytensor import config


def _numpy() -> ModuleType:
    from lazytensor.runtime import numpy_backend
    return numpy_backend


def _llvm() -> ModuleType:
    from lazytensor.runtime.llvm import backend
    return backend


_BACKENDS = {"numpy": _numpy, "llvm": _llvm}


def current() -> ModuleType:
    """The backend module that LT_BACKEND names; it has `run(nodes) -> arrays`."""
    name = config.get("BACKEND")
    if name not in _BACKENDS:
        raise RuntimeError(f"unknown backend LT_BACKEND={name!r}; available: {', '.join(_BACKENDS)}")
    return _BACKENDS[name]()
