"""Robustness of the engine (issue 2, item 5): deep graphs, freeing the graph, no silent
float64 upcast, stability at logits of ±1e4, clear errors for shape mismatches, double
backward and in-place modification of tensors that backward needs.

The tests under "nn.functional level" need ``scratchgrad.nn.functional`` (and, where
marked, ``scratchgrad.optim`` or the ``nn`` modules); they skip while those are missing.
"""
from __future__ import annotations

import gc
import re
import tracemalloc
import weakref
from typing import Any, Callable

import numpy as np
import pytest

import scratchgrad

torch = pytest.importorskip("torch")
from parity import check_op  # noqa: E402

EXTREME = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, 1e4], [1e4, 1e4, -3.0]])


def functional() -> Any:
    return pytest.importorskip("scratchgrad.nn.functional", reason="waits on scratchgrad.nn.functional")


# ---------------------------------------------------------------------------- deep graphs, freeing the graph
def test_chain_of_100k_ops_backpropagates_without_recursion_error() -> None:
    x = scratchgrad.tensor([0.5], requires_grad=True)
    y = x
    for _ in range(100_000):
        y = -y  # the cheapest op: this test is about depth
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.array, [1.0])
    del y  # freeing the chain must not recurse either


def test_saved_intermediate_is_freed_by_backward() -> None:
    x = scratchgrad.randn(3, requires_grad=True)
    hidden = x * 2
    y = (hidden * hidden).sum()  # Mul saves `hidden`
    alive = weakref.ref(hidden)
    del hidden
    y.backward(retain_graph=True)
    assert alive() is not None, "retain_graph=True keeps the saved tensors"
    y.backward()
    assert alive() is None, "backward() without retain_graph frees the saved tensors"
    assert y.grad_fn is not None  # the graph's structure stays, as in torch


def test_graph_is_freed_by_reference_counting_without_the_cycle_collector() -> None:
    w = scratchgrad.randn(4, 3, requires_grad=True)
    x = scratchgrad.randn(5, 4)
    (x @ w).tanh().softmax(-1).log().mean().backward()  # first calls import and cache (e.g. threadpoolctl's controller)
    gc.collect()
    gc.disable()
    try:
        before = len(gc.get_objects())
        for _ in range(20):
            (x @ w).tanh().softmax(-1).log().mean().backward()
        grown = len(gc.get_objects()) - before
    finally:
        gc.enable()
    assert grown < 20, f"{grown} objects survive 20 steps: the graph holds a reference cycle"


def test_1000_training_steps_of_a_small_cnn_do_not_grow_memory() -> None:
    step = _cnn_step(functional())
    for _ in range(20):  # first calls import and cache; the thread pool starts its threads as it needs them
        step()
    gc.collect()  # (this also empties Python's free lists, so it must not run just before tracing)
    objects = len(gc.get_objects())
    for _ in range(780):  # warm up: Python's free lists and NumPy's caches fill up first
        step()
    tracemalloc.start()  # slows every allocation down: trace only the last 200 steps
    try:
        for _ in range(200):
            step()
        grown, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    gc.collect()
    assert len(gc.get_objects()) - objects < 50
    assert grown < 64 * 1024, f"memory grew by {grown} bytes over 200 steps"


def _cnn_step(F: Any) -> Callable[[], float]:
    """One SGD step of conv -> relu -> max-pool -> linear -> cross-entropy, with a manual update."""
    generator = np.random.default_rng(0)
    x = scratchgrad.tensor(generator.standard_normal((8, 1, 8, 8)).astype(np.float32))
    y = scratchgrad.tensor(np.arange(8) % 3)
    params = [
        scratchgrad.tensor(generator.standard_normal(shape).astype(np.float32) * 0.3, requires_grad=True)
        for shape in ((4, 1, 3, 3), (4,), (3, 36), (3,))
    ]

    def step() -> float:
        w1, b1, w2, b2 = params
        hidden = F.max_pool2d(F.relu(F.conv2d(x, w1, b1)), 2)
        loss = F.cross_entropy(F.linear(hidden.flatten(1), w2, b2), y)
        loss.backward()
        with scratchgrad.no_grad():
            for p in params:
                p.sub_(p.grad * 0.1)
                p.grad = None
        return loss.item()

    return step


