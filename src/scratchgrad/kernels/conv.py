"""The conv kernels: the three products of a convolution (forward, input gradient, weight
gradient) on arrays, below the Functions of ``ops/conv.py``.

Two fast kernels exist: im2col + GEMM for any geometry, and Winograd F(m x m, 3 x 3)
(``winograd.py``) for 3x3 stride-1 layers; ``backends/conv.py`` chooses.

Layout. The kernels keep activations in (H, W, N, C) memory order: spatial axes outermost,
channels innermost. A GEMM with one row per output pixel and image and one column per
channel then writes its result directly in that layout (no transpose), BLAS runs such
tall-skinny products faster than the transposed ones, and every spatial window the kernels
and pooling take is a slice of the outer axes whose rows are long contiguous runs of
N * C values.

Chunks. Each product runs image chunk by image chunk, a chunk per core
(``threads.run_chunks``), so that a chunk's intermediate data (im2col rows, transform-domain
tiles) stay in that core's cache; the weight gradient's partial sums are added in chunk order.
On a GPU (CuPy) each product is one chunk: the chunks fit CPU caches, and on a GPU each
chunk's kernel launches would cost more than the chunk's work.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..backend import get_array_module
from ..runtime import machine, threads, workspace
from ..runtime.threads import for_blocks
from . import winograd
from .geometry import ConvGeometry


def _pad_hw(x: Any, padding: tuple[int, int]) -> Any:
    """Zero-pad H and W of an (H, W, N, C) array (the copy split over the cores by rows)."""
    (ph, pw), (h, w) = padding, x.shape[:2]
    if not (ph or pw):
        return x
    xp = get_array_module(x)
    out = workspace.empty(xp, (h + 2 * ph, w + 2 * pw) + x.shape[2:], x.dtype)
    out[:ph], out[ph + h :], out[ph : ph + h, :pw], out[ph : ph + h, pw + w :] = 0, 0, 0, 0

    def copy(rows: slice) -> None:
        out[ph + rows.start : ph + rows.stop, pw : pw + w] = x[rows]

    for_blocks(xp, h, copy, x.nbytes)
    return out


# The largest intermediate array of a chunk, at most (unless one image needs more); None: the
# machine's (runtime/machine.py: its last-level cache's share per CPU, within 4-16 MB).
CHUNK_BYTES: int | None = None
MIN_CHUNKS = 4  # split small batches further, to keep every core busy (shapes only: results never depend on the cores)
# im2col rows with shorter channel runs than this are gathered tap-major; None: the machine's cache line.
TAP_MAJOR_BYTES: int | None = None


def _chunks_of(xp: Any, count: int, bytes_each: int) -> list[slice]:
    """Chunks of ``count`` images (or output rows) whose intermediate data take about ``CHUNK_BYTES``,
    at least ``MIN_CHUNKS`` of them when there are enough; sized from the shapes only (never from the core count).
    One chunk on other array modules than NumPy (a GPU)."""
    if xp is not np:
        return [slice(0, count)]
    most = machine.value("chunk_bytes", CHUNK_BYTES)
    size = max(1, min(most // max(bytes_each, 1), -(-count // MIN_CHUNKS)))
    if size * bytes_each >= most // 2:  # long chunks: a core idle at the end costs more than more chunks
        return threads.tapered_chunks(count, size)
    return threads.chunks(count, size)


class Im2colKernel:
    """Any geometry: one row per receptive field (columns: kernel taps x channels of a group),
    one GEMM per group. The products run chunk by chunk, a chunk per core, so that a chunk's
    rows stay in cache: the forward by chunks of output rows (its GEMM writes straight into the
    output), the backward by chunks of images, gathering the rows again rather than keeping them."""

    def __init__(self, geometry: ConvGeometry):
        self.geometry = geometry
        g = geometry
        self.pointwise = g.kernel_hw == (1, 1) and g.stride == (1, 1) and g.padding == (0, 0)

    def columns(self, x: Any) -> Any:
        """(H, W, N, C) -> (G, Hout * Wout * N, kh * kw * C/G): each row one receptive field."""
        return self._gather(_pad_hw(x, self.geometry.padding), slice(0, self.geometry.output_hw[0]))

    def _gather(self, padded: Any, out_rows: slice) -> Any:
        """The rows of ``columns`` for output rows ``out_rows``, from the zero-padded input (H + 2ph, W + 2pw, N, C).

        With few channels per group (a first layer) the rows are gathered tap-major,
        (G, kh * kw * C/G, rows) in memory, and handed out as its transposed view: each tap
        then writes runs of N values, not of C/G values (shorter than a cache line), and BLAS
        takes either layout."""
        g = self.geometry
        if self.pointwise:  # the input itself, viewed by groups
            return self._grouped(padded[out_rows])
        xp, (n, c), groups = get_array_module(padded), padded.shape[2:], g.groups
        (kh, kw), ow, count, c_g = g.kernel_hw, g.output_hw[1], out_rows.stop - out_rows.start, c // groups
        tap_major = c_g * padded.itemsize < machine.value("tap_major_bytes", TAP_MAJOR_BYTES)
        shape = (groups, kh, kw, c_g, count, ow, n) if tap_major else (groups, count, ow, n, kh, kw, c_g)
        cols = workspace.empty(xp, shape, padded.dtype)
        grouped = padded.reshape(padded.shape[:3] + (groups, c_g))

        def gather(block: slice) -> None:  # a block of the requested output rows
            first = out_rows.start + block.start
            for i in range(kh):
                for j in range(kw):
                    rows, columns = g.window(i, j)
                    rows = slice(rows.start + first * rows.step, rows.start + (first + block.stop - block.start) * rows.step, rows.step)
                    window = grouped[rows, columns]  # (rows of the block, W_out, N, G, C/G)
                    if tap_major:
                        cols[:, i, j, :, block] = window.transpose(3, 4, 0, 1, 2)
                    else:
                        cols[:, block, :, :, i, j] = window.transpose(3, 0, 1, 2, 4)

        for_blocks(xp, count, gather, cols.nbytes)
        if tap_major:
            return cols.reshape(groups, kh * kw * c_g, count * ow * n).transpose(0, 2, 1)
        return cols.reshape(groups, count * ow * n, kh * kw * c_g)

    def columns_adjoint(self, cols: Any, out: Any) -> None:
        """The adjoint of ``columns``: sums every row back onto the input pixels it came from, into ``out`` (H, W, N, C)."""
        g = self.geometry
        xp, (h, w, n, c), groups = get_array_module(cols), out.shape, g.groups
        if self.pointwise:
            out[...] = cols.transpose(1, 0, 2).reshape(out.shape)
            return
        (kh, kw), (oh, ow), (ph, pw) = g.kernel_hw, g.output_hw, g.padding
        cols = cols.reshape(groups, oh, ow, n, kh, kw, c // groups)
        x = workspace.zeros(xp, (h + 2 * ph, w + 2 * pw, n, groups, c // groups), cols.dtype)

        def scatter(block: slice) -> None:  # a block of images: windows overlap in space only
            for i in range(kh):
                for j in range(kw):
                    rows, columns = g.window(i, j)
                    x[rows, columns, block] += cols[:, :, :, block, i, j].transpose(1, 2, 3, 0, 4)

        for_blocks(xp, n, scatter, cols.nbytes)
        out[...] = x.reshape(x.shape[:3] + (c,))[ph : ph + h, pw : pw + w]

    def _weight_matrix(self, w: Any) -> Any:
        """(C_out, C_in/G, kh, kw) -> (G, kh * kw * C_in/G, C_out/G), rows ordered as the columns' taps."""
        groups, c_out = self.geometry.groups, w.shape[0]
        w = w.reshape((groups, c_out // groups) + w.shape[1:]).transpose(0, 3, 4, 2, 1)
        return w.reshape(groups, -1, c_out // groups)

    def _grouped(self, y: Any) -> Any:
        """(Hout, Wout, N, C) -> (G, Hout * Wout * N, C/G) view."""
        groups = self.geometry.groups
        return y.reshape(-1, groups, y.shape[3] // groups).transpose(1, 0, 2)

    def _chunks(self, xp: Any, images: int, channels: int, itemsize: int) -> list[slice]:
        (kh, kw), (oh, ow) = self.geometry.kernel_hw, self.geometry.output_hw
        return _chunks_of(xp, images, oh * ow * kh * kw * channels * itemsize)

    def _row_chunks(self, x: Any) -> list[slice]:
        """Chunks of output rows for the rows gathered from ``x`` (H, W, N, C_in)."""
        (kh, kw), (oh, ow), (n, c_in) = self.geometry.kernel_hw, self.geometry.output_hw, x.shape[2:]
        return _chunks_of(get_array_module(x), oh, ow * n * kh * kw * c_in * x.itemsize)

    def forward(self, x: Any, w: Any, keep_input: bool = False) -> Any:
        """(H, W, N, C_in), (C_out, C_in/G, kh, kw) -> (H_out, W_out, N, C_out). ``keep_input`` is
        ignored: the backward gathers the rows again (keeping them would take kh * kw times the input).

        Chunks of output rows: a chunk of the (H_out, W_out, N, C_out) output is contiguous, and
        its GEMM writes it in place."""
        g, xp, n, c_out = self.geometry, get_array_module(x), x.shape[2], w.shape[0]
        out = workspace.empty(xp, g.output_hw + (n, c_out), xp.result_type(x, w))
        weights = self._weight_matrix(w)
        padded = _pad_hw(x, g.padding)

        def chunk(rows: slice) -> None:
            cols = self._gather(padded, rows)
            threads.matmul(xp, cols, weights, out=self._grouped(out[rows]))  # (G, rows, C_out/G) views of the output

        threads.run_chunks(xp, self._row_chunks(x), chunk, work=(x.shape, w.shape))
        return out

    def input_grad(self, grad_y: Any, w: Any) -> Any:
        return self.backward(None, w, grad_y)[0]

    def weight_grad(self, x: Any, grad_y: Any) -> Any:
        return self.backward(x, None, grad_y)[1]

    def backward(self, x: Any | None, w: Any | None, grad_y: Any) -> tuple[Any, Any]:
        """Both gradients, chunk by chunk of images; the weight gradient's partial sums are added
        in chunk order. The weight gradient alone (a network's first layer) goes by chunks of
        output rows instead, as the forward: a chunk of ``grad_y`` is then contiguous, not copied."""
        xp, g = get_array_module(grad_y), self.geometry
        if w is None:
            return None, self._weight_grad_by_rows(x, grad_y)
        n, c_in = grad_y.shape[2], w.shape[1] * g.groups
        grad_x = workspace.empty(xp, g.input_hw + (n, c_in), grad_y.dtype)
        weights_t = self._weight_matrix(w).transpose(0, 2, 1)

        def chunk(images: slice) -> Any:
            gy = self._grouped(xp.ascontiguousarray(grad_y[:, :, images]))  # (G, rows, C_out/G)
            cols = threads.matmul(xp, gy, weights_t)
            self.columns_adjoint(cols, grad_x[:, :, images])
            del cols  # its memory goes back to the workspace for the next columns
            if x is None:
                return None
            cols = self.columns(x[:, :, images])
            return threads.matmul(xp, cols.transpose(0, 2, 1), gy)  # (G, kh * kw * C_in/G, C_out/G)

        gw = threads.run_chunks(xp, self._chunks(xp, n, c_in, grad_y.itemsize), chunk, None if x is None else _add_into,
                                work=(grad_y.shape, w.shape, x is None))
        return grad_x, (None if gw is None else self._weight_from_matrix(gw))

    def _weight_grad_by_rows(self, x: Any, grad_y: Any) -> Any:
        xp, padded = get_array_module(x), _pad_hw(x, self.geometry.padding)

        def chunk(rows: slice) -> Any:
            return threads.summed_matmul(xp, self._gather(padded, rows).transpose(0, 2, 1), self._grouped(grad_y[rows]))

        gw = threads.run_chunks(xp, self._row_chunks(x), chunk, _add_into, work=(x.shape, grad_y.shape))
        return self._weight_from_matrix(gw)

    def _weight_from_matrix(self, gw: Any) -> Any:
        """The inverse of ``_weight_matrix``: (G, kh * kw * C_in/G, C_out/G) -> (C_out, C_in/G, kh, kw)."""
        (kh, kw), groups = self.geometry.kernel_hw, self.geometry.groups
        gw = gw.reshape(groups, kh, kw, -1, gw.shape[2]).transpose(0, 4, 3, 1, 2)
        return get_array_module(gw).ascontiguousarray(gw).reshape((groups * gw.shape[1], -1, kh, kw))


class WinogradKernel:
    """3x3, stride 1, no dilation, no groups: Winograd F(m x m, 3 x 3) (see ``winograd.py``).

    The transform domain is 4x (F(4x4): 2.25x) the size of the activations. On layers with
    few channels and many tiles the transforms, not the GEMMs, take the time, and they are
    bound by memory: there every product runs image chunk by image chunk, a chunk per core
    (``threads.run_chunks``), on data that stays in that core's cache. On wide layers the
    GEMMs dominate and want many rows: there all images make one chunk, with multi-threaded
    GEMMs and the transforms split over the cores by images. ``forward`` keeps the transformed
    weight for the input gradient and, when asked, the transformed input for the weight
    gradient: 4x (F(4x4): 2.25x) the input's memory until the backward, for ~3% of a training
    step (recomputing it was 1/6 of the layer's transform time).
    """

    MIN_ROWS_PER_CHANNEL = 4  # below this many GEMM rows per channel, one chunk of all images

    def __init__(self, geometry: ConvGeometry, variant: winograd.Variant = winograd.F2):
        self.geometry, self.variant = geometry, variant
        self.tiles = variant.tiles(geometry.output_hw)
        self.transformed_weight: Any = None
        self.transformed_inputs: dict[tuple[int, int], Any] = {}  # chunk -> V of forward's input, for the weight gradient

    def _u(self, w: Any) -> Any:
        if self.transformed_weight is None:
            self.transformed_weight = winograd.filter_transform(self.variant, w)
        return self.transformed_weight

    def _chunks(self, xp: Any, images: int, channels: int, itemsize: int) -> list[slice]:
        (th, tw), t = self.tiles, self.variant.t
        chunks = _chunks_of(xp, images, t * t * th * tw * channels * itemsize)
        rows = (chunks[0].stop - chunks[0].start) * th * tw
        return chunks if rows >= self.MIN_ROWS_PER_CHANNEL * channels else [slice(0, images)]

    def _tile_array(self, xp: Any, images: int, channels: int, dtype: Any) -> Any:
        """A (t, t, th, tw, images, channels) workspace buffer."""
        return workspace.empty(xp, (self.variant.t,) * 2 + self.tiles + (images, channels), dtype)

    def _transformed_input(self, x: Any, dtype: Any) -> Any:
        """V of the images of ``x`` (H, W, n, C), in a workspace buffer, split over the cores by images."""
        xp, v, count = get_array_module(x), self.variant, x.shape[2]
        out = self._tile_array(xp, count, x.shape[3], dtype)
        for_blocks(xp, count, lambda b: winograd.input_transform(v, x[:, :, b], self.geometry.padding, out[..., b, :]), out.nbytes)
        return out

    def forward(self, x: Any, w: Any, keep_input: bool = False) -> Any:
        """(H, W, N, C_in), (C_out, C_in, 3, 3) -> (H_out, W_out, N, C_out); with ``keep_input``
        the transformed input stays for ``backward``'s weight gradient."""
        xp, (h, w_out), (n, c_out) = get_array_module(x), self.geometry.output_hw, (x.shape[2], w.shape[0])
        v, (th, tw) = self.variant, self.tiles
        ut = self._u(w).transpose(0, 2, 1)
        y = workspace.empty(xp, (v.m * th, v.m * tw, n, c_out), xp.result_type(x, w))

        def chunk(images: slice) -> None:
            ys, count = y[:, :, images], images.stop - images.start
            transformed = self._transformed_input(x[:, :, images], y.dtype)
            if keep_input:
                self.transformed_inputs[images.start, images.stop] = transformed
            products = threads.matmul(xp, _matrices(transformed), ut).reshape(transformed.shape[:-1] + (c_out,))
            for_blocks(xp, count, lambda b: winograd.output_transform(v, products[..., b, :], ys[:, :, b]), products.nbytes)

        blocks = self._chunks(xp, n, max(x.shape[3], c_out), y.itemsize)
        threads.run_chunks(xp, blocks, chunk, work=(x.shape, w.shape, keep_input))
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
        grad_x = None if w is None else workspace.empty(xp, self.geometry.input_hw + (n, c_in), grad_y.dtype)

        def chunk(images: slice) -> Any:
            gys, count = grad_y[:, :, images], images.stop - images.start
            dm = self._tile_array(xp, count, c_out, grad_y.dtype)
            for_blocks(xp, count, lambda b: winograd.output_transform_adjoint(v, gys[:, :, b], dm[..., b, :]), dm.nbytes)
            if u is not None:
                dv, gxs = threads.matmul(xp, _matrices(dm), u).reshape(dm.shape[:-1] + (c_in,)), grad_x[:, :, images]
                for_blocks(xp, count, lambda b: winograd.input_transform_adjoint(v, dv[..., b, :], padding, gxs[:, :, b]), dv.nbytes)
                del dv  # its memory goes back to the workspace (for the transformed input, if not kept)
            if x is None:
                return None
            transformed = self.transformed_inputs.pop((images.start, images.stop), None)
            if transformed is None:
                transformed = self._transformed_input(x[:, :, images], grad_y.dtype)
            return threads.summed_matmul(xp, _matrices(dm).transpose(0, 2, 1), _matrices(transformed))

        blocks = self._chunks(xp, n, max(c_out, c_in), grad_y.itemsize)
        du = threads.run_chunks(xp, blocks, chunk, None if x is None else _add_into,
                                work=(grad_y.shape, c_in, x is None, w is None))
        return grad_x, (None if x is None else winograd.filter_transform_adjoint(v, du))


def _matrices(tiles: Any) -> Any:
    """(t, t, th, tw, n, C) -> (t * t, th * tw * n, C): one GEMM operand per tile position."""
    return tiles.reshape(tiles.shape[0] * tiles.shape[1], -1, tiles.shape[-1])


def _add_into(total: Any, part: Any) -> Any:
    total += part
    return total
