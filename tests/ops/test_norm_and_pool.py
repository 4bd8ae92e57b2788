"""The fused BatchNorm primitive and the max-pool kernels against PyTorch, first and second order."""
from __future__ import annotations

import numpy as np
import pytest

from parity import assert_close, check_op, torch

import scratchgrad
import scratchgrad.nn.functional as SF
import scratchgrad.ops.norm
import scratchgrad.runtime.threads

TF = torch.nn.functional
rng = np.random.default_rng(3)


def F(lib):
    return TF if lib is torch else SF


def const(lib, values, like):
    """A constant (not differentiated) tensor of ``like``'s dtype, on its device."""
    return lib.tensor(np.asarray(values), device=like.device).to(like.dtype)


def first_derivative(lib, y, inputs):
    return lib.autograd.grad((y * y.tanh()).sum(), inputs, create_graph=True)


def stored(x, order):
    """The same values as ``x``, stored with its axes in ``order`` (outermost first). Copied by a
    reshape: scratchgrad's ``contiguous()`` returns the tensor as it is (its ops take any layout)."""
    y = x.permute(*order)
    return y.reshape(-1).reshape(y.shape).permute(*(int(axis) for axis in np.argsort(order)))


def batch_last(lib, x):
    """The same values as ``x``, stored (C, H, W, N)."""
    return stored(x, (1, 2, 3, 0))


def channels_last(lib, x):
    """The same values as ``x``, stored (H, W, N, C), as conv outputs are."""
    return stored(x, (2, 3, 0, 1))


running_mean, running_var = rng.standard_normal(3), rng.uniform(0.5, 2.0, 3)
BATCH_NORM_CASES = {
    "train_4d": (lambda lib, x, w, b: F(lib).batch_norm(x, None, None, w, b, training=True), [(4, 3, 2, 3), (3,), (3,)]),
    "train_4d_offset": (  # a large mean: the variance must not come from E[x^2] - E[x]^2
        lambda lib, x, w, b: F(lib).batch_norm(x + 100.0, None, None, w, b, training=True), [(4, 3, 2, 3), (3,), (3,)],
    ),
    "train_batch_last": (
        lambda lib, x, w, b: F(lib).batch_norm(batch_last(lib, x), None, None, w, b, training=True), [(4, 3, 2, 3), (3,), (3,)],
    ),
    "train_channels_last": (
        lambda lib, x, w, b: F(lib).batch_norm(channels_last(lib, x), None, None, w, b, training=True), [(4, 3, 2, 3), (3,), (3,)],
    ),
    "train_2d": (lambda lib, x, w, b: F(lib).batch_norm(x, None, None, w, b, training=True), [(5, 3), (3,), (3,)]),
    "train_3d_no_affine": (lambda lib, x: F(lib).batch_norm(x, None, None, training=True, eps=1e-3), [(3, 2, 4)]),
    "eval_4d": (
        lambda lib, x, w, b: F(lib).batch_norm(x, const(lib, running_mean, x), const(lib, running_var, x), w, b),
        [(2, 3, 2, 2), (3,), (3,)],
    ),
    "eval_no_affine": (
        lambda lib, x: F(lib).batch_norm(x, const(lib, running_mean, x), const(lib, running_var, x)), [(2, 3, 4)],
    ),
}


@pytest.mark.parametrize("name", list(BATCH_NORM_CASES))
def test_batch_norm_matches_torch_and_finite_differences(name):
    fn, inputs = BATCH_NORM_CASES[name]
    check_op(fn, inputs)


@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_second_derivatives_match_torch(training):
    def fn(lib, x, w, b):
        mean, var = (None, None) if training else (const(lib, running_mean, x), const(lib, running_var, x))
        return first_derivative(lib, F(lib).batch_norm(x, mean, var, w, b, training=training), [x, w, b])

    check_op(fn, [(4, 3, 2, 2), (3,), (3,)], fd=False)


@pytest.mark.parametrize("layout", [channels_last, batch_last])
def test_batch_norm_float32_statistics_are_accurate(layout):
    """Many positions per channel and a large mean: the float32 statistics stay within a few
    ulps of float64 ones (a plain running sum would be off by ~1e-4)."""
    x = rng.standard_normal((64, 3, 32, 32)) * 0.1 + 5.0
    out, mean, var = scratchgrad.ops.norm.BatchNorm.apply(layout(scratchgrad, scratchgrad.tensor(x.astype(np.float32))), None, None, None, None, 1e-5)
    np.testing.assert_allclose(mean.array, x.mean(axis=(0, 2, 3)), rtol=1e-6)
    np.testing.assert_allclose(var.array, x.var(axis=(0, 2, 3)), rtol=2e-5)


