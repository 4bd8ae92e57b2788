"""DataLoader: batches, determinism per (seed, epoch), prefetching and shutdown; subsets."""
from __future__ import annotations

import gc
import threading
import time

import numpy as np
import pytest

from scratchgrad.data import DataLoader, ImageDataset, Subset, subset, transforms


def _dataset(n=103, c=3, side=8, seed=0) -> ImageDataset:
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n, c, side, side), dtype=np.uint8)
    return ImageDataset(images, np.arange(n) % 10, [str(i) for i in range(10)])


def _epoch(loader):
    return [(images.copy(), labels.copy()) for images, labels in loader]


def _assert_same(first, second):
    assert len(first) == len(second)
    for (images_a, labels_a), (images_b, labels_b) in zip(first, second):
        np.testing.assert_array_equal(images_a, images_b)
        np.testing.assert_array_equal(labels_a, labels_b)


def _prefetch_threads():
    return [t for t in threading.enumerate() if t.name == "scratchgrad-prefetch"]


def test_batches_cover_the_dataset_in_order_without_shuffle():
    dataset = _dataset()
    loader = DataLoader(dataset, batch_size=10)
    batches = _epoch(loader)
    assert len(loader) == len(batches) == 11 and len(batches[-1][1]) == 3
    images = np.concatenate([b[0] for b in batches])
    assert images.dtype == np.float32 and images.shape == (103, 3, 8, 8)
    np.testing.assert_array_equal(images, dataset.images / np.float32(255))
    labels = np.concatenate([b[1] for b in batches])
    assert labels.dtype == np.int64
    np.testing.assert_array_equal(labels, dataset.labels)


def test_drop_last():
    loader = DataLoader(_dataset(), batch_size=10, drop_last=True)
    batches = _epoch(loader)
    assert len(loader) == len(batches) == 10
    assert all(len(labels) == 10 for _, labels in batches)
    assert len(DataLoader(_dataset(n=100), batch_size=10, drop_last=True)) == 10


def test_shuffle_is_a_permutation_and_differs_between_epochs():
    loader = DataLoader(_dataset(), batch_size=16, shuffle=True)
    first = np.concatenate([labels for _, labels in _epoch(loader)])
    second = np.concatenate([labels for _, labels in _epoch(loader)])  # next epoch automatically
    assert sorted(first) == sorted(_dataset().labels) and not np.array_equal(first, second)
    assert loader.epoch == 2


@pytest.mark.parametrize("prefetch", [0, 3])
def test_same_seed_and_epoch_give_same_batches(prefetch):
    augment = transforms.Compose([transforms.RandomRotation(20), transforms.RandomHorizontalFlip(),
                                  transforms.Normalize(0.5, 0.5)])
    make = lambda: DataLoader(_dataset(), 16, shuffle=True, transform=augment, seed=5,
                              prefetch=prefetch)
    loader = make()
    loader.set_epoch(3)
    epoch_3 = _epoch(loader)
    other = make()
    other.set_epoch(3)
    _assert_same(epoch_3, _epoch(other))
    synchronous = DataLoader(_dataset(), 16, shuffle=True, transform=augment, seed=5, prefetch=0)
    synchronous.set_epoch(3)
    _assert_same(epoch_3, _epoch(synchronous))  # prefetching never changes the batches
    other.set_epoch(4)
    assert not np.array_equal(_epoch(other)[0][0], epoch_3[0][0])
    different_seed = DataLoader(_dataset(), 16, shuffle=True, transform=augment, seed=6)
    different_seed.set_epoch(3)
    assert not np.array_equal(_epoch(different_seed)[0][1], epoch_3[0][1])


def test_augmentation_differs_between_batches_and_epochs():
    images = np.repeat(_dataset(n=1).images, 64, axis=0)
    dataset = ImageDataset(images, np.zeros(64, np.int64), ["only"])
    loader = DataLoader(dataset, 32, transform=transforms.RandomRotation(30))
    (a, _), (b, _) = _epoch(loader)
    assert not np.array_equal(a, b)


def test_early_break_stops_the_prefetch_thread():
    before = len(_prefetch_threads())
    loader = DataLoader(_dataset(n=1000), batch_size=4, prefetch=2,
                        transform=transforms.RandomRotation(10))
    for number, _ in enumerate(loader):
        if number == 2:
            break
    gc.collect()
    assert len(_prefetch_threads()) == before
    iterator = iter(loader)
    next(iterator)
    assert len(_prefetch_threads()) == before + 1
    iterator.close()
    assert len(_prefetch_threads()) == before


def test_errors_in_the_transform_reach_the_caller():
    def broken(batch, rng):
        raise RuntimeError("transform broke")

    for prefetch in (0, 2):
        with pytest.raises(RuntimeError, match="transform broke"):
            next(iter(DataLoader(_dataset(), 8, transform=broken, prefetch=prefetch)))
    gc.collect()
    time.sleep(0.01)
    assert not _prefetch_threads()


def test_generic_map_style_dataset_is_stacked():
    class Squares:
        def __len__(self):
            return 5

        def __getitem__(self, index):
            return np.full((1, 2, 2), index, np.uint8), index % 2

    images, labels = next(iter(DataLoader(Squares(), batch_size=5)))
    assert images.shape == (5, 1, 2, 2) and images.dtype == np.float32
    np.testing.assert_allclose(images[:, 0, 0, 0], np.arange(5) / 255)
    assert labels.tolist() == [0, 1, 0, 1, 0] and labels.dtype == np.int64


def test_float_transform_output_is_kept():
    loader = DataLoader(_dataset(), 8, transform=transforms.Normalize(0.5, 0.5))
    images, _ = next(iter(loader))
    assert images.dtype == np.float32 and images.min() < 0


@pytest.mark.parametrize("kwargs, match", [
    ({"batch_size": 0}, "batch_size"), ({"batch_size": 2, "seed": -1}, "seed"),
    ({"batch_size": 2, "prefetch": 1.5}, "prefetch"),
])
def test_bad_arguments_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        DataLoader(_dataset(), **kwargs)


def test_subset_first_balanced_random():
    dataset = _dataset(n=100)
    first = subset(dataset, 15, how="first")
    assert first.indices.tolist() == list(range(15)) and len(first) == 15
    balanced = subset(dataset, 25, how="balanced")
    counts = np.bincount(balanced.labels, minlength=10)
    assert counts.tolist() == [3] * 5 + [2] * 5
    np.testing.assert_array_equal(balanced.images, dataset.images[balanced.indices])
    random_a, random_b = subset(dataset, 30, how="random", seed=1), subset(dataset, 30, how="random", seed=1)
    np.testing.assert_array_equal(random_a.indices, random_b.indices)
    assert len(set(random_a.indices.tolist())) == 30
    assert not np.array_equal(random_a.indices, subset(dataset, 30, how="random", seed=2).indices)
    with pytest.raises(ValueError, match="n: expected"):
        subset(dataset, 101)
    with pytest.raises(ValueError, match="how"):
        subset(dataset, 5, how="stratified")


def test_subset_works_with_the_loader_and_torch_style_indexing():
    dataset = _dataset(n=20)
    part = Subset(dataset, [3, 1, 4])
    image, label = part[1]
    np.testing.assert_array_equal(image, dataset.images[1])
    images, labels = next(iter(DataLoader(part, batch_size=3)))
    assert labels.tolist() == [3, 1, 4]
    with pytest.raises(IndexError, match="indices"):
        Subset(dataset, [20])
