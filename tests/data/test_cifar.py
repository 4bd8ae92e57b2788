"""CIFAR-10 from small files in the official format, and the restricted unpickler."""
from __future__ import annotations

import dataclasses
import os
import pickle
import tarfile
import tracemalloc

import numpy as np
import pytest

from scratchgrad.data import CIFAR10, ChecksumError, UnsafePickleError, files
from scratchgrad.data import safe_pickle
from scratchgrad.data.safe_pickle import load_restricted


def _matching_md5(monkeypatch, tarball):
    monkeypatch.setattr(CIFAR10, "tarball_md5", files.file_digest(tarball, "md5"))


def test_folder_layout_loads_train_and_test(cifar_folder, isolated):
    folder, train_images, train_labels, test_images, test_labels = cifar_folder
    train = CIFAR10(root=folder, train=True, download=False)
    assert train.images.shape == (20, 3, 32, 32) and train.images.dtype == np.uint8
    assert train.labels.dtype == np.int64 and len(train.classes) == 10
    np.testing.assert_array_equal(train.images, train_images)
    np.testing.assert_array_equal(train.labels, train_labels)
    test = CIFAR10(root=folder.parent, train=False, download=False)  # root holding the folder
    np.testing.assert_array_equal(test.images, test_images)
    np.testing.assert_array_equal(test.labels, test_labels)


def test_folder_found_through_scratchgrad_data(cifar_folder, isolated, monkeypatch):
    monkeypatch.setenv(files.ENV_VAR, str(cifar_folder[0].parent))
    assert len(CIFAR10(train=False, download=False)) == 3


def test_tarball_loads_without_extracting(cifar_folder, cifar_tarball, isolated, monkeypatch):
    _matching_md5(monkeypatch, cifar_tarball)
    train = CIFAR10(root=cifar_tarball.parent, train=True, download=False)
    np.testing.assert_array_equal(train.images, cifar_folder[1])
    test = CIFAR10(root=cifar_tarball, train=False, download=False)
    np.testing.assert_array_equal(test.labels, cifar_folder[4])
    assert sorted(os.listdir(cifar_tarball.parent)) == ["cifar-10-python.tar.gz"]


def test_tarball_beside_the_folder_name_is_found(cifar_tarball, isolated, monkeypatch):
    _matching_md5(monkeypatch, cifar_tarball)
    monkeypatch.setenv(files.ENV_VAR, str(cifar_tarball.parent))
    assert len(CIFAR10(train=False, download=False)) == 3


def test_tarball_with_wrong_checksum_is_refused(cifar_tarball, isolated):
    with pytest.raises(ChecksumError, match="MD5") as error:
        CIFAR10(root=cifar_tarball.parent, download=False)
    assert CIFAR10.tarball_md5 in str(error.value)


def test_tarball_download_from_a_mirror(cifar_tarball, isolated, monkeypatch):
    _matching_md5(monkeypatch, cifar_tarball)
    mirror = cifar_tarball.parent.as_uri() + "/"
    monkeypatch.setattr(CIFAR10, "source", dataclasses.replace(CIFAR10.source, mirrors=(mirror,)))
    assert len(CIFAR10(train=False)) == 3
    assert (isolated / "cache" / "scratchgrad" / "cifar-10-python.tar.gz").is_file()


def test_missing_batch_in_tarball_is_reported(cifar_folder, isolated, monkeypatch, tmp_path):
    path = tmp_path / "partial.tar.gz"
    with tarfile.open(path, "w:gz") as archive:
        archive.add(cifar_folder[0] / "test_batch", arcname="cifar-10-batches-py/test_batch")
    _matching_md5(monkeypatch, path)
    with pytest.raises(ChecksumError, match="data_batch_1"):
        CIFAR10(root=path, train=True, download=False)


def test_batch_with_wrong_shape_is_reported(tmp_path, cifar_folder, isolated):
    folder = cifar_folder[0]
    (folder / "test_batch").write_bytes(pickle.dumps({"data": np.zeros((2, 100), np.uint8),
                                                      "labels": [0, 1]}, protocol=4))
    with pytest.raises(ChecksumError, match=r"uint8 \(n, 3072\)"):
        CIFAR10(root=folder, train=False, download=False)


