"""The pooling kernels on arrays: max and average over 2-D windows, and their scatters back.

Both are built on one idea: a pooling window is a set of kernel taps, and tap (i, j) reads
a strided slice of the padded input (``ConvGeometry.window``). Forward reduces over taps;
backward adds each tap's share back with one strided add per tap (never ``np.add.at``), or
writes it when windows do not overlap (stride >= kernel). Windows that tile the input (the
usual 2x2, stride 2) are reduced as a reshaped view instead, on all cores.

New arrays take the memory layout of the input (``workspace.empty`` with ``like``),
so that conv outputs (see ``kernels/conv.py``) keep their layout through pooling.
"""
from __future__ import annotations

from typing import Any

from ..backend import get_array_module, stride_order
from ..runtime import threads, workspace
from ..runtime.threads import block_index, for_blocks, outermost
from .geometry import ConvGeometry


def padded_input(x: Any, geometry: ConvGeometry, fill: float) -> Any:
    (ph, pw), (n, c, h, w) = geometry.padding, x.shape
    if not (ph or pw):
        return x
    out = workspace.empty(get_array_module(x), (n, c, h + 2 * ph, w + 2 * pw), x.dtype, like=x)
    out.fill(fill)
    out[:, :, ph : ph + h, pw : pw + w] = x
    return out


def _taps(geometry: ConvGeometry) -> list[tuple[int, tuple[slice, slice]]]:
    kh, kw = geometry.kernel_hw
    return [(i * kw + j, geometry.window(i, j)) for i in range(kh) for j in range(kw)]


def _windows_overlap(geometry: ConvGeometry) -> bool:
    return geometry.dilation != (1, 1) or any(s < k for s, k in zip(geometry.stride, geometry.kernel_hw))


def scatter(values: Any, weight_of_tap: Any, shape: tuple[int, ...], geometry: ConvGeometry, like: Any) -> Any:
    """Sum ``values * weight_of_tap(k)`` back onto the input positions each tap k read; the
    result has ``like``'s memory layout."""
    xp = get_array_module(values)
    hp, wp = geometry.padded_hw
    out = workspace.zeros(xp, shape[:2] + (hp, wp), values.dtype, like=like)
    overlap = _windows_overlap(geometry)
    for tap, (rows, columns) in _taps(geometry):
        if overlap:
            out[:, :, rows, columns] += values * weight_of_tap(tap)
        else:
            xp.multiply(values, weight_of_tap(tap), out=out[:, :, rows, columns])
    (ph, pw) = geometry.padding
    return out[:, :, ph : hp - ph, pw : wp - pw]


def gather(x: Any, weight_of_tap: Any, geometry: ConvGeometry) -> Any:
    """Sum over taps of ``x[tap window] * weight_of_tap(k)`` (the adjoint of ``scatter``)."""
    padded = padded_input(x, geometry, 0.0)
    total = None
    for tap, (rows, columns) in _taps(geometry):
        term = padded[:, :, rows, columns] * weight_of_tap(tap)
        total = term if total is None else get_array_module(x).add(total, term, out=total)
    return total


def tiles_input(geometry: ConvGeometry) -> bool:
    """Windows that tile the input without overlap or gaps (the usual 2x2, stride 2 pooling)."""
    return geometry.kernel_hw == geometry.stride and geometry.padding == (0, 0) and geometry.dilation == (1, 1)