# ---------------------------------------------------------------------------- no silent float64 upcast
SCALARS = {
    "python_float": 0.75, "python_int": 3, "numpy_float64": np.float64(0.75), "numpy_float32": np.float32(0.75),
    "tensor_0d_float64": scratchgrad.tensor(np.float64(0.75)), "tensor_0d_int64": scratchgrad.tensor(3),
}
BINARY: dict[str, Callable[[Any, Any], Any]] = {
    "add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b, "div": lambda a, b: a / b,
    "pow": lambda a, b: a**b, "maximum": scratchgrad.maximum, "minimum": scratchgrad.minimum,
    "where": lambda a, b: scratchgrad.where(a > 0, a, b),
}


@pytest.mark.parametrize("scalar", SCALARS.values(), ids=SCALARS.keys())
@pytest.mark.parametrize("name", BINARY)
def test_float32_with_scalars_and_0d_tensors_stays_float32(name: str, scalar: Any) -> None:
    op = BINARY[name]
    x = (scratchgrad.rand(2, 3) + 0.5).requires_grad_()
    for out in (op(x, scalar), op(scalar, x)):
        assert out.dtype == scratchgrad.float32, f"{name} with {scalar!r} gives {out.dtype}"
        out.sum().backward()
    assert x.grad.dtype == scratchgrad.float32


def test_float32_reductions_and_activations_stay_float32() -> None:
    x = scratchgrad.randn(4, 5, requires_grad=True)
    outs = [
        x.mean(), x.var(1), x.std(), x.norm(), x.softmax(-1), x.log_softmax(0), x.logsumexp(1), x.sigmoid(), x.tanh(),
        x.clamp(-0.5, 0.5), x.exp().sqrt(), x.abs().log1p(), x.erf(), x.max(1).values, x.amax(0), x @ x.T, x[[0, 2]],
        scratchgrad.cat([x, x]), scratchgrad.stack([x, x]), (x * x + 1).rsqrt(),
    ]
    for k, out in enumerate(outs):
        assert out.dtype == scratchgrad.float32, f"output {k} has dtype {out.dtype}"
        out.sum().backward()
    assert x.grad.dtype == scratchgrad.float32


# ---------------------------------------------------------------------------- logits of ±1e4
@pytest.mark.parametrize(
    "fn",
    [
        lambda lib, x: x.sigmoid(),
        lambda lib, x: x.softmax(-1),
        lambda lib, x: x.softmax(0),
        lambda lib, x: x.log_softmax(-1),
        lambda lib, x: x.logsumexp(-1),
        lambda lib, x: x.logsumexp(0),
        lambda lib, x: x.tanh(),
    ],
    ids=["sigmoid", "softmax", "softmax0", "log_softmax", "logsumexp", "logsumexp0", "tanh"],
)
def test_extreme_logits_give_finite_values_and_gradients(fn: Callable[..., Any]) -> None:
    check_op(fn, [EXTREME], dtypes=(np.float64,))  # the same values and gradients as torch
    # float32 against float64, not against torch: torch's float32 logsumexp backward is
    # exp(x - out) with out rounded at 1e4 (ulp 1e-3), 2e-4 off; ours is exact here.
    reference = _values_and_gradient(fn, np.float64)
    for actual, expected in zip(_values_and_gradient(fn, np.float32), reference):
        assert actual.dtype == np.float32 and np.isfinite(actual).all()
        np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=1e-5)


def _values_and_gradient(fn: Callable[..., Any], dtype: Any) -> tuple[np.ndarray, np.ndarray]:
    x = scratchgrad.tensor(EXTREME.astype(dtype), requires_grad=True)
    out = fn(scratchgrad, x)
    (out * scratchgrad.tensor(np.linspace(-1, 1, out.numel()).reshape(out.shape).astype(dtype))).sum().backward()
    return out.array, x.grad.array


# ---------------------------------------------------------------------------- errors
def names(op: str, *shapes: tuple[int, ...]) -> str:
    """A regex matching a message that contains ``op`` and every shape, in any order."""
    return "".join(f"(?=.*{re.escape(str(item))})" for item in (op, *shapes))


