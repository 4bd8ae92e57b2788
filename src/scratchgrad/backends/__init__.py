"""``scratchgrad.backends``: settings of the compute backends, as ``torch.backends``.

- ``conv``: which convolution algorithm runs (``scratchgrad.backends.conv.algorithm``) and the
  channel thresholds of the automatic choice: the one place where a layer's kernel is chosen;
- ``cudnn``: PyTorch's cuDNN flags, accepted for scripts that set them.
"""
from . import conv, cudnn  # noqa: F401 - PyTorch scripts set torch.backends.cudnn flags
