"""``nn.functional`` against PyTorch: one line per case, values and gradients (see tests/parity.py)."""
from __future__ import annotations

import numpy as np
import pytest

from parity import check_op, torch

import scratchgrad
import scratchgrad.nn.functional as SF

TF = torch.nn.functional
pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same'")  # torch's note about its own padded copy


def F(lib):
    return TF if lib is torch else SF


def const(lib, values, like):
    """A constant (not differentiated) tensor of ``like``'s dtype, on its device."""
    return lib.tensor(np.asarray(values), device=like.device).to(like.dtype)


rng = np.random.default_rng(1)
labels = rng.integers(0, 5, size=4)
labels_ignored = np.array([0, -100, 3, 4])
labels_2d = rng.integers(0, 3, size=(2, 3, 2))
probabilities = rng.dirichlet(np.ones(5), size=4)
binary = (rng.random((3, 4)) > 0.5).astype(np.float64)
class_weight = rng.uniform(0.5, 2.0, 5)
pos_weight = rng.uniform(0.5, 2.0, 4)
running_mean, running_var = rng.standard_normal(3), rng.uniform(0.5, 2.0, 3)

CASES = {
    # layers
    "linear": (lambda lib, x, w, b: F(lib).linear(x, w, b), [(3, 4), (5, 4), (5,)]),
    "linear_batched_nobias": (lambda lib, x, w: F(lib).linear(x, w), [(2, 3, 4), (5, 4)]),
    "conv2d": (lambda lib, x, w, b: F(lib).conv2d(x, w, b, padding=1), [(2, 3, 5, 6), (4, 3, 3, 3), (4,)]),
    "conv2d_stride_dilation": (lambda lib, x, w: F(lib).conv2d(x, w, stride=2, padding=2, dilation=2), [(1, 2, 7, 8), (3, 2, 3, 3)]),
    "conv2d_groups_rect": (lambda lib, x, w: F(lib).conv2d(x, w, stride=(2, 1), padding=(1, 0), groups=2), [(2, 4, 6, 5), (6, 2, 3, 2)]),
    "conv2d_same_even": (lambda lib, x, w: F(lib).conv2d(x, w, padding="same"), [(1, 2, 5, 5), (2, 2, 2, 4)]),
    "conv2d_1x1": (lambda lib, x, w: F(lib).conv2d(x, w), [(2, 3, 4, 4), (5, 3, 1, 1)]),
    "conv2d_unbatched": (lambda lib, x, w: F(lib).conv2d(x, w, padding=1), [(2, 4, 4), (3, 2, 3, 3)]),
    "max_pool2d": (lambda lib, x: F(lib).max_pool2d(x, 2), [(2, 3, 6, 7)]),
    "max_pool2d_pad_stride": (lambda lib, x: F(lib).max_pool2d(x, 3, stride=2, padding=1), [(1, 2, 7, 6)]),
    "max_pool2d_dilation": (lambda lib, x: F(lib).max_pool2d(x, 2, stride=1, dilation=2), [(1, 2, 6, 6)]),
    "avg_pool2d": (lambda lib, x: F(lib).avg_pool2d(x, 2), [(2, 3, 6, 7)]),
    "avg_pool2d_pad": (lambda lib, x: F(lib).avg_pool2d(x, 3, 2, 1), [(1, 2, 7, 6)]),
    "avg_pool2d_exclude_pad": (lambda lib, x: F(lib).avg_pool2d(x, 3, 2, 1, count_include_pad=False), [(1, 2, 7, 6)]),
    "adaptive_avg_pool2d_1": (lambda lib, x: F(lib).adaptive_avg_pool2d(x, 1), [(2, 3, 5, 4)]),
    "adaptive_avg_pool2d_uneven": (lambda lib, x: F(lib).adaptive_avg_pool2d(x, (3, 2)), [(1, 2, 7, 5)]),
    "batch_norm_train_2d": (lambda lib, x, w, b: F(lib).batch_norm(x, None, None, w, b, training=True), [(4, 3, 2, 3), (3,), (3,)]),
    "batch_norm_train_1d": (lambda lib, x, w, b: F(lib).batch_norm(x, None, None, w, b, training=True), [(5, 3), (3,), (3,)]),
    "batch_norm_eval": (
        lambda lib, x, w, b: F(lib).batch_norm(x, const(lib, running_mean, x), const(lib, running_var, x), w, b, training=False),
        [(4, 3, 2, 2), (3,), (3,)],
    ),
    "dropout_eval": (lambda lib, x: F(lib).dropout(x, 0.5, training=False), [(3, 4)]),
    # activations
    "relu": (lambda lib, x: F(lib).relu(x), [(3, 4)]),
    "leaky_relu": (lambda lib, x: F(lib).leaky_relu(x, 0.2), [(3, 4)]),
    "elu": (lambda lib, x: F(lib).elu(x, 0.7), [(3, 4)]),
    "selu": (lambda lib, x: F(lib).selu(x), [(3, 4)]),
    "gelu": (lambda lib, x: F(lib).gelu(x), [(3, 4)]),
    "gelu_tanh": (lambda lib, x: F(lib).gelu(x, approximate="tanh"), [(3, 4)]),
    "silu": (lambda lib, x: F(lib).silu(x), [(3, 4)]),
    "softplus": (lambda lib, x: F(lib).softplus(x, beta=2.0, threshold=3.0), [(3, 4)]),
    "sigmoid": (lambda lib, x: F(lib).sigmoid(x), [(3, 4)]),
    "tanh": (lambda lib, x: F(lib).tanh(x), [(3, 4)]),
    "softmax": (lambda lib, x: F(lib).softmax(x, dim=1), [(3, 4)]),
    "log_softmax": (lambda lib, x: F(lib).log_softmax(x, dim=0), [(3, 4)]),
    "pad": (lambda lib, x: F(lib).pad(x, (1, 2, 0, 1)), [(2, 3, 4)]),
    "pad_value": (lambda lib, x: F(lib).pad(x, (1, 0, 2, 1, 1, 1), value=-2.0), [(2, 3, 2)]),
    "pad_reflect": (lambda lib, x: F(lib).pad(x, (2, 1, 1, 3), mode="reflect"), [(1, 2, 4, 3)]),
    "pad_reflect_1d": (lambda lib, x: F(lib).pad(x, (3, 2), mode="reflect"), [(2, 2, 4)]),
    "pad_replicate": (lambda lib, x: F(lib).pad(x, (2, 0, 1, 2), mode="replicate"), [(1, 2, 3, 3)]),
    "pad_circular": (lambda lib, x: F(lib).pad(x, (1, 3, 2, 2), mode="circular"), [(1, 2, 3, 3)]),
    "pad_replicate_unbatched_3d": (lambda lib, x: F(lib).pad(x, (1, 1, 0, 2, 1, 0), mode="replicate"), [(2, 2, 2, 3)]),
    # layers from GAN, super-resolution and style-transfer code (issue 18)
    "conv_transpose2d": (lambda lib, x, w, b: F(lib).conv_transpose2d(x, w, b, stride=2, padding=1), [(2, 3, 3, 4), (3, 2, 4, 4), (2,)]),
    "conv_transpose2d_outpad_dil": (
        lambda lib, x, w: F(lib).conv_transpose2d(x, w, stride=(3, 2), padding=(0, 1), output_padding=(2, 1), dilation=(1, 2)),
        [(1, 2, 2, 3), (2, 2, 2, 3)],
    ),
    "conv_transpose2d_groups": (lambda lib, x, w: F(lib).conv_transpose2d(x, w, stride=2, groups=2), [(1, 4, 3, 2), (4, 1, 3, 3)]),
    "conv_transpose2d_unbatched": (lambda lib, x, w: F(lib).conv_transpose2d(x, w, padding=1), [(2, 3, 3), (2, 3, 3, 3)]),
    "pixel_shuffle": (lambda lib, x: F(lib).pixel_shuffle(x, 2), [(1, 8, 2, 3)]),
    "pixel_unshuffle": (lambda lib, x: F(lib).pixel_unshuffle(x, 2), [(1, 2, 4, 2)]),
    "interpolate_nearest": (lambda lib, x: F(lib).interpolate(x, scale_factor=2), [(1, 2, 2, 3)]),
    "interpolate_nearest_size": (lambda lib, x: F(lib).interpolate(x, size=(3, 5)), [(1, 2, 4, 3)]),
    "interpolate_nearest_recompute": (
        lambda lib, x: F(lib).interpolate(x, scale_factor=1.7, recompute_scale_factor=True), [(1, 1, 3, 4)],
    ),
    "interpolate_nearest_1d": (lambda lib, x: F(lib).interpolate(x, size=7), [(2, 2, 3)]),
    "interpolate_bilinear": (lambda lib, x: F(lib).interpolate(x, scale_factor=2, mode="bilinear"), [(1, 2, 3, 2)]),
    "interpolate_bilinear_aligned": (
        lambda lib, x: F(lib).interpolate(x, size=(4, 5), mode="bilinear", align_corners=True), [(1, 2, 3, 3)],
    ),
    "interpolate_bilinear_fraction": (lambda lib, x: F(lib).interpolate(x, scale_factor=0.6, mode="bilinear"), [(1, 1, 5, 4)]),
    "interpolate_linear": (lambda lib, x: F(lib).interpolate(x, scale_factor=1.5, mode="linear"), [(2, 2, 4)]),
    "interpolate_area": (lambda lib, x: F(lib).interpolate(x, size=(2, 3), mode="area"), [(1, 2, 5, 6)]),
    "layer_norm": (lambda lib, x, w, b: F(lib).layer_norm(x, (4,), w, b), [(3, 4), (4,), (4,)]),
    "layer_norm_2d": (lambda lib, x: F(lib).layer_norm(x, (2, 3), eps=1e-3), [(2, 2, 3)]),
    "group_norm": (lambda lib, x, w, b: F(lib).group_norm(x, 2, w, b), [(2, 4, 2, 2), (4,), (4,)]),
    "instance_norm": (lambda lib, x, w, b: F(lib).instance_norm(x, weight=w, bias=b), [(2, 3, 2, 3), (3,), (3,)]),
    "instance_norm_eval": (
        lambda lib, x: F(lib).instance_norm(x, const(lib, running_mean, x), const(lib, running_var, x), use_input_stats=False),
        [(2, 3, 2, 2)],
    ),
    "embedding": (lambda lib, w, i: F(lib).embedding(i, w), [(5, 3), np.array([[0, 4], [4, 2]])]),
    # the padding row gives its value but no gradient (PyTorch's rule), so finite differences disagree by design
    "embedding_padding": (lambda lib, w, i: F(lib).embedding(i, w, padding_idx=4), [(5, 3), np.array([4, 1, 4, 0])], dict(fd=False)),
    "dropout2d_eval": (lambda lib, x: F(lib).dropout2d(x, 0.5, training=False), [(2, 3, 2, 2)]),
    # losses
    "cross_entropy": (lambda lib, x, t: F(lib).cross_entropy(x, t), [(4, 5), labels]),
    "cross_entropy_sum_weight": (lambda lib, x, t: F(lib).cross_entropy(x, t, const(lib, class_weight, x), reduction="sum"), [(4, 5), labels]),
    "cross_entropy_weight_mean": (lambda lib, x, t: F(lib).cross_entropy(x, t, const(lib, class_weight, x)), [(4, 5), labels]),
    "cross_entropy_ignore": (lambda lib, x, t: F(lib).cross_entropy(x, t, ignore_index=-100), [(4, 5), labels_ignored]),
    "cross_entropy_smoothing": (lambda lib, x, t: F(lib).cross_entropy(x, t, label_smoothing=0.1), [(4, 5), labels]),
    "cross_entropy_smoothing_weight": (
        lambda lib, x, t: F(lib).cross_entropy(x, t, const(lib, class_weight, x), label_smoothing=0.2), [(4, 5), labels],
    ),
    "cross_entropy_none": (lambda lib, x, t: F(lib).cross_entropy(x, t, reduction="none"), [(4, 5), labels]),
    "cross_entropy_spatial": (lambda lib, x, t: F(lib).cross_entropy(x, t), [(2, 3, 3, 2), labels_2d]),
    "cross_entropy_probabilities": (lambda lib, x: F(lib).cross_entropy(x, const(lib, probabilities, x)), [(4, 5)]),
    "nll_loss": (lambda lib, x, t: F(lib).nll_loss(x, t), [(4, 5), labels]),
    "mse_loss": (lambda lib, x, y: F(lib).mse_loss(x, y), [(3, 4), (3, 4)]),
    "mse_loss_sum": (lambda lib, x, y: F(lib).mse_loss(x, y, reduction="sum"), [(3, 4), (3, 4)]),
    "l1_loss": (lambda lib, x, y: F(lib).l1_loss(x, y), [(3, 4), (3, 4)]),
    "bce_with_logits": (lambda lib, x: F(lib).binary_cross_entropy_with_logits(x, const(lib, binary, x)), [(3, 4)]),
    "bce_with_logits_pos_weight": (
        lambda lib, x: F(lib).binary_cross_entropy_with_logits(x, const(lib, binary, x), pos_weight=const(lib, pos_weight, x)), [(3, 4)],
    ),
    "bce_with_logits_soft_targets": (lambda lib, x, y: F(lib).binary_cross_entropy_with_logits(x, y), [(3, 4), rng.random((3, 4))]),
    "binary_cross_entropy": (lambda lib, x: F(lib).binary_cross_entropy(x.sigmoid(), const(lib, binary, x)), [(3, 4)]),
}


