"""The conv kernels (im2col and Winograd F(2x2, 3x3)) against PyTorch and finite differences.

Winograd normally serves only layers with many channels; ``winograd_everywhere`` lowers the
threshold so that small, cheap cases (odd sizes, every padding) go through it too.
"""
from __future__ import annotations

import numpy as np
import pytest

from parity import assert_close, check_op, torch

import scratchgrad
import scratchgrad.nn.functional as SF
import scratchgrad.ops.norm
from scratchgrad.ops import conv, threads, winograd
from scratchgrad.ops.conv import ConvGeometry, Im2colKernel, WinogradKernel, kernel_for

TF = torch.nn.functional


def F(lib):
    return TF if lib is torch else SF


def first_derivative(lib, y, inputs):
    return lib.autograd.grad((y * y).sum(), inputs, create_graph=True)


@pytest.fixture
def winograd_everywhere(monkeypatch):
    monkeypatch.setattr(conv, "WINOGRAD_MIN_CHANNELS", 1)


WINOGRAD_CASES = {
    "pad1_even": (dict(padding=1), [(2, 3, 6, 6), (4, 3, 3, 3), (4,)]),
    "pad1_odd_rect": (dict(padding=1), [(2, 2, 5, 7), (3, 2, 3, 3), (3,)]),
    "pad0": (dict(padding=0), [(1, 2, 6, 5), (3, 2, 3, 3), None]),
    "pad2": (dict(padding=2), [(1, 2, 4, 5), (2, 2, 3, 3), None]),
    "pad_rect": (dict(padding=(1, 0)), [(2, 2, 5, 4), (2, 2, 3, 3), (2,)]),
    "one_pixel": (dict(padding=1), [(2, 2, 1, 1), (3, 2, 3, 3), None]),
    "pad_same": (dict(padding="same"), [(1, 2, 3, 6), (2, 2, 3, 3), None]),
}


@pytest.mark.parametrize("name", list(WINOGRAD_CASES))
def test_winograd_matches_torch_and_finite_differences(name, winograd_everywhere):
    options, inputs = WINOGRAD_CASES[name]
    assert isinstance(kernel_for(ConvGeometry((5, 5), (3, 3), (1, 1), (1, 1), (1, 1), 1), 2, 3), WinogradKernel)
    check_op(lambda lib, x, w, b: F(lib).conv2d(x, w, b, **options), inputs)


def test_winograd_is_the_default_for_wide_layers():
    geometry = ConvGeometry((8, 8), (3, 3), (1, 1), (1, 1), (1, 1), 1)
    assert isinstance(kernel_for(geometry, 16, 32), WinogradKernel)
    assert isinstance(kernel_for(geometry, 3, 32), Im2colKernel)
    check_op(lambda lib, x, w: F(lib).conv2d(x, w, padding=1), [(2, 16, 6, 5), (16, 16, 3, 3)], fd=False, low=-1, high=1)


IM2COL_CASES = {
    "stride2_pad1": (dict(stride=2, padding=1), [(2, 3, 7, 6), (4, 3, 3, 3)]),
    "pointwise": (dict(), [(2, 3, 4, 5), (4, 3, 1, 1)]),
    "pointwise_stride2": (dict(stride=2), [(2, 3, 5, 5), (4, 3, 1, 1)]),
    "rect_kernel_dilation": (dict(padding=(2, 1), dilation=(2, 1)), [(1, 2, 7, 6), (3, 2, 3, 2)]),
    "groups_3x3": (dict(padding=1, groups=2), [(2, 4, 5, 5), (4, 2, 3, 3)]),
    "5x5_stride_rect": (dict(stride=(1, 2), padding=2), [(1, 2, 6, 7), (2, 2, 5, 5)]),
}


@pytest.mark.parametrize("name", list(IM2COL_CASES))
def test_im2col_matches_torch_and_finite_differences(name):
    options, inputs = IM2COL_CASES[name]
    check_op(lambda lib, x, w: F(lib).conv2d(x, w, **options), inputs)


@pytest.mark.parametrize("use_winograd", [False, True])
def test_batch_last_outputs_feed_any_op(use_winograd, monkeypatch):
    """Conv outputs are (N, C, H, W) views of (H, W, N, C) memory; chains through convs, pooling,
    batch norm, flatten and a Linear layer agree with torch in values and gradients."""
    monkeypatch.setattr(conv, "WINOGRAD_MIN_CHANNELS", 1 if use_winograd else 10**9)

    def net(lib, x, w1, w2, w3, fc):
        f = F(lib)
        h = f.relu(f.batch_norm(f.conv2d(x, w1, padding=1), None, None, training=True))
        h = f.max_pool2d(f.conv2d(h, w2, padding=1), 2)
        h = f.conv2d(h, w3) + h.mean()
        return f.linear(h.flatten(1), fc)

    check_op(net, [(2, 3, 6, 6), (4, 3, 3, 3), (4, 4, 3, 3), (2, 4, 1, 1), (5, 18)], fd=False)


