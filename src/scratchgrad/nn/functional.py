"""``scratchgrad.nn.functional``: layers, activations and losses as functions (PyTorch's signatures).

Losses live in ``loss_functions.py`` and are re-exported here.
"""
from __future__ import annotations

import math
import warnings
from typing import Any

from .. import random
from ..kernels.geometry import ConvGeometry
from ..kernels.pool import avg_pool_scale
from ..ops.conv import Conv2d, Conv2dInputGrad
from ..ops.elementwise import LeakyReLU, Softplus, erf, where
from ..ops.norm import BatchNorm
from ..ops.pool import AvgPool2d, MaxPool2d
from ..ops.reduction import log_softmax, softmax
from ..ops.shape import flatten
from ..tensor import Tensor
from .loss_functions import (  # noqa: F401 - re-exported
    binary_cross_entropy, binary_cross_entropy_with_logits, cross_entropy, l1_loss, mse_loss, nll_loss, sigmoid_focal_loss,
)
from .normalization_functions import group_norm, instance_norm, layer_norm  # noqa: F401 - re-exported
from .resampling import interpolate, pad, pixel_shuffle, pixel_unshuffle  # noqa: F401 - re-exported

__all__ = [
    "linear", "conv2d", "max_pool2d", "avg_pool2d", "adaptive_avg_pool2d", "batch_norm", "dropout", "relu", "leaky_relu",
    "selu", "elu", "gelu", "silu", "softplus", "sigmoid", "tanh", "softmax", "log_softmax", "pad", "flatten", "cross_entropy",
    "nll_loss", "mse_loss", "l1_loss", "binary_cross_entropy", "binary_cross_entropy_with_logits", "sigmoid_focal_loss",
    "conv_transpose2d", "dropout1d", "dropout2d", "embedding", "layer_norm", "group_norm", "instance_norm", "pixel_shuffle",
    "pixel_unshuffle", "interpolate", "upsample",
]


def _pair(value: Any, name: str) -> tuple[int, int]:
    pair = tuple(value) if isinstance(value, (tuple, list)) else (value, value)
    if len(pair) != 2 or not all(isinstance(v, int) for v in pair):
        raise ValueError(f"{name}: expected an int or a pair of ints, got {value!r}")
    return pair  # type: ignore[return-value]


