"""``scratchgrad.backends.conv.algorithm``: every algorithm gives the reference kernel's values and
gradients (first and second order), on strides, padding, groups and dilation; each layer gets the
kernel the switch documents (Winograd falls back to im2col on layers it cannot compute)."""
from __future__ import annotations

import numpy as np
import pytest

import scratchgrad
import scratchgrad.nn.functional as SF
from scratchgrad import backends
from scratchgrad.kernels import reference, winograd
from scratchgrad.kernels.conv import Im2colKernel, WinogradKernel
from scratchgrad.kernels.geometry import ConvGeometry
from scratchgrad.kernels.reference import ReferenceConvKernel

rng = np.random.default_rng(11)
ALGORITHMS = ["reference", "im2col", "winograd", "winograd_f4", "auto"]

CASES = {  # x shape, w shape, options of conv2d
    "3x3_pad1": ((2, 3, 6, 5), (4, 3, 3, 3), dict(padding=1)),
    "3x3_wide": ((2, 16, 5, 6), (16, 16, 3, 3), dict(padding=1)),  # "auto" takes Winograd here
    "3x3_pad0_odd": ((1, 2, 7, 5), (3, 2, 3, 3), dict()),
    "stride2_pad1": ((2, 3, 7, 6), (4, 3, 3, 3), dict(stride=2, padding=1)),
    "groups2": ((2, 4, 5, 5), (6, 2, 3, 3), dict(padding=1, groups=2)),
    "dilation2": ((1, 2, 7, 7), (3, 2, 3, 3), dict(padding=2, dilation=2)),
    "rect_kernel_stride": ((2, 2, 6, 7), (3, 2, 2, 3), dict(stride=(2, 1), padding=(0, 1))),
    "pointwise": ((2, 3, 4, 4), (5, 3, 1, 1), dict()),
}


def use(monkeypatch, algorithm):
    """Set the switch; "winograd_f4" is "winograd" with F(4x4, 3x3) on every layer it takes."""
    monkeypatch.setattr(backends.conv, "algorithm", "winograd" if algorithm == "winograd_f4" else algorithm)
    if algorithm == "winograd_f4":
        monkeypatch.setattr(backends.conv, "winograd_f4_min_channels", 1)


def geometry_of(x_shape, w_shape, stride=1, padding=0, dilation=1, groups=1):
    pair = lambda v: (v, v) if isinstance(v, int) else tuple(v)  # noqa: E731
    return ConvGeometry(tuple(x_shape[2:]), tuple(w_shape[2:]), pair(stride), pair(padding), pair(dilation), groups)


