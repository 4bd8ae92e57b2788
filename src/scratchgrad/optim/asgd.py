"""ASGD: SGD with a decaying step and a running average of the iterates."""
from __future__ import annotations

import functools
from typing import Any

import numpy as np

from ..backend import get_array_module
from ._checks import check_non_negative, floats, refuse_unsupported
from .optimizer import Optimizer, ParamsT, Update, decayed_gradient


class ASGD(Optimizer):
    """Averaged SGD, step for step equal to ``torch.optim.ASGD``.

    For each parameter ``p`` with gradient ``g``, at step ``t`` (from 1), with ``eta`` and
    ``mu`` from the previous step (``eta = lr``, ``mu = 1`` at first)::

        g = -g if maximize;  g = g + weight_decay * p
        p = p * (1 - lambd * eta) - eta * g
        ax = ax + mu * (p - ax)                           (ax = p while mu == 1)
        eta = lr / (1 + lambd * lr * t)**alpha;  mu = 1 / max(1, t - t0)

    Args:
        params: parameters or parameter groups.
        lr: learning rate. Default: 1e-2.
        lambd: decay term. Default: 1e-4.
        alpha: power of the eta update. Default: 0.75.
        t0: the step at which averaging starts. Default: 1e6.
        weight_decay: L2 penalty. Default: 0.
        foreach: accepted for compatibility (one implementation here).
        maximize: maximize the objective instead. Default: ``False``.

    ``eta`` and ``mu`` are kept in float32 as PyTorch keeps them (float32 scalar tensors
    unless the default dtype is float64); they are Python floats in the state dict.
    """

    def __init__(self, params: ParamsT, lr: float = 1e-2, lambd: float = 1e-4, alpha: float = 0.75, t0: float = 1e6,
                 weight_decay: float = 0, foreach: bool | None = None, maximize: bool = False,
                 differentiable: bool = False, capturable: bool = False) -> None:
        refuse_unsupported("ASGD", capturable=capturable, differentiable=differentiable)
        super().__init__(params, dict(lr=lr, lambd=lambd, alpha=alpha, t0=t0, weight_decay=weight_decay, maximize=maximize))

    def _check_hyperparameters(self, group: dict[str, Any]) -> None:
        check_non_negative("ASGD", group, "lr", "weight_decay")

    def _prepare(self, p: Any, group: dict[str, Any]) -> Update:
        xp, state = get_array_module(p.array), self.state[p]
        lr, lambd, alpha, t0 = (float(group[k]) for k in ("lr", "lambd", "alpha", "t0"))
        if not state:
            state.update(step=0, eta=_float32(lr), mu=1.0, ax=xp.zeros_like(p.array))
        state["step"] += 1
        update = functools.partial(_asgd_update, eta=state["eta"], mu=state["mu"], lambd=lambd,
                                   maximize=bool(group["maximize"]), **floats(group, "weight_decay"))
        step = state["step"]
        state["eta"] = _float32(lr / ((1 + lambd * lr * step) ** alpha))
        state["mu"] = _float32(1 / max(1, step - t0))
        return update, (p.array, p.grad.array, state["ax"])


def _float32(value: float) -> float:
    return float(np.float32(value))


def _asgd_update(data: Any, grad: Any, ax: Any, *, eta: float, mu: float, lambd: float, weight_decay: float,
                 maximize: bool) -> None:
    grad = decayed_gradient(data, grad, weight_decay, maximize)
    data *= 1 - lambd * eta
    data -= eta * grad
    if mu != 1:
        ax += (data - ax) * mu
    else:
        ax[...] = data
