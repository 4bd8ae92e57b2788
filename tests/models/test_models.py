"""The model zoo: one definition, the same architecture on both engines."""
from __future__ import annotations

import numpy as np
import pytest

import scratchgrad
import scratchgrad.nn as snn
from scratchgrad.models import MODEL_NAMES, build_model, input_shape, model_options

# Parameter counts at the study's input sizes (the report counts 7.28M for C5L3).
PARAMETERS = {
    ("c5l3", 3, 32): 7_281_802,
    ("c5l3", 1, 28): 6_361_994,
    ("vgg16", 3, 32): 14_728_266,
    ("resnet18", 3, 32): 11_173_962,
    ("resnet18", 1, 28): 11_172_810,
    ("resnet50", 3, 32): 23_520_842,
    ("small_cnn", 1, 28): 421_738,
}


def count(model) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("name, channels, side", list(PARAMETERS))
def test_parameter_counts(name, channels, side):
    model = build_model(name, snn, in_channels=channels, input_size=side)
    assert count(model) == PARAMETERS[name, channels, side]


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_same_keys_shapes_and_counts_on_both_engines(name):
    torch = pytest.importorskip("torch")
    for options in ({}, {"batchnorm": True, "fc_dropout": 0.3, "width": 0.5} if name == "c5l3" else {"width": 0.5}):
        reference = build_model(name, torch.nn, **options)
        model = build_model(name, snn, **options)
        expected = {key: tuple(value.shape) for key, value in reference.state_dict().items()}
        assert {key: tuple(value.shape) for key, value in model.state_dict().items()} == expected
        assert list(model.state_dict()) == list(expected)
        assert count(model) == count(reference)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_torch_weights_give_the_same_eval_logits(name):
    torch = pytest.importorskip("torch")
    options = {"width": 0.25}
    if name == "c5l3":
        options.update(batchnorm=True, conv_dropout=0.3, fc_dropout=0.5)
    torch.manual_seed(0)
    reference = build_model(name, torch.nn, **options)
    channels, side, _ = input_shape(name)
    images = torch.randn(4, channels, side, side)
    reference.train()
    with torch.no_grad():
        reference(images)  # non-trivial BatchNorm running statistics
    reference.eval()
    model = build_model(name, snn, **options)
    model.load_state_dict({key: scratchgrad.tensor(value.numpy()) for key, value in reference.state_dict().items()})
    model.eval()
    with torch.no_grad():
        expected = reference(images).numpy()
    with scratchgrad.no_grad():
        logits = model(scratchgrad.tensor(images.numpy()))
    assert logits.dtype == scratchgrad.float32 and logits.shape == (4, 10)
    np.testing.assert_allclose(logits.numpy(), expected, rtol=1e-4, atol=1e-5)


def test_c5l3_layout_follows_its_options():
    base = build_model("c5l3", snn, in_channels=1, input_size=28, conv_dropout=0.3, fc_dropout=0.5)
    best = build_model("c5l3", snn, in_channels=1, input_size=28, batchnorm=True, fc_dropout=0.3)
    kinds = [type(layer).__name__ for layer in base.features]
    assert kinds.count("Conv2d") == 5 and kinds.count("MaxPool2d") == 3 and "BatchNorm2d" not in kinds
    assert [layer.p for layer in base.features if type(layer).__name__ == "Dropout"] == [0.3] * 3
    assert [layer.p for layer in base.classifier if type(layer).__name__ == "Dropout"] == [0.5] * 3
    assert [type(layer).__name__ for layer in best.features].count("BatchNorm2d") == 5
    assert not any(type(layer).__name__ == "Dropout" for layer in best.features)
    # s = 28 // 8 = 3: the first Linear takes 256 * 3 * 3 features
    assert best.classifier[1].in_features == 256 * 3 * 3
    # dropout switched off leaves every state-dict key where it was
    assert list(best.state_dict()) == list(build_model("c5l3", snn, in_channels=1, input_size=28,
                                                       batchnorm=True).state_dict())


def test_width_scales_the_conv_channels():
    model = build_model("c5l3", snn, width=0.25)
    assert [layer.out_channels for layer in model.features if hasattr(layer, "out_channels")] == [32, 64, 128, 128, 64]


def test_model_options_and_input_shapes():
    assert model_options("c5l3") == {"batchnorm": False, "conv_dropout": 0.0, "fc_dropout": 0.0, "width": 1.0}
    assert model_options("resnet18") == {"width": 1.0}
    assert input_shape("small_cnn") == (1, 28, 28) and input_shape("vgg16") == (3, 32, 32)


@pytest.mark.parametrize("name, options, message", [
    ("c5l3", {"widht": 0.5}, "c5l3 has no option 'widht'"),
    ("resnet18", {"batchnorm": True}, "resnet18 has no option 'batchnorm'"),
    ("c5l3", {"width": 0}, "c5l3: width must be a number > 0, got 0"),
    ("c5l3", {"fc_dropout": 1.0}, "c5l3: fc_dropout must be a probability in [0, 1), got 1.0"),
    ("vgg16", {"input_size": 28}, "vgg16: input_size must be an int >= 32, got 28"),
    ("c5l3", {"in_channels": 0}, "c5l3: in_channels must be an int >= 1, got 0"),
    ("alexnet", {}, "model: expected one of"),
])
def test_bad_options_are_named(name, options, message):
    with pytest.raises(ValueError) as error:
        build_model(name, snn, **options)
    assert message in str(error.value)