def test_matmul_shape_mismatch_names_the_op_and_both_shapes() -> None:
    with pytest.raises(RuntimeError, match=names("matmul", (3, 4), (5, 2))):
        scratchgrad.randn(3, 4) @ scratchgrad.randn(5, 2)
    with pytest.raises(RuntimeError, match=names("matmul", (2, 3, 4), (3,))):
        scratchgrad.randn(2, 3, 4) @ scratchgrad.randn(3)


def test_cat_shape_mismatch_names_the_op_and_both_shapes() -> None:
    with pytest.raises(RuntimeError, match=names("cat", (2, 3), (2, 4))):
        scratchgrad.cat([scratchgrad.randn(2, 3), scratchgrad.randn(2, 4)], 0)
    with pytest.raises(RuntimeError, match=names("cat", (2, 3), (3,))):
        scratchgrad.cat([scratchgrad.randn(2, 3), scratchgrad.randn(3)])
    with pytest.raises(RuntimeError, match="cat: zero-dimensional"):
        scratchgrad.cat([scratchgrad.tensor(1.0), scratchgrad.tensor(2.0)])


def test_second_backward_without_retain_graph_raises_a_clear_error() -> None:
    x = scratchgrad.randn(3, requires_grad=True)
    y = (x.exp() * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="backward through the graph a second time.*retain_graph=True"):
        y.backward()


INPLACE_AFTER_SAVE: dict[str, Callable[[Any], Any]] = {
    "saved_input": lambda h: (h.log(), lambda: h.add_(1)),
    "saved_output": lambda h: (h.exp(), None),
    "view_of_saved": lambda h: (h.log(), lambda: h[0].mul_(2)),
    "setitem_on_saved": lambda h: (h * h, lambda: h.__setitem__(1, 5.0)),
    "saved_matmul_operand": lambda h: (h.reshape(1, 3) @ h.reshape(3, 1), lambda: h.div_(2)),
}


@pytest.mark.parametrize("case", INPLACE_AFTER_SAVE)
def test_inplace_change_of_a_tensor_backward_needs_raises(case: str) -> None:
    x = scratchgrad.tensor([1.0, 2.0, 3.0], requires_grad=True)
    h = x * 1
    y, modify = INPLACE_AFTER_SAVE[case](h)
    if modify is None:  # the saved output itself is changed
        y.mul_(2)
        y = y * 1
    else:
        modify()
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()


def test_inplace_on_a_leaf_that_requires_grad_raises() -> None:
    w = scratchgrad.ones(3, requires_grad=True)
    for modify in (lambda: w.add_(1), lambda: w.mul_(2), lambda: w.__setitem__(0, 1.0), lambda: w.clamp_(0, 1)):
        with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
            modify()
    for modify in (lambda: w[0].mul_(2), lambda: w.reshape(3, 1)[1:].zero_(), lambda: w.view(1, 3)[0].__setitem__(1, 3.0)):
        with pytest.raises(RuntimeError, match="a view of a leaf Variable that requires grad"):
            modify()
    with scratchgrad.no_grad():
        w.add_(1)  # the optimizer's way: allowed under no_grad
    np.testing.assert_array_equal(w.array, [2.0, 2.0, 2.0])


# ---------------------------------------------------------------------------- nn.functional level
LOSSES_AND_ACTIVATIONS: dict[str, Callable[[Any, Any, Any], Any]] = {
    "cross_entropy": lambda F, x, t: F.cross_entropy(x, t.argmax(1)),
    "cross_entropy_probs": lambda F, x, t: F.cross_entropy(x, t.softmax(1)),
    "bce_with_logits": lambda F, x, t: F.binary_cross_entropy_with_logits(x, t),
    "focal_autograd": lambda F, x, t: F.sigmoid_focal_loss(x, t, reduction="mean", impl="autograd"),
    "focal_manual": lambda F, x, t: F.sigmoid_focal_loss(x, t, reduction="mean", impl="manual"),
    "selu": lambda F, x, t: F.selu(x),
    "elu": lambda F, x, t: F.elu(x),
    "log_softmax": lambda F, x, t: F.log_softmax(x, 1),
    "softmax": lambda F, x, t: F.softmax(x, 1),
    "sigmoid": lambda F, x, t: F.sigmoid(x),
}


