"""``Conv2d`` and ``ConvTranspose2d``: 2-D convolution (cross-correlation) over an (N, C, H, W) input, and its transpose."""
from __future__ import annotations

from typing import Any

from ... import creation
from ...tensor import Tensor
from .. import functional as F
from ..parameter import Parameter
from ._args import as_int, as_pair, check_choice
from .linear import reset_weight_and_bias
from .module import Module

_PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


class Conv2d(Module):
    """2-D convolution with learnable filters.

    Args:
        in_channels: channels of the input.
        out_channels: channels produced (number of filters).
        kernel_size: an int or an ``(kH, kW)`` pair.
        stride: step of the sliding window. Default: 1.
        padding: zeros (or ``padding_mode`` values) added on each side: an int, a pair,
            ``'valid'`` (none) or ``'same'`` (output size = input size; stride 1 only).
        dilation: spacing between kernel elements. Default: 1.
        groups: blocked connections; both channel counts must be divisible by it.
        bias: learn an additive bias. Default: ``True``.
        padding_mode: ``'zeros'``, ``'reflect'``, ``'replicate'`` or ``'circular'`` (see ``F.pad``).

    Shape:
        (N, C_in, H, W) -> (N, C_out, H_out, W_out), or (C_in, H, W) -> (C_out, H_out, W_out),
        with H_out = floor((H + 2 padding - dilation (kH - 1) - 1) / stride + 1).

    Weight ``(out_channels, in_channels / groups, kH, kW)`` and bias ``(out_channels,)`` are
    drawn as in PyTorch: U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = in_channels / groups * kH * kW.
    """

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int | tuple[int, int], stride: int | tuple[int, int] = 1,
        padding: str | int | tuple[int, int] = 0, dilation: int | tuple[int, int] = 1, groups: int = 1, bias: bool = True,
        padding_mode: str = "zeros", device: Any = None, dtype: Any = None,
    ):
        super().__init__()
        name = type(self).__name__
        self.in_channels, self.out_channels, self.groups = _channels(name, in_channels, out_channels, groups)
        self.kernel_size = as_pair(name, "kernel_size", kernel_size)
        self.stride = as_pair(name, "stride", stride)
        self.dilation = as_pair(name, "dilation", dilation)
        self.padding = self._check_padding(name, padding)
        check_choice(name, "padding_mode", padding_mode, _PADDING_MODES)
        self.padding_mode = padding_mode
        self.transposed = False
        self.output_padding = (0, 0)
        self._reversed_padding_repeated_twice = self._explicit_padding()
        shape = (self.out_channels, self.in_channels // self.groups, *self.kernel_size)
        self.weight = Parameter(creation.empty(*shape, device=device, dtype=dtype))
        if bias:
            self.bias = Parameter(creation.empty(self.out_channels, device=device, dtype=dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def _check_padding(self, name: str, padding: Any) -> str | tuple[int, int]:
        if isinstance(padding, str):
            check_choice(name, "padding", padding, ("valid", "same"))
            if padding == "same" and self.stride != (1, 1):
                raise ValueError(f"{name}: padding='same' is not supported for strided convolutions, got stride={self.stride}")
            return padding
        return as_pair(name, "padding", padding, minimum=0)

    def _explicit_padding(self) -> tuple[int, int, int, int]:
        """(left, right, top, bottom), the order ``F.pad`` takes; 'same' puts any odd pixel last, as PyTorch."""
        if self.padding == "valid":
            return (0, 0, 0, 0)
        if self.padding == "same":
            widths: list[int] = []
            for k, d in zip(reversed(self.kernel_size), reversed(self.dilation)):
                total = d * (k - 1)
                widths += [total // 2, total - total // 2]
            return tuple(widths)  # type: ignore[return-value]
        ph, pw = self.padding
        return (pw, pw, ph, ph)

    def reset_parameters(self) -> None:
        reset_weight_and_bias(self.weight, self.bias)

    def forward(self, input: Tensor) -> Tensor:
        if self.padding_mode != "zeros":
            padded = F.pad(input, self._reversed_padding_repeated_twice, mode=self.padding_mode)
            return F.conv2d(padded, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)
        return F.conv2d(input, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)

    def extra_repr(self) -> str:
        return _conv_repr(self, padding=(0, 0), dilation=(1, 1), groups=1, bias=True, padding_mode="zeros")


class ConvTranspose2d(Module):
    """2-D transposed convolution (the gradient of :class:`Conv2d` with respect to its input,
    sometimes called a fractionally-strided convolution or "deconvolution").

    Args:
        in_channels: channels of the input.
        out_channels: channels produced.
        kernel_size: an int or an ``(kH, kW)`` pair.
        stride: the stride of the convolution this one transposes. Default: 1.
        padding: ``dilation * (kernel_size - 1) - padding`` zeros are added on each side of
            the input (an int or a pair). Default: 0.
        output_padding: extra rows/columns at the end of the output, smaller than the stride
            or the dilation; it resolves the output size a strided convolution leaves open. Default: 0.
        groups: blocked connections. Default: 1.
        bias: learn an additive bias. Default: ``True``.
        dilation: spacing between kernel elements. Default: 1.
        padding_mode: only ``'zeros'``, as in PyTorch.

    Shape:
        (N, C_in, H, W) -> (N, C_out, H_out, W_out), H_out = (H - 1) stride - 2 padding +
        dilation (kH - 1) + output_padding + 1 (``forward``'s ``output_size`` may choose it instead).

    Weight ``(in_channels, out_channels / groups, kH, kW)`` and bias ``(out_channels,)`` are
    drawn as in PyTorch, with fan_in = out_channels / groups * kH * kW (the weight's dim 1).
    """

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int | tuple[int, int], stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] = 0, output_padding: int | tuple[int, int] = 0, groups: int = 1, bias: bool = True,
        dilation: int | tuple[int, int] = 1, padding_mode: str = "zeros", device: Any = None, dtype: Any = None,
    ):
        super().__init__()
        name = type(self).__name__
        self.in_channels, self.out_channels, self.groups = _channels(name, in_channels, out_channels, groups)
        if padding_mode != "zeros":
            raise ValueError(f'{name}: only "zeros" padding mode is supported, got padding_mode={padding_mode!r}')
        self.kernel_size = as_pair(name, "kernel_size", kernel_size)
        self.stride = as_pair(name, "stride", stride)
        self.padding = as_pair(name, "padding", padding, minimum=0)
        self.output_padding = as_pair(name, "output_padding", output_padding, minimum=0)
        self.dilation = as_pair(name, "dilation", dilation)
        self.padding_mode = padding_mode
        self.transposed = True
        shape = (self.in_channels, self.out_channels // self.groups, *self.kernel_size)
        self.weight = Parameter(creation.empty(*shape, device=device, dtype=dtype))
        if bias:
            self.bias = Parameter(creation.empty(self.out_channels, device=device, dtype=dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        reset_weight_and_bias(self.weight, self.bias)

    def _output_padding(self, input: Tensor, output_size: Any) -> tuple[int, int]:
        """The output padding that gives ``output_size`` (its last two entries), as PyTorch checks it."""
        if output_size is None:
            return self.output_padding
        size = list(output_size)[-2:]
        extra = []
        for n, want, k, s, p, d in zip(input.shape[-2:], size, self.kernel_size, self.stride, self.padding, self.dilation):
            smallest = (n - 1) * s - 2 * p + d * (k - 1) + 1
            if not smallest <= want < smallest + s:
                raise ValueError(f"{type(self).__name__}: requested an output size of {tuple(size)}, but valid sizes range from "
                                 f"{smallest} to {smallest + s - 1} (for an input of {tuple(input.shape[-2:])})")
            extra.append(want - smallest)
        return tuple(extra)  # type: ignore[return-value]

    def forward(self, input: Tensor, output_size: Any = None) -> Tensor:
        return F.conv_transpose2d(input, self.weight, self.bias, self.stride, self.padding,
                                  self._output_padding(input, output_size), self.groups, self.dilation)

    def extra_repr(self) -> str:
        return _conv_repr(self, padding=(0, 0), output_padding=(0, 0), dilation=(1, 1), groups=1, bias=True)


def _channels(name: str, in_channels: Any, out_channels: Any, groups: Any) -> tuple[int, int, int]:
    """(in_channels, out_channels, groups) checked: counts >= 0, both divisible by groups."""
    counts = as_int(name, "in_channels", in_channels, minimum=0), as_int(name, "out_channels", out_channels, minimum=0)
    groups = as_int(name, "groups", groups)
    for arg, channels in zip(("in_channels", "out_channels"), counts):
        if channels % groups:
            raise ValueError(f"{name}: {arg} must be divisible by groups, got {arg}={channels}, groups={groups}")
    return (*counts, groups)


def _conv_repr(layer: Module, **defaults: Any) -> str:
    """torch's repr of a conv layer: channels, kernel and stride, then each setting (in ``defaults``'
    order) that is not at its default; ``bias`` stands for whether the layer has one."""
    text = f"{layer.in_channels}, {layer.out_channels}, kernel_size={layer.kernel_size}, stride={layer.stride}"
    for name, default in defaults.items():
        value = layer.bias is not None if name == "bias" else getattr(layer, name)
        text += f", {name}={value}" if value != default else ""
    return text
