"""The scheduler base class: epoch counting, the optimizer's lr, state dicts."""
from __future__ import annotations

import copy
import warnings
from typing import Any

from ..optimizer import Optimizer

_EPOCH_DEPRECATED = (
    "The epoch argument of scheduler.step() is deprecated (as in PyTorch); with it the "
    "closed-form lr is used where the scheduler has one. Call scheduler.step() instead."
)


def per_group(name: str, optimizer: Optimizer, value: Any) -> list[Any]:
    """``value`` for each parameter group: a list or tuple must have one per group."""
    groups = len(optimizer.param_groups)
    if isinstance(value, (list, tuple)):
        if len(value) != groups:
            raise ValueError(f"{name}: expected {groups} values (one per parameter group), got {len(value)}")
        return list(value)
    return [value] * groups


def check_positive_int(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{name}: expected a positive integer, got {value!r}")


class LRScheduler:
    """Base class of the learning-rate schedulers.

    A scheduler sets ``group["lr"]`` of each of the optimizer's parameter groups
    when it is constructed (epoch 0) and at every :meth:`step`. With
    ``last_epoch=-1`` it records each group's starting lr as ``group["initial_lr"]``
    (``base_lrs``); any other ``last_epoch`` resumes and requires ``initial_lr``.

    Subclasses implement :meth:`get_lr`, which PyTorch writes *recursively* (from
    the current ``group["lr"]``) for most schedulers, and optionally
    ``_get_closed_form_lr`` (from ``base_lrs``), used by the deprecated
    ``step(epoch)``. Both are reproduced here operation for operation, so the
    learning rates equal PyTorch's to the last bit.
    """

    _get_lr_called_within_step: bool = False
    _is_initial: bool = False
    _unsaved: tuple[str, ...] = ("optimizer",)  # attributes state_dict leaves out

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1) -> None:
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"optimizer: expected an Optimizer, got {type(optimizer).__name__}")
        self.optimizer = optimizer
        if last_epoch == -1:
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", group["lr"])
        else:
            for i, group in enumerate(optimizer.param_groups):
                if "initial_lr" not in group:
                    raise KeyError(
                        f"param_groups[{i}] has no 'initial_lr', which resuming with "
                        f"last_epoch={last_epoch} requires; load the optimizer's state dict first"
                    )
        self.base_lrs: list[float] = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self._initial_step()

    def _initial_step(self) -> None:
        """Set the lr of epoch 0 (or of ``last_epoch + 1`` when resuming)."""
        self._step_count = 0
        self._is_initial = True
        try:
            self.step()
        finally:
            self._is_initial = False

    def get_lr(self) -> list[float]:
        """The lr of each group at ``last_epoch``; only :meth:`step` should call it."""
        raise NotImplementedError

    def get_last_lr(self) -> list[float]:
        """The learning rates set by the last :meth:`step`, one per parameter group."""
        return self._last_lr

    def step(self, epoch: int | None = None) -> None:
        """Advance one epoch (call it after ``optimizer.step()``) and set the new lr."""
        if self._step_count == 1 and not getattr(self.optimizer, "_opt_called", False):
            warnings.warn(
                "Detected call of `lr_scheduler.step()` before `optimizer.step()`: call "
                "`optimizer.step()` first, or the first value of the schedule is skipped.",
                UserWarning,
                stacklevel=2,
            )
        self._step_count += 1
        if epoch is not None:
            warnings.warn(_EPOCH_DEPRECATED, UserWarning, stacklevel=2)
        self._update_lr(epoch)

    def _update_lr(self, epoch: int | None = None) -> None:
        self._get_lr_called_within_step = True
        try:
            if epoch is None:
                self.last_epoch += 1
                values = self.get_lr()
            else:
                self.last_epoch = epoch
                closed_form = getattr(self, "_get_closed_form_lr", None)
                values = closed_form() if closed_form is not None else self.get_lr()
        finally:
            self._get_lr_called_within_step = False
        for group, lr in zip(self.optimizer.param_groups, values):
            group["lr"] = lr
        self._last_lr: list[float] = [group["lr"] for group in self.optimizer.param_groups]

    def _warn_if_called_outside_step(self) -> None:
        # Recursive schedulers compound on every call, so a stray get_lr() is a bug.
        if not self._get_lr_called_within_step:
            warnings.warn(
                "To get the last learning rate computed by the scheduler, use `get_last_lr()`.",
                UserWarning,
                stacklevel=3,
            )

    def _group_lrs(self) -> list[float]:
        return [group["lr"] for group in self.optimizer.param_groups]

    def state_dict(self) -> dict[str, Any]:
        """Every attribute but the optimizer, deep-copied; plain Python values only."""
        return {k: copy.deepcopy(v) for k, v in self.__dict__.items() if k not in self._unsaved}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore the state saved by :meth:`state_dict` (copied, never shared)."""
        base_lrs = state_dict.get("base_lrs")
        if base_lrs is not None and len(base_lrs) != len(self.optimizer.param_groups):
            raise ValueError(
                f"state_dict: has base_lrs for {len(base_lrs)} parameter groups, "
                f"the optimizer has {len(self.optimizer.param_groups)}"
            )
        self.__dict__.update(copy.deepcopy(state_dict))
