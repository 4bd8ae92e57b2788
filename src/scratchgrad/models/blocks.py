"""Small building blocks and option checks shared by the models."""
from __future__ import annotations

from types import ModuleType
from typing import Any


def scaled(channels: int, width: float) -> int:
    """``channels`` times the width multiplier, at least 1."""
    return max(1, round(channels * width))


def conv3x3_block(nn: ModuleType, c_in: int, c_out: int, batchnorm: bool, bias: bool = True) -> list[Any]:
    """Conv 3x3 (padding 1) -> [BatchNorm] -> ReLU, as a list of layers."""
    layers = [nn.Conv2d(c_in, c_out, kernel_size=3, padding=1, bias=bias)]
    if batchnorm:
        layers.append(nn.BatchNorm2d(c_out))
    return layers + [nn.ReLU()]


def dropout(nn: ModuleType, p: float) -> Any:
    """``Dropout(p)``, or ``Identity`` for p = 0, so that the layer's index (and with it
    every later state-dict key) does not depend on whether dropout is on."""
    return nn.Dropout(p) if p > 0 else nn.Identity()


def check_options(model: str, in_channels: int, num_classes: int, input_size: int, min_size: int,
                  width: float, **dropouts: float) -> None:
    """Raise a ValueError naming the model and the option that is out of range."""
    for option, value, least in (("in_channels", in_channels, 1), ("num_classes", num_classes, 1),
                                 ("input_size", input_size, min_size)):
        if not isinstance(value, int) or isinstance(value, bool) or value < least:
            raise ValueError(f"{model}: {option} must be an int >= {least}, got {value!r}")
    if not isinstance(width, (int, float)) or isinstance(width, bool) or not width > 0:
        raise ValueError(f"{model}: width must be a number > 0, got {width!r}")
    for option, p in dropouts.items():
        if not isinstance(p, (int, float)) or isinstance(p, bool) or not 0 <= p < 1:
            raise ValueError(f"{model}: {option} must be a probability in [0, 1), got {p!r}")