@pytest.mark.parametrize("name", LOSSES_AND_ACTIVATIONS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_functional_at_extreme_logits_is_finite(name: str, dtype: Any) -> None:
    F = functional()
    x = scratchgrad.tensor(EXTREME.astype(dtype), requires_grad=True)
    target = scratchgrad.tensor(np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]], dtype=dtype))
    out = LOSSES_AND_ACTIVATIONS[name](F, x, target)
    assert out.dtype == dtype
    (out * scratchgrad.tensor(np.linspace(0.5, 1.5, out.numel()).reshape(out.shape).astype(dtype))).sum().backward()
    assert np.isfinite(out.array).all(), f"{name}: {out}"
    assert np.isfinite(x.grad.array).all(), f"{name}: gradient {x.grad}"


def test_focal_loss_implementations_agree_at_extreme_logits() -> None:
    F = functional()
    logits = np.where(EXTREME == 0, 0.5, EXTREME)  # x == 0 exactly: see the next test
    target = scratchgrad.tensor(np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0], [1.0, 0.0, 1.0]]))
    results = []
    for impl in ("autograd", "manual"):
        x = scratchgrad.tensor(logits, requires_grad=True)
        loss = F.sigmoid_focal_loss(x, target, alpha=0.25, gamma=2, reduction="sum", impl=impl)
        loss.backward()
        results.append((loss.item(), x.grad.array))
    np.testing.assert_allclose(results[0][0], results[1][0], rtol=1e-10)
    np.testing.assert_allclose(results[0][1], results[1][1], rtol=1e-10, atol=1e-12)


def test_bce_with_logits_gradient_at_zero_matches_torch() -> None:
    F = functional()
    x = scratchgrad.tensor([0.0, 0.0], requires_grad=True)
    F.binary_cross_entropy_with_logits(x, scratchgrad.tensor([1.0, 0.0]), reduction="sum").backward()
    np.testing.assert_allclose(x.grad.array, [-0.5, 0.5])  # sigmoid(0) - target, as torch gives


SHAPE_ERRORS: dict[str, tuple[Callable[[Any], Any], str]] = {
    "linear": (lambda F: F.linear(scratchgrad.randn(2, 5), scratchgrad.randn(3, 4)), names("linear", (2, 5), (3, 4))),
    "conv2d": (lambda F: F.conv2d(scratchgrad.randn(1, 2, 5, 5), scratchgrad.randn(4, 3, 3, 3)), names("conv2d", (1, 2, 5, 5), (4, 3, 3, 3))),
    "cross_entropy": (lambda F: F.cross_entropy(scratchgrad.randn(4, 3), scratchgrad.tensor([0, 1, 2])), names("cross_entropy", (3,), (4, 3))),
    "nll_loss": (lambda F: F.nll_loss(scratchgrad.randn(4, 3), scratchgrad.tensor([[0], [1], [2], [0]])), names("nll_loss", (4, 1), (4, 3))),
    "mse_loss": (lambda F: F.mse_loss(scratchgrad.randn(4, 3), scratchgrad.randn(4, 2)), names("mse_loss", (4, 2), (4, 3))),
    "bce_with_logits": (lambda F: F.binary_cross_entropy_with_logits(scratchgrad.randn(4), scratchgrad.rand(3)), names("binary_cross_entropy_with_logits", (3,), (4,))),
    "focal_loss": (lambda F: F.sigmoid_focal_loss(scratchgrad.randn(4, 2), scratchgrad.rand(4, 1)), names("sigmoid_focal_loss", (4, 1), (4, 2))),
}


@pytest.mark.parametrize("name", SHAPE_ERRORS)
def test_functional_shape_mismatch_names_the_op_and_both_shapes(name: str) -> None:
    call, message = SHAPE_ERRORS[name]
    with pytest.raises((RuntimeError, ValueError), match=message):
        call(functional())


