"""Padding layers: constant, zero, reflection and replication padding of the last 1 or 2 dims."""
from __future__ import annotations

from typing import Any

from ...tensor import Tensor
from .. import functional as F
from ._args import as_int
from .module import Module


def _widths(layer: str, padding: Any, dims: int) -> tuple[int, ...]:
    """An int or a tuple of 2 * dims ints, as F.pad's (left, right[, top, bottom])."""
    if isinstance(padding, (tuple, list)):
        if len(padding) != 2 * dims:
            raise ValueError(f"{layer}: padding must be an int or a tuple of {2 * dims} ints, got {padding!r}")
        return tuple(as_int(layer, "padding", p, minimum=-(2**62)) for p in padding)
    return (as_int(layer, "padding", padding, minimum=-(2**62)),) * (2 * dims)


class _Pad(Module):
    _mode = "constant"
    _dims = 2

    def __init__(self, padding: Any, value: float = 0.0) -> None:
        super().__init__()
        self.padding = _widths(type(self).__name__, padding, self._dims)
        self.value = value

    def forward(self, input: Tensor) -> Tensor:
        if self._mode == "constant":
            return F.pad(input, self.padding, "constant", self.value)
        return F.pad(input, self.padding, self._mode)

    def extra_repr(self) -> str:
        return f"{self.padding}" + (f", value={self.value}" if self._mode == "constant" else "")


class ConstantPad1d(_Pad):
    """Pad the last dim with ``value``: ``padding`` is an int or (left, right).

    Shape:
        (N, C, W) or (C, W) -> (..., W + left + right).
    """

    _dims = 1


class ConstantPad2d(_Pad):
    """Pad the last two dims with ``value``: ``padding`` is an int or (left, right, top, bottom).

    Shape:
        (N, C, H, W) or (C, H, W) -> (..., H + top + bottom, W + left + right).
    """


class ZeroPad1d(ConstantPad1d):
    """Pad the last dim with zeros; ``padding`` as in :class:`ConstantPad1d`."""

    def __init__(self, padding: Any) -> None:
        super().__init__(padding, 0.0)


class ZeroPad2d(ConstantPad2d):
    """Pad the last two dims with zeros; ``padding`` as in :class:`ConstantPad2d`."""

    def __init__(self, padding: Any) -> None:
        super().__init__(padding, 0.0)


class ReflectionPad1d(_Pad):
    """Pad the last dim with its mirror image (the edge not repeated); widths below its size."""

    _mode, _dims = "reflect", 1

    def __init__(self, padding: Any) -> None:
        super().__init__(padding)


class ReflectionPad2d(_Pad):
    """Pad the last two dims with their mirror image (the edge not repeated); ``padding`` an int
    or (left, right, top, bottom), each below the size of its dim.

    Shape:
        (N, C, H, W) or (C, H, W) -> (..., H + top + bottom, W + left + right).
    """

    _mode = "reflect"

    def __init__(self, padding: Any) -> None:
        super().__init__(padding)


class ReplicationPad1d(_Pad):
    """Pad the last dim by repeating its edge values."""

    _mode, _dims = "replicate", 1

    def __init__(self, padding: Any) -> None:
        super().__init__(padding)


class ReplicationPad2d(_Pad):
    """Pad the last two dims by repeating their edge values; ``padding`` as in :class:`ReflectionPad2d`."""

    _mode = "replicate"

    def __init__(self, padding: Any) -> None:
        super().__init__(padding)


class CircularPad2d(_Pad):
    """Pad the last two dims by wrapping them around; ``padding`` as in :class:`ReflectionPad2d`."""

    _mode = "circular"

    def __init__(self, padding: Any) -> None:
        super().__init__(padding)
