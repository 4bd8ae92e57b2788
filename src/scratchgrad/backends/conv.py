"""The convolution algorithm: the one switch, and the one place where a layer's kernel is chosen.

Set ``scratchgrad.backends.conv.algorithm`` to one of:

- ``"auto"`` (default): Winograd F(2x2, 3x3) for 3x3, stride-1, undilated, ungrouped layers whose
  input and output channels are both at least ``winograd_min_channels``; F(4x4, 3x3) instead
  from ``winograd_f4_min_channels`` channels, if that is set (off by default); im2col + GEMM for
  every other layer.
- ``"im2col"``: im2col + GEMM for every layer.
- ``"winograd"``: Winograd for every layer it can compute (3x3, stride 1, no dilation, no groups)
  whatever its channels, F(4x4, 3x3) where ``winograd_f4_min_channels`` allows it, else
  F(2x2, 3x3); other layers fall back to im2col (the choice is per layer, so that a network
  with 1x1 or strided layers still runs).
- ``"reference"``: the direct, readable kernel of ``kernels/reference.py`` (slow; the oracle of
  the tests).

The choice is read when a convolution runs (forward, and the gradients of a double backward),
so it can be changed between steps; every algorithm gives the same values up to float rounding.
"""
from __future__ import annotations

from ..kernels import winograd
from ..kernels.conv import Im2colKernel, WinogradKernel
from ..kernels.geometry import ConvGeometry
from ..kernels.reference import ReferenceConvKernel

ALGORITHMS = ("auto", "reference", "im2col", "winograd")

algorithm: str = "auto"
# "auto": below this many channels the GEMMs are too thin for the transforms to pay off
winograd_min_channels: int = 16
# F(4x4, 3x3) does 44% fewer multiplies than F(2x2, 3x3), which makes training C5L3 about 8% faster,
# but its float32 results are ~10x less precise (errors of ~1e-5 of the output's scale, beyond the
# float32 parity tolerance of 1e-4 elementwise): off by default; a channel count turns it on.
winograd_f4_min_channels: int | None = None

Kernel = Im2colKernel | WinogradKernel | ReferenceConvKernel


def kernel_for(geometry: ConvGeometry, c_in: int, c_out: int) -> Kernel:
    """The kernel that computes a layer of ``c_in`` input and ``c_out`` output channels, by ``algorithm``."""
    if algorithm not in ALGORITHMS:
        raise ValueError(f"scratchgrad.backends.conv.algorithm: expected one of {', '.join(map(repr, ALGORITHMS))}, "
                         f"got {algorithm!r}")
    if algorithm == "reference":
        return ReferenceConvKernel(geometry)
    g = geometry
    if algorithm == "im2col" or g.kernel_hw != (3, 3) or g.stride != (1, 1) or g.dilation != (1, 1) or g.groups != 1:
        return Im2colKernel(g)
    channels = min(c_in, c_out)
    if winograd_f4_min_channels is not None and channels >= winograd_f4_min_channels:
        return WinogradKernel(g, winograd.F4)
    if algorithm == "winograd" or channels >= winograd_min_channels:
        return WinogradKernel(g, winograd.F2)
    return Im2colKernel(g)
