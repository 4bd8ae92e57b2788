"""The conv kernels (im2col, Winograd F(2x2, 3x3) and F(4x4, 3x3)) against PyTorch and finite differences.

Winograd normally serves only layers with many channels; ``use_kernel`` sets
``scratchgrad.backends.conv`` so that small, cheap cases (odd sizes, every padding) go through each kernel.
"""
from __future__ import annotations

import numpy as np
import pytest

from parity import assert_close, check_op, torch

import scratchgrad
import scratchgrad.nn.functional as SF
from scratchgrad.kernels import batchnorm, winograd
from scratchgrad.kernels import conv as conv_kernels
from scratchgrad.kernels.conv import Im2colKernel, WinogradKernel
from scratchgrad.kernels.geometry import ConvGeometry
from scratchgrad import backends
from scratchgrad.backends.conv import kernel_for
from scratchgrad.runtime import threads

TF = torch.nn.functional


def F(lib):
    return TF if lib is torch else SF


def first_derivative(lib, y, inputs):
    return lib.autograd.grad((y * y).sum(), inputs, create_graph=True)


KERNELS = ["im2col", "F2", "F4"]
# F(4x4, 3x3) is ~10x less precise in float32 than the parity tolerance allows (see
# test_winograd_float32_precision_on_a_wide_layer): it is checked against torch in float64.
DTYPES = {"im2col": (np.float64, np.float32), "F2": (np.float64, np.float32), "F4": (np.float64,)}


def use_kernel(monkeypatch, name):
    """Make 3x3 stride-1 layers of any width use kernel ``name``, through the documented switch."""
    monkeypatch.setattr(backends.conv, "algorithm", "im2col" if name == "im2col" else "winograd")
    monkeypatch.setattr(backends.conv, "winograd_f4_min_channels", 1 if name == "F4" else None)


WINOGRAD_CASES = {
    "pad1_even": (dict(padding=1), [(2, 3, 6, 6), (4, 3, 3, 3), (4,)]),
    "pad1_odd_rect": (dict(padding=1), [(2, 2, 5, 7), (3, 2, 3, 3), (3,)]),
    "pad0": (dict(padding=0), [(1, 2, 6, 5), (3, 2, 3, 3), None]),
    "pad2": (dict(padding=2), [(1, 2, 4, 5), (2, 2, 3, 3), None]),
    "pad_rect": (dict(padding=(1, 0)), [(2, 2, 5, 4), (2, 2, 3, 3), (2,)]),
    "one_pixel": (dict(padding=1), [(2, 2, 1, 1), (3, 2, 3, 3), None]),
    "pad_same": (dict(padding="same"), [(1, 2, 3, 6), (2, 2, 3, 3), None]),
}


@pytest.mark.parametrize("variant", ["F2", "F4"])
@pytest.mark.parametrize("name", list(WINOGRAD_CASES))
def test_winograd_matches_torch_and_finite_differences(name, variant, monkeypatch):
    use_kernel(monkeypatch, variant)
    kernel = kernel_for(ConvGeometry((5, 5), (3, 3), (1, 1), (1, 1), (1, 1), 1), 2, 3)
    assert isinstance(kernel, WinogradKernel) and kernel.variant is getattr(winograd, variant)
    options, inputs = WINOGRAD_CASES[name]
    check_op(lambda lib, x, w, b: F(lib).conv2d(x, w, b, **options), inputs, dtypes=DTYPES[variant])


def test_a_wide_layer_on_the_default_kernel_matches_torch():
    """16 channels: "auto" gives it Winograd F(2x2, 3x3) (see tests/backends/test_backends_conv.py)."""
    check_op(lambda lib, x, w: F(lib).conv2d(x, w, padding=1), [(2, 16, 6, 5), (16, 16, 3, 3)], fd=False, low=-1, high=1)


