"""Datasets, batched augmentation and a prefetching loader, on NumPy alone.

    from scratchgrad.data import CIFAR10, DataLoader, transforms
    train = CIFAR10(train=True)                       # images uint8 (N, 3, 32, 32)
    loader = DataLoader(train, 64, shuffle=True,
                        transform=transforms.study_preset("cifar10"), seed=0)
    for images, labels in loader: ...                 # float32 (64, 3, 32, 32), int64 (64,)

See ``files`` for where dataset files are looked for.
"""
from . import transforms
from .cifar import CIFAR10
from .dataset import ImageDataset, MapDataset, Subset, subset
from .files import ENV_VAR, ChecksumError, DatasetNotFoundError
from .loader import DataLoader
from .mnist import MNIST, FashionMNIST
from .registry import DATASET_NAMES, load_dataset
from .safe_pickle import UnsafePickleError
from .sample import mnist_sample

__all__ = [
    "CIFAR10", "ChecksumError", "DATASET_NAMES", "DataLoader", "DatasetNotFoundError", "ENV_VAR",
    "FashionMNIST", "ImageDataset", "MNIST", "MapDataset", "Subset", "UnsafePickleError",
    "load_dataset", "mnist_sample", "subset", "transforms",
]
