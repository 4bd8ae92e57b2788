"""ResNet18 and ResNet50 with the CIFAR stem (3x3 stride-1 conv, no stem pool).

Parameter names follow torchvision's ResNet (``conv1``, ``bn1``, ``layer1.0.conv1``,
``layer2.0.downsample.0``, ``fc``); a block without a projection shortcut has an
``Identity`` as ``downsample``, which holds no parameters.
"""
from __future__ import annotations

import functools
from types import ModuleType, SimpleNamespace
from typing import Any

from .blocks import check_options, scaled
from .options import WIDTH, options


@options({"BatchNorm": "yes"}, width=WIDTH)
def resnet18(nn: ModuleType, *, in_channels: int = 3, num_classes: int = 10, input_size: int = 32,
             width: float = 1.0) -> Any:
    """ResNet18: BasicBlock x [2, 2, 2, 2] (11.2M parameters for CIFAR-10).

    Shape: (N, in_channels, input_size, input_size) -> (N, num_classes).
    """
    check_options("resnet18", in_channels, num_classes, input_size, 8, width)
    classes = _classes(nn)
    return classes.ResNet(classes.BasicBlock, (2, 2, 2, 2), in_channels, num_classes, width)


@options({"BatchNorm": "yes"}, width=WIDTH)
def resnet50(nn: ModuleType, *, in_channels: int = 3, num_classes: int = 10, input_size: int = 32,
             width: float = 1.0) -> Any:
    """ResNet50: Bottleneck x [3, 4, 6, 3], stride on the 3x3 conv (23.5M parameters for CIFAR-10).

    Shape: (N, in_channels, input_size, input_size) -> (N, num_classes).
    """
    check_options("resnet50", in_channels, num_classes, input_size, 8, width)
    classes = _classes(nn)
    return classes.ResNet(classes.Bottleneck, (3, 4, 6, 3), in_channels, num_classes, width)


@functools.cache
def _classes(nn: ModuleType) -> SimpleNamespace:
    """The block and network classes, defined once per ``nn`` namespace (they subclass its Module)."""

    def projection(c_in: int, c_out: int, stride: int) -> Any:
        """The shortcut: a 1x1 conv + BatchNorm where the shape changes, else Identity."""
        if stride == 1 and c_in == c_out:
            return nn.Identity()
        return nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out))

    class BasicBlock(nn.Module):
        """Two 3x3 convs with a residual connection: relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x))."""

        expansion = 1

        def __init__(self, c_in: int, planes: int, stride: int = 1):
            super().__init__()
            self.conv1 = nn.Conv2d(c_in, planes, 3, stride=stride, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(planes)
            self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
            self.bn2 = nn.BatchNorm2d(planes)
            self.relu = nn.ReLU()
            self.downsample = projection(c_in, planes, stride)

        def forward(self, x: Any) -> Any:
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            return self.relu(out + self.downsample(x))

    class Bottleneck(nn.Module):
        """1x1 reduce, 3x3 (carrying the stride), 1x1 expand by 4, with a residual connection."""

        expansion = 4

        def __init__(self, c_in: int, planes: int, stride: int = 1):
            super().__init__()
            c_out = planes * self.expansion
            self.conv1 = nn.Conv2d(c_in, planes, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(planes)
            self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
            self.bn2 = nn.BatchNorm2d(planes)
            self.conv3 = nn.Conv2d(planes, c_out, 1, bias=False)
            self.bn3 = nn.BatchNorm2d(c_out)
            self.relu = nn.ReLU()
            self.downsample = projection(c_in, c_out, stride)

        def forward(self, x: Any) -> Any:
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.relu(self.bn2(self.conv2(out)))
            out = self.bn3(self.conv3(out))
            return self.relu(out + self.downsample(x))

    class ResNet(nn.Module):
        """3x3 stem conv -> BatchNorm -> ReLU, four stages of blocks (strides 1, 2, 2, 2),
        global average pool, Linear."""

        def __init__(self, block: type, depths: tuple[int, ...], in_channels: int, num_classes: int,
                     width: float):
            super().__init__()
            c_in = scaled(64, width)
            self.conv1 = nn.Conv2d(in_channels, c_in, 3, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(c_in)
            self.relu = nn.ReLU()
            for stage, (depth, planes) in enumerate(zip(depths, (64, 128, 256, 512)), start=1):
                planes = scaled(planes, width)
                blocks = []
                for index in range(depth):
                    blocks.append(block(c_in, planes, 2 if stage > 1 and index == 0 else 1))
                    c_in = planes * block.expansion
                self.add_module(f"layer{stage}", nn.Sequential(*blocks))
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(c_in, num_classes)

        def forward(self, x: Any) -> Any:
            x = self.relu(self.bn1(self.conv1(x)))
            x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
            return self.fc(self.avgpool(x).flatten(1))

    return SimpleNamespace(BasicBlock=BasicBlock, Bottleneck=Bottleneck, ResNet=ResNet)
