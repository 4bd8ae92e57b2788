"""2-D convolution as three bilinear Functions that differentiate into each other.

``y = conv(x, w)``, ``gx = conv_input_grad(gy, w)`` and ``gw = conv_weight_grad(x, gy)`` are each
linear in both arguments, and the gradient of any one of them is made of the other two, so
convolution is differentiable to any order without extra code.

Below the Functions, a kernel computes the three products on arrays. Two kernels exist:
im2col + GEMM for any geometry, and Winograd F(2x2, 3x3) (``winograd.py``, 2.25x fewer
multiplies) for 3x3 stride-1 layers with enough channels; F(4x4, 3x3) is there too, off by
default (see ``WINOGRAD_F4_MIN_CHANNELS``).

Layout. The kernels keep activations in (H, W, N, C) memory order: spatial axes outermost,
channels innermost. A GEMM with one row per output pixel and image and one column per
channel then writes its result directly in that layout (no transpose), BLAS runs such
tall-skinny products faster than the transposed ones, and every spatial window the kernels
and pooling take is a slice of the outer axes whose rows are long contiguous runs of
N * C values. Outputs are handed out as (N, C, H, W)-shaped views of that memory:
``Tensor.data`` of a conv output is not C-contiguous (every op accepts any strides), and
the next conv, BatchNorm and max-pool get their layout for free; other inputs are copied
once. A first-order backward computes both gradients in one call that shares the
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
from . import threads, winograd, workspace
from .threads import for_blocks

WINOGRAD_MIN_CHANNELS = 16  # below this the GEMMs are too thin for the transforms to pay off
# F(4x4, 3x3) does 44% fewer multiplies than F(2x2, 3x3), which makes training C5L3 about 8% faster,
# but its float32 results are ~10x less precise (errors of ~1e-5 of the output's scale, beyond the
# float32 parity tolerance of 1e-4 elementwise): off by default; a channel count turns it on.
WINOGRAD_F4_MIN_CHANNELS: int | None = None


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


def spatial_major(x: Any) -> Any:
    """(N, C, H, W) -> an (H, W, N, C) view, and back: the permutation is its own inverse."""
    return x.transpose(2, 3, 0, 1)


def _pad_hw(x: Any, padding: tuple[int, int]) -> Any:
    """Zero-pad H and W of an (H, W, N, C) array."""
    (ph, pw), (h, w) = padding, x.shape[:2]
    if not (ph or pw):
        return x
    out = get_array_module(x).zeros((h + 2 * ph, w + 2 * pw) + x.shape[2:], dtype=x.dtype)
    out[ph : ph + h, pw : pw + w] = x
    return out


def _matmul(a: Any, b: Any) -> Any:
    """``a @ b`` (stacks of matrices) into a workspace buffer."""
    xp = get_array_module(a)
    out = workspace.take(xp, a.shape[:-1] + b.shape[-1:], xp.result_type(a, b))
    return threads.matmul(xp, a, b, out=out)


CHUNK_BYTES = 8 << 20  # the largest intermediate array of a chunk, at most (unless one image needs more)
MIN_CHUNKS = 4  # split small batches further, to keep every core busy


def _image_chunks(images: int, bytes_per_image: int) -> list[slice]:
    """Chunks of images whose intermediate data take about ``CHUNK_BYTES``, at least ``MIN_CHUNKS``
    of them when there are enough images; sized from the shapes only (never from the core count)."""
    size = max(1, min(CHUNK_BYTES // max(bytes_per_image, 1), -(-images // MIN_CHUNKS)))
    return threads.chunks(images, size)


class Im2colKernel:
    """Any geometry: one row per receptive field (columns: kernel taps x channels of a group),
    one GEMM per group. The products run image chunk by image chunk, a chunk per core, so
    that a chunk's rows stay in cache; the backward gathers the rows again rather than keeping them."""

    def __init__(self, geometry: ConvGeometry):
        self.geometry = geometry
        g = geometry
        self.pointwise = g.kernel_hw == (1, 1) and g.stride == (1, 1) and g.padding == (0, 0)

    def columns(self, x: Any) -> Any:
        """(H, W, N, C) -> (G, Hout * Wout * N, kh * kw * C/G): each row one receptive field."""
        g = self.geometry
        xp, (n, c), groups = get_array_module(x), x.shape[2:], g.groups
        if self.pointwise:
            return x.reshape(-1, groups, c // groups).transpose(1, 0, 2)
        padded = _pad_hw(x, g.padding)
        (kh, kw), (oh, ow) = g.kernel_hw, g.output_hw
        cols = workspace.take(xp, (groups, oh, ow, n, kh, kw, c // groups), x.dtype)
        grouped = padded.reshape(padded.shape[:3] + (groups, c // groups))

        def gather(block: slice) -> None:  # a block of output rows
            for i in range(kh):
                for j in range(kw):
                    rows, columns = g.window(i, j)
                    rows = slice(rows.start + block.start * rows.step, rows.start + block.stop * rows.step, rows.step)
                    cols[:, block, :, :, i, j] = grouped[rows, columns].transpose(3, 0, 1, 2, 4)

        for_blocks(xp, oh, gather, cols.nbytes)
        return cols.reshape(groups, oh * ow * n, kh * kw * (c // groups))

    def columns_adjoint(self, cols: Any, out: Any) -> None:
        """The adjoint of ``columns``: sums every row back onto the input pixels it came from, into ``out`` (H, W, N, C)."""
        g = self.geometry
        xp, (h, w, n, c), groups = get_array_module(cols), out.shape, g.groups
        if self.pointwise:
            out[...] = cols.transpose(1, 0, 2).reshape(out.shape)
            return
        (kh, kw), (oh, ow), (ph, pw) = g.kernel_hw, g.output_hw, g.padding
        cols = cols.reshape(groups, oh, ow, n, kh, kw, c // groups)
        x = xp.zeros((h + 2 * ph, w + 2 * pw, n, groups, c // groups), dtype=cols.dtype)

        def scatter(block: slice) -> None:  # a block of images: windows overlap in space only
            for i in range(kh):
                for j in range(kw):
                    rows, columns = g.window(i, j)
                    x[rows, columns, block] += cols[:, :, :, block, i, j].transpose(1, 2, 3, 0, 4)

        for_blocks(xp, n, scatter, cols.nbytes)
        out[...] = x.reshape(x.shape[:3] + (c,))[ph : ph + h, pw : pw + w]

    def _weight_matrix(self, w: Any) -> Any:
        """(C_out, C_in/G, kh, kw) -> (G, kh * kw * C_in/G, C_out/G), rows ordered as the columns' taps."""
        groups, (c_out, c_in) = self.geometry.groups, w.shape[:2]
        w = w.reshape((groups, c_out // groups) + w.shape[1:]).transpose(0, 3, 4, 2, 1)
        return w.reshape(groups, -1, c_out // groups)

    def _grouped(self, y: Any) -> Any:
        """(Hout, Wout, N, C) -> (G, Hout * Wout * N, C/G) view."""
        groups = self.geometry.groups
        return y.reshape(-1, groups, y.shape[3] // groups).transpose(1, 0, 2)

    def _chunks(self, images: int, channels: int, itemsize: int) -> list[slice]:
        (kh, kw), (oh, ow) = self.geometry.kernel_hw, self.geometry.output_hw
        return _image_chunks(images, oh * ow * kh * kw * channels * itemsize)

    def forward(self, x: Any, w: Any) -> Any:
        """(H, W, N, C_in), (C_out, C_in/G, kh, kw) -> (H_out, W_out, N, C_out)."""
        xp, (oh, ow), (n, c_out) = get_array_module(x), self.geometry.output_hw, (x.shape[2], w.shape[0])
        out = xp.empty((oh, ow, n, c_out), dtype=xp.result_type(x, w))
        weights = self._weight_matrix(w)

        def chunk(images: slice) -> None:
            cols = self.columns(x[:, :, images])
            products = _matmul(cols, weights)  # (G, rows, C_out/G)
            out[:, :, images] = products.transpose(1, 0, 2).reshape(oh, ow, -1, c_out)
            workspace.give(cols, products)

        threads.run_chunks(xp, self._chunks(n, x.shape[3], out.itemsize), chunk)
        return out

    def input_grad(self, grad_y: Any, w: Any) -> Any:
        return self.backward(None, w, grad_y)[0]

    def weight_grad(self, x: Any, grad_y: Any) -> Any:
        return self.backward(x, None, grad_y)[1]

    def backward(self, x: Any | None, w: Any | None, grad_y: Any) -> tuple[Any, Any]:
        """Both gradients, chunk by chunk; the weight gradient's partial sums are added in chunk order."""
        xp, g = get_array_module(grad_y), self.geometry
        n, c_in = grad_y.shape[2], (w.shape[1] * g.groups if w is not None else x.shape[3])
        grad_x = None if w is None else xp.empty(g.input_hw + (n, c_in), dtype=grad_y.dtype)
        weights_t = None if w is None else self._weight_matrix(w).transpose(0, 2, 1)

        def chunk(images: slice) -> Any:
            gy = self._grouped(xp.ascontiguousarray(grad_y[:, :, images]))  # (G, rows, C_out/G)
            if weights_t is not None:
                cols = _matmul(gy, weights_t)
                self.columns_adjoint(cols, grad_x[:, :, images])
                workspace.give(cols)
            if x is None:
                return None
            cols = self.columns(x[:, :, images])
            partial = threads.matmul(xp, cols.transpose(0, 2, 1), gy)  # (G, kh * kw * C_in/G, C_out/G)
            workspace.give(cols)
            return partial

        gw = threads.run_chunks(xp, self._chunks(n, c_in, grad_y.itemsize), chunk, None if x is None else _add_into)
        if gw is None:
            return grad_x, None
        (kh, kw), groups = g.kernel_hw, g.groups
        gw = gw.reshape(groups, kh, kw, -1, gw.shape[2]).transpose(0, 4, 3, 1, 2)
        return grad_x, xp.ascontiguousarray(gw).reshape((grad_y.shape[3], -1, kh, kw))


class WinogradKernel:
    """3x3, stride 1, no dilation, no groups: Winograd F(m x m, 3 x 3) (see ``winograd.py``).

    The transform domain is 4x (F(4x4): 2.25x) the size of the activations. On layers with
    few channels and many tiles the transforms, not the GEMMs, take the time, and they are
    bound by memory: there every product runs image chunk by image chunk, a chunk per core
    (``threads.run_chunks``), on data that stays in that core's cache. On wide layers the
    GEMMs dominate and want many rows: there all images make one chunk, with multi-threaded
    GEMMs and the transforms split over the cores by images. The backward recomputes the
    transformed input rather than keeping it; the transformed weight of ``forward`` is kept
    for the input gradient.
    """

    MIN_ROWS_PER_CHANNEL = 4  # below this many GEMM rows per channel, one chunk of all images

    def __init__(self, geometry: ConvGeometry, variant: winograd.Variant = winograd.F2):
        self.geometry, self.variant = geometry, variant
        self.tiles = variant.tiles(geometry.output_hw)
        self.transformed_weight: Any = None

    def _u(self, w: Any) -> Any:
        if self.transformed_weight is None:
            self.transformed_weight = winograd.filter_transform(self.variant, w)
        return self.transformed_weight

    def _chunks(self, images: int, channels: int, itemsize: int) -> list[slice]:
        (th, tw), t = self.tiles, self.variant.t
        chunks = _image_chunks(images, t * t * th * tw * channels * itemsize)
        rows = (chunks[0].stop - chunks[0].start) * th * tw
        return chunks if rows >= self.MIN_ROWS_PER_CHANNEL * channels else [slice(0, images)]

    def _tile_array(self, xp: Any, images: int, channels: int, dtype: Any) -> Any:
        """A (t, t, th, tw, images, channels) workspace buffer."""
        return workspace.take(xp, (self.variant.t,) * 2 + self.tiles + (images, channels), dtype)

    def forward(self, x: Any, w: Any) -> Any:
        """(H, W, N, C_in), (C_out, C_in, 3, 3) -> (H_out, W_out, N, C_out)."""
        xp, (h, w_out), (n, c_out) = get_array_module(x), self.geometry.output_hw, (x.shape[2], w.shape[0])
        v, padding, (th, tw) = self.variant, self.geometry.padding, self.tiles
        ut = self._u(w).transpose(0, 2, 1)
        y = xp.empty((v.m * th, v.m * tw, n, c_out), dtype=xp.result_type(x, w))

        def chunk(images: slice) -> None:
            xs, ys, count = x[:, :, images], y[:, :, images], images.stop - images.start
            transformed = self._tile_array(xp, count, x.shape[3], y.dtype)
            for_blocks(xp, count, lambda b: winograd.input_transform(v, xs[:, :, b], padding, transformed[..., b, :]), transformed.nbytes)
            products = _matmul(_matrices(transformed), ut).reshape(transformed.shape[:-1] + (c_out,))
            for_blocks(xp, count, lambda b: winograd.output_transform(v, products[..., b, :], ys[:, :, b]), products.nbytes)
            workspace.give(transformed, products)

        threads.run_chunks(xp, self._chunks(n, max(x.shape[3], c_out), y.itemsize), chunk)
        return y[:h, :w_out]

    def input_grad(self, grad_y: Any, w: Any) -> Any:
        return self.backward(None, w, grad_y)[0]

    def weight_grad(self, x: Any, grad_y: Any) -> Any:
        return self.backward(x, None, grad_y)[1]

    def backward(self, x: Any | None, w: Any | None, grad_y: Any) -> tuple[Any, Any]:
        """Both gradients, chunk by chunk from one transformed output gradient; the weight
        gradient's partial sums are added in chunk order."""
        xp, v, padding = get_array_module(grad_y), self.variant, self.geometry.padding
        grad_y = xp.ascontiguousarray(grad_y)  # a copy only if it is not (H, W, N, C) already
        (n, c_out), c_in = grad_y.shape[2:], (w.shape[1] if w is not None else x.shape[3])
        u = None if w is None else self._u(w)
        grad_x = None if w is None else xp.empty(self.geometry.input_hw + (n, c_in), dtype=grad_y.dtype)

        def chunk(images: slice) -> Any:
            gys, count = grad_y[:, :, images], images.stop - images.start
            dm = self._tile_array(xp, count, c_out, grad_y.dtype)
            for_blocks(xp, count, lambda b: winograd.output_transform_adjoint(v, gys[:, :, b], dm[..., b, :]), dm.nbytes)
            if u is not None:
                dv, gxs = _matmul(_matrices(dm), u).reshape(dm.shape[:-1] + (c_in,)), grad_x[:, :, images]
                for_blocks(xp, count, lambda b: winograd.input_transform_adjoint(v, dv[..., b, :], padding, gxs[:, :, b]), dv.nbytes)
                workspace.give(dv)
            du = None
            if x is not None:
                xs, transformed = x[:, :, images], self._tile_array(xp, count, c_in, grad_y.dtype)
                for_blocks(xp, count, lambda b: winograd.input_transform(v, xs[:, :, b], padding, transformed[..., b, :]), transformed.nbytes)
                du = threads.matmul(xp, _matrices(dm).transpose(0, 2, 1), _matrices(transformed))
                workspace.give(transformed)
            workspace.give(dm)
            return du

        blocks = self._chunks(n, max(c_out, c_in), grad_y.itemsize)
        du = threads.run_chunks(xp, blocks, chunk, None if x is None else _add_into)
        return grad_x, (None if x is None else winograd.filter_transform_adjoint(v, du))


def _matrices(tiles: Any) -> Any:
    """(t, t, th, tw, n, C) -> (t * t, th * tw * n, C): one GEMM operand per tile position."""
    return tiles.reshape(tiles.shape[0] * tiles.shape[1], -1, tiles.shape[-1])


def _add_into(total: Any, part: Any) -> Any:
    total += part
    return total


def kernel_for(geometry: ConvGeometry, c_in: int, c_out: int) -> Im2colKernel | WinogradKernel:
    """The kernel for a layer: Winograd F(2x2, 3x3) for 3x3 stride-1 layers with enough channels
    (F(4x4, 3x3) if enabled and the layer is wide enough), else im2col."""
    g = geometry
    if g.kernel_hw != (3, 3) or g.stride != (1, 1) or g.dilation != (1, 1) or g.groups != 1:
        return Im2colKernel(g)
    channels = min(c_in, c_out)
    if WINOGRAD_F4_MIN_CHANNELS is not None and channels >= WINOGRAD_F4_MIN_CHANNELS:
        return WinogradKernel(g, winograd.F4)
    return WinogradKernel(g, winograd.F2) if channels >= WINOGRAD_MIN_CHANNELS else Im2colKernel(g)


class Conv2d(Function):
    """y = conv(x, w) + bias: (N, C_in, H, W), (C_out, C_in/G, kh, kw), (C_out,) or None -> (N, C_out, Hout, Wout).

    The bias is added in place to the fresh output, which saves a pass and a temporary.
    """

    @staticmethod
    def forward(ctx: Context, x: Tensor, w: Tensor, bias: Tensor | None, geometry: ConvGeometry) -> Any:
        ctx.save_for_backward(x if ctx.needs_input_grad[1] else None, w if ctx.needs_input_grad[0] else None)
        ctx.geometry, ctx.kernel = geometry, kernel_for(geometry, x.shape[1], w.shape[0])
        y = ctx.kernel.forward(spatial_major(x.data), w.data)
        if bias is not None:
            y += bias.data  # channels are y's last axis
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
            None if x is None else spatial_major(x.data), None if w is None else w.data, spatial_major(grad.data)
        )
        return (None if grad_x is None else spatial_major(grad_x)), grad_w, grad_bias, None


def _channel_sums(grad: Tensor) -> Tensor:
    """Sum over every dim but the channels; on arrays in two stages (images, then pixels),
    so that no running sum grows long."""
    if is_grad_enabled():
        return grad.sum((0, 2, 3))
    g = spatial_major(grad.data)
    return Tensor(g.reshape(-1, g.shape[2], g.shape[3]).sum(axis=1).sum(axis=0))


class Conv2dInputGrad(Function):
    """gx = conv_input_grad(gy, w): the transposed convolution, back to the input's shape."""

    @staticmethod
    def forward(ctx: Context, grad_y: Tensor, w: Tensor, geometry: ConvGeometry) -> Any:
        ctx.save_for_backward(grad_y if ctx.needs_input_grad[1] else None, w if ctx.needs_input_grad[0] else None)
        ctx.geometry = geometry
        kernel = kernel_for(geometry, w.shape[1] * geometry.groups, w.shape[0])
        return spatial_major(kernel.input_grad(spatial_major(grad_y.data), w.data))

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
        return kernel.weight_grad(spatial_major(x.data), spatial_major(grad_y.data))

    @staticmethod
    def backward(ctx: Context, grad: Tensor) -> Any:
        x, grad_y = ctx.saved_tensors
        grad_x = Conv2dInputGrad.apply(grad_y, grad, ctx.geometry) if grad_y is not None else None
        grad_grad_y = Conv2d.apply(x, grad, None, ctx.geometry) if x is not None else None
        return grad_x, grad_grad_y, None
