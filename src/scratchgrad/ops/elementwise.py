"""Elementwise primitives: arithmetic, exp/log, activations, where, casting."""
from __future__ import annotations

import math
from typing import Any

from ..autograd.function import Context, Function
from ..grad_mode import is_grad_enabled
from ..backend import erf as backend_erf
from ..backend import get_array_module
from ..dtypes import default_float, result_dtype
from ..runtime.threads import elementwise
from ..tensor import Tensor


def operands(a: Any, b: Any) -> tuple[Tensor, Tensor]:
    """Both operands as tensors of PyTorch's result dtype (scalars become 0-d tensors)."""
    dtype = result_dtype(a, b)
    like = a if isinstance(a, Tensor) else b
    return _as_operand(a, dtype, like), _as_operand(b, dtype, like)


def _as_operand(value: Any, dtype: Any, like: Tensor) -> Tensor:
    if not isinstance(value, Tensor):
        return Tensor(like.xp.asarray(value, dtype=dtype))
    return value if value.dtype == dtype else value.to(dtype)


def _mask(condition: Any, dtype: Any) -> Tensor:
    return Tensor(condition.astype(dtype, copy=False))


class Add(Function):
    @staticmethod
    def forward(ctx: Context, a: Tensor, b: Tensor) -> Any:
        return elementwise(a.xp, a.xp.add, a.array, b.array)

    @staticmethod
    def backward(ctx: Context, grad: Tensor) -> Any:
        return grad, grad


class Sub(Function):
    @staticmethod
    def forward(ctx: Context, a: Tensor, b: Tensor) -> Any:
        return elementwise(a.xp, a.xp.subtract, a.array, b.array)

    @staticmethod
    def backward(ctx: Context, grad: Tensor) -> Any:
        return grad, (-grad if ctx.needs_input_grad[1] else None)


class Mul(Function):
    @staticmethod
    def forward(ctx: Context, a: Tensor, b: Tensor) -> Any:
        # Save only what the other operand's gradient needs (as PyTorch does).
        ctx.save_for_backward(a if ctx.needs_input_grad[1] else None, b if ctx.needs_input_grad[0] else None)
        return elementwise(a.xp, a.xp.multiply, a.array, b.array)

    @staticmethod
    def backward(ctx: Context, grad: Tensor) -> Any:
        a, b = ctx.saved_tensors
        return (grad * b if b is not None else None), (grad * a if a is not None else None)


class Div(Function):
    @staticmethod
    def forward(ctx: Context, a: Tensor, b: Tensor) -> Any:
        ctx.save_for_backward(a if ctx.needs_input_grad[1] else None, b)
        return a.array / b.array

    @staticmethod
    def backward(ctx: Context, grad: Tensor) -> Any:
        a, b = ctx.saved_tensors
        grad_a = grad / b if ctx.needs_input_grad[0] else None
        grad_b = -grad * a / (b * b) if ctx.needs_input_grad[1] else None
        return grad_a, grad_b


class Pow(Function):
    @staticmethod
    def forward(ctx: Context, base: Tensor, exponent: Tensor) -> Any:
        ctx.save_for_backward(base, exponent)
        if ctx.needs_input_grad[1]:
            ctx.save_output()
        return base.array**exponent.array

    @staticmethod
    def backward(ctx: Context, grad: Tensor) -> Any:
        base, exponent = ctx.saved_tensors
        grad_base = None
        if ctx.needs_input_grad[0]:
            power = exponent - 1
            if (exponent.array == 0).any():  # x**0 is constant: its gradient is 0, not 0 * 0**-1 = nan
                power = where(exponent == 0, power.new_ones(()), power)
            grad_base = grad * exponent * base**power
        grad_exponent = None
        if ctx.needs_input_grad[1]:
            # d(b^e)/de = b^e log b; PyTorch defines it as 0 where b == 0 and e >= 0.
            safe_log = where(base == 0, base.new_ones(()), base).log()
            grad_exponent = grad * ctx.output * safe_log
        return grad_base, grad_exponent


class Neg(Function):
    @staticmethod
    def forward(ctx: Context, x: Tensor) -> Any:
        return -x.array

    @staticmethod
    def backward(ctx: Context, grad: Tensor) -> Any:
        return -grad


