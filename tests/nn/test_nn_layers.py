"""Every layer's forward and gradients against PyTorch, after copying torch's weights (float64 and float32)."""
import numpy as np
import pytest

import scratchgrad as sg
import scratchgrad.nn as snn
import scratchgrad.nn.functional as F

pytest.importorskip("torch")
from nn_parity import check_parity  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:Using padding=.same. with even kernel")

rng = np.random.default_rng(1234)


def randn(*shape):
    return rng.standard_normal(shape)


def labels(n, classes, *rest):
    return rng.integers(0, classes, size=(n, *rest)).astype(np.int64)


# (id, make(nn, T), inputs)
LAYERS = [
    ("identity", lambda nn, T: nn.Identity(3, foo=1), [randn(2, 3)]),
    ("flatten", lambda nn, T: nn.Flatten(), [randn(2, 3, 4, 5)]),
    ("flatten-1-2", lambda nn, T: nn.Flatten(1, 2), [randn(2, 3, 4, 5)]),
    ("unflatten", lambda nn, T: nn.Unflatten(1, (3, 4)), [randn(2, 12, 5)]),
    ("linear", lambda nn, T: nn.Linear(5, 3), [randn(4, 5)]),
    ("linear-3d-nobias", lambda nn, T: nn.Linear(5, 3, bias=False), [randn(2, 4, 5)]),
    ("conv", lambda nn, T: nn.Conv2d(3, 4, 3), [randn(2, 3, 7, 6)]),
    ("conv-stride-pad-dil", lambda nn, T: nn.Conv2d(3, 4, (3, 2), stride=(2, 1), padding=(1, 2), dilation=(2, 1)), [randn(2, 3, 9, 8)]),
    ("conv-groups", lambda nn, T: nn.Conv2d(4, 6, 3, padding=1, groups=2, bias=False), [randn(2, 4, 5, 5)]),
    ("conv-same-even", lambda nn, T: nn.Conv2d(2, 3, 4, padding="same"), [randn(2, 2, 6, 5)]),
    ("conv-valid", lambda nn, T: nn.Conv2d(2, 3, 2, padding="valid"), [randn(1, 2, 5, 5)]),
    ("conv-unbatched", lambda nn, T: nn.Conv2d(2, 3, 3, padding=1), [randn(2, 5, 5)]),
    ("batchnorm1d-2d", lambda nn, T: nn.BatchNorm1d(4), [randn(6, 4)]),
    ("batchnorm1d-3d", lambda nn, T: nn.BatchNorm1d(4, momentum=None), [randn(3, 4, 5)]),
    ("batchnorm2d", lambda nn, T: nn.BatchNorm2d(3), [randn(4, 3, 5, 5)]),
    ("batchnorm2d-noaffine", lambda nn, T: nn.BatchNorm2d(3, affine=False, track_running_stats=False), [randn(4, 3, 2, 2)]),
    ("dropout-p0", lambda nn, T: nn.Dropout(0.0), [randn(3, 4)]),
    ("relu", lambda nn, T: nn.ReLU(), [randn(3, 4)]),
    ("leaky_relu", lambda nn, T: nn.LeakyReLU(0.2), [randn(3, 4)]),
    ("selu", lambda nn, T: nn.SELU(), [randn(3, 4)]),
    ("elu", lambda nn, T: nn.ELU(alpha=0.5), [randn(3, 4)]),
    ("gelu", lambda nn, T: nn.GELU(), [randn(3, 4)]),
    ("gelu-tanh", lambda nn, T: nn.GELU(approximate="tanh"), [randn(3, 4)]),
    ("silu", lambda nn, T: nn.SiLU(), [randn(3, 4)]),
    ("softplus", lambda nn, T: nn.Softplus(beta=2.0, threshold=3.0), [randn(3, 4) * 3]),
    ("sigmoid", lambda nn, T: nn.Sigmoid(), [randn(3, 4)]),
    ("tanh", lambda nn, T: nn.Tanh(), [randn(3, 4)]),
    ("softmax", lambda nn, T: nn.Softmax(dim=1), [randn(3, 4, 2)]),
    ("softmax-last", lambda nn, T: nn.Softmax(dim=-1), [randn(3, 4)]),
    ("log_softmax", lambda nn, T: nn.LogSoftmax(dim=1), [randn(3, 4)]),
    ("maxpool", lambda nn, T: nn.MaxPool2d(2), [randn(2, 3, 6, 5)]),
    ("maxpool-3-2-1", lambda nn, T: nn.MaxPool2d(3, stride=2, padding=1), [randn(2, 3, 7, 6)]),
    ("maxpool-dilation", lambda nn, T: nn.MaxPool2d((2, 3), stride=1, dilation=2), [randn(1, 2, 6, 7)]),
    ("avgpool", lambda nn, T: nn.AvgPool2d(2), [randn(2, 3, 6, 5)]),
    ("avgpool-pad-exclude", lambda nn, T: nn.AvgPool2d(3, 2, 1, count_include_pad=False), [randn(2, 3, 7, 6)]),
    ("avgpool-divisor", lambda nn, T: nn.AvgPool2d(2, 1, divisor_override=3), [randn(1, 2, 4, 4)]),
    ("adaptive-1", lambda nn, T: nn.AdaptiveAvgPool2d(1), [randn(2, 3, 5, 4)]),
    ("adaptive-uneven", lambda nn, T: nn.AdaptiveAvgPool2d((3, 2)), [randn(2, 3, 7, 5)]),
    ("adaptive-none", lambda nn, T: nn.AdaptiveAvgPool2d((None, 2)), [randn(1, 2, 3, 4)]),
    ("cross_entropy", lambda nn, T: nn.CrossEntropyLoss(), [randn(5, 4), labels(5, 4)]),
    ("cross_entropy-weighted-smooth", lambda nn, T: nn.CrossEntropyLoss(weight=T(rng.random(4) + 0.5), label_smoothing=0.1), [randn(5, 4), labels(5, 4)]),
    ("cross_entropy-ignore-sum", lambda nn, T: nn.CrossEntropyLoss(ignore_index=1, reduction="sum"), [randn(6, 3), labels(6, 3)]),
    ("cross_entropy-spatial-none", lambda nn, T: nn.CrossEntropyLoss(reduction="none"), [randn(2, 3, 4), labels(2, 3, 4)]),
    ("cross_entropy-probabilities", lambda nn, T: nn.CrossEntropyLoss(), [randn(4, 3), rng.dirichlet(np.ones(3), 4)]),
    ("nll", lambda nn, T: nn.NLLLoss(weight=T(rng.random(3) + 0.5)), [randn(5, 3), labels(5, 3)]),
    ("mse", lambda nn, T: nn.MSELoss(), [randn(3, 4), randn(3, 4)]),
    ("mse-sum", lambda nn, T: nn.MSELoss(reduction="sum"), [randn(3, 4), randn(3, 4)]),
    ("l1", lambda nn, T: nn.L1Loss(reduction="none"), [randn(3, 4), randn(3, 4)]),
    ("bce", lambda nn, T: nn.BCELoss(), [rng.random((3, 4)) * 0.9 + 0.05, rng.random((3, 4))]),
    ("bce_logits", lambda nn, T: nn.BCEWithLogitsLoss(), [randn(3, 4), rng.random((3, 4))]),
    ("bce_logits-weights", lambda nn, T: nn.BCEWithLogitsLoss(weight=T(rng.random(4)), pos_weight=T(rng.random(4) + 0.5)), [randn(3, 4), rng.random((3, 4))]),
    # layers that public GAN, super-resolution and style-transfer code uses (issue 18)
    ("conv_transpose", lambda nn, T: nn.ConvTranspose2d(3, 2, 4, stride=2, padding=1), [randn(2, 3, 4, 5)]),
    ("conv_transpose-dcgan-first", lambda nn, T: nn.ConvTranspose2d(5, 4, 4, 1, 0, bias=False), [randn(2, 5, 1, 1)]),
    ("conv_transpose-outpad-groups-dil", lambda nn, T: nn.ConvTranspose2d(4, 6, (3, 2), stride=(2, 3), padding=(1, 0),
                                                                         output_padding=(1, 2), groups=2, dilation=(1, 2)), [randn(2, 4, 3, 3)]),
    ("conv_transpose-3x3-wide", lambda nn, T: nn.ConvTranspose2d(16, 16, 3, padding=1), [randn(1, 16, 4, 4)]),
    ("conv_transpose-unbatched", lambda nn, T: nn.ConvTranspose2d(2, 3, 3, stride=2), [randn(2, 3, 3)]),
    ("conv-reflect", lambda nn, T: nn.Conv2d(2, 3, 3, padding=1, padding_mode="reflect"), [randn(2, 2, 5, 4)]),
    ("conv-replicate", lambda nn, T: nn.Conv2d(2, 3, 3, padding=(2, 1), padding_mode="replicate"), [randn(1, 2, 4, 4)]),
    ("conv-circular", lambda nn, T: nn.Conv2d(2, 3, 3, padding=1, padding_mode="circular"), [randn(1, 2, 4, 5)]),
    ("dropout2d-eval-like-p0", lambda nn, T: nn.Dropout2d(0.0), [randn(2, 3, 4, 4)]),
    ("dropout1d-p0", lambda nn, T: nn.Dropout1d(0.0), [randn(2, 3, 4)]),
    ("pixel_shuffle", lambda nn, T: nn.PixelShuffle(2), [randn(2, 8, 3, 4)]),
    ("pixel_shuffle-3-unbatched", lambda nn, T: nn.PixelShuffle(3), [randn(9, 2, 2)]),
    ("pixel_unshuffle", lambda nn, T: nn.PixelUnshuffle(2), [randn(2, 2, 4, 6)]),
    ("reflection_pad2d", lambda nn, T: nn.ReflectionPad2d(2), [randn(2, 3, 4, 5)]),
    ("reflection_pad2d-tuple", lambda nn, T: nn.ReflectionPad2d((1, 3, 2, 0)), [randn(1, 2, 4, 4)]),
    ("reflection_pad1d", lambda nn, T: nn.ReflectionPad1d((2, 1)), [randn(2, 3, 4)]),
    ("replication_pad2d", lambda nn, T: nn.ReplicationPad2d((3, 0, 1, 2)), [randn(2, 3, 3, 3)]),
    ("replication_pad1d", lambda nn, T: nn.ReplicationPad1d(2), [randn(2, 5)]),
    ("zero_pad2d", lambda nn, T: nn.ZeroPad2d((1, 2, 0, 1)), [randn(2, 3, 3, 3)]),
    ("constant_pad2d", lambda nn, T: nn.ConstantPad2d(1, 3.5), [randn(1, 2, 3, 3)]),
    ("constant_pad1d", lambda nn, T: nn.ConstantPad1d((0, 2), -1.0), [randn(2, 3, 3)]),
    ("circular_pad2d", lambda nn, T: nn.CircularPad2d((1, 2, 2, 1)), [randn(1, 2, 3, 4)]),
    ("instance_norm2d", lambda nn, T: nn.InstanceNorm2d(3), [randn(2, 3, 4, 5)]),
    ("instance_norm2d-affine", lambda nn, T: nn.InstanceNorm2d(3, affine=True), [randn(2, 3, 4, 4)]),
    ("instance_norm2d-running", lambda nn, T: nn.InstanceNorm2d(3, affine=True, track_running_stats=True, momentum=0.3), [randn(4, 3, 3, 3)]),
    ("instance_norm2d-unbatched", lambda nn, T: nn.InstanceNorm2d(2, affine=True), [randn(2, 3, 4)]),
    ("instance_norm1d", lambda nn, T: nn.InstanceNorm1d(3, affine=True, track_running_stats=True), [randn(2, 3, 6)]),
    ("group_norm", lambda nn, T: nn.GroupNorm(2, 4), [randn(3, 4, 3, 3)]),
    ("group_norm-1d-noaffine", lambda nn, T: nn.GroupNorm(3, 6, eps=1e-3, affine=False), [randn(2, 6, 5)]),
    ("group_norm-per-channel", lambda nn, T: nn.GroupNorm(4, 4), [randn(2, 4, 2, 3)]),
    ("layer_norm", lambda nn, T: nn.LayerNorm(5), [randn(3, 4, 5)]),
    ("layer_norm-2d-shape", lambda nn, T: nn.LayerNorm((3, 4), eps=1e-3), [randn(2, 3, 4)]),
    ("layer_norm-nobias", lambda nn, T: nn.LayerNorm(4, bias=False), [randn(3, 4)]),
    ("layer_norm-noaffine", lambda nn, T: nn.LayerNorm([2, 3], elementwise_affine=False), [randn(4, 2, 3)]),
    ("embedding", lambda nn, T: nn.Embedding(7, 3), [labels(4, 7, 2)]),
    ("embedding-padding", lambda nn, T: nn.Embedding(6, 4, padding_idx=2), [np.array([[2, 1, 2], [0, 5, 2]])]),
    ("embedding-negative-padding", lambda nn, T: nn.Embedding(6, 4, padding_idx=-1), [np.array([5, 0, 5, 3])]),
    ("upsample-nearest-2", lambda nn, T: nn.Upsample(scale_factor=2), [randn(2, 3, 3, 4)]),
    ("upsample-nearest-size", lambda nn, T: nn.Upsample(size=(5, 7)), [randn(1, 2, 3, 4)]),
    ("upsample-nearest-down", lambda nn, T: nn.Upsample(size=(2, 3)), [randn(1, 2, 5, 7)]),
    ("upsample-nearest-1.5", lambda nn, T: nn.Upsample(scale_factor=1.5), [randn(1, 2, 4, 3)]),
    ("upsample-bilinear", lambda nn, T: nn.Upsample(scale_factor=2, mode="bilinear"), [randn(2, 2, 3, 4)]),
    ("upsample-bilinear-aligned", lambda nn, T: nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True), [randn(1, 2, 3, 4)]),
    ("upsample-bilinear-size-down", lambda nn, T: nn.Upsample(size=(2, 5), mode="bilinear"), [randn(1, 2, 5, 3)]),
    ("upsample-linear-1d", lambda nn, T: nn.Upsample(scale_factor=2.5, mode="linear"), [randn(2, 3, 4)]),
    ("upsampling_nearest2d", lambda nn, T: nn.UpsamplingNearest2d(scale_factor=3), [randn(1, 2, 2, 2)]),
    ("upsampling_bilinear2d", lambda nn, T: nn.UpsamplingBilinear2d(size=(4, 7)), [randn(1, 2, 3, 3)]),
    ("data_parallel", lambda nn, T: nn.DataParallel(nn.Sequential(nn.Linear(3, 4), nn.ReLU())), [randn(2, 3)]),
]


