"""``scratchgrad.cuda``: the part of ``torch.cuda`` that PyTorch code asks before it picks a device.

    device = "cuda" if scratchgrad.cuda.is_available() else "cpu"

The GPU backend is CuPy (optional; see ``backend.py``); without it and a CUDA GPU,
``is_available()`` is False and ``synchronize()`` raises.
"""
from __future__ import annotations

from .backend import cuda_device_count as device_count
from .backend import cuda_is_available as is_available
from .backend import cuda_synchronize as synchronize

__all__ = ["device_count", "is_available", "synchronize", "manual_seed", "manual_seed_all", "seed", "seed_all", "is_initialized"]


def manual_seed(seed: int) -> None:
    """Accepted, and changes nothing: scratchgrad has no separate GPU generator. Every random
    draw, for CPU and GPU tensors alike, comes from the default generator on the host (seed it
    with ``scratchgrad.manual_seed``, which PyTorch scripts call too), so results do not depend
    on the device. PyTorch's own call only seeds the GPU generator, never the CPU one."""
    int(seed)  # the argument is checked as PyTorch's is


def manual_seed_all(seed: int) -> None:
    """As :func:`manual_seed`: there is one generator for all devices."""
    manual_seed(seed)


def seed() -> None:
    """As :func:`manual_seed`: nothing to seed on the GPU."""


def seed_all() -> None:
    """As :func:`manual_seed`: nothing to seed on the GPU."""


def is_initialized() -> bool:
    """Whether a GPU is in use: CuPy initializes it on first use, so this is ``is_available()``."""
    return is_available()
