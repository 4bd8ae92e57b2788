"""Adadelta: step sizes from running averages of squared gradients and squared updates."""
from __future__ import annotations

import functools
from typing import Any

from ..backend import get_array_module
from ._checks import check_non_negative, check_unit_interval, floats, refuse_unsupported
from .optimizer import Optimizer, ParamsT, Update, decayed_gradient


class Adadelta(Optimizer):
    """Adadelta, step for step equal to ``torch.optim.Adadelta``.

    For each parameter ``p`` with gradient ``g``::

        g = -g if maximize;  g = g + weight_decay * p
        v = rho * v + (1 - rho) * g * g                  (square_avg)
        d = sqrt(u + eps) / sqrt(v + eps) * g
        u = rho * u + (1 - rho) * d * d                  (acc_delta)
        p = p - lr * d

    Args:
        params: parameters or parameter groups.
        lr: scale of the update. Default: 1.0.
        rho: decay of the running averages. Default: 0.9.
        eps: added inside the square roots. Default: 1e-6.
        weight_decay: L2 penalty. Default: 0.
        foreach: accepted for compatibility (one implementation here).
        maximize: maximize the objective instead. Default: ``False``.

    State per parameter: ``step``, ``square_avg``, ``acc_delta``.
    """

    def __init__(self, params: ParamsT, lr: float = 1.0, rho: float = 0.9, eps: float = 1e-6, weight_decay: float = 0,
                 foreach: bool | None = None, *, capturable: bool = False, maximize: bool = False,
                 differentiable: bool = False) -> None:
        refuse_unsupported("Adadelta", capturable=capturable, differentiable=differentiable)
        super().__init__(params, dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, maximize=maximize))

    def _check_hyperparameters(self, group: dict[str, Any]) -> None:
        check_non_negative("Adadelta", group, "lr", "eps", "weight_decay")
        check_unit_interval("Adadelta", group, "rho")

    def _prepare(self, p: Any, group: dict[str, Any]) -> Update:
        xp, state = get_array_module(p.array), self.state[p]
        if not state:
            state.update(step=0, square_avg=xp.zeros_like(p.array), acc_delta=xp.zeros_like(p.array))
        state["step"] += 1
        h = floats(group, "lr", "rho", "eps", "weight_decay")
        arrays = (p.array, p.grad.array, state["square_avg"], state["acc_delta"])
        return functools.partial(_adadelta_update, maximize=bool(group["maximize"]), **h), arrays


def _adadelta_update(data: Any, grad: Any, square_avg: Any, acc_delta: Any, *, lr: float, rho: float, eps: float,
                     weight_decay: float, maximize: bool) -> None:
    xp = get_array_module(data)
    grad = decayed_gradient(data, grad, weight_decay, maximize)
    square_avg *= rho
    square_avg += (1 - rho) * grad * grad
    delta = xp.sqrt(acc_delta + eps)
    delta /= xp.sqrt(square_avg + eps)
    delta *= grad
    acc_delta *= rho
    acc_delta += (1 - rho) * delta * delta
    data -= lr * delta
