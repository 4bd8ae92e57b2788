"""The reference kernels (``kernels/reference.py``) against PyTorch, and the fast kernels against them.

The references are the oracle: first each is checked against torch in float64 (values and
gradients), then the fast pooling and BatchNorm kernels are checked against the references on
the same shapes. The convolution algorithms are checked against the reference in
``tests/backends/test_backends_conv.py``.
"""
from __future__ import annotations

import numpy as np
import pytest

from parity import torch

from scratchgrad.kernels import batchnorm, pool, reference
from scratchgrad.kernels.geometry import ConvGeometry

TF = torch.nn.functional
rng = np.random.default_rng(5)


def geometry_of(x_shape, kernel, stride=1, padding=0, dilation=1, groups=1):
    pair = lambda v: (v, v) if isinstance(v, int) else tuple(v)  # noqa: E731
    return ConvGeometry(tuple(x_shape[2:]), pair(kernel), pair(stride), pair(padding), pair(dilation), groups)


def torch_grads(fn, *arrays):
    """fn(*tensors) in torch (float64), its output and the gradients of (output * upstream).sum()."""
    tensors = [torch.tensor(a, requires_grad=True) for a in arrays]
    out = fn(*tensors)
    upstream = rng.standard_normal(tuple(out.shape))
    grads = torch.autograd.grad(out, tensors, torch.tensor(upstream))
    return out.detach().numpy(), upstream, [g.numpy() for g in grads]


CONV_CASES = {  # x shape, w shape, options
    "3x3_pad1": ((2, 3, 6, 5), (4, 3, 3, 3), dict(padding=1)),
    "stride2_pad1": ((2, 3, 7, 6), (4, 3, 3, 3), dict(stride=2, padding=1)),
    "groups2": ((2, 4, 5, 5), (6, 2, 3, 3), dict(padding=1, groups=2)),
    "dilation2": ((1, 2, 7, 7), (3, 2, 3, 3), dict(padding=2, dilation=2)),
    "rect_kernel_stride": ((2, 2, 6, 7), (3, 2, 2, 3), dict(stride=(2, 1), padding=(0, 1))),
    "pointwise": ((2, 3, 4, 4), (5, 3, 1, 1), dict()),
}


