"""A run directory: the resolved config, metrics, weights, training state, curves and a log.

    config.toml         the resolved config, plus a [run] table (versions, git commit)
    metrics.csv         one row per finished epoch (METRICS columns)
    last.safetensors    model weights after the latest epoch
    best.safetensors    model weights of the epoch with the best test accuracy
    state.safetensors   everything a resume needs (model, optimizer, scheduler, epoch, RNGs)
    curves.png          losses and accuracies per epoch
    log.txt             what the run printed
    .lock               locked (``flock``) by the process training the run; holds its pid

Every file but the log is written atomically (a temporary file, fsync, ``os.replace``),
so a run killed at any moment leaves each file either old or new, never torn; the
temporary files such a kill leaves are removed when the run starts or resumes. One
process at a time may write a run: :meth:`RunDir.lock` is held for the whole of a
training process, and the OS releases it when the process ends, however it ends.
"""
from __future__ import annotations

import contextlib
import csv
import fcntl
import io
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any


from scratchgrad import serialization
from scratchgrad.serialization import _write_atomic

from .config import ConfigError, dump_toml, read_toml

# val_* are nan without a validation split; files written before it existed read them as nan too
METRICS = ("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc", "lr", "seconds")
CONFIG, METRICS_FILE, STATE, LAST, BEST = "config.toml", "metrics.csv", "state.safetensors", "last.safetensors", "best.safetensors"
CURVES, LOG, LOCK = "curves.png", "log.txt", ".lock"


def write_atomic(path: str | Path, data: bytes | str) -> None:
    """Replace ``path`` with ``data`` so that a crash leaves the old or the new file."""
    _write_atomic(os.fspath(path), [data.encode() if isinstance(data, str) else data])


class RunDir:
    """The files of one run, in folder ``path``."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def file(self, name: str) -> Path:
        return self.path / name

    def exists(self) -> bool:
        """Whether a run was started here (its config was written)."""
        return self.file(CONFIG).is_file()

    # -------------------------------------------------------------------- lock
    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the run's lock (creating the folder); a ConfigError names the pid already holding it."""
        if self.path.exists() and not self.path.is_dir():
            raise ConfigError(f"{self.path} is a file, not a run directory; choose another --out")
        self.path.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.file(LOCK), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise ConfigError(f"{self.path} is in use by another training process (pid {_pid_in(fd)}); wait "
                                  "for it to end or stop it, then resume the run with "
                                  f"`scratchgrad train --resume {self.path}`") from None
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
            yield
        finally:
            os.close(fd)  # releases the lock

    def holder(self) -> str | None:
        """The pid of the process holding the run's lock ("unknown" if it wrote none yet), or None when free."""
        try:
            fd = os.open(self.file(LOCK), os.O_RDONLY)
        except FileNotFoundError:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            return None
        except BlockingIOError:
            return _pid_in(fd)
        finally:
            os.close(fd)

    def remove_stale_temporaries(self) -> list[Path]:
        """Delete the temporary files (``.NAME.XXXXXXXX.tmp``) a killed run left; only while holding the lock."""
        stale = [path for path in self.path.glob(".*.tmp") if path.is_file()]
        for path in stale:
            path.unlink(missing_ok=True)
        return stale

    # ------------------------------------------------------------------ config
    def write_config(self, config: dict[str, Any], run_info: dict[str, Any]) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        write_atomic(self.file(CONFIG), dump_toml({**config, "run": run_info}))

    def read_config(self) -> dict[str, Any]:
        """The config as written (with its [run] table)."""
        if not self.exists():
            raise ConfigError(f"{self.path}: not a run directory (no {CONFIG})")
        return read_toml(self.file(CONFIG))

    # ----------------------------------------------------------------- metrics
    def read_metrics(self) -> list[dict[str, float]]:
        """The rows of metrics.csv (epoch as int, the rest as float; absent columns nan); [] when there are none.

        A malformed file is a ConfigError naming its line.
        """
        path = self.file(METRICS_FILE)
        fix = (f"expected the columns {','.join(METRICS)} with a number in each; a run with its "
               f"{STATE} rewrites the file on `scratchgrad train --resume {self.path}`")
        try:
            with open(path, newline="") as stream:
                rows = list(csv.DictReader(stream))
        except FileNotFoundError:
            return []
        except (csv.Error, UnicodeDecodeError) as error:
            raise ConfigError(f"{path}: not a readable CSV file ({error}); {fix}") from None
        parsed = []
        for line, row in enumerate(rows, start=2):
            try:
                parsed.append({key: int(row[key]) if key == "epoch" else float(row.get(key, "nan")) for key in METRICS})
            except (KeyError, TypeError, ValueError) as error:
                raise ConfigError(f"{path}, line {line}: malformed ({type(error).__name__}: {error}); {fix}") from None
        return parsed

    def finished_epochs(self) -> int:
        """How many epochs metrics.csv records."""
        rows = self.read_metrics()
        return rows[-1]["epoch"] if rows else 0

    def write_metrics(self, rows: list[dict[str, float]]) -> None:
        out = io.StringIO()
        writer = csv.DictWriter(out, METRICS, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({key: repr(row[key]) for key in METRICS})  # repr keeps every digit
        write_atomic(self.file(METRICS_FILE), out.getvalue())

    # ------------------------------------------------------------- checkpoints
    def save(self, name: str, obj: dict[str, Any]) -> None:
        """Save a (nested) dict of NumPy arrays and numbers as safetensors, atomically."""
        serialization.save(obj, self.file(name))

    def load(self, name: str) -> dict[str, Any] | None:
        """What :meth:`save` wrote (tensors as scratchgrad Tensors), or None when absent."""
        path = self.file(name)
        return serialization.load(path) if path.is_file() else None

    # --------------------------------------------------------------------- log
    def log(self, message: str, echo: Any = print) -> None:
        """Append a time-stamped line to log.txt and echo it (``echo=None`` for the file only)."""
        self.path.mkdir(parents=True, exist_ok=True)
        with open(self.file(LOG), "a") as stream:
            stream.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {message}\n")
        if echo is not None:
            echo(message)


def _pid_in(fd: int) -> str:
    """The pid a lock file holds ("unknown" while its holder has not written it yet)."""
    text = os.pread(fd, 32, 0).decode(errors="replace").strip()
    return text if text.isdigit() else "unknown"


def run_info(versions: dict[str, str], config_file: str | Path | None = None) -> dict[str, Any]:
    """What config.toml records about the run besides its config (``versions`` holds the processor too)."""
    source = {"config_file": Path(config_file).as_posix()} if config_file is not None else {}
    return {"created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "git_commit": git_commit(),
            "command": shlex.join(sys.argv), **source, **versions}


def git_commit() -> str:
    """The commit of the scratchgrad checkout (``+dirty`` with local changes), or "unknown"."""
    source = Path(serialization.__file__).resolve().parent

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=source, capture_output=True, text=True, timeout=10,
                              check=True).stdout.strip()

    try:
        commit = git("rev-parse", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no", "--", ".")
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return commit + ("+dirty" if dirty else "")


def unique_dir(base: str | Path) -> Path:
    """``base``, or ``base-2``, ``base-3``, ... : the first that holds no run yet."""
    base = Path(base)
    candidate, number = base, 1
    while RunDir(candidate).exists():
        number += 1
        candidate = base.with_name(f"{base.name}-{number}")
    return candidate
