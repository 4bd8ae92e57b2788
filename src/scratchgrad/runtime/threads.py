"""Run array kernels on all cores.

NumPy releases the GIL inside its loops, so a kernel made of whole-array operations scales
over threads when each thread works on its own block of an axis, preferably the outermost one
in memory (long contiguous runs inside each block). Five ways to split the work:

- ``for_blocks``: one block per core (or a given number of blocks), for a memory-bound pass;
- ``run_chunks``: many chunks, each a whole pipeline (transforms and GEMMs) run by one core on
  data that stays in its cache;
- ``matmul``: a matrix product in blocks of the stack, of rows or of columns;
- ``elementwise``: an elementwise kernel over same-shaped arrays, a block of the outermost axis per core;
- ``copy``: a copy between memory layouts, a block of the destination's outermost axis per core
  (``copied``: into a new array).

All five hand their tasks to ``_concurrently``, which runs them through ``_share``, or on the
calling thread alone where that was faster (see ``AUTOTUNE``). In ``_share`` the calling thread
and a pool of one thread less than ``num_threads()`` (the cores this process may run on, or
``set_num_threads``'s count; created on first use) take the tasks one by one from a common
counter, so a core that finishes early takes the next task, and the caller works instead of
waiting. While they run BLAS calls, BLAS is held to one thread: the tasks already
occupy every core, and BLAS's own threads would otherwise spin for a while after each call,
taking cores from the next kernel. Each element is computed by exactly the same operations
whatever the number of threads (blocks are sized from the shapes only, and block results are
combined in block order), so results do not depend on it.
"""
from __future__ import annotations

import functools
import math
import threading
import time
from typing import Any, Callable, Hashable, Iterable, Sequence, TypeVar

import numpy as np

from ..backend import get_array_module
from . import machine, workers, workspace
from .blas import one_blas_thread

T = TypeVar("T")
_worker = threading.local()  # .busy: this thread runs tasks of _share
_requested: int | None = None  # set by set_num_threads; None: every core this process may run on


def set_num_threads(count: int) -> None:
    """Run the kernels and the optimizer's updates on ``count`` threads (the calling one
    included), and BLAS calls made outside them on ``count`` BLAS threads, as
    ``torch.set_num_threads``. Results do not depend on the count (see the module's docstring).

    Args:
        count: the number of threads, at least 1 (more than the cores is allowed).
    """
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError(f"set_num_threads: expected an int >= 1, got {count!r}")
    global _requested
    _requested = count
    one_blas_thread.set_threads_outside(count)


def get_num_threads() -> int:
    """The number of threads the kernels run on: ``set_num_threads``'s count, else the cores
    this process may run on (its CPU affinity)."""
    return num_threads()


def num_threads() -> int:
    return machine.available_cores() if _requested is None else _requested


def _in_pool() -> bool:
    """Whether this thread is already running tasks of ``_share`` (nested calls run inline: a
    worker that waited on the pool could deadlock it)."""
    return getattr(_worker, "busy", False)


def _share(tasks: Sequence[Callable[[], T]], helpers: int | None = None) -> list[T]:
    """Run ``tasks`` on this thread and ``num_threads() - 1`` pool threads (or ``helpers`` of
    them; 0: this thread alone), each taking the next task not yet taken; returns their results
    in order, or raises the first error once no task runs any more. This thread takes part
    rather than waiting: one thread less to wake."""
    results: list[Any] = [None] * len(tasks)
    errors: list[BaseException] = []
    order, lock = iter(range(len(tasks))), threading.Lock()

    def work() -> None:
        _worker.busy = True
        try:
            while not errors:
                with lock:
                    k = next(order, None)
                if k is None:
                    return
                try:
                    results[k] = tasks[k]()
                except BaseException as error:  # noqa: BLE001 - re-raised on the calling thread
                    errors.append(error)
        finally:
            _worker.busy = False

    count = min(num_threads(), len(tasks)) - 1 if helpers is None else helpers
    threads = workers.of(max(1, num_threads() - 1)) if count > 0 else None
    if threads is not None and threads.in_use.acquire(blocking=False):
        try:
            threads.run(work, min(count, threads.workers))  # returns after an error too: no task still runs
        finally:
            threads.in_use.release()
    else:
        work()
    if errors:
        raise errors[0]
    return results


