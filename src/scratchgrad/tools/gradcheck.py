"""``gradcheck`` and ``gradgradcheck``: autograd's gradients against float64 central differences.

Both Jacobians are built in full — one backward per output element, two forwards per input
element — which is exact and simple, and meant for the small inputs that tests use.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .. import autograd
from ..backend import to_device
from ..dtypes import float64
from ..tensor import Tensor

Inputs = Tensor | Sequence[Any]


class GradcheckError(RuntimeError):
    """Raised by :func:`gradcheck` when the analytical and numerical gradients differ."""


def gradcheck(
    fn: Callable[..., Any],
    inputs: Inputs,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    raise_exception: bool = True,
) -> bool:
    """Check the gradients of ``fn`` at ``inputs`` against central differences.

    Every Jacobian entry d output[m] / d input[k], for every float output of ``fn`` and
    every input that requires grad, must satisfy
    ``|analytical - numerical| <= atol + rtol * |numerical|``, where numerical is
    ``(fn(x + eps) - fn(x - eps)) / (2 eps)``.

    Args:
        fn: a function of ``inputs`` returning a Tensor or a tuple of Tensors.
        inputs: a Tensor or a tuple of arguments; the Tensors that require grad are
            checked and must be float64.
        eps: the finite-difference step.
        atol, rtol: the tolerances.
        raise_exception: raise :class:`GradcheckError` on a mismatch (naming the output,
            the input, both elements and both values) instead of returning False.

    Returns:
        True when every entry agrees.
    """
    inputs = _as_tuple(inputs)
    wrt = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]
    if not wrt:
        raise ValueError("gradcheck: no input requires grad; pass Tensors created with requires_grad=True")
    for i in wrt:
        if inputs[i].dtype != float64:
            raise ValueError(f"gradcheck: input {i} is {inputs[i].dtype}; finite differences need float64 "
                             "inputs (use .double())")
    shapes = [out.shape for out in _outputs(fn, inputs)]
    numerical = _numerical_jacobians(fn, inputs, wrt, eps, shapes)
    analytical = _analytical_jacobians(fn, inputs, wrt)
    for j, (numeric_row, analytic_row) in enumerate(zip(numerical, analytical)):
        for i, numeric, analytic in zip(wrt, numeric_row, analytic_row):
            bad = np.argwhere(~(np.abs(analytic - numeric) <= atol + rtol * np.abs(numeric)))
            if len(bad) == 0:
                continue
            k, m = bad[0]
            message = (
                f"gradcheck: Jacobian mismatch for output {j} with respect to input {i}: "
                f"d output{j}[{_element(m, shapes[j])}] / d input{i}[{_element(k, inputs[i].shape)}]: "
                f"numerical {numeric[k, m]:.10g}, analytical {analytic[k, m]:.10g} "
                f"(atol={atol}, rtol={rtol}; {len(bad)} of {numeric.size} entries differ)"
            )
            if raise_exception:
                raise GradcheckError(message)
            return False
    return True


def gradgradcheck(
    fn: Callable[..., Any],
    inputs: Inputs,
    grad_outputs: Sequence[Tensor] | None = None,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    raise_exception: bool = True,
) -> bool:
    """Check second derivatives: :func:`gradcheck` of the vector-Jacobian product of ``fn``.

    Args:
        grad_outputs: the upstream gradients (float64, one per differentiable output);
            drawn from a fixed-seed normal distribution when None. They are checked as
            inputs too, as in PyTorch.
        the rest: as in :func:`gradcheck`.
    """
    inputs = _as_tuple(inputs)
    if grad_outputs is None:
        rng = np.random.default_rng(0)
        outputs = [out for out in _outputs(fn, inputs) if out.requires_grad]
        grad_outputs = [Tensor(rng.standard_normal(out.shape), requires_grad=True) for out in outputs]
    count = len(inputs)

    def vector_jacobian_product(*args: Any) -> tuple[Tensor, ...]:
        outputs = [out for out in _outputs(fn, args[:count]) if out.requires_grad]
        wrt = [x for x in args[:count] if isinstance(x, Tensor) and x.requires_grad]
        grads = autograd.grad(outputs, wrt, grad_outputs=list(args[count:]), create_graph=True, allow_unused=True)
        return tuple(g for g in grads if g is not None)

    return gradcheck(vector_jacobian_product, inputs + tuple(grad_outputs), eps, atol, rtol, raise_exception)


def _as_tuple(inputs: Inputs) -> tuple[Any, ...]:
    return (inputs,) if isinstance(inputs, Tensor) else tuple(inputs)


def _outputs(fn: Callable[..., Any], inputs: tuple[Any, ...]) -> list[Tensor]:
    """The float Tensors among ``fn``'s outputs."""
    result = fn(*inputs)
    result = result if isinstance(result, (tuple, list)) else (result,)
    for position, out in enumerate(result):
        if not isinstance(out, Tensor):
            raise TypeError(f"gradcheck: fn must return Tensors, output {position} is a {type(out).__name__}")
    return [out for out in result if out.dtype.kind == "f"]


def _host(tensor: Tensor) -> np.ndarray:
    return np.asarray(to_device(tensor.array, "cpu"), dtype=np.float64)


def _numerical_jacobians(
    fn: Callable[..., Any], inputs: tuple[Any, ...], wrt: list[int], eps: float, shapes: list[tuple[int, ...]]
) -> list[list[np.ndarray]]:
    """``[output][input]`` Jacobians of shape ``(input numel, output numel)`` by central differences."""
    jacobians = [[np.zeros((inputs[i].numel(), int(np.prod(shape)))) for i in wrt] for shape in shapes]
    for position, i in enumerate(wrt):
        data = inputs[i].array  # perturbed in place, then restored
        for k in range(data.size):
            element = np.unravel_index(k, data.shape)
            original = data[element].copy()
            data[element] = original + eps
            plus = [_host(out) for out in _outputs(fn, inputs)]
            data[element] = original - eps
            minus = [_host(out) for out in _outputs(fn, inputs)]
            data[element] = original
            for j, (high, low) in enumerate(zip(plus, minus)):
                jacobians[j][position][k] = (high - low).reshape(-1) / (2 * eps)
    return jacobians


def _analytical_jacobians(fn: Callable[..., Any], inputs: tuple[Any, ...], wrt: list[int]) -> list[list[np.ndarray]]:
    """The same Jacobians from autograd, one backward per output element."""
    targets = [inputs[i] for i in wrt]
    jacobians = []
    for out in _outputs(fn, inputs):
        columns = [np.zeros((x.numel(), out.numel())) for x in targets]
        for m in range(out.numel() if out.requires_grad else 0):
            seed = out.xp.zeros(out.shape, out.dtype)
            seed.reshape(-1)[m] = 1
            grads = autograd.grad(out, targets, grad_outputs=Tensor(seed), retain_graph=True, allow_unused=True)
            for column, grad in zip(columns, grads):
                if grad is not None:
                    column[:, m] = _host(grad).reshape(-1)
        jacobians.append(columns)
    return jacobians


def _element(k: int, shape: tuple[int, ...]) -> str:
    return ", ".join(str(int(n)) for n in np.unravel_index(k, shape))
