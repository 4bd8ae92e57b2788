"""Flatten parameters into one vector and back."""
from __future__ import annotations

from typing import Iterable

from ...grad_mode import no_grad
from ...ops.shape import cat
from ...tensor import Tensor


def parameters_to_vector(parameters: Iterable[Tensor]) -> Tensor:
    """All parameters, flattened and concatenated in order: (sum of numel,)."""
    return cat([param.reshape(-1) for param in parameters])


def vector_to_parameters(vec: Tensor, parameters: Iterable[Tensor]) -> None:
    """Copy consecutive slices of ``vec`` into the parameters (in their memory, keeping dtype).

    Difference from PyTorch: the parameters do not become views of ``vec``.
    """
    if not isinstance(vec, Tensor) or vec.ndim != 1:
        raise TypeError(f"vector_to_parameters: expected a 1-D Tensor, got {type(vec).__name__} of shape {getattr(vec, 'shape', None)}")
    params = list(parameters)
    total = sum(param.numel() for param in params)
    if vec.numel() != total:
        raise ValueError(f"vector_to_parameters: vec has {vec.numel()} elements, the parameters need {total}")
    offset = 0
    with no_grad():
        for param in params:
            param.copy_(vec[offset : offset + param.numel()].reshape(param.shape))
            offset += param.numel()