# Whether to measure, per call site and size, if running its tasks on the pool is faster than
# on the calling thread alone, and keep the faster (a documented setting; see _concurrently).
AUTOTUNE = True
TRIALS = 3  # timed calls in each mode before the choice
_choices: dict[Hashable, Any] = {}  # key -> [seconds alone, seconds on the pool], then the choice (a bool)
_clock = time.perf_counter


def _concurrently(key: Hashable, tasks: Sequence[Callable[[], T]]) -> list[T]:
    """``_share(tasks)``, or the same tasks on this thread alone where that was faster for ``key``.

    Waking the pool costs a thread hand-off (tens to hundreds of microseconds, by machine and
    load), and tasks made of many small NumPy calls hold the GIL and contend for it; whether
    that pays depends on the machine and the work. So the first calls of a key (a kernel and
    the size of its work) are timed: one untimed, then ``TRIALS`` alone and ``TRIALS`` on the
    pool, alternated, and the faster mode (by its fastest call) is kept. The tasks are the same
    either way, and run as pool tasks either way (``_in_pool``), so results do not change."""
    if not AUTOTUNE or len(tasks) <= 1:
        return _share(tasks)
    key = (key, num_threads())
    state = _choices.get(key)
    if state is None:
        _choices[key] = [[], []]
        return _share(tasks, helpers=0)  # a warm-up call (allocations, first touches), untimed
    if isinstance(state, bool):
        return _share(tasks, helpers=None if state else 0)
    on_pool = len(state[1]) < len(state[0])
    start = _clock()
    results = _share(tasks, helpers=None if on_pool else 0)
    state[on_pool].append(_clock() - start)
    if len(state[1]) >= TRIALS:
        _choices[key] = min(state[1]) < min(state[0])
    return results


def _site(kernel: Callable[..., Any]) -> Any:
    """What identifies ``kernel``'s call site: its code (a lambda's or a partial's function's)."""
    kernel = getattr(kernel, "func", kernel)
    return getattr(kernel, "__code__", kernel)


# Less work than this is not worth waking threads for (~33 us a parallel call on the tuning host;
# the same on every machine until calibrated: see benchmarks/README.md, Thresholds by machine).
MIN_PARALLEL_BYTES = 1 << 20


