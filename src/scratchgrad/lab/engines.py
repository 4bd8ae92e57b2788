"""The two engines behind one small interface, so that one training loop serves both.

The data pipeline yields NumPy batches and checkpoints hold NumPy arrays; an engine
converts between those and its own tensors, and names its ``nn``, ``optim`` and loss.
"""
from __future__ import annotations

import contextlib
import platform
from types import ModuleType
from typing import Any

import numpy as np

import scratchgrad
from scratchgrad.runtime.machine import available_cores

from .config import ConfigError


class Engine:
    """What the lab needs from a framework.

    Attributes:
        name: "scratch" or "torch".
        device: "cpu" or "cuda".
        nn, optim: the framework's ``nn`` and ``optim`` namespaces.
    """

    name: str
    nn: ModuleType
    optim: ModuleType

    def __init__(self, device: str = "cpu"):
        self.device = device

    def manual_seed(self, seed: int) -> None:
        raise NotImplementedError

    def set_num_threads(self, count: int) -> None:
        """Compute on ``count`` CPU threads (the config's ``threads``; 0: all the cores the process may use)."""
        raise NotImplementedError

    def get_num_threads(self) -> int:
        raise NotImplementedError

    def tensor(self, array: np.ndarray) -> Any:
        """A tensor on this engine's device holding ``array`` (dtype kept)."""
        raise NotImplementedError

    def numpy(self, tensor: Any) -> np.ndarray:
        """A NumPy copy of ``tensor`` (detached, on the host)."""
        raise NotImplementedError

    def cross_entropy(self, logits: Any, labels: Any) -> Any:
        return self.nn.functional.cross_entropy(logits, labels)

    def no_grad(self) -> contextlib.AbstractContextManager:
        raise NotImplementedError

    def rng_state(self) -> dict[str, Any]:
        """Every random state this engine draws from (for an exact resume)."""
        raise NotImplementedError

    def set_rng_state(self, state: dict[str, Any]) -> None:
        raise NotImplementedError

    def versions(self) -> dict[str, str]:
        """Versions of what computes, and the processor it runs on (results tables name it)."""
        return {"python": platform.python_version(), "numpy": np.__version__, "scratchgrad": scratchgrad.__version__,
                "processor": self.processor()}

    def processor(self) -> str:
        """The CPU's model name, or the GPU's on device "cuda"."""
        return cpu_name()

    def export(self, obj: Any) -> Any:
        """``obj`` (a state dict, possibly nested) with every tensor replaced by a NumPy array."""
        return _tree_map(obj, self.is_tensor, self.numpy)

    def restore(self, obj: Any) -> Any:
        """``obj`` as :func:`scratchgrad.load` returns it, with this engine's tensors on its device."""
        return _tree_map(obj, lambda x: isinstance(x, (scratchgrad.Tensor, np.ndarray)),
                         lambda x: self.tensor(x.numpy() if isinstance(x, scratchgrad.Tensor) else x))

    def is_tensor(self, obj: Any) -> bool:
        raise NotImplementedError


class ScratchEngine(Engine):
    name = "scratch"

    def __init__(self, device: str = "cpu"):
        super().__init__(device)
        import scratchgrad.nn
        import scratchgrad.optim

        self.nn, self.optim = scratchgrad.nn, scratchgrad.optim
        if device == "cuda":
            from scratchgrad.backend import cuda_is_available

            if not cuda_is_available():
                raise ConfigError("device = 'cuda' needs CuPy and a CUDA GPU for the scratch engine; none was found")

    def manual_seed(self, seed: int) -> None:
        scratchgrad.manual_seed(seed)

    def set_num_threads(self, count: int) -> None:
        scratchgrad.set_num_threads(count or available_cores())

    def get_num_threads(self) -> int:
        return scratchgrad.get_num_threads()

    def tensor(self, array: np.ndarray) -> Any:
        return scratchgrad.tensor(array, device=self.device)

    def numpy(self, tensor: Any) -> np.ndarray:
        return tensor.detach().cpu().numpy()

    def is_tensor(self, obj: Any) -> bool:
        return isinstance(obj, scratchgrad.Tensor)

    def no_grad(self) -> contextlib.AbstractContextManager:
        return scratchgrad.no_grad()

    def rng_state(self) -> dict[str, Any]:
        return {"scratchgrad": scratchgrad.get_rng_state()}

    def processor(self) -> str:
        if self.device == "cuda":
            import cupy

            return cupy.cuda.runtime.getDeviceProperties(cupy.cuda.Device().id)["name"].decode()
        return super().processor()

    def set_rng_state(self, state: dict[str, Any]) -> None:
        scratchgrad.set_rng_state(state["scratchgrad"])