@pytest.mark.parametrize("use_winograd", [False, True])
def test_conv_second_derivatives_match_torch(use_winograd, monkeypatch):
    monkeypatch.setattr(conv, "WINOGRAD_MIN_CHANNELS", 1 if use_winograd else 10**9)
    check_op(
        lambda lib, x, w: first_derivative(lib, F(lib).conv2d(x, w, padding=1).tanh(), [x, w]),
        [(2, 2, 4, 5), (3, 2, 3, 3)], fd=False,
    )


@pytest.mark.parametrize("use_winograd", [False, True])
def test_backward_twice_with_retained_graph(use_winograd, monkeypatch):
    """The forward's kept transformed input is used once; a second backward recomputes it."""
    monkeypatch.setattr(conv, "WINOGRAD_MIN_CHANNELS", 1 if use_winograd else 10**9)
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((2, 3, 5, 5)), rng.standard_normal((4, 3, 3, 3))
    grads = []
    for lib in (torch, scratchgrad):
        lx, lw = lib.tensor(x, requires_grad=True), lib.tensor(w, requires_grad=True)
        y = (F(lib).conv2d(lx, lw, padding=1) ** 2).sum()
        y.backward(retain_graph=True)
        y.backward()
        grads.append((lx.grad, lw.grad))
    for s, t in zip(grads[1], grads[0]):
        assert_close(s, t, 1e-10, 1e-10)


def test_float32_stays_float32_on_both_kernels(monkeypatch):
    for threshold in (1, 10**9):
        monkeypatch.setattr(conv, "WINOGRAD_MIN_CHANNELS", threshold)
        x = scratchgrad.randn(2, 3, 6, 6, requires_grad=True)
        w = scratchgrad.randn(4, 3, 3, 3, requires_grad=True)
        y = SF.conv2d(x, w, padding=1)
        y.sum().backward()
        assert y.dtype == x.grad.dtype == w.grad.dtype == np.float32


def test_results_do_not_depend_on_the_number_of_threads(monkeypatch):
    """Conv (both kernels), BatchNorm and max-pool, forward and backward, bit for bit."""
    rng = np.random.default_rng(1)
    values = [rng.standard_normal(shape).astype(np.float32) for shape in ((5, 16, 9, 8), (16, 16, 3, 3), (8, 16, 3, 3))]
    monkeypatch.setattr(threads, "MIN_PARALLEL_BYTES", 0)
    monkeypatch.setattr(scratchgrad.ops.norm, "BLOCK_POSITIONS", (16, 16))
    runs = []
    for count in (1, 3):
        monkeypatch.setattr(threads, "num_threads", lambda: count)
        x, w1, w2 = (scratchgrad.tensor(v, requires_grad=True) for v in values)
        h = SF.batch_norm(SF.conv2d(x, w1, padding=1), None, None, training=True)
        y = SF.max_pool2d(SF.conv2d(h, w2, stride=2, padding=1), 2)
        (y * y).sum().backward()
        runs.append([y.data, x.grad.data, w1.grad.data, w2.grad.data])
    for single, several in zip(*runs):
        np.testing.assert_array_equal(single, several)


def _adjoint_gap(forward, adjoint, x_shape, y_shape, rng):
    """|<forward(x), y> - <x, adjoint(y)>| relative to the size of the terms."""
    x, y = rng.standard_normal(x_shape), rng.standard_normal(y_shape)
    lhs, rhs = np.vdot(forward(x), y), np.vdot(x, adjoint(y))
    return abs(lhs - rhs) / (abs(lhs) + abs(rhs))


@pytest.mark.parametrize("hw, padding", [((6, 6), (1, 1)), ((5, 7), (0, 2)), ((1, 2), (1, 1)), ((4, 3), (2, 0))])
def test_winograd_transforms_and_their_adjoints(hw, padding):
    """Each adjoint is the transpose of its transform: <T x, y> = <x, T^T y>."""
    rng = np.random.default_rng(2)
    c, n = 3, 2
    output_hw = tuple(s + 2 * p - 2 for s, p in zip(hw, padding))
    th, tw = winograd.tiles(output_hw)
    gaps = [
        _adjoint_gap(lambda x: winograd.input_transform(x, padding, th, tw),
                     lambda v: winograd.input_transform_adjoint(v, (*hw, n, c), padding, th, tw),
                     (*hw, n, c), (16, th * tw * n, c), rng),
        _adjoint_gap(lambda m: winograd.output_transform(m, th, tw, output_hw),
                     lambda y: winograd.output_transform_adjoint(y, th, tw),
                     (16, th * tw * n, c), (*output_hw, n, c), rng),
        _adjoint_gap(winograd.filter_transform, winograd.filter_transform_adjoint, (c, 2, 3, 3), (16, c, 2), rng),
    ]
    assert max(gaps) < 1e-14
