"""``default_collate`` and ``default_convert``: samples to a batch of tensors, as PyTorch's."""
from __future__ import annotations

import collections.abc
from typing import Any

import numpy as np

from ... import creation, dtypes
from ...ops.shape import stack
from ...tensor import Tensor

__all__ = ["default_collate", "default_convert"]


def default_collate(batch: list[Any]) -> Any:
    """Stack a list of samples into a batch, recursively through their structure.

    Tensors and NumPy arrays are stacked along a new first dim; Python floats become a
    float64 tensor, ints an int64 tensor, NumPy scalars a tensor of their dtype; strings
    and bytes stay a list; a mapping collates per key, a namedtuple per field, and a
    tuple or list of fields gives a list of collated fields (as PyTorch).
    """
    elem = batch[0]
    if isinstance(elem, Tensor):
        return stack(list(batch), 0)
    if isinstance(elem, np.ndarray):
        if elem.dtype.kind in "OSU":
            raise TypeError(f"default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; found {elem.dtype}")
        return stack([creation.as_tensor(b) for b in batch], 0)
    if isinstance(elem, np.generic):
        return creation.as_tensor(np.asarray(batch))
    if isinstance(elem, float):
        return creation.tensor(batch, dtype=dtypes.float64)
    if isinstance(elem, bool):
        return creation.tensor(batch, dtype=dtypes.bool)
    if isinstance(elem, int):
        return creation.tensor(batch, dtype=dtypes.int64)
    if isinstance(elem, (str, bytes)):
        return batch
    if isinstance(elem, collections.abc.Mapping):
        collated = {key: default_collate([d[key] for d in batch]) for key in elem}
        try:  # keep the mapping's own type where it can be built from a dict, as PyTorch
            return collated if type(elem) is dict else type(elem)(collated)
        except TypeError:
            return collated
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):
        return type(elem)(*(default_collate(list(samples)) for samples in zip(*batch)))
    if isinstance(elem, collections.abc.Sequence):
        if any(len(sample) != len(elem) for sample in batch):
            raise RuntimeError("default_collate: each element in list of batch should be of equal size")
        return [default_collate(list(samples)) for samples in zip(*batch)]
    raise TypeError(f"default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; found {type(elem)}")


def default_convert(data: Any) -> Any:
    """Without batching (``batch_size=None``): NumPy arrays become tensors, through the structure."""
    if isinstance(data, np.ndarray) and data.dtype.kind not in "OSU":
        return creation.as_tensor(data)
    if isinstance(data, collections.abc.Mapping):
        return {key: default_convert(value) for key, value in data.items()}
    if isinstance(data, tuple) and hasattr(data, "_fields"):
        return type(data)(*(default_convert(d) for d in data))
    if isinstance(data, (list, tuple)):
        return type(data)(default_convert(d) for d in data)
    return data
