"""``scratchgrad.multiprocessing``: the names of ``torch.multiprocessing``, over Python's multiprocessing.

PyTorch's module is the standard library's with tensors sent through shared memory. Here a
Tensor is pickled with its NumPy array (copied, not shared), which is what PyTorch does for
the start methods that cannot share; the sharing-strategy functions are there for scripts
that set them and report the one strategy used.
"""
from __future__ import annotations

import multiprocessing as _mp
from multiprocessing import (  # noqa: F401 - PyTorch re-exports the standard library's names
    Array, Barrier, BoundedSemaphore, Condition, Event, JoinableQueue, Lock, Manager, Pipe, Pool, Process, Queue, RLock,
    Semaphore, SimpleQueue, Value, active_children, cpu_count, current_process, get_all_start_methods, get_context,
    get_start_method, set_start_method,
)
from typing import Any, Callable

__all__ = [
    "Array", "Barrier", "BoundedSemaphore", "Condition", "Event", "JoinableQueue", "Lock", "Manager", "Pipe", "Pool", "Process",
    "Queue", "RLock", "Semaphore", "SimpleQueue", "Value", "active_children", "cpu_count", "current_process",
    "get_all_start_methods", "get_context", "get_start_method", "set_start_method", "get_sharing_strategy",
    "set_sharing_strategy", "get_all_sharing_strategies", "spawn",
]

_STRATEGY = "file_system"


def get_all_sharing_strategies() -> set[str]:
    return {_STRATEGY}


def get_sharing_strategy() -> str:
    return _STRATEGY


def set_sharing_strategy(new_strategy: str) -> None:
    """Accepts PyTorch's strategy names; tensors are always copied (pickled) between processes."""
    if new_strategy not in ("file_system", "file_descriptor"):
        raise ValueError(f"set_sharing_strategy: expected 'file_system' or 'file_descriptor', got {new_strategy!r}")


def spawn(fn: Callable[..., Any], args: tuple[Any, ...] = (), nprocs: int = 1, join: bool = True, daemon: bool = False,
          start_method: str = "spawn") -> list[Any] | None:
    """Start ``nprocs`` processes running ``fn(i, *args)``; with ``join``, wait for them and raise
    if one failed (as ``torch.multiprocessing.spawn``). Returns the processes when not joining."""
    context = _mp.get_context(start_method)
    processes = [context.Process(target=fn, args=(i, *args), daemon=daemon) for i in range(nprocs)]
    for process in processes:
        process.start()
    if not join:
        return processes
    for process in processes:
        process.join()
    failed = [(i, p.exitcode) for i, p in enumerate(processes) if p.exitcode != 0]
    if failed:
        raise RuntimeError(f"spawn: process {failed[0][0]} terminated with exit code {failed[0][1]}")
    return None
