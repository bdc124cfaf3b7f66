"""Small graph builders shared by the pass tests (imported as a sibling module)."""
from __future__ import annotations

import numpy as np

from lazytensor.compiler import dtypes as dt
from lazytensor.compiler.ir import Buffer
from lazytensor.compiler.ops import Op, make


def leaf(shape, dtype=dt.float32, data=None):
    """A node reading a fresh buffer of `shape` (random data unless given)."""
    if data is None:
        data = np.random.default_rng(0).standard_normal(shape).astype(dtype.np_dtype)
    data = np.asarray(data, dtype=dtype.np_dtype)
    n = make(Op.BUFFER, arg=Buffer(dtype, data.size, data=data.reshape(-1)))
    return n if n.shape == tuple(shape) else make(Op.RESHAPE, (n,), tuple(shape))


def const(value, dtype, shape):
    """A CONST broadcast to `shape`, as tensor.const builds it."""
    c = make(Op.CONST, arg=value, dtype=dtype)
    if shape == ():
        return c
    c = make(Op.RESHAPE, (c,), (1,) * len(shape))
    return c if all(d == 1 for d in shape) else make(Op.EXPAND, (c,), tuple(shape))
