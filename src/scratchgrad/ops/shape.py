"""Shape and indexing primitives: reshape, permute, expand, indexing, index_put, cat, pad, to(device)."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..autograd.function import Context, Function
from ..backend import inverse_permutation
from ..backend import to_device as array_to_device
from ..dtypes import promote_types
from ..runtime import threads
from ..tensor import Tensor


class Reshape(Function):
    view = True

    @staticmethod
    def forward(ctx: Context, x: Tensor, shape: tuple[int, ...]) -> Any:
        ctx.input_shape = x.shape
        try:
            return _reshaped(x.array, shape)
        except ValueError:
            raise RuntimeError(f"reshape: shape {tuple(shape)} is invalid for input of shape {x.shape} ({x.numel()} elements)") from None

    @staticmethod
    def backward(ctx: Context, grad: Tensor) -> Any:
        return grad.reshape(ctx.input_shape), None

    @staticmethod
    def write_back(base: Tensor, value: Tensor, shape: tuple[int, ...]) -> Tensor:
        return value.reshape(base.shape)


def _reshaped(data: Any, shape: tuple[int, ...]) -> Any:
    """``data.reshape(shape)``: a view when the memory allows, else a C-ordered copy made on all
    cores (as when a conv output, channels-last in memory, is flattened for a Linear layer)."""
    if not isinstance(data, np.ndarray) or data.nbytes < threads.MIN_PARALLEL_BYTES or data.flags.c_contiguous:
        return data.reshape(shape)
    try:
        return data.reshape(shape, copy=False)
    except TypeError:  # NumPy < 2.1 has no copy argument
        return data.reshape(shape)
    except ValueError:  # a copy is needed (or the shape is invalid, which the last reshape reports)
        return threads.copied(data).reshape(shape)


class Permute(Function):
    view = True

    @staticmethod
    def forward(ctx: Context, x: Tensor, dims: tuple[int, ...]) -> Any:
        ctx.dims = dims
        return x.array.transpose(dims)

    @staticmethod
    def backward(ctx: Context, grad: Tensor) -> Any:
        return grad.permute(*inverse_permutation(ctx.dims)), None

    @staticmethod
    def write_back(base: Tensor, value: Tensor, dims: tuple[int, ...]) -> Tensor:
        return value.permute(*inverse_permutation(dims))


class Expand(Function):
    view = True

    @staticmethod
    def forward(ctx: Context, x: Tensor, shape: tuple[int, ...]) -> Any:
        return x.xp.broadcast_to(x.array, shape)

    @staticmethod
    def backward(ctx: Context, grad: Tensor) -> Any:
        return grad, None  # the engine sums it back to the input's shape


class Index(Function):
    @staticmethod
    def forward(ctx: Context, x: Tensor, index: Any) -> Any:
        ctx.meta = (x.shape, index)
        return x.array[index]

    @staticmethod
    def backward(ctx: Context, grad: Tensor) -> Any:
        shape, index = ctx.meta
        return IndexAdd.apply(grad, shape, index), None


class IndexAdd(Function):
    """Zeros of ``shape`` with ``values`` added at ``index`` (repeated indices accumulate)."""

    @staticmethod
    def forward(ctx: Context, values: Tensor, shape: tuple[int, ...], index: Any) -> Any:
        ctx.index = index
        out = values.xp.zeros(shape, dtype=values.dtype)
        if _is_advanced(index):
            values.xp.add.at(out, index, values.array)
        else:
            out[index] = values.array
        return out

    @staticmethod
    def backward(ctx: Context, grad: Tensor) -> Any:
        return Index.apply(grad, ctx.index), None, None


class IndexPut(Function):
    """A copy of ``x`` with ``values`` written at ``index`` (``x[index] = values`` out of place)."""

    @staticmethod
    def forward(ctx: Context, x: Tensor, values: Tensor, index: Any) -> Any:
        ctx.index = index
        out = x.array.copy()
        out[index] = values.array
        return out

    @staticmethod
    def backward(ctx: Context, grad: Tensor) -> Any:
        grad_x = IndexPut.apply(grad, grad.new_zeros(()), ctx.index) if ctx.needs_input_grad[0] else None
        grad_values = Index.apply(grad, ctx.index) if ctx.needs_input_grad[1] else None
        return grad_x, grad_values, None


class Cat(Function):
    @staticmethod
    def forward(ctx: Context, dim: int, *tensors: Tensor) -> Any:
        ctx.dim = dim
        ctx.sizes = [t.shape[dim] for t in tensors]
        return tensors[0].xp.concatenate([t.array for t in tensors], axis=dim)

    @staticmethod
    def backward(ctx: Context, grad: Tensor) -> Any:
        grads, start = [], 0
        for size in ctx.sizes:
            grads.append(grad[(slice(None),) * ctx.dim + (slice(start, start + size),)])
            start += size
        return (None, *grads)


class Pad(Function):
    @staticmethod
    def forward(ctx: Context, x: Tensor, widths: tuple[tuple[int, int], ...], value: float) -> Any:
        ctx.crop = tuple(slice(before, before + n) for (before, _), n in zip(widths, x.shape))
        return x.xp.pad(x.array, widths, constant_values=value)

    @staticmethod
    def backward(ctx: Context, grad: Tensor) -> Any:
        return grad[ctx.crop], None, None


class ToDevice(Function):
    @staticmethod
    def forward(ctx: Context, x: Tensor, device: Any) -> Any:
        ctx.source = x.device
        return array_to_device(x.array, device)

    @staticmethod
    def backward(ctx: Context, grad: Tensor) -> Any:
        return ToDevice.apply(grad, ctx.source), None


# ------------------------------------------------------------------ functions
def _is_advanced(index: Any) -> bool:
    items = index if isinstance(index, tuple) else (index,)
    return any(not isinstance(i, (int, slice, type(None), type(Ellipsis))) for i in items)


def normalize_index(index: Any) -> Any:
    """Tensors and lists in an index become arrays, so NumPy's indexing rules apply."""
    items = index if isinstance(index, tuple) else (index,)
    out = []
    for item in items:
        if isinstance(item, Tensor):
            item = item.array
        elif isinstance(item, list):
            item = np.asarray(item)
        if hasattr(item, "dtype") and item.ndim == 0 and item.dtype.kind in "iu":
            item = int(item)
        out.append(item)
    return tuple(out) if isinstance(index, tuple) or len(out) != 1 else out[0]