class TorchEngine(Engine):
    name = "torch"

    def __init__(self, device: str = "cpu"):
        super().__init__(device)
        try:
            import torch
        except ImportError:
            raise ConfigError("engine = 'torch' needs PyTorch: pip install 'scratchgrad[torch]'") from None
        if device == "cuda" and not torch.cuda.is_available():
            raise ConfigError("device = 'cuda' needs a CUDA build of PyTorch and a GPU; none was found")
        self.torch, self.nn, self.optim = torch, torch.nn, torch.optim

    def manual_seed(self, seed: int) -> None:
        self.torch.manual_seed(seed)

    def set_num_threads(self, count: int) -> None:
        self.torch.set_num_threads(count or available_cores())

    def get_num_threads(self) -> int:
        return self.torch.get_num_threads()

    def tensor(self, array: np.ndarray) -> Any:
        return self.torch.from_numpy(np.ascontiguousarray(array)).to(self.device)

    def numpy(self, tensor: Any) -> np.ndarray:
        return tensor.detach().cpu().numpy()

    def is_tensor(self, obj: Any) -> bool:
        return isinstance(obj, self.torch.Tensor)

    def no_grad(self) -> contextlib.AbstractContextManager:
        return self.torch.no_grad()

    def rng_state(self) -> dict[str, Any]:
        state = {"torch": self.torch.get_rng_state().numpy()}
        if self.device == "cuda":
            state["cuda"] = [s.numpy() for s in self.torch.cuda.get_rng_state_all()]
        return state

    def set_rng_state(self, state: dict[str, Any]) -> None:
        self.torch.set_rng_state(self._bytes(state["torch"]))
        if self.device == "cuda" and "cuda" in state:
            self.torch.cuda.set_rng_state_all([self._bytes(s) for s in state["cuda"]])

    def _bytes(self, state: Any) -> Any:
        array = self.numpy(state) if self.is_tensor(state) else np.asarray(state)
        return self.torch.from_numpy(array.astype(np.uint8))

    def versions(self) -> dict[str, str]:
        return {**super().versions(), "torch": self.torch.__version__}

    def processor(self) -> str:
        return self.torch.cuda.get_device_name() if self.device == "cuda" else super().processor()


ENGINES: dict[str, type[Engine]] = {"scratch": ScratchEngine, "torch": TorchEngine}


def make_engine(name: str, device: str = "cpu") -> Engine:
    if name not in ENGINES:
        raise ConfigError(f"engine = {name!r} is not allowed; expected one of {', '.join(ENGINES)}")
    return ENGINES[name](device)


def cpu_name() -> str:
    """The CPU's model name as the OS reports it (``/proc/cpuinfo`` on Linux), else platform's guess."""
    try:
        with open("/proc/cpuinfo") as stream:
            for line in stream:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _tree_map(obj: Any, is_leaf: Any, fn: Any) -> Any:
    if is_leaf(obj):
        return fn(obj)
    if isinstance(obj, dict):
        return {key: _tree_map(value, is_leaf, fn) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_tree_map(value, is_leaf, fn) for value in obj)
    return obj
