"""The default random generator (as ``torch.default_generator``) and seeding."""
from __future__ import annotations

from typing import Any

import numpy as np

from .backend import array_module_for, device


class Generator:
    """A seedable source of random numbers; ``manual_seed`` reseeds the default one."""

    def __init__(self, seed: int = 0):
        self.manual_seed(seed)

    def manual_seed(self, seed: int) -> "Generator":
        self.initial_seed_value = int(seed)
        self.numpy = np.random.Generator(np.random.PCG64(int(seed)))
        return self

    def initial_seed(self) -> int:
        return self.initial_seed_value

    def get_state(self) -> dict[str, Any]:
        return self.numpy.bit_generator.state

    def set_state(self, state: dict[str, Any]) -> None:
        self.numpy.bit_generator.state = state


default_generator = Generator(0)


def manual_seed(seed: int) -> Generator:
    """Seed the default generator (every random op, init and dropout draws from it)."""
    return default_generator.manual_seed(seed)


def seed() -> int:
    new_seed = int(np.random.SeedSequence().entropy % (2**63))
    manual_seed(new_seed)
    return new_seed


def initial_seed() -> int:
    return default_generator.initial_seed()


def get_rng_state() -> dict[str, Any]:
    return default_generator.get_state()


def set_rng_state(state: dict[str, Any]) -> None:
    default_generator.set_state(state)


def _rng(generator: Generator | None) -> np.random.Generator:
    return (generator or default_generator).numpy


def _on_device(array: np.ndarray, target: Any) -> Any:
    xp = array_module_for(target or "cpu")
    return array if xp is np else xp.asarray(array)


def uniform_array(shape: Any, low: float, high: float, dtype: Any, target: Any = None, generator: Generator | None = None) -> Any:
    # Drawn on the host so that results do not depend on the device.
    array = _rng(generator).uniform(low, high, size=shape).astype(dtype, copy=False)
    return _on_device(array, target)


def normal_array(shape: Any, mean: float, std: float, dtype: Any, target: Any = None, generator: Generator | None = None) -> Any:
    array = _rng(generator).normal(mean, std, size=shape).astype(dtype, copy=False)
    return _on_device(array, target)


def bernoulli_mask(shape: Any, keep: float, dtype: Any, target: Any = None, generator: Generator | None = None) -> Any:
    array = (_rng(generator).random(size=shape, dtype=np.float32) < keep).astype(dtype)
    return _on_device(array, target)


def integers_array(low: int, high: int, shape: Any, target: Any = None, generator: Generator | None = None) -> Any:
    return _on_device(_rng(generator).integers(low, high, size=shape, dtype=np.int64), target)


def permutation_array(n: int, target: Any = None, generator: Generator | None = None) -> Any:
    return _on_device(_rng(generator).permutation(n).astype(np.int64), target)


__all__ = ["Generator", "default_generator", "manual_seed", "seed", "initial_seed", "get_rng_state", "set_rng_state", "device"]
