"""A pickle reader that can build CIFAR-10 batches and nothing else.

The official batches are Python 2 pickles of a dict holding a NumPy uint8 array
(``data``), lists of ints and byte strings. A normal unpickler would import and call
whatever a file names — ``os.system`` included. This one refuses every global except
the three names a NumPy array's pickle uses, and even those resolve to local stand-ins
that only record their arguments: no NumPy (or other) code runs while reading. The
recorded arrays are then rebuilt from their raw bytes with ``np.frombuffer``.

What a file can cost is bounded by its size: the stand-ins refuse the BUILD opcode (which
would set attributes on them, module state shared by every later load), an object the
file references many times is converted once and shared (never copied per reference),
and nesting deeper than a batch has, or an object that contains itself, is refused.
"""
from __future__ import annotations

import io
import pickle
from typing import Any

import numpy as np

# Kinds of dtype an array may have: booleans, integers, floats. Never objects.
_ALLOWED_KINDS = "biuf"
_MAX_DEPTH = 32  # a batch is a dict of lists and arrays: two or three levels


class UnsafePickleError(pickle.UnpicklingError):
    """The pickle asked for something a CIFAR-10 batch never contains."""


class _Global:
    """What a refused-free global resolves to: calls ``build``; BUILD on it (``__setstate__``) is refused.

    Without ``__dict__`` and with a refusing ``__setstate__``, a file cannot change it, so one
    load never leaves state behind for the next.
    """

    __slots__ = ("name", "build")

    def __init__(self, name: str, build: Any):
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "build", build)

    def __call__(self, *args: Any) -> Any:
        if self.build is None:
            raise UnsafePickleError(f"call of {self.name} refused")
        return self.build(*args)

    def __setstate__(self, state: Any) -> None:
        raise UnsafePickleError(f"setting the state of {self.name} refused")

    def __setattr__(self, name: str, value: Any) -> None:
        raise UnsafePickleError(f"setting {self.name}.{name} refused")


class _DtypeStub:
    """Records ``numpy.dtype(name, align, copy)`` and its byte order from ``__setstate__``."""

    def __init__(self, name: Any, align: Any = 0, copy: Any = 1):
        self.name = _text(name)
        self.byte_order = "|"

    def __setstate__(self, state: tuple) -> None:
        self.byte_order = _text(state[1])

    def to_dtype(self) -> np.dtype:
        dtype = np.dtype(self.name)
        if dtype.kind not in _ALLOWED_KINDS:
            raise UnsafePickleError(f"array dtype {self.name!r} refused: only numbers are allowed")
        return dtype.newbyteorder(self.byte_order) if self.byte_order in ("<", ">") else dtype


class _ArrayStub:
    """Records ``ndarray.__setstate__((version, shape, dtype, fortran, raw_bytes))``."""

    def __init__(self, cls: Any, shape: Any = (0,), dtype: Any = b"b"):
        if cls is not _NDARRAY:
            raise UnsafePickleError(f"array reconstruction of {cls!r} refused")
        self.state: tuple | None = None

    def __setstate__(self, state: tuple) -> None:
        self.state = state

    def to_array(self) -> np.ndarray:
        if self.state is None or len(self.state) != 5:
            raise UnsafePickleError("array without the expected (version, shape, dtype, "
                                    "fortran, data) state")
        _, shape, dtype, fortran, raw = self.state
        if not isinstance(dtype, _DtypeStub) or not isinstance(raw, (bytes, str)):
            raise UnsafePickleError("array state holds something other than a dtype and bytes")
        raw = raw.encode("latin-1") if isinstance(raw, str) else raw
        array = np.frombuffer(raw, dtype=dtype.to_dtype())
        shape = tuple(int(side) for side in shape)
        return array.reshape(shape[::-1]).T.copy() if fortran else array.reshape(shape).copy()


_NDARRAY = _Global("numpy.ndarray", None)  # only an argument of _reconstruct(ndarray, shape, dtype)
_STAND_INS = {
    ("numpy", "ndarray"): _NDARRAY,
    ("numpy", "dtype"): _Global("numpy.dtype", _DtypeStub),
    ("numpy.core.multiarray", "_reconstruct"): _Global("numpy.core.multiarray._reconstruct", _ArrayStub),
    ("numpy._core.multiarray", "_reconstruct"): _Global("numpy._core.multiarray._reconstruct", _ArrayStub),
}


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        try:
            return _STAND_INS[module, name]
        except KeyError:
            raise UnsafePickleError(
                f"refused to load global {module}.{name}: a CIFAR-10 batch only holds "
                f"a dict of arrays, lists, numbers and strings") from None


def load_restricted(content: bytes, source: str = "<bytes>") -> dict:
    """Unpickle ``content`` that must be a dict of bytes/str/ints/lists/NumPy number arrays.

    Keys come back as ``str`` (Python 2 byte-string keys are decoded as latin-1).

    Raises:
        UnsafePickleError: naming ``source`` and what was refused.
    """
    try:
        loaded = _RestrictedUnpickler(io.BytesIO(content), encoding="bytes").load()
        if not isinstance(loaded, dict):
            raise UnsafePickleError(f"expected a dict at the top, got {type(loaded).__name__}")
        return _materialize(loaded, {}, set(), 0)
    except UnsafePickleError as error:
        raise UnsafePickleError(f"{source}: {error}") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError,
            IndexError, KeyError) as error:
        raise UnsafePickleError(f"{source}: not a readable CIFAR-10 batch pickle ({error!r})") from error


def _materialize(value: Any, done: dict[int, Any], open_: set[int], depth: int) -> Any:
    """Turn recorded arrays into real ones; refuse any other foreign object.

    ``done`` maps the id of each converted container or array to its result, so an object
    the file references many times is converted once and shared; ``open_`` holds the ids
    being converted, so an object containing itself is refused rather than followed.
    """
    if value is None or isinstance(value, (bytes, str, int, float, bool)):
        return value
    if id(value) in done:
        return done[id(value)]
    if id(value) in open_:
        raise UnsafePickleError(f"a {type(value).__name__} that contains itself")
    if depth > _MAX_DEPTH:
        raise UnsafePickleError(f"nested deeper than {_MAX_DEPTH} levels")
    open_.add(id(value))
    if isinstance(value, _ArrayStub):
        result: Any = value.to_array()
    elif isinstance(value, (list, tuple)):
        result = type(value)(_materialize(item, done, open_, depth + 1) for item in value)
    elif isinstance(value, dict):
        result = {_text(key): _materialize(item, done, open_, depth + 1) for key, item in value.items()}
    else:
        raise UnsafePickleError(f"unexpected object of type {type(value).__name__}")
    open_.discard(id(value))
    done[id(value)] = result
    return result


def _text(value: Any) -> str:
    return value.decode("latin-1") if isinstance(value, bytes) else str(value)
