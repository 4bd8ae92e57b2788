"""Gradient clipping: ``clip_grad_norm_`` and ``clip_grad_value_`` (PyTorch's semantics)."""
from __future__ import annotations

import math
from typing import Any, Iterable

import numpy as np

from ...grad_mode import no_grad
from ...backend import get_array_module
from ...tensor import Tensor

Parameters = Tensor | Iterable[Tensor]


def _grads(parameters: Parameters) -> list[Tensor]:
    params = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    return [p.grad for p in params if p.grad is not None]


def _vector_norm(array: Any, norm_type: float) -> Any:
    """The ``norm_type``-norm of all elements of ``array``, in its dtype."""
    xp = get_array_module(array)
    values = xp.abs(array.reshape(-1))
    if values.size == 0:
        return xp.zeros((), array.dtype)
    if norm_type == math.inf:
        return values.max()
    if norm_type == -math.inf:
        return values.min()
    if norm_type == 0:
        return (values != 0).sum().astype(array.dtype)
    if norm_type == 1:
        return values.sum()
    if norm_type == 2:
        return xp.sqrt((values * values).sum())
    return (values ** array.dtype.type(norm_type)).sum() ** array.dtype.type(1.0 / norm_type)


def clip_grad_norm_(
    parameters: Parameters, max_norm: float, norm_type: float = 2.0, error_if_nonfinite: bool = False, foreach: Any = None
) -> Tensor:
    """Scale the gradients in place so that their joint norm is at most ``max_norm``.

    The joint norm is the ``norm_type``-norm of the per-gradient norms (as if all gradients
    were one vector). Gradients are multiplied by ``min(1, max_norm / (total_norm + 1e-6))``.

    Args:
        parameters: a tensor or an iterable of tensors whose ``.grad`` is clipped.
        max_norm: the largest allowed norm.
        norm_type: the p of the p-norm; ``inf`` for the max norm. Default: 2.
        error_if_nonfinite: raise if the total norm is nan or inf (else the gradients become
            nan/inf, as in PyTorch). Default: ``False``.
        foreach: accepted for compatibility; ignored.

    Returns:
        The total norm of the gradients before clipping, a 0-d tensor in their dtype
        (0.0 float32 when no parameter has a gradient).
    """
    grads = _grads(parameters)
    if not grads:
        return Tensor(np.zeros((), np.float32))
    norm_type = float(norm_type)
    dtype = np.result_type(*[g.dtype for g in grads])
    norms = grads[0].xp.stack([_vector_norm(g.array, norm_type).astype(dtype) for g in grads])
    total = _vector_norm(norms, norm_type)
    if error_if_nonfinite and not bool(grads[0].xp.isfinite(total)):
        raise RuntimeError(
            f"The total norm of order {norm_type} for gradients from `parameters` is non-finite ({float(total)}), so it "
            "cannot be clipped. To disable this error and scale the gradients by the non-finite norm anyway, set "
            "`error_if_nonfinite=False`"
        )
    coefficient = Tensor(grads[0].xp.minimum(dtype.type(max_norm) / (total + dtype.type(1e-6)), dtype.type(1.0)))
    with no_grad():
        for grad in grads:
            grad.mul_(coefficient.to(grad.dtype))
    return Tensor(total)


def clip_grad_value_(parameters: Parameters, clip_value: float, foreach: Any = None) -> None:
    """Clamp every gradient in place to ``[-clip_value, clip_value]``."""
    clip_value = float(clip_value)
    with no_grad():
        for grad in _grads(parameters):
            grad.clamp_(min=-clip_value, max=clip_value)
