"""Run an array kernel on all cores, a block of channels per task.

NumPy releases the GIL inside its loops, so a kernel made of whole-array operations scales
over threads when each thread works on its own block of channels (the outermost axis of the
batch-last layout, see ``conv.py``). Blocks are small enough for their temporaries to stay in
a core's cache. Each element is computed by exactly the same operations whatever the number
of threads, so results do not depend on it.

The pool is created on first use, with one thread per core this process may run on.
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

import numpy as np

BLOCK_BYTES = 1 << 20  # working set of one task: about half a core's L2 cache

_executor: ThreadPoolExecutor | None = None


def num_threads() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _pool() -> ThreadPoolExecutor:
    global _executor
    if _executor is None:
        _executor = ThreadPoolExecutor(num_threads(), thread_name_prefix="scratchgrad")
    return _executor


def for_channel_blocks(xp: object, channels: int, bytes_per_channel: int, kernel: Callable[[slice], None]) -> None:
    """Call ``kernel(block)`` for consecutive slices ``block`` that cover ``range(channels)``.

    On NumPy the calls run on all cores; on other array modules (a GPU) in one call.
    """
    threads = num_threads()
    if xp is not np or threads == 1 or channels == 1:
        kernel(slice(0, channels))
        return
    blocks = max(threads, min(channels, channels * bytes_per_channel // BLOCK_BYTES))
    size = -(-channels // blocks)
    futures = [_pool().submit(kernel, slice(start, min(start + size, channels))) for start in range(0, channels, size)]
    for future in futures:
        future.result()
