"""Colour adjustments of float32 image batches holding uint8-range values (0..255).

Batches here are *channel-major*, (C, N, H, W): each channel of the whole batch is
one contiguous block, which makes NumPy's per-channel arithmetic several times faster
than on (N, C, H, W) slices. Each function takes one factor per image (N,), updates
the batch in place and returns it, clamping to [0, 255] as torchvision's ``adjust_*``
functions clamp to the value range. Formulas follow ``torchvision.transforms.functional``.
"""
from __future__ import annotations

import numpy as np

# ITU-R 601-2 luma weights, as torchvision's rgb_to_grayscale uses.
LUMA = (0.2989, 0.587, 0.114)
# Hues of R, G, B in sixths of a turn: red at 0, green at 2, blue at 4.
_CHANNEL_HUES = (np.float32(0), np.float32(2), np.float32(4))


def grayscale(planes: np.ndarray) -> np.ndarray:
    """Luma (N, H, W) of an RGB batch (3, N, H, W), or the single channel of (1, N, H, W)."""
    if len(planes) == 1:
        return planes[0]
    gray = planes[0] * np.float32(LUMA[0])
    gray += planes[1] * np.float32(LUMA[1])
    gray += planes[2] * np.float32(LUMA[2])
    return gray


def adjust_brightness(planes: np.ndarray, factor: np.ndarray) -> np.ndarray:
    """Scale every value by ``factor`` (>= 0): 0 gives black, 1 the original."""
    planes *= _per_image(factor)
    return np.minimum(planes, 255, out=planes)


def adjust_contrast(planes: np.ndarray, factor: np.ndarray) -> np.ndarray:
    """Blend with the image's mean luma: 0 gives flat grey, 1 the original."""
    # The mean of the luma is the luma of the channel means: no per-pixel luma needed.
    channel_means = planes.mean(axis=(2, 3), dtype=np.float32)  # (C, N)
    weights = np.asarray(LUMA if len(planes) == 3 else (1.0,), dtype=np.float32)
    mean = (weights @ channel_means)[:, None, None]
    return _blend(planes, mean, _per_image(factor))


def adjust_saturation(planes: np.ndarray, factor: np.ndarray) -> np.ndarray:
    """Blend RGB with its per-pixel luma: 0 gives greyscale, 1 the original."""
    return _blend(planes, grayscale(planes), _per_image(factor))


def adjust_hue(planes: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """Rotate the HSV hue of an RGB batch (3, N, H, W) by ``shift`` turns, in [-0.5, 0.5].

    HSV is never built in full. A hue rotation keeps each pixel's largest (``high``)
    and smallest (``low``) channel value, and HSV-to-RGB gives every channel as
    ``low + (high - low) * w(hue - channel_hue)``, with hues in sixths of a turn and
    ``w`` the 6-periodic trapezoid that is 1 within 1 of a multiple of 6, 0 beyond 2,
    and linear between: ``w(y) = clip(2 - distance(y, nearest multiple of 6), 0, 1)``.
    """
    red, green, blue = planes
    high = np.maximum(np.maximum(red, green), blue)
    low = np.minimum(np.minimum(red, green), blue)
    spread = high - low
    hue = _hue_sixths(red, green, blue, high, spread)
    hue += _per_image(shift * 6)
    hue -= 6 * np.floor(hue * np.float32(1 / 6))  # into [0, 6)
    # Channel by channel into two scratch arrays: large temporaries cost page faults.
    offset, distance = np.empty_like(hue), np.empty_like(hue)
    for channel, channel_hue in enumerate(_CHANNEL_HUES):
        np.subtract(hue, channel_hue, out=offset)  # in (-4, 6): 0 and 6 are the nearest
        np.abs(offset, out=distance)
        np.abs(np.subtract(6, offset, out=offset), out=offset)
        np.minimum(distance, offset, out=distance)
        weight = np.clip(np.subtract(2, distance, out=distance), 0, 1, out=distance)
        weight *= spread
        np.add(weight, low, out=planes[channel])
    return planes


def _hue_sixths(red, green, blue, high, spread) -> np.ndarray:
    """HSV hue (N, H, W) in sixths of a turn, in [-1, 5]; 0 for grey pixels.

    Selects by multiplying with 0/1 masks rather than ``np.where``, which is several
    times slower on the unpredictable masks of real images.
    """
    is_red = high == red
    is_green = (high == green) & ~is_red
    is_blue = ~(is_red | is_green)
    numerator = (green - blue) * is_red
    numerator += (blue - red + 2 * spread) * is_green
    numerator += (red - green + 4 * spread) * is_blue
    numerator /= np.maximum(spread, np.finfo(np.float32).tiny)  # grey pixels: 0 / tiny
    return numerator


def _blend(planes: np.ndarray, other: np.ndarray, factor: np.ndarray) -> np.ndarray:
    """``factor * planes + (1 - factor) * other``, clamped to [0, 255], in place."""
    planes *= factor
    planes += (1 - factor) * other
    return np.clip(planes, 0, 255, out=planes)


def _per_image(values: np.ndarray) -> np.ndarray:
    """Per-image values (N,) shaped to broadcast against (N, H, W) or (C, N, H, W)."""
    return np.asarray(values, dtype=np.float32).reshape(-1, 1, 1)
