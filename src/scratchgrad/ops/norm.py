"""Batch normalization as one primitive: statistics, normalization and affine map in few passes.

Composed from elementwise ops, a training-mode BatchNorm costs some fifteen passes over its
input forward and backward, each with a full-size temporary. Here the kernels
(``kernels/batchnorm.py``) take one pass over memory for the statistics, combined exactly per
block (Chan et al.), which is also as accurate as the pairwise or double-precision sums of
NumPy and PyTorch, and one more pass each for the forward and the backward.

The output is ``x * scale + shift`` per channel with ``scale = weight / sqrt(var + eps)``
and ``shift = bias - mean * scale``, as PyTorch's CPU kernel computes it. The first-order
backward is the closed form; with ``create_graph=True`` the backward is written in Tensor
ops, so that it can be differentiated again.
"""
from __future__ import annotations

from typing import Any

from ..autograd.function import Context, Function
from ..grad_mode import is_grad_enabled
from ..kernels import batchnorm
from ..tensor import Tensor


class BatchNorm(Function):
    """(N, C, *) -> same: normalize each channel with the batch's statistics (``mean``/``var``
    None) or with given ones, then scale by ``weight`` and shift by ``bias`` (each may be None).

    Returns the output and the batch's mean and biased variance (or the given statistics).
    """

    @staticmethod
    def forward(ctx: Context, x: Tensor, weight: Any, bias: Any, mean: Any, var: Any, eps: float) -> Any:
        batch_stats = mean is None
        out, mean, var, invstd = batchnorm.forward(
            x.array, None if weight is None else weight.array, None if bias is None else bias.array, mean, var, eps
        )
        ctx.save_for_backward(x, weight)
        ctx.stats = (mean, invstd, batch_stats, eps)
        out, mean, var = Tensor(out), Tensor(mean), Tensor(var)
        ctx.mark_non_differentiable(mean, var)
        return out, mean, var

    @staticmethod
    def backward(ctx: Context, grad: Tensor, _mean_grad: Any, _var_grad: Any) -> Any:
        x, weight = ctx.saved_tensors
        mean, invstd, batch_stats, eps = ctx.stats
        if is_grad_enabled():
            grads = _backward_composite(x, weight, grad, Tensor(mean), Tensor(invstd), batch_stats, eps)
        else:
            grads = batchnorm.backward(x.array, None if weight is None else weight.array, grad.array, mean, invstd, batch_stats)
        grad_x, grad_weight, grad_bias = grads
        return (
            grad_x if ctx.needs_input_grad[0] else None,
            grad_weight if ctx.needs_input_grad[1] else None,
            grad_bias if ctx.needs_input_grad[2] else None,
            None, None, None,
        )


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