def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``input @ weight.T + bias``: (*, in_features) -> (*, out_features)."""
    if input.shape[-1:] != weight.shape[-1:]:
        raise RuntimeError(f"linear: input of shape {input.shape} does not match weight of shape {weight.shape} (in_features {weight.shape[-1]})")
    out = input @ weight.mT
    return out if bias is None else out + bias


def _check_conv_input(input: Tensor, weight: Tensor, groups: int) -> None:
    if input.ndim != 4 or weight.ndim != 4:
        raise RuntimeError(f"conv2d: expected a 4-D input (N, C, H, W) and a 4-D weight, got input {input.shape} and weight {weight.shape}")
    if groups < 1 or input.shape[1] != weight.shape[1] * groups or weight.shape[0] % groups:
        raise RuntimeError(
            f"conv2d: input of shape {input.shape} has {input.shape[1]} channels, but weight of shape {weight.shape} "
            f"with groups={groups} expects {weight.shape[1] * groups}"
        )


def _same_padding(input: Tensor, kernel_hw: tuple[int, int], dilation: tuple[int, int]) -> tuple[Tensor, tuple[int, int]]:
    """'same' padding; an odd total puts the extra row/column at the end, as PyTorch does."""
    totals = [d * (k - 1) for k, d in zip(kernel_hw, dilation)]
    if all(t % 2 == 0 for t in totals):
        return input, (totals[0] // 2, totals[1] // 2)
    widths = [totals[1] // 2, totals[1] - totals[1] // 2, totals[0] // 2, totals[0] - totals[0] // 2]
    return pad(input, widths), (0, 0)


def conv2d(
    input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: Any = 1, padding: Any = 0, dilation: Any = 1, groups: int = 1
) -> Tensor:
    """2-D cross-correlation: (N, C_in, H, W) -> (N, C_out, H_out, W_out); an unbatched (C, H, W) input works too.

    ``padding`` is an int, a pair, ``'valid'`` or ``'same'`` (stride 1 only).
    """
    if input.ndim == 3:
        return conv2d(input.unsqueeze(0), weight, bias, stride, padding, dilation, groups).squeeze(0)
    _check_conv_input(input, weight, groups)
    stride, dilation, kernel_hw = _pair(stride, "stride"), _pair(dilation, "dilation"), weight.shape[2:]
    if padding == "valid":
        padding = 0
    elif padding == "same":
        if stride != (1, 1):
            raise ValueError(f"conv2d: padding='same' is not supported for strided convolutions (stride={stride})")
        input, padding = _same_padding(input, kernel_hw, dilation)
    geometry = ConvGeometry(input.shape[2:], kernel_hw, stride, _pair(padding, "padding"), dilation, groups)
    if min(geometry.output_hw) < 1:
        raise RuntimeError(f"conv2d: input of shape {input.shape} is too small for kernel {kernel_hw} with padding {padding} and dilation {dilation}")
    if bias is not None and bias.shape != (weight.shape[0],):
        raise RuntimeError(f"conv2d: bias of shape {bias.shape} does not match weight of shape {weight.shape} (expected ({weight.shape[0]},))")
    return Conv2d.apply(input, weight, bias, geometry)


def conv_transpose2d(
    input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: Any = 1, padding: Any = 0, output_padding: Any = 0,
    groups: int = 1, dilation: Any = 1,
) -> Tensor:
    """The transposed convolution (the gradient of ``conv2d`` with respect to its input):
    (N, C_in, H, W) -> (N, C_out, H_out, W_out); an unbatched (C_in, H, W) input works too.

    ``weight`` is (C_in, C_out / groups, kH, kW); H_out = (H - 1) stride - 2 padding +
    dilation (kH - 1) + output_padding + 1, and ``output_padding`` (smaller than the stride or
    the dilation) adds rows and columns at the end that no input reaches.
    """
    if input.ndim == 3:
        return conv_transpose2d(input.unsqueeze(0), weight, bias, stride, padding, output_padding, groups, dilation).squeeze(0)
    if input.ndim != 4 or weight.ndim != 4 or groups < 1 or input.shape[1] != weight.shape[0] or weight.shape[0] % groups:
        raise RuntimeError(f"conv_transpose2d: expected input (N, C_in, H, W) and weight (C_in, C_out/groups, kH, kW) "
                           f"with C_in divisible by groups={groups}, got input {input.shape} and weight {weight.shape}")
    stride, padding, dilation = _pair(stride, "stride"), _pair(padding, "padding"), _pair(dilation, "dilation")
    extra = _pair(output_padding, "output_padding")
    if any(o >= max(s, d) for o, s, d in zip(extra, stride, dilation)):
        raise RuntimeError(f"conv_transpose2d: output padding must be smaller than either stride or dilation, "
                           f"got output_padding={extra}, stride={stride}, dilation={dilation}")
    out_hw = tuple((n - 1) * s - 2 * p + d * (k - 1) + o + 1
                   for n, s, p, d, k, o in zip(input.shape[2:], stride, padding, dilation, weight.shape[2:], extra))
    geometry = ConvGeometry(out_hw, weight.shape[2:], stride, padding, dilation, groups)
    if min(out_hw) < 1 or geometry.output_hw != input.shape[2:]:
        raise RuntimeError(f"conv_transpose2d: input of shape {input.shape} gives an invalid output size {out_hw} "
                           f"(stride {stride}, padding {padding}, dilation {dilation}, output_padding {extra})")
    out = Conv2dInputGrad.apply(input, weight, geometry)
    if bias is not None:
        out = out + bias.reshape(1, -1, 1, 1)
    return out


def embedding(input: Tensor, weight: Tensor, padding_idx: int | None = None, max_norm: float | None = None,
              norm_type: float = 2.0, scale_grad_by_freq: bool = False, sparse: bool = False) -> Tensor:
    """Rows of ``weight`` at the integer ``input``: (*) -> (*, embedding_dim).

    Positions equal to ``padding_idx`` give their row but send it no gradient, as in PyTorch.
    """
    if max_norm is not None or scale_grad_by_freq or sparse:
        raise NotImplementedError("embedding: max_norm, scale_grad_by_freq and sparse are not supported")
    if input.dtype.kind not in "iu":
        raise RuntimeError(f"embedding: expected an integer input (indices), got dtype {input.dtype}")
    rows = weight[input]
    if padding_idx is None:
        return rows
    if padding_idx < 0:
        padding_idx += weight.shape[0]
    return where((input != padding_idx).unsqueeze(-1), rows, rows.detach())


def _pool_geometry(name: str, input: Tensor, kernel_size: Any, stride: Any, padding: Any, dilation: Any, ceil_mode: bool) -> ConvGeometry:
    if input.ndim != 4:
        raise RuntimeError(f"{name}: expected a 4-D input (N, C, H, W), got shape {input.shape}")
    if ceil_mode:
        raise NotImplementedError(f"{name}: ceil_mode=True is not supported")
    kernel = _pair(kernel_size, "kernel_size")
    stride = kernel if stride is None or stride == [] else _pair(stride, "stride")
    padding = _pair(padding, "padding")
    if any(p > k // 2 for p, k in zip(padding, kernel)):
        raise ValueError(f"{name}: padding should be at most half of the kernel size, got padding={padding}, kernel_size={kernel}")
    geometry = ConvGeometry(input.shape[2:], kernel, stride, padding, _pair(dilation, "dilation"), 1)
    if min(geometry.output_hw) < 1:
        raise RuntimeError(f"{name}: input of shape {input.shape} is too small for kernel {kernel}")
    return geometry


def max_pool2d(
    input: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0, dilation: Any = 1, ceil_mode: bool = False, return_indices: bool = False
) -> Tensor:
    """Max over windows: (N, C, H, W) -> (N, C, H_out, W_out)."""
    if return_indices:
        raise NotImplementedError("max_pool2d: return_indices=True is not supported")
    return MaxPool2d.apply(input, _pool_geometry("max_pool2d", input, kernel_size, stride, padding, dilation, ceil_mode))


def avg_pool2d(
    input: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0, ceil_mode: bool = False,
    count_include_pad: bool = True, divisor_override: int | None = None,
) -> Tensor:
    """Mean over windows: (N, C, H, W) -> (N, C, H_out, W_out)."""
    geometry = _pool_geometry("avg_pool2d", input, kernel_size, stride, padding, 1, ceil_mode)
    scale = avg_pool_scale(geometry, count_include_pad, divisor_override, input.xp, input.dtype)
    return AvgPool2d.apply(input, geometry, scale)


def adaptive_avg_pool2d(input: Tensor, output_size: Any) -> Tensor:
    """Average to a fixed (H_out, W_out); bins as PyTorch: [floor(i*H/H_out), ceil((i+1)*H/H_out))."""
    size = _pair(output_size, "output_size") if not isinstance(output_size, (tuple, list)) or None not in output_size else output_size
    (h, w), (oh, ow) = input.shape[-2:], tuple(n if o is None else o for o, n in zip(size, input.shape[-2:]))
    if h % oh == 0 and w % ow == 0:
        return avg_pool2d(input, (h // oh, w // ow))
    rows = []
    for i in range(oh):
        r0, r1 = (i * h) // oh, -((-(i + 1) * h) // oh)
        cells = [input[..., r0:r1, (j * w) // ow : -((-(j + 1) * w) // ow)].mean((-2, -1), keepdim=True) for j in range(ow)]
        rows.append(_cat(cells, -1))
    return _cat(rows, -2)


def _cat(tensors: list[Tensor], dim: int) -> Tensor:
    from ..ops.shape import cat

    return cat(tensors, dim)


def batch_norm(
    input: Tensor, running_mean: Tensor | None, running_var: Tensor | None, weight: Tensor | None = None,
    bias: Tensor | None = None, training: bool = False, momentum: float = 0.1, eps: float = 1e-5,
) -> Tensor:
    """Normalize over every dim but the channel dim 1: (N, C, *) -> same shape.

    In training, batch statistics are used and the running ones updated in place with
    ``momentum`` (running_var with the unbiased batch variance, as PyTorch does).
    """
    if input.ndim < 2:
        raise ValueError(f"batch_norm: expected an input with at least 2 dims (N, C, ...), got shape {input.shape}")
    if training:
        count = input.numel() // input.shape[1]
        if count <= 1:
            raise ValueError(f"batch_norm: expected more than 1 value per channel when training, got input of shape {input.shape}")
        out, mean, var = BatchNorm.apply(input, weight, bias, None, None, eps)
        if running_mean is not None and running_var is not None:
            _update_running_stats(running_mean, running_var, mean, var, count, momentum)
        return out
    if running_mean is None or running_var is None:
        raise ValueError("batch_norm: running_mean and running_var are required when training=False")
    stats = (s.array.astype(input.dtype, copy=False) for s in (running_mean, running_var))
    return BatchNorm.apply(input, weight, bias, *stats, eps)[0]


def _update_running_stats(running_mean: Tensor, running_var: Tensor, mean: Tensor, var: Tensor, count: int, momentum: float) -> None:
    from ..autograd import no_grad

    with no_grad():
        unbiased = var.reshape(-1) * (count / (count - 1))
        running_mean.mul_(1 - momentum).add_(mean.reshape(-1).to(running_mean.dtype) * momentum)
        running_var.mul_(1 - momentum).add_(unbiased.to(running_var.dtype) * momentum)


def dropout(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zero each element with probability ``p`` and scale the rest by 1/(1-p); identity when not training."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout: probability has to be between 0 and 1, but got {p}")
    if not training or p == 0.0:
        return input
    if p == 1.0:
        return input * 0.0
    mask = random.bernoulli_mask(input.shape, 1.0 - p, input.dtype, input.device)
    return input * Tensor(mask * input.dtype.type(1.0 / (1.0 - p)))


def _channel_dropout(name: str, input: Tensor, p: float, training: bool, dims: int) -> Tensor:
    """Zero whole channels: one draw per (N, C) of an (N, C, *spatial) input, or per C of a
    (C, *spatial) one, the survivors scaled by 1/(1-p)."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"{name}: probability has to be between 0 and 1, but got {p}")
    if input.ndim not in (dims + 1, dims + 2):
        raise RuntimeError(f"{name}: expected a {dims + 1}-D or {dims + 2}-D input, got shape {input.shape}")
    if not training or p == 0.0:
        return input
    if p == 1.0:
        return input * 0.0
    lead = input.ndim - dims
    mask = random.bernoulli_mask(input.shape[:lead] + (1,) * dims, 1.0 - p, input.dtype, input.device)
    return input * Tensor(mask * input.dtype.type(1.0 / (1.0 - p)))


