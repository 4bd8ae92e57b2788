"""RMSprop: gradients divided by the root of a running average of their squares."""
from __future__ import annotations

import functools
from typing import Any

from ..backend import get_array_module
from ._checks import check_non_negative, floats, refuse_unsupported
from .optimizer import Optimizer, ParamsT, Update, decayed_gradient


class RMSprop(Optimizer):
    """RMSprop, step for step equal to ``torch.optim.RMSprop``.

    For each parameter ``p`` with gradient ``g``::

        g = -g if maximize;  g = g + weight_decay * p
        v = alpha * v + (1 - alpha) * g * g                       (square_avg)
        m = alpha * m + (1 - alpha) * g;  s = sqrt(v - m * m) + eps   if centered (grad_avg)
        s = sqrt(v) + eps                                             otherwise
        b = momentum * b + g / s;  p = p - lr * b                 if momentum > 0 (momentum_buffer)
        p = p - lr * g / s                                        otherwise

    Args:
        params: parameters or parameter groups.
        lr: learning rate. Default: 1e-2.
        alpha: decay of the running averages. Default: 0.99.
        eps: added to the denominator. Default: 1e-8.
        weight_decay: L2 penalty. Default: 0.
        momentum: momentum factor. Default: 0.
        centered: normalize by the estimated variance instead of the second moment. Default: ``False``.
        foreach: accepted for compatibility (one implementation here).
        maximize: maximize the objective instead. Default: ``False``.
    """

    def __init__(self, params: ParamsT, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8, weight_decay: float = 0,
                 momentum: float = 0, centered: bool = False, capturable: bool = False, foreach: bool | None = None,
                 maximize: bool = False, differentiable: bool = False) -> None:
        refuse_unsupported("RMSprop", capturable=capturable, differentiable=differentiable)
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum,
                                      centered=centered, maximize=maximize))

    def _check_hyperparameters(self, group: dict[str, Any]) -> None:
        check_non_negative("RMSprop", group, "lr", "eps", "momentum", "weight_decay", "alpha")

    def _prepare(self, p: Any, group: dict[str, Any]) -> Update:
        xp, state = get_array_module(p.array), self.state[p]
        if not state:
            state.update(step=0, square_avg=xp.zeros_like(p.array))
            if group["momentum"] > 0:
                state["momentum_buffer"] = xp.zeros_like(p.array)
            if group["centered"]:
                state["grad_avg"] = xp.zeros_like(p.array)
        state["step"] += 1
        h = floats(group, "lr", "alpha", "eps", "weight_decay", "momentum")
        extra = tuple(state[key] for key in ("grad_avg", "momentum_buffer") if key in state)
        update = functools.partial(_rmsprop_update, centered=bool(group["centered"]), maximize=bool(group["maximize"]), **h)
        return update, (p.array, p.grad.array, state["square_avg"], *extra)


def _rmsprop_update(data: Any, grad: Any, square_avg: Any, *extra: Any, lr: float, alpha: float, eps: float,
                    weight_decay: float, momentum: float, centered: bool, maximize: bool) -> None:
    """One step in place; ``extra`` holds grad_avg (if centered), then momentum_buffer (if momentum > 0)."""
    xp = get_array_module(data)
    grad_avg = extra[0] if centered else None
    buf = extra[-1] if momentum > 0 else None
    grad = decayed_gradient(data, grad, weight_decay, maximize)
    square_avg *= alpha
    square_avg += (1 - alpha) * grad * grad
    if grad_avg is not None:
        grad_avg += (1 - alpha) * (grad - grad_avg)
        avg = xp.sqrt(square_avg - grad_avg * grad_avg)
    else:
        avg = xp.sqrt(square_avg)
    avg += eps
    if momentum > 0:
        buf *= momentum
        buf += grad / avg
        data -= lr * buf
    else:
        data -= lr * (grad / avg)
