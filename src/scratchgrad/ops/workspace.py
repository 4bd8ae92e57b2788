"""Reusable memory for the large temporaries of the conv kernels.

A NumPy array of more than 32 MB gets fresh pages from the operating system, which zeroes
each page on first touch: as costly as one more pass over the data, and about a tenth of a
training step. The kernels take their transform-domain buffers (each used within one layer's
forward or backward) from here and give them back when done, so that the next layer and the
next step reuse the same pages. Free buffers are held up to ``KEEP_BYTES``, the most recently
given back first.

Only for NumPy: other array modules (CuPy) pool their memory themselves.
"""
from __future__ import annotations

import threading
from typing import Any

import numpy as np

from ..backend import memory_owner

KEEP_BYTES = 192 << 20  # free buffers held at most, in total
MIN_BYTES = 1 << 20  # smaller arrays come from the allocator's heap, which already reuses them

_free: list[np.ndarray] = []
_lock = threading.Lock()


def take(xp: Any, shape: tuple[int, ...], dtype: Any) -> Any:
    """An uninitialized array, in the smallest held buffer that fits and is less than twice as large."""
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape)) * dtype.itemsize
    if xp is not np or nbytes < MIN_BYTES:
        return xp.empty(shape, dtype=dtype)
    with _lock:
        fitting = [i for i, b in enumerate(_free) if nbytes <= b.nbytes < 2 * nbytes]
        buffer = _free.pop(min(fitting, key=lambda i: _free[i].nbytes)) if fitting else None
    if buffer is None:
        buffer = np.empty(nbytes, dtype=np.uint8)
    return buffer[:nbytes].view(dtype).reshape(shape)


def give(*arrays: Any) -> None:
    """Return arrays from ``take`` (or views of them) once nothing reads them any more."""
    for array in arrays:
        root = memory_owner(array)
        if not (isinstance(root, np.ndarray) and root.dtype == np.uint8 and root.ndim == 1 and root.nbytes >= MIN_BYTES):
            continue  # not one of ours
        with _lock:
            if all(b is not root for b in _free):
                _free.insert(0, root)  # the most recent first: the likeliest to be asked for again
                held = 0
                for i, b in enumerate(_free):
                    held += b.nbytes
                    if held > KEEP_BYTES:
                        del _free[i:]
                        break
