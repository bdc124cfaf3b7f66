"""Utilities under PyTorch's `torch.utils` names: `lt.utils.data`."""
from lazytensor.utils import data  # noqa: F401
