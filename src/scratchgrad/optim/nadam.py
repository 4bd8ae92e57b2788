"""NAdam: Adam with Nesterov momentum and a momentum schedule."""
from __future__ import annotations

import functools
from typing import Any

import numpy as np

from ..backend import get_array_module
from ._checks import check_betas, check_non_negative, floats, refuse_unsupported
from .optimizer import Optimizer, ParamsT, Update, decayed_gradient


class NAdam(Optimizer):
    """NAdam, step for step equal to ``torch.optim.NAdam``.

    For each parameter ``p`` with gradient ``g``, at step ``t`` (from 1)::

        mu_t = beta1 * (1 - 0.5 * 0.96**(t * momentum_decay));  P_t = P_{t-1} * mu_t   (mu_product)
        p = p * (1 - lr * weight_decay)   if decoupled_weight_decay, else g = g + weight_decay * p
        m = beta1 * m + (1 - beta1) * g;  v = beta2 * v + (1 - beta2) * g * g
        s = sqrt(v / (1 - beta2**t)) + eps
        p = p - lr * (1 - mu_t) / (1 - P_t) * g / s - lr * mu_{t+1} / (1 - P_t * mu_{t+1}) * m / s

    Args:
        params: parameters or parameter groups.
        lr: learning rate. Default: 2e-3.
        betas: decays of the two moments. Default: (0.9, 0.999).
        eps: added to the denominator. Default: 1e-8.
        weight_decay: L2 penalty (or decoupled decay). Default: 0.
        momentum_decay: the momentum schedule's decay. Default: 4e-3.
        decoupled_weight_decay: shrink the parameters directly (NAdamW). Default: ``False``.
        maximize: maximize the objective instead. Default: ``False``.

    ``mu_product`` is kept in float32, as PyTorch keeps it (a float32 scalar tensor unless
    the default dtype is float64), so that the steps agree to the last bits in float64 too.
    """

    def __init__(self, params: ParamsT, lr: float = 2e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0, momentum_decay: float = 4e-3, decoupled_weight_decay: bool = False, *,
                 foreach: bool | None = None, maximize: bool = False, capturable: bool = False,
                 differentiable: bool = False) -> None:
        refuse_unsupported("NAdam", capturable=capturable, differentiable=differentiable)
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                                      momentum_decay=momentum_decay, decoupled_weight_decay=decoupled_weight_decay,
                                      maximize=maximize))

    def _check_hyperparameters(self, group: dict[str, Any]) -> None:
        check_non_negative("NAdam", group, "lr", "eps", "weight_decay", "momentum_decay")
        check_betas("NAdam", group)

    def _prepare(self, p: Any, group: dict[str, Any]) -> Update:
        xp, state = get_array_module(p.array), self.state[p]
        if not state:
            state.update(step=0, mu_product=1.0, exp_avg=xp.zeros_like(p.array), exp_avg_sq=xp.zeros_like(p.array))
        state["step"] += 1
        step, lr, decay = state["step"], float(group["lr"]), float(group["momentum_decay"])
        beta1, beta2 = (float(b) for b in group["betas"])
        mu = beta1 * (1.0 - 0.5 * (0.96 ** (step * decay)))
        mu_next = beta1 * (1.0 - 0.5 * (0.96 ** ((step + 1) * decay)))
        state["mu_product"] = float(np.float32(state["mu_product"]) * np.float32(mu))
        mu_product_next = state["mu_product"] * mu_next
        h = dict(grad_scale=-lr * (1.0 - mu) / (1.0 - state["mu_product"]), avg_scale=(-lr * mu_next) / (1.0 - mu_product_next),
                 bias_correction2=1 - beta2**step, beta1=beta1, beta2=beta2, lr=lr, maximize=bool(group["maximize"]),
                 decoupled=bool(group["decoupled_weight_decay"]), **floats(group, "eps", "weight_decay"))
        return functools.partial(_nadam_update, **h), (p.array, p.grad.array, state["exp_avg"], state["exp_avg_sq"])


def _nadam_update(data: Any, grad: Any, exp_avg: Any, exp_avg_sq: Any, *, grad_scale: float, avg_scale: float,
                  bias_correction2: float, beta1: float, beta2: float, lr: float, eps: float, weight_decay: float,
                  maximize: bool, decoupled: bool) -> None:
    xp = get_array_module(data)
    grad = decayed_gradient(data, grad, weight_decay, maximize, lr if decoupled else None)
    exp_avg += (1 - beta1) * (grad - exp_avg)
    exp_avg_sq *= beta2
    exp_avg_sq += (1 - beta2) * grad * grad
    denom = xp.sqrt(exp_avg_sq / bias_correction2)
    denom += eps
    data += grad_scale * (grad / denom)
    data += avg_scale * (exp_avg / denom)
