"""tools.gradcheck / gradgradcheck: pass on correct gradients, name the entry on wrong ones."""
from __future__ import annotations

import re

import numpy as np
import pytest

import scratchgrad as sg
from scratchgrad.autograd import Function
from scratchgrad.tools import GradcheckError, gradcheck, gradgradcheck


def _double(*shape: int, seed: int = 0) -> sg.Tensor:
    return sg.tensor(np.random.default_rng(seed).standard_normal(shape), requires_grad=True)


class _WrongSquare(Function):
    """x**2 with a backward that is off by a factor 3 at one element."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x.array**2

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        scale = np.ones(x.shape)
        scale.reshape(-1)[-1] = 3.0
        return grad * x * 2 * sg.tensor(scale)


def test_passes_on_correct_gradients_of_several_inputs_and_outputs():
    a, b = _double(3, 4, seed=1), _double(4, 2, seed=2)
    assert gradcheck(lambda x, w: ((x @ w).tanh(), (x * 2).exp().sum(dim=1)), (a, b))
    assert gradcheck(lambda x: x.sigmoid(), _double(seed=3).sum())  # a 0-d input


def test_non_tensor_arguments_and_inputs_without_grad_are_passed_through():
    x = _double(2, 3)
    constant = sg.tensor(np.ones((2, 3)))
    assert gradcheck(lambda a, c, power: (a * c) ** power, (x, constant, 3))


def test_reports_output_input_element_and_both_values():
    x = _double(2, 3)
    with pytest.raises(GradcheckError) as info:
        gradcheck(lambda c, y: c * _WrongSquare.apply(y), (sg.tensor(np.ones(1)), x))
    message = str(info.value)
    assert "output 0 with respect to input 1" in message
    assert "d output0[1, 2] / d input1[1, 2]" in message
    assert "1 of 36 entries differ" in message
    values = re.search(r"numerical (\S+), analytical (\S+) ", message)
    assert float(values[1]) == pytest.approx(2 * x.array[1, 2], rel=1e-8)
    assert float(values[2]) == pytest.approx(6 * x.array[1, 2], rel=1e-9)
    assert gradcheck(lambda y: _WrongSquare.apply(y), x, raise_exception=False) is False


def test_needs_float64_inputs_that_require_grad():
    with pytest.raises(ValueError, match="input 0 is float32"):
        gradcheck(lambda x: x * 2, sg.randn(3, requires_grad=True))
    with pytest.raises(ValueError, match="no input requires grad"):
        gradcheck(lambda x: x * 2, sg.tensor(np.ones(3)))


def test_gradgradcheck_checks_second_derivatives():
    x, w = _double(2, 3, seed=4), _double(3, 2, seed=5)
    assert gradgradcheck(lambda a, b: (a @ b).tanh(), (x, w))
    # a correct first derivative whose own backward is wrong fails only the second-order check
    assert gradcheck(_ExpWithWrongSecondDerivative.apply, x)
    with pytest.raises(GradcheckError, match="output 0 with respect to input 0"):
        gradgradcheck(_ExpWithWrongSecondDerivative.apply, x)


class _ExpWithWrongSecondDerivative(Function):
    """exp whose backward computes exp(x) right, through an op whose own backward is wrong."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.exp(x.array)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * _WrongSquare.apply(x.exp().sqrt())


def test_matches_torch_gradcheck_verdicts():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(6)
    data = rng.standard_normal((3, 3))
    ours = gradcheck(lambda x: x.log_softmax(dim=1), sg.tensor(data, requires_grad=True))
    theirs = torch.autograd.gradcheck(lambda x: x.log_softmax(dim=1), torch.tensor(data, requires_grad=True))
    assert ours and theirs
