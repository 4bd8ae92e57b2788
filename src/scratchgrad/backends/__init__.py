"""``scratchgrad.backends``: settings of the compute backends, as ``torch.backends``.

- ``conv``: which convolution algorithm runs (``scratchgrad.backends.conv.algorithm``) and the
  channel thresholds of the automatic choice: the one place where a layer's kernel is chosen;
- ``cudnn``: PyTorch's cuDNN flags, accepted for scripts that set them;
- ``mps``: Apple's Metal backend, never available (scripts probe it to pick a device).
"""
from . import conv, cudnn, mps  # noqa: F401 - PyTorch scripts set torch.backends.cudnn flags, probe mps
