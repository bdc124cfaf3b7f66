"""Helpers for tests: compare lazytensor results with numpy and, where installed, PyTorch."""
from __future__ import annotations

import numpy as np

import lazytensor as lt
from lazytensor.compiler import dtypes as dt
from lazytensor.compiler.ir import Buffer, Node
from lazytensor.compiler.ops import Op, make

try:  # PyTorch is optional: comparisons against it run only where it is installed
    import torch
except ImportError:  # pragma: no cover - depends on the machine
    torch = None

FLOAT_TOL = {lt.float16: (1e-2, 1e-3), lt.bfloat16: (2e-2, 1e-2), lt.float32: (1e-5, 1e-6),
             lt.float64: (1e-12, 1e-12)}


def to_torch(x):
    """A numpy array, Python value or lazytensor tensor as a torch tensor (same dtype)."""
    if isinstance(x, lt.Tensor):
        x = x.numpy(force=True)
    if isinstance(x, np.ndarray):
        if x.dtype.name == "bfloat16":
            return torch.from_numpy(x.astype(np.float32)).to(torch.bfloat16)
        return torch.from_numpy(np.array(x, order="C", copy=True))  # ascontiguousarray makes 0-d 1-d
    return x


def torch_dtype(d: lt.dtype):
    """The torch dtype of the same name."""
    return getattr(torch, d.name)


def assert_close(actual, expected, dtype=None, rtol=None, atol=None, equal_nan=True):
    """`actual` (a lazytensor tensor) equals `expected` (numpy or torch): same shape, values within
    the dtype's tolerance (integers and bools exactly)."""
    a = actual.numpy(force=True) if isinstance(actual, lt.Tensor) else np.asarray(actual)
    if torch is not None and isinstance(expected, torch.Tensor):
        e = expected.detach()
        e = (e.float() if e.dtype == torch.bfloat16 else e).numpy()
    else:
        e = np.asarray(expected)
    assert a.shape == e.shape, f"shape {a.shape} != expected {e.shape}"
    dtype = dtype or (actual.dtype if isinstance(actual, lt.Tensor) else None)
    if dtype is not None and dtype.is_floating_point:
        r, t = FLOAT_TOL[dtype]
        np.testing.assert_allclose(a.astype(np.float64), e.astype(np.float64), rtol=rtol or r,
                                   atol=atol if atol is not None else t, equal_nan=equal_nan)
    else:
        np.testing.assert_array_equal(a, e)


# What the seed notes print for their model (`print(model)`), and so what PyTorch prints.
SEED_MODEL_REPR = """NeuralNetwork(
  (flatten): Flatten(start_dim=1, end_dim=-1)
  (linear_relu_stack): Sequential(
    (0): Linear(in_features=784, out_features=512, bias=True)
    (1): ReLU()
    (2): Linear(in_features=512, out_features=512, bias=True)
    (3): ReLU()
    (4): Linear(in_features=512, out_features=10, bias=True)
  )
)"""


def leaf(a) -> Node:
    """A graph node reading a private copy of array `a` (a BUFFER, reshaped to `a`'s shape)."""
    a = np.asarray(a)
    n = make(Op.BUFFER, arg=Buffer(dt.dtype_from_numpy(a.dtype), a.size, data=a.reshape(-1).copy()))
    return n if n.shape == a.shape else make(Op.RESHAPE, (n,), a.shape)
