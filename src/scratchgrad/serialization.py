"""``save`` and ``load`` in the safetensors format, written by hand — never pickle.

A safetensors file is::

    8 bytes      N, the header length, unsigned little-endian
    N bytes      a JSON object, padded with spaces to a multiple of 8 bytes:
                 {"__metadata__": {str: str, ...},                      (optional)
                  "<name>": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, ...}
    the rest     every tensor's raw little-endian bytes in C order, back to back;
                 offsets count from the start of this section

Tensors are laid out as the reference implementation lays them out (by dtype, widest
first, then by name), so a flat dict of tensors gives the same bytes as the
``safetensors`` package, and files move between scratchgrad, ``safetensors`` and torch.

Nested objects (an optimizer ``state_dict``, a training state with a model, an
optimizer, a scheduler, an epoch number and RNG states) are stored too. Each tensor
gets the ``.``-joined path of keys and list indices that leads to it as its name (a
torch-style state dict nested under ``"model"`` gives ``model.conv1.weight``), and the
skeleton of the object goes into ``__metadata__["scratchgrad.structure"]`` as JSON,
where each node is

- ``{"tensor": name}`` for a tensor (or NumPy array),
- ``{"dict": [[key, node], ...]}`` for a dict: the key stays a JSON string or integer,
  so integer keys such as an optimizer's ``state`` indices come back as ``int``,
- ``{"list": [node, ...]}`` or ``{"tuple": [node, ...]}``,
- the value itself for ``None``, a bool, an int, a float (``NaN``/``Infinity`` as
  Python's ``json`` writes them) or a string.

A flat dict of str to tensors has no skeleton: such a file is plain safetensors.

Differences from ``torch.save``/``torch.load``: only dicts of tensors, arrays, numbers,
strings, lists and tuples can be saved (no arbitrary objects: no pickle), the top
level must be a dict, and loaded tensors do not require grad.
"""
from __future__ import annotations

import json
import math
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any

import numpy as np

from .backend import device, get_array_module, to_device
from .tensor import Tensor

FileLike = str | os.PathLike | IO[bytes]
STRUCTURE_KEY = "scratchgrad.structure"

# safetensors dtype codes, in the reference implementation's layout order (widest first).
_CODES = ["U64", "I64", "F64", "F32", "U32", "I32", "F16", "U16", "I16", "I8", "U8", "BOOL"]
_NUMPY = {
    "U64": "<u8", "I64": "<i8", "F64": "<f8", "F32": "<f4", "U32": "<u4", "I32": "<i4",
    "F16": "<f2", "U16": "<u2", "I16": "<i2", "I8": "i1", "U8": "u1", "BOOL": "?",
}
_CODE_OF = {np.dtype(spec): code for code, spec in _NUMPY.items()}
_MAX_HEADER = 100_000_000  # the reference implementation's limit; guards against garbage lengths
_MAX_DIGITS = 20  # an integer in a header is a size or an offset: it fits in 64 bits
_MAX_DEPTH = 100  # of the structure: a training state nests a handful of levels
_CHUNK = 1 << 20  # unseekable streams are read in chunks, so memory follows what really arrives


class SafetensorsError(ValueError):
    """A file that is not valid safetensors: truncated, corrupt, or another format. The message names it."""


# --------------------------------------------------------------------------- save
def save(obj: dict[str, Any], f: FileLike, metadata: dict[str, str] | None = None) -> None:
    """Write ``obj`` to ``f`` (a path or a binary file object) in the safetensors format.

    Args:
        obj: a dict of str to Tensors (a ``state_dict``), or a nested dict of tensors,
            NumPy arrays, numbers, strings, ``None``, lists and tuples (see the module
            docstring for how it is stored).
        f: a path, written atomically (a temporary file in the same directory, flushed
            to disk, then renamed over ``f``), or a writable binary file object.
        metadata: extra str to str entries for the header's ``__metadata__``.
    """
    if not isinstance(obj, dict):
        raise TypeError(f"save: expected a dict (e.g. a state_dict), got {type(obj).__name__}")
    tensors: dict[str, np.ndarray] = {}
    if all(isinstance(key, str) for key in obj) and all(_is_array(value) for value in obj.values()):
        for key, value in obj.items():
            _add_tensor(tensors, key, value)
        structure = None
    else:
        structure = json.dumps(_encode(obj, [], tensors), separators=(",", ":"), ensure_ascii=False)
    entries = _check_metadata(metadata)
    if structure is not None:
        entries[STRUCTURE_KEY] = structure
    header, order = _header(tensors, entries)
    chunks = [len(header).to_bytes(8, "little"), header]
    chunks += [tensors[name].reshape(-1).view(np.uint8) for name in order]
    if isinstance(f, (str, os.PathLike)):
        _write_atomic(os.fspath(f), chunks)
    else:
        for chunk in chunks:
            f.write(chunk)


