"""`Parameter`: a tensor that a `Module` registers as one of its parameters when assigned to it."""
from __future__ import annotations

import lazytensor as lt
from lazytensor import Tensor


class Parameter(Tensor):
    """A leaf tensor that requires grad (by default) and is registered by modules that hold it."""

    def __new__(cls, data: Tensor | None = None, requires_grad: bool = True):
        if data is None:
            data = lt.empty(0)
        p = object.__new__(cls)
        # `.data = ` is the public way to point a tensor at another's value (no grad history)
        p.data = data.detach()
        p.requires_grad_(requires_grad)
        return p

    def __init__(self, data: Tensor | None = None, requires_grad: bool = True):
        pass  # everything happens in __new__ (Tensor.__init__ is the legacy constructor)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()

    __str__ = __repr__

    def __reduce_ex__(self, protocol):
        return (_rebuild_parameter, (self.detach(), self.requires_grad))

    def __deepcopy__(self, memo):
        if id(self) in memo:
            return memo[id(self)]
        out = Parameter(self.detach().clone(), self.requires_grad)
        if self.grad is not None:
            out.grad = self.grad.clone()
        memo[id(self)] = out
        return out


def _rebuild_parameter(data: Tensor, requires_grad: bool) -> Parameter:
    """Unpickle a parameter."""
    return Parameter(data, requires_grad)


class Buffer(Tensor):
    """`nn.Buffer`: marks a tensor assigned to a module as a buffer (stored as a plain tensor)."""

    def __new__(cls, data: Tensor | None = None, *, persistent: bool = True):
        b = object.__new__(cls)
        b.data = (data if data is not None else lt.empty(0)).detach()
        b.persistent = persistent
        return b

    def __init__(self, data: Tensor | None = None, *, persistent: bool = True):
        pass
