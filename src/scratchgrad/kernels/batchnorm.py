"""The BatchNorm kernels on arrays: statistics, normalization and the closed-form backward,
in blocks of positions worked through on all cores (see ``ops/norm.py`` for the why).

The input is handled as a matrix of positions x channels, (M, C) or (C, M) whichever is a free
view of its memory (conv outputs are channels-last, see ``kernels/conv.py``; other layouts are
copied once), and cut into blocks of a few hundred positions. The statistics take one pass over
memory: each block's mean and sum of squared deviations are computed while the block is in
cache, and combined exactly (Chan et al.). Forward and backward then take one more pass each.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ..backend import get_array_module, inverse_permutation
from ..runtime import machine, workspace
from ..runtime.threads import for_blocks

# Values per row at least, for channels last (see ChannelMatrix): NumPy (2.4) runs an op with a broadcast
# (1, W) row 1.5-2x slower than on two same-shape arrays while W is below its buffer size
# (np.getbufsize(), 8192 values); None: that size (runtime/machine.py).
FOLD_WIDTH: int | None = None
# A block stays in cache (L2 + L3) and outweighs its Python (which holds the GIL); None: the
# machine's (2 MB, or the per-CPU cache if smaller) ...
BLOCK_BYTES: int | None = None
BLOCK_POSITIONS = (256, 16384)  # ... within these bounds: enough work per block, running sums of <= ~1000 rows


class ChannelMatrix:
    """(N, C, *) as a matrix with one axis of channels and one of positions, a view when the
    memory allows; ``positions`` is the positions axis (0: (M, C), 1: (C, M)).

    With channels last, ``fold`` consecutive positions share a row, (M / fold, fold * C), so
    that the per-channel rows broadcast against rows of ``FOLD_WIDTH`` values, not C.
    """

    def __init__(self, x: Any):
        others = sorted((axis for axis in range(x.ndim) if axis != 1), key=lambda axis: -x.strides[axis])
        channels_last = x.strides[1] <= min((x.strides[axis] for axis in others if x.shape[axis] > 1), default=x.strides[1])
        self.order = (*others, 1) if channels_last else (1, *others)
        self.positions = 0 if channels_last else 1
        self.shape, channels = x.shape, x.shape[1]
        count = x.size // max(channels, 1)
        self.fold, fold_width = 1, machine.value("fold_width", FOLD_WIDTH)
        while channels_last and self.fold * 2 * channels <= fold_width and count % (self.fold * 2) == 0:
            self.fold *= 2
        self.matrix = self.of(x)
        low, high = BLOCK_POSITIONS
        block_bytes = machine.value("block_bytes", BLOCK_BYTES)
        self.block_size = max(1, min(high, max(low, block_bytes // (channels * x.itemsize))) // self.fold)
        if get_array_module(x) is not np:  # a GPU: one block (blocks fit CPU caches; each costs kernel launches)
            self.block_size = max(1, self.matrix.shape[self.positions])
        self.blocks = -(-self.matrix.shape[self.positions] // self.block_size)

    def of(self, a: Any) -> Any:
        """Another array of the same shape as a matrix in the same order (a copy if its layout differs)."""
        a = a.transpose(self.order)
        return a.reshape((-1, self.fold * self.shape[1]) if self.positions == 0 else (self.shape[1], -1))

    def back(self, matrix: Any) -> Any:
        """A matrix in this order back to the (N, C, *) shape (a view)."""
        return matrix.reshape(tuple(self.shape[axis] for axis in self.order)).transpose(inverse_permutation(self.order))

    def per_channel(self, values: Any) -> Any:
        """(C,) -> broadcastable against the matrix."""
        if self.positions == 1:
            return values[:, None]
        return get_array_module(values).tile(values, self.fold)[None, :]

    def sum(self, block: Any) -> Any:
        """(C,): the sum over the positions of a block."""
        return self._unfold(block.sum(axis=self.positions))

    def dot(self, a: Any, b: Any) -> Any:
        """(C,): the sum over the positions of ``a * b`` (blocks), without the product as a temporary."""
        xp = get_array_module(a)
        return self._unfold(xp.einsum("pc,pc->c" if self.positions == 0 else "cp,cp->c", a, b))

    def _unfold(self, sums: Any) -> Any:
        return sums.reshape(self.fold, -1).sum(axis=0) if self.fold > 1 else sums

    def positions_in(self, block: Any) -> int:
        return block.shape[self.positions] * self.fold

    def block(self, a: Any, k: int) -> Any:
        index = slice(k * self.block_size, (k + 1) * self.block_size)
        return a[index] if self.positions == 0 else a[:, index]

    def for_each_block(self, xp: Any, work: Callable[[int], None]) -> None:
        """Call ``work(k)`` for every block ``k`` of positions, on all cores (each block a task:
        the cores stay busy until the last blocks)."""
        for_blocks(xp, self.blocks, lambda ks: [work(k) for k in range(ks.start, ks.stop)], self.matrix.nbytes, self.blocks)


def _statistics(m: ChannelMatrix, xp: Any, dtype: Any) -> tuple[Any, Any]:
    """Mean and biased variance per channel, one pass: per-block mean and squared deviations, combined exactly."""
    sizes = xp.empty(m.blocks, dtype=dtype)
    means, squares = (xp.empty((m.blocks, m.shape[1]), dtype=dtype) for _ in range(2))

    def work(k: int) -> None:
        block = m.block(m.matrix, k)
        sizes[k] = m.positions_in(block)
        means[k] = m.sum(block) / sizes[k]
        centered = block - m.per_channel(means[k])
        squares[k] = m.dot(centered, centered)

    m.for_each_block(xp, work)
    total = sizes.sum()
    mean = (means * sizes[:, None]).sum(axis=0) / total
    deviations = means - mean
    var = (squares.sum(axis=0) + (xp.square(deviations) * sizes[:, None]).sum(axis=0)) / total
    return mean, var


def forward(x: Any, weight: Any, bias: Any, mean: Any, var: Any, eps: float) -> tuple[Any, Any, Any, Any]:
    """(N, C, *) -> the output (N, C, *), mean, variance and 1 / std per channel: normalized with
    the batch's statistics (``mean``/``var`` None, biased variance) or with the given ones, then
    scaled by ``weight`` and shifted by ``bias`` (each may be None)."""
    xp, dtype = get_array_module(x), x.dtype
    m = ChannelMatrix(x)
    if mean is None:
        mean, var = _statistics(m, xp, dtype)
    invstd = 1 / xp.sqrt(var + dtype.type(eps))
    scale = invstd if weight is None else invstd * weight
    shift = -mean * scale if bias is None else bias - mean * scale
    out = workspace.empty(xp, m.matrix.shape, dtype, like=m.matrix)
    scale_row, shift_row = m.per_channel(scale), m.per_channel(shift)

    def normalize(k: int) -> None:
        block = m.block(out, k)
        xp.multiply(m.block(m.matrix, k), scale_row, out=block)
        block += shift_row

    m.for_each_block(xp, normalize)
    return m.back(out), mean, var, invstd


def backward(x: Any, weight: Any, grad: Any, mean: Any, invstd: Any, batch_stats: bool) -> tuple[Any, Any, Any]:
    """The closed form, on arrays: with xhat = (x - mean) * invstd and g = grad * weight,
    dx = invstd * (g - mean(g) - xhat * mean(g * xhat)) for batch statistics."""
    xp = get_array_module(x)
    m = ChannelMatrix(x)
    g = m.of(grad)  # a view when grad has x's layout
    grad_sums, dots = (xp.empty((m.blocks, m.shape[1]), dtype=mean.dtype) for _ in range(2))

    mean_row = m.per_channel(mean)

    def sums(k: int) -> None:
        g_block = m.block(g, k)
        grad_sums[k] = m.sum(g_block)
        dots[k] = m.dot(m.block(m.matrix, k) - mean_row, g_block)

    m.for_each_block(xp, sums)
    grad_bias, dot = grad_sums.sum(axis=0), dots.sum(axis=0)
    positions = m.positions_in(m.matrix)
    scale = invstd if weight is None else invstd * weight
    # dx = scale * grad + centered * a + b, with a = -scale * dot * invstd^2 / M, b = -scale * sum(grad) / M
    a, b = -scale * dot * invstd * invstd / positions, -scale * grad_bias / positions
    scale_row, a_row, b_row = m.per_channel(scale), m.per_channel(a), m.per_channel(b)
    grad_x = workspace.empty(xp, m.matrix.shape, g.dtype, like=m.matrix)

    def differentiate(k: int) -> None:
        out = m.block(grad_x, k)
        xp.multiply(m.block(g, k), scale_row, out=out)
        if batch_stats:
            centered = m.block(m.matrix, k) - mean_row
            centered *= a_row
            centered += b_row
            out += centered

    m.for_each_block(xp, differentiate)
    return m.back(grad_x), dot * invstd, grad_bias
