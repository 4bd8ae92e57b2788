"""CyclicLR: the lr cycles between two bounds (Smith, 2017), with momentum cycling the other way."""
from __future__ import annotations

import copy
import math
import types
from collections.abc import Callable
from typing import Any, Literal

from ..optimizer import Optimizer
from ._base import LRScheduler, per_group

_MODES = ("triangular", "triangular2", "exp_range")


class CyclicLR(LRScheduler):
    """Cyclical learning rate, equal to ``torch.optim.lr_scheduler.CyclicLR``; step it every batch.

    Args:
        optimizer: the optimizer.
        base_lr: the lower bound (one value or one per group); set as the lr at construction.
        max_lr: the upper bound (one value or one per group).
        step_size_up: steps from the lower to the upper bound. Default: 2000.
        step_size_down: steps back down. Default: ``step_size_up``.
        mode: ``'triangular'`` (constant amplitude), ``'triangular2'`` (halved every cycle)
            or ``'exp_range'`` (scaled by ``gamma**step``). Default: ``'triangular'``.
        gamma: the base of ``'exp_range'``. Default: 1.0.
        scale_fn: a custom amplitude ``f(x)`` in [0, 1], replacing ``mode``.
        scale_mode: ``'cycle'`` or ``'iterations'``: what ``scale_fn`` receives. Default: ``'cycle'``.
        cycle_momentum: cycle SGD's ``momentum`` (Adam's ``betas[0]``) inversely, between
            ``base_momentum`` and ``max_momentum``. Default: ``True``.
        base_momentum, max_momentum: the momentum bounds. Defaults: 0.8, 0.9.
        last_epoch: the index of the last batch, to resume. Default: -1.
    """

    _unsaved = ("optimizer", "_scale_fn_custom")

    def __init__(
        self, optimizer: Optimizer, base_lr: float | list[float], max_lr: float | list[float], step_size_up: int = 2000,
        step_size_down: int | None = None, mode: Literal["triangular", "triangular2", "exp_range"] = "triangular",
        gamma: float = 1.0, scale_fn: Callable[[float], float] | None = None,
        scale_mode: Literal["cycle", "iterations"] = "cycle", cycle_momentum: bool = True, base_momentum: float = 0.8,
        max_momentum: float = 0.9, last_epoch: int = -1,
    ) -> None:
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"optimizer: expected an Optimizer, got {type(optimizer).__name__}")
        if mode not in _MODES and scale_fn is None:
            raise ValueError(f"CyclicLR: mode must be one of {_MODES} when scale_fn is None, got {mode!r}")
        base_lrs = per_group("base_lr", optimizer, base_lr)
        if last_epoch == -1:
            for lr, group in zip(base_lrs, optimizer.param_groups):
                group["lr"] = lr
        self.max_lrs = per_group("max_lr", optimizer, max_lr)
        up = float(step_size_up)
        down = float(step_size_down) if step_size_down is not None else up
        self.total_size = up + down
        self.step_ratio = up / self.total_size
        self.mode, self.gamma, self._scale_fn_custom = mode, gamma, scale_fn
        # the built-in modes fix what the amplitude depends on, as in PyTorch
        self.scale_mode = scale_mode if scale_fn is not None else ("iterations" if mode == "exp_range" else "cycle")
        self.cycle_momentum = cycle_momentum
        if cycle_momentum:
            self._init_momentum(optimizer, base_momentum, max_momentum, last_epoch)
        super().__init__(optimizer, last_epoch)
        self.base_lrs = base_lrs

    def _init_momentum(self, optimizer: Optimizer, base_momentum: Any, max_momentum: Any, last_epoch: int) -> None:
        if "momentum" not in optimizer.defaults and "betas" not in optimizer.defaults:
            raise ValueError("CyclicLR: optimizer must support momentum or beta1 with `cycle_momentum` option enabled")
        self.use_beta1 = "betas" in optimizer.defaults
        self.base_momentums = per_group("base_momentum", optimizer, base_momentum)
        self.max_momentums = per_group("max_momentum", optimizer, max_momentum)
        if last_epoch == -1:
            for high, low, group in zip(self.max_momentums, self.base_momentums, optimizer.param_groups):
                self._set_momentum(group, high)
                group["max_momentum"], group["base_momentum"] = high, low

    def _set_momentum(self, group: dict[str, Any], momentum: float) -> None:
        if self.use_beta1:
            group["betas"] = (momentum, *group["betas"][1:])
        else:
            group["momentum"] = momentum

    def scale_fn(self, x: float) -> float:
        """The amplitude of the cycle at ``x`` (a cycle number or a step, per ``scale_mode``)."""
        if self._scale_fn_custom is not None:
            return self._scale_fn_custom(x)
        if self.mode == "triangular":
            return 1.0
        if self.mode == "triangular2":
            return 1 / (2.0 ** (x - 1))
        return self.gamma**x

    def get_lr(self) -> list[float]:
        self._warn_if_called_outside_step()
        cycle = math.floor(1 + self.last_epoch / self.total_size)
        x = 1.0 + self.last_epoch / self.total_size - cycle
        scale_factor = x / self.step_ratio if x <= self.step_ratio else (x - 1) / (self.step_ratio - 1)
        amplitude = self.scale_fn(cycle if self.scale_mode == "cycle" else self.last_epoch)
        lrs = [base + (high - base) * scale_factor * amplitude for base, high in zip(self.base_lrs, self.max_lrs)]
        if self.cycle_momentum:
            for low, high, group in zip(self.base_momentums, self.max_momentums, self.optimizer.param_groups):
                self._set_momentum(group, high - (high - low) * scale_factor * amplitude)
        return lrs

    def state_dict(self) -> dict[str, Any]:
        """As PyTorch: a custom ``scale_fn`` is saved only when it is a callable object (its ``__dict__``)."""
        state = super().state_dict()
        fn = self._scale_fn_custom
        state["_scale_fn_custom"] = None if fn is None or isinstance(fn, types.FunctionType) else copy.deepcopy(fn.__dict__)
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        state = dict(state_dict)
        saved_fn = state.pop("_scale_fn_custom", None)
        super().load_state_dict(state)
        if saved_fn is not None and self._scale_fn_custom is not None:
            self._scale_fn_custom.__dict__.update(saved_fn)
