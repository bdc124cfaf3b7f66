"""`AdamW` lives beside Adam (it is Adam with decoupled weight decay); this module mirrors torch.optim.adamw."""
from lazytensor.runtime.optim.adam import AdamW

__all__ = ["AdamW"]
