"""Instance normalization: each channel of each sample normalized over its positions."""
from __future__ import annotations

import warnings
from typing import Any

from ...tensor import Tensor
from .. import functional as F
from .normalization import _BatchNorm


class _InstanceNorm(_BatchNorm):
    """Shared by InstanceNorm1d/2d: BatchNorm's parameters and buffers, other defaults and statistics."""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = False,
                 track_running_stats: bool = False, device: Any = None, dtype: Any = None) -> None:
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device, dtype)

    def _check_input_dim(self, input: Tensor) -> None:
        name = type(self).__name__
        if input.ndim not in self._valid_dims:
            expected = " or ".join(f"{d}D" for d in self._valid_dims)
            raise ValueError(f"{name}: expected {expected} input (got {input.ndim}D input of shape {input.shape})")

    def forward(self, input: Tensor) -> Tensor:
        self._check_input_dim(input)
        unbatched = input.ndim == self._valid_dims[0]
        if unbatched:
            input = input.unsqueeze(0)
        if input.shape[1] != self.num_features:
            if self.affine:
                raise ValueError(f"{type(self).__name__}({self.num_features}): expected input's size at dim=1 to match "
                                 f"num_features ({self.num_features}), but got input of shape {input.shape}")
            warnings.warn(f"input's size at dim=1 does not match num_features ({self.num_features}); "
                          "you can silence this warning by not passing in num_features, which is not used because affine=False",
                          stacklevel=2)
        # As PyTorch: running statistics are used only in eval mode when tracked; num_batches_tracked stays 0.
        out = F.instance_norm(input, self.running_mean, self.running_var, self.weight, self.bias,
                              self.training or not self.track_running_stats,
                              self.momentum if self.momentum is not None else 0.0, self.eps)
        return out.squeeze(0) if unbatched else out


class InstanceNorm1d(_InstanceNorm):
    """Instance normalization of an (N, C, L) or (C, L) input.

    Args:
        num_features: C.
        eps: added to the variance. Default: 1e-5.
        momentum: weight of the new batch in the running statistics. Default: 0.1.
        affine: learn a per-channel scale and shift. Default: ``False``.
        track_running_stats: keep running mean/variance for eval mode. Default: ``False``.

    Shape:
        (N, C, L) or (C, L) -> same shape.
    """

    _valid_dims = (2, 3)


class InstanceNorm2d(_InstanceNorm):
    """Instance normalization of an (N, C, H, W) or (C, H, W) input; arguments as in :class:`InstanceNorm1d`.

    Shape:
        (N, C, H, W) or (C, H, W) -> same shape.
    """

    _valid_dims = (3, 4)
