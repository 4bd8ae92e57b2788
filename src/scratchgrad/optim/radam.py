"""RAdam: Adam with the variance of the adaptive step rectified during warm-up."""
from __future__ import annotations

import functools
from typing import Any

from ..backend import get_array_module
from ._checks import check_betas, check_non_negative, floats, refuse_unsupported
from .optimizer import Optimizer, ParamsT, Update, decayed_gradient


class RAdam(Optimizer):
    """RAdam, step for step equal to ``torch.optim.RAdam``.

    For each parameter ``p`` with gradient ``g``, at step ``t`` (from 1)::

        p = p * (1 - lr * weight_decay)   if decoupled_weight_decay, else g = g + weight_decay * p
        m = beta1 * m + (1 - beta1) * g;  v = beta2 * v + (1 - beta2) * g * g
        rho_inf = 2 / (1 - beta2) - 1;  rho_t = rho_inf - 2 t beta2**t / (1 - beta2**t)
        r = sqrt((rho_t - 4)(rho_t - 2) rho_inf / ((rho_inf - 4)(rho_inf - 2) rho_t))
        p = p - lr * m / (1 - beta1**t) * r * sqrt(1 - beta2**t) / (sqrt(v) + eps)   if rho_t > 5
        p = p - lr * m / (1 - beta1**t)                                                otherwise

    Args:
        params: parameters or parameter groups.
        lr: learning rate. Default: 1e-3.
        betas: decays of the two moments. Default: (0.9, 0.999).
        eps: added to the denominator. Default: 1e-8.
        weight_decay: L2 penalty (or decoupled decay). Default: 0.
        decoupled_weight_decay: shrink the parameters directly (RAdamW). Default: ``False``.
        maximize: maximize the objective instead. Default: ``False``.
    """

    def __init__(self, params: ParamsT, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0, decoupled_weight_decay: bool = False, *, foreach: bool | None = None,
                 maximize: bool = False, capturable: bool = False, differentiable: bool = False) -> None:
        refuse_unsupported("RAdam", capturable=capturable, differentiable=differentiable)
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                                      decoupled_weight_decay=decoupled_weight_decay, maximize=maximize))

    def _check_hyperparameters(self, group: dict[str, Any]) -> None:
        check_non_negative("RAdam", group, "lr", "eps", "weight_decay")
        check_betas("RAdam", group)

    def _prepare(self, p: Any, group: dict[str, Any]) -> Update:
        xp, state = get_array_module(p.array), self.state[p]
        if not state:
            state.update(step=0, exp_avg=xp.zeros_like(p.array), exp_avg_sq=xp.zeros_like(p.array))
        state["step"] += 1
        step = state["step"]
        beta1, beta2 = (float(b) for b in group["betas"])
        bias_correction2 = 1 - beta2**step
        rho_inf = 2 / (1 - beta2) - 1
        rho_t = rho_inf - 2 * step * (beta2**step) / bias_correction2
        rect = None
        if rho_t > 5.0:
            rect = ((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)) ** 0.5
        h = dict(bias_correction1=1 - beta1**step, bias_correction2=bias_correction2, rect=rect, beta1=beta1, beta2=beta2,
                 maximize=bool(group["maximize"]), decoupled=bool(group["decoupled_weight_decay"]),
                 **floats(group, "lr", "eps", "weight_decay"))
        return functools.partial(_radam_update, **h), (p.array, p.grad.array, state["exp_avg"], state["exp_avg_sq"])


def _radam_update(data: Any, grad: Any, exp_avg: Any, exp_avg_sq: Any, *, bias_correction1: float,
                  bias_correction2: float, rect: float | None, beta1: float, beta2: float, lr: float, eps: float,
                  weight_decay: float, maximize: bool, decoupled: bool) -> None:
    xp = get_array_module(data)
    grad = decayed_gradient(data, grad, weight_decay, maximize, lr if decoupled else None)
    exp_avg += (1 - beta1) * (grad - exp_avg)
    exp_avg_sq *= beta2
    exp_avg_sq += (1 - beta2) * grad * grad
    update = exp_avg / bias_correction1
    update *= lr
    if rect is not None:
        root = xp.sqrt(exp_avg_sq)
        root += eps
        update *= bias_correction2**0.5 / root
        update *= rect
    data -= update
