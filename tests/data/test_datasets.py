"""MNIST-like datasets: real files, lookup order, corruption, missing data, downloads."""
from __future__ import annotations

import dataclasses
import gzip
import shutil
import sys
import time
import tracemalloc

import numpy as np
import pytest

from scratchgrad.data import (
    MNIST, ChecksumError, DatasetNotFoundError, FashionMNIST, files, load_dataset,
)
from scratchgrad.data.mnist import parse_idx

TEST_FILES = ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")


@pytest.mark.parametrize("cls", [MNIST, FashionMNIST])
@pytest.mark.parametrize("train, size", [(True, 60_000), (False, 10_000)])
def test_real_dataset_shapes_dtypes_and_classes(shared_data, cls, train, size):
    dataset = cls(train=train, download=False)
    assert dataset.images.shape == (size, 1, 28, 28) and dataset.images.dtype == np.uint8
    assert dataset.labels.shape == (size,) and dataset.labels.dtype == np.int64
    assert len(dataset) == size and len(dataset.classes) == 10
    assert set(np.unique(dataset.labels)) == set(range(10))
    image, label = dataset[0]
    assert image.shape == (1, 28, 28) and isinstance(label, int)
    assert 20 < dataset.images.mean() < 120  # real images, not blank or noise


def test_known_first_labels(shared_data):
    assert MNIST(train=True, download=False).labels[:8].tolist() == [5, 0, 4, 1, 9, 2, 1, 3]
    assert MNIST(train=False, download=False).labels[:8].tolist() == [7, 2, 1, 0, 4, 1, 4, 9]


def _copy_test_split(shared_data, destination, name="mnist"):
    destination.mkdir(parents=True, exist_ok=True)
    for file_name in TEST_FILES:
        shutil.copy(shared_data / name / file_name, destination / file_name)
    return destination


def test_root_is_searched_first_and_may_hold_the_dataset_folder(shared_data, isolated):
    _copy_test_split(shared_data, isolated / "mine" / "mnist")
    assert len(MNIST(root=isolated / "mine", train=False, download=False)) == 10_000
    assert len(MNIST(root=isolated / "mine" / "mnist", train=False, download=False)) == 10_000


def test_cache_and_system_places_are_searched(shared_data, isolated):
    _copy_test_split(shared_data, isolated / "system" / "fashion-mnist", "fashion-mnist")
    assert len(FashionMNIST(train=False, download=False)) == 10_000
    _copy_test_split(shared_data, isolated / "cache" / "scratchgrad" / "mnist")
    assert len(MNIST(train=False, download=False)) == 10_000


def test_uncompressed_files_are_accepted(shared_data, isolated):
    folder = isolated / "data" / "mnist"
    folder.mkdir()
    for file_name in TEST_FILES:
        (folder / file_name[:-3]).write_bytes(gzip.decompress((shared_data / "mnist" / file_name).read_bytes()))
    assert MNIST(train=False, download=False).images.shape == (10_000, 1, 28, 28)


def test_flipped_byte_raises_checksum_error(shared_data, isolated):
    folder = isolated / "data" / "mnist"
    folder.mkdir()
    content = bytearray(gzip.decompress((shared_data / "mnist" / TEST_FILES[0]).read_bytes()))
    content[5000] ^= 0xFF
    (folder / "t10k-images-idx3-ubyte").write_bytes(content)
    shutil.copy(shared_data / "mnist" / TEST_FILES[1], folder)
    with pytest.raises(ChecksumError) as error:
        MNIST(train=False, download=False)
    message = str(error.value)
    assert "t10k-images-idx3-ubyte" in message and MNIST.sha256["t10k-images-idx3-ubyte"] in message
    assert "expected" in message and "Delete" in message


