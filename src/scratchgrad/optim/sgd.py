"""Stochastic gradient descent, with momentum, dampening, Nesterov and weight decay."""
from __future__ import annotations

import functools
from typing import Any

from ..backend import get_array_module
from .optimizer import Optimizer, ParamsT, Update, decayed_gradient


class SGD(Optimizer):
    """Stochastic gradient descent, step for step equal to ``torch.optim.SGD``.

    For each parameter ``p`` with gradient ``g``::

        g = -g if maximize;  g = g + weight_decay * p
        b = g                                   (first step)
        b = momentum * b + (1 - dampening) * g  (later steps)
        g = g + momentum * b if nesterov else b      (when momentum != 0)
        p = p - lr * g

    The momentum buffer is kept in ``state[p]["momentum_buffer"]``.
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-3,
        momentum: float = 0,
        dampening: float = 0,
        weight_decay: float = 0,
        nesterov: bool = False,
        *,
        maximize: bool = False,
    ) -> None:
        defaults = dict(
            lr=lr,
            momentum=momentum,
            dampening=dampening,
            weight_decay=weight_decay,
            nesterov=nesterov,
            maximize=maximize,
        )
        super().__init__(params, defaults)

    def _check_hyperparameters(self, group: dict[str, Any]) -> None:
        for name in ("lr", "momentum", "weight_decay"):
            if group[name] < 0:
                raise ValueError(f"SGD: invalid {name} {group[name]!r}, expected a value >= 0")
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError(
                "SGD: nesterov=True requires momentum > 0 and dampening = 0, got "
                f"momentum={group['momentum']!r}, dampening={group['dampening']!r}"
            )

    def _prepare(self, p: Any, group: dict[str, Any]) -> Update:
        """The elementwise update of ``p`` and its arrays; creates the momentum buffer on the first step."""
        # Python floats keep float32 arrays float32 under NumPy 2's promotion rules.
        h = {k: float(group[k]) for k in ("lr", "momentum", "dampening", "weight_decay")}
        h.update(maximize=bool(group["maximize"]), nesterov=bool(group["nesterov"]), first=False)
        arrays = (p.array, p.grad.array)
        if h["momentum"] != 0:
            state = self.state[p]
            if state.get("momentum_buffer") is None:  # filled with this step's gradient by the update
                state["momentum_buffer"] = get_array_module(p.array).empty_like(p.array)
                h["first"] = True
            arrays += (state["momentum_buffer"],)
        return functools.partial(_sgd_update, **h), arrays


def _sgd_update(data: Any, grad: Any, buf: Any = None, *, lr: float, momentum: float, dampening: float,
                weight_decay: float, maximize: bool, nesterov: bool, first: bool) -> None:
    """One SGD step on (blocks of) a parameter's arrays, in place."""
    grad = decayed_gradient(data, grad, weight_decay, maximize)
    if momentum != 0:
        if first:
            buf[...] = grad
        else:
            buf *= momentum
            buf += (1 - dampening) * grad
        grad = grad + momentum * buf if nesterov else buf
    data -= lr * grad