@pytest.mark.parametrize("case", list(CONV_CASES))
def test_reference_convolution_is_torchs(case):
    x_shape, w_shape, options = CONV_CASES[case]
    x, w = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
    geometry = geometry_of(x_shape, w_shape[2:], **options)
    y, gy, (gx, gw) = torch_grads(lambda a, b: TF.conv2d(a, b, **options), x, w)
    np.testing.assert_allclose(reference.conv2d(x, w, geometry), y, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(reference.conv2d_input_grad(gy, w, geometry), gx, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(reference.conv2d_weight_grad(x, gy, geometry), gw, rtol=1e-10, atol=1e-12)


POOL_CASES = {  # x shape, options
    "2x2_tiles": ((2, 3, 6, 6), dict(kernel_size=2, stride=2)),
    "3x3_stride2_pad1": ((2, 2, 7, 6), dict(kernel_size=3, stride=2, padding=1)),
    "3x3_stride1_overlap": ((1, 2, 5, 5), dict(kernel_size=3, stride=1, padding=1)),
    "dilation2": ((1, 2, 7, 7), dict(kernel_size=2, stride=1, dilation=2)),
    "rect_gaps": ((2, 1, 7, 8), dict(kernel_size=(2, 3), stride=(3, 3))),
}


def pool_geometry(x_shape, kernel_size, stride, padding=0, dilation=1):
    return geometry_of(x_shape, kernel_size, stride, padding, dilation)


@pytest.mark.parametrize("case", list(POOL_CASES))
def test_reference_max_pool_is_torchs(case):
    x_shape, options = POOL_CASES[case]
    x = rng.standard_normal(x_shape)
    x[0, 0, :2, :2] = 1.5  # ties: the first maximal position takes the gradient, as in torch
    geometry = pool_geometry(x_shape, **options)
    y, gy, (gx,) = torch_grads(lambda a: TF.max_pool2d(a, **options), x)
    np.testing.assert_array_equal(reference.max_pool2d(x, geometry), y)
    np.testing.assert_allclose(reference.max_pool2d_grad(x, gy, geometry), gx, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("count_include_pad, divisor_override", [(True, None), (False, None), (True, 3)])
@pytest.mark.parametrize("case", ["2x2_tiles", "3x3_stride2_pad1", "3x3_stride1_overlap", "rect_gaps"])
def test_reference_avg_pool_is_torchs(case, count_include_pad, divisor_override):
    x_shape, options = POOL_CASES[case]
    x = rng.standard_normal(x_shape)
    geometry = pool_geometry(x_shape, **options)
    extra = dict(count_include_pad=count_include_pad, divisor_override=divisor_override)
    y, gy, (gx,) = torch_grads(lambda a: TF.avg_pool2d(a, **options, **extra), x)
    np.testing.assert_allclose(reference.avg_pool2d(x, geometry, **extra), y, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(reference.avg_pool2d_grad(gy, geometry, **extra), gx, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("shape", [(4, 3, 5, 5), (6, 4)])
def test_reference_batch_norm_is_torchs(shape, training):
    x, weight, bias = rng.standard_normal(shape), rng.standard_normal(shape[1]), rng.standard_normal(shape[1])
    mean, var = (None, None) if training else (rng.standard_normal(shape[1]), rng.uniform(0.5, 2, shape[1]))
    stats = (None, None) if training else (torch.tensor(mean), torch.tensor(var))
    y, gy, (gx, gw, gb) = torch_grads(lambda a, w, b: TF.batch_norm(a, *stats, w, b, training=training, eps=1e-5), x, weight, bias)
    out, batch_mean, batch_var = reference.batch_norm(x, weight, bias, mean, var, 1e-5)
    np.testing.assert_allclose(out, y, rtol=1e-10, atol=1e-12)
    grads = reference.batch_norm_grad(x, weight, gy, batch_mean, batch_var, 1e-5, batch_stats=training)
    for mine, theirs in zip(grads, (gx, gw, gb)):
        np.testing.assert_allclose(mine, theirs, rtol=1e-9, atol=1e-11)


# ------------------------------------------------------------------ the fast kernels against them

@pytest.mark.parametrize("case", list(POOL_CASES))
def test_fast_max_pool_kernels_match_the_reference(case):
    x_shape, options = POOL_CASES[case]
    x, geometry = rng.standard_normal(x_shape), pool_geometry(x_shape, **options)
    x[0, 0, :2, :2] = 1.5
    if pool.tiles_input(geometry):
        out = pool.block_max(x, geometry)
        selection = pool.BlockSelection(x, out, geometry)
    else:
        out, selection = pool.max_with_taps(x, geometry)
    np.testing.assert_array_equal(out, reference.max_pool2d(x, geometry))
    gy = rng.standard_normal(out.shape)
    np.testing.assert_allclose(selection.scatter(gy, x.shape), reference.max_pool2d_grad(x, gy, geometry), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("count_include_pad", [True, False])
@pytest.mark.parametrize("case", ["2x2_tiles", "3x3_stride2_pad1", "3x3_stride1_overlap", "rect_gaps"])
def test_fast_avg_pool_kernels_match_the_reference(case, count_include_pad):
    x_shape, options = POOL_CASES[case]
    x, geometry = rng.standard_normal(x_shape), pool_geometry(x_shape, **options)
    scale = pool.avg_pool_scale(geometry, count_include_pad, None, np, x.dtype)
    np.testing.assert_allclose(pool.gather(x, lambda tap: 1, geometry) * scale,
                               reference.avg_pool2d(x, geometry, count_include_pad), rtol=1e-12, atol=1e-12)
    gy = rng.standard_normal(x_shape[:2] + geometry.output_hw)
    np.testing.assert_allclose(pool.scatter(gy * scale, lambda tap: 1, x_shape, geometry, like=gy),
                               reference.avg_pool2d_grad(gy, geometry, count_include_pad), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("layout", ["nchw", "channels_last"])
@pytest.mark.parametrize("training", [True, False])
def test_fast_batch_norm_kernels_match_the_reference(training, layout, monkeypatch):
    monkeypatch.setattr(batchnorm, "BLOCK_POSITIONS", (16, 16))  # several blocks of positions, combined
    x = rng.standard_normal((5, 3, 6, 7))
    if layout == "channels_last":
        x = np.ascontiguousarray(x.transpose(2, 3, 0, 1)).transpose(2, 3, 0, 1)
    weight, bias = rng.standard_normal(3), rng.standard_normal(3)
    mean, var = (None, None) if training else (rng.standard_normal(3), rng.uniform(0.5, 2, 3))
    out, batch_mean, batch_var, invstd = batchnorm.forward(x, weight, bias, mean, var, 1e-5)
    expected, expected_mean, expected_var = reference.batch_norm(x, weight, bias, mean, var, 1e-5)
    np.testing.assert_allclose(out, expected, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(batch_mean, expected_mean, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(batch_var, expected_var, rtol=1e-12, atol=1e-14)
    gy = rng.standard_normal(x.shape)
    grads = batchnorm.backward(x, weight, gy, batch_mean, invstd, training)
    for mine, theirs in zip(grads, reference.batch_norm_grad(x, weight, gy, batch_mean, batch_var, 1e-5, training)):
        np.testing.assert_allclose(mine, theirs, rtol=1e-9, atol=1e-11)
