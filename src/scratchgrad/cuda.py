"""``scratchgrad.cuda``: the part of ``torch.cuda`` that PyTorch code asks before it picks a device.

    device = "cuda" if scratchgrad.cuda.is_available() else "cpu"

The GPU backend is CuPy (optional; see ``backend.py``); without it and a CUDA GPU,
``is_available()`` is False and ``synchronize()`` raises.
"""
from __future__ import annotations

from .backend import cuda_device_count as device_count
from .backend import cuda_is_available as is_available
from .backend import cuda_synchronize as synchronize

__all__ = ["device_count", "is_available", "synchronize"]
