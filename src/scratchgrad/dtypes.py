"""dtypes and PyTorch's type-promotion rules.

NumPy 2 promotes ``float32 array * float64 0-d array`` to float64; PyTorch keeps float32,
because a 0-d tensor (or a Python number) does not decide the result's precision when a
dimensioned tensor of the same kind takes part. :func:`result_dtype` implements PyTorch's
rule in one place so that no op silently upcasts.
"""
from __future__ import annotations

import builtins
from typing import Any

import numpy as np

float16 = half = np.dtype(np.float16)
float32 = float = np.dtype(np.float32)  # noqa: A001 - PyTorch's names
float64 = double = np.dtype(np.float64)
int8 = np.dtype(np.int8)
uint8 = np.dtype(np.uint8)
int16 = short = np.dtype(np.int16)
int32 = int = np.dtype(np.int32)  # noqa: A001
int64 = long = np.dtype(np.int64)
bool = np.dtype(np.bool_)  # noqa: A001

default_float = float32
_DEFAULT_OF_KIND = (bool, int64, float32)  # bool < integer < floating


def as_dtype(dtype: Any) -> np.dtype:
    """A NumPy dtype from a dtype, a name or a Python type (Python ``float`` means float32)."""
    if dtype is builtins.float:
        return default_float
    if dtype is builtins.int:
        return int64
    try:
        return np.dtype(dtype)
    except TypeError as error:
        raise TypeError(f"dtype: expected a dtype such as scratchgrad.float32, got {dtype!r}") from error


def kind_rank(dtype: np.dtype) -> builtins.int:
    return 0 if dtype.kind == "b" else 1 if dtype.kind in "iu" else 2


def promote_types(*dtype_list: np.dtype) -> np.dtype:
    """PyTorch's promotion of tensor dtypes of equal standing (e.g. the inputs of ``cat``): the
    highest kind decides, NumPy's rule picks within it, so int64 with float32 gives float32."""
    top_kind = max(kind_rank(dt) for dt in dtype_list)
    return np.result_type(*[dt for dt in dtype_list if kind_rank(dt) == top_kind])


def _scalar_kind_rank(value: Any) -> builtins.int:
    if isinstance(value, (builtins.bool, np.bool_)):
        return 0
    if isinstance(value, (builtins.int, np.integer)):
        return 1
    return 2


def result_dtype(a: Any, b: Any) -> np.dtype:
    """PyTorch's promotion for a binary op; each operand is a Tensor or a Python/NumPy scalar.

    Priority: dimensioned tensors, then 0-d tensors, then scalars. A lower-priority operand
    only matters when its kind (bool < integer < floating) is higher; then the result is
    that kind's default dtype (int64, float32) unless a tensor of that kind decides it.
    """
    fast = _common_case(a, b)
    if fast is not None:
        return fast
    operands = []  # (priority, kind rank, dtype or None)
    for operand in (a, b):
        if hasattr(operand, "ndim") and not isinstance(operand, np.generic):
            operands.append((2 if operand.ndim else 1, kind_rank(operand.dtype), operand.dtype))
        else:
            operands.append((0, _scalar_kind_rank(operand), None))
    top_kind = max(kind for _, kind, _ in operands)
    candidates = [op for op in operands if op[1] == top_kind]
    top_priority = max(priority for priority, _, _ in candidates)
    dtypes = [dt for priority, _, dt in candidates if priority == top_priority and dt is not None]
    return np.result_type(*dtypes) if dtypes else _DEFAULT_OF_KIND[top_kind]


def _common_case(a: Any, b: Any) -> np.dtype | None:
    """The result of the two cases that make up nearly every call, without the general rule:
    operands of one dtype, and a floating tensor with a Python or NumPy real scalar."""
    dtype = getattr(a, "dtype", None)
    if dtype is None or isinstance(a, np.generic):
        return None
    if getattr(b, "dtype", None) == dtype:
        return dtype
    real_scalar = isinstance(b, (builtins.bool, builtins.int, builtins.float, np.bool_, np.integer, np.floating))
    return dtype if real_scalar and dtype.kind == "f" else None


def dtype_of_python_data(data: Any) -> np.dtype:
    """The dtype ``tensor(data)`` gets for a Python number or (nested) lists of numbers, as in
    ``torch.tensor``: a number gives its kind's default (bool, int64, float32, a NumPy scalar
    too); in a list, Python numbers do the same, NumPy scalars and arrays keep their dtype, and
    the elements' dtypes are promoted (``[np.float64(1), 2.0]``: float64; ``[np.int32(1)]``: int32)."""
    kind = np.asarray(data).dtype.kind
    if kind not in "fbiu":
        raise TypeError(f"tensor(): expected numbers or nested lists of numbers, got data of kind {kind!r}")
    if not isinstance(data, (list, tuple)):
        return _DEFAULT_OF_KIND[{"b": 0, "i": 1, "u": 1, "f": 2}[kind]]
    found = _element_dtypes(data)
    return promote_types(*found) if found else default_float


_NUMBER_DTYPES = {builtins.bool: bool, builtins.int: int64, builtins.float: float32}


def _element_dtypes(data: list | tuple) -> set[np.dtype]:
    """The dtypes the items of nested lists stand for; by the items' types (one pass in C), item
    by item only where lists or arrays are among them."""
    types = set(map(type, data))
    numbers = {t for t in types if t in _NUMBER_DTYPES or issubclass(t, np.generic)}
    found = {_NUMBER_DTYPES[t] if t in _NUMBER_DTYPES else np.dtype(t) for t in numbers}
    if types - numbers:  # lists, tuples or arrays among the items
        for item in data:
            if isinstance(item, (list, tuple)):
                found |= _element_dtypes(item)
            elif hasattr(item, "dtype") and not isinstance(item, np.generic):
                found.add(np.dtype(item.dtype))
    return found
