"""The geometry of a 2-D convolution or pooling window, shared by their kernels."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ConvGeometry:
    """Everything about a convolution except the data: (height, width) pairs and groups."""

    input_hw: tuple[int, int]
    kernel_hw: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]
    dilation: tuple[int, int]
    groups: int

    @property
    def output_hw(self) -> tuple[int, int]:
        return tuple(
            (n + 2 * p - d * (k - 1) - 1) // s + 1
            for n, k, s, p, d in zip(self.input_hw, self.kernel_hw, self.stride, self.padding, self.dilation)
        )

    @property
    def padded_hw(self) -> tuple[int, int]:
        return tuple(n + 2 * p for n, p in zip(self.input_hw, self.padding))

    def window(self, i: int, j: int) -> tuple[slice, slice]:
        """Positions of the padded input that kernel tap (i, j) reads, one per output pixel."""
        (oh, ow), (sh, sw), (dh, dw) = self.output_hw, self.stride, self.dilation
        return slice(i * dh, i * dh + sh * (oh - 1) + 1, sh), slice(j * dw, j * dw + sw * (ow - 1) + 1, sw)
