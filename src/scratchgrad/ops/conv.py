"""2-D convolution as three bilinear Functions that differentiate into each other.

``y = conv(x, w)``, ``gx = conv_input_grad(gy, w)`` and ``gw = conv_weight_grad(x, gy)`` are each
linear in both arguments, and the gradient of any one of them is made of the other two, so
convolution is differentiable to any order without extra code.

Below the Functions, a kernel computes the three products on arrays. Two kernels exist:
im2col + one GEMM for any geometry, and Winograd F(2x2, 3x3) (``winograd.py``, 2.25x fewer
multiplies) for 3x3 stride-1 layers with enough channels. Both work in *batch-last* layout
(C, H, W, N): a GEMM contracting channels against (pixels x batch) columns then writes its
result directly in that layout, with no transpose, and outputs are handed out as
(N, C, H, W)-shaped views of it. ``Tensor.data`` of a conv output is therefore not
C-contiguous (every op accepts any strides), and the next conv gets its batch-last input
for free. A first-order backward computes both gradients in one call that shares the
transformed output gradient; with ``create_graph=True`` the gradients are the Functions
themselves, so that they can be differentiated again.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..autograd.function import Context, Function
from ..autograd.grad_mode import is_grad_enabled
from ..backend import get_array_module
from ..tensor import Tensor
from . import winograd, workspace
from .threads import for_channel_blocks

WINOGRAD_MIN_CHANNELS = 16  # below this the GEMMs are too thin for the transforms to pay off


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


def batch_last(x: Any) -> Any:
    """(N, C, H, W) -> a (C, H, W, N) view."""
    return x.transpose(1, 2, 3, 0)


def batch_first(x: Any) -> Any:
    """(C, H, W, N) -> a (N, C, H, W) view."""
    return x.transpose(3, 0, 1, 2)


def _pad_hw(x: Any, padding: tuple[int, int]) -> Any:
    """Zero-pad H and W of a batch-last (C, H, W, N) array."""
    (ph, pw), (c, h, w, n) = padding, x.shape
    if not (ph or pw):
        return x
    out = get_array_module(x).zeros((c, h + 2 * ph, w + 2 * pw, n), dtype=x.dtype)
    out[:, ph : ph + h, pw : pw + w] = x
    return out


class Im2colKernel:
    """Any geometry: receptive fields as columns, one GEMM per group. Like ``WinogradKernel``,
    it can keep the columns of ``forward`` for the weight gradient."""

    def __init__(self, geometry: ConvGeometry):
        self.geometry = geometry
        g = geometry
        self.pointwise = g.kernel_hw == (1, 1) and g.stride == (1, 1) and g.padding == (0, 0)
        self.kept_columns: Any = None

    def columns(self, x: Any) -> Any:
        """(C, H, W, N) -> (G, C/G * kh * kw, Hout * Wout * N): each column is one receptive field."""
        g = self.geometry
        xp, c, n = get_array_module(x), x.shape[0], x.shape[3]
        if self.pointwise:
            return x.reshape(g.groups, c // g.groups, -1)
        padded = _pad_hw(x, g.padding)
        (kh, kw), (oh, ow) = g.kernel_hw, g.output_hw
        cols = workspace.take(xp, (c, kh, kw, oh, ow, n), x.dtype)

        def gather(block: slice) -> None:
            for i in range(kh):
                for j in range(kw):
                    rows, columns = g.window(i, j)
                    cols[block, i, j] = padded[block, rows, columns]

        for_channel_blocks(xp, c, cols[:1].nbytes, gather)
        return cols.reshape(g.groups, (c // g.groups) * kh * kw, oh * ow * n)

    def columns_adjoint(self, cols: Any, input_shape: tuple[int, ...]) -> Any:
        """The adjoint of ``columns``: sums every column back onto the input pixels it came from."""
        g = self.geometry
        c, h, w, n = input_shape
        if self.pointwise:
            return cols.reshape(input_shape)
        (kh, kw), (oh, ow), (ph, pw) = g.kernel_hw, g.output_hw, g.padding
        xp, cols = get_array_module(cols), cols.reshape(c, kh, kw, oh, ow, n)
        x = xp.zeros((c, h + 2 * ph, w + 2 * pw, n), dtype=cols.dtype)

        def scatter(block: slice) -> None:
            for i in range(kh):
                for j in range(kw):
                    rows, columns = g.window(i, j)
                    x[block, rows, columns] += cols[block, i, j]

        for_channel_blocks(xp, c, x[:1].nbytes, scatter)
        return x[:, ph : ph + h, pw : pw + w]

    def _gemm_of_output(self, y: Any) -> Any:
        """(C_out, Hout, Wout, N) -> (G, C_out/G, Hout * Wout * N)."""
        return y.reshape(self.geometry.groups, y.shape[0] // self.geometry.groups, -1)

    def forward(self, x: Any, w: Any, keep_input: bool = False) -> Any:
        cols = self.columns(x)
        out = _grouped_weight(w, self.geometry.groups) @ cols
        if keep_input:
            self.kept_columns = cols
        else:
            workspace.give(cols)
        return out.reshape((w.shape[0],) + self.geometry.output_hw + (x.shape[3],))

    def input_grad(self, grad_y: Any, w: Any) -> Any:
        w_t, gy = _grouped_weight(w, self.geometry.groups).transpose(0, 2, 1), self._gemm_of_output(grad_y)
        shape = (w.shape[1] * self.geometry.groups,) + self.geometry.input_hw + (grad_y.shape[3],)
        if self.pointwise:  # the columns are the gradient itself
            return self.columns_adjoint(w_t @ gy, shape)
        cols = _matmul(w_t, gy)
        grad_x = self.columns_adjoint(cols, shape)
        workspace.give(cols)
        return grad_x

    def weight_grad(self, x: Any, grad_y: Any) -> Any:
        cols, self.kept_columns = self.kept_columns, None
        cols = self.columns(x) if cols is None else cols
        gw = self._gemm_of_output(grad_y) @ cols.transpose(0, 2, 1)
        workspace.give(cols)
        return gw.reshape((grad_y.shape[0], x.shape[0] // self.geometry.groups) + self.geometry.kernel_hw)

    def backward(self, x: Any | None, w: Any | None, grad_y: Any) -> tuple[Any, Any]:
        grad_y = get_array_module(grad_y).ascontiguousarray(grad_y)  # reshaped twice below: copy once
        return (None if w is None else self.input_grad(grad_y, w)), (None if x is None else self.weight_grad(x, grad_y))


class WinogradKernel:
    """3x3, stride 1, no dilation, no groups: Winograd F(2x2, 3x3) (see ``winograd.py``).

    It keeps the transformed weight of ``forward`` for the input gradient, and the
    transformed input when asked to, for the weight gradient (dropped once used).
    """

    def __init__(self, geometry: ConvGeometry):
        self.geometry = geometry
        self.tiles = winograd.tiles(geometry.output_hw)
        self.transformed_weight: Any = None
        self.transformed_input: Any = None

    def _u(self, w: Any) -> Any:
        if self.transformed_weight is None:
            self.transformed_weight = winograd.filter_transform(w)
        return self.transformed_weight

    def _v(self, x: Any) -> Any:
        return winograd.input_transform(x, self.geometry.padding, *self.tiles)

    def forward(self, x: Any, w: Any, keep_input: bool = False) -> Any:
        v, u = self._v(x), self._u(w)
        m = _matmul(u, v)
        y = winograd.output_transform(m, w.shape[0], *self.tiles, self.geometry.output_hw)
        workspace.give(m)
        if keep_input:
            self.transformed_input = v
        else:
            workspace.give(v)
        return y

    def input_grad(self, grad_y: Any, w: Any, dm: Any = None) -> Any:
        own_dm = dm is None
        dm = winograd.output_transform_adjoint(grad_y, *self.tiles) if own_dm else dm
        dv = _matmul(self._u(w).transpose(0, 2, 1), dm)
        shape = (w.shape[1],) + self.geometry.input_hw + (grad_y.shape[3],)
        grad_x = winograd.input_transform_adjoint(dv, shape, self.geometry.padding, *self.tiles)
        workspace.give(dv, *([dm] if own_dm else []))
        return grad_x

    def weight_grad(self, x: Any, grad_y: Any, dm: Any = None) -> Any:
        own_dm = dm is None
        dm = winograd.output_transform_adjoint(grad_y, *self.tiles) if own_dm else dm
        v, self.transformed_input = self.transformed_input, None
        v = self._v(x) if v is None else v
        grad_w = winograd.filter_transform_adjoint(dm @ v.transpose(0, 2, 1))
        workspace.give(v, *([dm] if own_dm else []))
        return grad_w

    def backward(self, x: Any | None, w: Any | None, grad_y: Any) -> tuple[Any, Any]:
        dm = winograd.output_transform_adjoint(grad_y, *self.tiles)
        grad_x = None if w is None else self.input_grad(grad_y, w, dm)
        grad_w = None if x is None else self.weight_grad(x, grad_y, dm)
        workspace.give(dm)
        return grad_x, grad_w


def _matmul(a: Any, b: Any) -> Any:
    """``a @ b`` (stacks of matrices) into a workspace buffer."""
    xp = get_array_module(a)
    out = workspace.take(xp, a.shape[:-1] + b.shape[-1:], xp.result_type(a, b))
    return xp.matmul(a, b, out=out)


def kernel_for(geometry: ConvGeometry, c_in: int, c_out: int) -> Im2colKernel | WinogradKernel:
    g = geometry
    if (
        g.kernel_hw == (3, 3) and g.stride == (1, 1) and g.dilation == (1, 1) and g.groups == 1
        and min(c_in, c_out) >= WINOGRAD_MIN_CHANNELS
    ):
        return WinogradKernel(g)
    return Im2colKernel(g)


def _grouped_weight(w: Any, groups: int) -> Any:
    """(C_out, C_in/G, kh, kw) -> (G, C_out/G, C_in/G * kh * kw)."""
    return w.reshape(groups, w.shape[0] // groups, -1)


class Conv2d(Function):
    """y = conv(x, w): (N, C_in, H, W), (C_out, C_in/G, kh, kw) -> (N, C_out, Hout, Wout)."""

    @staticmethod
    def forward(ctx: Context, x: Tensor, w: Tensor, geometry: ConvGeometry) -> Any:
        ctx.save_for_backward(x if ctx.needs_input_grad[1] else None, w if ctx.needs_input_grad[0] else None)
        ctx.geometry, ctx.kernel = geometry, kernel_for(geometry, x.shape[1], w.shape[0])
        return batch_first(ctx.kernel.forward(batch_last(x.data), w.data, keep_input=ctx.needs_input_grad[1]))

    @staticmethod
    def backward(ctx: Context, grad: Tensor) -> Any:
        x, w = ctx.saved_tensors
        if is_grad_enabled():  # create_graph: gradients that can be differentiated again
            grad_x = Conv2dInputGrad.apply(grad, w, ctx.geometry) if w is not None else None
            grad_w = Conv2dWeightGrad.apply(x, grad, ctx.geometry) if x is not None else None
            return grad_x, grad_w, None
        grad_x, grad_w = ctx.kernel.backward(
            None if x is None else batch_last(x.data), None if w is None else w.data, batch_last(grad.data)
        )
        return (None if grad_x is None else batch_first(grad_x)), grad_w, None


class Conv2dInputGrad(Function):
    """gx = conv_input_grad(gy, w): the transposed convolution, back to the input's shape."""

    @staticmethod
    def forward(ctx: Context, grad_y: Tensor, w: Tensor, geometry: ConvGeometry) -> Any:
        ctx.save_for_backward(grad_y if ctx.needs_input_grad[1] else None, w if ctx.needs_input_grad[0] else None)
        ctx.geometry = geometry
        kernel = kernel_for(geometry, w.shape[1] * geometry.groups, w.shape[0])
        return batch_first(kernel.input_grad(batch_last(grad_y.data), w.data))

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
        kernel = kernel_for(geometry, x.shape[1], grad_y.shape[1])
        return kernel.weight_grad(batch_last(x.data), batch_last(grad_y.data))

    @staticmethod
    def backward(ctx: Context, grad: Tensor) -> Any:
        x, grad_y = ctx.saved_tensors
        grad_x = Conv2dInputGrad.apply(grad_y, grad, ctx.geometry) if grad_y is not None else None
        grad_grad_y = Conv2d.apply(x, grad, ctx.geometry) if x is not None else None
        return grad_x, grad_grad_y, None