def test_batch_norm_running_statistics_and_dtype():
    x = rng.standard_normal((6, 3, 4, 4)).astype(np.float32) * 3 + 1
    t_mean, t_var = torch.zeros(3), torch.ones(3)
    s_mean, s_var = scratchgrad.zeros(3), scratchgrad.ones(3)
    for _ in range(2):
        t_out = TF.batch_norm(torch.tensor(x), t_mean, t_var, training=True, momentum=0.2)
        s_out = SF.batch_norm(scratchgrad.tensor(x), s_mean, s_var, training=True, momentum=0.2)
    assert s_out.dtype == s_mean.dtype == s_var.dtype == np.float32
    for s, t in ((s_out, t_out), (s_mean, t_mean), (s_var, t_var)):
        assert_close(s, t, 1e-5, 1e-5)


tied = np.round(rng.uniform(-1, 1, (2, 3, 6, 7)) * 2) / 2  # many equal values in a window
MAX_POOL_CASES = {
    "blocks": (lambda lib, x: F(lib).max_pool2d(x, 2), [(2, 3, 6, 6)], {}),
    "blocks_odd_floor": (lambda lib, x: F(lib).max_pool2d(x, 2), [(2, 3, 7, 5)], {}),
    "blocks_3x2": (lambda lib, x: F(lib).max_pool2d(x, (3, 2)), [(1, 2, 7, 6)], {}),
    "blocks_batch_last": (lambda lib, x: F(lib).max_pool2d(batch_last(lib, x), 2), [(3, 2, 4, 6)], {}),
    "blocks_channels_last": (lambda lib, x: F(lib).max_pool2d(channels_last(lib, x), 2), [(3, 2, 5, 6)], {}),
    "blocks_ties": (lambda lib, x: F(lib).max_pool2d(x, 2), [tied], {"fd": False}),
    "blocks_relu_zeros": (lambda lib, x: F(lib).max_pool2d(F(lib).relu(x), 2), [(2, 3, 6, 6)], {"fd": False}),
    "overlapping_ties": (lambda lib, x: F(lib).max_pool2d(x, 3, stride=2, padding=1), [tied], {"fd": False}),
    "stride_gt_kernel": (lambda lib, x: F(lib).max_pool2d(x, 2, stride=3), [(1, 2, 8, 7)], {}),
}


@pytest.mark.parametrize("name", list(MAX_POOL_CASES))
def test_max_pool_matches_torch(name):
    fn, inputs, options = MAX_POOL_CASES[name]
    check_op(fn, inputs, **options)


@pytest.mark.parametrize("layout", [channels_last, batch_last, lambda lib, x: x], ids=["rows", "channels", "images"])
def test_tiled_max_pool_split_over_cores_matches_torch(monkeypatch, layout):
    """Three blocks of work however small the input: of output rows (the windows of each block
    start at its first row; the input's last row is in no window), of channels or of images."""
    monkeypatch.setattr(scratchgrad.runtime.threads, "MIN_PARALLEL_BYTES", 0)
    monkeypatch.setattr(scratchgrad.runtime.threads, "AUTOTUNE", False)  # every call on the pool, none timed
    monkeypatch.setattr(scratchgrad.runtime.threads, "num_threads", lambda: 3)
    x = np.round(rng.uniform(-1, 1, (3, 3, 11, 6)) * 2) / 2  # ties, and 5 output rows
    check_op(lambda lib, x: F(lib).max_pool2d(layout(lib, x), 2), [x], fd=False)
    check_op(lambda lib, x: first_derivative(lib, F(lib).max_pool2d(layout(lib, x * x), 2), [x]), [x], fd=False)


@pytest.mark.parametrize("kernel, stride, padding", [(2, None, 0), (3, 2, 1)])
def test_max_pool_second_derivatives_match_torch(kernel, stride, padding):
    check_op(
        lambda lib, x: first_derivative(lib, F(lib).max_pool2d(x * x, kernel, stride, padding), [x]), [(2, 2, 6, 5)], fd=False
    )


def test_avg_pool_second_derivatives_match_torch():
    check_op(lambda lib, x: first_derivative(lib, F(lib).avg_pool2d(x * x, 2), [x]), [(2, 2, 4, 5)], fd=False)
