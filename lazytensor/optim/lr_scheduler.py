"""`lt.optim.lr_scheduler`: learning-rate schedules (implemented in `lazytensor.runtime.optim`)."""
from lazytensor.runtime.optim.lr_scheduler import *  # noqa: F401,F403
from lazytensor.runtime.optim.lr_scheduler import __all__  # noqa: F401
