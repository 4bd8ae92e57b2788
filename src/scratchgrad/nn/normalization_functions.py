"""``F.layer_norm``, ``F.group_norm`` and ``F.instance_norm``: batch normalization of a reshaped input.

Each normalizes groups of values by their own mean and (biased) variance. Reshaped so that
each group is one channel of a (1, groups, values) tensor, that is exactly what the BatchNorm
primitive computes in training mode, with its exact backward; the per-channel affine
transform comes after, as plain arithmetic.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

from ..autograd import no_grad
from ..ops.norm import BatchNorm
from ..tensor import Tensor

__all__ = ["layer_norm", "group_norm", "instance_norm"]


def _standardize(input: Tensor, groups: int, eps: float) -> tuple[Tensor, Tensor, Tensor]:
    """``input`` with each of ``groups`` consecutive blocks at mean 0 and variance 1; and the
    blocks' means and biased variances."""
    out, mean, var = BatchNorm.apply(input.reshape(1, groups, -1), None, None, None, None, eps)
    return out.reshape(*input.shape), mean.reshape(-1), var.reshape(-1)


def _affine(x: Tensor, weight: Tensor | None, bias: Tensor | None, shape: tuple[int, ...]) -> Tensor:
    if weight is not None:
        x = x * weight.reshape(*shape)
    if bias is not None:
        x = x + bias.reshape(*shape)
    return x


def layer_norm(input: Tensor, normalized_shape: Sequence[int] | int, weight: Tensor | None = None,
               bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    """Normalize over the last dims, ``normalized_shape``: (*, *normalized_shape) -> same shape."""
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    if tuple(input.shape[input.ndim - len(shape):]) != shape or len(shape) > input.ndim:
        raise RuntimeError(f"layer_norm: normalized_shape {list(shape)} does not match the last dims of input of shape {input.shape}")
    rows = math.prod(input.shape[: input.ndim - len(shape)])
    out = _standardize(input, rows, eps)[0] if rows else input
    return _affine(out, weight, bias, shape)


def group_norm(input: Tensor, num_groups: int, weight: Tensor | None = None, bias: Tensor | None = None,
               eps: float = 1e-5) -> Tensor:
    """Normalize each of ``num_groups`` groups of channels per sample: (N, C, *) -> same shape."""
    if input.ndim < 2 or input.shape[1] % num_groups:
        raise RuntimeError(f"group_norm: expected an input (N, C, *) with C divisible by num_groups={num_groups}, got shape {input.shape}")
    out = _standardize(input, input.shape[0] * num_groups, eps)[0]
    return _affine(out, weight, bias, (input.shape[1],) + (1,) * (input.ndim - 2))


def instance_norm(
    input: Tensor, running_mean: Tensor | None = None, running_var: Tensor | None = None, weight: Tensor | None = None,
    bias: Tensor | None = None, use_input_stats: bool = True, momentum: float = 0.1, eps: float = 1e-5,
) -> Tensor:
    """Normalize each channel of each sample over its positions: (N, C, *) -> same shape.

    With ``use_input_stats`` the running statistics, if given, are updated in place with the
    mean over the batch of each instance's mean and unbiased variance (as PyTorch); without
    it they normalize the input instead.
    """
    n, c = input.shape[:2]
    per_channel = (c,) + (1,) * (input.ndim - 2)
    if not use_input_stats:
        if running_mean is None or running_var is None:
            raise ValueError("instance_norm: running_mean and running_var are required when use_input_stats=False")
        stats = [s.to(input.dtype).reshape(*per_channel) for s in (running_mean, running_var)]
        return _affine((input - stats[0]) / (stats[1] + eps).sqrt(), weight, bias, per_channel)
    count = math.prod(input.shape[2:])
    if count <= 1:
        raise ValueError(f"instance_norm: expected more than 1 spatial element when training, got input of shape {input.shape}")
    out, mean, var = _standardize(input, n * c, eps)
    if running_mean is not None and running_var is not None:
        with no_grad():
            unbiased = var * (count / (count - 1))
            running_mean.mul_(1 - momentum).add_(mean.reshape(n, c).mean(0).to(running_mean.dtype) * momentum)
            running_var.mul_(1 - momentum).add_(unbiased.reshape(n, c).mean(0).to(running_var.dtype) * momentum)
    return _affine(out, weight, bias, per_channel)
