"""Autograd against PyTorch: custom Functions, autograd.grad with higher-order gradients,
accumulation into ``.grad``, retain_graph, grad mode, detach and the requires_grad rules."""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from parity import assert_close, check_op  # noqa: E402

import scratchgrad  # noqa: E402
from scratchgrad import autograd  # noqa: E402

LIBS = [torch, scratchgrad]


def pair(values: Any, requires_grad: bool = True) -> tuple[Any, Any]:
    """The same float64 values as a torch tensor and a scratchgrad tensor."""
    values = np.asarray(values, dtype=np.float64)
    return torch.tensor(values, requires_grad=requires_grad), scratchgrad.tensor(values, requires_grad=requires_grad)


# ---------------------------------------------------------------------------- custom Functions
def scaled_cube(lib: Any) -> type:
    """y = scale * x**3, with a non-tensor argument and a saved input."""

    class ScaledCube(lib.autograd.Function):
        @staticmethod
        def forward(ctx: Any, x: Any, scale: float) -> Any:
            ctx.save_for_backward(x)
            ctx.scale = scale
            return x * x * x * scale

        @staticmethod
        def backward(ctx: Any, grad: Any) -> Any:
            (x,) = ctx.saved_tensors
            return grad * 3 * ctx.scale * x * x, None  # built from tensor ops: differentiable again

    return ScaledCube


def affine(lib: Any) -> type:
    """y = x @ w.T + b, computing only the gradients that ``needs_input_grad`` asks for."""

    class Affine(lib.autograd.Function):
        @staticmethod
        def forward(ctx: Any, x: Any, w: Any, b: Any = None) -> Any:
            ctx.save_for_backward(x, w)
            ctx.has_bias = b is not None
            out = x @ w.t()
            return out + b if b is not None else out

        @staticmethod
        def backward(ctx: Any, grad: Any) -> Any:
            x, w = ctx.saved_tensors
            grad_x = grad @ w if ctx.needs_input_grad[0] else None
            grad_w = grad.t() @ x if ctx.needs_input_grad[1] else None
            grad_b = grad.sum(0) if ctx.has_bias and ctx.needs_input_grad[2] else None
            return grad_x, grad_w, grad_b

    return Affine


def split_halves(lib: Any) -> type:
    """Two outputs: the first and second half of x along dim 0 (times 2 and 3)."""

    class SplitHalves(lib.autograd.Function):
        @staticmethod
        def forward(ctx: Any, x: Any) -> Any:
            ctx.half = x.shape[0] // 2
            return x[: ctx.half] * 2, x[ctx.half :] * 3

        @staticmethod
        def backward(ctx: Any, grad_a: Any, grad_b: Any) -> Any:
            return lib.cat([grad_a * 2, grad_b * 3], 0)

    return SplitHalves


def test_function_with_scalar_argument_matches_torch() -> None:
    check_op(lambda lib, x: scaled_cube(lib).apply(x, 0.5), [(3, 4)])


def test_function_needs_input_grad_matches_torch() -> None:
    check_op(lambda lib, x, w, b: affine(lib).apply(x, w, b), [(4, 3), (2, 3), (2,)])
    check_op(lambda lib, x, w: affine(lib).apply(x, w), [(4, 3), (2, 3)])


def test_function_needs_input_grad_flags() -> None:
    seen = []

    class Probe(autograd.Function):
        @staticmethod
        def forward(ctx: Any, x: Any, y: Any) -> Any:
            seen.append(ctx.needs_input_grad)
            return x.array * y.array

        @staticmethod
        def backward(ctx: Any, grad: Any) -> Any:
            return grad, None

    Probe.apply(scratchgrad.ones(2, requires_grad=True), scratchgrad.ones(2)).sum().backward()
    assert seen == [(True, False)]


def test_function_with_two_outputs_one_unused() -> None:
    """An output that takes no part in the loss gets a zero gradient, as in torch."""
    check_op(lambda lib, x: split_halves(lib).apply(x)[1].exp(), [(4, 3)])
    check_op(lambda lib, x: split_halves(lib).apply(x), [(5, 2)])


