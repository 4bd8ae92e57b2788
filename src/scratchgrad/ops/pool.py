"""Max and average pooling over 2-D windows.

Both are built on one idea: a pooling window is a set of kernel taps, and tap (i, j) reads
a strided slice of the padded input (``ConvGeometry.window``). Forward reduces over taps;
backward adds each tap's share back with one strided add per tap (never ``np.add.at``).
The scatter and gather Functions are each other's gradient, so pooling is differentiable
to any order.
"""
from __future__ import annotations

from typing import Any

from ..autograd.function import Context, Function
from ..backend import get_array_module
from ..tensor import Tensor
from .conv import ConvGeometry


def _padded(x: Any, geometry: ConvGeometry, fill: float) -> Any:
    (ph, pw) = geometry.padding
    if not (ph or pw):
        return x
    return get_array_module(x).pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=fill)


def _taps(geometry: ConvGeometry) -> list[tuple[int, tuple[slice, slice]]]:
    kh, kw = geometry.kernel_hw
    return [(i * kw + j, geometry.window(i, j)) for i in range(kh) for j in range(kw)]


def _scatter(values: Any, weight_of_tap: Any, shape: tuple[int, ...], geometry: ConvGeometry) -> Any:
    """Sum ``values * weight_of_tap(k)`` back onto the input positions each tap k read."""
    xp = get_array_module(values)
    hp, wp = geometry.padded_hw
    out = xp.zeros(shape[:2] + (hp, wp), dtype=values.dtype)
    for tap, (rows, columns) in _taps(geometry):
        out[:, :, rows, columns] += values * weight_of_tap(tap)
    (ph, pw) = geometry.padding
    return out[:, :, ph : hp - ph, pw : wp - pw]


def _gather(x: Any, weight_of_tap: Any, geometry: ConvGeometry) -> Any:
    """Sum over taps of ``x[tap window] * weight_of_tap(k)`` (the adjoint of ``_scatter``)."""
    padded = _padded(x, geometry, 0.0)
    return sum(padded[:, :, rows, columns] * weight_of_tap(tap) for tap, (rows, columns) in _taps(geometry))


class MaxPool2d(Function):
    @staticmethod
    def forward(ctx: Context, x: Tensor, geometry: ConvGeometry) -> Any:
        xp = x.xp
        padded = _padded(x.data, geometry, -xp.inf)
        taps = _taps(geometry)
        rows, columns = taps[0][1]
        best = padded[:, :, rows, columns].copy()
        best_tap = xp.zeros(best.shape, dtype=xp.int16)
        for tap, (rows, columns) in taps[1:]:
            candidate = padded[:, :, rows, columns]
            better = candidate > best  # strict: the first maximal tap wins, as in PyTorch
            xp.copyto(best, candidate, where=better)
            best_tap[better] = tap
        ctx.meta = (x.shape, geometry, best_tap)
        return best

    @staticmethod
    def backward(ctx: Context, grad: Tensor) -> Any:
        return TapScatter.apply(grad, *ctx.meta), None


class TapScatter(Function):
    """Each value goes back to the input position of its selected tap."""

    @staticmethod
    def forward(ctx: Context, values: Tensor, shape: tuple[int, ...], geometry: ConvGeometry, taps: Any) -> Any:
        ctx.meta = (geometry, taps)
        return _scatter(values.data, lambda tap: taps == tap, shape, geometry)

    @staticmethod
    def backward(ctx: Context, grad: Tensor) -> Any:
        return TapGather.apply(grad, *ctx.meta), None, None, None


class TapGather(Function):
    """For each output position, the input value at its selected tap."""

    @staticmethod
    def forward(ctx: Context, x: Tensor, geometry: ConvGeometry, taps: Any) -> Any:
        ctx.meta = (x.shape, geometry, taps)
        return _gather(x.data, lambda tap: taps == tap, geometry)

    @staticmethod
    def backward(ctx: Context, grad: Tensor) -> Any:
        shape, geometry, taps = ctx.meta
        return TapScatter.apply(grad, shape, geometry, taps), None, None


class AvgPool2d(Function):
    """Window sums times ``scale`` (1 / divisor per output position)."""

    @staticmethod
    def forward(ctx: Context, x: Tensor, geometry: ConvGeometry, scale: Any) -> Any:
        ctx.meta = (x.shape, geometry, scale)
        return _gather(x.data, lambda tap: 1, geometry) * scale

    @staticmethod
    def backward(ctx: Context, grad: Tensor) -> Any:
        shape, geometry, scale = ctx.meta
        return AvgPoolScatter.apply(grad, shape, geometry, scale), None, None


class AvgPoolScatter(Function):
    @staticmethod
    def forward(ctx: Context, values: Tensor, shape: tuple[int, ...], geometry: ConvGeometry, scale: Any) -> Any:
        ctx.meta = (geometry, scale)
        return _scatter(values.data * scale, lambda tap: 1, shape, geometry)

    @staticmethod
    def backward(ctx: Context, grad: Tensor) -> Any:
        geometry, scale = ctx.meta
        return AvgPool2d.apply(grad, geometry, scale), None, None, None


def avg_pool_scale(geometry: ConvGeometry, count_include_pad: bool, divisor_override: int | None, xp: Any, dtype: Any) -> Any:
    """1 / (number of elements averaged) per output position, shape (Hout, Wout) or a scalar."""
    kh, kw = geometry.kernel_hw
    if divisor_override:
        return dtype.type(1.0 / divisor_override)
    if count_include_pad or geometry.padding == (0, 0):
        return dtype.type(1.0 / (kh * kw))
    ones = xp.ones((1, 1) + geometry.input_hw, dtype=dtype)
    return (1.0 / _gather(ones, lambda tap: 1, geometry)[0, 0]).astype(dtype)
