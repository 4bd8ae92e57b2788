"""Adagrad: each coordinate's step divided by the root of its summed squared gradients."""
from __future__ import annotations

import functools
from typing import Any

from ..backend import get_array_module
from ._checks import check_non_negative, floats, refuse_unsupported
from .optimizer import Optimizer, ParamsT, Update, decayed_gradient


class Adagrad(Optimizer):
    """Adagrad, step for step equal to ``torch.optim.Adagrad``.

    For each parameter ``p`` with gradient ``g``, at step ``t`` (from 1)::

        g = -g if maximize;  g = g + weight_decay * p
        s = s + g * g                                         (sum)
        p = p - lr / (1 + (t - 1) * lr_decay) * g / (sqrt(s) + eps)

    Args:
        params: parameters or parameter groups.
        lr: learning rate. Default: 1e-2.
        lr_decay: learning-rate decay per step. Default: 0.
        weight_decay: L2 penalty. Default: 0.
        initial_accumulator_value: the starting value of ``sum``. Default: 0.
        eps: added to the denominator. Default: 1e-10.
        foreach: accepted for compatibility (one implementation here).
        maximize: maximize the objective instead. Default: ``False``.

    As in PyTorch, the state (``step`` 0 and ``sum``) of every parameter is created by the
    constructor, so a state dict lists all parameters from the start.
    """

    def __init__(self, params: ParamsT, lr: float = 1e-2, lr_decay: float = 0, weight_decay: float = 0,
                 initial_accumulator_value: float = 0, eps: float = 1e-10, foreach: bool | None = None, *,
                 maximize: bool = False, differentiable: bool = False, fused: bool | None = None) -> None:
        refuse_unsupported("Adagrad", differentiable=differentiable, fused=fused)
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, eps=eps, weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value, maximize=maximize))
        for group in self.param_groups:
            for p in group["params"]:
                xp = get_array_module(p.array)
                self.state[p] = dict(step=0, sum=xp.full_like(p.array, group["initial_accumulator_value"]))

    def _check_hyperparameters(self, group: dict[str, Any]) -> None:
        check_non_negative("Adagrad", group, "lr", "lr_decay", "weight_decay", "initial_accumulator_value", "eps")

    def _prepare(self, p: Any, group: dict[str, Any]) -> Update:
        state = self.state[p]
        if not state:  # a parameter added with add_param_group after construction
            state.update(step=0, sum=get_array_module(p.array).full_like(p.array, group["initial_accumulator_value"]))
        state["step"] += 1
        h = floats(group, "eps", "weight_decay")
        clr = float(group["lr"]) / (1 + (state["step"] - 1) * float(group["lr_decay"]))
        update = functools.partial(_adagrad_update, clr=clr, maximize=bool(group["maximize"]), **h)
        return update, (p.array, p.grad.array, state["sum"])


def _adagrad_update(data: Any, grad: Any, state_sum: Any, *, clr: float, eps: float, weight_decay: float,
                    maximize: bool) -> None:
    xp = get_array_module(data)
    grad = decayed_gradient(data, grad, weight_decay, maximize)
    state_sum += grad * grad
    std = xp.sqrt(state_sum)
    std += eps
    data -= clr * (grad / std)
