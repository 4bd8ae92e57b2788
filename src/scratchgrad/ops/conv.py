"""2-D convolution by im2col + GEMM, as three bilinear Functions that differentiate into each other.

``y = conv(x, w)``, ``gx = conv_input_grad(gy, w)`` and ``gw = conv_weight_grad(x, gy)`` are each
linear in both arguments, and the gradient of any one of them is made of the other two, so
convolution is differentiable to any order without extra code.

The array kernels (``_im2col``, ``_col2im``) are the boundary the speed work replaces; the
Functions above them only move shapes around.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..autograd.function import Context, Function
from ..backend import get_array_module
from ..tensor import Tensor


@dataclass(frozen=True)
class ConvGeometry:
    """Everything about a convolution except the data: (height, width) pairs and groups."""

    input_hw: tuple[int, int]
    kernel_hw: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]
    dilation: tuple[int, int]
    groups: int

    @property
    def output_hw(self) -> tuple[int, int]:
        return tuple(
            (n + 2 * p - d * (k - 1) - 1) // s + 1
            for n, k, s, p, d in zip(self.input_hw, self.kernel_hw, self.stride, self.padding, self.dilation)
        )

    @property
    def padded_hw(self) -> tuple[int, int]:
        return tuple(n + 2 * p for n, p in zip(self.input_hw, self.padding))

    def window(self, i: int, j: int) -> tuple[slice, slice]:
        """Positions of the padded input that kernel tap (i, j) reads, one per output pixel."""
        (oh, ow), (sh, sw), (dh, dw) = self.output_hw, self.stride, self.dilation
        return slice(i * dh, i * dh + sh * (oh - 1) + 1, sh), slice(j * dw, j * dw + sw * (ow - 1) + 1, sw)


def _im2col(x: Any, geometry: ConvGeometry) -> Any:
    """(N, C, H, W) -> (G, C/G * kh * kw, N * Hout * Wout): each column is one receptive field."""
    xp = get_array_module(x)
    n, c = x.shape[:2]
    (kh, kw), (oh, ow), (ph, pw), g = geometry.kernel_hw, geometry.output_hw, geometry.padding, geometry.groups
    if ph or pw:
        x = xp.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    cols = xp.empty((c, kh, kw, n, oh, ow), dtype=x.dtype)
    for i in range(kh):
        for j in range(kw):
            rows, columns = geometry.window(i, j)
            cols[:, i, j] = x[:, :, rows, columns].transpose(1, 0, 2, 3)
    return cols.reshape(g, (c // g) * kh * kw, n * oh * ow)


def _col2im(cols: Any, n: int, c: int, geometry: ConvGeometry) -> Any:
    """The adjoint of ``_im2col``: sums every column back onto the input pixels it came from."""
    xp = get_array_module(cols)
    (kh, kw), (oh, ow), (ph, pw) = geometry.kernel_hw, geometry.output_hw, geometry.padding
    cols = cols.reshape(c, kh, kw, n, oh, ow)
    hp, wp = geometry.padded_hw
    x = xp.zeros((n, c, hp, wp), dtype=cols.dtype)
    for i in range(kh):
        for j in range(kw):
            rows, columns = geometry.window(i, j)
            x[:, :, rows, columns] += cols[:, i, j].transpose(1, 0, 2, 3)
    return x[:, :, ph : hp - ph, pw : wp - pw]


def _grouped_weight(w: Any, groups: int) -> Any:
    """(C_out, C_in/G, kh, kw) -> (G, C_out/G, C_in/G * kh * kw)."""
    return w.reshape(groups, w.shape[0] // groups, -1)


def _output_from_gemm(out: Any, n: int, geometry: ConvGeometry) -> Any:
    """(G, C_out/G, N * Hout * Wout) -> (N, C_out, Hout, Wout)."""
    oh, ow = geometry.output_hw
    return out.reshape(-1, n, oh, ow).transpose(1, 0, 2, 3)


def _gemm_from_output(y: Any, geometry: ConvGeometry) -> Any:
    """(N, C_out, Hout, Wout) -> (G, C_out/G, N * Hout * Wout)."""
    n, c_out = y.shape[:2]
    return y.transpose(1, 0, 2, 3).reshape(geometry.groups, c_out // geometry.groups, -1)


class Conv2d(Function):
    """y = conv(x, w): (N, C_in, H, W), (C_out, C_in/G, kh, kw) -> (N, C_out, Hout, Wout)."""

    @staticmethod
    def forward(ctx: Context, x: Tensor, w: Tensor, geometry: ConvGeometry) -> Any:
        ctx.save_for_backward(x if ctx.needs_input_grad[1] else None, w if ctx.needs_input_grad[0] else None)
        ctx.geometry = geometry
        out = _grouped_weight(w.data, geometry.groups) @ _im2col(x.data, geometry)
        return x.xp.ascontiguousarray(_output_from_gemm(out, x.shape[0], geometry))

    @staticmethod
    def backward(ctx: Context, grad: Tensor) -> Any:
        x, w = ctx.saved_tensors
        grad_x = Conv2dInputGrad.apply(grad, w, ctx.geometry) if w is not None else None
        grad_w = Conv2dWeightGrad.apply(x, grad, ctx.geometry) if x is not None else None
        return grad_x, grad_w, None


class Conv2dInputGrad(Function):
    """gx = conv_input_grad(gy, w): the transposed convolution, back to the input's shape."""

    @staticmethod
    def forward(ctx: Context, grad_y: Tensor, w: Tensor, geometry: ConvGeometry) -> Any:
        ctx.save_for_backward(grad_y if ctx.needs_input_grad[1] else None, w if ctx.needs_input_grad[0] else None)
        ctx.geometry = geometry
        w_gemm = _grouped_weight(w.data, geometry.groups)
        cols = w_gemm.transpose(0, 2, 1) @ _gemm_from_output(grad_y.data, geometry)
        return _col2im(cols, grad_y.shape[0], w.shape[1] * geometry.groups, geometry)

    @staticmethod
    def backward(ctx: Context, grad: Tensor) -> Any:
        grad_y, w = ctx.saved_tensors
        grad_grad_y = Conv2d.apply(grad, w, ctx.geometry) if w is not None else None
        grad_w = Conv2dWeightGrad.apply(grad, grad_y, ctx.geometry) if grad_y is not None else None
        return grad_grad_y, grad_w, None


class Conv2dWeightGrad(Function):
    """gw = conv_weight_grad(x, gy): the correlation of inputs with output gradients."""

    @staticmethod
    def forward(ctx: Context, x: Tensor, grad_y: Tensor, geometry: ConvGeometry) -> Any:
        ctx.save_for_backward(x if ctx.needs_input_grad[1] else None, grad_y if ctx.needs_input_grad[0] else None)
        ctx.geometry = geometry
        gw = _gemm_from_output(grad_y.data, geometry) @ _im2col(x.data, geometry).transpose(0, 2, 1)
        kh, kw = geometry.kernel_hw
        return gw.reshape(grad_y.shape[1], x.shape[1] // geometry.groups, kh, kw)

    @staticmethod
    def backward(ctx: Context, grad: Tensor) -> Any:
        x, grad_y = ctx.saved_tensors
        grad_x = Conv2dInputGrad.apply(grad_y, grad, ctx.geometry) if grad_y is not None else None
        grad_grad_y = Conv2d.apply(x, grad, ctx.geometry) if x is not None else None
        return grad_x, grad_grad_y, None
