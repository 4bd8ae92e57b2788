"""Adamax: Adam with the infinity norm of past gradients in place of the second moment."""
from __future__ import annotations

import functools
from typing import Any

from ..backend import get_array_module
from ._checks import check_betas, check_non_negative, floats, refuse_unsupported
from .optimizer import Optimizer, ParamsT, Update, decayed_gradient


class Adamax(Optimizer):
    """Adamax, step for step equal to ``torch.optim.Adamax``.

    For each parameter ``p`` with gradient ``g``, at step ``t`` (from 1)::

        g = -g if maximize;  g = g + weight_decay * p
        m = beta1 * m + (1 - beta1) * g                  (exp_avg)
        u = max(beta2 * u, |g| + eps)                    (exp_inf)
        p = p - lr / (1 - beta1**t) * m / u

    Args:
        params: parameters or parameter groups.
        lr: learning rate. Default: 2e-3.
        betas: decays of the first moment and of the infinity norm. Default: (0.9, 0.999).
        eps: added to ``|g|``. Default: 1e-8.
        weight_decay: L2 penalty. Default: 0.
        foreach: accepted for compatibility (one implementation here).
        maximize: maximize the objective instead. Default: ``False``.
    """

    def __init__(self, params: ParamsT, lr: float = 2e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0, foreach: bool | None = None, *, maximize: bool = False,
                 differentiable: bool = False, capturable: bool = False) -> None:
        refuse_unsupported("Adamax", capturable=capturable, differentiable=differentiable)
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, maximize=maximize))

    def _check_hyperparameters(self, group: dict[str, Any]) -> None:
        check_non_negative("Adamax", group, "lr", "eps", "weight_decay")
        check_betas("Adamax", group)

    def _prepare(self, p: Any, group: dict[str, Any]) -> Update:
        xp, state = get_array_module(p.array), self.state[p]
        if not state:
            state.update(step=0, exp_avg=xp.zeros_like(p.array), exp_inf=xp.zeros_like(p.array))
        state["step"] += 1
        beta1, beta2 = (float(b) for b in group["betas"])
        clr = float(group["lr"]) / (1 - beta1 ** state["step"])
        update = functools.partial(_adamax_update, clr=clr, beta1=beta1, beta2=beta2, maximize=bool(group["maximize"]),
                                   **floats(group, "eps", "weight_decay"))
        return update, (p.array, p.grad.array, state["exp_avg"], state["exp_inf"])


def _adamax_update(data: Any, grad: Any, exp_avg: Any, exp_inf: Any, *, clr: float, beta1: float, beta2: float,
                   eps: float, weight_decay: float, maximize: bool) -> None:
    xp = get_array_module(data)
    grad = decayed_gradient(data, grad, weight_decay, maximize)
    exp_avg += (1 - beta1) * (grad - exp_avg)
    exp_inf *= beta2
    bound = xp.abs(grad)
    bound += eps
    xp.maximum(exp_inf, bound, out=exp_inf)
    data -= clr * (exp_avg / exp_inf)