class Exp(Function):
    @staticmethod
    def forward(ctx: Context, x: Tensor) -> Any:
        ctx.save_output()
        return x.xp.exp(x.array)

    @staticmethod
    def backward(ctx: Context, grad: Tensor) -> Any:
        return grad * ctx.output


class Log(Function):
    @staticmethod
    def forward(ctx: Context, x: Tensor) -> Any:
        ctx.save_for_backward(x)
        return x.xp.log(x.array)

    @staticmethod
    def backward(ctx: Context, grad: Tensor) -> Any:
        (x,) = ctx.saved_tensors
        return grad / x


class Log1p(Function):
    @staticmethod
    def forward(ctx: Context, x: Tensor) -> Any:
        ctx.save_for_backward(x)
        return x.xp.log1p(x.array)

    @staticmethod
    def backward(ctx: Context, grad: Tensor) -> Any:
        (x,) = ctx.saved_tensors
        return grad / (x + 1)


class Sqrt(Function):
    @staticmethod
    def forward(ctx: Context, x: Tensor) -> Any:
        ctx.save_output()
        return x.xp.sqrt(x.array)

    @staticmethod
    def backward(ctx: Context, grad: Tensor) -> Any:
        return grad / (ctx.output * 2)


class Abs(Function):
    @staticmethod
    def forward(ctx: Context, x: Tensor) -> Any:
        ctx.save_for_backward(x)
        return x.xp.abs(x.array)

    @staticmethod
    def backward(ctx: Context, grad: Tensor) -> Any:
        (x,) = ctx.saved_tensors
        return grad * Tensor(x.xp.sign(x.array))


class Sigmoid(Function):
    @staticmethod
    def forward(ctx: Context, x: Tensor) -> Any:
        ctx.save_output()
        xp = x.xp
        # exp(-|x|) never overflows; both branches are accurate in relative terms.
        e = xp.exp(-xp.abs(x.array))
        return xp.where(x.array >= 0, 1 / (1 + e), e / (1 + e))

    @staticmethod
    def backward(ctx: Context, grad: Tensor) -> Any:
        out = ctx.output
        return grad * out * (1 - out)


class Softplus(Function):
    """log(1 + e^x), computed as logaddexp(0, x): no overflow, and exact for large |x|."""

    @staticmethod
    def forward(ctx: Context, x: Tensor) -> Any:
        ctx.save_for_backward(x)
        return x.xp.logaddexp(x.dtype.type(0), x.array)

    @staticmethod
    def backward(ctx: Context, grad: Tensor) -> Any:
        (x,) = ctx.saved_tensors
        return grad * x.sigmoid()


class Tanh(Function):
    @staticmethod
    def forward(ctx: Context, x: Tensor) -> Any:
        ctx.save_output()
        return x.xp.tanh(x.array)

    @staticmethod
    def backward(ctx: Context, grad: Tensor) -> Any:
        out = ctx.output
        return grad * (1 - out * out)


class ReLU(Function):
    @staticmethod
    def forward(ctx: Context, x: Tensor) -> Any:
        ctx.save_output()
        return elementwise(x.xp, _relu, x.array)

    @staticmethod
    def backward(ctx: Context, grad: Tensor) -> Any:
        out = ctx.output
        if is_grad_enabled():  # create_graph: a product that can be differentiated again
            return grad * _mask(out.array > 0, grad.dtype)
        return Tensor(elementwise(grad.xp, _relu_grad, grad.array, out.array))


def _relu(x: Any, out: Any = None) -> Any:
    return get_array_module(x).maximum(x, 0, out=out)


def _relu_grad(grad: Any, output: Any, out: Any = None) -> Any:
    xp = get_array_module(grad)
    out = xp.empty_like(grad) if out is None else out
    xp.greater(output, 0, out=out)  # the mask as 1.0 / 0.0: then one same-type product (10% faster than float * bool)
    return xp.multiply(out, grad, out=out)


