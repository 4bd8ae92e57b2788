"""Run array kernels on all cores.

NumPy releases the GIL inside its loops, so a kernel made of whole-array operations scales
over threads when each thread works on its own block of an axis, preferably the outermost one
in memory (long contiguous runs inside each block). Two ways to split the work:

- ``for_blocks``: one block per core, for a single memory-bound pass;
- ``run_chunks``: many chunks of fixed size, each a whole pipeline (transforms and GEMMs) run
  by one core on data that stays in its cache, with BLAS held to one thread meanwhile.

Each element is computed by exactly the same operations whatever the number of threads (chunk
sizes never depend on it, and chunk results are combined in chunk order), so results do not
depend on it. The pool is created on first use, with one thread per core this process may run on.
"""
from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import nullcontext
from typing import Any, Callable, ContextManager, Iterable, Sequence, TypeVar

import numpy as np

T = TypeVar("T")
_PREFIX = "scratchgrad"
_executor: ThreadPoolExecutor | None = None
_blas_controller: Any = None


def num_threads() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _pool() -> ThreadPoolExecutor:
    global _executor
    if _executor is None:
        _executor = ThreadPoolExecutor(num_threads(), thread_name_prefix=_PREFIX)
    return _executor


def _in_pool() -> bool:
    """Whether this is one of the pool's threads (which must not wait on the pool: deadlock)."""
    return threading.current_thread().name.startswith(_PREFIX)


def _single_threaded_blas() -> ContextManager[Any]:
    """Hold BLAS to one thread: the chunks already occupy every core (and OpenBLAS serialises
    concurrent multi-threaded calls)."""
    global _blas_controller
    if _blas_controller is None:
        from threadpoolctl import ThreadpoolController

        _blas_controller = ThreadpoolController()
    return _blas_controller.limit(limits=1, user_api="blas")


MIN_PARALLEL_BYTES = 1 << 20  # less work than this is not worth waking threads for


def for_blocks(xp: Any, size: int, kernel: Callable[[slice], None], nbytes: int | None = None) -> None:
    """Call ``kernel(block)`` for one slice per core, together covering ``range(size)``.

    On NumPy the calls run on all cores, unless ``nbytes`` (the size of the data the kernel
    works through) is small; on other array modules (a GPU) in one call.
    """
    threads = min(num_threads(), size)
    if xp is not np or threads <= 1 or (nbytes is not None and nbytes < MIN_PARALLEL_BYTES) or _in_pool():
        kernel(slice(0, size))
        return
    bounds = [size * k // threads for k in range(threads + 1)]
    futures = [_pool().submit(kernel, slice(start, stop)) for start, stop in zip(bounds, bounds[1:])]
    for future in futures:
        future.result()


def chunks(size: int, chunk: int) -> list[slice]:
    """``range(size)`` in slices of ``chunk`` (the last one shorter)."""
    return [slice(start, min(start + chunk, size)) for start in range(0, size, chunk)]


def run_chunks(xp: Any, blocks: Sequence[slice], kernel: Callable[[slice], T],
               combine: Callable[[T, T], T] | None = None) -> T | None:
    """``kernel(block)`` for every block, concurrently, each on one core; returns the results
    folded by ``combine`` in block order (None without ``combine``).

    On other array modules than NumPy, or with one block or one core, the calls run one after
    another on this thread, with BLAS free to use every core.
    """
    parallel = xp is np and len(blocks) > 1 and num_threads() > 1 and not _in_pool()
    if not parallel:
        return _fold(map(kernel, blocks), combine)
    with _single_threaded_blas():
        futures = [_pool().submit(kernel, block) for block in blocks]
        try:
            return _fold((future.result() for future in futures), combine)
        finally:
            wait(futures)  # after an error too: no chunk may still be running when we return


def _fold(results: Iterable[T], combine: Callable[[T, T], T] | None) -> T | None:
    total = None
    for k, result in enumerate(results):
        total = result if k == 0 else combine(total, result) if combine else None
    return total if combine else None


def outermost(array: Any, axes: Sequence[int]) -> int:
    """The axis among ``axes`` with the largest stride: blocks of it are the longest runs of memory."""
    return max(axes, key=lambda axis: (abs(array.strides[axis]) if array.shape[axis] > 1 else -1, -axis))


def block_index(axis: int, block: slice) -> tuple[slice, ...]:
    """The index that selects ``block`` along ``axis``."""
    return (slice(None),) * axis + (block,)
