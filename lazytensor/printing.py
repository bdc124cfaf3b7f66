"""Tensor printing that reproduces PyTorch's ``repr(tensor)`` character for character.

This is a port of ``torch/_tensor_str.py`` (PyTorch 2.13) onto numpy.  It covers
dense, real-valued tensors: ``_Formatter`` (int mode, scientific mode, column
width), summarisation with ``edgeitems``, wrapping at ``linewidth``, and the
suffixes (``size=``, ``dtype=``, ``device=``, ``grad_fn=``, ``requires_grad=``).
Complex, sparse, quantized, named and nested tensors are out of scope.

Why the numbers come out identical to torch: torch formats every element with
Python's own ``format()`` on the Python scalar that ``.item()``/``.tolist()``
returns, i.e. on the exact double value of the element.  Converting
float16/bfloat16/float32 to float64 is exact, so we convert once and then use
the same Python format strings torch uses.  The sci-mode decision is also made
in float64 in torch (``tensor_totype`` casts to double on CPU), so it matches.

The module keeps its own print options (``set_printoptions`` etc.); it does not
import torch.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
from typing import Any

import numpy as np

__all__ = ["set_printoptions", "get_printoptions", "printoptions", "tensor_repr"]


# --------------------------------------------------------------------------- #
# Print options
# --------------------------------------------------------------------------- #


@dataclasses.dataclass
class _PrinterOptions:
    """Mutable global print options; field names/defaults mirror torch's."""

    precision: int = 4
    threshold: float = 1000
    edgeitems: int = 3
    linewidth: int = 80
    sci_mode: bool | None = None


PRINT_OPTS = _PrinterOptions()


def set_printoptions(
    precision: int | None = None,
    threshold: float | None = None,
    edgeitems: int | None = None,
    linewidth: int | None = None,
    profile: str | None = None,
    sci_mode: bool | None = None,
) -> None:
    """Set print options with the same semantics as ``torch.set_printoptions``."""
    # A profile resets the four numeric options first; explicit arguments then
    # override it.  Unknown profile names are silently ignored, like torch.
    if profile is not None:
        if profile == "default":
            PRINT_OPTS.precision = 4
            PRINT_OPTS.threshold = 1000
            PRINT_OPTS.edgeitems = 3
            PRINT_OPTS.linewidth = 80
        elif profile == "short":
            PRINT_OPTS.precision = 2
            PRINT_OPTS.threshold = 1000
            PRINT_OPTS.edgeitems = 2
            PRINT_OPTS.linewidth = 80
        elif profile == "full":
            PRINT_OPTS.precision = 4
            PRINT_OPTS.threshold = math.inf
            PRINT_OPTS.edgeitems = 3
            PRINT_OPTS.linewidth = 80

    if precision is not None:
        PRINT_OPTS.precision = precision
    if threshold is not None:
        PRINT_OPTS.threshold = threshold
    if edgeitems is not None:
        PRINT_OPTS.edgeitems = edgeitems
    if linewidth is not None:
        PRINT_OPTS.linewidth = linewidth
    # Unlike the others, sci_mode is always assigned: omitting it resets it to
    # None (automatic).  This is torch's behaviour and is kept on purpose.
    PRINT_OPTS.sci_mode = sci_mode


def get_printoptions() -> dict[str, Any]:
    """Return the current options as a dict usable as ``set_printoptions(**d)``."""
    return dataclasses.asdict(PRINT_OPTS)


