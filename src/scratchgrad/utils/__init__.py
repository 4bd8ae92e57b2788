"""``scratchgrad.utils``: PyTorch's ``torch.utils`` subset (``data``)."""
from . import data

__all__ = ["data"]
