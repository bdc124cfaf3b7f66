"""`Dropout`: zero elements with probability p while training, scaling the rest by 1/(1-p)."""
from __future__ import annotations

import lazytensor as lt
from lazytensor import Tensor
from lazytensor.runtime.nn.module import Module

__all__ = ["Dropout"]


class Dropout(Module):
    """Randomly zero elements with probability p in training mode; identity in eval mode."""

    def __init__(self, p: float = 0.5, inplace: bool = False) -> None:
        super().__init__()
        if p < 0 or p > 1:
            raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
        self.p, self.inplace = p, inplace

    def forward(self, input: Tensor) -> Tensor:
        """dropout(x, p, training)."""
        return lt.nn.functional.dropout(input, self.p, self.training, self.inplace)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"
