"""BLAS held to one thread while the thread pool's tasks run (see ``threads.run_chunks``)."""
from __future__ import annotations

import threading
from typing import Any


class OneBlasThread:
    """Holds BLAS to one thread while any ``with`` block of it is open, in any thread: the chunks
    already occupy every core (and OpenBLAS serialises concurrent multi-threaded calls). The
    first block to open saves and sets the thread counts, the last to close restores them; a
    nested one costs a lock, not threadpoolctl's query of every library (13 us each, 33 a
    small-CNN step)."""

    def __init__(self) -> None:
        self._lock, self._open, self._saved = threading.Lock(), 0, []
        self._libraries: list[Any] | None = None

    def _load(self) -> list[Any]:
        if self._libraries is None:
            from threadpoolctl import ThreadpoolController

            self._libraries = ThreadpoolController().select(user_api="blas").lib_controllers
        return self._libraries

    def set_threads_outside(self, count: int) -> None:
        """BLAS's thread count outside the ``with`` blocks (restored to it when the last one closes)."""
        with self._lock:
            if self._open:
                self._saved = [count] * len(self._load())
            else:
                for library in self._load():
                    library.set_num_threads(count)

    def __enter__(self) -> None:
        with self._lock:
            self._load()
            if self._open == 0:
                self._saved = [library.get_num_threads() for library in self._libraries]
                for library in self._libraries:
                    library.set_num_threads(1)
            self._open += 1

    def __exit__(self, *exc: Any) -> None:
        with self._lock:
            self._open -= 1
            if self._open == 0:
                for library, count in zip(self._libraries, self._saved):
                    library.set_num_threads(count)


one_blas_thread = OneBlasThread()
