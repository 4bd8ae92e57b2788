"""Matrix product with batch broadcasting (1-D operands follow PyTorch's rules)."""
from __future__ import annotations

from typing import Any

from ..autograd.function import Context, Function
from ..backend import get_array_module
from ..runtime import threads
from ..tensor import Tensor
from .elementwise import operands


class MatMul(Function):
    @staticmethod
    def forward(ctx: Context, a: Tensor, b: Tensor) -> Any:
        ctx.save_for_backward(a if ctx.needs_input_grad[1] else None, b if ctx.needs_input_grad[0] else None)
        ctx.column_major = (_column_major(a.array), _column_major(b.array))
        return threads.matmul(get_array_module(a.array), a.array, b.array)

    @staticmethod
    def backward(ctx: Context, grad: Tensor) -> Any:
        a, b = ctx.saved_tensors
        # Each gradient is computed in the memory order of its operand (a transposed view, as
        # Linear's weight.mT, gets the transposed product's transpose): a leaf keeps it uncopied.
        a_by_columns, b_by_columns = ctx.column_major
        grad_a = None if b is None else (b @ grad.mT).mT if a_by_columns else grad @ b.mT
        grad_b = None if a is None else (grad.mT @ a).mT if b_by_columns else a.mT @ grad
        return grad_a, grad_b  # the engine sums broadcast batch dims away


def _column_major(x: Any) -> bool:
    """Whether the matrices of ``x`` are stored column by column (e.g. ``w.mT`` of a C-ordered ``w``)."""
    return x.ndim >= 2 and x.shape[-1] > 1 and x.shape[-2] > 1 and abs(x.strides[-2]) < abs(x.strides[-1])


def matmul(a: Tensor, b: Tensor) -> Tensor:
    """``a @ b``: (..., N, K) @ (..., K, M) -> (..., N, M); a 1-D operand is a row/column vector."""
    a, b = operands(a, b)
    if a.ndim == 0 or b.ndim == 0:
        raise RuntimeError(f"matmul: both arguments need at least 1 dimension, got shapes {a.shape} and {b.shape}")
    inner_a = a.shape[-1]
    inner_b = b.shape[0] if b.ndim == 1 else b.shape[-2]
    if inner_a != inner_b:
        raise RuntimeError(f"matmul: shapes {a.shape} and {b.shape} cannot be multiplied ({inner_a} != {inner_b})")
    squeeze = []
    if a.ndim == 1:
        a = a.unsqueeze(0)
        squeeze.append(-2)
    if b.ndim == 1:
        b = b.unsqueeze(-1)
        squeeze.append(-1)
    out = MatMul.apply(a, b)
    for dim in squeeze[::-1] if len(squeeze) == 2 else squeeze:
        out = out.squeeze(dim % out.ndim)
    return out
