"""Loss functions (re-exported by ``nn.functional``). Each is stable for any finite logits."""
from __future__ import annotations

from typing import Any

import numpy as np

from ..autograd.function import Context, Function
from ..ops.elementwise import Softplus
from ..ops.reduction import log_softmax
from ..tensor import Tensor

_REDUCTIONS = ("none", "mean", "sum")


def _reduce(loss: Tensor, reduction: str, name: str) -> Tensor:
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    if reduction == "none":
        return loss
    raise ValueError(f"{name}: reduction must be one of {_REDUCTIONS}, got {reduction!r}")


def _check_same_shape(name: str, input: Tensor, target: Tensor) -> None:
    if input.shape != target.shape:
        raise ValueError(f"{name}: target of shape {target.shape} must have the same shape as input of shape {input.shape}")


def _check_class_target(name: str, input: Tensor, target: Tensor) -> None:
    expected = input.shape[:1] + input.shape[2:] if input.ndim > 1 else ()
    if target.shape != expected or target.dtype.kind not in "iu":
        raise ValueError(
            f"{name}: expected an integer target of shape {expected} for input of shape {input.shape}, "
            f"got {target.dtype} target of shape {target.shape}"
        )


def nll_loss(
    input: Tensor, target: Tensor, weight: Tensor | None = None, ignore_index: int = -100, reduction: str = "mean"
) -> Tensor:
    """Negative log-likelihood of class indices: input (N, C) or (N, C, d...) of log-probabilities."""
    if input.ndim == 1:
        return nll_loss(input.unsqueeze(0), target.reshape(1), weight, ignore_index, reduction).reshape(())
    _check_class_target("nll_loss", input, target)
    classes = input.shape[1]
    keep = target.array != ignore_index
    safe_target = np.where(keep, target.array, 0) if target.xp is np else target.xp.where(keep, target.array, 0)
    if keep.any() and (safe_target.min() < 0 or safe_target.max() >= classes):
        raise IndexError(f"nll_loss: target values must be in [0, {classes - 1}] (or ignore_index), got values in [{int(safe_target.min())}, {int(safe_target.max())}]")
    picked = input.gather(1, Tensor(safe_target[:, None])).squeeze(1)
    weights = (weight.array[safe_target] if weight is not None else input.xp.ones(safe_target.shape, input.dtype)) * keep
    weights = Tensor(weights.astype(input.dtype, copy=False))
    losses = -picked * weights
    if reduction == "mean":
        return losses.sum() / weights.sum()
    return _reduce(losses, reduction, "nll_loss")


