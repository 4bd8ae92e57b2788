"""Optimizers and learning-rate schedulers, a subset of ``torch.optim``.

Each optimizer updates ``p.data`` in place from ``p.grad`` with the same arithmetic
as PyTorch's, keeping the parameters' dtype (float32 stays float32), and saves its
state in PyTorch's state-dict layout.
"""
from . import lr_scheduler
from .adam import Adam, AdamW
from .optimizer import Optimizer
from .sgd import SGD

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "lr_scheduler"]
