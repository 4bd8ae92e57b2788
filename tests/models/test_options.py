"""Option specs: each zoo option's meaning beside its default, and the checks of the decorator."""
from __future__ import annotations

import inspect

import pytest

from scratchgrad.models import MODEL_NAMES, Option, builder, describe, dropout_options, model_specs, options


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_every_zoo_option_has_help_and_its_signatures_default(name):
    signature = inspect.signature(builder(name)).parameters
    for key, spec in model_specs(name).items():
        assert spec.help and spec.default == signature[key].default, key
    assert model_specs(name)["width"].bounds() == {"minimum": None, "positive": True, "below": None, "maximum": 4.0}


def test_dropouts_and_report_cells_come_from_the_specs():
    assert dropout_options("c5l3") == ["conv_dropout", "fc_dropout"]
    assert all(dropout_options(name) == [] for name in MODEL_NAMES if name != "c5l3")
    assert describe({"name": "c5l3", "batchnorm": True, "fc_dropout": 0.5, "width": 0.25}) == \
        {"BatchNorm": "yes", "conv dropout": "–", "fc dropout": "0.5", "model": "×0.25"}
    assert describe({"name": "c5l3"}) == {"BatchNorm": "no", "conv dropout": "–", "fc dropout": "–", "model": ""}
    assert describe({"name": "resnet50", "width": 2.0}) == {"BatchNorm": "yes", "model": "×2"}


def test_the_decorator_refuses_a_spec_without_an_option():
    def model(nn, *, in_channels=1, num_classes=2, input_size=8, depth=2):
        return None

    with pytest.raises(TypeError, match="model has no keyword-only option 'dpeth'"):
        options(dpeth=Option("layers"))(model)
    with pytest.raises(TypeError, match="kind must be one of"):
        options(depth=Option("layers", kind="layers"))(model)
    options(depth=Option("layers", minimum=1))(model)
    assert model_specs_of(model)["depth"] == Option("layers", minimum=1, default=2)


def test_an_option_whose_default_gives_no_type_is_refused():
    def model(nn, *, in_channels=1, num_classes=2, input_size=8, layers=None):
        return None

    with pytest.raises(ValueError, match="option layers of 'model': its default None gives a config no type"):
        model_specs_of(model)


def model_specs_of(make):
    from scratchgrad.models.options import option_specs

    return option_specs(make)
