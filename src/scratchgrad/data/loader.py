"""Batches of (images, labels) as NumPy arrays, reproducible per (seed, epoch)."""
from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import Any

import numpy as np

from .dataset import MapDataset
from .transforms import Transform, to_float

Batch = tuple[np.ndarray, np.ndarray]
_POLL_S = 0.05  # how often a blocked producer checks whether the consumer left


class DataLoader:
    """Iterate ``dataset`` in batches of float32 images and int64 labels.

    Args:
        dataset: an ``ImageDataset`` (or anything with ``images`` uint8 (N, C, H, W) and
            ``labels`` arrays), or any map-style dataset whose samples are stacked.
        batch_size: images per batch.
        shuffle: visit the samples in a new random order each epoch.
        drop_last: leave out the last batch when it is smaller than ``batch_size``.
        transform: ``t(batch, rng)`` applied to each uint8 batch (see ``transforms``).
        seed: with the epoch, the only source of randomness.
        prefetch: batches prepared ahead in a background thread; 0 prepares them in
            the caller's thread. It never changes the batches, only when they are made.

    Yields ``(images, labels)``: images float32 (B, C, H, W), labels int64 (B,). Images
    are the transform's output when it is float (e.g. it ends with ``Normalize``);
    uint8 images are divided by 255 into [0, 1], as ``ToTensor`` does.

    Epochs: the order and augmentation of epoch ``e`` depend only on ``(seed, e)``:
    ``SeedSequence([seed, e])`` spawns one stream for the order and one per batch for
    the transform. Each ``iter(loader)`` uses the current epoch and then advances it by
    one, so plain repeated loops see new orders; ``set_epoch(e)`` (as a resumed run
    does, like PyTorch's ``DistributedSampler.set_epoch``) chooses the next epoch.

    Data-parallel training: after ``set_shard(rank, world)`` each batch is made whole, as
    above, and only part ``rank`` of ``np.array_split(batch, world)`` is yielded; ``len``
    still counts the global batches.
    """

    def __init__(self, dataset: MapDataset, batch_size: int = 1, shuffle: bool = False,
                 drop_last: bool = False, transform: Transform | None = None, seed: int = 0,
                 prefetch: int = 2):
        for name, value, least in (("batch_size", batch_size, 1), ("seed", seed, 0),
                                   ("prefetch", prefetch, 0)):
            if not isinstance(value, (int, np.integer)) or value < least:
                raise ValueError(f"{name}: expected an int >= {least}, got {value!r}")
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.transform = transform
        self.seed = int(seed)
        self.prefetch = int(prefetch)
        self.epoch = 0
        self.rank, self.world = 0, 1

    def set_shard(self, rank: int, world: int) -> None:
        """Yield part ``rank`` (contiguous) of each batch split into ``world`` parts."""
        if not isinstance(world, (int, np.integer)) or world < 1:
            raise ValueError(f"world: expected an int >= 1, got {world!r}")
        if not isinstance(rank, (int, np.integer)) or not 0 <= rank < world:
            raise ValueError(f"rank: expected an int in [0, {world}), got {rank!r}")
        self.rank, self.world = int(rank), int(world)

    def set_epoch(self, epoch: int) -> None:
        """Make the next iteration epoch ``epoch``."""
        if not isinstance(epoch, (int, np.integer)) or epoch < 0:
            raise ValueError(f"epoch: expected an int >= 0, got {epoch!r}")
        self.epoch = int(epoch)

    def __len__(self) -> int:
        """Batches per epoch."""
        full, rest = divmod(len(self.dataset), self.batch_size)
        return full + (1 if rest and not self.drop_last else 0)

    def __iter__(self) -> Iterator[Batch]:
        epoch, self.epoch = self.epoch, self.epoch + 1
        batches = self._batches(epoch)
        return _prefetched(batches, self.prefetch) if self.prefetch else batches

    def _batches(self, epoch: int) -> Iterator[Batch]:
        order_seed, augment_seed = np.random.SeedSequence([self.seed, epoch]).spawn(2)
        count = len(self.dataset)
        order = (np.random.default_rng(order_seed).permutation(count) if self.shuffle
                 else np.arange(count))
        batch_seeds = augment_seed.spawn(len(self))
        for number, batch_seed in enumerate(batch_seeds):
            indices = order[number * self.batch_size:(number + 1) * self.batch_size]
            images, labels = self._make_batch(indices, batch_seed)
            if self.world > 1:  # the whole batch first, so the parts hold one process's images and augmentation
                part = _part(len(labels), self.rank, self.world)
                images, labels = images[part], labels[part]
            yield images, labels

    def _make_batch(self, indices: np.ndarray, seed: np.random.SeedSequence) -> Batch:
        images, labels = _gather(self.dataset, indices)
        if self.transform is not None:
            images = self.transform(images, np.random.default_rng(seed))
        return (images if images.dtype == np.float32 else to_float(images)), labels

    def __repr__(self) -> str:
        return (f"DataLoader({self.dataset!r}, batch_size={self.batch_size}, "
                f"shuffle={self.shuffle}, drop_last={self.drop_last}, seed={self.seed})")


def _part(size: int, rank: int, world: int) -> slice:
    """Part ``rank`` of ``range(size)`` as ``np.array_split`` cuts it (the first ``size % world`` parts one longer)."""
    base, longer = divmod(size, world)
    start = rank * base + min(rank, longer)
    return slice(start, start + base + (rank < longer))


def _gather(dataset: Any, indices: np.ndarray) -> Batch:
    """Images (B, C, H, W) and int64 labels (B,) of the samples at ``indices``."""
    images, labels = getattr(dataset, "images", None), getattr(dataset, "labels", None)
    if isinstance(images, np.ndarray) and isinstance(labels, np.ndarray):
        return images[indices], labels[indices].astype(np.int64, copy=False)
    samples = [dataset[int(i)] for i in indices]
    images = np.stack([np.asarray(image) for image, _ in samples])
    return images, np.array([int(label) for _, label in samples], dtype=np.int64)


def _prefetched(batches: Iterator[Batch], depth: int) -> Iterator[Batch]:
    """Yield ``batches`` made ``depth`` ahead in a daemon thread.

    Leaving the loop early (break, exception, or dropping the iterator) closes this
    generator; its ``finally`` stops the producer and joins it, so no thread outlives it.
    Errors raised while making a batch are re-raised here, in the consumer.
    """
    ready: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    end = object()

    def produce() -> None:
        try:
            for batch in batches:
                if not _put(ready, (batch, None), stop):
                    return
            _put(ready, (end, None), stop)
        except BaseException as error:  # handed to the consumer, which re-raises it
            _put(ready, (None, error), stop)

    producer = threading.Thread(target=produce, name="scratchgrad-prefetch", daemon=True)
    producer.start()
    try:
        while True:
            batch, error = ready.get()
            if error is not None:
                raise error
            if batch is end:
                return
            yield batch
    finally:
        stop.set()
        producer.join()


def _put(ready: queue.Queue, item: Any, stop: threading.Event) -> bool:
    """Put ``item`` unless the consumer stops first; True when it was put."""
    while not stop.is_set():
        try:
            ready.put(item, timeout=_POLL_S)
            return True
        except queue.Full:
            pass
    return False
