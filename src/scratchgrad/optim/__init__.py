"""Optimizers and learning-rate schedulers, a subset of ``torch.optim``.

Each optimizer updates ``p.array`` in place from ``p.grad`` with the same arithmetic
as PyTorch's, keeping the parameters' dtype (float32 stays float32), and saves its
state in PyTorch's state-dict layout.
"""
from . import lr_scheduler
from .adadelta import Adadelta
from .adagrad import Adagrad
from .adam import Adam, AdamW
from .adamax import Adamax
from .asgd import ASGD
from .nadam import NAdam
from .optimizer import Optimizer
from .radam import RAdam
from .rmsprop import RMSprop
from .sgd import SGD

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "Adadelta", "Adagrad", "Adamax", "ASGD", "NAdam", "RAdam", "RMSprop", "lr_scheduler"]