def _is_array(value: Any) -> bool:
    return isinstance(value, (Tensor, np.ndarray)) or get_array_module(value) is not np


def _add_tensor(tensors: dict[str, np.ndarray], name: str, value: Any) -> None:
    if name == "__metadata__":
        raise ValueError("save: '__metadata__' is reserved by the safetensors format and cannot name a tensor")
    if name in tensors:
        raise ValueError(f"save: two tensors would be stored under the name '{name}'; rename a key")
    array = to_device(value.array if isinstance(value, Tensor) else value, "cpu")
    if array.dtype.newbyteorder("<") not in _CODE_OF:
        raise TypeError(f"save: tensor '{name}' has dtype {array.dtype}, which safetensors cannot store here; "
                        f"expected one of {sorted(str(np.dtype(s)) for s in _NUMPY.values())}")
    tensors[name] = array.astype(array.dtype.newbyteorder("<"), order="C", copy=False)


def _encode(node: Any, path: list[str], tensors: dict[str, np.ndarray]) -> Any:
    """The JSON skeleton of ``node``; its tensors go to ``tensors`` under their path."""
    if _is_array(node):
        name = ".".join(path)
        _add_tensor(tensors, name, node)
        return {"tensor": name}
    if isinstance(node, dict):
        items = []
        for key, value in node.items():
            if not isinstance(key, (str, int)) or isinstance(key, bool):
                raise TypeError(f"save: dict keys must be str or int, got {key!r} at '{'.'.join(path)}'")
            items.append([key, _encode(value, path + [str(key)], tensors)])
        return {"dict": items}
    if isinstance(node, (list, tuple)):
        tag = "list" if isinstance(node, list) else "tuple"
        return {tag: [_encode(value, path + [str(i)], tensors) for i, value in enumerate(node)]}
    if isinstance(node, np.generic):
        node = node.item()
    if node is None or isinstance(node, (bool, int, float, str)):
        return node
    raise TypeError(f"save: cannot store a {type(node).__name__} at '{'.'.join(path)}'; expected tensors, "
                    "NumPy arrays, dicts, lists, tuples, numbers, strings or None (scratchgrad never pickles)")


def _check_metadata(metadata: dict[str, str] | None) -> dict[str, str]:
    metadata = dict(metadata or {})
    for key, value in metadata.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise TypeError(f"save: metadata must map str to str, got {key!r}: {value!r}")
    if STRUCTURE_KEY in metadata:
        raise ValueError(f"save: the metadata key '{STRUCTURE_KEY}' is reserved by scratchgrad")
    return metadata


