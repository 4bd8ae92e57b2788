"""The methods of ``Tensor`` that compute, each forwarding to one op in ``ops/`` (or to autograd).

The one place where they are attached: ``tensor.py`` imports no op, so that the ops can import
it; this module, imported first by ``scratchgrad/__init__.py``, loads the ops and attaches.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from . import dtypes
from .autograd import backward
from .backend import device
from .ops import division as div
from .ops import elementwise as ew
from .ops import reduction as red
from .ops import shape as sh
from .ops.matmul import matmul
from .tensor import Tensor, _parse_to_args


def _binary(function: type) -> Callable[[Tensor, Any], Tensor]:
    def method(self: Tensor, other: Any) -> Tensor:
        return function.apply(*ew.operands(self, other))

    return method


def _reflected(function: type) -> Callable[[Tensor, Any], Tensor]:
    def method(self: Tensor, other: Any) -> Tensor:
        return function.apply(*ew.operands(other, self))

    return method


def _comparison(name: str) -> Callable[[Tensor, Any], Tensor]:
    def method(self: Tensor, other: Any) -> Tensor:
        dtype = ew.result_dtype(self, other)
        other_data = other.array if isinstance(other, Tensor) else other
        return Tensor(getattr(self.xp, name)(self.array.astype(dtype, copy=False), other_data))

    return method


def _unary(function: type) -> Callable[[Tensor], Tensor]:
    def method(self: Tensor) -> Tensor:
        return function.apply(self if self.dtype.kind in "fc" else self.float())

    return method


def _clamp(self: Tensor, min: Any = None, max: Any = None) -> Tensor:  # noqa: A002
    if min is None and max is None:
        raise RuntimeError("clamp: at least one of 'min' or 'max' must not be None")
    if isinstance(min, Tensor) or isinstance(max, Tensor):
        out = self if min is None else ew.maximum(self, min)
        return out if max is None else ew.minimum(out, max)
    x = self
    for bound in (min, max):  # an integer tensor clamped to a float bound becomes float, as in PyTorch
        if bound is not None:
            x = x.to(ew.result_dtype(x, bound))
    return ew.Clamp.apply(x, min, max)


def _pow(self: Tensor, exponent: Any) -> Tensor:
    return ew.Pow.apply(*ew.operands(self, exponent))


def _transpose(self: Tensor, dim0: int = 0, dim1: int = 1) -> Tensor:
    return sh.transpose(self, dim0, dim1)


def _masked_fill(self: Tensor, mask: Any, value: Any) -> Tensor:
    return ew.where(mask, value, self)


def _backward(self: Tensor, gradient: Tensor | None = None, retain_graph: bool | None = None, create_graph: bool = False) -> None:
    """Accumulate the gradient of this tensor into every leaf's ``.grad``."""
    backward(self, gradient, retain_graph, create_graph)


def _to(self: Tensor, *args: Any, **kwargs: Any) -> Tensor:
    """``to(dtype)``, ``to(device)`` or ``to(device, dtype)``; differentiable."""
    target_device, dtype = _parse_to_args(args, kwargs)
    out = self
    if dtype is not None and dtypes.as_dtype(dtype) != self.dtype:
        out = out._cast(dtypes.as_dtype(dtype))
    if target_device is not None and device(target_device) != self.device:
        out = sh.to_device(out, device(target_device))
    return out


def _cast(self: Tensor, dtype: np.dtype) -> Tensor:
    return ew.Cast.apply(self, dtype)


def _setitem(self: Tensor, index: Any, value: Any) -> None:
    self._assign(sh.index_put(self, index, value))


def _bmm(self: Tensor, mat2: Tensor) -> Tensor:
    """Batched matrix product of two 3-D tensors, (B, n, m) @ (B, m, p) -> (B, n, p)."""
    if self.ndim != 3 or mat2.ndim != 3 or self.shape[0] != mat2.shape[0]:
        raise RuntimeError(f"bmm: expected two 3-D tensors with the same batch size, got {self.shape} and {mat2.shape}")
    return matmul(self, mat2)


