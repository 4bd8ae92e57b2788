"""Nearest-neighbour warps of whole image batches, in torchvision's coordinate convention.

Coordinates are centred: x to the right, y downwards, origin at the image centre, so
pixel (row i, column j) sits at ``(j - (W - 1) / 2, i - (H - 1) / 2)``. A transform is
given by its *inverse* 2x3 matrix, which maps each output pixel to the input point it
samples (as torchvision's ``_get_inverse_affine_matrix`` and ``grid_sample`` with
``align_corners=False`` do). The sample is the nearest input pixel, ties rounding to
even like ``grid_sample``'s nearest mode; points outside the image take ``fill``.
"""
from __future__ import annotations

import numpy as np

# Images are warped in blocks of about this many pixels, so that the temporaries stay
# in cache and small enough for malloc to reuse (large ones cost fresh page faults).
_BLOCK_PIXELS = 16384


def rotation_inverse(degrees: np.ndarray) -> np.ndarray:
    """Inverse matrices (N, 2, 3) of counter-clockwise rotations by ``degrees`` (N,).

    Counter-clockwise as seen on screen, like ``torchvision.transforms.functional.rotate``.
    """
    return affine_inverse(-np.asarray(degrees, dtype=np.float64), 0.0, 0.0)


def affine_inverse(degrees: np.ndarray, tx: np.ndarray | float, ty: np.ndarray | float) -> np.ndarray:
    """Inverse matrices (N, 2, 3) of "rotate clockwise by ``degrees``, then shift by (tx, ty)".

    Clockwise for positive angles, like ``torchvision.transforms.functional.affine``.
    The forward map is ``out = R @ in + t``; its inverse is ``in = R.T @ (out - t)``.
    """
    theta = np.deg2rad(np.asarray(degrees, dtype=np.float64))
    cos, sin = np.cos(theta), np.sin(theta)
    tx = np.broadcast_to(np.asarray(tx, dtype=np.float64), theta.shape)
    ty = np.broadcast_to(np.asarray(ty, dtype=np.float64), theta.shape)
    inverse = np.empty(theta.shape + (2, 3))
    inverse[..., 0, 0], inverse[..., 0, 1] = cos, sin
    inverse[..., 1, 0], inverse[..., 1, 1] = -sin, cos
    inverse[..., 0, 2] = -(cos * tx + sin * ty)
    inverse[..., 1, 2] = sin * tx - cos * ty
    return inverse


def warp_nearest(batch: np.ndarray, inverse: np.ndarray, fill: float = 0) -> np.ndarray:
    """Warp each image of ``batch`` (N, C, H, W) by its inverse matrix (N, 2, 3).

    Returns a new array of the same shape and dtype.
    """
    n, _, h, w = batch.shape
    out = np.empty_like(batch)
    step = max(1, _BLOCK_PIXELS // (h * w))
    for start in range(0, n, step):
        block = slice(start, start + step)
        out[block] = _warp_block(batch[block], inverse[block], fill)
    return out


def _warp_block(batch: np.ndarray, inverse: np.ndarray, fill: float) -> np.ndarray:
    n, c, h, w = batch.shape
    rows, cols = _source_pixels(inverse, h, w)
    # Pad every image with a border of `fill` wide enough to hold every out-of-image
    # source pixel, so the gather needs no bounds mask.
    border = int(max(0, -rows.min(), -cols.min(), rows.max() - (h - 1), cols.max() - (w - 1)))
    padded_w = w + 2 * border
    flat = (rows + border) * padded_w + (cols + border)
    flat = flat.astype(np.intp).reshape(n, h * w)
    flat += np.arange(n)[:, None] * ((h + 2 * border) * padded_w)
    # Channel-major padding lets each channel be one contiguous 1-D take.
    padded = np.full((c, n, h + 2 * border, padded_w), fill, dtype=batch.dtype)
    padded[:, :, border:border + h, border:border + w] = batch.transpose(1, 0, 2, 3)
    out = np.empty((n, c, h, w), dtype=batch.dtype)
    for channel in range(c):
        out[:, channel] = padded[channel].reshape(-1).take(flat).reshape(n, h, w)
    return out


def _source_pixels(inverse: np.ndarray, h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Row and column (N, H, W), as whole float32 numbers, that each output pixel samples."""
    m = inverse.astype(np.float32)[:, :, :, None, None]
    xs = np.arange(w, dtype=np.float32) - np.float32((w - 1) / 2)
    ys = (np.arange(h, dtype=np.float32) - np.float32((h - 1) / 2))[:, None]
    # Fold the constant terms into the smaller (N, 1, W) operand before broadcasting.
    cols = (m[:, 0, 0] * xs + (m[:, 0, 2] + np.float32((w - 1) / 2))) + m[:, 0, 1] * ys
    rows = (m[:, 1, 0] * xs + (m[:, 1, 2] + np.float32((h - 1) / 2))) + m[:, 1, 1] * ys
    return np.rint(rows, out=rows), np.rint(cols, out=cols)