@pytest.mark.parametrize("name", list(CASES))
def test_functional_matches_torch(name):
    fn, inputs, *options = CASES[name]
    check_op(fn, inputs, **(options[0] if options else {}))


def _torchvision_focal_loss(x, t, alpha, gamma, reduction):
    """torchvision.ops.sigmoid_focal_loss, written out (torchvision cannot be installed next to torch here)."""
    p = torch.sigmoid(x)
    ce = TF.binary_cross_entropy_with_logits(x, t, reduction="none")
    p_t = p * t + (1 - p) * (1 - t)
    loss = ce * ((1 - p_t) ** gamma)
    if alpha >= 0:
        loss = (alpha * t + (1 - alpha) * (1 - t)) * loss
    return {"none": loss, "mean": loss.mean(), "sum": loss.sum()}[reduction]


@pytest.mark.parametrize("impl", ["manual", "autograd"])
@pytest.mark.parametrize("alpha,gamma,reduction", [(0.25, 2, "none"), (0.25, 3, "mean"), (-1, 2, "sum"), (0.5, 1.5, "mean"), (0.25, 1, "sum"), (0.25, 0, "sum")])
def test_sigmoid_focal_loss_matches_torchvision(impl, alpha, gamma, reduction):
    def fn(lib, x):
        if lib is torch:
            return _torchvision_focal_loss(x, const(lib, binary, x), alpha, gamma, reduction)
        return SF.sigmoid_focal_loss(x, const(lib, binary, x), alpha, gamma, reduction, impl=impl)

    check_op(fn, [(3, 4)], low=-4, high=4)


