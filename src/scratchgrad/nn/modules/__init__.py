"""The layers of ``scratchgrad.nn``, one family per file."""
from .activation import ELU, GELU, SELU, LeakyReLU, LogSoftmax, ReLU, Sigmoid, SiLU, Softmax, Softplus, Tanh
from .container import ModuleDict, ModuleList, Sequential
from .conv import Conv2d
from .dropout import Dropout
from .flatten import Flatten, Unflatten
from .lazy import LazyBatchNorm1d, LazyBatchNorm2d, LazyConv2d, LazyLinear, LazyModuleMixin
from .linear import Identity, Linear
from .loss import BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, L1Loss, MSELoss, NLLLoss
from .module import Module
from .normalization import BatchNorm1d, BatchNorm2d
from .pooling import AdaptiveAvgPool2d, AvgPool2d, MaxPool2d

__all__ = [
    "Module", "Sequential", "ModuleList", "ModuleDict", "Identity", "Linear", "Conv2d", "BatchNorm1d", "BatchNorm2d",
    "Dropout", "Flatten", "Unflatten", "ReLU", "LeakyReLU", "SELU", "ELU", "GELU", "SiLU", "Softplus", "Sigmoid", "Tanh",
    "Softmax", "LogSoftmax", "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d", "CrossEntropyLoss", "NLLLoss", "MSELoss",
    "L1Loss", "BCELoss", "BCEWithLogitsLoss", "LazyModuleMixin", "LazyLinear", "LazyConv2d", "LazyBatchNorm1d",
    "LazyBatchNorm2d",
]
