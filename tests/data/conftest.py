"""Fixtures for the data tests: the shared real datasets, isolated lookup places, CIFAR files."""
from __future__ import annotations

import io
import os
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest

from scratchgrad.data import files

# CI sets SCRATCHGRAD_DATA; a developer checkout finds the datasets beside the repository.
_REPO = Path(__file__).resolve().parents[2]
_SHARED = _REPO.parent / "shared" / "datasets"
if not os.environ.get(files.ENV_VAR) and _SHARED.is_dir():
    os.environ[files.ENV_VAR] = str(_SHARED)


@pytest.fixture
def shared_data() -> Path:
    """The folder of real datasets, or skip when this machine has none."""
    root = Path(os.environ.get(files.ENV_VAR, ""))
    if not (root / "mnist").is_dir() or not (root / "fashion-mnist").is_dir():
        pytest.skip(f"real datasets not found (set {files.ENV_VAR})")
    return root


@pytest.fixture
def isolated(tmp_path, monkeypatch) -> Path:
    """Empty SCRATCHGRAD_DATA, cache and system folders under ``tmp_path``; returns it."""
    for name in ("data", "cache", "system"):
        (tmp_path / name).mkdir()
    monkeypatch.setenv(files.ENV_VAR, str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(files, "SYSTEM_DATASETS_DIR", tmp_path / "system")
    return tmp_path


class _Python2Pickler(pickle._Pickler):
    """Writes ``bytes`` as Python 2 ``str`` opcodes, as the official CIFAR-10 files have them.

    Python 3's protocol 2 would write bytes as calls to ``_codecs.encode`` instead.
    """

    dispatch = dict(pickle._Pickler.dispatch)

    def save_py2_str(self, obj: bytes) -> None:
        if len(obj) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(obj)]) + obj)
        else:
            self.write(pickle.BINSTRING + len(obj).to_bytes(4, "little") + obj)
        self.memoize(obj)

    dispatch[bytes] = save_py2_str


def cifar_batch_bytes(images: np.ndarray, labels: np.ndarray) -> bytes:
    """One batch file in the official format: a Python 2 pickle of a dict with byte keys."""
    batch = {b"batch_label": b"synthetic batch", b"labels": [int(x) for x in labels],
             b"data": images.reshape(len(images), -1),
             b"filenames": [b"img_%d.png" % i for i in range(len(images))]}
    buffer = io.BytesIO()
    _Python2Pickler(buffer, protocol=2).dump(batch)
    # The official files name NumPy 1's module; GLOBAL opcodes are plain text lines.
    return buffer.getvalue().replace(b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n")


def make_cifar_arrays(per_batch: int, batches: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (per_batch * batches, 3, 32, 32), dtype=np.uint8)
    labels = rng.integers(0, 10, per_batch * batches)
    return images, labels


@pytest.fixture
def cifar_folder(tmp_path):
    """A small ``cifar-10-batches-py`` folder: 5 train batches of 4 images, a test batch of 3.

    Returns (folder, train_images, train_labels, test_images, test_labels).
    """
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    train_images, train_labels = make_cifar_arrays(4, 5, seed=1)
    test_images, test_labels = make_cifar_arrays(3, 1, seed=2)
    for i in range(5):
        part = slice(4 * i, 4 * i + 4)
        (folder / f"data_batch_{i + 1}").write_bytes(
            cifar_batch_bytes(train_images[part], train_labels[part]))
    (folder / "test_batch").write_bytes(cifar_batch_bytes(test_images, test_labels))
    (folder / "batches.meta").write_bytes(pickle.dumps({"label_names": []}, protocol=2))
    return folder, train_images, train_labels, test_images, test_labels


@pytest.fixture
def cifar_tarball(cifar_folder, tmp_path) -> Path:
    """The ``cifar_folder`` files packed as ``tarballs/cifar-10-python.tar.gz``."""
    path = tmp_path / "tarballs" / "cifar-10-python.tar.gz"
    path.parent.mkdir()
    with tarfile.open(path, "w:gz") as archive:
        archive.add(cifar_folder[0], arcname="cifar-10-batches-py")
    return path