def _header(tensors: dict[str, np.ndarray], metadata: dict[str, str]) -> tuple[bytes, list[str]]:
    """The padded JSON header and the order of the tensors in the data section."""
    code = {name: _CODE_OF[array.dtype] for name, array in tensors.items()}
    order = sorted(tensors, key=lambda name: (_CODES.index(code[name]), name))
    entries: dict[str, Any] = {"__metadata__": dict(sorted(metadata.items()))} if metadata else {}
    offset = 0
    for name in order:
        array = tensors[name]
        entries[name] = {"dtype": code[name], "shape": list(array.shape), "data_offsets": [offset, offset + array.nbytes]}
        offset += array.nbytes
    header = json.dumps(entries, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return header + b" " * (-len(header) % 8), order


def _write_atomic(path: str, chunks: list[Any]) -> None:
    """Write to a temporary file beside ``path``, flush it to disk, then rename it over ``path``."""
    directory = os.path.dirname(os.path.abspath(path))
    temporary = os.path.join(directory, f".{os.path.basename(path)}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(temporary, "xb") as out:
            out.writelines(chunks)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException as error:
        if os.path.exists(temporary):
            os.unlink(temporary)
        if isinstance(error, OSError) and error.filename is None:  # a full disk names no file
            raise OSError(error.errno, error.strerror, path) from error
        raise
    _fsync_directory(directory)


def _fsync_directory(directory: str) -> None:
    """Make the rename itself durable (POSIX); a no-op where directories cannot be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# --------------------------------------------------------------------------- load
def load(f: FileLike, map_location: str | device | None = None) -> dict[str, Any]:
    """Read what :func:`save` (or any safetensors writer) wrote.

    Args:
        f: a path or a readable binary file object.
        map_location: ``None`` or ``"cpu"`` for NumPy-backed tensors, ``"cuda"`` to put
            them on the GPU.

    Returns:
        the saved object, with Tensors (of the stored dtypes: float32 stays float32) in
        place of tensors and arrays; a plain safetensors file gives a dict of str to
        Tensors, sorted by name.
    """
    if map_location is not None and not isinstance(map_location, (str, device)):
        raise TypeError(f"load: map_location must be None, 'cpu' or 'cuda', got {map_location!r}")
    with _opened(f) as (stream, source):
        header, size = _read_header(stream, source)
        arrays = _read_tensors(stream, source, header, size)
    target = device(map_location or "cpu")
    tensors = {name: Tensor(to_device(array, target)) for name, array in sorted(arrays.items())}
    structure = header.get("__metadata__", {}).get(STRUCTURE_KEY)
    if structure is None:
        return tensors
    try:
        return _decode(json.loads(structure), tensors)
    except RecursionError:
        raise SafetensorsError(f"{source}: corrupt '{STRUCTURE_KEY}' metadata: nested too deeply") from None
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise SafetensorsError(f"{source}: corrupt '{STRUCTURE_KEY}' metadata: {error}") from None


def read_metadata(f: FileLike) -> dict[str, str]:
    """The header's ``__metadata__`` (str to str) without reading the tensors."""
    with _opened(f) as (stream, source):
        header, _ = _read_header(stream, source)
    return dict(header.get("__metadata__", {}))


@contextmanager
def _opened(f: FileLike) -> Iterator[tuple[IO[bytes], str]]:
    if isinstance(f, (str, os.PathLike)):
        with open(f, "rb") as stream:
            yield stream, os.fspath(f)
    else:
        yield f, getattr(f, "name", None) or f"<{type(f).__name__}>"


def _stream_size(stream: IO[bytes]) -> int | None:
    """Bytes left in ``stream`` from its position, when it can tell."""
    try:
        here = stream.tell()
        end = stream.seek(0, os.SEEK_END)
        stream.seek(here)
        return end - here
    except (AttributeError, OSError, ValueError):
        return None


def _read_header(stream: IO[bytes], source: str) -> tuple[dict[str, Any], int | None]:
    """The validated header, and the size of the data section when the stream knows it."""
    size = _stream_size(stream)
    prefix = stream.read(8)
    if len(prefix) < 8:
        raise SafetensorsError(f"{source}: not a safetensors file: it has {len(prefix)} bytes, fewer than the 8-byte header length")
    length = int.from_bytes(prefix, "little")
    if length > _MAX_HEADER or (size is not None and length > size - 8):
        raise SafetensorsError(f"{source}: header length {length} exceeds the file ({size} bytes): truncated or not safetensors")
    raw = _read_up_to(stream, length)
    if len(raw) < length:
        raise SafetensorsError(f"{source}: truncated: the header should have {length} bytes, the file ends after {len(raw)}")
    try:
        header = json.loads(raw.decode("utf-8"), parse_int=_header_int)
    except (UnicodeDecodeError, ValueError) as error:  # JSONDecodeError, or an integer with too many digits
        raise SafetensorsError(f"{source}: corrupt header: not valid UTF-8 JSON ({error})") from None
    except RecursionError:  # json's parser is recursive: a header nested thousands deep is not a header
        raise SafetensorsError(f"{source}: corrupt header: JSON nested too deeply") from None
    if not isinstance(header, dict):
        raise SafetensorsError(f"{source}: corrupt header: expected a JSON object, got {type(header).__name__}")
    _check_header(header, source)
    return header, None if size is None else size - 8 - length


def _header_int(text: str) -> int:
    if len(text.lstrip("-")) > _MAX_DIGITS:
        raise ValueError(f"integer of {len(text)} digits, more than a size or offset can have")
    return int(text)


def _is_size(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _check_header(header: dict[str, Any], source: str) -> None:
    metadata = header.get("__metadata__", {})
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise SafetensorsError(f"{source}: corrupt header: '__metadata__' must map str to str")
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if not isinstance(info, dict) or {"dtype", "shape", "data_offsets"} - info.keys():
            raise SafetensorsError(f"{source}: corrupt header: tensor '{name}' needs dtype, shape and data_offsets, got {info!r}")
        if not isinstance(info["dtype"], str) or info["dtype"] not in _NUMPY:
            raise SafetensorsError(f"{source}: tensor '{name}' has dtype {info['dtype']!r}, which scratchgrad cannot read; "
                                   f"supported: {', '.join(_CODES)}")
        shape, offsets = info["shape"], info["data_offsets"]
        if not (isinstance(shape, list) and all(_is_size(n) for n in shape)):
            raise SafetensorsError(f"{source}: corrupt header: tensor '{name}' has shape {shape!r}, expected a list of sizes")
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(_is_size(n) for n in offsets)):
            raise SafetensorsError(f"{source}: corrupt header: tensor '{name}' has data_offsets {offsets!r}, expected [begin, end]")
        nbytes = math.prod(shape) * np.dtype(_NUMPY[info["dtype"]]).itemsize
        if offsets[1] - offsets[0] != nbytes:
            raise SafetensorsError(f"{source}: corrupt header: tensor '{name}' of shape {shape} and dtype {info['dtype']} "
                                   f"needs {nbytes} bytes, its data_offsets {offsets} span {offsets[1] - offsets[0]}")


def _read_tensors(stream: IO[bytes], source: str, header: dict[str, Any], size: int | None) -> dict[str, np.ndarray]:
    """Read the data section, which must hold the tensors back to back with no gap.

    When the stream's size is known, the header's claims are checked against it before
    anything is allocated; otherwise each tensor is read in chunks, so a header that
    claims more than the stream holds costs no more memory than the stream delivers.
    """
    infos = sorted(((name, info) for name, info in header.items() if name != "__metadata__"),
                   key=lambda item: item[1]["data_offsets"])
    position = 0
    for name, info in infos:
        if info["data_offsets"][0] != position:
            raise SafetensorsError(f"{source}: corrupt header: tensor '{name}' starts at byte {info['data_offsets'][0]} of the "
                                   f"data section, expected {position} (tensors must be back to back)")
        position = info["data_offsets"][1]
    if size is not None and size != position:
        problem = "truncated" if size < position else "corrupt"
        raise SafetensorsError(f"{source}: {problem}: the header describes {position} bytes of tensor data, the file holds {size}")
    arrays = {}
    for name, info in infos:
        dtype = np.dtype(_NUMPY[info["dtype"]])
        nbytes = info["data_offsets"][1] - info["data_offsets"][0]
        if size is not None:
            array = np.empty(info["shape"], dtype)
            _read_exact(stream, array.reshape(-1).view(np.uint8), f"{source}: truncated in tensor '{name}'")
        else:
            raw = _read_up_to(stream, nbytes)
            if len(raw) < nbytes:
                raise SafetensorsError(f"{source}: truncated in tensor '{name}': expected {nbytes} bytes, "
                                       f"the file ends after {len(raw)}")
            array = np.frombuffer(raw, dtype).reshape(info["shape"])
        arrays[name] = array if dtype.isnative else array.astype(dtype.newbyteorder("="))
    return arrays


def _read_exact(stream: IO[bytes], buffer: np.ndarray, context: str) -> None:
    view, done = memoryview(buffer), 0
    while done < len(view):
        count = stream.readinto(view[done:])
        if not count:
            raise SafetensorsError(f"{context}: expected {len(view)} bytes, the file ends after {done}")
        done += count


def _read_up_to(stream: IO[bytes], count: int) -> bytearray:
    """Up to ``count`` bytes, fewer at the end of the stream, read in chunks of at most ``_CHUNK``."""
    data = bytearray()
    while len(data) < count:
        chunk = stream.read(min(_CHUNK, count - len(data)))
        if not chunk:
            break
        data += chunk
    return data



def _decode(node: Any, tensors: dict[str, Tensor], depth: int = 0) -> Any:
    if not isinstance(node, dict):
        return node
    if depth > _MAX_DEPTH:
        raise SafetensorsError(f"nested deeper than {_MAX_DEPTH} levels")
    if len(node) != 1:
        raise SafetensorsError(f"expected a node with one tag, got {node!r}")
    (tag, value), = node.items()
    if tag == "tensor":
        return tensors[value]
    if tag == "dict":
        return {key: _decode(item, tensors, depth + 1) for key, item in value}
    if tag in ("list", "tuple"):
        items = [_decode(item, tensors, depth + 1) for item in value]
        return items if tag == "list" else tuple(items)
    raise SafetensorsError(f"unknown node tag {tag!r}")
