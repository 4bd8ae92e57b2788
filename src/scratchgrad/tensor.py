"""``Tensor``: an array with a gradient, and the graph node that produced it.

This module holds the data structure and its autograd bookkeeping (versions, views, in-place
assignment) and imports no op: the methods that compute (operators, math, ``to``, indexing
assignment, ``backward``) forward to ``ops/`` and ``autograd/`` and are attached in one place,
``tensor_methods.py``, which ``scratchgrad/__init__.py`` imports first.

Differences from PyTorch: ``Tensor.array`` is the backend array itself (a NumPy or CuPy
array), not a Tensor — use ``detach()`` for a Tensor that shares memory, and the in-place
methods (``fill_``, ``copy_``, ``normal_``, ...) under ``no_grad()`` to change values.
"""
from __future__ import annotations

import weakref
from typing import Any, Iterator

import numpy as np

from . import dtypes
from .backend import device, device_of, get_array_module
from .grad_mode import is_grad_enabled
from .random import normal_array, uniform_array


def _as_array(data: Any) -> Any:
    if isinstance(data, np.ndarray) or get_array_module(data) is not np:
        return data
    if isinstance(data, np.generic):
        return np.asarray(data)
    if isinstance(data, Tensor):
        return data.array
    return np.asarray(data, dtype=dtypes.dtype_of_python_data(data))