class printoptions(contextlib.ContextDecorator):
    """Context manager (and decorator) that temporarily changes print options."""

    def __init__(self, **kwargs: Any) -> None:
        """Remember the options to apply on entry (same keywords as set_printoptions)."""
        self._kwargs = kwargs
        self._saved: list[dict[str, Any]] = []

    def __enter__(self) -> printoptions:
        """Save the current options and apply the requested ones."""
        self._saved.append(get_printoptions())
        set_printoptions(**self._kwargs)
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Restore the options saved on entry."""
        set_printoptions(**self._saved.pop())


# --------------------------------------------------------------------------- #
# Dtypes
# --------------------------------------------------------------------------- #

_FLOAT_DTYPES = ("float16", "bfloat16", "float32", "float64")
_DTYPE_NAMES = ("bool", "uint8", "int8", "int16", "int32", "int64") + _FLOAT_DTYPES


def _numpy_dtype(dtype_name: str) -> np.dtype:
    """The numpy dtype that stores elements of the named tensor dtype."""
    if dtype_name == "bfloat16":
        import ml_dtypes  # only needed for bfloat16, so imported lazily

        return np.dtype(ml_dtypes.bfloat16)
    return np.dtype(dtype_name)


def _printable_values(values: Any, dtype_name: str) -> np.ndarray:
    """Values as the tensor holds them, widened to float64 for floating dtypes."""
    if dtype_name not in _DTYPE_NAMES:
        raise ValueError(f"unsupported dtype name {dtype_name!r}")
    arr = np.asarray(values)
    # Round to the tensor's dtype first, so e.g. float64 data labelled
    # "bfloat16" prints what a bfloat16 tensor would actually contain.
    target = _numpy_dtype(dtype_name)
    if arr.dtype != target:
        with np.errstate(all="ignore"):
            arr = arr.astype(target)
    # torch formats half/bfloat16/float via Python floats (exact doubles).
    if dtype_name in _FLOAT_DTYPES:
        arr = arr.astype(np.float64)
    return arr


# --------------------------------------------------------------------------- #
# Element formatter (port of torch._tensor_str._Formatter)
# --------------------------------------------------------------------------- #


class _Formatter:
    """Chooses int/sci mode and a common column width from a set of values."""

    def __init__(self, values: np.ndarray, floating_dtype: bool) -> None:
        """Inspect ``values`` (already summarised) the way torch's _Formatter does."""
        self.floating_dtype = floating_dtype
        self.int_mode = True
        self.sci_mode = False
        self.max_width = 1

        flat = values.reshape(-1)
        if not floating_dtype:
            # Width of the widest printed integer / bool ("True", "False").
            # Only distinct values matter for a maximum, so dedupe first.
            for value in np.unique(flat).tolist():
                self.max_width = max(self.max_width, len(f"{value}"))
            return

        nonzero_finite = flat[np.isfinite(flat) & (flat != 0)]
        if nonzero_finite.size == 0:
            # Only zeros / nan / inf: keep int mode, no sci mode, width 1.
            return

        abs_vals = np.abs(nonzero_finite)
        finite_min = float(abs_vals.min())
        finite_max = float(abs_vals.max())

        # int mode: every nonzero finite value is integral.
        self.int_mode = bool(np.all(nonzero_finite == np.ceil(nonzero_finite)))

        if PRINT_OPTS.sci_mode is None:
            self.sci_mode = (
                finite_max / finite_min > 1000.0
                or finite_max > 1.0e8
                or finite_min < 1.0e-4
            )
        else:
            self.sci_mode = PRINT_OPTS.sci_mode

        self.max_width = max(
            [self.max_width]
            + [self._measure(v) for v in np.unique(nonzero_finite).tolist()]
        )

    def _measure(self, value: float) -> int:
        """Printed width of one nonzero finite value, as torch measures it."""
        precision = PRINT_OPTS.precision
        if self.sci_mode:
            return len(f"{value:.{precision}e}")
        if self.int_mode:
            # The "+ 1" accounts for the trailing "." appended to int-mode floats.
            return len(f"{value:.0f}") + 1
        return len(f"{value:.{precision}f}")

    def width(self) -> int:
        """Column width every element is right-aligned to."""
        return self.max_width

    def format(self, value: Any) -> str:
        """Format one Python scalar (float, int or bool), right-aligned."""
        if self.floating_dtype:
            precision = PRINT_OPTS.precision
            if self.sci_mode:
                ret = f"{value:{self.max_width}.{precision}e}"
            elif self.int_mode:
                ret = f"{value:.0f}"
                # The "." marks the tensor as floating; nan/inf don't get one.
                if not (math.isinf(value) or math.isnan(value)):
                    ret += "."
            else:
                ret = f"{value:.{precision}f}"
        else:
            ret = f"{value}"
        # nan/inf may be wider than max_width (it only measures finite values);
        # a negative pad count simply yields no padding.
        return (self.max_width - len(ret)) * " " + ret


# --------------------------------------------------------------------------- #
# Body layout (port of _vector_str / _tensor_str_with_formatter / _tensor_str)
# --------------------------------------------------------------------------- #


def _vector_str(values: np.ndarray, indent: int, summarize: bool, formatter: _Formatter) -> str:
    """Format a 1-d array, wrapping lines to fit ``linewidth``."""
    # Each element takes its width plus ", ".
    element_length = formatter.width() + 2
    elements_per_line = max(
        1, math.floor((PRINT_OPTS.linewidth - indent) / element_length)
    )
    edgeitems = PRINT_OPTS.edgeitems

    if summarize and not edgeitems:
        data = ["..."]
    elif summarize and values.shape[0] > 2 * edgeitems:
        data = (
            [formatter.format(v) for v in values[:edgeitems].tolist()]
            + [" ..."]
            + [formatter.format(v) for v in values[-edgeitems:].tolist()]
        )
    else:
        data = [formatter.format(v) for v in values.tolist()]

    lines = [
        ", ".join(data[i : i + elements_per_line])
        for i in range(0, len(data), elements_per_line)
    ]
    return "[" + ("," + "\n" + " " * (indent + 1)).join(lines) + "]"


