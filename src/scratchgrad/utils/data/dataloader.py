"""``DataLoader``: PyTorch's per-sample loader, in the caller's process.

How it relates to ``scratchgrad.data.DataLoader`` (the lab's loader): they do different
jobs and share no code. This one is ``torch.utils.data.DataLoader``: it calls
``dataset[i]`` per sample (or iterates an ``IterableDataset``) and collates the samples into
Tensors, so that PyTorch scripts run unchanged. The lab's loader takes a whole uint8 image
array, augments whole batches at once with NumPy and prefetches them in a thread, with an
order fixed by ``(seed, epoch)``; it yields NumPy arrays and is what the study's training
runs use for speed and exact reproducibility. Use this one for PyTorch code, that one for
the lab.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from ... import random
from .collate import default_collate, default_convert
from .dataset import Dataset, IterableDataset
from .sampler import BatchSampler, RandomSampler, Sampler, SequentialSampler

__all__ = ["DataLoader", "get_worker_info"]


def get_worker_info() -> None:
    """None: every sample is loaded in the main process (see ``DataLoader``'s num_workers)."""
    return None


class DataLoader:
    """Batches of samples from ``dataset``, with PyTorch's arguments and rules.

    Args:
        dataset: a map-style ``Dataset`` (anything with ``__getitem__`` and ``__len__``) or
            an ``IterableDataset``.
        batch_size: samples per batch; ``None`` yields single samples (``default_convert``).
            Default: 1.
        shuffle: a new random order each epoch (a ``RandomSampler``). Default: ``False``.
        sampler: the order of indices; excludes ``shuffle``.
        batch_sampler: yields lists of indices; excludes ``batch_size``, ``shuffle``,
            ``sampler`` and ``drop_last``.
        num_workers: accepted for compatibility; samples are always loaded in the calling
            process, which gives the same batches as PyTorch's workers would (and
            ``worker_init_fn`` is not called, as PyTorch with ``num_workers=0``).
        collate_fn: merges a list of samples into a batch. Default: ``default_collate``.
        pin_memory, timeout, prefetch_factor, persistent_workers, ...: accepted, no effect
            on a CPU.
        drop_last: leave out the last incomplete batch. Default: ``False``.
        generator: the random source of the default ``RandomSampler``.
    """

    def __init__(
        self, dataset: Dataset | Any, batch_size: int | None = 1, shuffle: bool | None = None, sampler: Sampler | Any = None,
        batch_sampler: Sampler | Any = None, num_workers: int = 0, collate_fn: Callable[[list[Any]], Any] | None = None,
        pin_memory: bool = False, drop_last: bool = False, timeout: float = 0, worker_init_fn: Callable[[int], None] | None = None,
        multiprocessing_context: Any = None, generator: random.Generator | None = None, *, prefetch_factor: int | None = None,
        persistent_workers: bool = False, pin_memory_device: str = "", in_order: bool = True,
    ) -> None:
        if not isinstance(num_workers, int) or num_workers < 0:
            raise ValueError(f"DataLoader: num_workers option should be non-negative; got num_workers={num_workers!r}")
        if timeout < 0:
            raise ValueError(f"DataLoader: timeout option should be non-negative, got {timeout!r}")
        self.dataset, self.num_workers, self.pin_memory, self.timeout = dataset, num_workers, pin_memory, timeout
        self.worker_init_fn, self.generator, self.prefetch_factor = worker_init_fn, generator, prefetch_factor
        self.persistent_workers, self.multiprocessing_context = persistent_workers, multiprocessing_context
        self._iterable = isinstance(dataset, IterableDataset)
        if self._iterable and (shuffle not in (None, False) or sampler is not None or batch_sampler is not None):
            raise ValueError(f"DataLoader with IterableDataset: expected unspecified shuffle, sampler and batch_sampler, "
                             f"got shuffle={shuffle}, sampler={sampler}, batch_sampler={batch_sampler}")
        if sampler is not None and shuffle:
            raise ValueError("DataLoader: sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError("DataLoader: batch_sampler option is mutually exclusive with batch_size, shuffle, sampler, and drop_last")
            batch_size, drop_last = None, False
        elif batch_size is None and drop_last:
            raise ValueError("DataLoader: batch_size=None option disables auto-batching and is mutually exclusive with drop_last")
        if sampler is None and not self._iterable:
            sampler = RandomSampler(dataset, generator=generator) if shuffle else SequentialSampler(dataset)
        if batch_size is not None and batch_sampler is None and not self._iterable:
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)
        self.batch_size, self.drop_last, self.sampler, self.batch_sampler = batch_size, drop_last, sampler, batch_sampler
        batched = batch_size is not None or batch_sampler is not None
        self.collate_fn = collate_fn if collate_fn is not None else (default_collate if batched else default_convert)

    def __iter__(self) -> Iterator[Any]:
        if self._iterable:
            yield from self._iterable_batches()
            return
        if self.batch_sampler is None:
            for index in self.sampler:
                yield self.collate_fn(self.dataset[index])
            return
        fetch_many = getattr(self.dataset, "__getitems__", None)
        for indices in self.batch_sampler:
            samples = fetch_many(indices) if fetch_many is not None else [self.dataset[i] for i in indices]
            yield self.collate_fn(samples)

    def _iterable_batches(self) -> Iterator[Any]:
        if self.batch_size is None:
            for sample in self.dataset:
                yield self.collate_fn(sample)
            return
        batch: list[Any] = []
        for sample in self.dataset:
            batch.append(sample)
            if len(batch) == self.batch_size:
                yield self.collate_fn(batch)
                batch = []
        if batch and not self.drop_last:
            yield self.collate_fn(batch)

    def __len__(self) -> int:
        if self._iterable:
            n = len(self.dataset)
            if self.batch_size is None:
                return n
            return n // self.batch_size if self.drop_last else -(-n // self.batch_size)
        return len(self.batch_sampler if self.batch_sampler is not None else self.sampler)