def getitem(x: Tensor, index: Any) -> Tensor:
    index = normalize_index(index)
    if _is_advanced(index):
        return Index.apply(x, index)
    out = Index.apply(x, index)
    out._version = x._version  # basic indexing is a view of x
    out._view_of = (x, _index_write_back, (index,))
    return out


def _index_write_back(base: Tensor, value: Tensor, index: Any) -> Tensor:
    return IndexPut.apply(base, value, index)


def index_put(x: Tensor, index: Any, values: Any) -> Tensor:
    values = values if isinstance(values, Tensor) else Tensor(x.xp.asarray(values, dtype=x.dtype))
    return IndexPut.apply(x, values.to(x.dtype), normalize_index(index))


def _shape_arg(shape: Sequence[Any]) -> tuple[int, ...]:
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = shape[0]
    return tuple(int(n) for n in shape)


def reshape(x: Tensor, *shape: Any) -> Tensor:
    shape = _shape_arg(shape)
    return x if shape == x.shape else Reshape.apply(x, shape)


def permute(x: Tensor, *dims: Any) -> Tensor:
    dims = tuple(d % x.ndim for d in _shape_arg(dims))
    if sorted(dims) != list(range(x.ndim)):
        raise RuntimeError(f"permute: dims {dims} are not a permutation of the {x.ndim} dims of a tensor of shape {x.shape}")
    return Permute.apply(x, dims)


def transpose(x: Tensor, dim0: int, dim1: int) -> Tensor:
    dims = list(range(x.ndim))
    dims[dim0], dims[dim1] = dims[dim1], dims[dim0]
    return Permute.apply(x, tuple(dims))


