"""Reference kernels: each op family written plainly, for reading and as the tests' oracle.

No blocking, no threads, no recycled memory, no layout tricks: arrays in (N, C, H, W), one
formula per function, and loops over kernel taps or output positions where that is the
clearest statement. They are slow; the fast kernels beside them (``conv``, ``pool``,
``batchnorm``) must give the same values up to float rounding. The convolution reference can
also run in a network: ``scratchgrad.backends.conv.algorithm = "reference"``.
"""
from __future__ import annotations

from typing import Any

from ..backend import get_array_module
from .geometry import ConvGeometry


def _pad(x: Any, padding: tuple[int, int], fill: float = 0.0) -> Any:
    """(N, C, H, W) -> (N, C, H + 2 ph, W + 2 pw), the border filled with ``fill``."""
    (ph, pw), xp = padding, get_array_module(x)
    return xp.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=fill)


def _unpad(x: Any, padding: tuple[int, int]) -> Any:
    (ph, pw), (hp, wp) = padding, x.shape[2:]
    return x[:, :, ph : hp - ph, pw : wp - pw]


def _by_groups(a: Any, groups: int) -> Any:
    """(N, C, ...) -> (N, G, C/G, ...)."""
    return a.reshape((a.shape[0], groups, a.shape[1] // groups) + a.shape[2:])


# ---------------------------------------------------------------------------------- convolution
# y[n, o, p, q] = sum over c, i, j of x_padded[n, c, p * sh + i * dh, q * sw + j * dw] * w[o, c, i, j]
# (c within o's group): for kernel tap (i, j) the positions read are the strided window
# ``geometry.window(i, j)`` of the padded input, and each tap adds one product over channels.

def conv2d(x: Any, w: Any, geometry: ConvGeometry) -> Any:
    """(N, C_in, H, W), (C_out, C_in/G, kh, kw) -> (N, C_out, H_out, W_out)."""
    xp, groups, (kh, kw) = get_array_module(x), geometry.groups, geometry.kernel_hw
    x_g, w_g = _by_groups(_pad(x, geometry.padding), groups), w.reshape((groups, -1) + w.shape[1:])
    y = xp.zeros((x.shape[0], groups, w_g.shape[1]) + geometry.output_hw, dtype=xp.result_type(x, w))
    for i in range(kh):
        for j in range(kw):
            rows, columns = geometry.window(i, j)
            y += xp.einsum("ngchw,goc->ngohw", x_g[..., rows, columns], w_g[..., i, j])
    return y.reshape((y.shape[0], -1) + geometry.output_hw)


def conv2d_input_grad(grad_y: Any, w: Any, geometry: ConvGeometry) -> Any:
    """dL/dx from dL/dy (N, C_out, H_out, W_out): each tap's product sent back to the positions it read."""
    xp, groups, (kh, kw) = get_array_module(grad_y), geometry.groups, geometry.kernel_hw
    gy_g, w_g = _by_groups(grad_y, groups), w.reshape((groups, -1) + w.shape[1:])
    grad_x = xp.zeros((grad_y.shape[0], groups, w.shape[1]) + geometry.padded_hw, dtype=xp.result_type(grad_y, w))
    for i in range(kh):
        for j in range(kw):
            rows, columns = geometry.window(i, j)  # distinct positions within one tap: += adds each once
            grad_x[..., rows, columns] += xp.einsum("ngohw,goc->ngchw", gy_g, w_g[..., i, j])
    return _unpad(grad_x.reshape((grad_x.shape[0], -1) + geometry.padded_hw), geometry.padding)


def conv2d_weight_grad(x: Any, grad_y: Any, geometry: ConvGeometry) -> Any:
    """dL/dw (C_out, C_in/G, kh, kw): per tap, the correlation of the window it read with dL/dy."""
    xp, groups, (kh, kw) = get_array_module(x), geometry.groups, geometry.kernel_hw
    x_g, gy_g = _by_groups(_pad(x, geometry.padding), groups), _by_groups(grad_y, groups)
    grad_w = xp.zeros((groups, gy_g.shape[2], x_g.shape[2], kh, kw), dtype=xp.result_type(x, grad_y))
    for i in range(kh):
        for j in range(kw):
            rows, columns = geometry.window(i, j)
            grad_w[..., i, j] = xp.einsum("ngchw,ngohw->goc", x_g[..., rows, columns], gy_g)
    return grad_w.reshape((-1,) + grad_w.shape[2:])


def _nchw(a: Any) -> Any:
    """(H, W, N, C) <-> (N, C, H, W): the permutation is its own inverse."""
    return a.transpose(2, 3, 0, 1)


class ReferenceConvKernel:
    """The reference convolution behind the interface of the fast kernels (``kernels/conv.py``):
    arrays in their (H, W, N, C) order in and out."""

    def __init__(self, geometry: ConvGeometry):
        self.geometry = geometry

    def forward(self, x: Any, w: Any, keep_input: bool = False) -> Any:
        return _nchw(conv2d(_nchw(x), w, self.geometry))

    def input_grad(self, grad_y: Any, w: Any) -> Any:
        return _nchw(conv2d_input_grad(_nchw(grad_y), w, self.geometry))

    def weight_grad(self, x: Any, grad_y: Any) -> Any:
        return conv2d_weight_grad(_nchw(x), _nchw(grad_y), self.geometry)

    def backward(self, x: Any | None, w: Any | None, grad_y: Any) -> tuple[Any, Any]:
        return (None if w is None else self.input_grad(grad_y, w)), (None if x is None else self.weight_grad(x, grad_y))


# -------------------------------------------------------------------------------------- pooling
# Output (p, q) reduces the window of the padded input that starts at (p * sh, q * sw), with
# taps dilation apart; a loop over output positions, one window at a time.

def _window(geometry: ConvGeometry, p: int, q: int) -> tuple[slice, slice]:
    (kh, kw), (sh, sw), (dh, dw) = geometry.kernel_hw, geometry.stride, geometry.dilation
    return slice(p * sh, p * sh + dh * (kh - 1) + 1, dh), slice(q * sw, q * sw + dw * (kw - 1) + 1, dw)


def _positions(geometry: ConvGeometry) -> list[tuple[int, int]]:
    oh, ow = geometry.output_hw
    return [(p, q) for p in range(oh) for q in range(ow)]


def max_pool2d(x: Any, geometry: ConvGeometry) -> Any:
    """(N, C, H, W) -> (N, C, H_out, W_out): the largest value of each window (padding is -inf)."""
    xp, padded = get_array_module(x), _pad(x, geometry.padding, fill=-float("inf"))
    out = xp.empty(x.shape[:2] + geometry.output_hw, dtype=x.dtype)
    for p, q in _positions(geometry):
        out[:, :, p, q] = padded[(...,) + _window(geometry, p, q)].max(axis=(2, 3))
    return out


def max_pool2d_grad(x: Any, grad_out: Any, geometry: ConvGeometry) -> Any:
    """dL/dx: each output's gradient goes to the first position (row-major in its window) holding the max."""
    xp, padded = get_array_module(x), _pad(x, geometry.padding, fill=-float("inf"))
    grad = xp.zeros(padded.shape, dtype=grad_out.dtype)
    (kh, kw), (dh, dw), (n, c) = geometry.kernel_hw, geometry.dilation, x.shape[:2]
    images, channels = xp.meshgrid(xp.arange(n), xp.arange(c), indexing="ij")
    for p, q in _positions(geometry):
        rows, columns = _window(geometry, p, q)
        first_max = padded[:, :, rows, columns].reshape(n, c, -1).argmax(axis=2)  # argmax: the first maximal tap
        grad[images, channels, rows.start + first_max // kw * dh, columns.start + first_max % kw * dw] += grad_out[:, :, p, q]
    return _unpad(grad, geometry.padding)


def _divisors(geometry: ConvGeometry, count_include_pad: bool, divisor_override: int | None, xp: Any) -> Any:
    """(H_out, W_out): the number each window's sum is divided by."""
    if divisor_override:
        return xp.full(geometry.output_hw, float(divisor_override))
    inside = _pad(xp.ones((1, 1) + geometry.input_hw), geometry.padding)
    counts = xp.empty(geometry.output_hw)
    for p, q in _positions(geometry):
        window = inside[(0, 0) + _window(geometry, p, q)]
        counts[p, q] = window.size if count_include_pad else window.sum()
    return counts


def avg_pool2d(x: Any, geometry: ConvGeometry, count_include_pad: bool = True, divisor_override: int | None = None) -> Any:
    """(N, C, H, W) -> (N, C, H_out, W_out): each window's sum over its divisor (padding counts as 0)."""
    xp, padded = get_array_module(x), _pad(x, geometry.padding)
    sums = xp.empty(x.shape[:2] + geometry.output_hw, dtype=x.dtype)
    for p, q in _positions(geometry):
        sums[:, :, p, q] = padded[(...,) + _window(geometry, p, q)].sum(axis=(2, 3))
    return (sums / _divisors(geometry, count_include_pad, divisor_override, xp)).astype(x.dtype)


def avg_pool2d_grad(grad_out: Any, geometry: ConvGeometry, count_include_pad: bool = True,
                    divisor_override: int | None = None) -> Any:
    """dL/dx: each output's gradient over its divisor, added to every position of its window."""
    xp = get_array_module(grad_out)
    shares = grad_out / _divisors(geometry, count_include_pad, divisor_override, xp)
    grad = xp.zeros(grad_out.shape[:2] + geometry.padded_hw, dtype=grad_out.dtype)
    for p, q in _positions(geometry):
        grad[(...,) + _window(geometry, p, q)] += shares[:, :, p, q, None, None]
    return _unpad(grad, geometry.padding)


# ---------------------------------------------------------------------------------- batch norm
# Per channel c: y = (x - mean) / sqrt(var + eps) * weight + bias, mean and (biased) var over
# every axis but the channels, from the batch when training, given otherwise.

def _per_channel(values: Any, ndim: int) -> Any:
    """(C,) -> (1, C, 1, ...), broadcastable against (N, C, *)."""
    return values.reshape((1, -1) + (1,) * (ndim - 2))


def batch_norm(x: Any, weight: Any, bias: Any, mean: Any, var: Any, eps: float) -> tuple[Any, Any, Any]:
    """(N, C, *) -> (output, mean, var): with the batch's statistics when ``mean`` and ``var``
    are None; ``weight`` and ``bias`` may be None (1 and 0)."""
    axes = (0,) + tuple(range(2, x.ndim))
    if mean is None:
        mean, var = x.mean(axis=axes), x.var(axis=axes)
    out = (x - _per_channel(mean, x.ndim)) / get_array_module(x).sqrt(_per_channel(var, x.ndim) + eps)
    if weight is not None:
        out = out * _per_channel(weight, x.ndim)
    if bias is not None:
        out = out + _per_channel(bias, x.ndim)
    return out, mean, var


def batch_norm_grad(x: Any, weight: Any, grad: Any, mean: Any, var: Any, eps: float, batch_stats: bool) -> tuple[Any, Any, Any]:
    """(dL/dx, dL/dweight, dL/dbias). With batch statistics, which depend on x:
    dL/dx = (g - mean(g) - xhat * mean(g * xhat)) / sqrt(var + eps), g = dL/dy * weight."""
    axes = (0,) + tuple(range(2, x.ndim))
    invstd = 1 / get_array_module(x).sqrt(_per_channel(var, x.ndim) + eps)
    xhat = (x - _per_channel(mean, x.ndim)) * invstd
    g = grad if weight is None else grad * _per_channel(weight, x.ndim)
    if batch_stats:
        grad_x = (g - g.mean(axis=axes, keepdims=True) - xhat * (g * xhat).mean(axis=axes, keepdims=True)) * invstd
    else:
        grad_x = g * invstd
    return grad_x, (grad * xhat).sum(axis=axes), grad.sum(axis=axes)
