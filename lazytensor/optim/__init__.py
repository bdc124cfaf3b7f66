"""`lt.optim`: optimizers (implemented in `lazytensor.runtime.optim`, on the public Tensor API)."""
from lazytensor.runtime.optim import *  # noqa: F401,F403
from lazytensor.optim import lr_scheduler  # noqa: F401
