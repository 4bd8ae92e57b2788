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
:func:`model_options` and :mod:`.options`). A user's builder, named
``"package.module:builder"``, is a callable of the same form: ``builder(nn, *,
in_channels, num_classes, input_size, **its options)``, the options being its other
keyword-only arguments with defaults.
"""
from __future__ import annotations

import importlib
import inspect
import os
import sys
from collections.abc import Callable
from types import ModuleType
from typing import Any

from .cnn import c5l3, small_cnn
from .options import DATA_OPTIONS, Option, option_specs, options, report_columns
from .resnet import resnet18, resnet50
from .vgg import vgg16

BUILDERS: dict[str, Callable[..., Any]] = {
    "c5l3": c5l3, "vgg16": vgg16, "resnet18": resnet18, "resnet50": resnet50, "small_cnn": small_cnn,
}
MODEL_NAMES = tuple(BUILDERS)
USER_MODEL_FORM = "package.module:builder"


def model_options(name: str) -> dict[str, Any]:
    """The options of model ``name`` with their defaults, without the dataset-given ones.

    >>> model_options("c5l3")
    {'batchnorm': False, 'conv_dropout': 0.0, 'fc_dropout': 0.0, 'width': 1.0}
    """
    return {key: spec.default for key, spec in option_specs(builder(name)).items()}


def model_specs(name: str) -> dict[str, Option]:
    """The options of model ``name`` with their specs (help, kind, report column, bounds) and defaults."""
    return option_specs(builder(name))


def dropout_options(name: str) -> list[str]:
    """The options of model ``name`` that are dropout probabilities."""
    return [key for key, spec in model_specs(name).items() if spec.kind == "dropout"]


def describe(model: dict[str, Any]) -> dict[str, str]:
    """The report cells of a config's ``[model]`` table: {column: text} (see :class:`.options.Option`)."""
    return report_columns(builder(model["name"]), model)


def input_shape(name: str) -> tuple[int, int, int]:
    """(channels, height, width) of the input model ``name`` takes by default.

    Raises:
        ValueError: a user's builder without defaults for ``in_channels`` and ``input_size``.
    """
    parameters = inspect.signature(builder(name)).parameters
    channels, side = parameters["in_channels"].default, parameters["input_size"].default
    if inspect.Parameter.empty in (channels, side):
        raise ValueError(f"model {name!r} has no default in_channels and input_size: give the input shape")
    return channels, side, side


def build_model(name: str, nn: ModuleType, **options: Any) -> Any:
    """Model ``name`` (one of ``MODEL_NAMES``) built from the layers of ``nn``.

    Args:
        name: ``c5l3``, ``vgg16``, ``resnet18``, ``resnet50``, ``small_cnn``, or a user's
            ``"package.module:builder"``.
        nn: ``torch.nn`` or ``scratchgrad.nn``.
        **options: ``in_channels``, ``num_classes``, ``input_size`` and the model's own
            options (:func:`model_options`).

    Returns:
        an ``nn.Module`` mapping images (N, in_channels, input_size, input_size) to
        logits (N, num_classes).
    """
    make = builder(name)
    valid = (*DATA_OPTIONS, *model_options(name))
    unknown = [key for key in options if key not in valid]
    if unknown:
        raise ValueError(f"build_model: {name} has no option {unknown[0]!r}; its options are {list(valid)}")
    return make(nn, **options)


def builder(name: str) -> Callable[..., Any]:
    """The builder of model ``name``: the zoo's, or the user's ``"package.module:builder"``.

    A user's module is imported as Python would, the current directory searched too (as
    ``python -m`` does), so that a ``mymodels.py`` beside the config works.
    """
    if name in BUILDERS:
        return BUILDERS[name]
    if not isinstance(name, str) or name.count(":") != 1 or not all(name.split(":")):
        raise ValueError(f"model: expected one of {MODEL_NAMES} or {USER_MODEL_FORM!r}, got {name!r}")
    module_name, attribute = name.split(":")
    try:
        module = _import_user_module(module_name)
    except ImportError as error:
        raise ValueError(f"model {name!r}: cannot import {module_name!r} ({error}); it must be installed, on "
                         f"PYTHONPATH or in the current directory") from None
    make = getattr(module, attribute, None)
    if not callable(make):
        raise ValueError(f"model {name!r}: {module_name} has no callable {attribute!r}")
    missing = [key for key in DATA_OPTIONS if key not in _keyword_names(make)]
    if missing:
        raise ValueError(f"model {name!r}: expected a builder(nn, *, in_channels, num_classes, input_size, "
                         f"**options) like the zoo's; it takes no keyword-only {', '.join(missing)}")
    return make


def _import_user_module(module_name: str) -> Any:
    if os.getcwd() in sys.path or "" in sys.path:
        return importlib.import_module(module_name)
    sys.path.append(os.getcwd())  # after everything installed: a local file never shadows a package
    try:
        return importlib.import_module(module_name)
    finally:
        sys.path.remove(os.getcwd())


def _keyword_names(make: Callable[..., Any]) -> list[str]:
    parameters = inspect.signature(make).parameters.values()
    return [p.name for p in parameters if p.kind is p.KEYWORD_ONLY]


__all__ = ["MODEL_NAMES", "Option", "build_model", "builder", "describe", "dropout_options", "input_shape",
           "model_options", "model_specs", "options"]
