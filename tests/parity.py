"""Parity with PyTorch: run one function in torch and in scratchgrad on the same inputs and compare.

The function is written once, against either library::

    from parity import check_op

    check_op(lambda lib, x, y: x @ y, [(2, 3), (3, 4)])
    check_op(lambda lib, x: lib.cat([x, x * 2], 1), [(2, 3)])

``lib`` is ``torch`` or ``scratchgrad``. For each dtype (float64, then float32) the check
compares, output by output, shape, dtype and values; then it draws a random upstream
gradient (an all-ones one hides wrong backward code), compares the gradients of every
differentiable input, and in float64 also compares scratchgrad's gradients with central
finite differences. Tolerances: float64 rtol 1e-6 / atol 1e-7, float32 rtol 1e-4 / atol 1e-5.

Input specs (one per argument of ``fn`` after ``lib``):
    a shape tuple          random floats in ``[low, high)``, differentiable;
    a float NumPy array    those values, differentiable;
    an int/bool NumPy array  a constant tensor (an index or a mask), not differentiable;
    anything else          passed through unchanged (Python numbers, NumPy scalars, None).

Finite differences cost two forward passes per input element: keep shapes small.

``SCRATCHGRAD_TEST_DEVICE=cuda`` puts scratchgrad's inputs on the GPU (CuPy), so the same
table checks the CUDA backend against PyTorch on the CPU; CI has no GPU and runs on ``cpu``.
"""
from __future__ import annotations

import os
from typing import Any, Callable, Sequence

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import scratchgrad  # noqa: E402

TOLERANCES = {np.dtype(np.float64): (1e-6, 1e-7), np.dtype(np.float32): (1e-4, 1e-5)}  # rtol, atol
FD_EPS = 1e-6
FD_TOLERANCE = (1e-5, 1e-6)  # rtol, atol of scratchgrad's float64 gradient against finite differences
TEST_DEVICE = os.environ.get("SCRATCHGRAD_TEST_DEVICE", "cpu")


def check_op(
    fn: Callable[..., Any],
    inputs: Sequence[Any],
    *,
    dtypes: Sequence[Any] = (np.float64, np.float32),
    low: float = -2.0,
    high: float = 2.0,
    grad: bool = True,
    fd: bool = True,
    seed: int = 0,
) -> None:
    """Assert that ``fn(scratchgrad, *inputs)`` matches ``fn(torch, *inputs)`` in values and gradients."""
    rng = np.random.default_rng(seed)
    values = [_draw(spec, rng, low, high) for spec in inputs]
    for dtype in map(np.dtype, dtypes):
        upstream_rng = np.random.default_rng(seed + 1)
        check_dtype(fn, values, dtype, grad=grad, fd=fd and dtype == np.float64, rng=upstream_rng)


def check_dtype(fn: Callable[..., Any], values: list[Any], dtype: np.dtype, *, grad: bool, fd: bool, rng: Any) -> None:
    """One dtype of :func:`check_op`: ``values`` are drawn already, float arrays in float64."""
    rtol, atol = TOLERANCES[dtype]
    where = f"[{dtype}]"
    t_inputs = [_to_lib(torch, v, dtype, grad) for v in values]
    s_inputs = [_to_lib(scratchgrad, v, dtype, grad) for v in values]
    t_outs, s_outs = outputs_of(fn(torch, *t_inputs)), outputs_of(fn(scratchgrad, *s_inputs))
    assert len(s_outs) == len(t_outs), f"{where} {len(s_outs)} outputs, torch gives {len(t_outs)}"
    for i, (s, t) in enumerate(zip(s_outs, t_outs)):
        assert isinstance(s, scratchgrad.Tensor), f"{where} output {i} is a {type(s).__name__}, expected a Tensor"
        assert s.dtype == torch_dtype(t.dtype), f"{where} output {i} has dtype {s.dtype}, torch gives {t.dtype}"
        assert_close(s, t, rtol, atol, f"{where} output {i}")
    if not grad:
        return
    differentiable = [i for i, t in enumerate(t_outs) if t.requires_grad]
    for i, s in enumerate(s_outs):
        assert s.requires_grad == (i in differentiable), f"{where} output {i}: requires_grad={s.requires_grad}, torch: {i in differentiable}"
    wrt = [i for i, t in enumerate(t_inputs) if isinstance(t, torch.Tensor) and t.requires_grad]
    if not differentiable or not wrt:
        return
    upstream = [rng.standard_normal(t_outs[i].shape) for i in differentiable]
    t_grads = torch.autograd.grad(
        [t_outs[i] for i in differentiable], [t_inputs[i] for i in wrt],
        [torch.tensor(g, dtype=t_outs[i].dtype) for g, i in zip(upstream, differentiable)], allow_unused=True,
    )
    s_grads = scratchgrad.autograd.grad(
        [s_outs[i] for i in differentiable], [s_inputs[i] for i in wrt],
        [scratchgrad.tensor(g.astype(s_outs[i].dtype), device=TEST_DEVICE) for g, i in zip(upstream, differentiable)], allow_unused=True,
    )
    for i, s_grad, t_grad in zip(wrt, s_grads, t_grads):
        expected = np.zeros(values[i].shape) if t_grad is None else t_grad
        if s_grad is not None:
            assert s_grad.dtype == dtype, f"{where} gradient of input {i} has dtype {s_grad.dtype}, expected {dtype}"
        assert_close(s_grad if s_grad is not None else np.zeros(values[i].shape), expected, rtol, atol, f"{where} gradient of input {i}")
        if fd:
            numeric = finite_difference(fn, values, i, differentiable, upstream)
            actual = np.zeros(values[i].shape) if s_grad is None else as_numpy(s_grad)
            np.testing.assert_allclose(
                actual, numeric, *FD_TOLERANCE, err_msg=f"{where} gradient of input {i} vs finite differences"
            )