def test_sigmoid_focal_loss_study_values():
    """The study's check: inputs [1, -3, 2], targets [0, 1, 0], alpha 0.25, gamma 3, mean."""
    for impl in ("manual", "autograd"):
        x = scratchgrad.tensor([1.0, -3.0, 2.0], requires_grad=True)
        loss = SF.sigmoid_focal_loss(x, scratchgrad.tensor([0.0, 1.0, 0.0]), 0.25, 3, "mean", impl=impl)
        loss.backward()
        assert loss.item() == pytest.approx(0.7112133, abs=1e-6)
        np.testing.assert_allclose(x.grad.numpy(), [0.1749, -0.0999, 0.2804], atol=1e-4)


def test_sigmoid_focal_loss_2d_gradient_not_scaled_by_classes():
    """The study's framework had a gradient C times too large for 2-D inputs."""
    x = rng.standard_normal((4, 3))
    t = (rng.random((4, 3)) > 0.5).astype(np.float64)
    grads = []
    for impl in ("manual", "autograd"):
        sx = scratchgrad.tensor(x, requires_grad=True)
        SF.sigmoid_focal_loss(sx, scratchgrad.tensor(t), reduction="mean", impl=impl).backward()
        grads.append(sx.grad.numpy())
    tx = torch.tensor(x, requires_grad=True)
    _torchvision_focal_loss(tx, torch.tensor(t), 0.25, 2, "mean").backward()
    for grad in grads:
        np.testing.assert_allclose(grad, tx.grad.numpy(), rtol=1e-10)


