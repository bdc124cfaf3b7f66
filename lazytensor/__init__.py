"""lazytensor: PyTorch's tensor API over a lazy IR graph that is compiled when a value is observed.

`import lazytensor as lt`, then write PyTorch code: ops build graph nodes and nothing runs until
a value is printed, converted or otherwise observed.
"""
from lazytensor.compiler.dtypes import (DType as dtype, bfloat16, bool_ as bool, float16, float32, float64,  # noqa: F401
                                        int8, int16, int32, int64, uint8, promote_types)
from lazytensor.compiler.dtypes import ALIASES as _ALIASES
from lazytensor import config  # noqa: F401
from lazytensor.device import device, cuda  # noqa: F401
from lazytensor.tensor import Tensor, Size, get_default_dtype, set_default_dtype  # noqa: F401
from lazytensor.printing import set_printoptions, get_printoptions, printoptions  # noqa: F401

# Each op module attaches its methods to Tensor when imported; these also export the functions.
from lazytensor.creation import *  # noqa: F401,F403
from lazytensor.elementwise import *  # noqa: F401,F403
from lazytensor.shape import *  # noqa: F401,F403
from lazytensor.reduce import *  # noqa: F401,F403
from lazytensor.combine import *  # noqa: F401,F403
from lazytensor.indexing import *  # noqa: F401,F403
from lazytensor.linalg import *  # noqa: F401,F403
from lazytensor.random import *  # noqa: F401,F403
from lazytensor.conversion import *  # noqa: F401,F403
from lazytensor import utils  # noqa: F401,E402
from lazytensor.runtime.serialization import save, load, save_safetensors, load_safetensors  # noqa: F401
from lazytensor import autograd, nn  # noqa: F401,E402  (autograd wraps the ops above to record grad_fns)
from lazytensor import optim  # noqa: F401,E402
from lazytensor.autograd import *  # noqa: F401,F403
from lazytensor.visualize import viz  # noqa: F401,E402  (lt.viz(tensor_or_fn, path): the graph drawn as HTML)

float, double, half, long, int, short = (_ALIASES[k] for k in ("float", "double", "half", "long", "int", "short"))
cfloat = None  # complex dtypes are not supported
del cfloat


def is_tensor(obj) -> "builtins.bool":
    """True for lazytensor tensors."""
    return isinstance(obj, Tensor)


def numel(input: Tensor) -> "builtins.int":
    """Number of elements."""
    return input.numel()


def result_type(a, b) -> dtype:
    """The dtype PyTorch's promotion gives an op over `a` and `b`."""
    from lazytensor.tensor import promote
    return promote(a, b)


def can_cast(from_: dtype, to: dtype) -> "builtins.bool":
    """True when `from_` converts to `to` without leaving its category (float to int is refused)."""
    from lazytensor.compiler.dtypes import category_rank
    return category_rank(from_) <= category_rank(to)


def is_floating_point(input: Tensor) -> "builtins.bool":
    """True for float dtypes."""
    return input.dtype.is_floating_point


def realize(*tensors: Tensor) -> None:
    """Compute and store these tensors now (one flush for all)."""
    from lazytensor import lazy
    lazy.realize(tensors)


import builtins  # noqa: E402  (for the annotations above: `bool` and `int` are dtypes here)

__version__ = "0.1.0"
