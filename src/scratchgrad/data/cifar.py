"""CIFAR-10 from the official python layout: ``cifar-10-batches-py/`` or its tarball."""
from __future__ import annotations

import os
import tarfile
import zlib
from functools import partial
from pathlib import Path

import numpy as np

from .dataset import ImageDataset
from .download import fetch
from .files import ChecksumError, Source, file_digest, resolve
from .safe_pickle import load_restricted

FOLDER = "cifar-10-batches-py"
TARBALL = "cifar-10-python.tar.gz"
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCHES = ("test_batch",)
IMAGE_SHAPE = (3, 32, 32)


class CIFAR10(ImageDataset):
    """CIFAR-10: 32x32 colour images in 10 classes (50,000 train, 10,000 test).

    Args:
        root: a folder holding the batch files or ``cifar-10-python.tar.gz``, or holding
            ``cifar-10-batches-py/``, or the tarball's path; searched first.
        train: the five training batches, else the test batch.
        download: download the tarball from the mirror when nothing is found on disk.

    The tarball is checked against its published MD5 each time it is read. Extracted
    batch files have no published checksum; they are checked for shape and labels only.
    Batches are unpickled by ``safe_pickle.load_restricted``, which runs no code.

    Attributes:
        images: uint8 (N, 3, 32, 32); labels: int64 (N,); classes: 10 names.
    """

    source = Source(name="CIFAR-10", folder=FOLDER, system_name="cifar10",
                    mirrors=("https://www.cs.toronto.edu/~kriz/",))
    tarball_md5 = "c58f30108f718f92721af3b95e74349a"
    class_names = ("airplane", "automobile", "bird", "cat", "deer",
                   "dog", "frog", "horse", "ship", "truck")

    def __init__(self, root: str | os.PathLike | None = None, train: bool = True,
                 download: bool = True):
        self.train = train
        names = TRAIN_BATCHES if train else TEST_BATCHES
        found = resolve(self.source, root, download, locate=partial(_locate, names=names),
                        fetch_into=self._fetch, wanted=f"{', '.join(names)} or {TARBALL}")
        if found.is_dir():
            contents = [((found / name).read_bytes(), str(found / name)) for name in names]
        else:
            contents = _read_tarball(found, names, self.tarball_md5)
        batches = [_parse_batch(content, where) for content, where in contents]
        super().__init__(np.concatenate([images for images, _ in batches]),
                         np.concatenate([labels for _, labels in batches]), self.class_names)

    @classmethod
    def _fetch(cls, folder: Path) -> None:
        tarball = folder.parent / TARBALL
        verify = partial(_verify_md5, md5=cls.tarball_md5)
        fetch([mirror + TARBALL for mirror in cls.source.mirrors], tarball, verify)

    def __repr__(self) -> str:
        split = "train" if self.train else "test"
        return f"CIFAR10({split}, {len(self)} images 3x32x32, 10 classes)"


def _locate(place: Path, names: tuple[str, ...]) -> Path | None:
    """The batch folder or the tarball found at ``place``, else None."""
    if place.is_file() and place.name.endswith(".tar.gz"):
        return place
    if all((place / name).is_file() for name in names):
        return place
    tarballs = [place / TARBALL] + ([place.parent / TARBALL] if place.name == FOLDER else [])
    return next((tarball for tarball in tarballs if tarball.is_file()), None)


def _verify_md5(path: Path, md5: str) -> None:
    actual = file_digest(path, "md5")
    if actual != md5:
        raise ChecksumError(
            f"{path} is corrupt or truncated: MD5 {actual}, expected {md5}. "
            f"Delete it and load again with download=True, or replace it with a good copy.")


def _read_tarball(path: Path, names: tuple[str, ...], md5: str) -> list[tuple[bytes, str]]:
    """The bytes of each batch inside the tarball, read without extracting to disk."""
    _verify_md5(path, md5)
    try:
        with tarfile.open(path, "r:gz") as archive:
            return [(_member_bytes(archive, f"{FOLDER}/{name}", path), f"{path}:{name}")
                    for name in names]
    except (tarfile.TarError, EOFError, OSError, zlib.error) as error:
        raise ChecksumError(f"{path} cannot be read as a tar.gz archive ({error})") from error


def _member_bytes(archive: tarfile.TarFile, member: str, path: Path) -> bytes:
    try:
        stream = archive.extractfile(member)
    except KeyError:
        stream = None
    if stream is None:
        raise ChecksumError(f"{path} has no regular file {member}: not a CIFAR-10 tarball")
    return stream.read()


def _parse_batch(content: bytes, where: str) -> tuple[np.ndarray, np.ndarray]:
    """A batch's images uint8 (n, 3, 32, 32) and labels int64 (n,)."""
    batch = load_restricted(content, where)
    data, labels = batch.get("data"), batch.get("labels")
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 \
            or data.shape[1] != np.prod(IMAGE_SHAPE):
        shown = f"{data.dtype} {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
        raise ChecksumError(f"{where}: 'data' must be uint8 (n, 3072), got {shown}")
    labels = np.asarray(labels if isinstance(labels, list) else [None])
    if labels.dtype.kind not in "iu" or labels.shape != (len(data),) \
            or (len(labels) and not 0 <= labels.min() <= labels.max() <= 9):
        raise ChecksumError(f"{where}: 'labels' must be a list of {len(data)} ints in [0, 9], "
                            f"got {labels.dtype} {labels.shape}")
    return data.reshape(-1, *IMAGE_SHAPE), labels.astype(np.int64)