def test_manual_focal_loss_refuses_double_backward():
    x = scratchgrad.tensor([0.5, -1.0], requires_grad=True)
    loss = SF.sigmoid_focal_loss(x, scratchgrad.tensor([1.0, 0.0]), reduction="sum", impl="manual")
    with pytest.raises(RuntimeError, match="differentiable only once"):
        scratchgrad.autograd.grad(loss, x, create_graph=True)


def test_batch_norm_updates_running_stats_like_torch():
    x = rng.standard_normal((6, 3, 2, 2))
    t_mean, t_var = torch.zeros(3, dtype=torch.float64), torch.ones(3, dtype=torch.float64)
    s_mean, s_var = scratchgrad.zeros(3, dtype=scratchgrad.float64), scratchgrad.ones(3, dtype=scratchgrad.float64)
    for momentum in (0.1, 0.3):
        TF.batch_norm(torch.tensor(x), t_mean, t_var, training=True, momentum=momentum)
        SF.batch_norm(scratchgrad.tensor(x), s_mean, s_var, training=True, momentum=momentum)
    np.testing.assert_allclose(s_mean.numpy(), t_mean.numpy(), rtol=1e-12)
    np.testing.assert_allclose(s_var.numpy(), t_var.numpy(), rtol=1e-12)


def test_dropout_is_inverted_and_seeded():
    x = scratchgrad.ones(1000, 100)
    scratchgrad.manual_seed(3)
    a = SF.dropout(x, 0.3)
    scratchgrad.manual_seed(3)
    b = SF.dropout(x, 0.3)
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    kept = a.numpy()[a.numpy() != 0]
    np.testing.assert_allclose(kept, 1 / 0.7, rtol=1e-6)
    assert abs((a.numpy() == 0).mean() - 0.3) < 0.01
    assert a.dtype == scratchgrad.float32
    assert SF.dropout(x, 0.3, training=False) is x


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: SF.linear(scratchgrad.zeros(2, 3), scratchgrad.zeros(4, 5)), r"linear.*\(2, 3\).*\(4, 5\)"),
        (lambda: SF.conv2d(scratchgrad.zeros(1, 3, 5, 5), scratchgrad.zeros(4, 2, 3, 3)), r"conv2d.*\(1, 3, 5, 5\).*\(4, 2, 3, 3\)"),
        (lambda: SF.cross_entropy(scratchgrad.zeros(4, 5), scratchgrad.tensor([1, 2])), r"cross_entropy.*\(4,\).*\(4, 5\).*\(2,\)"),
        (lambda: SF.mse_loss(scratchgrad.zeros(4, 5), scratchgrad.zeros(5, 4)), r"mse_loss.*\(5, 4\).*\(4, 5\)"),
        (lambda: SF.cross_entropy(scratchgrad.zeros(2, 3), scratchgrad.tensor([0, 3])), r"\[0, 2\]"),
        (lambda: SF.max_pool2d(scratchgrad.zeros(3, 5), 2), r"max_pool2d.*\(3, 5\)"),
    ],
)
def test_shape_errors_name_the_op_and_shapes(call, message):
    with pytest.raises((ValueError, RuntimeError, IndexError), match=message):
        call()
