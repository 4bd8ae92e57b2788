"""Argument checks shared by the optimizers (PyTorch raises ValueError for the same values)."""
from __future__ import annotations

from typing import Any


def check_non_negative(name: str, group: dict[str, Any], *keys: str) -> None:
    for key in keys:
        if group[key] < 0:
            raise ValueError(f"{name}: invalid {key} {group[key]!r}, expected a value >= 0")


def check_betas(name: str, group: dict[str, Any]) -> None:
    betas = group["betas"]
    if len(betas) != 2:
        raise ValueError(f"{name}: betas must be a pair (beta1, beta2), got {betas!r}")
    for i, beta in enumerate(betas):
        if not 0 <= beta < 1:
            raise ValueError(f"{name}: invalid betas[{i}] {beta!r}, expected a value in [0, 1)")


def check_unit_interval(name: str, group: dict[str, Any], key: str) -> None:
    if not 0 <= group[key] <= 1:
        raise ValueError(f"{name}: invalid {key} {group[key]!r}, expected a value in [0, 1]")


def refuse_unsupported(name: str, **flags: Any) -> None:
    """PyTorch's ``capturable``/``differentiable``/``fused`` modes have no meaning here: refuse them
    when set rather than ignore them (``foreach`` only picks an implementation, and is accepted)."""
    for flag, value in flags.items():
        if value:
            raise NotImplementedError(f"{name}: {flag}=True is not supported")


def floats(group: dict[str, Any], *keys: str) -> dict[str, float]:
    """Hyperparameters as Python floats, which keep float32 arrays float32 under NumPy 2's promotion rules."""
    return {key: float(group[key]) for key in keys}