def _blocks(x: Any, geometry: ConvGeometry) -> Any:
    """(N, C, H, W) -> a (N, C, H // kh, kh, W // kw, kw) view of the windows (rows and columns past the last window dropped)."""
    (kh, kw), (h, w) = geometry.kernel_hw, x.shape[2:]
    return x[:, :, : h // kh * kh, : w // kw * kw].reshape(x.shape[:2] + (h // kh, kh, w // kw, kw))


def _split_axis(x: Any) -> int:
    """The axis that tiled pooling splits over the cores: images, channels or (output) rows,
    whichever is outermost in memory. Rows keep a conv output's runs of N * C values whole:
    NumPy runs ops on views with short runs (thousands of values) 1.5-3x slower."""
    return outermost(x, (0, 1, 2))


def _block_indices(axis: int, block: slice, geometry: ConvGeometry) -> tuple[tuple[slice, ...], tuple[slice, ...]]:
    """``block`` of the output along ``axis`` as an index of the input (its rows scaled by kh,
    if ``axis`` is 2) and one of the output."""
    scale = geometry.kernel_hw[0] if axis == 2 else 1
    return block_index(axis, slice(block.start * scale, block.stop * scale)), block_index(axis, block)


class TapSelection:
    """Which input position each output of a max-pool took: the index of its kernel tap."""

    def __init__(self, taps: Any, geometry: ConvGeometry):
        self.taps, self.geometry = taps, geometry

    def scatter(self, values: Any, shape: tuple[int, ...]) -> Any:
        return scatter(values, lambda tap: self.taps == tap, shape, self.geometry, like=self.taps)

    def gather(self, x: Any) -> Any:
        return gather(x, lambda tap: self.taps == tap, self.geometry)


class BlockSelection:
    """For windows that tile the input: the taken positions are worked out from the input and
    the output when they are needed, on all cores, a block of ``_split_axis`` per thread."""

    def __init__(self, x: Any, out: Any, geometry: ConvGeometry):
        self.x, self.out, self.geometry = x, out, geometry
        self.axis = _split_axis(x)

    def _mask(self, inputs: tuple[slice, ...], outputs: tuple[slice, ...]) -> Any:
        """(N, C, Hout, kh, Wout, kw) of the block that ``_block_indices`` gave: True at the position each window took."""
        xp = get_array_module(self.x)
        mask = _blocks(self.x[inputs], self.geometry) == self.out[outputs][:, :, :, None, :, None]  # every maximal tap
        kh, kw = self.geometry.kernel_hw
        taken = mask[:, :, :, 0, :, 0].copy(order="K")
        for i, j in [(i, j) for i in range(kh) for j in range(kw)][1:]:
            tap = mask[:, :, :, i, :, j]
            xp.greater(tap, taken, out=tap)  # a tap counts only if no earlier one was maximal: the first max wins, as in PyTorch
            xp.logical_or(taken, tap, out=taken)
        return mask

    def scatter(self, values: Any, shape: tuple[int, ...]) -> Any:
        xp, (h, w) = get_array_module(values), shape[2:]
        (kh, kw), (oh, ow) = self.geometry.kernel_hw, self.geometry.output_hw
        new = workspace.empty if (oh * kh, ow * kw) == (h, w) else workspace.zeros  # every entry written, or not
        out = new(xp, shape, values.dtype, like=self.x)
        if stride_order(values) != stride_order(self.out):  # e.g. after a Flatten: align it once, then every pass is contiguous
            values = threads.copied(values, like=self.out)

        def kernel(block: slice) -> None:
            inputs, outputs = _block_indices(self.axis, block, self.geometry)
            window_values = values[outputs][:, :, :, None, :, None]
            xp.multiply(window_values, self._mask(inputs, outputs), out=_blocks(out[inputs], self.geometry))

        for_blocks(xp, self.out.shape[self.axis], kernel, out.nbytes)
        return out

    def gather(self, x: Any) -> Any:
        xp = get_array_module(x)
        out = workspace.empty(xp, self.out.shape, x.dtype, like=self.out)

        def kernel(block: slice) -> None:
            inputs, outputs = _block_indices(self.axis, block, self.geometry)
            xp.sum(_blocks(x[inputs], self.geometry) * self._mask(inputs, outputs), axis=(3, 5), out=out[outputs])

        for_blocks(xp, self.out.shape[self.axis], kernel, x.nbytes)
        return out


def block_max(x: Any, geometry: ConvGeometry) -> Any:
    xp, axis = get_array_module(x), _split_axis(x)
    out = workspace.empty(xp, x.shape[:2] + geometry.output_hw, x.dtype, like=x)

    def kernel(block: slice) -> None:
        inputs, outputs = _block_indices(axis, block, geometry)
        xp.max(_blocks(x[inputs], geometry), axis=(3, 5), out=out[outputs])

    for_blocks(xp, out.shape[axis], kernel, x.nbytes)
    return out


def max_with_taps(x: Any, geometry: ConvGeometry) -> tuple[Any, TapSelection]:
    """The max over each window and, for the backward, which tap each output took."""
    xp = get_array_module(x)
    padded_x = padded_input(x, geometry, -xp.inf)
    taps = _taps(geometry)
    rows, columns = taps[0][1]
    best = padded_x[:, :, rows, columns].copy(order="K")
    best_tap = xp.zeros_like(best, dtype=xp.int8 if len(taps) < 128 else xp.int32)
    for tap, (rows, columns) in taps[1:]:
        candidate = padded_x[:, :, rows, columns]
        better = candidate > best  # strict: the first maximal tap wins, as in PyTorch
        xp.copyto(best, candidate, where=better)
        xp.copyto(best_tap, tap, where=better)
    return best, TapSelection(best_tap, geometry)


def avg_pool_scale(geometry: ConvGeometry, count_include_pad: bool, divisor_override: int | None, xp: Any, dtype: Any) -> Any:
    """1 / (number of elements averaged) per output position, shape (Hout, Wout) or a scalar."""
    kh, kw = geometry.kernel_hw
    if divisor_override:
        return dtype.type(1.0 / divisor_override)
    if count_include_pad or geometry.padding == (0, 0):
        return dtype.type(1.0 / (kh * kw))
    ones = xp.ones((1, 1) + geometry.input_hw, dtype=dtype)
    return (1.0 / gather(ones, lambda tap: 1, geometry)[0, 0]).astype(dtype)
