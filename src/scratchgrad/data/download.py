"""Downloading dataset files: fail fast without a network, verify, then move into place.

A file is written to a temporary name in its destination folder, verified, and only
then renamed with ``os.replace``, so a crash or a bad mirror never leaves a partial
file under the real name.
"""
from __future__ import annotations

import os
import socket
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from urllib.parse import urlparse
from urllib.request import url2pathname

from .files import ChecksumError, DownloadError

CONNECT_TIMEOUT_S = 3.0
READ_TIMEOUT_S = 30.0
CHUNK_BYTES = 1 << 20


def fetch(urls: Sequence[str], dest: Path, verify: Callable[[Path], None],
          connect_timeout: float = CONNECT_TIMEOUT_S) -> None:
    """Download ``dest`` from the first of ``urls`` that delivers a file passing ``verify``.

    Args:
        urls: candidate URLs of the same file (``http(s)://`` or ``file://``).
        dest: final path; its folder is created if needed.
        verify: raises ChecksumError when the downloaded file is not the expected one.
        connect_timeout: seconds to wait for any mirror to answer before giving up.

    Raises:
        DownloadError: when no mirror answers or every answering mirror failed.
    """
    reachable = reachable_urls(urls, connect_timeout)
    if not reachable:
        hosts = ", ".join(sorted({_host(url) for url in urls}))
        raise DownloadError(f"no network: no mirror answered within {connect_timeout:g} s ({hosts})")
    failures = []
    for url in reachable:
        try:
            _download_verified(url, dest, verify)
            return
        except (OSError, ChecksumError) as error:
            failures.append(f"{url}: {error}")
    raise DownloadError("every mirror failed:\n  " + "\n  ".join(failures))


def reachable_urls(urls: Sequence[str], timeout: float) -> list[str]:
    """The URLs whose server accepts a connection within ``timeout`` seconds, in order.

    Mirrors are probed in parallel daemon threads because name resolution has no timeout
    of its own; a probe still hanging at the deadline counts as unreachable.
    """
    answers: dict[str, bool] = {}

    def probe(url: str) -> None:
        answers[url] = _answers(url, timeout)

    threads = [threading.Thread(target=probe, args=(url,), daemon=True) for url in urls]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    return [url for url in urls if answers.get(url)]


def _answers(url: str, timeout: float) -> bool:
    parsed = urlparse(url)
    if parsed.scheme == "file":
        return Path(url2pathname(parsed.path)).is_file()
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        with socket.create_connection((parsed.hostname, port), timeout=timeout):
            return True
    except OSError:
        return False


def _host(url: str) -> str:
    parsed = urlparse(url)
    return parsed.hostname or parsed.path


def _download_verified(url: str, dest: Path, verify: Callable[[Path], None]) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    temp = Path(temp_name)
    try:
        with os.fdopen(handle, "wb") as out, urllib.request.urlopen(url, timeout=READ_TIMEOUT_S) as response:
            total = int(response.headers.get("Content-Length") or 0)
            _copy_with_progress(response, out, total, f"{dest.name} from {_host(url)}")
        verify(temp)
        os.replace(temp, dest)
    finally:
        temp.unlink(missing_ok=True)


def _copy_with_progress(response, out, total: int, label: str) -> None:
    progress = _progress_bar(total, label)
    try:
        while chunk := response.read(CHUNK_BYTES):
            out.write(chunk)
            progress.update(len(chunk))
    finally:
        progress.close()
    if total and progress.done != total:
        raise OSError(f"connection closed after {progress.done} of {total} bytes")


def _progress_bar(total: int, label: str):
    """A tqdm bar when tqdm is installed, else a plain one on stderr."""
    try:
        from tqdm import tqdm
    except ImportError:
        return _PlainProgress(total, label)
    return _TqdmProgress(tqdm(total=total or None, desc=label, unit="B", unit_scale=True,
                              unit_divisor=1024, leave=False))


class _TqdmProgress:
    def __init__(self, bar):
        self.bar = bar
        self.done = 0

    def update(self, n: int) -> None:
        self.done += n
        self.bar.update(n)

    def close(self) -> None:
        self.bar.close()


class _PlainProgress:
    """Prints a line every 10% (or every 10 MB when the size is unknown)."""

    def __init__(self, total: int, label: str):
        self.total, self.label, self.done, self.next_report = total, label, 0, 0

    def update(self, n: int) -> None:
        self.done += n
        if self.done >= self.next_report:
            step = self.total // 10 if self.total else 10 << 20
            self.next_report = self.done + max(step, 1)
            size = f"/{self.total >> 20} MB" if self.total else " MB"
            print(f"downloading {self.label}: {self.done >> 20}{size}", file=sys.stderr)

    def close(self) -> None:
        print(f"downloaded {self.label}: {self.done} bytes", file=sys.stderr)
