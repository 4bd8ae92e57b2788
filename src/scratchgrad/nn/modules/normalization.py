"""Batch normalization: ``BatchNorm1d`` and ``BatchNorm2d``, with PyTorch's running statistics."""
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
