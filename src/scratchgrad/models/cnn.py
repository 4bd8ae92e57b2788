"""Plain convolutional classifiers: the study's C5L3 family and a small MNIST CNN."""
from __future__ import annotations

from collections import OrderedDict
from types import ModuleType
from typing import Any

from .blocks import check_options, conv3x3_block, dropout, scaled
from .options import WIDTH, Option, dropout_option, options


@options(batchnorm=Option("Conv -> BatchNorm -> ReLU instead of Conv -> ReLU", kind="flag", column="BatchNorm"),
         conv_dropout=dropout_option("after each pool", "conv dropout"),
         fc_dropout=dropout_option("after each hidden Linear's ReLU", "fc dropout"), width=WIDTH)
def c5l3(nn: ModuleType, *, in_channels: int = 3, num_classes: int = 10, input_size: int = 32,
         batchnorm: bool = False, conv_dropout: float = 0.0, fc_dropout: float = 0.0,
         width: float = 1.0) -> Any:
    """The study's baseline: five 3x3 convs and four Linear layers.

    Conv 128, pool, Conv 256, pool, Conv 512, Conv 512, Conv 256, pool (each Conv ->
    [BatchNorm] -> ReLU, max-pools 2x2), then Linear 256*s*s -> 512 -> 256 -> 128 ->
    num_classes with s = input_size // 8 (7.28M parameters at 3x32x32).

    Args:
        batchnorm: Conv -> BatchNorm -> ReLU instead of Conv -> ReLU.
        conv_dropout: p of a Dropout after each pool (0: none).
        fc_dropout: p of a Dropout after each hidden Linear's ReLU (0: none).
        width: multiplier of the conv channels (e.g. 0.25 for CPU-sized runs).

    Shape: (N, in_channels, input_size, input_size) -> (N, num_classes).
    """
    check_options("c5l3", in_channels, num_classes, input_size, 8, width,
                  conv_dropout=conv_dropout, fc_dropout=fc_dropout)
    c1, c2, c3, c4, c5 = (scaled(c, width) for c in (128, 256, 512, 512, 256))
    features = nn.Sequential(
        *conv3x3_block(nn, in_channels, c1, batchnorm), nn.MaxPool2d(2), dropout(nn, conv_dropout),
        *conv3x3_block(nn, c1, c2, batchnorm), nn.MaxPool2d(2), dropout(nn, conv_dropout),
        *conv3x3_block(nn, c2, c3, batchnorm),
        *conv3x3_block(nn, c3, c4, batchnorm),
        *conv3x3_block(nn, c4, c5, batchnorm), nn.MaxPool2d(2), dropout(nn, conv_dropout),
    )
    side = input_size // 8
    classifier = nn.Sequential(
        nn.Flatten(),
        nn.Linear(c5 * side * side, 512), nn.ReLU(), dropout(nn, fc_dropout),
        nn.Linear(512, 256), nn.ReLU(), dropout(nn, fc_dropout),
        nn.Linear(256, 128), nn.ReLU(), dropout(nn, fc_dropout),
        nn.Linear(128, num_classes),
    )
    return nn.Sequential(OrderedDict(features=features, classifier=classifier))


@options({"BatchNorm": "yes"}, width=WIDTH)
def small_cnn(nn: ModuleType, *, in_channels: int = 1, num_classes: int = 10, input_size: int = 28,
              width: float = 1.0) -> Any:
    """A small CNN for MNIST-sized inputs.

    Conv 32 -> BatchNorm -> ReLU -> pool, Conv 64 -> BatchNorm -> ReLU -> pool (3x3
    convs, padding 1, no bias before BatchNorm), then Linear 64*s*s -> 128 -> num_classes
    with s = input_size // 4 (Linear 3136 -> 128 at 28x28).

    Shape: (N, in_channels, input_size, input_size) -> (N, num_classes).
    """
    check_options("small_cnn", in_channels, num_classes, input_size, 4, width)
    c1, c2 = scaled(32, width), scaled(64, width)
    side = input_size // 4
    features = nn.Sequential(
        *conv3x3_block(nn, in_channels, c1, batchnorm=True, bias=False), nn.MaxPool2d(2),
        *conv3x3_block(nn, c1, c2, batchnorm=True, bias=False), nn.MaxPool2d(2),
    )
    classifier = nn.Sequential(
        nn.Flatten(), nn.Linear(c2 * side * side, 128), nn.ReLU(), nn.Linear(128, num_classes),
    )
    return nn.Sequential(OrderedDict(features=features, classifier=classifier))
