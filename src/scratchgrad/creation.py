"""Tensor factories: ``tensor``, ``zeros``, ``randn``, ... with PyTorch's signatures and default dtypes."""
from __future__ import annotations

from typing import Any

import numpy as np

from . import dtypes, random
from .backend import array_module_for, get_array_module, to_device
from .tensor import Tensor


def _shape(size: tuple[Any, ...]) -> tuple[int, ...]:
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    return tuple(int(n) for n in size)


def _finish(array: Any, dtype: Any, device: Any, requires_grad: bool) -> Tensor:
    if dtype is not None:
        array = array.astype(dtypes.as_dtype(dtype), copy=False)
    if device is not None:
        array = to_device(array, device)
    return Tensor(array, requires_grad=requires_grad)


def tensor(data: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """A new tensor holding a copy of ``data``.

    Python floats become float32, ints int64, bools bool; NumPy arrays keep their dtype
    (float64 stays float64), as in ``torch.tensor``.
    """
    if isinstance(data, Tensor):
        data = data.detach().array
    if isinstance(data, (list, tuple)) and data and any(isinstance(item, Tensor) for item in _flatten(data)):
        data = [_plain(item) for item in data]
    if hasattr(data, "dtype") and not isinstance(data, (list, tuple)):
        array = get_array_module(data).array(data, copy=True)
    else:
        array = np.array(data, dtype=dtypes.dtype_of_python_data(data))
    return _finish(array, dtype, device, requires_grad)


def _flatten(items: Any) -> list[Any]:
    out = []
    for item in items:
        out.extend(_flatten(item) if isinstance(item, (list, tuple)) else [item])
    return out


def _plain(item: Any) -> Any:
    if isinstance(item, Tensor):  # its array on the CPU, so that its dtype takes part in the promotion
        return item.array if get_array_module(item.array) is np else item.tolist()
    if isinstance(item, (list, tuple)):
        return [_plain(i) for i in item]
    return item


def as_tensor(data: Any, dtype: Any = None, device: Any = None) -> Tensor:
    if isinstance(data, Tensor) and (dtype is None or data.dtype == dtypes.as_dtype(dtype)) and device is None:
        return data
    if isinstance(data, np.ndarray):
        return _finish(data, dtype, device, False)
    return tensor(data, dtype=dtype, device=device)


def from_numpy(array: np.ndarray) -> Tensor:
    """A tensor sharing memory with ``array``."""
    return Tensor(array)


def _filled(fill: Any, size: tuple[Any, ...], dtype: Any, device: Any, requires_grad: bool) -> Tensor:
    xp = array_module_for(device or "cpu")
    array = xp.full(_shape(size), fill, dtype=dtypes.as_dtype(dtype) if dtype is not None else dtypes.default_float)
    return Tensor(array, requires_grad=requires_grad)


def zeros(*size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    return _filled(0, size, dtype, device, requires_grad)


def ones(*size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    return _filled(1, size, dtype, device, requires_grad)


def empty(*size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    return _filled(0, size, dtype, device, requires_grad)


def full(size: Any, fill_value: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    if dtype is None:
        dtype = dtypes.dtype_of_python_data(fill_value)
    return _filled(fill_value, (size,), dtype, device, requires_grad)


def _like(x: Tensor, dtype: Any) -> dict[str, Any]:
    return {"dtype": dtype or x.dtype, "device": x.device}


def zeros_like(x: Tensor, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    return zeros(x.shape, **_like(x, dtype), requires_grad=requires_grad)


def ones_like(x: Tensor, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    return ones(x.shape, **_like(x, dtype), requires_grad=requires_grad)


def empty_like(x: Tensor, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    return empty(x.shape, **_like(x, dtype), requires_grad=requires_grad)


def full_like(x: Tensor, fill_value: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    return full(x.shape, fill_value, **_like(x, dtype), requires_grad=requires_grad)


def arange(start: Any, end: Any = None, step: Any = 1, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    if end is None:
        start, end = 0, start
    if dtype is None:
        is_float = any(isinstance(v, float) for v in (start, end, step))
        dtype = dtypes.default_float if is_float else dtypes.int64
    array = np.arange(start, end, step).astype(dtypes.as_dtype(dtype))
    return _finish(array, None, device, requires_grad)


def linspace(start: float, end: float, steps: int, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    array = np.linspace(start, end, steps).astype(dtypes.as_dtype(dtype) if dtype else dtypes.default_float)
    return _finish(array, None, device, requires_grad)


def eye(n: int, m: int | None = None, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    array = np.eye(n, m, dtype=dtypes.as_dtype(dtype) if dtype else dtypes.default_float)
    return _finish(array, None, device, requires_grad)


def rand(*size: Any, generator: Any = None, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """Uniform on [0, 1), from the default generator (seed with ``manual_seed``)."""
    array = random.uniform_array(_shape(size), 0.0, 1.0, dtypes.as_dtype(dtype or dtypes.default_float), device, generator)
    return Tensor(array, requires_grad=requires_grad)


def randn(*size: Any, generator: Any = None, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """Standard normal, from the default generator."""
    array = random.normal_array(_shape(size), 0.0, 1.0, dtypes.as_dtype(dtype or dtypes.default_float), device, generator)
    return Tensor(array, requires_grad=requires_grad)


def randint(low: int, high: Any = None, size: Any = None, generator: Any = None, dtype: Any = None, device: Any = None) -> Tensor:
    """Integers in [low, high) (``randint(high, size)`` means low = 0)."""
    if size is None:
        low, high, size = 0, low, high
    array = random.integers_array(low, high, tuple(size), device, generator)
    return _finish(array, dtype, None, False)


def randperm(n: int, generator: Any = None, dtype: Any = None, device: Any = None) -> Tensor:
    return _finish(random.permutation_array(n, device, generator), dtype, None, False)


def rand_like(x: Tensor, dtype: Any = None) -> Tensor:
    return rand(x.shape, **_like(x, dtype))


def randn_like(x: Tensor, dtype: Any = None) -> Tensor:
    return randn(x.shape, **_like(x, dtype))
