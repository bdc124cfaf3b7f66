"""`lt.device`: where a tensor lives, parsed and printed as PyTorch does."""
from __future__ import annotations

import re

_KNOWN_TYPES = ("cpu", "cuda")


class device:  # noqa: N801 - PyTorch's name
    """A device type and optional index: `device('cpu')`, `device('cuda:0')`, `device('cuda', 1)`."""

    __slots__ = ("type", "index")

    def __init__(self, type: "str | device", index: int | None = None):  # noqa: A002
        if isinstance(type, device):
            self.type, self.index = type.type, type.index
            return
        if isinstance(type, int) and not isinstance(type, bool):
            # PyTorch reads a bare index as an accelerator's, and this build has none
            raise RuntimeError("Cannot access accelerator device when none is available.")
        if not isinstance(type, str):
            raise TypeError(f"device() received an invalid combination of arguments - got ({type!r})")
        m = re.fullmatch(r"([a-z]+)(?::(\d+))?", type)
        if m is None:
            raise RuntimeError(f"Invalid device string: '{type}'")
        if m.group(1) not in _KNOWN_TYPES:
            raise RuntimeError(
                f"Expected one of cpu, cuda device type at start of device string: {type}")
        if m.group(2) is not None and index is not None:
            raise RuntimeError(f"type (string) must not include an index because index was passed explicitly: {type}")
        if index is not None and index < 0:
            raise RuntimeError("Device index must not be negative")
        self.type = m.group(1)
        self.index = int(m.group(2)) if m.group(2) is not None else index

    def __repr__(self) -> str:
        if self.index is None:
            return f"device(type='{self.type}')"
        return f"device(type='{self.type}', index={self.index})"

    def __str__(self) -> str:
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __eq__(self, other) -> bool:
        # as in PyTorch, a device never equals a string: device('cpu') == 'cpu' is False
        if not isinstance(other, device):
            return NotImplemented
        return (self.type, self.index) == (other.type, other.index)

    def __hash__(self) -> int:
        return hash((self.type, self.index))


CPU = device("cpu")


def resolve(dev) -> device:
    """The device a user's `device=` argument names, refusing what has no backend yet."""
    if dev is None:
        return CPU
    d = dev if isinstance(dev, device) else device(dev) if isinstance(dev, str) else None
    if d is None:
        if isinstance(dev, int):
            d = device("cuda", dev)
        else:
            raise TypeError(f"expected a device, got {type(dev).__name__}")
    if d.type == "cuda":
        raise RuntimeError(
            "lazytensor has no CUDA backend yet: device 'cuda' is refused "
            "(lt.cuda.is_available() is False); use device='cpu'")
    if d.index not in (None, 0):
        raise RuntimeError(f"device {d} does not exist: there is one cpu device")
    return CPU


class _Cuda:
    """`lt.cuda`: what PyTorch code asks of CUDA before using it."""

    @staticmethod
    def is_available() -> bool:
        """False until the CUDA backend lands."""
        return False

    @staticmethod
    def device_count() -> int:
        """0: no CUDA devices are usable."""
        return 0


cuda = _Cuda()
