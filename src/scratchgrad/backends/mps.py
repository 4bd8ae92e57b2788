"""``scratchgrad.backends.mps``: Apple's Metal backend, which scratchgrad does not have.

Scripts probe it to pick a device (``torch.backends.mps.is_available()``); both answers are False.
"""
from __future__ import annotations

__all__ = ["is_available", "is_built"]


def is_available() -> bool:
    return False


def is_built() -> bool:
    return False
