"""Normalization layers: ``BatchNorm1d``/``BatchNorm2d`` (with PyTorch's running statistics), ``GroupNorm``, ``LayerNorm``."""
from __future__ import annotations

from typing import Any

from ... import creation, dtypes
from ...tensor import Tensor
from .. import functional as F
from .. import init
from ..parameter import Parameter
from ._args import as_int
from .module import Module


class _BatchNorm(Module):
    """Shared by BatchNorm1d/2d; subclasses set ``_valid_dims`` (the accepted input ranks)."""

    _valid_dims: tuple[int, ...] = ()

    def __init__(
        self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True,
        track_running_stats: bool = True, device: Any = None, dtype: Any = None, *, bias: bool = True,
    ):
        super().__init__()
        name = type(self).__name__
        if isinstance(eps, bool) or not isinstance(eps, (int, float)) or eps < 0:
            raise ValueError(f"{name}: eps must be a non-negative number, got {eps!r}")
        if momentum is not None and (isinstance(momentum, bool) or not isinstance(momentum, (int, float)) or not 0 <= momentum <= 1):
            raise ValueError(f"{name}: momentum must be a number in [0, 1] or None (cumulative average), got {momentum!r}")
        self.num_features = as_int(name, "num_features", num_features, minimum=0)
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        self.register_parameter("weight", None)
        self.register_parameter("bias", None)
        if affine:
            self.weight = Parameter(creation.empty(self.num_features, device=device, dtype=dtype))
            if bias:
                self.bias = Parameter(creation.empty(self.num_features, device=device, dtype=dtype))
        for buffer in ("running_mean", "running_var", "num_batches_tracked"):
            self.register_buffer(buffer, None)
        if track_running_stats:
            self.running_mean = creation.zeros(self.num_features, device=device, dtype=dtype)
            self.running_var = creation.ones(self.num_features, device=device, dtype=dtype)
            self.num_batches_tracked = creation.tensor(0, dtype=dtypes.int64, device=device)
        self.reset_parameters()

    def reset_running_stats(self) -> None:
        if self.track_running_stats:
            self.running_mean.zero_()
            self.running_var.fill_(1)
            self.num_batches_tracked.zero_()

    def reset_parameters(self) -> None:
        self.reset_running_stats()
        if self.affine:
            init.ones_(self.weight)
            if self.bias is not None:
                init.zeros_(self.bias)

    def _check_input_dim(self, input: Tensor) -> None:
        name = type(self).__name__
        if input.ndim not in self._valid_dims:
            expected = " or ".join(f"{d}D" for d in self._valid_dims)
            raise ValueError(f"{name}: expected {expected} input (got {input.ndim}D input of shape {input.shape})")
        if input.shape[1] != self.num_features:
            raise ValueError(f"{name}({self.num_features}): expected {self.num_features} channels at dim 1, got input of shape {input.shape}")

    def forward(self, input: Tensor) -> Tensor:
        self._check_input_dim(input)
        momentum = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats and self.num_batches_tracked is not None:
            self.num_batches_tracked.add_(1)
            if self.momentum is None:  # cumulative moving average
                momentum = 1.0 / float(self.num_batches_tracked)
        # Batch statistics in training, and in eval when there are no running statistics.
        use_batch_stats = self.training or (self.running_mean is None and self.running_var is None)
        # The running statistics are updated only when they are tracked and we are training.
        pass_running = not self.training or self.track_running_stats
        return F.batch_norm(
            input,
            self.running_mean if pass_running else None,
            self.running_var if pass_running else None,
            self.weight, self.bias, use_batch_stats, momentum, self.eps,
        )

    def _load_from_state_dict(self, state_dict: dict[str, Any], prefix: str, missing_keys: list[str], unexpected_keys: list[str], error_msgs: list[str]) -> None:
        # Checkpoints from before num_batches_tracked existed lack it; keep the current count (as PyTorch).
        key = prefix + "num_batches_tracked"
        if self.track_running_stats and self.num_batches_tracked is not None and key not in state_dict:
            state_dict[key] = self.num_batches_tracked
        super()._load_from_state_dict(state_dict, prefix, missing_keys, unexpected_keys, error_msgs)

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"bias={self.bias is not None}, track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch normalization over a 2-D (N, C) or 3-D (N, C, L) input.

    Args:
        num_features: C, the number of channels.
        eps: added to the variance for numerical stability. Default: 1e-5.
        momentum: weight of the new batch in the running statistics; ``None`` gives a
            cumulative average. Default: 0.1.
        affine: learn a per-channel scale (weight) and shift (bias). Default: ``True``.
        track_running_stats: keep running mean/variance (buffers) for eval mode. Default: ``True``.
        bias: with ``affine``, learn the shift too (keyword only). Default: ``True``.

    Shape:
        (N, C) or (N, C, L) -> same shape.

    In training the batch mean and (biased) variance normalize the input, and the running
    statistics are updated with the unbiased variance, as in PyTorch.
    """

    _valid_dims = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch normalization over a 4-D (N, C, H, W) input; arguments as in :class:`BatchNorm1d`.

    Shape:
        (N, C, H, W) -> same shape.
    """

    _valid_dims = (4,)


