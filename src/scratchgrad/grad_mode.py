"""Grad mode: the one global switch (per thread, as in PyTorch) that decides whether ops record a graph."""
from __future__ import annotations

import functools
import threading
from typing import Any, Callable, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

_state = threading.local()


def is_grad_enabled() -> bool:
    return getattr(_state, "enabled", True)


def _set_enabled(enabled: bool) -> None:
    _state.enabled = enabled


class set_grad_enabled:
    """Context manager and decorator that sets grad mode to ``mode`` and restores it after."""

    def __init__(self, mode: bool = True):
        self.mode = bool(mode)
        self._previous: list[bool] = []

    def __enter__(self) -> None:
        self._previous.append(is_grad_enabled())
        _set_enabled(self.mode)

    def __exit__(self, *exc_info: Any) -> None:
        _set_enabled(self._previous.pop())

    def __call__(self, function: F) -> F:
        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with set_grad_enabled(self.mode):
                return function(*args, **kwargs)

        return wrapper  # type: ignore[return-value]


class no_grad(set_grad_enabled):
    """Disable graph recording: ``with no_grad(): ...`` or ``@no_grad()``."""

    def __init__(self) -> None:
        super().__init__(False)


class enable_grad(set_grad_enabled):
    """Enable graph recording inside a ``no_grad`` block."""

    def __init__(self) -> None:
        super().__init__(True)
