"""Datasets by name, as configs and the command line spell them."""
from __future__ import annotations

import os

from .cifar import CIFAR10
from .custom import image_folder, npz_dataset
from .dataset import ImageDataset
from .files import DatasetNotFoundError
from .mnist import MNIST, FashionMNIST
from .sample import mnist_sample

DATASET_NAMES = ("mnist", "fashion-mnist", "cifar10", "mnist-sample", "npz", "folder")
USER_DATASETS = {"npz": npz_dataset, "folder": image_folder}  # the user's own, at ``root`` (see .custom)
AUGMENT_FAMILY = {"mnist-sample": "mnist"}  # datasets that take another one's augmentation and statistics


def load_dataset(name: str, train: bool = True, root: str | os.PathLike | None = None,
                 download: bool = True) -> ImageDataset:
    """The dataset called ``name`` (one of ``DATASET_NAMES``).

    ``mnist-sample`` is the subset shipped in the package; it ignores ``root`` and
    ``download``. ``npz`` and ``folder`` are the user's own, at ``root`` (a ``.npz`` file, a
    folder of ``train/`` and ``test/``: see :mod:`.custom`); they ignore ``download``.
    """
    if name == "mnist-sample":
        return mnist_sample(train)
    if name in USER_DATASETS:
        if not root:
            raise DatasetNotFoundError(f"dataset {name!r} is your own: set data.root to its "
                                       f"{'.npz file' if name == 'npz' else 'folder'}")
        return USER_DATASETS[name](root, train=train)
    classes = {"mnist": MNIST, "fashion-mnist": FashionMNIST, "cifar10": CIFAR10}
    if name not in classes:
        raise ValueError(f"dataset: expected one of {DATASET_NAMES}, got {name!r}")
    return classes[name](root, train=train, download=download)


def augment_family(name: str, channels: int) -> str:
    """The study dataset whose augmentation and normalisation dataset ``name`` takes.

    The user's own take CIFAR-10's with 3 channels (rotation, flip, translation; mean = std
    = 0.5) and MNIST's with 1 (rotation, flip; 0.1307 / 0.3081).

    Raises:
        ValueError: a user's dataset with another number of channels.
    """
    if name not in USER_DATASETS:
        return AUGMENT_FAMILY.get(name, name)
    if channels not in (1, 3):
        raise ValueError(f"data.dataset = {name!r}: images of {channels} channels; the augmentation and "
                         "normalisation presets take 1 (grayscale) or 3 (RGB)")
    return "cifar10" if channels == 3 else "mnist"
