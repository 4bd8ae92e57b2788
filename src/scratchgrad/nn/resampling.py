"""Padding, pixel shuffling and interpolation: ``F.pad``, ``F.pixel_shuffle``, ``F.interpolate``.

All are compositions of indexing, reshapes and arithmetic (no backward of their own): a mode
of padding or an interpolation is a choice of source index (and weight) per output position
along each spatial axis, and indexing already differentiates into a scatter-add.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..ops.shape import pad as constant_pad
from ..tensor import Tensor

__all__ = ["pad", "pixel_shuffle", "pixel_unshuffle", "interpolate"]

_PAD_MODES = ("constant", "reflect", "replicate", "circular")


def _take(x: Tensor, axis: int, index: np.ndarray) -> Tensor:
    """``x`` indexed along ``axis`` by an int array (a differentiable gather)."""
    return x[(slice(None),) * axis + (index,)]


def _pad_index(n: int, before: int, after: int, mode: str) -> np.ndarray:
    """For positions -before .. n-1+after, the source position of each under ``mode``."""
    positions = np.arange(-before, n + after)
    if mode == "replicate":
        return np.clip(positions, 0, n - 1)
    if mode == "circular":
        return positions % n
    period = 2 * (n - 1)  # reflect, the edge value not repeated
    folded = np.abs(positions) % period if period else np.zeros_like(positions)
    return np.where(folded > n - 1, period - folded, folded)


def pad(input: Tensor, pad: Sequence[int], mode: str = "constant", value: float | None = None) -> Tensor:
    """Pad the last ``len(pad) // 2`` dims: ``pad`` lists (before, after) pairs, last dim first.

    Args:
        input: the tensor to pad.
        pad: (left, right[, top, bottom[, front, back]]) widths.
        mode: ``'constant'`` (``value``), ``'reflect'`` (mirrored without repeating the edge;
            widths below the dim's size), ``'replicate'`` (the edge repeated) or ``'circular'``
            (wrapped around; widths at most the dim's size).
        value: the fill of ``'constant'`` mode. Default: 0.
    """
    if mode not in _PAD_MODES:
        raise NotImplementedError(f"pad: mode must be one of {_PAD_MODES}, got {mode!r}")
    if len(pad) % 2 or len(pad) // 2 > input.ndim:
        raise RuntimeError(f"pad: expected (before, after) pairs for at most {input.ndim} dims, got {tuple(pad)}")
    if mode == "constant":
        return constant_pad(input, pad, "constant", 0.0 if value is None else value)
    if value:
        raise ValueError(f"pad: padding mode {mode!r} doesn't take in value argument, got value={value}")
    dims = len(pad) // 2
    if not 1 <= dims <= 3 or input.ndim not in (dims + 1, dims + 2):
        raise NotImplementedError(f"pad: {mode!r} pads the last 1-3 dims of a (N, C, ...) or (C, ...) input; "
                                  f"got pad {tuple(pad)} for an input of shape {input.shape}")
    out = input
    for k in range(dims):
        axis, (before, after) = input.ndim - 1 - k, pad[2 * k: 2 * k + 2]
        n = input.shape[axis]
        limit = n - 1 if mode == "reflect" else n
        if mode != "replicate" and max(before, after) > limit:
            raise RuntimeError(f"pad: {mode} padding of ({before}, {after}) must be at most {limit} "
                               f"for dim {axis} of size {n} (input shape {input.shape})")
        if min(before, after) < 0:
            raise NotImplementedError(f"pad: negative widths are not supported in {mode!r} mode, got {tuple(pad)}")
        out = _take(out, axis, _pad_index(n, before, after, mode))
    return out


def pixel_shuffle(input: Tensor, upscale_factor: int) -> Tensor:
    """(*, C r^2, H, W) -> (*, C, H r, W r): each group of r^2 channels becomes an r x r block."""
    r = upscale_factor
    *lead, channels, h, w = input.shape
    if channels % (r * r):
        raise RuntimeError(f"pixel_shuffle expects its input's 'channel' dimension to be divisible by the square of "
                           f"upscale_factor, but input.size(-3)={channels} is not divisible by {r * r}")
    k = len(lead)
    x = input.reshape(*lead, channels // (r * r), r, r, h, w)
    x = x.permute(*range(k), k, k + 3, k + 1, k + 4, k + 2)
    return x.reshape(*lead, channels // (r * r), h * r, w * r)


def pixel_unshuffle(input: Tensor, downscale_factor: int) -> Tensor:
    """(*, C, H r, W r) -> (*, C r^2, H, W), the inverse of :func:`pixel_shuffle`."""
    r = downscale_factor
    *lead, channels, h, w = input.shape
    if h % r or w % r:
        raise RuntimeError(f"pixel_unshuffle expects height and width to be divisible by downscale_factor={r}, got {h} x {w}")
    k = len(lead)
    x = input.reshape(*lead, channels, h // r, r, w // r, r)
    x = x.permute(*range(k), k, k + 2, k + 4, k + 1, k + 3)
    return x.reshape(*lead, channels * r * r, h // r, w // r)


_MODES = {"nearest": (3, 4, 5), "linear": (3,), "bilinear": (4,), "area": (4,)}


def interpolate(
    input: Tensor, size: int | Sequence[int] | None = None, scale_factor: float | Sequence[float] | None = None,
    mode: str = "nearest", align_corners: bool | None = None, recompute_scale_factor: bool | None = None,
    antialias: bool = False,
) -> Tensor:
    """Resize the spatial dims of an (N, C, *spatial) input (PyTorch's index rules).

    Args:
        input: (N, C, L), (N, C, H, W) (or 5-D for ``'nearest'``).
        size: the output's spatial size; or
        scale_factor: its ratio to the input's (output size floor(n * scale)).
        mode: ``'nearest'``, ``'linear'`` (3-D), ``'bilinear'`` (4-D) or ``'area'`` (adaptive
            average pooling).
        align_corners: for the linear modes, map the corner pixels' centres onto each other
            (``True``) or their edges (``False``, the default).
        recompute_scale_factor: with ``scale_factor``, derive the index scale from the output
            size instead of using ``1 / scale_factor``.
    """
    if mode not in _MODES:
        raise NotImplementedError(f"interpolate: mode must be one of {tuple(_MODES)}, got {mode!r}")
    if input.ndim not in _MODES[mode]:
        raise NotImplementedError(f"interpolate: mode {mode!r} expects a {' or '.join(f'{d}-D' for d in _MODES[mode])} "
                                  f"input, got shape {input.shape}")
    if antialias:
        raise NotImplementedError("interpolate: antialias=True is not supported")
    if align_corners is not None and mode not in ("linear", "bilinear"):
        raise ValueError("align_corners option can only be set with the interpolating modes: linear | bilinear")
    spatial = input.shape[2:]
    sizes, scales = _output_sizes(spatial, size, scale_factor, recompute_scale_factor)
    if mode == "area":
        from .functional import adaptive_avg_pool2d

        return adaptive_avg_pool2d(input, sizes)
    out = input
    for k, (n, m, scale) in enumerate(zip(spatial, sizes, scales)):
        axis = 2 + k
        if mode == "nearest":
            out = _take(out, axis, _nearest_index(n, m, scale))
        else:
            out = _linear(out, axis, n, m, scale, bool(align_corners))
    return out


def _output_sizes(spatial: tuple[int, ...], size: Any, scale_factor: Any, recompute: bool | None) -> tuple[list[int], list[Any]]:
    """Output sizes, and the scale each axis's index mapping uses (None: in / out)."""
    if (size is None) == (scale_factor is None):
        raise ValueError("interpolate: either size or scale_factor should be defined, not both")
    dims = len(spatial)
    if size is not None:
        sizes = list(size) if isinstance(size, (tuple, list)) else [size] * dims
        if len(sizes) != dims:
            raise ValueError(f"interpolate: size {size} does not match the {dims} spatial dims of the input")
        return [int(s) for s in sizes], [None] * dims
    factors = list(scale_factor) if isinstance(scale_factor, (tuple, list)) else [scale_factor] * dims
    if len(factors) != dims:
        raise ValueError(f"interpolate: scale_factor {scale_factor} does not match the {dims} spatial dims of the input")
    sizes = [int(math.floor(float(n) * float(f))) for n, f in zip(spatial, factors)]
    return sizes, ([None] * dims if recompute else [float(f) for f in factors])


def _nearest_index(n: int, m: int, scale_factor: float | None) -> np.ndarray:
    """floor(dst * scale), in float32 as PyTorch's kernel computes it."""
    scale = np.float32(1.0 / scale_factor) if scale_factor else np.float32(n) / np.float32(m)
    return np.minimum(np.floor(np.arange(m, dtype=np.float32) * scale).astype(np.int64), n - 1)


def _linear(x: Tensor, axis: int, n: int, m: int, scale_factor: float | None, align_corners: bool) -> Tensor:
    """Linear interpolation along one axis: each output mixes its two nearest inputs."""
    real = np.float32 if x.dtype == np.float32 else np.float64  # PyTorch computes the weights in the input's precision
    if align_corners:
        scale = real((n - 1) / (m - 1)) if m > 1 else real(0)
        source = np.arange(m, dtype=real) * scale
    else:
        scale = real(1.0 / scale_factor) if scale_factor else real(n) / real(m)
        source = np.maximum(scale * (np.arange(m, dtype=real) + real(0.5)) - real(0.5), real(0))
    low = source.astype(np.int64)
    high = low + (low < n - 1)
    weight = np.clip(source - low, 0, 1).astype(x.dtype)
    shape = [1] * x.ndim
    shape[axis] = m
    weight_t = Tensor(x.xp.asarray(weight.reshape(shape)))
    return _take(x, axis, low) * (1 - weight_t) + _take(x, axis, high) * weight_t
