"""Batched data augmentation on uint8 image batches, seeded by one generator.

Every transform is called as ``t(batch, rng)`` with a batch (N, C, H, W) and a
``numpy.random.Generator``; each image gets its own random parameters, drawn from
``rng`` for the whole batch at once, so the same generator state gives the same batch.
Transforms return new arrays and never modify their input. All take and return uint8,
except ``Normalize``, which returns float32.

Semantics follow torchvision's transforms on uint8 tensors, with these differences:

* Random parameters come from NumPy, not ``torch``'s generator, so the random *draws*
  differ from torchvision's for the same seed (the distributions are the same).
* Rotation and affine warps use nearest-neighbour sampling (torchvision's default);
  other interpolations are not offered. ``RandomAffine`` rotates and translates only
  (no scale or shear); ``RandomCrop`` pads every side by one int with a constant fill.
* ``ColorJitter`` computes in float32 and rounds to the nearest integer once at the
  end; torchvision truncates to uint8 after every adjustment and uses a truncated uint8
  grayscale image for contrast and saturation, so results can differ by a few levels.
* ``Normalize`` also accepts uint8 and then divides by 255 first, like
  ``ToTensor()`` followed by ``Normalize``.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from . import color
from .geometry import affine_inverse, rotation_inverse, warp_nearest

Transform = Callable[[np.ndarray, np.random.Generator], np.ndarray]

CIFAR10_MEAN_STD = ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
MNIST_MEAN_STD = ((0.1307,), (0.3081,))
STUDY_DATASETS = ("mnist", "fashion-mnist", "cifar10")
AUGMENT_PRESETS = ("none", "study", "study+jitter", "crop+flip")


class Compose:
    """Apply ``transforms`` in order, all drawing from the same generator."""

    def __init__(self, transforms: Sequence[Transform]):
        self.transforms = list(transforms)

    def __call__(self, batch: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        for transform in self.transforms:
            batch = transform(batch, rng)
        return batch

    def __repr__(self) -> str:
        inner = "".join(f"\n    {transform!r}," for transform in self.transforms)
        return f"Compose([{inner}\n])"


class RandomHorizontalFlip:
    """Mirror each image left-right with probability ``p``."""

    def __init__(self, p: float = 0.5):
        self.p = _probability(p, "p")

    def __call__(self, batch: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        _check_batch(batch, self)
        flipped = rng.random(len(batch)) < self.p
        out = batch.copy()
        out[flipped] = batch[flipped, :, :, ::-1]
        return out

    def __repr__(self) -> str:
        return f"RandomHorizontalFlip(p={self.p})"


class RandomRotation:
    """Rotate each image by an angle drawn uniformly from ``degrees``, counter-clockwise.

    Args:
        degrees: d for the range (-d, d), or a (min, max) pair.
        fill: value of pixels that come from outside the image.
    """

    def __init__(self, degrees: float | Sequence[float], fill: float = 0):
        self.degrees = _symmetric_range(degrees, "degrees")
        self.fill = fill

    def __call__(self, batch: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        _check_batch(batch, self)
        angles = rng.uniform(*self.degrees, size=len(batch))
        return warp_nearest(batch, rotation_inverse(angles), self.fill)

    def __repr__(self) -> str:
        return f"RandomRotation(degrees={self.degrees}, fill={self.fill})"


class RandomAffine:
    """Rotate (clockwise, as torchvision's affine does) and shift each image at random.

    Args:
        degrees: d for the range (-d, d), or a (min, max) pair; 0 for no rotation.
        translate: (a, b): shifts drawn from [-a*W, a*W] and [-b*H, b*H], rounded to
            whole pixels like torchvision; None for no shift.
        fill: value of pixels that come from outside the image.
    """

    def __init__(self, degrees: float | Sequence[float] = 0,
                 translate: Sequence[float] | None = None, fill: float = 0):
        self.degrees = _symmetric_range(degrees, "degrees")
        if translate is not None:
            translate = tuple(float(t) for t in translate)
            if len(translate) != 2 or not all(0 <= t <= 1 for t in translate):
                raise ValueError(f"translate: expected two fractions in [0, 1], got {translate}")
        self.translate = translate
        self.fill = fill

    def __call__(self, batch: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        _check_batch(batch, self)
        n, _, h, w = batch.shape
        angles = rng.uniform(*self.degrees, size=n)
        shift_x = shift_y = np.zeros(n)
        if self.translate is not None:
            max_x, max_y = self.translate[0] * w, self.translate[1] * h
            shift_x = np.rint(rng.uniform(-max_x, max_x, size=n))
            shift_y = np.rint(rng.uniform(-max_y, max_y, size=n))
        return warp_nearest(batch, affine_inverse(angles, shift_x, shift_y), self.fill)

    def __repr__(self) -> str:
        return f"RandomAffine(degrees={self.degrees}, translate={self.translate}, fill={self.fill})"


class ColorJitter:
    """Randomly change brightness, contrast, saturation and hue, in a random order per image.

    Args:
        brightness, contrast, saturation: b for factors drawn from [max(0, 1 - b), 1 + b],
            or a (min, max) pair; 0 leaves the property alone.
        hue: h in [0, 0.5] for hue shifts drawn from [-h, h] turns, or a pair.

    On a 1-channel batch only brightness and contrast change: saturation and hue are
    not defined for grey images (torchvision leaves them alone too).
    """

    def __init__(self, brightness: float | Sequence[float] = 0, contrast: float | Sequence[float] = 0,
                 saturation: float | Sequence[float] = 0, hue: float | Sequence[float] = 0):
        self.ranges = {
            color.adjust_brightness: _factor_range(brightness, "brightness"),
            color.adjust_contrast: _factor_range(contrast, "contrast"),
            color.adjust_saturation: _factor_range(saturation, "saturation"),
            color.adjust_hue: _hue_range(hue),
        }

    def __call__(self, batch: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        _check_batch(batch, self, dtype=np.uint8)
        n, channels = batch.shape[:2]
        needs_rgb = (color.adjust_saturation, color.adjust_hue)
        adjustments = [(adjust, bounds) for adjust, bounds in self.ranges.items()
                       if bounds is not None and (channels == 3 or adjust not in needs_rgb)]
        if channels not in (1, 3) and adjustments:
            raise ValueError(f"ColorJitter: expected 1 or 3 channels, got batch {batch.shape}")
        factors = [rng.uniform(*bounds, size=n).astype(np.float32) for _, bounds in adjustments]
        orders = rng.permuted(np.tile(np.arange(len(adjustments)), (n, 1)), axis=1)
        planes = batch.transpose(1, 0, 2, 3).astype(np.float32, order="C")  # see color
        for step in range(len(adjustments)):
            for which, (adjust, _) in enumerate(adjustments):
                chosen = orders[:, step] == which
                if chosen.all():
                    adjust(planes, factors[which])
                elif chosen.any():
                    planes[:, chosen] = adjust(planes[:, chosen], factors[which][chosen])
        planes += 0.5  # values are in [0, 255]: adding 0.5 then truncating rounds them
        out = np.empty_like(batch)
        np.copyto(out.transpose(1, 0, 2, 3), planes, casting="unsafe")
        return out

    def __repr__(self) -> str:
        names = ("brightness", "contrast", "saturation", "hue")
        return f"ColorJitter({', '.join(f'{k}={v}' for k, v in zip(names, self.ranges.values()))})"


class RandomCrop:
    """Pad each side by ``padding`` pixels of ``fill``, then crop ``size`` at a random place.

    Args:
        size: output side s for (s, s), or (height, width).
        padding: pixels added on every side before cropping.
    """

    def __init__(self, size: int | Sequence[int], padding: int = 0, fill: float = 0):
        self.size = (int(size), int(size)) if np.isscalar(size) else tuple(int(s) for s in size)
        if len(self.size) != 2 or min(self.size) < 1:
            raise ValueError(f"size: expected a positive int or (height, width), got {size!r}")
        if padding < 0:
            raise ValueError(f"padding: expected a non-negative int, got {padding}")
        self.padding, self.fill = int(padding), fill

    def __call__(self, batch: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """(N, C, H, W) -> (N, C, *size)."""
        _check_batch(batch, self)
        n, _, h, w = batch.shape
        pad, (crop_h, crop_w) = self.padding, self.size
        if crop_h > h + 2 * pad or crop_w > w + 2 * pad:
            raise ValueError(f"RandomCrop: size {self.size} exceeds padded image {h + 2 * pad}x{w + 2 * pad}")
        padded = np.pad(batch, ((0, 0), (0, 0), (pad, pad), (pad, pad)), constant_values=self.fill)
        tops = rng.integers(0, h + 2 * pad - crop_h + 1, size=n)
        lefts = rng.integers(0, w + 2 * pad - crop_w + 1, size=n)
        windows = np.lib.stride_tricks.sliding_window_view(padded, (crop_h, crop_w), axis=(2, 3))
        return windows[np.arange(n), :, tops, lefts]

    def __repr__(self) -> str:
        return f"RandomCrop(size={self.size}, padding={self.padding}, fill={self.fill})"


class Normalize:
    """``(x - mean) / std`` per channel, returning float32.

    uint8 input is first divided by 255 (as ``ToTensor`` does); float input is taken to
    be in [0, 1] already. ``mean``/``std`` hold one value per channel, or one for all.
    """

    def __init__(self, mean: float | Sequence[float], std: float | Sequence[float]):
        self.mean = np.atleast_1d(np.asarray(mean, dtype=np.float32))
        self.std = np.atleast_1d(np.asarray(std, dtype=np.float32))
        if self.mean.ndim != 1 or self.std.shape != self.mean.shape or (self.std <= 0).any():
            raise ValueError(f"mean, std: expected equal-length sequences with std > 0, "
                             f"got mean={mean!r}, std={std!r}")

    def __call__(self, batch: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        _check_batch(batch, self)
        if len(self.mean) not in (1, batch.shape[1]):
            raise ValueError(f"Normalize: {len(self.mean)} means for a batch with "
                             f"{batch.shape[1]} channels {batch.shape}")
        out = to_float(batch)
        out -= self.mean[:, None, None]
        out /= self.std[:, None, None]
        return out

    def __repr__(self) -> str:
        return f"Normalize(mean={self.mean.tolist()}, std={self.std.tolist()})"


def to_float(batch: np.ndarray) -> np.ndarray:
    """A float32 copy of ``batch``; uint8 values are divided by 255 into [0, 1]."""
    if batch.dtype == np.uint8:
        return np.divide(batch, np.float32(255), dtype=np.float32)
    return batch.astype(np.float32)


def study_preset(dataset: str, jitter: bool = False, train: bool = True,
                 normalize: bool = True) -> Compose:
    """The augmentation pipeline of the study being reproduced.

    CIFAR-10: rotation 15, horizontal flip, translation 0.1 (+ ColorJitter(0.2, 0.2, 0.2,
    0.1)), normalise with mean = std = 0.5. MNIST and Fashion-MNIST: rotation 15,
    horizontal flip (+ the same jitter, of which only brightness and contrast apply),
    normalise with 0.1307 / 0.3081.

    Args:
        dataset: one of ``STUDY_DATASETS``.
        jitter: add the ColorJitter step.
        train: False gives the evaluation pipeline, normalisation only.
        normalize: False leaves out normalisation (for viewing augmented images).
    """
    if dataset not in STUDY_DATASETS:
        raise ValueError(f"dataset: expected one of {STUDY_DATASETS}, got {dataset!r}")
    steps: list[Transform] = []
    if train:
        steps += [RandomRotation(15), RandomHorizontalFlip()]
        if dataset == "cifar10":
            steps.append(RandomAffine(degrees=0, translate=(0.1, 0.1)))
        if jitter:
            steps.append(ColorJitter(0.2, 0.2, 0.2, 0.1))
    if normalize:
        steps.append(Normalize(*(CIFAR10_MEAN_STD if dataset == "cifar10" else MNIST_MEAN_STD)))
    return Compose(steps)


def augment_preset(name: str, dataset: str, image_size: int, train: bool = True,
                   normalize: bool = True) -> Compose:
    """A named training pipeline: the study's, or the usual crop-and-flip recipe.

    ``"none"``: normalisation only. ``"study"`` and ``"study+jitter"``: ``study_preset``.
    ``"crop+flip"``: pad every side by an eighth of the image's side (4 pixels on 32x32, as in
    the common CIFAR-10 recipe; 3 on 28x28), crop back at a random place, flip horizontally;
    not the study's (it rotates MNIST and Fashion-MNIST instead of translating them).

    Args:
        name: one of ``AUGMENT_PRESETS``.
        dataset: one of ``STUDY_DATASETS``; picks the normalisation.
        image_size: the side of the (square) images, which ``"crop+flip"`` crops back to.
        train: False gives the evaluation pipeline, normalisation only, whatever ``name`` is.
        normalize: False leaves out normalisation (for viewing augmented images).
    """
    if name not in AUGMENT_PRESETS:
        raise ValueError(f"name: expected one of {AUGMENT_PRESETS}, got {name!r}")
    if name != "crop+flip" or not train:
        return study_preset(dataset, jitter=name == "study+jitter", train=train and name != "none",
                            normalize=normalize)
    steps = [RandomCrop(image_size, padding=image_size // 8), RandomHorizontalFlip()]
    return Compose(steps + study_preset(dataset, train=False, normalize=normalize).transforms)


def _check_batch(batch: np.ndarray, transform: object, dtype: type | None = None) -> None:
    if not isinstance(batch, np.ndarray) or batch.ndim != 4 or (dtype and batch.dtype != dtype):
        shown = f"{batch.dtype} {batch.shape}" if isinstance(batch, np.ndarray) else type(batch).__name__
        wanted = f"a {np.dtype(dtype)} array" if dtype else "an array"
        raise ValueError(f"{type(transform).__name__}: expected {wanted} (N, C, H, W), got {shown}")


def _symmetric_range(value: float | Sequence[float], name: str) -> tuple[float, float]:
    low, high = (-float(value), float(value)) if np.isscalar(value) else map(float, value)
    if low > high or (np.isscalar(value) and high < 0):
        raise ValueError(f"{name}: expected a non-negative number or (min, max), got {value!r}")
    return low, high


def _factor_range(value: float | Sequence[float], name: str) -> tuple[float, float] | None:
    if np.isscalar(value):
        if value < 0:
            raise ValueError(f"{name}: expected a non-negative number, got {value}")
        return (max(0.0, 1.0 - value), 1.0 + value) if value > 0 else None
    low, high = map(float, value)
    if not 0 <= low <= high:
        raise ValueError(f"{name}: expected (min, max) with 0 <= min <= max, got {value!r}")
    return None if low == high == 1 else (low, high)


def _hue_range(value: float | Sequence[float]) -> tuple[float, float] | None:
    low, high = (-float(value), float(value)) if np.isscalar(value) else map(float, value)
    if not -0.5 <= low <= high <= 0.5:
        raise ValueError(f"hue: expected h in [0, 0.5] or (min, max) within [-0.5, 0.5], got {value!r}")
    return None if low == high == 0 else (low, high)


def _probability(value: float, name: str) -> float:
    if not 0 <= value <= 1:
        raise ValueError(f"{name}: expected a probability in [0, 1], got {value}")
    return float(value)