class GroupNorm(Module):
    """Normalize groups of channels of each sample by their own mean and variance.

    Args:
        num_groups: groups the channels are split into (it must divide ``num_channels``).
        num_channels: C.
        eps: added to the variance. Default: 1e-5.
        affine: learn a per-channel scale (weight, ones) and shift (bias, zeros). Default: ``True``.

    Shape:
        (N, C, *) -> same shape.
    """

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5, affine: bool = True,
                 device: Any = None, dtype: Any = None) -> None:
        super().__init__()
        self.num_groups = as_int("GroupNorm", "num_groups", num_groups)
        self.num_channels = as_int("GroupNorm", "num_channels", num_channels, minimum=0)
        if self.num_channels % self.num_groups:
            raise ValueError(f"GroupNorm: num_channels must be divisible by num_groups, got {num_channels} and {num_groups}")
        self.eps, self.affine = eps, affine
        if affine:
            self.weight = Parameter(creation.empty(self.num_channels, device=device, dtype=dtype))
            self.bias = Parameter(creation.empty(self.num_channels, device=device, dtype=dtype))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        if self.affine:
            init.ones_(self.weight)
            init.zeros_(self.bias)

    def forward(self, input: Tensor) -> Tensor:
        if input.ndim < 2 or input.shape[1] != self.num_channels:
            raise ValueError(f"GroupNorm({self.num_groups}, {self.num_channels}): expected {self.num_channels} channels at dim 1, got input of shape {input.shape}")
        return F.group_norm(input, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}"


class LayerNorm(Module):
    """Normalize the last dims of each sample by their own mean and variance.

    Args:
        normalized_shape: the trailing shape normalized over (an int for the last dim).
        eps: added to the variance. Default: 1e-5.
        elementwise_affine: learn a scale (weight, ones) and shift (bias, zeros) of
            ``normalized_shape``. Default: ``True``.
        bias: with ``elementwise_affine``, learn the shift too. Default: ``True``.

    Shape:
        (*, *normalized_shape) -> same shape.
    """

    def __init__(self, normalized_shape: int | tuple[int, ...], eps: float = 1e-5, elementwise_affine: bool = True,
                 bias: bool = True, device: Any = None, dtype: Any = None) -> None:
        super().__init__()
        shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
        self.normalized_shape = tuple(as_int("LayerNorm", "normalized_shape", n, minimum=0) for n in shape)
        self.eps, self.elementwise_affine = eps, elementwise_affine
        self.register_parameter("weight", None)
        self.register_parameter("bias", None)
        if elementwise_affine:
            self.weight = Parameter(creation.empty(*self.normalized_shape, device=device, dtype=dtype))
            if bias:
                self.bias = Parameter(creation.empty(*self.normalized_shape, device=device, dtype=dtype))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        if self.weight is not None:
            init.ones_(self.weight)
        if self.bias is not None:
            init.zeros_(self.bias)

    def forward(self, input: Tensor) -> Tensor:
        return F.layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"
