"""Datasets by name, as configs and the command line spell them."""
from __future__ import annotations

import os

from .cifar import CIFAR10
from .dataset import ImageDataset
from .mnist import MNIST, FashionMNIST
from .sample import mnist_sample

DATASET_NAMES = ("mnist", "fashion-mnist", "cifar10", "mnist-sample")


def load_dataset(name: str, train: bool = True, root: str | os.PathLike | None = None,
                 download: bool = True) -> ImageDataset:
    """The dataset called ``name`` (one of ``DATASET_NAMES``).

    ``mnist-sample`` is the subset shipped in the package; it ignores ``root`` and
    ``download``.
    """
    if name == "mnist-sample":
        return mnist_sample(train)
    classes = {"mnist": MNIST, "fashion-mnist": FashionMNIST, "cifar10": CIFAR10}
    if name not in classes:
        raise ValueError(f"dataset: expected one of {DATASET_NAMES}, got {name!r}")
    return classes[name](root, train=train, download=download)
