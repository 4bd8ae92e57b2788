"""MNIST and Fashion-MNIST from their IDX files (gzip or not)."""
from __future__ import annotations

import math
import os
import zlib
from functools import partial
from pathlib import Path
from typing import ClassVar

import numpy as np

from .dataset import ImageDataset
from .download import fetch
from .files import ChecksumError, Source, find_file, open_content, read_verified, resolve

IDX_UBYTE = 0x08


class IdxDataset(ImageDataset):
    """A dataset stored as four IDX files: train/t10k images and labels.

    Args:
        root: a folder holding the files, or holding ``<folder>/`` with them; searched
            first, before the places listed in ``scratchgrad.data.files``.
        train: the 60,000-image training split, else the 10,000-image test split.
        download: download from the mirrors when the files are nowhere on disk.

    Attributes:
        images: uint8 (N, 1, 28, 28); labels: int64 (N,); classes: 10 names.
    """

    source: ClassVar[Source]
    class_names: ClassVar[tuple[str, ...]]
    sha256: ClassVar[dict[str, str]]  # of the decompressed files

    def __init__(self, root: str | os.PathLike | None = None, train: bool = True,
                 download: bool = True):
        self.train = train
        prefix = "train" if train else "t10k"
        names = (f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte")
        paths = resolve(
            self.source, root, download,
            locate=partial(_locate, names=names),
            fetch_into=partial(self._fetch, names=names),
            wanted=" and ".join(f"{name}[.gz]" for name in names))
        images, labels = (parse_idx(read_idx(path, self.sha256[name]), path) for path, name in zip(paths, names))
        if images.ndim != 3 or labels.shape != images.shape[:1]:
            raise ChecksumError(f"{paths[0]}: images {images.shape} do not match "
                                f"labels {labels.shape} in {paths[1]}")
        super().__init__(images[:, None], labels, self.class_names)

    @classmethod
    def _fetch(cls, folder: Path, names: tuple[str, ...]) -> None:
        for name in names:
            if find_file(folder, name) is None:
                urls = [f"{mirror}{name}.gz" for mirror in cls.source.mirrors]
                verify = partial(_verify_gzip, sha256=cls.sha256[name])
                fetch(urls, folder / f"{name}.gz", verify)

    def __repr__(self) -> str:
        split = "train" if self.train else "test"
        return f"{type(self).__name__}({split}, {len(self)} images 1x28x28, 10 classes)"


class MNIST(IdxDataset):
    """MNIST handwritten digits; see ``IdxDataset`` for the arguments."""

    source = Source(
        name="MNIST", folder="mnist", system_name="mnist",
        mirrors=("https://ossci-datasets.s3.amazonaws.com/mnist/",
                 "https://storage.googleapis.com/cvdf-datasets/mnist/"))
    class_names = ("0 - zero", "1 - one", "2 - two", "3 - three", "4 - four",
                   "5 - five", "6 - six", "7 - seven", "8 - eight", "9 - nine")
    sha256 = {
        "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    }


class FashionMNIST(IdxDataset):
    """Fashion-MNIST (Zalando); see ``IdxDataset`` for the arguments."""

    source = Source(
        name="Fashion-MNIST", folder="fashion-mnist", system_name="fashion-mnist",
        mirrors=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",))
    class_names = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
    sha256 = {
        "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
        "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
        "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
        "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
    }


def parse_idx(content: bytes, path: Path | str = "<bytes>") -> np.ndarray:
    """An IDX file's unsigned-byte array, e.g. (N, 28, 28) images or (N,) labels."""
    header, shape = _idx_header(content, path)
    size = header + math.prod(shape)  # Python ints: four 2**32 - 1 sides do not wrap around
    if len(content) != size:
        raise ChecksumError(f"{path}: header promises shape {shape} ({size} bytes) but the content has "
                            f"{len(content)} bytes")
    return np.frombuffer(content, dtype=np.uint8, offset=header).reshape(shape).copy()


def read_idx(path: Path, sha256: str) -> bytes:
    """The verified content of an IDX file (gzip or not), decompressed no further than its header's size."""
    start = b""
    try:
        with open_content(path) as stream:
            start = stream.read(4)
            start += stream.read(4 * start[3]) if len(start) == 4 else b""
        header, shape = _idx_header(start, path)
        size = header + math.prod(shape)
    except (EOFError, OSError, zlib.error, ChecksumError):
        size = len(start)  # no IDX header: the checksum fails, read no further than the start
    return read_verified(path, sha256, max_size=size)


def _idx_header(content: bytes, path: Path | str) -> tuple[int, tuple[int, ...]]:
    """(header length, shape) of an unsigned-byte IDX file's content."""
    if len(content) < 4 or content[:2] != b"\0\0" or content[2] != IDX_UBYTE or len(content) < 4 + 4 * content[3]:
        raise ChecksumError(f"{path}: not an unsigned-byte IDX file (header {bytes(content[:4])!r})")
    ndim = content[3]
    return 4 + 4 * ndim, tuple(int.from_bytes(content[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))


def _locate(folder: Path, names: tuple[str, ...]) -> tuple[Path, ...] | None:
    paths = tuple(find_file(folder, name) for name in names)
    return None if None in paths else paths


def _verify_gzip(path: Path, sha256: str) -> None:
    read_verified(path, sha256, gzipped=True)