def finite_difference(fn: Callable[..., Any], values: list[Any], wrt: int, outputs: list[int], upstream: list[Any]) -> np.ndarray:
    """Central differences of ``sum(out * upstream)`` with respect to ``values[wrt]``, in float64."""

    def objective(point: np.ndarray) -> float:
        args = [_to_lib(scratchgrad, point if j == wrt else v, np.dtype(np.float64), False) for j, v in enumerate(values)]
        with scratchgrad.no_grad():
            outs = outputs_of(fn(scratchgrad, *args))
        return sum(float((as_numpy(outs[i]) * g).sum()) for i, g in zip(outputs, upstream))

    point = np.array(values[wrt], dtype=np.float64)
    flat = point.reshape(-1)
    numeric = np.empty(flat.shape)
    for k in range(flat.size):
        original = flat[k]
        flat[k] = original + FD_EPS
        plus = objective(point)
        flat[k] = original - FD_EPS
        minus = objective(point)
        flat[k] = original
        numeric[k] = (plus - minus) / (2 * FD_EPS)
    return numeric.reshape(point.shape)


# ------------------------------------------------------------------ small helpers (also for other test files)
def outputs_of(result: Any) -> list[Any]:
    """An op's result as a list of tensors (a tuple, a namedtuple or a single tensor)."""
    return list(result) if isinstance(result, (tuple, list)) else [result]


def torch_dtype(dtype: Any) -> np.dtype:
    """The NumPy dtype of a torch dtype."""
    return torch.empty(0, dtype=dtype).numpy().dtype


def as_numpy(x: Any) -> np.ndarray:
    """A float64/int/bool NumPy copy of a scratchgrad tensor, a torch tensor or an array."""
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    if isinstance(x, scratchgrad.Tensor):
        return np.asarray(x.detach().cpu().array)
    return np.asarray(x)


def assert_close(actual: Any, expected: Any, rtol: float, atol: float, what: str = "") -> None:
    """Shapes equal and values close (integers and bools exactly)."""
    a, e = as_numpy(actual), as_numpy(expected)
    assert a.shape == e.shape, f"{what}: shape {a.shape}, expected {e.shape}"
    if e.dtype.kind in "biu":
        np.testing.assert_array_equal(a, e, err_msg=what)
    else:
        np.testing.assert_allclose(a.astype(np.float64), e.astype(np.float64), rtol=rtol, atol=atol, err_msg=what)


def _draw(spec: Any, rng: Any, low: float, high: float) -> Any:
    if isinstance(spec, tuple) and all(isinstance(n, int) for n in spec):
        return rng.uniform(low, high, spec)
    return spec


def _to_lib(lib: Any, value: Any, dtype: np.dtype, requires_grad: bool) -> Any:
    if not isinstance(value, np.ndarray):
        return value
    device = TEST_DEVICE if lib is scratchgrad else "cpu"
    if value.dtype.kind == "f":
        return lib.tensor(value.astype(dtype), requires_grad=requires_grad, device=device)
    return lib.tensor(value, device=device)