def dropout1d(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zero whole channels of an (N, C, L) or (C, L) input with probability ``p``."""
    return _channel_dropout("dropout1d", input, p, training, 1)


def dropout2d(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zero whole channels of an (N, C, H, W) input with probability ``p`` (a 3-D input is
    taken as (N, C, L), with PyTorch's warning)."""
    if input.ndim == 3:
        warnings.warn("dropout2d: Received a 3D input to dropout2d and assuming that channel-wise 1D dropout behavior "
                      "is desired - input is interpreted as shape (N, C, L)", UserWarning, stacklevel=2)
        return _channel_dropout("dropout2d", input, p, training, 1)
    return _channel_dropout("dropout2d", input, p, training, 2)


# ------------------------------------------------------------------ activations
def relu(input: Tensor, inplace: bool = False) -> Tensor:
    return input.relu()


def leaky_relu(input: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    return LeakyReLU.apply(input, negative_slope)


def elu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    # exp of the clamped input: the unused branch of where() must not overflow, or 0 * inf = nan in backward
    return where(input > 0, input, (input.clamp(max=0.0).exp() - 1.0) * alpha)


_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def selu(input: Tensor, inplace: bool = False) -> Tensor:
    return elu(input, _SELU_ALPHA) * _SELU_SCALE


def gelu(input: Tensor, approximate: str = "none") -> Tensor:
    if approximate == "tanh":
        inner = (input + input * input * input * 0.044715) * math.sqrt(2.0 / math.pi)
        return input * 0.5 * (inner.tanh() + 1.0)
    if approximate != "none":
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return input * 0.5 * (erf(input * (1.0 / math.sqrt(2.0))) + 1.0)


def silu(input: Tensor, inplace: bool = False) -> Tensor:
    return input * input.sigmoid()


def softplus(input: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """log(1 + e^(beta x)) / beta, and x itself where beta x > threshold (as PyTorch)."""
    scaled = input * beta
    return where(scaled > threshold, input, Softplus.apply(scaled) / beta)


def sigmoid(input: Tensor) -> Tensor:
    return input.sigmoid()


def tanh(input: Tensor) -> Tensor:
    return input.tanh()


def upsample(input: Tensor, size: Any = None, scale_factor: Any = None, mode: str = "nearest", align_corners: bool | None = None) -> Tensor:
    """Deprecated in PyTorch for :func:`interpolate`, which it calls."""
    return interpolate(input, size, scale_factor, mode, align_corners)
