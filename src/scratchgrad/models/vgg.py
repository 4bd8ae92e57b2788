"""VGG16 with BatchNorm and a CIFAR-sized classifier."""
from __future__ import annotations

from collections import OrderedDict
from types import ModuleType
from typing import Any

from .blocks import check_options, conv3x3_block, scaled
from .options import WIDTH, options

# Output channels of each 3x3 conv; "M" is a 2x2 max-pool.
VGG16_LAYOUT = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")


@options({"BatchNorm": "yes"}, width=WIDTH)
def vgg16(nn: ModuleType, *, in_channels: int = 3, num_classes: int = 10, input_size: int = 32,
          width: float = 1.0) -> Any:
    """VGG16: 13 Conv -> BatchNorm -> ReLU layers with 5 max-pools, then one Linear.

    The classifier is CIFAR-sized: Linear 512*s*s -> num_classes with s = input_size // 32
    (ImageNet's 4096-wide classifier would hold 90% of the parameters for 32x32 inputs).

    Args:
        width: multiplier of the conv channels.

    Shape: (N, in_channels, input_size, input_size) -> (N, num_classes), input_size >= 32.
    """
    check_options("vgg16", in_channels, num_classes, input_size, 32, width)
    layers: list[Any] = []
    channels = in_channels
    for item in VGG16_LAYOUT:
        if item == "M":
            layers.append(nn.MaxPool2d(2))
        else:
            layers += conv3x3_block(nn, channels, scaled(item, width), batchnorm=True)
            channels = scaled(item, width)
    side = input_size // 32
    classifier = nn.Sequential(nn.Flatten(), nn.Linear(channels * side * side, num_classes))
    return nn.Sequential(OrderedDict(features=nn.Sequential(*layers), classifier=classifier))
