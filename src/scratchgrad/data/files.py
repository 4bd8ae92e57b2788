"""Where dataset files are looked for, and how their integrity is checked.

Lookup order for a dataset stored in ``<folder>`` (e.g. ``mnist``):

1. ``root`` itself, then ``root/<folder>`` (when a ``root`` argument is given);
2. ``$SCRATCHGRAD_DATA/<folder>``;
3. ``~/.cache/scratchgrad/<folder>`` (``$XDG_CACHE_HOME/scratchgrad/<folder>`` if set);
4. ``/usr/share/datasets/<system_name>`` (Debian's dataset packages install there).

Then, if allowed and a mirror answers, the files are downloaded into ``root/<folder>``
(when ``root`` is given) or into the cache folder.
"""
from __future__ import annotations

import gzip
import hashlib
import os
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TypeVar

ENV_VAR = "SCRATCHGRAD_DATA"
CHUNK_BYTES = 1 << 20  # decompressed at a time
SYSTEM_DATASETS_DIR = Path("/usr/share/datasets")

Found = TypeVar("Found")


class DatasetNotFoundError(FileNotFoundError):
    """A dataset is in none of the searched places and could not be downloaded."""


class ChecksumError(RuntimeError):
    """A dataset file exists but its content is not the expected one (corrupt or truncated)."""


class DownloadError(RuntimeError):
    """No mirror could deliver a file (no network, HTTP error, bad content)."""


@dataclass(frozen=True)
class Source:
    """How a dataset is found on disk and on the network.

    Attributes:
        name: display name, e.g. ``"MNIST"``.
        folder: folder name under ``$SCRATCHGRAD_DATA`` and the cache, e.g. ``"mnist"``.
        system_name: folder name under ``/usr/share/datasets``.
        mirrors: base URLs tried in order; a file's URL is ``mirror + file name``.
    """

    name: str
    folder: str
    system_name: str
    mirrors: tuple[str, ...]


def cache_dir() -> Path:
    """The per-user cache root, ``~/.cache/scratchgrad`` by default."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "scratchgrad"


def search_places(source: Source, root: str | os.PathLike | None) -> list[tuple[str, Path]]:
    """The folders searched for ``source``, in order, each with how it was chosen."""
    places = []
    if root is not None:
        places += [("root", Path(root)), ("root", Path(root) / source.folder)]
    if os.environ.get(ENV_VAR):
        places.append((f"${ENV_VAR}", Path(os.environ[ENV_VAR]) / source.folder))
    places.append(("cache", cache_dir() / source.folder))
    places.append(("system", SYSTEM_DATASETS_DIR / source.system_name))
    return places


def download_dir(source: Source, root: str | os.PathLike | None) -> Path:
    """Where a download of ``source`` goes: ``root/<folder>``, else the cache."""
    return (Path(root) if root is not None else cache_dir()) / source.folder


def resolve(
    source: Source,
    root: str | os.PathLike | None,
    download: bool,
    locate: Callable[[Path], Found | None],
    fetch_into: Callable[[Path], None],
    wanted: str,
) -> Found:
    """Find ``source`` with ``locate(place)`` in each searched place, else download it.

    Args:
        locate: returns what it found in a folder, or None.
        fetch_into: downloads the files into a folder; raises DownloadError.
        wanted: the files looked for, for the error message.

    Raises:
        DatasetNotFoundError: listing every place searched and how to fix it.
    """
    places = search_places(source, root)
    for _, place in places:
        found = locate(place)
        if found is not None:
            return found
    if not download:
        raise DatasetNotFoundError(_not_found_message(source, places, wanted, "download=False"))
    target = download_dir(source, root)
    try:
        fetch_into(target)
    except DownloadError as error:
        raise DatasetNotFoundError(
            _not_found_message(source, places, wanted, f"download failed: {error}")) from error
    found = locate(target)
    if found is None:
        raise DatasetNotFoundError(_not_found_message(
            source, places, wanted, f"downloaded into {target}, but the files are not usable"))
    return found


def _not_found_message(source: Source, places, wanted: str, why: str) -> str:
    searched = "\n".join(f"  {path}  ({how})" for how, path in places)
    env_note = "" if os.environ.get(ENV_VAR) else f" ({ENV_VAR} is not set)"
    return (
        f"{source.name} not found: no folder holds {wanted}.\nSearched:\n{searched}\n"
        f"Not downloaded: {why}.\n"
        f"Fix: set {ENV_VAR}{env_note} to a folder containing {source.folder}/, "
        f"pass root=..., or allow download=True on a machine with network access.")


def find_file(folder: Path, name: str) -> Path | None:
    """``folder/name``, or its gzip version ``folder/name.gz``, whichever exists first."""
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def open_content(path: Path, gzipped: bool | None = None) -> IO[bytes]:
    """``path`` opened for reading its content: decompressed as it is read if ``gzipped``.

    ``gzipped=None`` decides by the ``.gz`` suffix.
    """
    if gzipped is None:
        gzipped = path.suffix == ".gz"
    return gzip.open(path, "rb") if gzipped else open(path, "rb")


def read_verified(path: Path, sha256: str, gzipped: bool | None = None, max_size: int | None = None) -> bytes:
    """The content of ``path``, decompressed if ``gzipped``, checked against ``sha256``.

    ``gzipped=None`` decides by the ``.gz`` suffix. Decompression streams in chunks and
    stops once the content passes ``max_size`` bytes (a format's header says how many it
    has), so a small archive of gigabytes of zeros costs no more than ``max_size``.

    Hashing is about a tenth of the cost of decompressing, so every load verifies;
    no stamp of an earlier check is trusted.

    Raises:
        ChecksumError: naming the file, expected and actual checksums, and the fix.
    """
    stream = open_content(path, gzipped)  # a missing file is no checksum error
    try:
        with stream:
            content = _read_limited(stream, max_size, path)
    except (EOFError, OSError, zlib.error) as error:
        raise ChecksumError(
            f"{path} is corrupt: it cannot be decompressed ({error}); expected the "
            f"decompressed content to have SHA-256 {sha256}. {_FIX}") from error
    actual = hashlib.sha256(content).hexdigest()
    if actual != sha256:
        raise ChecksumError(
            f"{path} is corrupt or truncated: SHA-256 of its content is {actual}, "
            f"expected {sha256}. {_FIX}")
    return content


def _read_limited(stream: IO[bytes], max_size: int | None, path: Path) -> bytes:
    """All of ``stream``, in chunks; a ChecksumError once it passes ``max_size`` bytes."""
    content = bytearray()
    while chunk := stream.read(CHUNK_BYTES):
        content += chunk
        if max_size is not None and len(content) > max_size:
            raise ChecksumError(f"{path} is corrupt: its content goes past the {max_size} bytes its format "
                                f"header gives. {_FIX}")
    return bytes(content)


def file_digest(path: Path, algorithm: str) -> str:
    """Hex digest of a file's bytes, read in chunks (for large archives)."""
    with open(path, "rb") as stream:
        return hashlib.file_digest(stream, algorithm).hexdigest()


_FIX = "Delete the file and load again with download=True, or replace it with a good copy."
