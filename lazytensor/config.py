"""The one registry of debugging and tuning knobs: environment variables, also settable in code.

`lt.config.set(EAGER=True)` or `LT_EAGER=1` in the environment; `lt.config.get("EAGER")`.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Knob:
    """One knob: its name (without the LT_ prefix), type, default and meaning."""
    name: str
    type: type
    default: Any
    doc: str


KNOBS = {k.name: k for k in (
    Knob("DEBUG", int, 0, "0..5: kernel timings, schedule, IR, LLVM IR / CUDA C, assembly"),
    Knob("LOG", str, "", "comma-separated log topics, e.g. 'fusion'"),
    Knob("EAGER", bool, False, "flush after every op (bisects a lazy-only bug)"),
    Knob("BACKEND", str, "llvm", "the backend that runs flushed graphs: llvm, or numpy (the "
         "reference interpreter, the tests' oracle)"),
    Knob("FAST_COMPILE", int, 4096, "llvm: a kernel visiting fewer elements compiles at O0 "
         "(~20x quicker to build, runs in microseconds); 0: every kernel at O3"),
    Knob("CACHE_DIR", str, os.path.join(os.path.expanduser("~"), ".cache", "lazytensor"),
         "where compiled kernels are cached"),
    Knob("NOCACHE", bool, False, "don't read or write the kernel cache"),
    Knob("CHECK", bool, False, "run the IR verifier between passes"),
    Knob("PRINT_AFTER", str, "", "dump the IR after this pass ('all' for every pass)"),
    Knob("MAX_PENDING", int, 20000, "flush by itself once this many ops are pending"),
    Knob("VIZ", str, "", "record every flush into this JSON trace file (open it with lt-viz)"),
)}

# Every knob's current value, read once from the environment: hot paths read this dict directly.
values: dict[str, Any] = {}


def _parse(knob: Knob, text: str) -> Any:
    if knob.type is bool:
        return text.strip().lower() not in ("", "0", "false", "no", "off")
    return knob.type(text)


def get(name: str) -> Any:
    """The knob's value: set in code, else from LT_<name>, else its default."""
    return values[name]


def set(**changes: Any) -> None:  # noqa: A001 - the natural name for a settings API
    """Set knobs in code: `set(EAGER=True, MAX_PENDING=1000)`."""
    for name, value in changes.items():
        if name not in KNOBS:
            raise KeyError(f"unknown knob {name!r}; knobs: {', '.join(KNOBS)}")
        values[name] = KNOBS[name].type(value)


def reset() -> None:
    """Forget values set in code and re-read the environment."""
    for knob in KNOBS.values():
        env = os.environ.get("LT_" + knob.name)
        values[knob.name] = knob.default if env is None else _parse(knob, env)


reset()
