"""Lazy layers: ``LazyLinear``, ``LazyConv2d``, ``LazyBatchNorm1d``/``2d`` infer their input size on the first call.

Until then their parameters are ``UninitializedParameter`` placeholders (listed by
``named_parameters`` and ``state_dict`` under the eager layer's names, as in PyTorch). The
first forward materializes them, initializes them exactly as the eager layer would, and
turns the module into the eager class (``LazyLinear`` becomes ``Linear``).

Differences from PyTorch: a placeholder is a zero-element tensor (``numel() == 0``) rather
than raising when used; after loading a state dict into a lazy module, the first forward
still records the inferred input size (``in_features``, ...), which PyTorch leaves at 0.
"""
from __future__ import annotations

from typing import Any

from ... import creation, dtypes
from ...grad_mode import no_grad
from ...tensor import Tensor
from ..parameter import UninitializedBuffer, UninitializedParameter, is_lazy
from ._args import as_int
from .conv import Conv2d
from .linear import Linear
from .module import Module
from .state_dict import _array_from
from .normalization import BatchNorm1d, BatchNorm2d, _BatchNorm


class LazyModuleMixin:
    """Put first among a lazy layer's bases; the layer defines ``initialize_parameters(*inputs)``
    and sets ``cls_to_become`` to its eager class."""

    cls_to_become: type | None = None

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._initialize_hook = self.register_forward_pre_hook(self._infer_parameters, with_kwargs=True)

    def has_uninitialized_params(self) -> bool:
        members = [*self._parameters.values(), *self._buffers.values()]
        return any(is_lazy(member) for member in members)

    def reset_parameters(self) -> None:
        # The eager __init__ calls this before the placeholders exist, with zero sizes.
        params = [p for p in self._parameters.values() if p is not None]
        if not self.has_uninitialized_params() and all(p.numel() > 0 for p in params):
            super().reset_parameters()

    def _infer_parameters(self, module: Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        self.initialize_parameters(*args, **kwargs)
        if self.has_uninitialized_params():
            raise RuntimeError(f"{self._get_name()}: module has not been fully initialized")
        self._initialize_hook.remove()
        del self._initialize_hook
        if self.cls_to_become is not None:
            self.__class__ = self.cls_to_become

    def _materialize(self, **shapes: tuple[int, ...]) -> None:
        """Give each named placeholder its shape, then initialize as the eager layer does.

        Does nothing when the placeholders were already filled (by ``load_state_dict``).
        """
        if not self.has_uninitialized_params():
            return
        with no_grad():
            for name, shape in shapes.items():
                member = getattr(self, name)
                if is_lazy(member):
                    member.materialize(shape)
            self.reset_parameters()

    def _load_from_state_dict(self, state_dict: dict[str, Any], prefix: str, *args: Any) -> None:
        # A placeholder takes its shape from the checkpoint, so a lazy model loads trained weights.
        for name, member in [*self._parameters.items(), *self._buffers.items()]:
            if is_lazy(member) and prefix + name in state_dict:
                array = _array_from(state_dict[prefix + name])
                if array is not None:
                    member.materialize(tuple(array.shape))
        super()._load_from_state_dict(state_dict, prefix, *args)


class LazyLinear(LazyModuleMixin, Linear):
    """A :class:`Linear` whose ``in_features`` is the last dim of the first input.

    Args:
        out_features: size of each output sample.
        bias: learn an additive bias. Default: ``True``.

    Shape:
        (*, H_in) -> (*, out_features)
    """

    cls_to_become = Linear

    def __init__(self, out_features: int, bias: bool = True, device: Any = None, dtype: Any = None):
        super().__init__(0, 0, False, device, dtype)
        self.out_features = as_int("LazyLinear", "out_features", out_features, minimum=0)
        self.weight = UninitializedParameter(device=device, dtype=dtype)
        if bias:
            self.bias = UninitializedParameter(device=device, dtype=dtype)

    def initialize_parameters(self, input: Tensor) -> None:
        self.in_features = input.shape[-1]
        self._materialize(weight=(self.out_features, self.in_features), bias=(self.out_features,))


class LazyConv2d(LazyModuleMixin, Conv2d):
    """A :class:`Conv2d` whose ``in_channels`` is the channel dim of the first input.

    Args:
        out_channels, kernel_size, stride, padding, dilation, groups, bias, padding_mode:
            as in :class:`Conv2d`.

    Shape:
        (N, C_in, H, W) -> (N, C_out, H_out, W_out), or unbatched (C_in, H, W).
    """

    cls_to_become = Conv2d

    def __init__(
        self, out_channels: int, kernel_size: int | tuple[int, int], stride: int | tuple[int, int] = 1,
        padding: str | int | tuple[int, int] = 0, dilation: int | tuple[int, int] = 1, groups: int = 1,
        bias: bool = True, padding_mode: str = "zeros", device: Any = None, dtype: Any = None,
    ):
        super().__init__(0, 0, kernel_size, stride, padding, dilation, groups, False, padding_mode, device, dtype)
        self.out_channels = as_int("LazyConv2d", "out_channels", out_channels, minimum=0)
        if self.out_channels % self.groups:
            raise ValueError(f"LazyConv2d: out_channels must be divisible by groups, got out_channels={out_channels}, groups={groups}")
        self.weight = UninitializedParameter(device=device, dtype=dtype)
        if bias:
            self.bias = UninitializedParameter(device=device, dtype=dtype)

    def initialize_parameters(self, input: Tensor) -> None:
        if input.ndim not in (3, 4):
            raise RuntimeError(f"LazyConv2d: expected 3D (unbatched) or 4D (batched) input, got input of shape {input.shape}")
        self.in_channels = input.shape[1] if input.ndim == 4 else input.shape[0]
        if self.in_channels % self.groups:
            raise ValueError(f"LazyConv2d: in_channels must be divisible by groups, got {self.in_channels} channels, groups={self.groups}")
        weight_shape = (self.out_channels, self.in_channels // self.groups, *self.kernel_size)
        self._materialize(weight=weight_shape, bias=(self.out_channels,))


class _LazyBatchNorm(LazyModuleMixin, _BatchNorm):
    def __init__(
        self, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True, track_running_stats: bool = True,
        device: Any = None, dtype: Any = None, *, bias: bool = True,
    ):
        # affine and tracking off at first: the eager __init__ would create zero-sized tensors
        super().__init__(0, eps, momentum, False, False, device, dtype)
        self.affine = affine
        self.track_running_stats = track_running_stats
        if affine:
            self.weight = UninitializedParameter(device=device, dtype=dtype)
            if bias:
                self.bias = UninitializedParameter(device=device, dtype=dtype)
        if track_running_stats:
            self.running_mean = UninitializedBuffer(device=device, dtype=dtype)
            self.running_var = UninitializedBuffer(device=device, dtype=dtype)
            self.num_batches_tracked = creation.tensor(0, dtype=dtypes.int64, device=device)

    def initialize_parameters(self, input: Tensor) -> None:
        if input.ndim < 2:
            raise ValueError(f"{self._get_name()}: expected an input with a channel dim (N, C, ...), got shape {input.shape}")
        self.num_features = input.shape[1]
        shape = (self.num_features,)
        self._materialize(weight=shape, bias=shape, running_mean=shape, running_var=shape)


class LazyBatchNorm1d(_LazyBatchNorm, BatchNorm1d):
    """A :class:`BatchNorm1d` whose ``num_features`` is dim 1 of the first input."""

    cls_to_become = BatchNorm1d


class LazyBatchNorm2d(_LazyBatchNorm, BatchNorm2d):
    """A :class:`BatchNorm2d` whose ``num_features`` is dim 1 of the first input."""

    cls_to_become = BatchNorm2d
