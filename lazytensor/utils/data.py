"""`lt.utils.data`: PyTorch's `torch.utils.data` API, implemented in `lazytensor.runtime.data`."""
from lazytensor.runtime.data import *  # noqa: F401,F403
from lazytensor.runtime.data import __all__  # noqa: F401
from lazytensor.runtime.data import collate, default_collate_fn_map  # noqa: F401
