"""Run an array kernel on all cores, a block of one axis per task.

NumPy releases the GIL inside its loops, so a kernel made of whole-array operations scales
over threads when each thread works on its own block of an axis, preferably the outermost one
in memory (long contiguous runs inside each block). Each element is computed by exactly the
same operations whatever the number of threads, so results do not depend on it.

The pool is created on first use, with one thread per core this process may run on.
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Sequence

import numpy as np

_executor: ThreadPoolExecutor | None = None


def num_threads() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _pool() -> ThreadPoolExecutor:
    global _executor
    if _executor is None:
        _executor = ThreadPoolExecutor(num_threads(), thread_name_prefix="scratchgrad")
    return _executor


MIN_PARALLEL_BYTES = 1 << 20  # less work than this is not worth waking threads for


def for_blocks(xp: Any, size: int, kernel: Callable[[slice], None], nbytes: int | None = None) -> None:
    """Call ``kernel(block)`` for one slice per core, together covering ``range(size)``.

    On NumPy the calls run on all cores, unless ``nbytes`` (the size of the data the kernel
    works through) is small; on other array modules (a GPU) in one call.
    """
    threads = min(num_threads(), size)
    if xp is not np or threads <= 1 or (nbytes is not None and nbytes < MIN_PARALLEL_BYTES):
        kernel(slice(0, size))
        return
    bounds = [size * k // threads for k in range(threads + 1)]
    futures = [_pool().submit(kernel, slice(start, stop)) for start, stop in zip(bounds, bounds[1:])]
    for future in futures:
        future.result()


def outermost(array: Any, axes: Sequence[int]) -> int:
    """The axis among ``axes`` with the largest stride: blocks of it are the longest runs of memory."""
    return max(axes, key=lambda axis: (abs(array.strides[axis]) if array.shape[axis] > 1 else -1, -axis))


def block_index(axis: int, block: slice) -> tuple[slice, ...]:
    """The index that selects ``block`` along ``axis``."""
    return (slice(None),) * axis + (block,)