def cross_entropy(
    input: Tensor, target: Tensor, weight: Tensor | None = None, ignore_index: int = -100,
    reduction: str = "mean", label_smoothing: float = 0.0,
) -> Tensor:
    """Cross entropy of logits (N, C) or (N, C, d...) with class indices or class probabilities."""
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], got {label_smoothing}")
    class_dim = 1 if input.ndim > 1 else 0
    log_probs = log_softmax(input, class_dim)
    classes = input.shape[class_dim]
    shape = [1] * input.ndim
    shape[class_dim] = classes
    class_weight = None if weight is None else weight.reshape(*shape)
    if target.dtype.kind == "f":  # class probabilities
        _check_same_shape("cross_entropy", input, target)
        if label_smoothing:
            target = target * (1 - label_smoothing) + label_smoothing / classes
        terms = log_probs * target if class_weight is None else log_probs * target * class_weight
        losses = -terms.sum(class_dim)
        if reduction == "mean":
            return losses.sum() / (input.numel() // classes)
        return _reduce(losses, reduction, "cross_entropy")
    _check_class_target("cross_entropy", input, target)
    loss = nll_loss(log_probs, target, weight, ignore_index, reduction)
    if not label_smoothing:
        return loss
    return loss * (1 - label_smoothing) + _smoothing_term(log_probs, target, class_weight, ignore_index, reduction, weight) * (label_smoothing / classes)


def _smoothing_term(log_probs: Tensor, target: Tensor, class_weight: Any, ignore_index: int, reduction: str, weight: Any) -> Tensor:
    """The uniform-target part of label smoothing, reduced as PyTorch reduces it."""
    class_dim = 1 if log_probs.ndim > 1 else 0
    terms = log_probs if class_weight is None else log_probs * class_weight
    keep = Tensor((target.array != ignore_index).astype(log_probs.dtype))
    losses = -terms.sum(class_dim) * keep
    if reduction == "mean":
        if weight is None:
            return losses.sum() / keep.sum()
        safe = target.xp.where(target.array != ignore_index, target.array, 0)
        return losses.sum() / (Tensor(weight.array[safe]) * keep).sum()
    return _reduce(losses, reduction, "cross_entropy")


def mse_loss(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    _check_same_shape("mse_loss", input, target)
    diff = input - target
    return _reduce(diff * diff, reduction, "mse_loss")


def l1_loss(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    _check_same_shape("l1_loss", input, target)
    return _reduce((input - target).abs(), reduction, "l1_loss")


def binary_cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None, reduction: str = "mean") -> Tensor:
    """BCE of probabilities; logs are clamped at -100 as in PyTorch."""
    _check_same_shape("binary_cross_entropy", input, target)
    loss = -(target * input.log().clamp(min=-100.0) + (1 - target) * (1 - input).log().clamp(min=-100.0))
    return _reduce(loss if weight is None else loss * weight, reduction, "binary_cross_entropy")


def binary_cross_entropy_with_logits(
    input: Tensor, target: Tensor, weight: Tensor | None = None, reduction: str = "mean", pos_weight: Tensor | None = None
) -> Tensor:
    """BCE on logits, as ``(1 - y) x + (1 + (w_pos - 1) y) softplus(-x)``: never overflows."""
    _check_same_shape("binary_cross_entropy_with_logits", input, target)
    softplus_neg = Softplus.apply(-input)  # log(1 + e^-x)
    if pos_weight is None:
        loss = (1 - target) * input + softplus_neg
    else:
        loss = (1 - target) * input + (1 + (pos_weight - 1) * target) * softplus_neg
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction, "binary_cross_entropy_with_logits")


def sigmoid_focal_loss(
    inputs: Tensor, targets: Tensor, alpha: float = 0.25, gamma: float = 2, reduction: str = "none", impl: str = "autograd"
) -> Tensor:
    """torchvision's sigmoid focal loss: ``alpha_t * BCE(x, y) * (1 - p_t) ** gamma``; ``alpha < 0`` disables alpha_t.

    ``impl="autograd"`` composes primitives and lets autograd differentiate them;
    ``impl="manual"`` is one Function with a hand-derived backward (targets are treated as
    constants there). Both give the same values and input gradients.
    """
    _check_same_shape("sigmoid_focal_loss", inputs, targets)
    targets = targets.to(inputs.dtype)
    if impl == "manual":
        loss = FocalLoss.apply(inputs, targets, float(alpha), float(gamma))
    elif impl == "autograd":
        p = inputs.sigmoid()
        ce = binary_cross_entropy_with_logits(inputs, targets, reduction="none")
        p_t = p * targets + (1 - p) * (1 - targets)
        loss = ce * (1 - p_t) ** gamma
        if alpha >= 0:
            loss = (targets * alpha + (1 - targets) * (1 - alpha)) * loss
    else:
        raise ValueError(f"sigmoid_focal_loss: impl must be 'autograd' or 'manual', got {impl!r}")
    return _reduce(loss, reduction, "sigmoid_focal_loss")


class FocalLoss(Function):
    """Elementwise focal loss with the gradient written out by hand.

    With s = sigmoid(x), q = 1 - p_t and dq/dx = -s (1 - s) (2y - 1):
    dL/dx = alpha_t [ (s - y) q^gamma + gamma q^(gamma - 1) dq/dx * ce ].
    """

    once_differentiable = True

    @staticmethod
    def forward(ctx: Context, x: Tensor, y: Tensor, alpha: float, gamma: float) -> Any:
        xp, x_, y_ = x.xp, x.array, y.array
        e = xp.exp(-xp.abs(x_))
        s = xp.where(x_ >= 0, 1 / (1 + e), e / (1 + e))
        ce = (1 - y_) * x_ + xp.log1p(e) + xp.maximum(-x_, 0)
        q = 1 - (s * y_ + (1 - s) * (1 - y_))
        alpha_t = alpha * y_ + (1 - alpha) * (1 - y_) if alpha >= 0 else xp.ones_like(x_)
        ctx.intermediates = (s, ce, q, alpha_t, y_, gamma)
        return alpha_t * ce * q**gamma

    @staticmethod
    def backward(ctx: Context, grad: Tensor) -> Any:
        s, ce, q, alpha_t, y, gamma = ctx.intermediates
        xp = grad.xp
        dq_dx = -s * (1 - s) * (2 * y - 1)
        with np.errstate(divide="ignore", invalid="ignore"):
            q_pow_minus_one = xp.where(q > 0, q ** (gamma - 1), 0.0 if gamma != 1 else 1.0).astype(q.dtype)
        dloss_dx = alpha_t * ((s - y) * q**gamma + gamma * q_pow_minus_one * dq_dx * ce)
        return grad * Tensor(dloss_dx.astype(grad.dtype, copy=False)), None, None, None