@pytest.mark.parametrize("variant, max_error", [("F2", 2e-6), ("F4", 5e-5)])
def test_winograd_float32_precision_on_a_wide_layer(variant, max_error):
    """Against a float64 convolution, errors relative to the output's scale: F(2x2, 3x3) is as
    precise as direct float32 convolution (~5e-7); F(4x4, 3x3), with its larger transform
    coefficients, about 10x less (measured ~1.5e-5 at 256-512 channels)."""
    rng = np.random.default_rng(4)
    x, w = rng.standard_normal((4, 256, 7, 7)), rng.standard_normal((256, 256, 3, 3)) / 48
    gy = rng.standard_normal((4, 256, 7, 7))
    tx, tw = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    torch.nn.functional.conv2d(tx, tw, padding=1).backward(torch.tensor(gy))
    reference = [TF.conv2d(tx, tw, padding=1).detach().numpy(), tx.grad.numpy(), tw.grad.numpy()]
    kernel = WinogradKernel(ConvGeometry((7, 7), (3, 3), (1, 1), (1, 1), (1, 1), 1), getattr(winograd, variant))
    x32, w32 = x.astype(np.float32).transpose(2, 3, 0, 1), w.astype(np.float32)
    y = kernel.forward(x32, w32)
    gx, gw = kernel.backward(x32, w32, gy.astype(np.float32).transpose(2, 3, 0, 1))
    for actual, expected in zip([y.transpose(2, 3, 0, 1), gx.transpose(2, 3, 0, 1), gw], reference):
        assert actual.dtype == np.float32
        assert np.abs(actual - expected).max() <= max_error * np.abs(expected).max()


@pytest.mark.parametrize("variant", ["F2", "F4"])
def test_winograd_keeps_the_transformed_input_for_the_weight_gradient_until_the_backward(variant, monkeypatch):
    """Kept from the forward (several chunks), the transformed input gives the weight gradient
    bit for bit as recomputing it does, and is dropped once used."""
    monkeypatch.setattr(conv_kernels, "CHUNK_BYTES", 1)  # a chunk per image
    monkeypatch.setattr(WinogradKernel, "MIN_ROWS_PER_CHANNEL", 0)
    rng = np.random.default_rng(5)
    x, w, gy = (rng.standard_normal(shape).astype(np.float32) for shape in [(5, 6, 3, 4), (3, 4, 3, 3), (5, 6, 3, 3)])
    geometry, variant = ConvGeometry((5, 6), (3, 3), (1, 1), (1, 1), (1, 1), 1), getattr(winograd, variant)
    keeping, recomputing = WinogradKernel(geometry, variant), WinogradKernel(geometry, variant)
    assert np.array_equal(keeping.forward(x, w, keep_input=True), recomputing.forward(x, w))
    assert len(keeping.transformed_inputs) == 3 and not recomputing.transformed_inputs
    for kept, recomputed in zip(keeping.backward(x, w, gy), recomputing.backward(x, w, gy)):
        assert np.array_equal(kept, recomputed)
    assert not keeping.transformed_inputs


IM2COL_CASES = {
    "stride2_pad1": (dict(stride=2, padding=1), [(2, 3, 7, 6), (4, 3, 3, 3)]),
    "pointwise": (dict(), [(2, 3, 4, 5), (4, 3, 1, 1)]),
    "pointwise_stride2": (dict(stride=2), [(2, 3, 5, 5), (4, 3, 1, 1)]),
    "rect_kernel_dilation": (dict(padding=(2, 1), dilation=(2, 1)), [(1, 2, 7, 6), (3, 2, 3, 2)]),
    "groups_3x3": (dict(padding=1, groups=2), [(2, 4, 5, 5), (4, 2, 3, 3)]),
    "5x5_stride_rect": (dict(stride=(1, 2), padding=2), [(1, 2, 6, 7), (2, 2, 5, 5)]),
}


# The rows im2col gathers are row-major for many channels, tap-major for few (a first layer).
LAYOUTS = {"row_major": 0, "tap_major": 10**9}  # values of TAP_MAJOR_BYTES that force each


@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("name", list(IM2COL_CASES))
def test_im2col_matches_torch_and_finite_differences(name, layout, monkeypatch):
    monkeypatch.setattr(conv_kernels, "TAP_MAJOR_BYTES", LAYOUTS[layout])
    options, inputs = IM2COL_CASES[name]
    check_op(lambda lib, x, w: F(lib).conv2d(x, w, **options), inputs)


@pytest.mark.parametrize("channels, dtype, tap_major", [(3, np.float32, True), (15, np.float32, True), (16, np.float32, False),
                                                        (7, np.float64, True), (8, np.float64, False)])
