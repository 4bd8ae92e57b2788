"""2-D convolution as three bilinear Functions that differentiate into each other.

``y = conv(x, w)``, ``gx = conv_input_grad(gy, w)`` and ``gw = conv_weight_grad(x, gy)`` are each
linear in both arguments, and the gradient of any one of them is made of the other two, so
convolution is differentiable to any order without extra code.

Below the Functions, a kernel (``kernels/conv.py``) computes the three products on arrays:
im2col + GEMM for any geometry, and Winograd F(2x2, 3x3) (``kernels/winograd.py``, 2.25x fewer
multiplies) for 3x3 stride-1 layers with enough channels; F(4x4, 3x3) is there too, off by
default. ``backends/conv.py`` chooses the kernel of each layer (``scratchgrad.backends.conv.algorithm``).

The kernels work in (H, W, N, C) memory order, and outputs are handed out as
(N, C, H, W)-shaped views of that memory: ``Tensor.array`` of a conv output is not
C-contiguous (every op accepts any strides), and the next conv, BatchNorm and max-pool get
their layout for free; other inputs are copied once. A first-order backward computes both
gradients in one call that shares the transformed output gradient; with ``create_graph=True``
the gradients are the Functions themselves, so that they can be differentiated again.
"""
from __future__ import annotations

from typing import Any

from ..autograd.function import Context, Function
from ..backends.conv import kernel_for
from ..grad_mode import is_grad_enabled
from ..kernels.geometry import ConvGeometry
from ..tensor import Tensor


def spatial_major(x: Any) -> Any:
    """(N, C, H, W) -> an (H, W, N, C) view, and back: the permutation is its own inverse."""
    return x.transpose(2, 3, 0, 1)


class Conv2d(Function):
    """y = conv(x, w) + bias: (N, C_in, H, W), (C_out, C_in/G, kh, kw), (C_out,) or None -> (N, C_out, Hout, Wout).

    The bias is added in place to the fresh output, which saves a pass and a temporary.
    """

    @staticmethod
    def forward(ctx: Context, x: Tensor, w: Tensor, bias: Tensor | None, geometry: ConvGeometry) -> Any:
        ctx.save_for_backward(x if ctx.needs_input_grad[1] else None, w if ctx.needs_input_grad[0] else None)
        ctx.geometry, ctx.kernel = geometry, kernel_for(geometry, x.shape[1], w.shape[0])
        y = ctx.kernel.forward(spatial_major(x.array), w.array, keep_input=ctx.needs_input_grad[1])
        if bias is not None:
            y += bias.array  # channels are y's last axis
        return spatial_major(y)

    @staticmethod
    def backward(ctx: Context, grad: Tensor) -> Any:
        x, w = ctx.saved_tensors
        grad_bias = _channel_sums(grad) if ctx.needs_input_grad[2] else None
        if is_grad_enabled():  # create_graph: gradients that can be differentiated again
            grad_x = Conv2dInputGrad.apply(grad, w, ctx.geometry) if w is not None else None
            grad_w = Conv2dWeightGrad.apply(x, grad, ctx.geometry) if x is not None else None
            return grad_x, grad_w, grad_bias, None
        grad_x, grad_w = ctx.kernel.backward(
            None if x is None else spatial_major(x.array), None if w is None else w.array, spatial_major(grad.array)
        )
        return (None if grad_x is None else spatial_major(grad_x)), grad_w, grad_bias, None


def _channel_sums(grad: Tensor) -> Tensor:
    """Sum over every dim but the channels; on arrays in two stages (images, then pixels),
    so that no running sum grows long."""
    if is_grad_enabled():
        return grad.sum((0, 2, 3))
    g = spatial_major(grad.array)
    return Tensor(g.reshape(-1, g.shape[2], g.shape[3]).sum(axis=1).sum(axis=0))


class Conv2dInputGrad(Function):
    """gx = conv_input_grad(gy, w): the transposed convolution, back to the input's shape."""

    @staticmethod
    def forward(ctx: Context, grad_y: Tensor, w: Tensor, geometry: ConvGeometry) -> Any:
        ctx.save_for_backward(grad_y if ctx.needs_input_grad[1] else None, w if ctx.needs_input_grad[0] else None)
        ctx.geometry = geometry
        kernel = kernel_for(geometry, w.shape[1] * geometry.groups, w.shape[0])
        return spatial_major(kernel.input_grad(spatial_major(grad_y.array), w.array))

    @staticmethod
    def backward(ctx: Context, grad: Tensor) -> Any:
        grad_y, w = ctx.saved_tensors
        grad_grad_y = Conv2d.apply(grad, w, None, ctx.geometry) if w is not None else None
        grad_w = Conv2dWeightGrad.apply(grad, grad_y, ctx.geometry) if grad_y is not None else None
        return grad_grad_y, grad_w, None


class Conv2dWeightGrad(Function):
    """gw = conv_weight_grad(x, gy): the correlation of inputs with output gradients."""

    @staticmethod
    def forward(ctx: Context, x: Tensor, grad_y: Tensor, geometry: ConvGeometry) -> Any:
        ctx.save_for_backward(x if ctx.needs_input_grad[1] else None, grad_y if ctx.needs_input_grad[0] else None)
        ctx.geometry = geometry
        kernel = kernel_for(geometry, x.shape[1], grad_y.shape[1])
        return kernel.weight_grad(spatial_major(x.array), spatial_major(grad_y.array))

    @staticmethod
    def backward(ctx: Context, grad: Tensor) -> Any:
        x, grad_y = ctx.saved_tensors
        grad_x = Conv2dInputGrad.apply(grad_y, grad, ctx.geometry) if grad_y is not None else None
        grad_grad_y = Conv2d.apply(x, grad, None, ctx.geometry) if x is not None else None
        return grad_x, grad_grad_y, None
