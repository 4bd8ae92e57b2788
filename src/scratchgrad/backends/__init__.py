"""``scratchgrad.backends``: settings of the compute backends, as ``torch.backends``."""
from . import cudnn  # noqa: F401 - PyTorch scripts set torch.backends.cudnn flags