def test_function_double_backward_through_custom_backward() -> None:
    check_op(lambda lib, x: first_derivative(lib, scaled_cube(lib).apply(x, 0.5), [x]), [(3, 2)], fd=False)


def test_function_backward_with_wrong_gradient_count_raises() -> None:
    class Wrong(autograd.Function):
        @staticmethod
        def forward(ctx: Any, x: Any, y: Any) -> Any:
            return x.array + y.array

        @staticmethod
        def backward(ctx: Any, grad: Any) -> Any:
            return grad

    x = scratchgrad.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="returned 1 gradients, expected 2"):
        Wrong.apply(x, x).sum().backward()


def test_saved_tensors_of_a_custom_function_check_versions() -> None:
    x = scratchgrad.randn(3, requires_grad=True)
    h = x * 1
    y = scaled_cube(scratchgrad).apply(h, 2.0)
    h.add_(1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()


# ---------------------------------------------------------------------------- autograd.grad, higher order
def first_derivative(lib: Any, y: Any, inputs: list[Any]) -> Any:
    """d(sum y)/d(inputs) as a differentiable graph (create_graph=True)."""
    return lib.autograd.grad(y.sum(), inputs, create_graph=True)


SECOND_ORDER: list[tuple[str, Callable[..., Any], list[Any], dict[str, Any]]] = [
    ("cube", lambda lib, x: x**3, [(3, 4)], {}),
    ("x_exp_x", lambda lib, x: x.exp() * x, [(3, 4)], {}),
    ("tanh", lambda lib, x: x.tanh(), [(3, 4)], {}),
    ("sigmoid", lambda lib, x: x.sigmoid(), [(3, 4)], {}),
    ("x_log_x", lambda lib, x: x.log() * x, [(3, 4)], {"low": 0.5}),
    ("sqrt", lambda lib, x: x.sqrt(), [(3, 4)], {"low": 0.5}),
    ("pow_self", lambda lib, x: x**x, [(3, 4)], {"low": 0.5}),
    ("rational", lambda lib, x: x / (x * x + 1), [(3, 4)], {}),
    ("abs_times_x", lambda lib, x: x.abs() * x, [(3, 4)], {}),
    ("relu_sq", lambda lib, x: x.relu() ** 2, [(3, 4)], {}),
    ("clamp_sq", lambda lib, x: x.clamp(-1, 1) ** 2, [(3, 4)], {}),
    ("softmax", lambda lib, x: x.softmax(-1) * x, [(3, 4)], {}),
    ("log_softmax", lambda lib, x: x.log_softmax(0) ** 2, [(3, 4)], {}),
    ("logsumexp", lambda lib, x: x.logsumexp(-1) ** 2, [(3, 4)], {}),
    ("var_std", lambda lib, x: x.var(1) * x.std(0).sum(), [(3, 4)], {}),
    ("norm", lambda lib, x: x.norm() * x, [(3, 4)], {}),
    ("max_dim", lambda lib, x: x.max(1).values ** 2 * x.amax(), [(3, 4)], {}),
    ("gram_tanh", lambda lib, x: (x @ x.T).tanh(), [(3, 4)], {}),
    ("index_repeat", lambda lib, x: x[[0, 2, 2]] ** 3, [(3, 4)], {}),
    ("cat_stack", lambda lib, x: lib.stack([x, x * x]).exp() + lib.cat([x, x], 0).sum(), [(3, 4)], {}),
    ("where_div", lambda lib, x: lib.where(x > 0, x * x, 1 / (2 - x)), [(3, 4)], {}),
    ("broadcast", lambda lib, x: (x.reshape(3, 1, 4) * x.unsqueeze(0)).exp().mean(0), [(3, 4)], {}),
]


@pytest.mark.parametrize("fn, inputs, options", [pytest.param(f, i, o, id=n) for n, f, i, o in SECOND_ORDER])
def test_second_derivative_matches_torch(fn: Callable[..., Any], inputs: list[Any], options: dict[str, Any]) -> None:
    """The Hessian-vector product (a random vector, from check_op) of each function."""
    check_op(lambda lib, x: first_derivative(lib, fn(lib, x), [x]), inputs, fd=False, **options)


@pytest.mark.parametrize(
    "fn", [lambda lib, x, y: (x * y).exp(), lambda lib, x, y: (x @ y).tanh(), lambda lib, x, y: x / (y * y + 1)],
    ids=["exp_xy", "matmul_tanh", "div"],
)
def test_mixed_second_derivatives_match_torch(fn: Callable[..., Any]) -> None:
    check_op(lambda lib, x, y: first_derivative(lib, fn(lib, x, y), [x, y]), [(3, 3), (3, 3)], fd=False)


def test_third_derivative_matches_torch() -> None:
    def second(lib: Any, x: Any) -> Any:
        (g,) = first_derivative(lib, x.tanh() * x.exp(), [x])
        return first_derivative(lib, g, [x])

    check_op(second, [(2, 3)], fd=False)


def test_grad_leaves_dot_grad_untouched_and_sees_intermediates() -> None:
    tx, sx = pair([[0.5, -1.0], [2.0, 0.1]])
    results = []
    for lib, x in ((torch, tx), (scratchgrad, sx)):
        h = x.exp()
        y = (h * x).sum()
        results.append(lib.autograd.grad(y, [x, h]))
        assert x.grad is None
        assert not results[-1][0].requires_grad
    for s, t in zip(results[1], results[0]):
        assert_close(s, t, 1e-12, 1e-12)


def test_grad_with_grad_outputs_and_unused_inputs() -> None:
    x = scratchgrad.randn(2, 3, requires_grad=True)
    unused = scratchgrad.randn(2, requires_grad=True)
    y = x * 2
    upstream = scratchgrad.randn(2, 3)
    gx, gu = autograd.grad(y, [x, unused], grad_outputs=upstream, allow_unused=True, retain_graph=True)
    assert gu is None
    np.testing.assert_allclose(gx.array, upstream.array * 2)
    with pytest.raises(RuntimeError, match="allow_unused"):
        autograd.grad(y, [x, unused], grad_outputs=upstream)


@pytest.mark.filterwarnings("ignore:Using backward\\(\\) with create_graph=True")
def test_gradient_penalty_through_dot_grad_matches_torch() -> None:
    """backward(create_graph=True) leaves a differentiable .grad (a gradient penalty)."""
    values = np.random.default_rng(0).standard_normal((3, 4))
    grads = []
    for lib in LIBS:
        x = lib.tensor(values, requires_grad=True)
        w = lib.tensor(values.T.copy() * 0.5, requires_grad=True)
        (x @ w).tanh().sum().backward(create_graph=True)
        penalty = (w.grad * w.grad).sum()
        w.grad = None
        x.grad = None
        penalty.backward()
        grads.append((x.grad, w.grad))
    for s, t in zip(grads[1], grads[0]):
        assert_close(s, t, 1e-10, 1e-12)


# ---------------------------------------------------------------------------- .grad accumulation, retain_graph
def test_grad_accumulates_over_two_backward_calls() -> None:
    tx, sx = pair([1.0, -2.0, 3.0])
    for x in (tx, sx):
        (x * x).sum().backward()
        (x.exp()).sum().backward()
    assert_close(sx.grad, tx.grad, 1e-12, 1e-12)
    assert_close(sx.grad, 2 * tx.detach() + tx.detach().exp(), 1e-12, 1e-12)


def test_grad_accumulates_from_several_paths_and_leaves_each_leaf_its_own_buffer() -> None:
    a = scratchgrad.tensor([1.0, 2.0], requires_grad=True)
    b = scratchgrad.tensor([3.0, 4.0], requires_grad=True)
    (a + b).sum().backward()
    a.grad.array += 10  # must not change b.grad: the same upstream array reaches both
    np.testing.assert_array_equal(b.grad.array, [1.0, 1.0])
    (a * a + a).sum().backward()
    np.testing.assert_array_equal(a.grad.array, [11 + 3, 11 + 5])


def test_a_leaf_gradient_never_aliases_memory_that_something_else_holds() -> None:
    # Leaves keep a fresh gradient from a built-in op without a copy (as PyTorch's AccumulateGrad
    # steals it); anything that may be referenced elsewhere is copied.
    x = scratchgrad.tensor(np.array([[1.0, 2.0], [3.0, 4.0]]), requires_grad=True)  # float64, as the arrays below
    upstream = np.array([1.0, 2.0, 3.0, 4.0])
    x.reshape(4).backward(scratchgrad.from_numpy(upstream))  # the gradient is a view of the caller's array
    upstream += 100
    np.testing.assert_array_equal(x.grad.array, [[1.0, 2.0], [3.0, 4.0]])

    kept = np.ones(2)

    class KeepsItsGradient(scratchgrad.autograd.Function):  # a user's Function: not trusted
        @staticmethod
        def forward(ctx, a):
            return a.array * 2

        @staticmethod
        def backward(ctx, grad):
            return kept

    y = scratchgrad.tensor(np.array([1.0, 1.0]), requires_grad=True)
    KeepsItsGradient.apply(y).sum().backward()
    y.grad.array += 5
    np.testing.assert_array_equal(kept, [1.0, 1.0])

    w = scratchgrad.tensor(np.array([2.0, 3.0]), requires_grad=True)
    for _ in range(2):  # the second backward adds into the first one's (kept, not copied) gradient
        (w * w).sum().backward()
    np.testing.assert_array_equal(w.grad.array, [8.0, 12.0])


def test_a_leaf_gradient_has_the_leaf_memory_layout() -> None:
    # PyTorch's gradient layout contract: .grad has the strides of its (dense) leaf.
    data = np.arange(24.0).reshape(2, 3, 4)
    for leaf_data in (data, data.transpose(2, 0, 1)):  # C-contiguous, and a permuted (channels-last-like) view
        leaf = scratchgrad.from_numpy(leaf_data).requires_grad_()
        for upstream in (np.ones(leaf.shape), np.ones(leaf.shape[::-1]).T):  # a gradient in either order
            leaf.grad = None
            (leaf * 2).backward(scratchgrad.from_numpy(upstream))
            assert leaf.grad.array.strides == leaf_data.strides
            np.testing.assert_array_equal(leaf.grad.array, np.full(leaf.shape, 2.0))
    w = scratchgrad.tensor(np.ones((3, 5)), requires_grad=True)
    (scratchgrad.ones(2, 5, dtype=scratchgrad.float64) @ w.mT).sum().backward()  # its gradient arrives transposed
    assert w.grad.array.flags.c_contiguous


def test_retain_graph_allows_a_second_backward() -> None:
    tx, sx = pair([0.3, -0.7])
    for x in (tx, sx):
        y = (x.exp() * x).sum()
        y.backward(retain_graph=True)
        y.backward()
    assert_close(sx.grad, tx.grad, 1e-12, 1e-12)
    with pytest.raises(RuntimeError, match="second time"):
        y.backward()


def test_retain_graph_for_autograd_grad_defaults_to_create_graph() -> None:
    x = scratchgrad.tensor([0.5, 1.5], requires_grad=True)
    y = (x.log() * x).sum()
    autograd.grad(y, x, create_graph=True)
    autograd.grad(y, x)  # the graph was retained by create_graph
    with pytest.raises(RuntimeError, match="second time"):
        autograd.grad(y, x)


# ---------------------------------------------------------------------------- grad mode
def test_no_grad_and_enable_grad_as_context_managers() -> None:
    x = scratchgrad.ones(2, requires_grad=True)
    assert scratchgrad.is_grad_enabled()
    with scratchgrad.no_grad():
        assert not scratchgrad.is_grad_enabled()
        y = x * 2
        with scratchgrad.enable_grad():
            z = x * 2
        w = x * 2
    assert scratchgrad.is_grad_enabled()
    assert not y.requires_grad and y.is_leaf and y.grad_fn is None
    assert z.requires_grad and not z.is_leaf
    assert not w.requires_grad


def test_no_grad_and_enable_grad_as_decorators() -> None:
    @scratchgrad.no_grad()
    def frozen(x: Any) -> Any:
        return x * 2

    @scratchgrad.enable_grad()
    def tracked(x: Any) -> Any:
        return x * 2

    x = scratchgrad.ones(2, requires_grad=True)
    assert not frozen(x).requires_grad
    with scratchgrad.no_grad():
        assert tracked(x).requires_grad
    assert frozen.__name__ == "frozen"


def test_grad_mode_is_restored_after_an_exception() -> None:
    with pytest.raises(ValueError):
        with scratchgrad.no_grad():
            raise ValueError
    assert scratchgrad.is_grad_enabled()
    with scratchgrad.set_grad_enabled(False):
        assert not scratchgrad.is_grad_enabled()
    assert scratchgrad.is_grad_enabled()


# ---------------------------------------------------------------------------- detach and requires_grad
def test_detach_shares_memory_and_stops_gradients() -> None:
    x = scratchgrad.tensor([1.0, 2.0], requires_grad=True)
    d = (x * 3).detach()
    assert not d.requires_grad and d.is_leaf and d.grad_fn is None
    y = (x * d).sum()
    y.backward()
    np.testing.assert_array_equal(x.grad.array, [3.0, 6.0])  # d is a constant
    e = x.detach()
    with scratchgrad.no_grad():
        e.add_(1)
    np.testing.assert_array_equal(x.array, [2.0, 3.0])


def test_inplace_on_a_detached_alias_of_a_saved_tensor_raises() -> None:
    for lib in LIBS:
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        h = x * 1
        y = h.log()
        h.detach().mul_(2)  # shares the version counter, as in torch
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            y.sum().backward()


def test_requires_grad_rules() -> None:
    with pytest.raises(RuntimeError, match="floating point"):
        scratchgrad.tensor([1, 2], requires_grad=True)
    with pytest.raises(RuntimeError, match="floating point"):
        scratchgrad.tensor([1, 2]).requires_grad_()
    x = scratchgrad.tensor([1.0, 2.0], requires_grad=True)
    c = scratchgrad.tensor([3.0, 4.0])
    y = x * c
    assert x.is_leaf and not y.is_leaf and y.requires_grad
    assert not (c * c).requires_grad and (c * c).is_leaf
    assert not (x > 1).requires_grad and not x.argmax().requires_grad
    with pytest.raises(RuntimeError, match="leaf"):
        y.requires_grad_(False)
    y.sum().backward()
    assert y.grad is None and c.grad is None  # only leaves that require grad get .grad
    assert x.grad is not None


def test_non_scalar_backward_needs_a_gradient() -> None:
    tx, sx = pair([[1.0, 2.0], [3.0, -1.0]])
    upstream = np.array([[0.5, -1.0], [2.0, 0.25]])
    for lib, x in ((torch, tx), (scratchgrad, sx)):
        y = x * x
        with pytest.raises(RuntimeError, match="implicitly created only for scalar outputs"):
            y.backward()
        y.backward(lib.tensor(upstream))
    assert_close(sx.grad, tx.grad, 1e-12, 1e-12)
    with pytest.raises(RuntimeError, match="does not match"):
        (sx * 2).backward(scratchgrad.ones(3))


def test_backward_on_a_tensor_without_grad_raises() -> None:
    with pytest.raises(RuntimeError, match="does not require grad"):
        scratchgrad.ones(2).sum().backward()


def test_retain_grad_keeps_non_leaf_gradients_like_torch() -> None:
    grads = []
    for lib in (torch, scratchgrad):
        x = lib.tensor([1.0, -2.0, 3.0], requires_grad=True)
        h = x * 2
        h.retain_grad()
        assert h.retains_grad
        ((h * h).sum() + h.sum()).backward(retain_graph=True)
        (h.sum() * 3).backward()
        grads.append((h.grad.detach().numpy(), x.grad.detach().numpy()))
    np.testing.assert_array_equal(grads[0][0], grads[1][0])
    np.testing.assert_array_equal(grads[0][1], grads[1][1])
