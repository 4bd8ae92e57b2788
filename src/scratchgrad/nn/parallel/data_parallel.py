"""``DataParallel`` on one device: the wrapped module, called as is."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..modules.module import Module


class DataParallel(Module):
    """Run ``module`` on the data, as ``torch.nn.DataParallel`` does with one device.

    Args:
        module: the module to wrap; it is registered as the submodule ``module``, so the
            state-dict keys are ``module.<name>`` as in PyTorch (a checkpoint saved from a
            DataParallel model loads into another, or into ``model.module``).
        device_ids, output_device, dim: accepted for compatibility; one device, no scatter.
    """

    def __init__(self, module: Module, device_ids: Sequence[Any] | None = None, output_device: Any = None, dim: int = 0) -> None:
        super().__init__()
        self.module = module
        self.device_ids = list(device_ids) if device_ids is not None else []
        self.output_device = output_device
        self.dim = dim

    def forward(self, *inputs: Any, **kwargs: Any) -> Any:
        return self.module(*inputs, **kwargs)


class DistributedDataParallel(Module):
    """PyTorch's multi-process data parallelism; not available here (no process groups)."""

    def __init__(self, module: Module, *args: Any, **kwargs: Any) -> None:
        raise RuntimeError("DistributedDataParallel: scratchgrad has no distributed process groups; "
                           "train on one device, or wrap the model in DataParallel")


def data_parallel(module: Module, inputs: Any, device_ids: Sequence[Any] | None = None, output_device: Any = None,
                  dim: int = 0, module_kwargs: dict[str, Any] | None = None) -> Any:
    """The functional form of :class:`DataParallel`: ``module(*inputs, **module_kwargs)`` on one device."""
    inputs = inputs if isinstance(inputs, tuple) else (inputs,)
    return module(*inputs, **(module_kwargs or {}))
