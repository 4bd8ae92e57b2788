"""``Dropout``, ``Dropout1d``, ``Dropout2d``: inverted dropout of elements or whole channels, the identity in eval mode."""
from __future__ import annotations

from ...tensor import Tensor
from .. import functional as F
from ._args import as_probability
from .module import Module


class Dropout(Module):
    """During training, zero each element with probability ``p`` and scale the rest by 1/(1-p).

    Args:
        p: probability of an element being zeroed. Default: 0.5.
        inplace: accepted for compatibility; scratchgrad always computes out of place (the
            result is the same, the input tensor is left unchanged).

    Shape:
        (*) -> (*)

    The mask is drawn from scratchgrad's default generator (see ``manual_seed``).
    """

    def __init__(self, p: float = 0.5, inplace: bool = False):
        super().__init__()
        self.p = as_probability(type(self).__name__, "dropout probability p", p)
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return F.dropout(input, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


class Dropout1d(Dropout):
    """During training, zero whole channels (one draw per (N, C)) with probability ``p``,
    scaling the rest by 1/(1-p); arguments as in :class:`Dropout`.

    Shape:
        (N, C, L) or (C, L) -> same shape.
    """

    def forward(self, input: Tensor) -> Tensor:
        return F.dropout1d(input, self.p, self.training)


class Dropout2d(Dropout):
    """During training, zero whole channels (one draw per (N, C)) with probability ``p``,
    scaling the rest by 1/(1-p); arguments as in :class:`Dropout`.

    Shape:
        (N, C, H, W) -> same shape ((N, C, L) inputs are taken as 1-D, with PyTorch's warning).
    """

    def forward(self, input: Tensor) -> Tensor:
        return F.dropout2d(input, self.p, self.training)
