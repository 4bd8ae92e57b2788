"""``scratchgrad.backends.cudnn``: the cuDNN flags PyTorch scripts set, documented as settings.

scratchgrad does not use cuDNN: its convolutions are its own kernels (NumPy on the CPU, CuPy
on a GPU), deterministic for a given input, shape and thread count, so the flags change
nothing. They exist so that ``torch.backends.cudnn.benchmark = True`` and
``torch.backends.cudnn.deterministic = True`` run unchanged; reading them back gives what
was set. ``is_available()`` is False: there is no cuDNN behind them.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator

enabled: bool = True
benchmark: bool = False
deterministic: bool = False
allow_tf32: bool = True

__all__ = ["enabled", "benchmark", "deterministic", "allow_tf32", "is_available", "version", "flags"]


def is_available() -> bool:
    """False: scratchgrad's kernels are its own, not cuDNN's."""
    return False


def version() -> None:
    """None, as PyTorch returns without cuDNN."""
    return None


@contextlib.contextmanager
def flags(enabled: bool = False, benchmark: bool = False, deterministic: bool = False, allow_tf32: bool = True) -> Iterator[None]:
    """Set the flags inside a ``with`` block and restore them after, as ``torch.backends.cudnn.flags``."""
    module = globals()
    saved = {name: module[name] for name in ("enabled", "benchmark", "deterministic", "allow_tf32")}
    module.update(enabled=enabled, benchmark=benchmark, deterministic=deterministic, allow_tf32=allow_tf32)
    try:
        yield
    finally:
        module.update(saved)
