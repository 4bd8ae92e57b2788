"""scratchgrad: a from-scratch deep-learning framework whose API is a faithful PyTorch subset."""
from __future__ import annotations

from . import tensor_methods  # noqa: F401 - first: loads the ops and attaches Tensor's methods (the one place)
from . import autograd
from .autograd import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from .backend import device
from .creation import (
    arange, as_tensor, empty, empty_like, eye, from_numpy, full, full_like, linspace, ones, ones_like,
    rand, rand_like, randint, randn, randn_like, randperm, tensor, zeros, zeros_like,
)
from .dtypes import (
    bool, double, float, float16, float32, float64, half, int, int8, int16, int32, int64, long, short, uint8,
)
from .ops.division import floor_divide, fmod, remainder
from .ops.elementwise import erf, maximum, minimum, where
from .ops.matmul import matmul
from .ops.reduction import amax, amin, argmax, argmin, gather, logsumexp, log_softmax, mean, norm, softmax, std, var
from .ops.reduction import max, min, sum  # noqa: A004 - PyTorch's names
from .ops.shape import cat, chunk, flatten, permute, reshape, split, squeeze, stack, transpose, unsqueeze
from .random import Generator, get_rng_state, initial_seed, manual_seed, seed, set_rng_state
from .runtime.threads import get_num_threads, set_num_threads
from .tensor import Tensor
from .serialization import load, save
from . import accelerator, backends, cuda, multiprocessing, nn, optim, tools, utils  # noqa: E402 - they build on the names above

__version__ = "0.1.0"


def exp(x: Tensor) -> Tensor:
    return x.exp()


def log(x: Tensor) -> Tensor:
    return x.log()


def sqrt(x: Tensor) -> Tensor:
    return x.sqrt()


def abs(x: Tensor) -> Tensor:  # noqa: A001
    return x.abs()


def sigmoid(x: Tensor) -> Tensor:
    return x.sigmoid()


def tanh(x: Tensor) -> Tensor:
    return x.tanh()


def relu(x: Tensor) -> Tensor:
    return x.relu()


def clamp(x: Tensor, min: object = None, max: object = None) -> Tensor:  # noqa: A002
    return x.clamp(min, max)


def is_tensor(obj: object) -> bool:
    return isinstance(obj, Tensor)


def bmm(input: Tensor, mat2: Tensor) -> Tensor:
    return input.bmm(mat2)
