"""Loss modules: ``CrossEntropyLoss``, ``NLLLoss``, ``MSELoss``, ``L1Loss``, ``BCELoss``, ``BCEWithLogitsLoss``.

Class weights (``weight``, ``pos_weight``) are buffers, so they appear in ``state_dict``
and follow ``.to()``, as in PyTorch. The legacy ``size_average``/``reduce`` arguments are
accepted (with a warning) and turned into ``reduction``.
"""
from __future__ import annotations

import warnings

from ...tensor import Tensor
from .. import functional as F
from ._args import as_probability, check_choice
from .module import Module

_REDUCTIONS = ("none", "mean", "sum")


def _legacy_reduction(size_average: bool | None, reduce: bool | None) -> str:
    warnings.warn("size_average and reduce args will be deprecated, please use reduction='mean'/'sum'/'none' instead.", stacklevel=4)
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    return "none" if not reduce else "mean" if size_average else "sum"


class _Loss(Module):
    def __init__(self, size_average: bool | None = None, reduce: bool | None = None, reduction: str = "mean"):
        super().__init__()
        if size_average is not None or reduce is not None:
            reduction = _legacy_reduction(size_average, reduce)
        check_choice(type(self).__name__, "reduction", reduction, _REDUCTIONS)
        self.reduction = reduction


class _WeightedLoss(_Loss):
    def __init__(self, weight: Tensor | None = None, size_average: bool | None = None, reduce: bool | None = None, reduction: str = "mean"):
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", weight)


class CrossEntropyLoss(_WeightedLoss):
    """Cross entropy between logits and class indices (or class probabilities).

    Args:
        weight: a rescaling weight per class, shape (C,).
        ignore_index: a target value that contributes nothing (class-index targets only).
        reduction: ``'none'``, ``'mean'`` (weighted mean) or ``'sum'``.
        label_smoothing: in [0, 1]; mixes the target with the uniform distribution.

    Shape:
        input (N, C) or (N, C, d...), target (N) or (N, d...) of int64 indices, or the
        input's shape of probabilities -> scalar, or (N, d...) with ``reduction='none'``.
    """

    def __init__(
        self, weight: Tensor | None = None, size_average: bool | None = None, ignore_index: int = -100,
        reduce: bool | None = None, reduction: str = "mean", label_smoothing: float = 0.0,
    ):
        super().__init__(weight, size_average, reduce, reduction)
        self.ignore_index = ignore_index
        self.label_smoothing = as_probability("CrossEntropyLoss", "label_smoothing", label_smoothing)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.cross_entropy(input, target, weight=self.weight, ignore_index=self.ignore_index,
                               reduction=self.reduction, label_smoothing=self.label_smoothing)


class NLLLoss(_WeightedLoss):
    """Negative log-likelihood of class indices, for log-probability inputs; arguments as
    :class:`CrossEntropyLoss` (without label smoothing)."""

    def __init__(
        self, weight: Tensor | None = None, size_average: bool | None = None, ignore_index: int = -100,
        reduce: bool | None = None, reduction: str = "mean",
    ):
        super().__init__(weight, size_average, reduce, reduction)
        self.ignore_index = ignore_index

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.nll_loss(input, target, weight=self.weight, ignore_index=self.ignore_index, reduction=self.reduction)


class MSELoss(_Loss):
    """Mean squared error. Shape: input (*), target (*) -> scalar, or (*) with ``reduction='none'``."""

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.mse_loss(input, target, reduction=self.reduction)


class L1Loss(_Loss):
    """Mean absolute error. Shape: input (*), target (*) -> scalar, or (*) with ``reduction='none'``."""

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.l1_loss(input, target, reduction=self.reduction)


class BCELoss(_WeightedLoss):
    """Binary cross entropy of probabilities in [0, 1]. Shape: input (*), target (*) -> scalar or (*)."""

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.binary_cross_entropy(input, target, weight=self.weight, reduction=self.reduction)


class BCEWithLogitsLoss(_Loss):
    """Sigmoid + binary cross entropy in one numerically stable step.

    Args:
        weight: a rescaling weight, broadcast to the input.
        reduction: ``'none'``, ``'mean'`` or ``'sum'``.
        pos_weight: a weight of positive examples per class, broadcast along the last dim.

    Shape:
        input (*), target (*) of probabilities -> scalar, or (*) with ``reduction='none'``.
    """

    def __init__(
        self, weight: Tensor | None = None, size_average: bool | None = None, reduce: bool | None = None,
        reduction: str = "mean", pos_weight: Tensor | None = None,
    ):
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", weight)
        self.register_buffer("pos_weight", pos_weight)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.binary_cross_entropy_with_logits(input, target, weight=self.weight, reduction=self.reduction, pos_weight=self.pos_weight)
