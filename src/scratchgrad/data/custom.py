"""The user's own images: a ``.npz`` of arrays, or a folder of image files, one subfolder per class.

A ``.npz`` file (``numpy.savez``) holds four arrays, and a fifth optionally:

    train_images  uint8 (N, C, H, W), or (N, H, W) for one channel
    train_labels  integers (N,), 0 <= label < the number of classes
    test_images   as train_images, with the same C, H, W
    test_labels   as train_labels
    classes       (optional) str (K,): the class names; default "0", "1", ... up to the largest label

An image folder holds ``train/`` and ``test/``, each with one subfolder per class (the
same names in both; classes sorted by name) of PNG, JPEG, BMP or GIF files, all of one
size. Images are read as grayscale when every one of them is, else as RGB. Reading
files needs Pillow (it comes with matplotlib: ``pip install 'scratchgrad[plot]'``).
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .dataset import ImageDataset
from .files import DatasetNotFoundError

NPZ_KEYS = ("train_images", "train_labels", "test_images", "test_labels")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
GRAY_MODES = ("1", "L", "LA", "I", "I;16", "F")


class DataFormatError(ValueError):
    """A user's dataset file or folder that does not hold what it should; the message says what."""


def npz_dataset(path: str | os.PathLike, train: bool = True) -> ImageDataset:
    """The train or test split of the ``.npz`` file at ``path`` (see the module's docstring)."""
    path = Path(path)
    if not path.is_file():
        raise DatasetNotFoundError(f"data.root = {str(path)!r}: no such file; dataset 'npz' needs the path of a "
                                   f"numpy .npz file holding {', '.join(NPZ_KEYS)}")
    try:
        with np.load(path, allow_pickle=False) as arrays:
            missing = [key for key in NPZ_KEYS if key not in arrays.files]
            if missing:
                raise DataFormatError(f"{path}: no array {', '.join(missing)}; expected {', '.join(NPZ_KEYS)} "
                                      f"(and optionally classes), found {', '.join(arrays.files) or 'none'}")
            split = "train" if train else "test"
            images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
            all_labels = np.concatenate([_labels(arrays["train_labels"], path, "train_labels"),
                                         _labels(arrays["test_labels"], path, "test_labels")])
            classes = arrays["classes"] if "classes" in arrays.files else None
    except (OSError, ValueError) as error:
        if isinstance(error, DataFormatError):
            raise
        raise DataFormatError(f"{path}: not a readable .npz file of plain arrays ({error})") from None
    return _dataset(path, split, _images(images, path, f"{split}_images"), _labels(labels, path, f"{split}_labels"),
                    _class_names(classes, all_labels, path))


def image_folder(root: str | os.PathLike, train: bool = True) -> ImageDataset:
    """The ``train/`` or ``test/`` split of the image folder ``root`` (see the module's docstring)."""
    root, split = Path(root), "train" if train else "test"
    folders = {name: root / name for name in ("train", "test")}
    if not all(folder.is_dir() for folder in folders.values()):
        raise DatasetNotFoundError(f"data.root = {str(root)!r}: expected a folder holding train/ and test/, each with "
                                   "one subfolder of images per class")
    classes = _class_folders(folders["train"])
    if _class_folders(folders["test"]) != classes:
        raise DataFormatError(f"{root}: train/ and test/ hold different class folders ({classes} and "
                              f"{_class_folders(folders['test'])}); expected the same names")
    files = [(path, label) for label, name in enumerate(classes)
             for path in sorted((folders[split] / name).iterdir()) if path.suffix.lower() in IMAGE_SUFFIXES]
    if not files:
        raise DataFormatError(f"{folders[split]}: no image files ({', '.join(IMAGE_SUFFIXES)}) in its class folders")
    gray = all(_mode(path) in GRAY_MODES for name in ("train", "test") for path in _image_files(folders[name]))
    images = [_read_image(path, "L" if gray else "RGB") for path, _ in files]
    shapes = {image.shape for image in images}
    if len(shapes) > 1:
        odd = next(index for index, image in enumerate(images) if image.shape != images[0].shape)
        raise DataFormatError(f"{files[odd][0]}: {_size(images[odd].shape)} pixels, unlike {files[0][0].name}'s "
                              f"{_size(images[0].shape)}; expected images of one size")
    labels = np.array([label for _, label in files], dtype=np.int64)
    return _dataset(root, split, np.stack(images), labels, classes)


def _dataset(source: Path, split: str, images: np.ndarray, labels: np.ndarray, classes: list[str]) -> ImageDataset:
    if len(images) != len(labels):
        raise DataFormatError(f"{source}: {len(images)} {split} images but {len(labels)} labels")
    if len(labels) and labels.max() >= len(classes):
        raise DataFormatError(f"{source}: a {split} label is {labels.max()}; expected < {len(classes)} (the classes)")
    return ImageDataset(images, labels, classes)


def _images(images: np.ndarray, path: Path, key: str) -> np.ndarray:
    if images.dtype != np.uint8 or images.ndim not in (3, 4):
        raise DataFormatError(f"{path}: {key} is {images.dtype} {images.shape}; expected uint8 (N, C, H, W) or (N, H, W)")
    return images[:, None] if images.ndim == 3 else images


def _labels(labels: np.ndarray, path: Path, key: str) -> np.ndarray:
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise DataFormatError(f"{path}: {key} is {labels.dtype} {labels.shape}; expected integers (N,)")
    if len(labels) and labels.min() < 0:
        raise DataFormatError(f"{path}: {key} holds {labels.min()}; expected labels >= 0")
    return labels.astype(np.int64)


def _class_names(classes: np.ndarray | None, labels: np.ndarray, path: Path) -> list[str]:
    if classes is None:
        return [str(label) for label in range(int(labels.max()) + 1 if len(labels) else 0)]
    if classes.ndim != 1 or classes.dtype.kind not in "US":
        raise DataFormatError(f"{path}: classes is {classes.dtype} {classes.shape}; expected strings (K,)")
    return [str(name) for name in classes]


def _class_folders(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir() if path.is_dir())


def _image_files(folder: Path) -> list[Path]:
    return [path for path in sorted(folder.glob("*/*")) if path.suffix.lower() in IMAGE_SUFFIXES]


def _pillow():
    try:
        from PIL import Image
    except ImportError:
        raise DataFormatError("data.dataset = 'folder' reads image files with Pillow: pip install 'scratchgrad[plot]' "
                              "(or pillow), or save your images as a .npz and use data.dataset = 'npz'") from None
    return Image


def _mode(path: Path) -> str:
    with _pillow().open(path) as image:
        return image.mode


def _read_image(path: Path, mode: str) -> np.ndarray:
    """(C, H, W) uint8."""
    try:
        with _pillow().open(path) as image:
            array = np.asarray(image.convert(mode), dtype=np.uint8)
    except OSError as error:
        raise DataFormatError(f"{path}: not a readable image ({error})") from None
    return array[None] if array.ndim == 2 else array.transpose(2, 0, 1)


def _size(shape: tuple[int, ...]) -> str:
    return f"{shape[2]}x{shape[1]}"
