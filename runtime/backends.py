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
_loaded: dict[str, ModuleType] = {}  # every flush asks: an import statement costs microseconds


def current() -> ModuleType:
    """The backend module that LT_BACKEND names; it has `run(nodes) -> arrays`."""
    name = config.values["BACKEND"]
    module = _loaded.get(name)
    if module is None:
        if name not in _BACKENDS:
            raise RuntimeError(f"unknown backend LT_BACKEND={name!r}; available: "
                               f"{', '.join(_BACKENDS)}")
        module = _loaded[name] = _BACKENDS[name]()
    return module
