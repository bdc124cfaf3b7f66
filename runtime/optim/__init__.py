"""`lt.optim`'s optimizers and schedulers, built on the public Tensor API (user path `lt.optim`)."""
from lazytensor.runtime.optim.optimizer import Optimizer
from lazytensor.runtime.optim.sgd import SGD
from lazytensor.runtime.optim.adam import Adam, AdamW
from lazytensor.runtime.optim.rmsprop import RMSprop
from lazytensor.runtime.optim.adagrad import Adagrad
from lazytensor.runtime.optim import lr_scheduler

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "lr_scheduler"]
