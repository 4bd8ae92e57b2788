"""Learning-rate schedulers with PyTorch's names, arguments and numbers.

Each scheduler sets the lr of every parameter group at construction (epoch 0) and
at each ``step()``, which is called after ``optimizer.step()``; ``get_last_lr()``
returns what it set, ``last_epoch`` counts the steps, and ``state_dict()`` /
``load_state_dict()`` save and restore it (plain Python values only).
"""
from ._base import LRScheduler
from ._cyclic import CyclicLR
from ._one_cycle import OneCycleLR
from ._plateau import ReduceLROnPlateau
from ._schedules import (
    ConstantLR,
    CosineAnnealingLR,
    ExponentialLR,
    LambdaLR,
    LinearLR,
    MultiStepLR,
    SequentialLR,
    StepLR,
)

__all__ = [
    "LRScheduler",
    "LambdaLR",
    "StepLR",
    "MultiStepLR",
    "ConstantLR",
    "LinearLR",
    "ExponentialLR",
    "CosineAnnealingLR",
    "SequentialLR",
    "OneCycleLR",
    "CyclicLR",
    "ReduceLROnPlateau",
]
