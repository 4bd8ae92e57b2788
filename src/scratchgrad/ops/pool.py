"""Max and average pooling over 2-D windows, as Functions over the kernels of ``kernels/pool.py``.

The scatter and gather Functions are each other's gradient, so pooling is differentiable to any order.
"""
from __future__ import annotations

from typing import Any

from ..autograd.function import Context, Function
from ..kernels import pool
from ..kernels.geometry import ConvGeometry
from ..tensor import Tensor


class MaxPool2d(Function):
    @staticmethod
    def forward(ctx: Context, x: Tensor, geometry: ConvGeometry) -> Any:
        ctx.input_shape, ctx.geometry = x.shape, geometry
        if pool.tiles_input(geometry):  # the selection is worked out in backward, from the input and the output
            ctx.save_for_backward(x)
            ctx.save_output()
            return pool.block_max(x.array, geometry)
        best, ctx.selection = pool.max_with_taps(x.array, geometry)
        return best

    @staticmethod
    def backward(ctx: Context, grad: Tensor) -> Any:
        if pool.tiles_input(ctx.geometry):
            (x,) = ctx.saved_tensors
            selection = pool.BlockSelection(x.array, ctx.output.array, ctx.geometry)
        else:
            selection = ctx.selection
        return SelectScatter.apply(grad, ctx.input_shape, selection), None


class SelectScatter(Function):
    """Each value goes back to the input position its output took."""

    @staticmethod
    def forward(ctx: Context, values: Tensor, shape: tuple[int, ...], selection: Any) -> Any:
        ctx.selection = selection
        return selection.scatter(values.array, shape)

    @staticmethod
    def backward(ctx: Context, grad: Tensor) -> Any:
        return SelectGather.apply(grad, ctx.selection), None, None


class SelectGather(Function):
    """For each output position, the input value at the position it took."""

    @staticmethod
    def forward(ctx: Context, x: Tensor, selection: Any) -> Any:
        ctx.shape, ctx.selection = x.shape, selection
        return selection.gather(x.array)

    @staticmethod
    def backward(ctx: Context, grad: Tensor) -> Any:
        return SelectScatter.apply(grad, ctx.shape, ctx.selection), None


class AvgPool2d(Function):
    """Window sums times ``scale`` (1 / divisor per output position)."""

    @staticmethod
    def forward(ctx: Context, x: Tensor, geometry: ConvGeometry, scale: Any) -> Any:
        ctx.meta = (x.shape, geometry, scale)
        return pool.gather(x.array, lambda tap: 1, geometry) * scale

    @staticmethod
    def backward(ctx: Context, grad: Tensor) -> Any:
        shape, geometry, scale = ctx.meta
        return AvgPoolScatter.apply(grad, shape, geometry, scale), None, None


class AvgPoolScatter(Function):
    @staticmethod
    def forward(ctx: Context, values: Tensor, shape: tuple[int, ...], geometry: ConvGeometry, scale: Any) -> Any:
        ctx.meta = (geometry, scale)
        return pool.scatter(values.array * scale, lambda tap: 1, shape, geometry, like=values.array)

    @staticmethod
    def backward(ctx: Context, grad: Tensor) -> Any:
        geometry, scale = ctx.meta
        return AvgPool2d.apply(grad, geometry, scale), None, None, None