def expand(x: Tensor, *shape: Any) -> Tensor:
    shape = _shape_arg(shape)
    lead = len(shape) - x.ndim
    if lead < 0:
        raise RuntimeError(f"expand: the target shape {shape} has fewer dims than the tensor's shape {x.shape}")
    target = tuple(x.shape[i - lead] if n == -1 else n for i, n in enumerate(shape))
    if target == x.shape:
        return x
    for n, size in zip(target[lead:], x.shape):
        if size != 1 and size != n:
            raise RuntimeError(f"expand: cannot expand a tensor of shape {x.shape} to shape {target}")
    return Expand.apply(x, target)


def squeeze(x: Tensor, dim: Any = None) -> Tensor:
    from .reduction import normalize_dims

    dims = normalize_dims(dim, x.ndim) if x.ndim else ()
    return reshape(x, *[n for i, n in enumerate(x.shape) if not (i in dims and n == 1)])


def unsqueeze(x: Tensor, dim: int) -> Tensor:
    dim = dim % (x.ndim + 1)
    return reshape(x, *x.shape[:dim], 1, *x.shape[dim:])


def flatten(x: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    if x.ndim == 0:
        return reshape(x, 1)
    start, end = start_dim % x.ndim, end_dim % x.ndim
    return reshape(x, *x.shape[:start], -1, *x.shape[end + 1 :])


def cat(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    tensors = list(tensors)
    if not tensors:
        raise RuntimeError("cat: expected a non-empty list of tensors")
    if tensors[0].ndim == 0:
        raise RuntimeError("cat: zero-dimensional tensors cannot be concatenated; use stack")
    dim = dim % tensors[0].ndim
    first = tensors[0].shape
    for position, t in enumerate(tensors):
        if t.ndim != len(first) or any(a != b for i, (a, b) in enumerate(zip(t.shape, first)) if i != dim):
            raise RuntimeError(
                f"cat: sizes of tensors must match except in dimension {dim}; tensor 0 has shape {first}, "
                f"tensor {position} has shape {t.shape}"
            )
    dtype = promote_types(*[t.dtype for t in tensors])
    return Cat.apply(dim, *[t.to(dtype) for t in tensors])


def stack(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    tensors = list(tensors)
    if not tensors:
        raise RuntimeError("stack: expected a non-empty list of tensors")
    dim = dim % (tensors[0].ndim + 1)
    for position, t in enumerate(tensors):
        if t.shape != tensors[0].shape:
            raise RuntimeError(f"stack: expects each tensor to be equal size, but got {tensors[0].shape} at entry 0 and {t.shape} at entry {position}")
    return cat([unsqueeze(t, dim) for t in tensors], dim)


def split(x: Tensor, split_size_or_sections: Any, dim: int = 0) -> tuple[Tensor, ...]:
    dim = dim % x.ndim
    length = x.shape[dim]
    if isinstance(split_size_or_sections, int):
        sizes = [min(split_size_or_sections, length - s) for s in range(0, length, split_size_or_sections)]
    else:
        sizes = list(split_size_or_sections)
    bounds = np.cumsum([0] + sizes).tolist()
    return tuple(x[(slice(None),) * dim + (slice(a, b),)] for a, b in zip(bounds[:-1], bounds[1:]))


def chunk(x: Tensor, chunks: int, dim: int = 0) -> tuple[Tensor, ...]:
    size = -(-x.shape[dim] // chunks)
    return split(x, size, dim)


def pad(x: Tensor, pad: Sequence[int], mode: str = "constant", value: float = 0.0) -> Tensor:
    """``F.pad``: ``pad`` lists (before, after) pairs starting from the last dim; constant mode only."""
    if mode != "constant":
        raise NotImplementedError(f"pad: mode {mode!r} is not supported; only 'constant'")
    if len(pad) % 2 or len(pad) // 2 > x.ndim:
        raise RuntimeError(f"pad: expected pairs for at most {x.ndim} dims, got {tuple(pad)}")
    pairs = [(pad[i], pad[i + 1]) for i in range(0, len(pad), 2)]
    widths = [(0, 0)] * (x.ndim - len(pairs)) + pairs[::-1]
    return Pad.apply(x, tuple(widths), value)


def to_device(x: Tensor, device: Any) -> Tensor:
    return ToDevice.apply(x, device)
