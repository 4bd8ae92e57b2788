"""OneCycleLR: the 1cycle policy (Smith & Topin, 2017), with momentum cycling."""
from __future__ import annotations

import math
from typing import Any, Literal

from ..optimizer import Optimizer
from ._base import LRScheduler, check_positive_int, per_group


def _anneal_cos(start: float, end: float, pct: float) -> float:
    return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)


def _anneal_linear(start: float, end: float, pct: float) -> float:
    return (end - start) * pct + start


_ANNEAL = {"cos": _anneal_cos, "linear": _anneal_linear}


def _phases(total_steps: int, pct_start: float, three_phase: bool) -> list[dict[str, Any]]:
    """Each phase anneals lr and momentum between two group keys until its end step."""

    def phase(end_step: float, lr: tuple[str, str], momentum: tuple[str, str]) -> dict[str, Any]:
        return {
            "end_step": end_step,
            "start_lr": lr[0], "end_lr": lr[1],
            "start_momentum": momentum[0], "end_momentum": momentum[1],
        }

    warmup_end = float(pct_start * total_steps) - 1
    if three_phase:
        return [
            phase(warmup_end, ("initial_lr", "max_lr"), ("max_momentum", "base_momentum")),
            phase(float(2 * pct_start * total_steps) - 2, ("max_lr", "initial_lr"),
                  ("base_momentum", "max_momentum")),
            phase(total_steps - 1, ("initial_lr", "min_lr"), ("max_momentum", "max_momentum")),
        ]
    return [
        phase(warmup_end, ("initial_lr", "max_lr"), ("max_momentum", "base_momentum")),
        phase(total_steps - 1, ("max_lr", "min_lr"), ("base_momentum", "max_momentum")),
    ]


class OneCycleLR(LRScheduler):
    """The 1cycle policy, equal to ``torch.optim.lr_scheduler.OneCycleLR``; step it every batch.

    The lr rises from ``max_lr / div_factor`` to ``max_lr`` over the first
    ``pct_start`` of ``total_steps`` (or ``epochs * steps_per_epoch``), then falls
    to ``initial_lr / final_div_factor``; with ``three_phase`` it first comes back
    down to the initial lr, symmetrically, and only then falls to the minimum.
    With ``cycle_momentum`` the momentum (SGD's ``momentum``, Adam's ``betas[0]``)
    moves the opposite way, between ``max_momentum`` and ``base_momentum``.
    ``anneal_strategy`` is ``"cos"`` or ``"linear"``.

    The values live in each parameter group (``initial_lr``, ``max_lr``,
    ``min_lr``, ``max_momentum``, ``base_momentum``), so they are saved with the
    optimizer's state dict.
    """

    def __init__(
        self,
        optimizer: Optimizer,
        max_lr: float | list[float],
        total_steps: int | None = None,
        epochs: int | None = None,
        steps_per_epoch: int | None = None,
        pct_start: float = 0.3,
        anneal_strategy: Literal["cos", "linear"] = "cos",
        cycle_momentum: bool = True,
        base_momentum: float | list[float] = 0.85,
        max_momentum: float | list[float] = 0.95,
        div_factor: float = 25.0,
        final_div_factor: float = 1e4,
        three_phase: bool = False,
        last_epoch: int = -1,
    ) -> None:
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"optimizer: expected an Optimizer, got {type(optimizer).__name__}")
        self.optimizer = optimizer
        if total_steps is not None:
            check_positive_int("total_steps", total_steps)
            self.total_steps = total_steps
        elif epochs is not None and steps_per_epoch is not None:
            check_positive_int("epochs", epochs)
            check_positive_int("steps_per_epoch", steps_per_epoch)
            self.total_steps = epochs * steps_per_epoch
        else:
            raise ValueError("OneCycleLR: give either total_steps, or epochs and steps_per_epoch")
        if not isinstance(pct_start, float) or not 0 <= pct_start <= 1:
            raise ValueError(f"pct_start: expected a float in [0, 1], got {pct_start!r}")
        if anneal_strategy not in _ANNEAL:
            raise ValueError(f"anneal_strategy: expected 'cos' or 'linear', got {anneal_strategy!r}")
        self._schedule_phases = _phases(self.total_steps, pct_start, three_phase)
        self._anneal_func_type = anneal_strategy
        self.cycle_momentum = cycle_momentum
        self.use_beta1 = "betas" in optimizer.defaults
        if cycle_momentum and "momentum" not in optimizer.defaults and not self.use_beta1:
            raise ValueError("cycle_momentum: the optimizer has neither momentum nor betas to cycle")
        if last_epoch == -1:
            self._init_groups(max_lr, div_factor, final_div_factor, base_momentum, max_momentum)
        super().__init__(optimizer, last_epoch)

    def _init_groups(
        self, max_lr: Any, div_factor: float, final_div_factor: float, base_momentum: Any, max_momentum: Any
    ) -> None:
        groups = self.optimizer.param_groups
        for group, peak in zip(groups, per_group("max_lr", self.optimizer, max_lr)):
            group["initial_lr"] = peak / div_factor
            group["max_lr"] = peak
            group["min_lr"] = group["initial_lr"] / final_div_factor
        if not self.cycle_momentum:
            return
        highs = per_group("max_momentum", self.optimizer, max_momentum)
        lows = per_group("base_momentum", self.optimizer, base_momentum)
        for group, high, low in zip(groups, highs, lows):
            self._set_momentum(group, high)
            group["max_momentum"] = high
            group["base_momentum"] = low

    def _set_momentum(self, group: dict[str, Any], value: float) -> None:
        if self.use_beta1:
            group["betas"] = (value, *group["betas"][1:])
        else:
            group["momentum"] = value

    def get_lr(self) -> list[float]:
        """The lr at ``last_epoch``; as a side effect sets the cycled momentum."""
        self._warn_if_called_outside_step()
        step = self.last_epoch
        if step > self.total_steps:
            raise ValueError(
                f"OneCycleLR: tried to step {step} times, more than total_steps={self.total_steps}"
            )
        anneal = _ANNEAL[self._anneal_func_type]
        lrs = []
        for group in self.optimizer.param_groups:
            start = 0.0
            for i, phase in enumerate(self._schedule_phases):
                end = phase["end_step"]
                if step <= end or i == len(self._schedule_phases) - 1:
                    pct = (step - start) / (end - start)
                    break
                start = end
            lrs.append(anneal(group[phase["start_lr"]], group[phase["end_lr"]], pct))
            if self.cycle_momentum:
                momentum = anneal(group[phase["start_momentum"]], group[phase["end_momentum"]], pct)
                self._set_momentum(group, momentum)
        return lrs
