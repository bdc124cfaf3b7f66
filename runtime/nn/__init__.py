"""`lt.nn`'s modules, parameters and init, built on the public Tensor API (the user path is `lt.nn`)."""
from lazytensor.runtime.nn import activation, containers, conv, dropout, linear, loss, normalization, pooling, sparse
from lazytensor.runtime.nn.parameter import Parameter, Buffer
from lazytensor.runtime.nn.module import Module
from lazytensor.runtime.nn.containers import *  # noqa: F401,F403
from lazytensor.runtime.nn.linear import *  # noqa: F401,F403
from lazytensor.runtime.nn.activation import *  # noqa: F401,F403
from lazytensor.runtime.nn.conv import *  # noqa: F401,F403
from lazytensor.runtime.nn.pooling import *  # noqa: F401,F403
from lazytensor.runtime.nn.normalization import *  # noqa: F401,F403
from lazytensor.runtime.nn.dropout import *  # noqa: F401,F403
from lazytensor.runtime.nn.sparse import *  # noqa: F401,F403
from lazytensor.runtime.nn.loss import *  # noqa: F401,F403
from lazytensor.runtime.nn import init  # noqa: F401

__all__ = ["Parameter", "Buffer", "Module", "init"] + [
    name for m in (containers, linear, activation, conv, pooling, normalization, dropout, sparse, loss)
    for name in m.__all__]
