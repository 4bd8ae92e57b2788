"""``Parameter``: a tensor that a ``Module`` registers as learnable, and the lazy placeholders.

Difference from PyTorch: an uninitialized parameter or buffer is a zero-element tensor
(shape ``(0,)``) until ``materialize`` is called; PyTorch raises on any use of one, here
using it gives results for an empty tensor (``numel() == 0``).
"""
from __future__ import annotations

from typing import Any

from .. import dtypes
from ..backend import array_module_for
from ..tensor import Tensor


def _empty(shape: Any, device: Any, dtype: Any) -> Any:
    return array_module_for(device or "cpu").empty(shape, dtype=dtypes.as_dtype(dtype or dtypes.default_float))


class Parameter(Tensor):
    """A tensor that is a module parameter: assigning it to a ``Module`` attribute registers it.

    Args:
        data: the initial value; a Tensor's memory (and version counter) is shared, not
            copied. ``None`` gives an empty float32 tensor.
        requires_grad: whether the parameter needs a gradient. Default: ``True``.
    """

    def __init__(self, data: Any = None, requires_grad: bool = True):
        if data is None:
            data = _empty((0,), None, None)
        if isinstance(data, Tensor):
            super().__init__(data.array, requires_grad, _version=data._version)
        else:
            super().__init__(data, requires_grad)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()


class _Uninitialized:
    """Mixin of the lazy placeholders: an empty tensor that becomes ``cls_to_become`` once shaped."""

    cls_to_become: type = Tensor

    def materialize(self, shape: Any, device: Any = None, dtype: Any = None) -> None:
        """Give the placeholder storage of ``shape`` (uninitialized values) and its final class."""
        shape = (shape,) if isinstance(shape, int) else tuple(shape)
        self.array = _empty(shape, device or self.device, dtype or self.dtype)  # type: ignore[attr-defined]
        self.__class__ = self.cls_to_become

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"


class UninitializedParameter(_Uninitialized, Parameter):
    """A parameter whose shape is not known yet (used by the lazy modules)."""

    cls_to_become = Parameter

    def __init__(self, requires_grad: bool = True, device: Any = None, dtype: Any = None):
        super().__init__(_empty((0,), device, dtype), requires_grad)


class UninitializedBuffer(_Uninitialized, Tensor):
    """A buffer whose shape is not known yet (used by the lazy modules)."""

    cls_to_become = Tensor

    def __init__(self, requires_grad: bool = False, device: Any = None, dtype: Any = None):
        super().__init__(_empty((0,), device, dtype), requires_grad)


def is_lazy(value: Any) -> bool:
    """True for an uninitialized parameter or buffer."""
    return isinstance(value, _Uninitialized)


__all__ = ["Parameter", "UninitializedParameter", "UninitializedBuffer", "is_lazy"]