def _tensor_str_with_formatter(
    values: np.ndarray, indent: int, summarize: bool, formatter: _Formatter
) -> str:
    """Recursively format an n-d array; each level nests one bracket deeper."""
    dim = values.ndim
    if dim == 0:
        return formatter.format(values.item())
    if dim == 1:
        return _vector_str(values, indent, summarize, formatter)

    edgeitems = PRINT_OPTS.edgeitems
    size = values.shape[0]
    if summarize and size > 2 * edgeitems:
        rows = list(range(edgeitems)) + [None] + list(range(size - edgeitems, size))
    else:
        rows = list(range(size))
    slices = [
        "..." if i is None
        else _tensor_str_with_formatter(values[i], indent + 1, summarize, formatter)
        for i in rows
    ]
    # Sub-blocks are separated by (dim - 1) newlines: blank lines between
    # matrices of a 3-d tensor, etc.
    return "[" + ("," + "\n" * (dim - 1) + " " * (indent + 1)).join(slices) + "]"


def _summarized_data(values: np.ndarray) -> np.ndarray:
    """The elements that will actually be shown, flattened (for the formatter)."""
    # Port of get_summarized_data.  Only the set of values matters to the
    # formatter, so we return a flat array instead of torch's stacked tensor.
    dim = values.ndim
    edgeitems = PRINT_OPTS.edgeitems
    if dim == 0:
        return values.reshape(-1)
    if not edgeitems:
        # The body is then just "...", so the formatter's choices are never
        # seen.  (torch measures the whole vector here for 1-d, because
        # values[-0:] is everything; skipping that gives the same text.)
        return values.reshape(-1)[:0]
    if dim == 1:
        if values.shape[0] > 2 * edgeitems:
            return np.concatenate((values[:edgeitems], values[-edgeitems:]))
        return values
    size = values.shape[0]
    if size > 2 * edgeitems:
        rows = list(range(edgeitems)) + list(range(size - edgeitems, size))
    else:
        rows = list(range(size))
    return np.concatenate([_summarized_data(values[i]).reshape(-1) for i in rows])


def _tensor_str(values: np.ndarray, indent: int, floating_dtype: bool) -> str:
    """Format the bracketed body of a tensor (without prefix or suffixes)."""
    if values.size == 0:
        return "[]"
    summarize = values.size > PRINT_OPTS.threshold
    formatter = _Formatter(
        _summarized_data(values) if summarize else values, floating_dtype
    )
    return _tensor_str_with_formatter(values, indent, summarize, formatter)


# --------------------------------------------------------------------------- #
# Suffixes and the full repr (port of _add_suffixes / _str_intern)
# --------------------------------------------------------------------------- #


def _add_suffixes(tensor_str: str, suffixes: list[str], indent: int) -> str:
    """Append ``, suffix`` items, moving one to a new line when it would overflow."""
    parts = [tensor_str]
    # torch's formula (including its "+ 1", which over-counts by two when the
    # string has no newline because rfind returns -1) is kept verbatim.
    last_line_len = len(tensor_str) - tensor_str.rfind("\n") + 1
    for suffix in suffixes:
        if last_line_len + len(suffix) + 2 > PRINT_OPTS.linewidth:
            parts.append(",\n" + " " * indent + suffix)
            last_line_len = indent + len(suffix)
        else:
            parts.append(", " + suffix)
            last_line_len += len(suffix) + 2
    parts.append(")")
    return "".join(parts)


def tensor_repr(
    values: Any,
    dtype_name: str,
    *,
    default_float: str = "float32",
    device: str = "cpu",
    requires_grad: bool = False,
    grad_fn: str | None = None,
) -> str:
    """The text torch prints for a tensor with these values."""
    arr = _printable_values(values, dtype_name)
    floating = dtype_name in _FLOAT_DTYPES
    prefix = "tensor("
    indent = len(prefix)
    suffixes: list[str] = []

    # Torch prints the device whenever its type differs from the default (cpu).
    if device.split(":", 1)[0] != "cpu":
        suffixes.append(f"device='{device}'")

    dtype_str = f"dtype=torch.{dtype_name}"
    if arr.size == 0:
        # Empty tensors show their shape unless it is (0,) (like numpy), and
        # show any non-default-float dtype, int64/bool included, since no
        # element reveals it.
        if arr.ndim != 1:
            suffixes.append(f"size={tuple(arr.shape)}")
        if dtype_name != default_float:
            suffixes.append(dtype_str)
        tensor_str = "[]"
    else:
        # With edgeitems=0 the body is just "...", so the shape is printed.
        if not PRINT_OPTS.edgeitems:
            suffixes.append(f"size={tuple(arr.shape)}")
        if dtype_name not in (default_float, "int64", "bool"):
            suffixes.append(dtype_str)
        tensor_str = _tensor_str(arr, indent, floating)

    if grad_fn is not None:
        suffixes.append(f"grad_fn=<{grad_fn}>")
    elif requires_grad:
        suffixes.append("requires_grad=True")

    return _add_suffixes(prefix + tensor_str, suffixes, indent)
