"""``scratchgrad.nn.parallel``: PyTorch's ``torch.nn.parallel`` names for one device.

scratchgrad runs a model on one device, so ``DataParallel`` is what PyTorch's is with a single
device: a wrapper that calls the module (and prefixes its state-dict keys with ``module.``).
``DistributedDataParallel`` needs a process group, which scratchgrad does not have.
"""
from .data_parallel import DataParallel, DistributedDataParallel, data_parallel

__all__ = ["DataParallel", "DistributedDataParallel", "data_parallel"]
