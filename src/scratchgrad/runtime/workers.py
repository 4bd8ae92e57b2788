"""The threads that run the kernels' tasks: a fixed set of daemon threads, each woken by its
own semaphore (see ``Pool``), one pool per process, made again for a new count and after a fork.
How the work is cut into tasks, and whether to use the pool at all, is ``threads.py``'s part."""
from __future__ import annotations

import os
import threading
from typing import Callable

PREFIX = "scratchgrad"
_threads_pool: Pool | None = None


class Pool:
    """``workers`` daemon threads, each woken by its own semaphore to run the function it is
    handed. A hand-off costs a semaphore release and acquire; ThreadPoolExecutor's futures,
    queue and waiters cost several times that, which decides whether a small kernel gains from
    threads at all (benchmarks/README.md, session 10). ``threads._share`` hands them its work;
    the calling thread takes part, so a pool has one thread fewer than the kernels run on."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.in_use = threading.Lock()  # one _share at a time has the threads; a concurrent one runs alone
        self._jobs: list[Callable[[], None] | None] = [None] * workers
        self._wake = [threading.Semaphore(0) for _ in range(workers)]
        self._done = threading.Semaphore(0)
        for k in range(workers):
            threading.Thread(target=self._serve, args=(k,), name=f"{PREFIX}-{k}", daemon=True).start()

    def _serve(self, k: int) -> None:
        while True:
            self._wake[k].acquire()
            job = self._jobs[k]
            if job is None:
                return
            try:
                job()
            except BaseException:  # noqa: BLE001 - _share's work records its tasks' errors; the thread stays
                pass
            finally:
                self._done.release()

    def run(self, work: Callable[[], None], helpers: int) -> None:
        """``work`` on ``helpers`` of the threads and on this one; returns once every call has returned."""
        for k in range(helpers):
            self._jobs[k] = work
            self._wake[k].release()
        try:
            work()
        finally:
            for _ in range(helpers):
                self._done.acquire()

    def close(self) -> None:
        """Let the threads end (each once its current job, if any, is done)."""
        for k in range(self.workers):
            self._jobs[k] = None
            self._wake[k].release()


def of(workers: int) -> Pool:
    """The pool of ``workers`` threads, made on first use and again when the count changed."""
    global _threads_pool
    if _threads_pool is None or _threads_pool.workers != workers:
        if _threads_pool is not None:
            _threads_pool.close()
        _threads_pool = Pool(workers)
    return _threads_pool


def _forget_pool() -> None:
    """In a forked child: the pool's threads were not copied, so the next call makes a new pool."""
    global _threads_pool
    _threads_pool = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)