def test_im2col_gathers_rows_tap_major_when_channel_runs_are_shorter_than_a_cache_line(channels, dtype, tap_major):
    geometry = ConvGeometry((5, 6), (3, 3), (2, 1), (1, 1), (1, 1), 1)
    x = np.random.default_rng(6).standard_normal((5, 6, 2, channels)).astype(dtype)  # (H, W, N, C)
    columns = Im2colKernel(geometry).columns(x)
    assert columns.shape == (1, 3 * 6 * 2, 9 * channels)
    assert (columns.strides[1] == dtype().itemsize) is tap_major  # tap-major: consecutive rows adjacent in memory
    expected = np.stack([np.pad(x, ((1, 1), (1, 1), (0, 0), (0, 0)))[i : i + 5 : 2, j : j + 6] for i in range(3) for j in range(3)], axis=3)
    np.testing.assert_array_equal(columns[0], expected.reshape(3 * 6 * 2, 9 * channels))


@pytest.mark.parametrize("sum_block", [None, 3])
@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("name", list(IM2COL_CASES))
def test_im2col_weight_gradient_alone_matches_the_one_with_the_input_gradient(name, layout, sum_block, monkeypatch):
    """The weight gradient alone (a first layer) runs by chunks of output rows, each a sum of
    products over blocks of positions (blocks of 3 make several), the pair by chunks of
    images: the same sums in another order."""
    monkeypatch.setattr(conv_kernels, "TAP_MAJOR_BYTES", LAYOUTS[layout])
    if sum_block:
        monkeypatch.setattr(threads, "small_block", lambda other_dims, length: min(length, sum_block))
    options, (x_shape, w_shape) = IM2COL_CASES[name]
    pair = lambda value: value if isinstance(value, tuple) else (value, value)  # noqa: E731
    geometry = ConvGeometry(x_shape[2:], w_shape[2:], pair(options.get("stride", 1)), pair(options.get("padding", 0)),
                            pair(options.get("dilation", 1)), options.get("groups", 1))
    monkeypatch.setattr(threads, "MIN_PARALLEL_BYTES", 0)
    monkeypatch.setattr(threads, "AUTOTUNE", False)  # every call on the pool, none timed
    monkeypatch.setattr(conv_kernels, "CHUNK_BYTES", 64)  # several chunks even for these small layers
    rng = np.random.default_rng(5)
    x = rng.standard_normal((*x_shape[2:], *x_shape[:2]))  # (H, W, N, C), as the kernels take it
    w = rng.standard_normal(w_shape)
    grad_y = rng.standard_normal((*geometry.output_hw, x_shape[0], w_shape[0]))
    kernel = Im2colKernel(geometry)
    with_input = kernel.backward(x, w, grad_y)[1]
    np.testing.assert_allclose(kernel.weight_grad(x, grad_y), with_input, rtol=1e-12, atol=1e-12 * np.abs(with_input).max())


@pytest.mark.parametrize("kernel", KERNELS)
def test_conv_outputs_feed_any_op(kernel, monkeypatch):
    """Conv outputs are (N, C, H, W) views of (H, W, N, C) memory; chains through convs, pooling,
    batch norm, flatten and a Linear layer agree with torch in values and gradients."""
    use_kernel(monkeypatch, kernel)

    def net(lib, x, w1, w2, w3, fc):
        f = F(lib)
        h = f.relu(f.batch_norm(f.conv2d(x, w1, padding=1), None, None, training=True))
        h = f.max_pool2d(f.conv2d(h, w2, padding=1), 2)
        h = f.conv2d(h, w3) + h.mean()
        return f.linear(h.flatten(1), fc)

    check_op(net, [(2, 3, 6, 6), (4, 3, 3, 3), (4, 4, 3, 3), (2, 4, 1, 1), (5, 18)], fd=False, dtypes=DTYPES[kernel])


def conv_tanh_first_derivative(lib, x, w):
    return first_derivative(lib, F(lib).conv2d(x, w, padding=1).tanh(), [x, w])


@pytest.mark.parametrize("kernel", KERNELS)
def test_conv_second_derivatives_match_torch(kernel, monkeypatch):
    use_kernel(monkeypatch, kernel)
    check_op(conv_tanh_first_derivative, [(2, 2, 4, 5), (3, 2, 3, 3)], fd=False, dtypes=(np.float64,))