def close(tensor, expected):
    np.testing.assert_allclose(tensor.detach().numpy(), expected, rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_each_algorithm_gives_the_references_values_and_gradients(algorithm, case, monkeypatch):
    use(monkeypatch, algorithm)
    x_shape, w_shape, options = CASES[case]
    geometry = geometry_of(x_shape, w_shape, **options)
    x, w, b = (rng.standard_normal(s) for s in (x_shape, w_shape, w_shape[:1]))
    gy = rng.standard_normal((x_shape[0], w_shape[0]) + geometry.output_hw)
    xt, wt, bt, gyt = (scratchgrad.tensor(a, requires_grad=True) for a in (x, w, b, gy))

    y = SF.conv2d(xt, wt, bt, **options)
    close(y, reference.conv2d(x, w, geometry) + b[:, None, None])
    gx, gw, gb = scratchgrad.autograd.grad(y, [xt, wt, bt], gyt, create_graph=True)
    close(gx, reference.conv2d_input_grad(gy, w, geometry))
    close(gw, reference.conv2d_weight_grad(x, gy, geometry))
    close(gb, gy.sum(axis=(0, 2, 3)))

    # second order: <gx, v> is bilinear in (gy, w), so its gradients are a convolution and a weight gradient
    v = rng.standard_normal(x_shape)
    grad_gy, grad_w = scratchgrad.autograd.grad((gx * scratchgrad.tensor(v)).sum(), [gyt, wt])
    close(grad_gy, reference.conv2d(v, w, geometry))
    close(grad_w, reference.conv2d_weight_grad(v, gy, geometry))


def kernel_of(geometry, c_in, c_out):
    kernel = backends.conv.kernel_for(geometry, c_in, c_out)
    return kernel.variant.name if isinstance(kernel, WinogradKernel) else type(kernel).__name__


THREE_BY_THREE = ConvGeometry((8, 8), (3, 3), (1, 1), (1, 1), (1, 1), 1)
STRIDED = ConvGeometry((8, 8), (3, 3), (2, 2), (1, 1), (1, 1), 1)
GROUPED = ConvGeometry((8, 8), (3, 3), (1, 1), (1, 1), (1, 1), 2)
DILATED = ConvGeometry((8, 8), (3, 3), (1, 1), (2, 2), (2, 2), 1)
POINTWISE = ConvGeometry((8, 8), (1, 1), (1, 1), (0, 0), (1, 1), 1)


def test_auto_is_winograd_f2_on_wide_3x3_layers_and_im2col_elsewhere():
    assert backends.conv.algorithm == "auto"  # the default
    assert kernel_of(THREE_BY_THREE, 3, 32) == "Im2colKernel"  # thin: below winograd_min_channels
    assert kernel_of(THREE_BY_THREE, 16, 64) == winograd.F2.name
    assert kernel_of(THREE_BY_THREE, 512, 512) == winograd.F2.name  # F(4x4, 3x3) is off by default
    for geometry in (STRIDED, GROUPED, DILATED, POINTWISE):
        assert kernel_of(geometry, 256, 256) == "Im2colKernel"


def test_auto_follows_the_documented_channel_thresholds(monkeypatch):
    monkeypatch.setattr(backends.conv, "winograd_f4_min_channels", 128)
    assert kernel_of(THREE_BY_THREE, 128, 256) == winograd.F4.name and kernel_of(THREE_BY_THREE, 64, 256) == winograd.F2.name
    monkeypatch.setattr(backends.conv, "winograd_min_channels", 64)
    assert kernel_of(THREE_BY_THREE, 32, 256) == "Im2colKernel"


def test_winograd_takes_every_layer_it_can_and_falls_back_to_im2col(monkeypatch):
    monkeypatch.setattr(backends.conv, "algorithm", "winograd")
    assert kernel_of(THREE_BY_THREE, 1, 1) == winograd.F2.name  # whatever its channels
    for geometry in (STRIDED, GROUPED, DILATED, POINTWISE):
        assert kernel_of(geometry, 256, 256) == "Im2colKernel"


@pytest.mark.parametrize("algorithm, kernel", [("im2col", Im2colKernel), ("reference", ReferenceConvKernel)])
def test_im2col_and_reference_take_every_layer(algorithm, kernel, monkeypatch):
    monkeypatch.setattr(backends.conv, "algorithm", algorithm)
    for geometry in (THREE_BY_THREE, STRIDED, GROUPED, DILATED, POINTWISE):
        assert type(backends.conv.kernel_for(geometry, 512, 512)) is kernel


def test_an_unknown_algorithm_is_named_in_the_error(monkeypatch):
    monkeypatch.setattr(backends.conv, "algorithm", "fastest")
    x, w = scratchgrad.randn(1, 2, 5, 5), scratchgrad.randn(3, 2, 3, 3)
    with pytest.raises(ValueError, match=r"backends\.conv\.algorithm: expected one of 'auto', .* got 'fastest'"):
        backends.conv.kernel_for(THREE_BY_THREE, 2, 3)
    with pytest.raises(RuntimeError, match=r"Conv2d: scratchgrad\.backends\.conv\.algorithm: .* got 'fastest'"):
        SF.conv2d(x, w)
