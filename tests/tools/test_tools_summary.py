"""tools.summary: per-layer table, totals equal to torch's parameter count, no side effects."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

import scratchgrad as sg
import scratchgrad.nn as snn
from scratchgrad.tools import summary


def c5l3(nn, in_channels: int = 3, side: int = 32, batchnorm: bool = False, lazy: bool = False, width: float = 1.0):
    """The study's C5L3 (DESIGN.md), built from the ``nn`` namespace it is given."""
    channels = [in_channels] + [int(c * width) for c in (128, 256, 512, 512, 256)]
    layers = []
    for i in range(5):
        conv = nn.LazyConv2d(channels[i + 1], 3, padding=1) if lazy else nn.Conv2d(channels[i], channels[i + 1], 3, padding=1)
        layers.append(conv)
        if batchnorm:
            layers.append(nn.LazyBatchNorm2d() if lazy else nn.BatchNorm2d(channels[i + 1]))
        layers.append(nn.ReLU())
        if i in (0, 1, 4):
            layers.append(nn.MaxPool2d(2))
    s = side // 8
    features = [channels[-1] * s * s, 512, 256, 128]
    classifier = [nn.Flatten()]
    for n_in, n_out in itertools.pairwise(features):
        classifier += [nn.LazyLinear(n_out) if lazy else nn.Linear(n_in, n_out), nn.ReLU()]
    classifier.append(nn.LazyLinear(10) if lazy else nn.Linear(features[-1], 10))
    return nn.Sequential(nn.Sequential(*layers), nn.Sequential(*classifier))


def test_total_params_equal_torch_for_c5l3_eager_and_lazy():
    torch = pytest.importorskip("torch")
    expected = sum(p.numel() for p in c5l3(torch.nn, batchnorm=True).parameters())
    eager = summary(c5l3(snn, batchnorm=True), (1, 3, 32, 32))
    lazy_model = c5l3(snn, batchnorm=True, lazy=True)
    lazy = summary(lazy_model, (1, 3, 32, 32))
    assert eager.total_params == lazy.total_params == expected == eager.trainable_params
    assert lazy.total_flops == eager.total_flops
    assert [row.output_shape for row in lazy.rows] == [row.output_shape for row in eager.rows]
    assert [row.type for row in lazy.rows] == [row.type for row in eager.rows]  # LazyConv2d became Conv2d, ...
    text = str(lazy)
    assert f"Total params:          {expected:,}" in text and "[1, 10]" in text


def _small():
    return snn.Sequential(
        snn.Conv2d(3, 4, 3, padding=1, bias=False), snn.BatchNorm2d(4), snn.ReLU(), snn.MaxPool2d(2),
        snn.Flatten(), snn.Dropout(0.5), snn.Linear(4 * 4 * 4, 5),
    )


def test_rows_shapes_params_flops_and_memory():
    model = _small()
    result = summary(model, (2, 3, 8, 8))
    rows = {row.name: row for row in result.rows}
    assert list(rows) == ["", "0", "1", "2", "3", "4", "5", "6"]
    assert rows[""].depth == 0 and rows["0"].depth == 1 and not rows[""].is_leaf
    assert rows["0"].output_shape == (2, 4, 8, 8) and rows["6"].output_shape == (2, 5)
    assert [rows[k].params for k in ("0", "1", "2", "6")] == [4 * 3 * 9, 8, 0, 64 * 5 + 5]
    conv = 2 * 3 * 9 * (2 * 4 * 8 * 8)  # no bias
    batchnorm = 2 * (2 * 4 * 8 * 8)
    relu = 2 * 4 * 8 * 8
    pool = 4 * (2 * 4 * 4 * 4)
    linear = (2 * 64 + 1) * (2 * 5)
    assert [rows[k].flops for k in ("0", "1", "2", "3", "4", "5", "6")] == [conv, batchnorm, relu, pool, 0, 0, linear]
    assert rows[""].flops is None and result.total_flops == conv + batchnorm + relu + pool + linear
    assert rows["0"].activation_bytes == 2 * 4 * 8 * 8 * 4
    leaf_outputs = 4 * (3 * 512 + 128 + 2 * 128 + 10)
    assert result.activation_bytes == leaf_outputs and result.input_bytes == 2 * 3 * 8 * 8 * 4
    assert result.total_params == result.param_bytes // 4 == 108 + 8 + 325
    text = str(result)
    assert "FLOPs count a multiply-add as 2" in text
    assert "  0 (Conv2d)" in text and "[2, 4, 8, 8]" in text and f"{conv:,}" in text


def test_no_side_effects_on_modes_hooks_and_batchnorm_stats():
    model = _small()
    model.train()
    model[5].eval()  # a mixed state must come back as it was
    before = {k: v.numpy().copy() for k, v in model.state_dict().items()}
    rng_state = sg.get_rng_state()
    summary(model, (2, 3, 8, 8))
    assert [m.training for m in model.modules()] == [True] * 6 + [False, True]
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(value.numpy(), before[key], err_msg=key)
    assert sg.get_rng_state() == rng_state


def test_frozen_parameters_are_not_trainable():
    model = _small()
    model[0].weight.requires_grad_(False)
    result = summary(model, (1, 3, 8, 8))
    assert result.total_params - result.trainable_params == 108
    assert "Non-trainable params:  108" in str(result)


def test_hooks_are_removed_when_the_forward_fails():
    model = _small()
    with pytest.raises(RuntimeError, match="has 5 channels"):
        summary(model, (1, 5, 8, 8))
    assert all(not m._forward_hooks for m in model.modules())
    assert model.training
