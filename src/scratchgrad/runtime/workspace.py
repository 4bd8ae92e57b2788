"""Recycled memory for the large arrays of the kernels (outputs and temporaries alike).

Freshly allocated memory costs a page fault per 4 KB page on first touch: the operating
system maps and zeroes each page. The C library hands large freed blocks back to the system,
so a training step that frees its activations and gradients faulted them in again on the next
step: thousands of faults a step, about 3 us each on this kind of virtual machine (a fresh
12.8 MB array took 10 ms to fill, against 1 ms for one already mapped).

``empty`` therefore gives arrays whose memory comes back here, not to the C library, when the
array and every view of it are gone (a weak reference to the memoryview the array is built
on): the next layer and the next step reuse the same pages. Free blocks are held up to
``KEEP_BYTES``, the most recently freed first; ``release`` drops them all.

Only for NumPy and large arrays: other array modules (CuPy) pool their memory themselves, and
the C library's heap already reuses small blocks.
"""
from __future__ import annotations

import collections
import math
import threading
import weakref
from typing import Any, Sequence

import numpy as np

from ..backend import inverse_permutation, stride_order

KEEP_BYTES = 1 << 30  # free blocks held at most, in total
MIN_BYTES = 1 << 20  # smaller arrays come from the C library's heap

_free: list[np.ndarray] = []  # 1-D uint8 blocks, the most recently freed first
_lock = threading.Lock()
_in_use: dict[int, tuple[weakref.ref, np.ndarray]] = {}  # id(weak reference) -> (it, its block)
_returned: collections.deque = collections.deque()  # blocks whose arrays are gone, not yet in _free


def empty(xp: Any, shape: Sequence[int], dtype: Any, like: Any = None) -> Any:
    """An uninitialized array, like ``xp.empty`` (``xp.empty_like(like, shape=shape)`` when
    ``like`` is given: the same order of axes in memory), in recycled memory when it is large."""
    dtype, shape = np.dtype(dtype), tuple(shape)
    nbytes = math.prod(shape) * dtype.itemsize  # (not np.prod: 40x its time on a tuple, which adds up over ~80 calls a step)
    if xp is not np or nbytes < MIN_BYTES:
        return xp.empty(shape, dtype=dtype) if like is None else xp.empty_like(like, dtype=dtype, shape=shape)
    block = _take(nbytes)
    flat = np.frombuffer(memoryview(block)[:nbytes], dtype=dtype)
    reference = weakref.ref(flat.base, _on_release)  # flat.base: the memoryview every view of it shares
    _in_use[id(reference)] = (reference, block)
    if like is None or like.ndim != len(shape):
        return flat.reshape(shape)
    order = stride_order(like)
    return flat.reshape([shape[axis] for axis in order]).transpose(inverse_permutation(order))


def zeros(xp: Any, shape: Sequence[int], dtype: Any, like: Any = None) -> Any:
    """``empty`` filled with zeros (one pass over pages already mapped, not a fresh ``calloc``)."""
    out = empty(xp, shape, dtype, like)
    out.fill(0)
    return out


def release() -> None:
    """Hand every free block back to the C library."""
    with _lock:
        _collect_returned()
        _free.clear()


def _on_release(reference: weakref.ref, in_use: dict = _in_use, returned: collections.deque = _returned) -> None:
    # Runs wherever the last view dies, possibly inside _lock on this thread: no locking here
    # (deque.append is atomic). The containers are bound now: they outlive the module's globals at exit.
    returned.append(in_use.pop(id(reference))[1])


def _take(nbytes: int) -> np.ndarray:
    """The smallest free block that fits and is less than twice as large, or a new one."""
    with _lock:
        _collect_returned()
        fitting = [i for i, b in enumerate(_free) if nbytes <= b.nbytes < 2 * nbytes]
        if fitting:
            return _free.pop(min(fitting, key=lambda i: _free[i].nbytes))
    return np.empty(nbytes, dtype=np.uint8)


def _collect_returned() -> None:
    """Move returned blocks to the front of ``_free`` (the likeliest to be asked for again),
    dropping the oldest beyond ``KEEP_BYTES``."""
    while _returned:
        _free.insert(0, _returned.popleft())
    held = 0
    for i, block in enumerate(_free):
        held += block.nbytes
        if held > KEEP_BYTES:
            del _free[i:]
            break