def _seq(nn, T):
    return nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(16, 3))


LAYERS.append(("sequential-cnn", _seq, [randn(3, 2, 4, 4)]))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("make, inputs", [pytest.param(m, x, id=name) for name, m, x in LAYERS])
def test_layer_matches_torch(make, inputs, dtype):
    check_parity(make, inputs, dtype, train=True)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_eval_mode_cnn_matches_torch(dtype):
    check_parity(_seq, [randn(3, 2, 4, 4)], dtype, train=False)


def test_layer_outputs_keep_float32():
    model = snn.Sequential(snn.Conv2d(1, 2, 3), snn.BatchNorm2d(2), snn.GELU(), snn.AdaptiveAvgPool2d(1), snn.Flatten(), snn.Linear(2, 3))
    out = model(sg.randn(2, 1, 5, 5))
    assert out.dtype == np.float32
    snn.CrossEntropyLoss()(out, sg.tensor([0, 2])).backward()
    assert all(p.grad.dtype == np.float32 for p in model.parameters())
    assert all(b.dtype in (np.float32, np.int64) for b in model.buffers())


@pytest.mark.parametrize("make, error, match", [
    (lambda nn: nn.Linear(-1, 3), ValueError, r"Linear: in_features must be an int >= 0, got -1"),
    (lambda nn: nn.Linear(2.5, 3), ValueError, "in_features"),
    (lambda nn: nn.Conv2d(3, 4, 3, groups=2), ValueError, r"Conv2d: in_channels must be divisible by groups, got in_channels=3, groups=2"),
    (lambda nn: nn.Conv2d(4, 6, 3, groups=4), ValueError, "out_channels must be divisible by groups"),
    (lambda nn: nn.Conv2d(3, 4, 0), ValueError, "kernel_size must be an int >= 1"),
    (lambda nn: nn.Conv2d(3, 4, (3, 3, 3)), ValueError, "kernel_size must be an int or a pair"),
    (lambda nn: nn.Conv2d(3, 4, 3, padding="full"), ValueError, "padding must be one of"),
    (lambda nn: nn.Conv2d(3, 4, 3, padding=-1), ValueError, "padding must be an int >= 0"),
    (lambda nn: nn.Conv2d(3, 4, 3, stride=2, padding="same"), ValueError, "padding='same' is not supported for strided convolutions"),
    (lambda nn: nn.Conv2d(3, 4, 3, padding_mode="mirror"), ValueError, "padding_mode must be one of"),
    (lambda nn: nn.GELU("fast"), ValueError, "approximate must be one of"),
    (lambda nn: nn.CrossEntropyLoss(reduction="avg"), ValueError, "CrossEntropyLoss: reduction must be one of"),
    (lambda nn: nn.CrossEntropyLoss(label_smoothing=1.5), ValueError, "label_smoothing"),
    (lambda nn: nn.MaxPool2d(2, padding=2), ValueError, "padding should be at most half of the kernel size"),
    (lambda nn: nn.MaxPool2d(2, return_indices=True), NotImplementedError, "MaxPool2d: return_indices=True is not supported"),
    (lambda nn: nn.MaxPool2d(2, ceil_mode=True), NotImplementedError, "ceil_mode=True is not supported"),
    (lambda nn: nn.AvgPool2d(2, ceil_mode=True), NotImplementedError, "ceil_mode=True is not supported"),
    (lambda nn: nn.AdaptiveAvgPool2d((1, 2, 3)), ValueError, "output_size must be an int or a pair"),
    (lambda nn: nn.AdaptiveAvgPool2d(0), ValueError, "output_size must be an int >= 1"),
])
def test_constructor_arguments_are_validated(make, error, match):
    with pytest.raises(error, match=match):
        make(snn)


def test_numpy_integer_sizes_are_accepted():
    assert snn.Linear(np.int64(3), np.int32(2)).weight.shape == (2, 3)


def test_softmax_without_dim_uses_torchs_legacy_choice():
    with pytest.warns(UserWarning, match="Implicit dimension choice"):
        check_parity(lambda nn, T: nn.Softmax(), [randn(3, 4)], np.float64)


def test_padding_modes_beyond_zeros():
    try:
        F.pad(sg.zeros(1, 1, 2, 2), (1, 1, 1, 1), mode="reflect")
    except NotImplementedError:
        with pytest.raises(NotImplementedError, match="reflect"):
            snn.Conv2d(1, 2, 3, padding=1, padding_mode="reflect")(sg.randn(1, 1, 4, 4))
        return
    check_parity(lambda nn, T: nn.Conv2d(2, 3, 3, padding=(1, 2), padding_mode="reflect"), [randn(2, 2, 5, 6)], np.float64)