def for_blocks(xp: Any, size: int, kernel: Callable[[slice], None], nbytes: int | None = None,
               pieces: int | None = None) -> None:
    """Call ``kernel(block)`` for one slice per core (or ``pieces`` slices, which the cores take
    as they become free), together covering ``range(size)``.

    On NumPy the calls run on all cores, unless ``nbytes`` (the size of the data the kernel
    works through) is small; on other array modules (a GPU) in one call.
    """
    threads = min(num_threads(), size)
    if xp is not np or threads <= 1 or (nbytes is not None and nbytes < MIN_PARALLEL_BYTES) or _in_pool():
        kernel(slice(0, size))
        return
    pieces = threads if pieces is None else min(pieces, size)
    bounds = [size * k // pieces for k in range(pieces + 1)]
    tasks = [functools.partial(kernel, slice(start, stop)) for start, stop in zip(bounds, bounds[1:])]
    _concurrently((_site(kernel), size, nbytes, pieces), tasks)


def chunks(size: int, chunk: int) -> list[slice]:
    """``range(size)`` in slices of ``chunk`` (the last one shorter)."""
    return [slice(start, min(start + chunk, size)) for start in range(0, size, chunk)]


def tapered_chunks(size: int, chunk: int) -> list[slice]:
    """``range(size)`` in slices of ``chunk``, except that the last ``2 * chunk`` or fewer are cut
    in four: cores that take the last chunks finish closer together (less time with a core idle)."""
    full = max(0, -(-(size - 2 * chunk) // chunk)) * chunk if size > 2 * chunk else 0
    tail = max(1, -(-(size - full) // 4))
    return chunks(full, chunk) + [slice(s.start + full, s.stop + full) for s in chunks(size - full, tail)]


def run_chunks(xp: Any, blocks: Sequence[Any], kernel: Callable[[Any], T],
               combine: Callable[[T, T], T] | None = None, work: Hashable = None) -> T | None:
    """``kernel(block)`` for every block, concurrently, each on one core with BLAS on one thread;
    returns the results folded by ``combine`` in block order (None without ``combine``).
    ``work`` (hashable, e.g. the operands' shapes) tells calls of one kernel on different sizes
    apart for ``_concurrently``.

    Called from the pool's own threads, or with one block, the calls run one after another on
    this thread (still with BLAS on one thread); on other array modules than NumPy, one after
    another as they are.
    """
    if xp is not np:
        return _fold(map(kernel, blocks), combine)
    with one_blas_thread:
        if len(blocks) <= 1 or _in_pool():
            return _fold(map(kernel, blocks), combine)
        # through _share on one core too: its tasks run as pool tasks (see _in_pool) whatever the core count
        tasks = [functools.partial(kernel, block) for block in blocks]
        return _fold(_concurrently((_site(kernel), len(blocks), work), tasks), combine)


MATMUL_BLOCKS = 8  # a product is split into about this many blocks (independent of the core count)
MIN_BLOCK_ROWS = 64  # rows (or columns) per block at least: fewer waste BLAS's packing of the other operand
MIN_PARALLEL_FLOPS = 1 << 22  # smaller products run in one call (as MIN_PARALLEL_BYTES)
# OpenBLAS's AVX-512 builds multiply a product of at most 100^3 multiply-adds (M * N * K) with
# their "small matrix" kernels, which read the operands in place; a larger one is packed first,
# which on a thin product (K or N of 9-64: Winograd's GEMMs on narrow layers, a first layer's
# weight gradient) costs more than the multiplies. Products cut into blocks within this limit
# ran 1.2-1.9x faster there (one core, OpenBLAS 0.3.31). Other builds pack every product, so
# the limit is the machine's (``machine.thresholds().small_product``: 0, no blocks, without
# such kernels); a number set here overrides it.
SMALL_PRODUCT: int | None = None
MIN_SMALL_ROWS = 64  # shorter blocks would cost more in calls than the direct kernels save


def matmul(xp: Any, a: Any, b: Any, out: Any = None) -> Any:
    """``a @ b`` for operands of 2 or more dims (batch dims broadcast), on all cores: stacks of
    matrices split by matrix, single products by rows of ``a``, or by columns of ``b`` when
    ``a`` has few rows (never along the summed axis: each element is one BLAS dot as usual);
    each block by rows that BLAS multiplies directly (see ``SMALL_PRODUCT``)."""
    if xp is not np:
        return xp.matmul(a, b, out=out)
    out = _product_array(a, b) if out is None else out
    run_chunks(xp, _blocks(a, b, out), lambda block: _in_small_rows(a[block[0]], b[block[1]], out[block[2]]),
               work=_shapes(a, b))
    return out


def summed_matmul(xp: Any, a: Any, b: Any) -> Any:
    """``a @ b`` as ``matmul``, for a long summed axis and a small result (a weight gradient):
    the sum of the products of blocks of the summed axis that BLAS multiplies directly (see
    ``SMALL_PRODUCT``), added in order."""
    if xp is not np:
        return xp.matmul(a, b)
    out = _product_array(a, b)
    run_chunks(xp, _blocks(a, b, out), lambda block: _in_small_sums(a[block[0]], b[block[1]], out[block[2]]),
               work=_shapes(a, b))
    return out


def _shapes(a: Any, b: Any) -> tuple[Any, ...]:
    """A product's operands as ``_concurrently`` tells them apart (a stored-transposed operand runs at another speed)."""
    return a.shape, b.shape, a.strides[-1] == a.itemsize, b.strides[-1] == b.itemsize


def _product_array(a: Any, b: Any) -> Any:
    batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    return workspace.empty(np, batch + (a.shape[-2], b.shape[-1]), np.result_type(a, b))


def _blocks(a: Any, b: Any, out: Any) -> list[tuple[Any, Any, Any]]:
    """How ``matmul`` splits ``a @ b`` (into ``out``) over the cores: (index of a, index of b, index of out) per block."""
    (m, k), n = a.shape[-2:], b.shape[-1]
    count, whole = math.prod(out.shape[:-2]), Ellipsis
    if 2 * count * m * n * k < MIN_PARALLEL_FLOPS or _in_pool():
        return [(whole, whole, whole)]  # one call (within a chunk of run_chunks, blocks would only pack the other operand again)
    if a.ndim == b.ndim == 3 and a.shape[0] == b.shape[0] and count >= 4:
        return [(s, s, s) for s in chunks(count, -(-count // MATMUL_BLOCKS))]
    if m >= 2 * MIN_BLOCK_ROWS:
        rows = [(whole, r, slice(None)) for r in chunks(m, max(MIN_BLOCK_ROWS, -(-m // MATMUL_BLOCKS)))]
        return [(r, whole, r) for r in rows]
    if n >= 2 * MIN_BLOCK_ROWS:
        columns = [(whole, c) for c in chunks(n, max(MIN_BLOCK_ROWS, -(-n // MATMUL_BLOCKS)))]
        return [(whole, c, c) for c in columns]
    return [(whole, whole, whole)]


def small_block(other_dims: int, length: int) -> int:
    """How many of ``length`` rows (or summed positions) to multiply at a time so that a product
    whose other two dims multiply to ``other_dims`` stays within ``SMALL_PRODUCT``: ``length``
    itself when it already does, when such blocks would be shorter than ``MIN_SMALL_ROWS``, or
    when the limit is 0 (a BLAS without small-matrix kernels);
    otherwise equal blocks."""
    most = machine.value("small_product", SMALL_PRODUCT) // max(other_dims, 1)
    if length <= most or most < MIN_SMALL_ROWS:
        return length
    return -(-length // -(-length // most))


def _in_small_rows(a: Any, b: Any, out: Any) -> None:
    """``np.matmul(a, b, out=out)`` by blocks of rows (see ``small_block``) when ``a`` is stored
    by rows (a transposed ``a``, a first layer's tap-major rows, ran 30% slower in blocks)."""
    m = a.shape[-2]
    block = small_block(a.shape[-1] * b.shape[-1], m) if a.strides[-1] == a.itemsize else m
    for rows in chunks(m, block):
        np.matmul(a[..., rows, :], b, out=out[..., rows, :])


def _in_small_sums(a: Any, b: Any, out: Any) -> None:
    """``np.matmul(a, b, out=out)`` as the sum of the products of blocks of the summed axis (see ``small_block``)."""
    length = a.shape[-1]
    first, *rest = chunks(length, small_block(a.shape[-2] * b.shape[-1], length))
    np.matmul(a[..., first], b[..., first, :], out=out)
    partial = np.empty_like(out) if rest else None
    for part in rest:
        np.matmul(a[..., part], b[..., part, :], out=partial)
        out += partial


def elementwise(xp: Any, kernel: Callable[..., Any], *arrays: Any) -> Any:
    """``kernel(*arrays, out=out)`` into a fresh array with the layout of ``arrays[0]``, on all
    cores when the arrays are large and of one shape (otherwise ``kernel(*arrays)`` as it is)."""
    first = arrays[0]
    one_block = first.ndim == 0 or first.nbytes < MIN_PARALLEL_BYTES or any(a.shape != first.shape for a in arrays)
    if xp is not np or one_block or _in_pool():
        return kernel(*arrays)
    out = workspace.empty(np, first.shape, np.result_type(*arrays), like=first)
    axis = outermost(out, range(out.ndim))

    def block_kernel(block: slice) -> None:
        index = block_index(axis, block)
        kernel(*(a[index] for a in arrays), out=out[index])

    for_blocks(xp, out.shape[axis], block_kernel, out.nbytes)
    return out


def copy(out: Any, x: Any) -> None:
    """``out[...] = x`` (same shape), on all cores when large: by blocks of ``out``'s outermost
    axis. A copy that changes the order of axes in memory reads with long strides, which one core
    does at a fraction of the memory's speed."""
    if not isinstance(out, np.ndarray) or out.ndim == 0:
        out[...] = x
        return
    axis = outermost(out, range(out.ndim))

    def block_copy(block: slice) -> None:
        index = block_index(axis, block)
        out[index] = x[index]

    for_blocks(np, out.shape[axis], block_copy, out.nbytes)


def copied(x: Any, like: Any = None) -> Any:
    """A copy of ``x`` made by ``copy`` into a new workspace array laid out like ``like`` (C order without it)."""
    out = workspace.empty(get_array_module(x), x.shape, x.dtype, like=like)
    copy(out, x)
    return out


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
