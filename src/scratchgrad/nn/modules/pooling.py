"""Pooling: ``MaxPool2d``, ``AvgPool2d`` and ``AdaptiveAvgPool2d`` over (N, C, H, W) inputs.

``ceil_mode=True`` and ``MaxPool2d(return_indices=True)`` are not supported yet and raise
``NotImplementedError`` at construction.
"""
from __future__ import annotations

from typing import Any

from ...tensor import Tensor
from .. import functional as F
from ._args import as_int, as_pair
from .module import Module

_IntPair = Any  # an int or an (int, int) pair, kept as given so that repr matches PyTorch


def _check_window(layer: str, kernel_size: Any, stride: Any, padding: Any) -> None:
    kernel = as_pair(layer, "kernel_size", kernel_size)
    if stride is not None:
        as_pair(layer, "stride", stride)
    for k, p in zip(kernel, as_pair(layer, "padding", padding, minimum=0)):
        if p > k // 2:
            raise ValueError(f"{layer}: padding should be at most half of the kernel size, got padding={padding}, kernel_size={kernel_size}")


def _unsupported(layer: str, **flags: bool) -> None:
    for name, value in flags.items():
        if value:
            raise NotImplementedError(f"{layer}: {name}=True is not supported by scratchgrad")


class MaxPool2d(Module):
    """Maximum over sliding windows.

    Args:
        kernel_size: window size, an int or a pair.
        stride: window step; default ``kernel_size``.
        padding: implicit -inf padding on each side (at most half the kernel). Default: 0.
        dilation: spacing between window elements. Default: 1.
        return_indices, ceil_mode: must be ``False`` (not supported).

    Shape:
        (N, C, H, W) -> (N, C, H_out, W_out), H_out = floor((H + 2 padding - dilation (k - 1) - 1) / stride + 1).
    """

    def __init__(
        self, kernel_size: _IntPair, stride: _IntPair | None = None, padding: _IntPair = 0, dilation: _IntPair = 1,
        return_indices: bool = False, ceil_mode: bool = False,
    ):
        super().__init__()
        _check_window("MaxPool2d", kernel_size, stride, padding)
        as_pair("MaxPool2d", "dilation", dilation)
        _unsupported("MaxPool2d", return_indices=return_indices, ceil_mode=ceil_mode)
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.dilation = dilation
        self.return_indices = return_indices
        self.ceil_mode = ceil_mode

    def forward(self, input: Tensor) -> Tensor:
        return F.max_pool2d(input, self.kernel_size, self.stride, self.padding, self.dilation)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class AvgPool2d(Module):
    """Mean over sliding windows.

    Args:
        kernel_size: window size, an int or a pair.
        stride: window step; default ``kernel_size``.
        padding: implicit zero padding on each side (at most half the kernel). Default: 0.
        ceil_mode: must be ``False`` (not supported).
        count_include_pad: count the padding zeros in the mean's divisor. Default: ``True``.
        divisor_override: if given, the divisor instead of the window size.

    Shape:
        (N, C, H, W) -> (N, C, H_out, W_out), H_out = floor((H + 2 padding - k) / stride + 1).
    """

    def __init__(
        self, kernel_size: _IntPair, stride: _IntPair | None = None, padding: _IntPair = 0, ceil_mode: bool = False,
        count_include_pad: bool = True, divisor_override: int | None = None,
    ):
        super().__init__()
        _check_window("AvgPool2d", kernel_size, stride, padding)
        _unsupported("AvgPool2d", ceil_mode=ceil_mode)
        if divisor_override is not None:
            as_int("AvgPool2d", "divisor_override", divisor_override)
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.ceil_mode = ceil_mode
        self.count_include_pad = count_include_pad
        self.divisor_override = divisor_override

    def forward(self, input: Tensor) -> Tensor:
        return F.avg_pool2d(input, self.kernel_size, self.stride, self.padding, self.ceil_mode, self.count_include_pad, self.divisor_override)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AdaptiveAvgPool2d(Module):
    """Average pooling to a fixed output size, whatever the input size.

    Args:
        output_size: ``H_out`` for a square output, or ``(H_out, W_out)``; ``None`` in the
            pair keeps that input dim.

    Shape:
        (N, C, H, W) -> (N, C, H_out, W_out)
    """

    def __init__(self, output_size: Any):
        super().__init__()
        sizes = output_size if isinstance(output_size, (tuple, list)) else (output_size, output_size)
        if len(sizes) != 2:
            raise ValueError(f"AdaptiveAvgPool2d: output_size must be an int or a pair, got {output_size!r}")
        for size in sizes:
            if size is not None:
                as_int("AdaptiveAvgPool2d", "output_size", size)
        self.output_size = output_size

    def forward(self, input: Tensor) -> Tensor:
        return F.adaptive_avg_pool2d(input, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"