_METHODS: dict[str, Any] = {
    "__add__": _binary(ew.Add), "__radd__": _reflected(ew.Add),
    "__sub__": _binary(ew.Sub), "__rsub__": _reflected(ew.Sub),
    "__mul__": _binary(ew.Mul), "__rmul__": _reflected(ew.Mul),
    "__truediv__": ew.true_divide, "__rtruediv__": lambda self, other: ew.true_divide(other, self),
    "__pow__": _pow, "__rpow__": _reflected(ew.Pow),
    "__matmul__": matmul, "__rmatmul__": lambda self, other: matmul(other, self),
    "__neg__": lambda self: ew.Neg.apply(self),
    "__abs__": lambda self: ew.Abs.apply(self),
    "__getitem__": sh.getitem,
    "__eq__": _comparison("equal"), "__ne__": _comparison("not_equal"),
    "__lt__": _comparison("less"), "__le__": _comparison("less_equal"),
    "__gt__": _comparison("greater"), "__ge__": _comparison("greater_equal"),
    "eq": _comparison("equal"), "ne": _comparison("not_equal"),
    "lt": _comparison("less"), "le": _comparison("less_equal"),
    "gt": _comparison("greater"), "ge": _comparison("greater_equal"),
    "add": lambda self, other, alpha=1: self + other * alpha if alpha != 1 else self + other,
    "sub": lambda self, other, alpha=1: self - other * alpha if alpha != 1 else self - other,
    "mul": _binary(ew.Mul), "div": ew.true_divide, "pow": _pow, "matmul": matmul, "mm": matmul,
    "neg": lambda self: ew.Neg.apply(self), "abs": lambda self: ew.Abs.apply(self),
    "exp": _unary(ew.Exp), "log": _unary(ew.Log), "log1p": _unary(ew.Log1p), "sqrt": _unary(ew.Sqrt),
    "sigmoid": _unary(ew.Sigmoid), "tanh": _unary(ew.Tanh), "relu": _unary(ew.ReLU), "erf": _unary(ew.Erf),
    "rsqrt": lambda self: 1 / self.sqrt(),
    "square": lambda self: self * self,
    "clamp": _clamp, "clip": _clamp,
    "clone": lambda self: ew.Clone.apply(self),
    "where": lambda self, condition, other: ew.where(condition, self, other),
    "masked_fill": _masked_fill,
    "maximum": ew.maximum, "minimum": ew.minimum,
    "sum": red.sum, "mean": red.mean, "max": red.max, "min": red.min, "amax": red.amax, "amin": red.amin,
    "argmax": red.argmax, "argmin": red.argmin, "var": red.var, "std": red.std, "norm": red.norm,
    "logsumexp": red.logsumexp, "softmax": red.softmax, "log_softmax": red.log_softmax,
    "gather": red.gather, "all": red.all, "any": red.any,
    "reshape": sh.reshape, "view": sh.reshape, "permute": sh.permute, "transpose": _transpose,
    "t": lambda self: _transpose(self, 0, 1) if self.ndim == 2 else self,
    "expand": sh.expand, "expand_as": lambda self, other: sh.expand(self, *other.shape),
    "view_as": lambda self, other: sh.reshape(self, *other.shape),
    "reshape_as": lambda self, other: sh.reshape(self, *other.shape),
    "squeeze": sh.squeeze, "unsqueeze": sh.unsqueeze, "flatten": sh.flatten,
    "split": sh.split, "chunk": sh.chunk,
    "__mod__": div.remainder, "__rmod__": lambda self, other: div.remainder(other, self),
    "__floordiv__": div.floor_divide, "__rfloordiv__": lambda self, other: div.floor_divide(other, self),
    "remainder": div.remainder, "fmod": div.fmod, "floor_divide": div.floor_divide, "bmm": _bmm,
    "__setitem__": _setitem, "to": _to, "_cast": _cast, "backward": _backward,
}

for _name, _method in _METHODS.items():
    setattr(Tensor, _name, _method)
