"""Batch normalization as one primitive: statistics, normalization and affine map in a few passes.

Composed from elementwise ops, a training-mode BatchNorm costs some fifteen passes over its
input forward and backward, each with a full-size temporary. Here every array is handled as a
(C, M) matrix of channel rows (a free view of batch-last conv outputs, see ``conv.py``; other
layouts are copied once), a block of channels at a time on all cores, so that the few
temporaries stay in cache.

The output is ``x * scale + shift`` per channel with ``scale = weight / sqrt(var + eps)``
and ``shift = bias - mean * scale``, as PyTorch's CPU kernel computes it. The first-order
backward is the closed form; with ``create_graph=True`` the backward is written in Tensor
ops, so that it can be differentiated again.
"""
from __future__ import annotations

from typing import Any

from ..autograd.function import Context, Function
from ..autograd.grad_mode import is_grad_enabled
from ..backend import get_array_module
from ..tensor import Tensor
from .threads import for_channel_blocks


def channel_rows(x: Any) -> tuple[Any, tuple[int, ...]]:
    """(N, C, *) -> a (C, M) matrix (a view when each channel is one block of memory) and the
    axis order it was read in, for ``from_channel_rows``."""
    others = sorted((axis for axis in range(x.ndim) if axis != 1), key=lambda axis: -x.strides[axis])
    order = (1, *others)
    return x.transpose(order).reshape(x.shape[1], -1), order


def from_channel_rows(rows: Any, shape: tuple[int, ...], order: tuple[int, ...]) -> Any:
    """The inverse of ``channel_rows``: a (C, M) matrix back to ``shape`` (a view)."""
    xp = get_array_module(rows)
    return rows.reshape(tuple(shape[axis] for axis in order)).transpose(xp.argsort(order).tolist())


class BatchNorm(Function):
    """(N, C, *) -> same: normalize each channel with the batch's statistics (``mean``/``var``
    None) or with given ones, then scale by ``weight`` and shift by ``bias`` (each may be None).

    Returns the output and the batch's mean and biased variance (or the given statistics).
    """

    @staticmethod
    def forward(ctx: Context, x: Tensor, weight: Any, bias: Any, mean: Any, var: Any, eps: float) -> Any:
        xp, dtype = x.xp, x.dtype
        rows, order = channel_rows(x.data)
        channels, batch_stats = rows.shape[0], mean is None
        if batch_stats:
            mean, var = xp.empty(channels, dtype=dtype), xp.empty(channels, dtype=dtype)
        invstd, out = xp.empty(channels, dtype=dtype), xp.empty_like(rows)

        def normalize(block: slice) -> None:
            r = rows[block]
            # Sums use NumPy's pairwise summation (accurate as PyTorch's double accumulation here);
            # a BLAS dot accumulates linearly and was 10x less precise on 50k-element channels.
            if batch_stats:  # two passes: the variance of the centered rows, never E[x^2] - E[x]^2
                mean[block] = r.mean(axis=1)
                centered = r - mean[block, None]
                var[block] = xp.square(centered).sum(axis=1) / dtype.type(r.shape[1])
            invstd[block] = 1 / xp.sqrt(var[block] + dtype.type(eps))
            scale = invstd[block] if weight is None else invstd[block] * weight.data[block]
            shift = -mean[block] * scale if bias is None else bias.data[block] - mean[block] * scale
            xp.multiply(r, scale[:, None], out=out[block])
            out[block] += shift[:, None]

        for_channel_blocks(xp, channels, rows[:1].nbytes, normalize)
        ctx.save_for_backward(x, weight)
        ctx.stats = (mean, invstd, batch_stats, eps)
        out, mean, var = Tensor(from_channel_rows(out, x.shape, order)), Tensor(mean), Tensor(var)
        ctx.mark_non_differentiable(mean, var)
        return out, mean, var

    @staticmethod
    def backward(ctx: Context, grad: Tensor, _mean_grad: Any, _var_grad: Any) -> Any:
        x, weight = ctx.saved_tensors
        mean, invstd, batch_stats, eps = ctx.stats
        if is_grad_enabled():
            grads = _backward_composite(x, weight, grad, Tensor(mean), Tensor(invstd), batch_stats, eps)
        else:
            grads = _backward_arrays(x.data, None if weight is None else weight.data, grad.data, mean, invstd, batch_stats)
        grad_x, grad_weight, grad_bias = grads
        return (
            grad_x if ctx.needs_input_grad[0] else None,
            grad_weight if ctx.needs_input_grad[1] else None,
            grad_bias if ctx.needs_input_grad[2] else None,
            None, None, None,
        )


def _backward_arrays(x: Any, weight: Any, grad: Any, mean: Any, invstd: Any, batch_stats: bool) -> tuple[Any, Any, Any]:
    """The closed form, on arrays: with xhat = (x - mean) * invstd and g = grad * weight,
    dx = invstd * (g - mean(g) - xhat * mean(g * xhat)) for batch statistics."""
    xp = get_array_module(x)
    rows, order = channel_rows(x)
    grad_rows = grad.transpose(order).reshape(rows.shape)  # a view when grad has x's layout
    channels, count = rows.shape
    grad_x, grad_weight, grad_bias = xp.empty_like(rows), xp.empty_like(mean), xp.empty_like(mean)

    def differentiate(block: slice) -> None:
        g = grad_rows[block]
        grad_bias[block] = g.sum(axis=1)
        centered = rows[block] - mean[block, None]
        dot = (centered * g).sum(axis=1)
        grad_weight[block] = dot * invstd[block]
        scale = invstd[block] if weight is None else invstd[block] * weight[block]
        xp.multiply(g, scale[:, None], out=grad_x[block])
        if batch_stats:  # dx = scale * (grad - sum(grad) / M - centered * dot * invstd^2 / M)
            centered *= (-scale * dot * invstd[block] ** 2 / count)[:, None]
            centered -= (scale * grad_bias[block] / count)[:, None]
            grad_x[block] += centered

    for_channel_blocks(xp, channels, rows[:1].nbytes, differentiate)
    return from_channel_rows(grad_x, x.shape, order), grad_weight, grad_bias


def _backward_composite(
    x: Tensor, weight: Tensor | None, grad: Tensor, mean: Tensor, invstd: Tensor, batch_stats: bool, eps: float
) -> tuple[Tensor, Tensor, Tensor]:
    """The same gradients in Tensor ops, differentiable again (create_graph=True)."""
    dims = (0,) + tuple(range(2, x.ndim))
    shape = (1, x.shape[1]) + (1,) * (x.ndim - 2)
    if batch_stats:  # recomputed from x, so that their dependence on x is differentiated too
        mean_t = x.mean(dims, keepdim=True)
        centered = x - mean_t
        invstd_t = ((centered * centered).mean(dims, keepdim=True) + eps).rsqrt()
    else:
        centered, invstd_t = x - mean.reshape(shape), invstd.reshape(shape)
    xhat = centered * invstd_t
    g = grad if weight is None else grad * weight.reshape(shape)
    if batch_stats:
        grad_x = (g - g.mean(dims, keepdim=True) - xhat * (g * xhat).mean(dims, keepdim=True)) * invstd_t
    else:
        grad_x = g * invstd_t
    return grad_x, (grad * xhat).sum(dims), grad.sum(dims)
