"""A small real MNIST subset shipped inside the package, for demos and fast tests."""
from __future__ import annotations

from importlib import resources

import numpy as np

from .dataset import ImageDataset
from .mnist import MNIST

SAMPLE_FILE = "mnist_sample.npz"


def mnist_sample(train: bool = True) -> ImageDataset:
    """The shipped MNIST subset: 6,000 train or 1,000 test images, class-balanced.

    The first 600 (train) or 100 (test) images of each digit, in the original files'
    order, as built by ``python -m scratchgrad.data.make_sample``.

    Returns:
        An ``ImageDataset`` with images uint8 (N, 1, 28, 28) and labels int64 (N,).
    """
    split = "train" if train else "test"
    with resources.files(__package__).joinpath(SAMPLE_FILE).open("rb") as stream:
        with np.load(stream) as arrays:
            images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
    return ImageDataset(images, labels, MNIST.class_names)
