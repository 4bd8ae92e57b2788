"""Adam and AdamW: one update rule, with L2 or decoupled weight decay."""
from __future__ import annotations

import functools
from typing import Any

from ..backend import get_array_module
from .optimizer import Optimizer, ParamsT, Update, decayed_gradient


class Adam(Optimizer):
    """Adam, step for step equal to ``torch.optim.Adam``.

    For each parameter ``p`` with gradient ``g``, at step ``t`` (from 1)::

        g = -g if maximize
        p = p * (1 - lr * weight_decay)   if decoupled_weight_decay   (AdamW)
        g = g + weight_decay * p          otherwise                   (L2)
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        v_max = max(v_max, v);  v = v_max                  if amsgrad
        p = p - lr / (1 - beta1**t) * m / (sqrt(v / (1 - beta2**t)) + eps)

    State per parameter: ``step`` (a Python int), ``exp_avg`` (m), ``exp_avg_sq``
    (v) and, with amsgrad, ``max_exp_avg_sq``.
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
        decoupled_weight_decay: bool = False,
    ) -> None:
        defaults = dict(
            lr=lr,
            betas=tuple(betas),
            eps=eps,
            weight_decay=weight_decay,
            amsgrad=amsgrad,
            maximize=maximize,
            decoupled_weight_decay=decoupled_weight_decay,
        )
        super().__init__(params, defaults)

    def _check_hyperparameters(self, group: dict[str, Any]) -> None:
        name = type(self).__name__
        for key in ("lr", "eps", "weight_decay"):
            if group[key] < 0:
                raise ValueError(f"{name}: invalid {key} {group[key]!r}, expected a value >= 0")
        if len(group["betas"]) != 2:
            raise ValueError(f"{name}: betas must be a pair (beta1, beta2), got {group['betas']!r}")
        for i, beta in enumerate(group["betas"]):
            if not 0 <= beta < 1:
                raise ValueError(f"{name}: invalid betas[{i}] {beta!r}, expected a value in [0, 1)")

    def _prepare(self, p: Any, group: dict[str, Any]) -> Update:
        """Advance ``p``'s state to this step; returns the elementwise update and its arrays."""
        data = p.array
        xp = get_array_module(data)
        state = self.state[p]
        if not state:
            state["step"] = 0
            state["exp_avg"] = xp.zeros_like(data)
            state["exp_avg_sq"] = xp.zeros_like(data)
        if group["amsgrad"] and "max_exp_avg_sq" not in state:
            state["max_exp_avg_sq"] = xp.zeros_like(data)
        state["step"] += 1
        # Python floats keep float32 arrays float32 under NumPy 2's promotion rules.
        beta1, beta2 = (float(b) for b in group["betas"])
        h = dict(lr=float(group["lr"]), eps=float(group["eps"]), weight_decay=float(group["weight_decay"]),
                 beta1=beta1, beta2=beta2, step=state["step"], maximize=bool(group["maximize"]),
                 decoupled=bool(group["decoupled_weight_decay"]))
        arrays = (data, p.grad.array, state["exp_avg"], state["exp_avg_sq"])
        return functools.partial(_adam_update, **h), arrays + ((state["max_exp_avg_sq"],) if group["amsgrad"] else ())


def _adam_update(data: Any, grad: Any, exp_avg: Any, exp_avg_sq: Any, max_exp_avg_sq: Any = None, *, lr: float,
                 eps: float, weight_decay: float, beta1: float, beta2: float, step: int, maximize: bool,
                 decoupled: bool) -> None:
    """One Adam step on (blocks of) a parameter's arrays, in place."""
    xp = get_array_module(data)
    grad = decayed_gradient(data, grad, weight_decay, maximize, lr if decoupled else None)
    scratch = grad - exp_avg  # one temporary, reused: the block stays in cache
    scratch *= 1 - beta1
    exp_avg += scratch
    exp_avg_sq *= beta2
    xp.multiply(grad, 1 - beta2, out=scratch)
    scratch *= grad
    exp_avg_sq += scratch
    if max_exp_avg_sq is not None:
        xp.maximum(max_exp_avg_sq, exp_avg_sq, out=max_exp_avg_sq)
        exp_avg_sq = max_exp_avg_sq

    bias_correction1 = 1 - beta1**step
    bias_correction2 = 1 - beta2**step
    denom = xp.sqrt(exp_avg_sq, out=scratch)
    denom /= bias_correction2**0.5
    denom += eps
    update = xp.divide(exp_avg, denom, out=scratch)
    update *= lr / bias_correction1
    data -= update


class AdamW(Adam):
    """AdamW: Adam with decoupled weight decay, equal to ``torch.optim.AdamW``.

    The only difference from :class:`Adam` is ``weight_decay`` (default 1e-2), which
    shrinks the parameters directly, ``p *= 1 - lr * weight_decay``, instead of
    being added to the gradient.
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
    ) -> None:
        super().__init__(
            params, lr, betas, eps, weight_decay, amsgrad,
            maximize=maximize, decoupled_weight_decay=True,
        )

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict(state_dict)
        for group in self.param_groups:  # whatever was saved, AdamW's decay stays decoupled
            group["decoupled_weight_decay"] = True
