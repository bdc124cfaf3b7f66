"""`lt.nn`: for now only `lt.nn.functional` (modules, parameters and init come with the nn issue)."""
from lazytensor.nn import functional  # noqa: F401