class Tensor:
    """An n-dimensional array that records the operations applied to it.

    Args:
        data: a NumPy/CuPy array (used as is, not copied; it becomes ``array``) or nested
            Python numbers (copied; floats become float32).
        requires_grad: record operations on this tensor so that ``backward`` can
            compute its gradient. Only floating-point tensors can require grad.
    """

    __array_ufunc__ = None  # NumPy scalars and arrays defer to our reflected operators
    __hash__ = object.__hash__  # ``==`` is elementwise, identity hashing is kept

    def __init__(self, data: Any, requires_grad: bool = False, *, _version: list[int] | None = None):
        self.array = _as_array(data)
        self.grad: Tensor | None = None
        self.grad_fn: Any = None
        self._output_nr = 0
        self._version = [0] if _version is None else _version
        # (base, write_back, args) when this tensor is a view of `base` (see ``_set_history``)
        self._view_of: tuple[Tensor, Any, tuple[Any, ...]] | None = None
        self._requires_grad = False
        if requires_grad:
            self.requires_grad = True

    # ----------------------------------------------------------------- properties
    @property
    def data(self) -> Tensor:
        """This tensor's values as a Tensor outside the graph, sharing memory (PyTorch's ``.data``).

        Unlike ``detach()`` it has its own version counter: in-place changes through it are not
        seen by autograd. Assigning a Tensor (``p.data = t``) replaces the values, shape included.
        """
        return Tensor(self.array)

    @data.setter
    def data(self, value: Tensor) -> None:
        if not isinstance(value, Tensor):
            raise TypeError(f"data: expected a Tensor, got {type(value).__name__}")
        self.array = value.array

    @property
    def is_cuda(self) -> bool:
        return self.device.type == "cuda"

    @property
    def is_cpu(self) -> bool:
        return self.device.type == "cpu"

    @property
    def is_xpu(self) -> bool:
        """False: scratchgrad's devices are the CPU and CUDA GPUs."""
        return False

    @property
    def is_mps(self) -> bool:
        """False: scratchgrad's devices are the CPU and CUDA GPUs."""
        return False

    @property
    def requires_grad(self) -> bool:
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        if value and self.array.dtype.kind not in "fc":
            raise RuntimeError(f"only Tensors of floating point dtype can require gradients, got {self.dtype}")
        if not value and self.grad_fn is not None:
            raise RuntimeError("you can only change requires_grad flags of leaf variables; use detach()")
        self._requires_grad = bool(value)

    @property
    def shape(self) -> tuple[int, ...]:
        return self.array.shape

    @property
    def dtype(self) -> np.dtype:
        return self.array.dtype

    @property
    def device(self) -> device:
        return device_of(self.array)

    @property
    def xp(self) -> Any:
        """The array module (numpy or cupy) that holds this tensor's data."""
        return get_array_module(self.array)

    @property
    def ndim(self) -> int:
        return self.array.ndim

    @property
    def is_leaf(self) -> bool:
        return self.grad_fn is None

    @property
    def T(self) -> Tensor:
        return self.permute(*reversed(range(self.ndim)))

    @property
    def mT(self) -> Tensor:
        return self.transpose(-2, -1)

    def size(self, dim: int | None = None) -> Any:
        return self.shape if dim is None else self.shape[dim]

    def dim(self) -> int:
        return self.ndim

    def numel(self) -> int:
        return int(self.array.size)

    def element_size(self) -> int:
        return self.array.itemsize

    # ----------------------------------------------------------------- conversion
    def item(self) -> Any:
        if self.numel() != 1:
            raise RuntimeError(f"item(): a Tensor with {self.numel()} elements cannot be converted to a scalar")
        return self.array.reshape(()).item()

    def numpy(self) -> np.ndarray:
        if self.requires_grad:
            raise RuntimeError("Can't call numpy() on Tensor that requires grad. Use tensor.detach().numpy() instead.")
        if self.xp is not np:
            raise TypeError("can't convert cuda tensor to numpy. Use Tensor.cpu() to copy the tensor to host memory first.")
        return self.array

    def tolist(self) -> Any:
        return self.array.tolist()

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        array = self.cpu().array
        return array if dtype is None else array.astype(dtype)

    def detach(self) -> Tensor:
        """A tensor sharing this one's memory and version counter, outside the graph."""
        return Tensor(self.array, _version=self._version)

    def detach_(self) -> Tensor:
        self.grad_fn = None
        self._requires_grad = False
        return self

    def retain_grad(self) -> None:
        """Keep this non-leaf tensor's gradient in ``.grad`` after ``backward()``."""
        if self.grad_fn is None:
            if not self.requires_grad:
                raise RuntimeError("can't retain_grad on Tensor that has requires_grad=False")
            return
        if not self.retains_grad:
            self.grad_fn.retained.append((self._output_nr, weakref.ref(self)))

    @property
    def retains_grad(self) -> bool:
        return self.grad_fn is not None and any(ref() is self for _, ref in self.grad_fn.retained)

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        self.requires_grad = requires_grad
        return self

    def cpu(self) -> Tensor:
        return self.to("cpu")

    def cuda(self) -> Tensor:
        return self.to("cuda")

    def float(self) -> Tensor:
        return self.to(dtypes.float32)

    def double(self) -> Tensor:
        return self.to(dtypes.float64)

    def half(self) -> Tensor:
        return self.to(dtypes.float16)

    def long(self) -> Tensor:
        return self.to(dtypes.int64)

    def int(self) -> Tensor:
        return self.to(dtypes.int32)

    def bool(self) -> Tensor:
        return self.to(dtypes.bool)

    def type_as(self, other: Tensor) -> Tensor:
        return self.to(other.dtype)

    def contiguous(self) -> Tensor:
        return self

    # ----------------------------------------------------------------- new tensors
    def new_tensor(self, data: Any, dtype: Any = None) -> Tensor:
        return Tensor(self.xp.array(_as_array(data), dtype=dtype or self.dtype))

    def new_zeros(self, shape: Any, dtype: Any = None) -> Tensor:
        return Tensor(self.xp.zeros(shape, dtype=dtype or self.dtype))

    def new_ones(self, shape: Any, dtype: Any = None) -> Tensor:
        return Tensor(self.xp.ones(shape, dtype=dtype or self.dtype))

    def new_full(self, shape: Any, fill_value: Any, dtype: Any = None) -> Tensor:
        return Tensor(self.xp.full(shape, fill_value, dtype=dtype or self.dtype))

    def new_empty(self, shape: Any, dtype: Any = None) -> Tensor:
        return Tensor(self.xp.empty(shape, dtype=dtype or self.dtype))

    # ----------------------------------------------------------------- python protocol
    def __len__(self) -> int:
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __iter__(self) -> Iterator[Tensor]:
        return (self[i] for i in range(len(self)))

    def __bool__(self) -> bool:
        if self.numel() != 1:
            raise RuntimeError(f"Boolean value of Tensor with {self.numel()} elements is ambiguous")
        return bool(self.item())

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __index__(self) -> int:
        if self.dtype.kind not in "iu" or self.numel() != 1:
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return int(self.item())

    def __format__(self, spec: str) -> str:
        return format(self.item(), spec) if self.numel() == 1 and spec else repr(self)

    def __repr__(self) -> str:
        body = np.array2string(np.asarray(self.cpu().array), separator=", ", precision=4, prefix="tensor(")
        extras = []
        if self.device.type != "cpu":
            extras.append(f"device='{self.device}'")
        if self.dtype not in (dtypes.float32, dtypes.int64, dtypes.bool):
            extras.append(f"dtype={self.dtype}")
        if self.grad_fn is not None:
            extras.append(f"grad_fn=<{self.grad_fn.name}>")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        return "tensor(" + ", ".join([body] + extras) + ")"

    # ----------------------------------------------------------------- in place
    def _assign(self, result: Tensor) -> Tensor:
        """Make ``result`` the new value of this tensor, in its memory (the in-place ops' core)."""
        recording = is_grad_enabled()
        if recording:
            self._check_inplace_allowed()
        if dtypes.kind_rank(result.dtype) > dtypes.kind_rank(self.dtype):
            raise RuntimeError(f"result type {result.dtype} can't be cast to the desired output type {self.dtype}")
        self.array[...] = result.array
        self._version[0] += 1
        if recording and (result.requires_grad or self.requires_grad):
            if result.dtype != self.dtype:
                result = result.to(self.dtype)
            elif result.requires_grad and result.is_leaf:  # copy_(leaf): a node of our own that leads to it
                result = result.clone()
            self._set_history(result)
        return self

    def _check_inplace_allowed(self) -> None:
        root = self
        while root._view_of is not None:
            root = root._view_of[0]
        if root.requires_grad and root.is_leaf:
            which = "a leaf Variable" if root is self else "a view of a leaf Variable"
            raise RuntimeError(f"{which} that requires grad is being used in an in-place operation")

    def _set_history(self, value: Tensor) -> None:
        """Take ``value``'s place in the graph (a constant ``value`` cuts this tensor's history).
        A view also re-routes its base's history through the new values, as PyTorch does, else
        the base's gradient would ignore the change."""
        self.grad_fn, self._output_nr, self._requires_grad = value.grad_fn, value._output_nr, value.requires_grad
        if self._view_of is not None:
            base, write_back, args = self._view_of
            base._set_history(write_back(base, self, *args))

    def add_(self, other: Any, alpha: float = 1) -> Tensor:
        return self._assign(self + other * alpha if alpha != 1 else self + other)

    def sub_(self, other: Any, alpha: float = 1) -> Tensor:
        return self._assign(self - other * alpha if alpha != 1 else self - other)

    def _operand(self) -> Tensor:
        """This tensor as an operand of its own in-place update. The update overwrites this
        memory, so while a graph is recorded the op sees (and may save) a copy of the old
        values, as PyTorch keeps them for ``z.mul_(y)``."""
        return self.clone() if self.requires_grad and is_grad_enabled() else self

    def mul_(self, other: Any) -> Tensor:
        return self._assign(self._operand() * other)

    def div_(self, other: Any) -> Tensor:
        return self._assign(self._operand() / other)

    def pow_(self, exponent: Any) -> Tensor:
        return self._assign(self._operand() ** exponent)

    def clamp_(self, min: Any = None, max: Any = None) -> Tensor:  # noqa: A002 - PyTorch's names
        return self._assign(self._operand().clamp(min, max))

    def copy_(self, source: Any) -> Tensor:
        source = source if isinstance(source, Tensor) else Tensor(self.xp.asarray(source))
        return self._assign(source.to(self.dtype).expand(*self.shape))

    def zero_(self) -> Tensor:
        return self.fill_(0)

    def fill_(self, value: Any) -> Tensor:
        return self._assign(self.new_full(self.shape, value))

    def uniform_(self, a: float = 0.0, b: float = 1.0) -> Tensor:
        return self._assign(Tensor(uniform_array(self.shape, a, b, self.dtype, self.device)))

    def normal_(self, mean: float = 0.0, std: float = 1.0) -> Tensor:
        return self._assign(Tensor(normal_array(self.shape, mean, std, self.dtype, self.device)))

    def bernoulli_(self, p: Any = 0.5, *, generator: Any = None) -> Tensor:
        """Fill with ones with probability ``p`` (a number, or a tensor of probabilities of this
        shape or broadcastable to it) and zeros otherwise."""
        draws = uniform_array(self.shape, 0.0, 1.0, np.float64, self.device, generator)
        probability = p.array if isinstance(p, Tensor) else p
        return self._assign(Tensor((draws < probability).astype(self.dtype)))

    def __iadd__(self, other: Any) -> Tensor:
        return self.add_(other)

    def __isub__(self, other: Any) -> Tensor:
        return self.sub_(other)

    def __imul__(self, other: Any) -> Tensor:
        return self.mul_(other)

    def __itruediv__(self, other: Any) -> Tensor:
        return self.div_(other)


def _parse_to_args(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, Any]:
    """The (device, dtype) that ``to(...)`` asks for; None where not given."""
    target_device, dtype = kwargs.get("device"), kwargs.get("dtype")
    for arg in args:
        if isinstance(arg, (str, device)):
            target_device = arg
        elif isinstance(arg, Tensor):
            target_device, dtype = arg.device, arg.dtype
        else:
            dtype = arg
    return target_device, dtype