@pytest.mark.parametrize("kernel", ["im2col", "F2"])
@pytest.mark.parametrize("seed", range(4))
def test_conv_second_derivatives_in_float32(kernel, seed, monkeypatch):
    """float32 second derivatives against float64 truth, errors relative to each gradient's scale.

    Not elementwise against torch's float32: the second derivatives are sums of terms ~100x
    larger than some of the results, so an elementwise float32 comparison fails on rounding
    alone (torch float32 against float64 fails rtol 1e-4 on 2 of 40 seeds, scratchgrad against
    torch float32 on 14-23 of 40, whatever the kernel). Relative to the scale, torch's float32
    errors reach 3.1e-6 over those 40 seeds, scratchgrad's 3.2e-6 (Winograd) and 3.6e-6 (im2col).
    """
    use_kernel(monkeypatch, kernel)
    rng = np.random.default_rng(seed)
    values = [rng.uniform(-2, 2, shape) for shape in ((2, 2, 4, 5), (3, 2, 3, 3))]
    upstream = [rng.standard_normal(shape) for shape in ((2, 2, 4, 5), (3, 2, 3, 3))]

    def second_derivatives(lib, dtype):
        x, w = (lib.tensor(v.astype(dtype), requires_grad=True) for v in values)
        outputs = conv_tanh_first_derivative(lib, x, w)
        return lib.autograd.grad(outputs, [x, w], [lib.tensor(u.astype(dtype)) for u in upstream])

    for actual, expected in zip(second_derivatives(scratchgrad, np.float32), second_derivatives(torch, np.float64)):
        expected = expected.numpy()
        assert actual.dtype == np.float32
        assert np.abs(actual.array - expected).max() <= 1e-5 * np.abs(expected).max()


@pytest.mark.parametrize("kernel", KERNELS)
def test_backward_twice_with_retained_graph(kernel, monkeypatch):
    """The forward's kept transformed input is used once; a second backward recomputes it."""
    use_kernel(monkeypatch, kernel)
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


def test_float32_stays_float32_on_every_kernel(monkeypatch):
    for kernel in KERNELS:
        use_kernel(monkeypatch, kernel)
        x = scratchgrad.randn(2, 3, 6, 6, requires_grad=True)
        w = scratchgrad.randn(4, 3, 3, 3, requires_grad=True)
        y = SF.conv2d(x, w, padding=1)
        y.sum().backward()
        assert y.dtype == x.grad.dtype == w.grad.dtype == np.float32


def test_results_do_not_depend_on_the_number_of_threads(monkeypatch):
    """Conv (both kernels), BatchNorm, max-pool and a flatten, forward and backward, bit for bit."""
    rng = np.random.default_rng(1)
    values = [rng.standard_normal(shape).astype(np.float32) for shape in ((5, 16, 9, 8), (16, 16, 3, 3), (8, 16, 3, 3))]
    monkeypatch.setattr(threads, "MIN_PARALLEL_BYTES", 0)
    monkeypatch.setattr(threads, "AUTOTUNE", False)  # every call on the pool, none timed
    monkeypatch.setattr(batchnorm, "BLOCK_POSITIONS", (16, 16))
    runs = []
    for count in (1, 3):
        monkeypatch.setattr(threads, "num_threads", lambda: count)
        x, w1, w2 = (scratchgrad.tensor(v, requires_grad=True) for v in values)
        h = SF.batch_norm(SF.conv2d(x, w1, padding=1), None, None, training=True)
        y = SF.max_pool2d(SF.conv2d(h, w2, stride=2, padding=1), 2).reshape(5, -1)  # a copy: y is channels-last
        (y * y).sum().backward()
        runs.append([y.array, x.grad.array, w1.grad.array, w2.grad.array])
    for single, several in zip(*runs):
        np.testing.assert_array_equal(single, several)


