"""The array module behind every tensor: NumPy on the CPU, CuPy on a CUDA device.

Ops never import numpy or cupy directly for array math on tensor data; they ask
:func:`get_array_module` for the module that owns the array, so a CuPy array stays on
the GPU through every op without the ops knowing about devices.
"""
from __future__ import annotations

import math
from types import ModuleType
from typing import Any, Sequence

import numpy as np

try:  # CuPy is optional: only present on machines with a CUDA GPU.
    import cupy as _cupy
except Exception:  # pragma: no cover - depends on the machine
    _cupy = None


class device:
    """A device name, ``device("cpu")`` or ``device("cuda")``; compares equal to its string."""

    def __init__(self, spec: "str | device" = "cpu"):
        name = spec.type if isinstance(spec, device) else str(spec)
        kind = name.split(":")[0]
        if kind not in ("cpu", "cuda"):
            raise ValueError(f"device: expected 'cpu' or 'cuda', got {spec!r}")
        self.type = kind

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (str, device)):
            return self.type == device(other).type
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.type)

    def __repr__(self) -> str:
        return f"device(type='{self.type}')"

    def __str__(self) -> str:
        return self.type


def cuda_device_count() -> int:
    if _cupy is None:
        return 0
    try:
        return _cupy.cuda.runtime.getDeviceCount()
    except Exception:  # pragma: no cover - depends on the machine (CuPy without a driver or GPU)
        return 0


def cuda_is_available() -> bool:
    return cuda_device_count() > 0


def cuda_synchronize() -> None:
    """Wait for every kernel queued on the GPU (timings of GPU work need it: kernels run asynchronously)."""
    array_module_for("cuda").cuda.Device().synchronize()


def get_array_module(array: Any) -> ModuleType:
    """numpy or cupy: the module that owns ``array``."""
    if _cupy is not None and isinstance(array, _cupy.ndarray):
        return _cupy
    return np


def memory_owner(array: Any) -> Any:
    """The object that owns ``array``'s memory: the array itself, or the base of a view (of a view ...)."""
    while getattr(array, "base", None) is not None:
        array = array.base
    return array


def stride_order(array: Any) -> tuple[int, ...]:
    """``array``'s axes from the outermost in memory (largest stride) to the innermost."""
    return tuple(sorted(range(array.ndim), key=lambda axis: -abs(array.strides[axis])))


def inverse_permutation(order: Sequence[int]) -> list[int]:
    """The axes order that undoes ``transpose(order)`` (``np.argsort`` without its ~2 us on a tuple)."""
    return sorted(range(len(order)), key=order.__getitem__)


def device_of(array: Any) -> device:
    return device("cuda" if get_array_module(array) is not np else "cpu")


def to_device(array: Any, target: "str | device") -> Any:
    """Copy ``array`` to ``target`` (no copy when it is already there)."""
    target = device(target)
    if target == device_of(array):
        return array
    if target.type == "cuda":
        if not cuda_is_available():
            raise RuntimeError("to(device='cuda'): CuPy with a CUDA GPU is required, none was found")
        return _cupy.asarray(array)
    return _cupy.asnumpy(array)


def array_module_for(target: "str | device") -> ModuleType:
    if device(target).type == "cuda":
        if not cuda_is_available():
            raise RuntimeError("device='cuda': CuPy with a CUDA GPU is required, none was found")
        return _cupy
    return np


def erf(x: Any) -> Any:
    """The error function elementwise (NumPy has none; SciPy/CuPy's is used when present)."""
    xp = get_array_module(x)
    if xp is not np:  # pragma: no cover - GPU only
        import cupyx.scipy.special

        return cupyx.scipy.special.erf(x)
    try:
        from scipy.special import erf as scipy_erf

        return scipy_erf(x).astype(x.dtype, copy=False)
    except ImportError:
        return _vectorized_erf(x).astype(x.dtype, copy=False)


_vectorized_erf = np.vectorize(math.erf, otypes=[np.float64])
