"""``scratchgrad.nn``: modules, parameters, ``functional``, ``init`` and ``utils`` — PyTorch's ``torch.nn`` subset."""
from . import functional, init, utils
from .modules import *  # noqa: F401,F403 - the layers, listed in modules.__all__
from .modules import __all__ as _modules_all
from .parameter import Parameter, UninitializedBuffer, UninitializedParameter
from . import parallel  # noqa: E402 - builds on the modules
from .parallel import DataParallel

__all__ = ["functional", "init", "utils", "parallel", "Parameter", "UninitializedParameter", "UninitializedBuffer",
           "DataParallel", *_modules_all]