def test_winograd_chunks_of_images_and_one_chunk_agree(monkeypatch):
    """Thin layers run chunk by chunk (several chunks at once), wide ones as one chunk of all
    images: outputs and input gradients agree bit for bit where BLAS rounds a row the same
    whatever the rows of the call (OpenBLAS's Haswell kernels do not: ``a[:50] @ b`` differs from
    ``(a @ b)[:50]`` in the last bits, and the two chunkings give its GEMMs 50 and 175 rows),
    else up to float32 rounding; weight gradients up to the order in which the chunks' partial
    sums are added."""
    rng = np.random.default_rng(3)
    x, w, gy = (rng.standard_normal(s).astype(np.float32) for s in ((9, 9, 7, 16), (24, 16, 3, 3), (9, 9, 7, 24)))
    geometry = ConvGeometry((9, 9), (3, 3), (1, 1), (1, 1), (1, 1), 1)
    monkeypatch.setattr(threads, "MIN_PARALLEL_BYTES", 0)
    monkeypatch.setattr(threads, "AUTOTUNE", False)  # every call on the pool, none timed
    results = []
    for rows_per_channel in (0, 10**9):
        monkeypatch.setattr(WinogradKernel, "MIN_ROWS_PER_CHANNEL", rows_per_channel)
        kernel = WinogradKernel(geometry)
        assert len(kernel._chunks(np, 7, 24, 4)) == (4 if rows_per_channel == 0 else 1)
        results.append([kernel.forward(x, w), *kernel.backward(x, w, gy)])
    (y1, gx1, gw1), (y2, gx2, gw2) = results
    rows = rng.standard_normal((175, 16)).astype(np.float32), rng.standard_normal((16, 24)).astype(np.float32)
    if np.array_equal(rows[0][:50] @ rows[1], (rows[0] @ rows[1])[:50]):
        np.testing.assert_array_equal(y1, y2)
        np.testing.assert_array_equal(gx1, gx2)
    else:
        np.testing.assert_allclose(y1, y2, rtol=1e-5, atol=1e-6 * np.abs(y2).max())
        np.testing.assert_allclose(gx1, gx2, rtol=1e-5, atol=1e-6 * np.abs(gx2).max())
    np.testing.assert_allclose(gw1, gw2, rtol=1e-5, atol=1e-5 * np.abs(gw2).max())


def _adjoint_gap(forward, adjoint, x_shape, y_shape, rng):
    """|<forward(x), y> - <x, adjoint(y)>| relative to the size of the terms."""
    x, y = rng.standard_normal(x_shape), rng.standard_normal(y_shape)
    lhs, rhs = np.vdot(forward(x), y), np.vdot(x, adjoint(y))
    return abs(lhs - rhs) / (abs(lhs) + abs(rhs))


@pytest.mark.parametrize("variant", [winograd.F2, winograd.F4], ids=["F2", "F4"])
@pytest.mark.parametrize("hw, padding", [((6, 6), (1, 1)), ((5, 7), (0, 2)), ((1, 2), (1, 1)), ((4, 3), (2, 0)), ((9, 10), (1, 1))])
def test_winograd_transforms_and_their_adjoints(hw, padding, variant):
    """Each adjoint is the transpose of its transform: <T x, y> = <x, T^T y>."""
    rng = np.random.default_rng(2)
    c, n, t = 3, 2, variant.t
    output_hw = tuple(s + 2 * p - 2 for s, p in zip(hw, padding))
    th, tw = variant.tiles(output_hw)
    tile_domain = (t, t, th, tw, n, c)

    def input_transform(x):
        v = np.empty(tile_domain)
        winograd.input_transform(variant, x, padding, v)
        return v

    def input_adjoint(v):
        x = np.empty((*hw, n, c))
        winograd.input_transform_adjoint(variant, v, padding, x)
        return x

    def output_transform(m):
        y = np.empty((variant.m * th, variant.m * tw, n, c))
        winograd.output_transform(variant, m, y)
        return y[: output_hw[0], : output_hw[1]]

    def output_adjoint(y):
        m = np.empty(tile_domain)
        winograd.output_transform_adjoint(variant, y, m)
        return m

    gaps = [
        _adjoint_gap(input_transform, input_adjoint, (*hw, n, c), tile_domain, rng),
        _adjoint_gap(output_transform, output_adjoint, tile_domain, (*output_hw, n, c), rng),
        _adjoint_gap(lambda w: winograd.filter_transform(variant, w), lambda u: winograd.filter_transform_adjoint(variant, u),
                     (c, 2, 3, 3), (t * t, c, 2), rng),
    ]
    assert max(gaps) < 1e-13


@pytest.mark.parametrize("size, chunk, expected", [
    (64, 16, [16, 16, 8, 8, 8, 8]),
    (100, 30, [30, 30, 10, 10, 10, 10]),
    (7, 2, [2, 2, 1, 1, 1]),
    (3, 4, [1, 1, 1]),
    (1, 1, [1]),
])
def test_tapered_chunks_cover_the_range_with_a_finer_tail(size, chunk, expected):
    slices = threads.tapered_chunks(size, chunk)
    assert [s.stop - s.start for s in slices] == expected
    assert slices[0].start == 0 and slices[-1].stop == size
    assert all(a.stop == b.start for a, b in zip(slices, slices[1:]))
