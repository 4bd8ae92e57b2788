"""Define-by-run automatic differentiation: ``Function``, ``backward``, ``grad`` and grad mode."""
from __future__ import annotations

from typing import Any, Sequence

from ..grad_mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from ..tensor import Tensor
from .engine import run_backward
from .function import Context, Function

__all__ = ["Function", "Context", "backward", "grad", "no_grad", "enable_grad", "set_grad_enabled", "is_grad_enabled"]


def _as_sequence(value: Any) -> list[Any]:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _initial_grads(outputs: list[Any], grad_outputs: Any) -> list[Any]:
    given = _as_sequence(grad_outputs) if grad_outputs is not None else [None] * len(outputs)
    if len(given) != len(outputs):
        raise RuntimeError(f"grad_outputs: got {len(given)} gradients for {len(outputs)} outputs")
    grads = []
    for out, grad in zip(outputs, given):
        if not out.requires_grad:
            raise RuntimeError("element of the outputs does not require grad and does not have a grad_fn")
        if grad is None:
            if out.numel() != 1:
                raise RuntimeError(f"grad can be implicitly created only for scalar outputs; got an output of shape {out.shape}")
            grad = Tensor(out.xp.ones(out.shape, out.dtype))
        elif not isinstance(grad, Tensor):
            grad = Tensor(out.xp.asarray(grad, dtype=out.dtype))
        if grad.shape != out.shape:
            raise RuntimeError(f"grad_outputs: gradient of shape {grad.shape} does not match output of shape {out.shape}")
        grads.append(grad)
    return grads


def backward(
    tensors: Any, grad_tensors: Any = None, retain_graph: bool | None = None, create_graph: bool = False
) -> None:
    """Accumulate d(tensors)/d(leaf) into every leaf's ``.grad``."""
    outputs = _as_sequence(tensors)
    grads = _initial_grads(outputs, grad_tensors)
    run_backward(outputs, grads, create_graph if retain_graph is None else retain_graph, create_graph)


def grad(
    outputs: Any,
    inputs: Any,
    grad_outputs: Any = None,
    retain_graph: bool | None = None,
    create_graph: bool = False,
    allow_unused: bool = False,
) -> tuple[Any, ...]:
    """The gradients of ``outputs`` with respect to ``inputs``, returned (``.grad`` untouched).

    With ``create_graph=True`` the result is itself differentiable (higher-order gradients).
    """
    outputs = _as_sequence(outputs)
    input_list: Sequence[Any] = _as_sequence(inputs)
    for tensor in input_list:
        if not tensor.requires_grad:
            raise RuntimeError("grad: one of the inputs does not require grad")
    grads = _initial_grads(outputs, grad_outputs)
    results = run_backward(outputs, grads, create_graph if retain_graph is None else retain_graph, create_graph, input_list)
    if not allow_unused and any(r is None for r in results):
        raise RuntimeError("grad: one of the inputs was not used in the graph; pass allow_unused=True to get None for it")
    if not create_graph:
        results = [None if r is None else r.detach() for r in results]
    return tuple(results)
