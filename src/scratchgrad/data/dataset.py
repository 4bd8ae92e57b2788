"""In-memory image datasets and subsets of them."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np


class MapDataset(Protocol):
    """Anything the loader can index: ``len(ds)`` and ``ds[i] -> (image, label)``."""

    def __len__(self) -> int: ...

    def __getitem__(self, index: int) -> tuple[Any, Any]: ...


class ImageDataset:
    """Images held in memory as one uint8 array, with int64 labels.

    Attributes:
        images: uint8 array (N, C, H, W).
        labels: int64 array (N,).
        classes: class names, ``classes[label]`` names a label.
    """

    def __init__(self, images: np.ndarray, labels: np.ndarray, classes: Sequence[str]):
        images = np.asarray(images)
        labels = np.asarray(labels)
        if images.dtype != np.uint8 or images.ndim != 4:
            raise ValueError(
                f"images: expected a uint8 array (N, C, H, W), got {images.dtype} {images.shape}")
        if labels.ndim != 1 or len(labels) != len(images):
            raise ValueError(
                f"labels: expected shape ({len(images)},) to match images, got {labels.shape}")
        if len(labels) and (labels.min() < 0 or labels.max() >= len(classes)):
            raise ValueError(
                f"labels: expected values in [0, {len(classes)}) for {len(classes)} classes, "
                f"got [{labels.min()}, {labels.max()}]")
        self.images = images
        self.labels = labels.astype(np.int64, copy=False)
        self.classes = list(classes)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[np.ndarray, int]:
        """One sample: (uint8 image (C, H, W), label)."""
        return self.images[index], int(self.labels[index])

    def __repr__(self) -> str:
        n, c, h, w = self.images.shape
        return f"{type(self).__name__}({n} images {c}x{h}x{w}, {len(self.classes)} classes)"


class Subset:
    """The samples of ``dataset`` at ``indices``, in that order (like ``torch.utils.data.Subset``).

    When ``dataset`` holds ``images``/``labels`` arrays, the subset holds the selected rows
    too, so the loader batches it as fast as a whole dataset.
    """

    def __init__(self, dataset: MapDataset, indices: Sequence[int] | np.ndarray):
        indices = np.asarray(indices, dtype=np.int64)
        if indices.ndim != 1:
            raise ValueError(f"indices: expected a 1-D sequence, got shape {indices.shape}")
        if len(indices) and (indices.min() < -len(dataset) or indices.max() >= len(dataset)):
            raise IndexError(
                f"indices: expected values in [0, {len(dataset)}), "
                f"got [{indices.min()}, {indices.max()}]")
        self.dataset = dataset
        self.indices = indices
        if _has_arrays(dataset):
            self.images = dataset.images[indices]
            self.labels = dataset.labels[indices]
        if hasattr(dataset, "classes"):
            self.classes = dataset.classes

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        return self.dataset[int(self.indices[index])]

    def __repr__(self) -> str:
        return f"Subset({len(self)} of {self.dataset!r})"


SUBSET_MODES = ("first", "balanced", "random")


def subset(dataset: MapDataset, n: int, how: str = "balanced", seed: int = 0) -> Subset:
    """Pick ``n`` samples of ``dataset``, returned in dataset order.

    ``how``:
        ``"first"``: the first ``n`` samples.
        ``"balanced"``: the first ``n // K`` samples of each of the K classes (the first
            ``n % K`` classes get one more) — deterministic, no seed needed.
        ``"random"``: ``n`` samples drawn without replacement with ``seed``.
    """
    if not 0 <= n <= len(dataset):
        raise ValueError(f"n: expected 0 <= n <= {len(dataset)} (the dataset size), got {n}")
    if how == "first":
        indices = np.arange(n)
    elif how == "random":
        indices = np.sort(np.random.default_rng(seed).choice(len(dataset), n, replace=False))
    elif how == "balanced":
        indices = _balanced_indices(_labels_of(dataset), n)
    else:
        raise ValueError(f"how: expected one of {SUBSET_MODES}, got {how!r}")
    return Subset(dataset, indices)


def _balanced_indices(labels: np.ndarray, n: int) -> np.ndarray:
    num_classes = int(labels.max()) + 1 if len(labels) else 1
    quotas = np.full(num_classes, n // num_classes)
    quotas[: n % num_classes] += 1
    chosen = []
    for label, quota in enumerate(quotas):
        members = np.flatnonzero(labels == label)
        if len(members) < quota:
            raise ValueError(
                f"n: a balanced subset of {n} needs {quota} samples of class {label}, "
                f"but the dataset has only {len(members)}")
        chosen.append(members[:quota])
    return np.sort(np.concatenate(chosen))


def _labels_of(dataset: MapDataset) -> np.ndarray:
    if hasattr(dataset, "labels"):
        return np.asarray(dataset.labels)
    return np.array([int(dataset[i][1]) for i in range(len(dataset))], dtype=np.int64)


def _has_arrays(dataset: Any) -> bool:
    return isinstance(getattr(dataset, "images", None), np.ndarray) and isinstance(
        getattr(dataset, "labels", None), np.ndarray)
