"""Reductions: sum, amax/amin, gather along a dim, softmax and log-softmax; mean, var,
std, max(dim), logsumexp and norm are compositions of them."""
from __future__ import annotations

import builtins
import math
from collections import namedtuple
from typing import Any

from ..autograd.function import Context, Function
from ..tensor import Tensor
from .elementwise import where

MaxResult = namedtuple("max", ["values", "indices"])
MinResult = namedtuple("min", ["values", "indices"])


def normalize_dims(dim: Any, ndim: int) -> tuple[int, ...]:
    """``dim`` (None, an int or a sequence) as a sorted tuple of non-negative axes."""
    if dim is None:
        return tuple(range(ndim))
    dims = (dim,) if isinstance(dim, int) else tuple(dim)
    size = builtins.max(ndim, 1)
    for d in dims:
        if not -size <= d < size:
            raise IndexError(f"dim: expected a value in [{-size}, {size - 1}], got {d}")
    return tuple(sorted({d % ndim if ndim else 0 for d in dims}))


def _kept_shape(shape: tuple[int, ...], dims: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(1 if i in dims else n for i, n in enumerate(shape))


class Sum(Function):
    @staticmethod
    def forward(ctx: Context, x: Tensor, dims: tuple[int, ...], keepdim: bool) -> Any:
        ctx.shapes = (x.shape, _kept_shape(x.shape, dims))
        return x.xp.sum(x.array, axis=dims, keepdims=keepdim)

    @staticmethod
    def backward(ctx: Context, grad: Tensor) -> Any:
        shape, kept = ctx.shapes
        return grad.reshape(kept).expand(*shape), None, None


class Extremum(Function):
    """amax / amin: the gradient is shared evenly between tied extrema (as in PyTorch)."""

    @staticmethod
    def forward(ctx: Context, x: Tensor, dims: tuple[int, ...], keepdim: bool, largest: bool) -> Any:
        if x.numel() == 0:
            raise RuntimeError(f"{'amax' if largest else 'amin'}(): cannot reduce an empty tensor of shape {x.shape}")
        kept = (x.xp.max if largest else x.xp.min)(x.array, axis=dims, keepdims=True)
        ctx.save_for_backward(x)
        ctx.kept = kept
        return kept if keepdim else kept.reshape([n for i, n in enumerate(kept.shape) if i not in dims])

    @staticmethod
    def backward(ctx: Context, grad: Tensor) -> Any:
        (x,) = ctx.saved_tensors
        hits = x.array == ctx.kept
        share = hits / hits.sum(axis=tuple(i for i, n in enumerate(ctx.kept.shape) if n == 1), keepdims=True)
        return grad.reshape(ctx.kept.shape) * Tensor(share.astype(x.dtype)), None, None, None


def _full_index(index: Any, dim: int, xp: Any) -> tuple[Any, ...]:
    """Open-mesh index that, with ``index`` along ``dim``, addresses every element of it."""
    grids = list(xp.ogrid[tuple(slice(n) for n in index.shape)])
    grids[dim] = index
    return tuple(grids)


class Gather(Function):
    @staticmethod
    def forward(ctx: Context, x: Tensor, dim: int, index: Any) -> Any:
        ctx.meta = (x.shape, dim, index)
        return x.xp.take_along_axis(x.array, index, axis=dim)

    @staticmethod
    def backward(ctx: Context, grad: Tensor) -> Any:
        shape, dim, index = ctx.meta
        return ScatterAdd.apply(grad, shape, dim, index), None, None


class ScatterAdd(Function):
    """Zeros of ``shape`` with ``src`` added at ``index`` along ``dim`` (repeats accumulate)."""

    @staticmethod
    def forward(ctx: Context, src: Tensor, shape: tuple[int, ...], dim: int, index: Any) -> Any:
        ctx.meta = (dim, index)
        out = src.xp.zeros(shape, dtype=src.dtype)
        src.xp.add.at(out, _full_index(index, dim, src.xp), src.array)
        return out

    @staticmethod
    def backward(ctx: Context, grad: Tensor) -> Any:
        dim, index = ctx.meta
        return Gather.apply(grad, dim, index), None, None, None


class LogSoftmax(Function):
    @staticmethod
    def forward(ctx: Context, x: Tensor, dim: int) -> Any:
        ctx.save_output()
        ctx.dim = dim
        xp = x.xp
        shifted = x.array - xp.max(x.array, axis=dim, keepdims=True)
        return shifted - xp.log(xp.sum(xp.exp(shifted), axis=dim, keepdims=True))

    @staticmethod
    def backward(ctx: Context, grad: Tensor) -> Any:
        return grad - ctx.output.exp() * grad.sum(ctx.dim, keepdim=True), None


class Softmax(Function):
    @staticmethod
    def forward(ctx: Context, x: Tensor, dim: int) -> Any:
        ctx.save_output()
        ctx.dim = dim
        xp = x.xp
        e = xp.exp(x.array - xp.max(x.array, axis=dim, keepdims=True))
        return e / xp.sum(e, axis=dim, keepdims=True)

    @staticmethod
    def backward(ctx: Context, grad: Tensor) -> Any:
        out = ctx.output
        return out * (grad - (grad * out).sum(ctx.dim, keepdim=True)), None


# ------------------------------------------------------------------ functions
def sum(x: Tensor, dim: Any = None, keepdim: bool = False, *, dtype: Any = None) -> Tensor:  # noqa: A001
    if dtype is not None:
        x = x.to(dtype)
    elif x.dtype.kind in "biu":  # PyTorch sums bools and integers as int64
        x = x.long()
    return Sum.apply(x, normalize_dims(dim, x.ndim), keepdim)


def mean(x: Tensor, dim: Any = None, keepdim: bool = False, *, dtype: Any = None) -> Tensor:
    if dtype is not None:
        x = x.to(dtype)
    if x.dtype.kind not in "fc":
        raise RuntimeError(f"mean(): expected a floating point input, got {x.dtype}; pass dtype= or call .float()")
    dims = normalize_dims(dim, x.ndim)
    count = math.prod(x.shape[d] for d in dims)
    return Sum.apply(x, dims, keepdim) / count


def amax(x: Tensor, dim: Any = None, keepdim: bool = False) -> Tensor:
    return Extremum.apply(x, normalize_dims(dim, x.ndim), keepdim, True)


def amin(x: Tensor, dim: Any = None, keepdim: bool = False) -> Tensor:
    return Extremum.apply(x, normalize_dims(dim, x.ndim), keepdim, False)


def argmax(x: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor:
    return _arg_extremum(x, dim, keepdim, x.xp.argmax)


def argmin(x: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor:
    return _arg_extremum(x, dim, keepdim, x.xp.argmin)


def _arg_extremum(x: Tensor, dim: int | None, keepdim: bool, function: Any) -> Tensor:
    if dim is None:
        index = function(x.array.reshape(-1))
        return Tensor(index.reshape((1,) * x.ndim) if keepdim else x.xp.asarray(index))
    return Tensor(function(x.array, axis=dim, keepdims=keepdim).astype("int64"))


def max(x: Tensor, dim: Any = None, keepdim: bool = False) -> Any:  # noqa: A001
    """``max(x)``: the largest element; ``max(x, dim)``: ``(values, indices)`` along ``dim``;
    ``max(x, other_tensor)``: the elementwise maximum."""
    if isinstance(dim, Tensor):
        from .elementwise import maximum

        return maximum(x, dim)
    if dim is None:
        return amax(x)
    return MaxResult(*_extremum_along(x, dim, keepdim, x.xp.argmax))


def min(x: Tensor, dim: Any = None, keepdim: bool = False) -> Any:  # noqa: A001
    if isinstance(dim, Tensor):
        from .elementwise import minimum

        return minimum(x, dim)
    if dim is None:
        return amin(x)
    return MinResult(*_extremum_along(x, dim, keepdim, x.xp.argmin))


def _extremum_along(x: Tensor, dim: int, keepdim: bool, function: Any) -> tuple[Tensor, Tensor]:
    index = function(x.array, axis=dim, keepdims=True).astype("int64")
    values = Gather.apply(x, dim % x.ndim, index)
    if not keepdim:
        return values.squeeze(dim), Tensor(index.squeeze(dim))
    return values, Tensor(index)


def gather(x: Tensor, dim: int, index: Tensor) -> Tensor:
    return Gather.apply(x, dim % x.ndim, index.array)


def var(x: Tensor, dim: Any = None, unbiased: Any = None, keepdim: bool = False, *, correction: Any = None) -> Tensor:
    """Variance with Bessel's ``correction`` (default 1; ``unbiased=False`` means 0)."""
    if correction is None:
        correction = 1 if unbiased is None or unbiased else 0
    dims = normalize_dims(dim, x.ndim)
    count = math.prod(x.shape[d] for d in dims)
    deviation = x - mean(x, dims, keepdim=True)
    return (deviation * deviation).sum(dims, keepdim=keepdim) / (count - correction if count > correction else 0.0)


def std(x: Tensor, dim: Any = None, unbiased: Any = None, keepdim: bool = False, *, correction: Any = None) -> Tensor:
    return _root(var(x, dim, unbiased, keepdim, correction=correction), 2)


def _root(x: Tensor, p: float) -> Tensor:
    """``x ** (1/p)`` for ``x >= 0``, with gradient 0 (not inf * 0 = nan) where ``x == 0``, as
    PyTorch defines the gradients of ``std`` and ``norm`` there."""
    at_zero = x.array == 0
    if not at_zero.any():
        return x.sqrt() if p == 2 else x ** (1.0 / p)
    at_zero = Tensor(at_zero)
    safe = where(at_zero, 1.0, x)
    return where(at_zero, 0.0, safe.sqrt() if p == 2 else safe ** (1.0 / p))


def logsumexp(x: Tensor, dim: Any, keepdim: bool = False) -> Tensor:
    dims = normalize_dims(dim, x.ndim)
    shift = amax(x.detach(), dims, keepdim=True)
    shift = Tensor(x.xp.where(x.xp.isfinite(shift.array), shift.array, 0))  # all -inf rows stay -inf
    out = (x - shift).exp().sum(dims, keepdim=True).log() + shift
    return out if keepdim else out.squeeze(dims)


def log_softmax(x: Tensor, dim: int, dtype: Any = None) -> Tensor:
    return LogSoftmax.apply(x if dtype is None else x.to(dtype), dim % x.ndim)


def softmax(x: Tensor, dim: int, dtype: Any = None) -> Tensor:
    return Softmax.apply(x if dtype is None else x.to(dtype), dim % x.ndim)


def norm(x: Tensor, p: Any = 2, dim: Any = None, keepdim: bool = False) -> Tensor:
    if p in ("fro", 2):
        return _root((x * x).sum(dim, keepdim=keepdim), 2)
    if p == math.inf:
        return amax(x.abs(), dim, keepdim)
    return _root((x.abs() ** p).sum(dim, keepdim=keepdim), p)


def all(x: Tensor, dim: Any = None, keepdim: bool = False) -> Tensor:  # noqa: A001
    return Tensor(x.xp.all(x.array, axis=None if dim is None else normalize_dims(dim, x.ndim), keepdims=keepdim))


def any(x: Tensor, dim: Any = None, keepdim: bool = False) -> Tensor:  # noqa: A001
    return Tensor(x.xp.any(x.array, axis=None if dim is None else normalize_dims(dim, x.ndim), keepdims=keepdim))