class LeakyReLU(Function):
    @staticmethod
    def forward(ctx: Context, x: Tensor, negative_slope: float) -> Any:
        ctx.save_for_backward(x)
        ctx.negative_slope = negative_slope
        return x.xp.where(x.array > 0, x.array, x.array * x.dtype.type(negative_slope))

    @staticmethod
    def backward(ctx: Context, grad: Tensor) -> Any:
        (x,) = ctx.saved_tensors
        slope = x.xp.where(x.array > 0, x.dtype.type(1), x.dtype.type(ctx.negative_slope))
        return grad * Tensor(slope), None


class Clamp(Function):
    @staticmethod
    def forward(ctx: Context, x: Tensor, low: float | None, high: float | None) -> Any:
        ctx.save_for_backward(x)
        ctx.bounds = (low, high)
        return x.xp.clip(x.array, low, high).astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx: Context, grad: Tensor) -> Any:
        (x,) = ctx.saved_tensors
        low, high = ctx.bounds
        inside = x.xp.ones(x.shape, dtype=bool)
        if low is not None:
            inside &= x.array >= low
        if high is not None:
            inside &= x.array <= high
        return grad * _mask(inside, grad.dtype), None, None


class Erf(Function):
    @staticmethod
    def forward(ctx: Context, x: Tensor) -> Any:
        ctx.save_for_backward(x)
        return backend_erf(x.array)

    @staticmethod
    def backward(ctx: Context, grad: Tensor) -> Any:
        (x,) = ctx.saved_tensors
        return grad * (2 / math.sqrt(math.pi)) * (-(x * x)).exp()


class Where(Function):
    @staticmethod
    def forward(ctx: Context, condition: Tensor, a: Tensor, b: Tensor) -> Any:
        ctx.save_for_backward(condition)
        return condition.xp.where(condition.array, a.array, b.array)

    @staticmethod
    def backward(ctx: Context, grad: Tensor) -> Any:
        (condition,) = ctx.saved_tensors
        zero = grad.new_zeros(())
        grad_a = where(condition, grad, zero) if ctx.needs_input_grad[1] else None
        grad_b = where(condition, zero, grad) if ctx.needs_input_grad[2] else None
        return None, grad_a, grad_b


class Cast(Function):
    @staticmethod
    def forward(ctx: Context, x: Tensor, dtype: Any) -> Any:
        return x.array.astype(dtype)

    @staticmethod
    def backward(ctx: Context, grad: Tensor) -> Any:
        return grad, None  # the engine casts it back to the input's dtype


def true_divide(a: Any, b: Any) -> Tensor:
    """``a / b``; integer and bool operands are divided as the default float dtype, as in PyTorch."""
    a, b = operands(a, b)
    if a.dtype.kind not in "fc":
        a, b = a.to(default_float), b.to(default_float)
    return Div.apply(a, b)


def where(condition: Any, a: Any, b: Any) -> Tensor:
    """Elements of ``a`` where ``condition`` holds, else of ``b`` (broadcast)."""
    if not isinstance(condition, Tensor):
        like = next((v for v in (a, b) if isinstance(v, Tensor)), None)
        condition = Tensor(condition if like is None else like.xp.asarray(condition))
    if not isinstance(a, Tensor) and not isinstance(b, Tensor):  # two scalars
        a = Tensor(condition.xp.asarray(a, dtype=result_dtype(a, b)))
    return Where.apply(condition, *operands(a, b))


def erf(x: Tensor) -> Tensor:
    return Erf.apply(x)


def maximum(a: Any, b: Any) -> Tensor:
    """Elementwise maximum; where both are equal the gradient is split evenly (as in PyTorch)."""
    a, b = operands(a, b)
    return _extremum(a, b, True)


def minimum(a: Any, b: Any) -> Tensor:
    a, b = operands(a, b)
    return _extremum(a, b, False)


def _extremum(a: Tensor, b: Tensor, largest: bool) -> Tensor:
    pick_a = a > b if largest else a < b
    tie = a == b
    return where(pick_a, a, where(tie, (a + b) * 0.5, b))


class Clone(Function):
    @staticmethod
    def forward(ctx: Context, x: Tensor) -> Any:
        return x.array.copy()

    @staticmethod
    def backward(ctx: Context, grad: Tensor) -> Any:
        return grad
