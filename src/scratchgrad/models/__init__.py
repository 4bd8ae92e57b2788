"""The model zoo, written once against an ``nn`` namespace.

    import torch.nn, scratchgrad.nn
    from scratchgrad.models import build_model
    a = build_model("resnet18", torch.nn, num_classes=10)
    b = build_model("resnet18", scratchgrad.nn, num_classes=10)
    b.load_state_dict({k: scratchgrad.tensor(v.numpy()) for k, v in a.state_dict().items()})

The same call gives the same architecture, the same parameter count and the same
state-dict keys on both engines: that is what lets the lab compare the engines and
move weights between them.

Every builder takes the dataset's shape (``in_channels``, ``num_classes``,
``input_size``, the side of the square input) and its own options (see
:func:`model_options`).
"""
from __future__ import annotations

import inspect
from collections.abc import Callable
from types import ModuleType
from typing import Any

from .cnn import c5l3, small_cnn
from .resnet import resnet18, resnet50
from .vgg import vgg16

BUILDERS: dict[str, Callable[..., Any]] = {
    "c5l3": c5l3, "vgg16": vgg16, "resnet18": resnet18, "resnet50": resnet50, "small_cnn": small_cnn,
}
MODEL_NAMES = tuple(BUILDERS)
DATA_OPTIONS = ("in_channels", "num_classes", "input_size")  # given by the dataset, not by a config


def model_options(name: str) -> dict[str, Any]:
    """The options of model ``name`` with their defaults, without the dataset-given ones.

    >>> model_options("c5l3")
    {'batchnorm': False, 'conv_dropout': 0.0, 'fc_dropout': 0.0, 'width': 1.0}
    """
    parameters = inspect.signature(_builder(name)).parameters.values()
    return {p.name: p.default for p in parameters if p.kind is p.KEYWORD_ONLY and p.name not in DATA_OPTIONS}


def input_shape(name: str) -> tuple[int, int, int]:
    """(channels, height, width) of the input model ``name`` takes by default."""
    parameters = inspect.signature(_builder(name)).parameters
    side = parameters["input_size"].default
    return parameters["in_channels"].default, side, side


def build_model(name: str, nn: ModuleType, **options: Any) -> Any:
    """Model ``name`` (one of ``MODEL_NAMES``) built from the layers of ``nn``.

    Args:
        name: ``c5l3``, ``vgg16``, ``resnet18``, ``resnet50`` or ``small_cnn``.
        nn: ``torch.nn`` or ``scratchgrad.nn``.
        **options: ``in_channels``, ``num_classes``, ``input_size`` and the model's own
            options (:func:`model_options`).

    Returns:
        an ``nn.Module`` mapping images (N, in_channels, input_size, input_size) to
        logits (N, num_classes).
    """
    builder = _builder(name)
    valid = (*DATA_OPTIONS, *model_options(name))
    unknown = [key for key in options if key not in valid]
    if unknown:
        raise ValueError(f"build_model: {name} has no option {unknown[0]!r}; its options are {list(valid)}")
    return builder(nn, **options)


def _builder(name: str) -> Callable[..., Any]:
    if name not in BUILDERS:
        raise ValueError(f"model: expected one of {MODEL_NAMES}, got {name!r}")
    return BUILDERS[name]


__all__ = ["MODEL_NAMES", "build_model", "input_shape", "model_options"]
