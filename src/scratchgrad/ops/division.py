"""Integer-style division: ``remainder`` (``%``), ``fmod`` and ``floor_divide`` (``//``).

Their gradients are PyTorch's: the quotient's rounding is a step function, so the remainder
of ``a`` by ``b`` changes with ``a`` at slope 1 and with ``b`` at slope ``-round(a / b)``
(floor for ``remainder``, truncation for ``fmod``); ``floor_divide`` has no derivative
(PyTorch raises when one is asked for, and so does this).
"""
from __future__ import annotations

from typing import Any

from ..autograd.function import Context, Function
from ..tensor import Tensor
from .elementwise import operands


class _RoundedRemainder(Function):
    """``a - b * rounding(a / b)``; subclasses name the NumPy function and its rounding."""

    function: str  # the array module's function: "remainder" or "fmod"
    rounding: str  # how it rounds the quotient: "floor" or "trunc"

    @classmethod
    def forward(cls, ctx: Context, a: Tensor, b: Tensor) -> Any:
        ctx.save_for_backward(a if ctx.needs_input_grad[1] else None, b if ctx.needs_input_grad[1] else None)
        return getattr(a.xp, cls.function)(a.array, b.array)

    @classmethod
    def backward(cls, ctx: Context, grad: Tensor) -> Any:
        a, b = ctx.saved_tensors
        if not ctx.needs_input_grad[1]:
            return grad, None
        return grad, -grad * Tensor(getattr(a.xp, cls.rounding)(a.array / b.array))


class Remainder(_RoundedRemainder):
    """``a - b * floor(a / b)``: the sign of the divisor, as Python's ``%``."""

    function, rounding = "remainder", "floor"


class Fmod(_RoundedRemainder):
    """``a - b * trunc(a / b)``: the sign of the dividend, as C's ``fmod``."""

    function, rounding = "fmod", "trunc"


class FloorDivide(Function):
    """``floor(a / b)``; recorded in the graph as PyTorch does, but with no derivative."""

    @staticmethod
    def forward(ctx: Context, a: Tensor, b: Tensor) -> Any:
        return a.xp.floor_divide(a.array, b.array)

    @staticmethod
    def backward(ctx: Context, grad: Tensor) -> Any:
        raise RuntimeError("derivative for floor_divide is not implemented")


def _integer_safe(function: type, a: Any, b: Any) -> Tensor:
    a, b = operands(a, b)
    if a.dtype.kind in "iub" and (b.array == 0).any():
        raise ZeroDivisionError(f"{function.__name__.lower()}: integer division by zero")
    return function.apply(a, b)


def remainder(input: Any, other: Any) -> Tensor:
    """The remainder of ``input / other`` with the divisor's sign (``input % other``)."""
    return _integer_safe(Remainder, input, other)


def fmod(input: Any, other: Any) -> Tensor:
    """The remainder of ``input / other`` with the dividend's sign."""
    return _integer_safe(Fmod, input, other)


def floor_divide(input: Any, other: Any) -> Tensor:
    """``floor(input / other)`` (``input // other``), in the operands' common dtype."""
    return _integer_safe(FloorDivide, input, other)
