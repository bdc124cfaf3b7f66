"""`lt.nn`: modules, parameters, containers, layers and losses (implemented in `lazytensor.runtime.nn`,
on the public Tensor API), `lt.nn.init`, and `lt.nn.functional`."""
from lazytensor.runtime.nn import *  # noqa: F401,F403
from lazytensor.runtime.nn.module import RemovableHandle  # noqa: F401
from lazytensor.nn import functional  # noqa: F401
