"""Argument checks shared by the layers' constructors (errors name the layer, the argument and the value)."""
from __future__ import annotations

import operator
from typing import Any


def as_int(layer: str, name: str, value: Any, minimum: int = 1) -> int:
    """``value`` as an int >= ``minimum`` (NumPy ints accepted; bools and floats are errors)."""
    try:
        number = operator.index(value) if not isinstance(value, bool) else None
    except TypeError:
        number = None
    if number is None or number < minimum:
        raise ValueError(f"{layer}: {name} must be an int >= {minimum}, got {value!r}")
    return number


def as_pair(layer: str, name: str, value: Any, minimum: int = 1) -> tuple[int, int]:
    """An int or a pair of ints as a pair (``3`` -> ``(3, 3)``)."""
    items = tuple(value) if isinstance(value, (tuple, list)) else (value, value)
    if len(items) != 2:
        raise ValueError(f"{layer}: {name} must be an int or a pair of ints, got {value!r}")
    return as_int(layer, name, items[0], minimum), as_int(layer, name, items[1], minimum)


def as_probability(layer: str, name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        raise ValueError(f"{layer}: {name} has to be between 0 and 1, but got {value!r}")
    return value


def check_choice(layer: str, name: str, value: Any, choices: tuple[Any, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{layer}: {name} must be one of {choices}, got {value!r}")