class _RunsShell:
    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_pickle_calling_os_system_is_refused(tmp_path, cifar_folder, isolated):
    marker = tmp_path / "pwned"
    payload = _RunsShell()
    payload.marker = marker
    folder = cifar_folder[0]
    (folder / "test_batch").write_bytes(pickle.dumps({"data": payload}, protocol=2))
    with pytest.raises(UnsafePickleError, match=r"refused to load global (posix|os|nt)\.system"):
        CIFAR10(root=folder, train=False, download=False)
    assert not marker.exists()


@pytest.mark.parametrize("payload", [
    pickle.dumps(eval, protocol=2),                               # a builtin function
    pickle.dumps({"data": np.dtype("O")}, protocol=2),            # object dtype
    b"\x80\x02cnumpy\ndtype\nX\x01\x00\x00\x00O\x85R.",           # numpy.dtype("O")
    pickle.dumps([1, 2], protocol=2),                             # not a dict
])
def test_other_unexpected_pickles_are_refused(payload):
    with pytest.raises(UnsafePickleError):
        load_restricted(payload, "payload")


@pytest.mark.parametrize("protocol", [3, 4])
def test_python3_pickles_of_arrays_are_read(protocol):
    array = np.arange(12, dtype=np.uint8).reshape(3, 4)
    loaded = load_restricted(pickle.dumps({"c": array, "f": array.T}, protocol=protocol))
    np.testing.assert_array_equal(loaded["c"], array)
    np.testing.assert_array_equal(loaded["f"], array.T)  # Fortran-ordered data


# ----------------------------------------------------------------- bounded by the file (issue 17)
def _peak_bytes(load, *args):
    """What ``load(*args)`` returns or raises, and the peak memory it allocated."""
    tracemalloc.start()
    try:
        try:
            result = load(*args)
        except UnsafePickleError as error:
            result = error
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_an_object_referenced_many_times_is_converted_once():
    array = np.zeros(1 << 20, dtype=np.uint8)  # 1 MiB, referenced 300 times: 300 MiB if each were copied
    payload = pickle.dumps({"data": [array] * 300, "labels": [list(range(1000))] * 300}, protocol=4)
    loaded, peak = _peak_bytes(load_restricted, payload)
    assert loaded["data"][0] is loaded["data"][299] and loaded["labels"][0] is loaded["labels"][299]
    np.testing.assert_array_equal(loaded["data"][7], array)
    assert peak < 4 * len(payload)


def _self_referencing() -> bytes:
    cycle: list = []
    cycle.append(cycle)
    return pickle.dumps({"data": cycle}, protocol=4)


@pytest.mark.parametrize("payload, match", [
    (_self_referencing(), "a list that contains itself"),
    (b"\x80\x04}\x8c\x04data" + b"]" * 100_000 + b"a" * 99_999 + b"s.", "nested deeper than"),
    (b"\x80\x04]" + b"\x94" + b"h\x00a" + b"}\x8c\x01xh\x00s.", "a list that contains itself"),
])
def test_self_references_and_deep_nesting_are_refused(payload, match):
    with pytest.raises(UnsafePickleError, match=match):
        load_restricted(payload, "batch")


@pytest.mark.parametrize("global_name", [b"numpy\nndarray", b"numpy\ndtype", b"numpy.core.multiarray\n_reconstruct"])
def test_build_on_an_allowed_global_changes_nothing_in_the_module(global_name):
    # GLOBAL, then BUILD with (None, {"planted": 1}): setattr on whatever the global resolved to
    payload = b"\x80\x02c" + global_name + b"\nN}X\x07\x00\x00\x00plantedK\x01s\x86b0}."
    before = {name: dict(vars(value)) for name, value in vars(safe_pickle).items() if hasattr(value, "__dict__")}
    with pytest.raises(UnsafePickleError, match="refused"):
        load_restricted(payload, "batch")
    after = {name: dict(vars(value)) for name, value in vars(safe_pickle).items() if hasattr(value, "__dict__")}
    assert after == before
    assert not any(hasattr(value, "planted") for value in vars(safe_pickle).values())