def test_truncated_gzip_raises_checksum_error(shared_data, isolated):
    folder = _copy_test_split(shared_data, isolated / "data" / "mnist")
    content = (folder / TEST_FILES[1]).read_bytes()
    (folder / TEST_FILES[1]).write_bytes(content[: len(content) // 2])
    with pytest.raises(ChecksumError, match="t10k-labels-idx1-ubyte.gz"):
        MNIST(train=False, download=False)


def test_truncated_uncompressed_file_raises_checksum_error(shared_data, isolated):
    folder = isolated / "data" / "mnist"
    folder.mkdir()
    content = gzip.decompress((shared_data / "mnist" / TEST_FILES[1]).read_bytes())
    (folder / "t10k-labels-idx1-ubyte").write_bytes(content[:-10])
    shutil.copy(shared_data / "mnist" / TEST_FILES[0], folder)
    with pytest.raises(ChecksumError, match="is corrupt or truncated"):
        MNIST(train=False, download=False)


def _unreachable(monkeypatch, cls, mirrors):
    monkeypatch.setattr(cls, "source", dataclasses.replace(cls.source, mirrors=mirrors))


@pytest.mark.parametrize("mirror", ["http://127.0.0.1:9/", "http://192.0.2.1/mnist/"])
def test_absent_dataset_without_network_fails_fast_and_clearly(isolated, monkeypatch, mirror):
    # Port 9 refuses at once; 192.0.2.1 (TEST-NET-1) never answers, exercising the timeout.
    _unreachable(monkeypatch, MNIST, (mirror,))
    started = time.monotonic()
    with pytest.raises(DatasetNotFoundError) as error:
        MNIST(train=False)
    assert time.monotonic() - started < 5
    message = str(error.value)
    for place in ("data/mnist", "cache/scratchgrad/mnist", "system/mnist"):
        assert place in message
    assert "SCRATCHGRAD_DATA" in message and "no network" in message


def test_download_false_names_every_place(isolated, monkeypatch):
    monkeypatch.delenv(files.ENV_VAR)
    with pytest.raises(DatasetNotFoundError, match="download=False") as error:
        FashionMNIST(root=isolated / "given", download=False)
    message = str(error.value)
    assert str(isolated / "given") in message and "SCRATCHGRAD_DATA is not set" in message


def _file_mirror(monkeypatch, shared_data, isolated, content_of=lambda data: data):
    mirror = isolated / "mirror"
    mirror.mkdir()
    for file_name in TEST_FILES:
        (mirror / file_name).write_bytes(content_of((shared_data / "mnist" / file_name).read_bytes()))
    _unreachable(monkeypatch, MNIST, (mirror.as_uri() + "/",))


def test_download_from_a_mirror_verifies_and_stores_atomically(shared_data, isolated, monkeypatch, capsys):
    _file_mirror(monkeypatch, shared_data, isolated)
    dataset = MNIST(root=isolated / "downloads", train=False)
    assert dataset.images.shape == (10_000, 1, 28, 28)
    stored = sorted(path.name for path in (isolated / "downloads" / "mnist").iterdir())
    assert stored == sorted(TEST_FILES)  # no temporary files left behind
    again = MNIST(root=isolated / "downloads", train=False, download=False)
    np.testing.assert_array_equal(again.labels, dataset.labels)


def test_download_goes_to_the_cache_without_root(shared_data, isolated, monkeypatch, capsys):
    _file_mirror(monkeypatch, shared_data, isolated)
    monkeypatch.setitem(sys.modules, "tqdm", None)  # the plain progress report instead
    MNIST(train=False)
    assert (isolated / "cache" / "scratchgrad" / "mnist" / TEST_FILES[0]).is_file()
    assert "downloading t10k-images-idx3-ubyte.gz" in capsys.readouterr().err


def test_corrupt_download_is_refused_and_not_kept(shared_data, isolated, monkeypatch):
    def corrupt(data: bytes) -> bytes:
        return gzip.compress(gzip.decompress(data)[:-1] + b"\x01", compresslevel=1)

    _file_mirror(monkeypatch, shared_data, isolated, content_of=corrupt)
    with pytest.raises(DatasetNotFoundError, match="SHA-256"):
        MNIST(root=isolated / "downloads", train=False)
    assert list((isolated / "downloads" / "mnist").iterdir()) == []


def test_parse_idx_checks_the_header():
    labels = b"\0\0\x08\x01" + (3).to_bytes(4, "big") + bytes([1, 2, 3])
    assert parse_idx(labels).tolist() == [1, 2, 3]
    with pytest.raises(ChecksumError, match="header promises shape"):
        parse_idx(labels[:-1])
    with pytest.raises(ChecksumError, match="not an unsigned-byte IDX"):
        parse_idx(b"\0\0\x0d\x01" + labels[4:])


def test_load_dataset_by_name(shared_data):
    assert isinstance(load_dataset("fashion-mnist", train=False), FashionMNIST)
    assert len(load_dataset("mnist-sample", train=False)) == 1000
    with pytest.raises(ValueError, match="expected one of"):
        load_dataset("imagenet")


# ----------------------------------------------------------------- bounded by the file (issue 17)
def test_gzip_bomb_is_refused_after_decompressing_what_the_idx_header_gives(isolated):
    folder = isolated / "data" / "mnist"
    folder.mkdir()
    header = b"\0\0\x08\x01" + (10_000).to_bytes(4, "big")  # 10,008 bytes of labels, then 64 MiB of zeros
    bomb = gzip.compress(header + bytes(10_000 + (64 << 20)), compresslevel=9)
    for name in TEST_FILES:
        (folder / name).write_bytes(bomb)
    tracemalloc.start()
    try:
        with pytest.raises(ChecksumError, match="goes past the .* bytes its format header gives"):
            MNIST(train=False, download=False)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(bomb) < 1 << 20 and peak < 8 << 20


def test_parse_idx_sizes_that_overflow_int64_are_refused():
    header = b"\0\0\x08\x04" + (1 << 16).to_bytes(4, "big") * 4  # 2**64 bytes: wraps to 0 in int64
    with pytest.raises(ChecksumError, match="header promises shape"):
        parse_idx(header)
    with pytest.raises(ChecksumError, match="not an unsigned-byte IDX"):
        parse_idx(b"\0\0\x08\x03" + bytes(4))  # three sides promised, one given