def test_full_float32_training_step_stays_float32() -> None:
    """conv -> batch_norm -> relu -> pool -> dropout -> linear -> cross_entropy, with Adam (waits on nn.functional and optim)."""
    F = functional()
    optim = pytest.importorskip("scratchgrad.optim", reason="waits on scratchgrad.optim")
    generator = np.random.default_rng(1)
    x = scratchgrad.tensor(generator.standard_normal((4, 3, 8, 8)))  # a float64 batch, cast like a data loader would
    x = x.float()
    target = scratchgrad.tensor([0, 1, 2, 1])
    conv_w = scratchgrad.randn(4, 3, 3, 3, requires_grad=True)
    conv_b = scratchgrad.zeros(4, requires_grad=True)
    bn_w, bn_b = scratchgrad.ones(4, requires_grad=True), scratchgrad.zeros(4, requires_grad=True)
    running_mean, running_var = scratchgrad.zeros(4), scratchgrad.ones(4)
    fc_w = scratchgrad.randn(3, 64, requires_grad=True)
    fc_b = scratchgrad.zeros(3, requires_grad=True)
    params = [conv_w, conv_b, bn_w, bn_b, fc_w, fc_b]
    optimizer = optim.Adam(params, lr=1e-3, weight_decay=1e-4)
    for _ in range(2):
        optimizer.zero_grad()
        hidden = F.conv2d(x, conv_w, conv_b, padding=1)
        hidden = F.batch_norm(hidden, running_mean, running_var, bn_w, bn_b, training=True, momentum=0.1, eps=1e-5)
        hidden = F.dropout(F.max_pool2d(F.relu(hidden), 2), p=0.25, training=True)
        logits = F.linear(hidden.flatten(1), fc_w, fc_b) * 0.5 + 1e-3
        loss = F.cross_entropy(logits, target, label_smoothing=0.1)
        assert hidden.dtype == logits.dtype == loss.dtype == scratchgrad.float32
        loss.backward()
        optimizer.step()
    for k, tensor in enumerate(params + [running_mean, running_var]):
        assert tensor.dtype == scratchgrad.float32, f"tensor {k} became {tensor.dtype}"
    for k, p in enumerate(params):
        assert p.grad.dtype == scratchgrad.float32, f"gradient {k} is {p.grad.dtype}"
    for state in optimizer.state.values():
        for key, value in state.items():
            if hasattr(value, "dtype") and value.dtype.kind == "f":
                assert value.dtype == np.float32, f"optimizer state {key!r} is {value.dtype}"


def test_full_training_step_with_nn_modules_stays_float32() -> None:
    """The same with nn modules and their buffers (waits on scratchgrad.nn's modules)."""
    nn = pytest.importorskip("scratchgrad.nn", reason="waits on scratchgrad.nn")
    if not all(hasattr(nn, name) for name in ("Sequential", "Conv2d", "BatchNorm2d", "Linear", "CrossEntropyLoss")):
        pytest.skip("waits on scratchgrad.nn's modules")
    optim = pytest.importorskip("scratchgrad.optim", reason="waits on scratchgrad.optim")
    model = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2), nn.Dropout(0.2),
        nn.Flatten(), nn.Linear(64, 10),
    )
    optimizer = optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    x = scratchgrad.tensor(np.random.default_rng(2).standard_normal((4, 3, 8, 8))).float()
    loss = nn.CrossEntropyLoss()(model(x), scratchgrad.tensor([0, 1, 2, 3]))
    loss.backward()
    optimizer.step()
    for name, tensor in list(model.state_dict().items()):
        if tensor.dtype.kind == "f":
            assert tensor.dtype == scratchgrad.float32, f"{name} became {tensor.dtype}"
    for name, p in model.named_parameters():
        assert p.grad.dtype == scratchgrad.float32, f"gradient of {name} is {p.grad.dtype}"
    for state in optimizer.state.values():
        for key, value in state.items():
            if hasattr(value, "dtype") and value.dtype.kind == "f":
                assert value.dtype == np.float32, f"optimizer state {key!r} is {value.dtype}"


def test_broadcast_mismatch_names_the_op_and_both_shapes() -> None:
    with pytest.raises(RuntimeError, match=r"Add.*\(2,3\).*\(4,\)"):
        scratchgrad.ones(2, 3) + scratchgrad.ones(4)
