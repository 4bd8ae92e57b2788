"""``scratchgrad.accelerator``: PyTorch's device-agnostic accelerator queries (``torch.accelerator``).

The only accelerator scratchgrad knows is a CUDA GPU through CuPy (see ``backend.py``):

    device = scratchgrad.accelerator.current_accelerator() if scratchgrad.accelerator.is_available() else "cpu"
"""
from __future__ import annotations

from .backend import cuda_device_count, cuda_synchronize, device

__all__ = ["is_available", "current_accelerator", "device_count", "current_device_index", "synchronize"]


def device_count() -> int:
    """The number of CUDA GPUs CuPy sees (0 without CuPy or a GPU)."""
    return cuda_device_count()


def is_available() -> bool:
    return device_count() > 0


def current_accelerator(check_available: bool = False) -> device | None:
    """``device('cuda')`` when CuPy and a GPU are present, else None (as PyTorch without an accelerator)."""
    return device("cuda") if is_available() else None


def current_device_index() -> int:
    """0 with a GPU (scratchgrad uses CuPy's current device), -1 without one."""
    return 0 if is_available() else -1


def synchronize(device: object = None) -> None:
    """Wait for the GPU's queued work; nothing to wait for without one."""
    if is_available():
        cuda_synchronize()
