"""nn.init and the layers' default initialization: PyTorch's distributions, fans and gains; reproducible seeds."""
import math

import numpy as np
import pytest

import scratchgrad as sg
import scratchgrad.nn as snn
from scratchgrad.nn import init

torch = pytest.importorskip("torch")

SHAPES = [(64, 32), (16, 8, 3, 3), (8, 4, 5, 1), (3, 7, 2, 2, 2)]


@pytest.mark.parametrize("shape", SHAPES)
def test_fans_equal_torch(shape):
    assert init._calculate_fan_in_and_fan_out(sg.zeros(*shape)) == torch.nn.init._calculate_fan_in_and_fan_out(torch.zeros(shape))


def test_fan_needs_two_dims():
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        init.kaiming_uniform_(sg.zeros(5))


@pytest.mark.parametrize("nonlinearity, param", [
    ("linear", None), ("conv2d", None), ("sigmoid", None), ("tanh", None), ("relu", None), ("leaky_relu", None),
    ("leaky_relu", 0.2), ("leaky_relu", math.sqrt(5)), ("leaky_relu", 1), ("selu", None),
])
def test_calculate_gain_equals_torch(nonlinearity, param):
    assert init.calculate_gain(nonlinearity, param) == pytest.approx(torch.nn.init.calculate_gain(nonlinearity, param))


def test_calculate_gain_errors():
    with pytest.raises(ValueError, match="unsupported nonlinearity"):
        init.calculate_gain("swish")
    with pytest.raises(ValueError, match="not a valid number"):
        init.calculate_gain("leaky_relu", True)


def _uniform_bound_and_std(values):
    return np.abs(values).max(), values.std()


# (init call, expected bound of a uniform or std of a normal) on a (256, 128, 3, 3) tensor: fan_in 1152, fan_out 2304
FAN_IN, FAN_OUT = 128 * 9, 256 * 9
UNIFORM = [
    (lambda t: init.kaiming_uniform_(t, a=math.sqrt(5)), 1 / math.sqrt(FAN_IN)),
    (lambda t: init.kaiming_uniform_(t, nonlinearity="relu"), math.sqrt(6 / FAN_IN)),
    (lambda t: init.kaiming_uniform_(t, mode="fan_out", nonlinearity="relu"), math.sqrt(6 / FAN_OUT)),
    (lambda t: init.xavier_uniform_(t, gain=2.0), 2.0 * math.sqrt(6 / (FAN_IN + FAN_OUT))),
    (lambda t: init.uniform_(t, -0.3, 0.3), 0.3),
]
NORMAL = [
    (lambda t: init.kaiming_normal_(t), math.sqrt(2 / (1 + 0.0)) / math.sqrt(FAN_IN)),
    (lambda t: init.kaiming_normal_(t, mode="fan_out", nonlinearity="relu"), math.sqrt(2 / FAN_OUT)),
    (lambda t: init.xavier_normal_(t), math.sqrt(2 / (FAN_IN + FAN_OUT))),
    (lambda t: init.normal_(t, 0.0, 0.02), 0.02),
]


@pytest.mark.parametrize("fill, bound", UNIFORM)
def test_uniform_inits_have_torch_bounds(fill, bound):
    sg.manual_seed(0)
    tensor = sg.empty(256, 128, 3, 3)
    assert fill(tensor) is tensor
    values = tensor.numpy()
    assert values.dtype == np.float32
    assert np.abs(values).max() <= bound and np.abs(values).max() > 0.999 * bound
    assert values.std() == pytest.approx(bound / math.sqrt(3), rel=0.01)
    assert abs(values.mean()) < 0.01 * bound


@pytest.mark.parametrize("fill, std", NORMAL)
def test_normal_inits_have_torch_std(fill, std):
    sg.manual_seed(0)
    values = fill(sg.empty(256, 128, 3, 3)).numpy()
    assert values.std() == pytest.approx(std, rel=0.01)
    assert abs(values.mean()) < 0.01 * std


def test_trunc_normal_constant_zeros_ones():
    sg.manual_seed(0)
    values = init.trunc_normal_(sg.empty(100_000), mean=0.5, std=1.0, a=-1.0, b=1.5).numpy()
    assert values.min() >= -1.0 and values.max() <= 1.5
    reference = torch.nn.init.trunc_normal_(torch.empty(100_000), mean=0.5, std=1.0, a=-1.0, b=1.5).numpy()
    assert values.mean() == pytest.approx(reference.mean(), abs=0.01) and values.std() == pytest.approx(reference.std(), rel=0.02)
    tensor = sg.empty(3, 2)
    assert init.constant_(tensor, 0.25).numpy().tolist() == [[0.25] * 2] * 3
    assert not init.zeros_(tensor).numpy().any()
    assert (init.ones_(tensor).numpy() == 1).all()


def test_init_runs_without_grad_and_keeps_dtype():
    param = snn.Parameter(sg.zeros(4, 3).double())
    init.kaiming_uniform_(param)
    init.normal_(param)
    assert param.grad_fn is None and param.is_leaf and param.dtype == np.float64


def test_zero_element_init_is_a_no_op():
    with pytest.warns(UserWarning, match="zero-element"):
        init.kaiming_uniform_(sg.empty(0, 3))


def test_manual_seed_makes_inits_reproducible():
    sg.manual_seed(7)
    first = snn.Conv2d(3, 8, 3).weight.detach().numpy().copy()
    sg.manual_seed(7)
    second = snn.Conv2d(3, 8, 3).weight.detach().numpy()
    np.testing.assert_array_equal(first, second)
    generator = sg.Generator(3)
    a = init.uniform_(sg.empty(5), generator=generator).numpy().copy()
    b = init.uniform_(sg.empty(5), generator=sg.Generator(3)).numpy()
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("make", [
    lambda nn: nn.Linear(300, 200),
    lambda nn: nn.Conv2d(64, 128, 3),
    lambda nn: nn.Conv2d(64, 128, (3, 5), groups=4),
], ids=["linear", "conv", "conv-groups"])
def test_default_layer_init_matches_torch_distribution(make):
    """Weights and bias: U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = in/groups * kernel area, as torch."""
    sg.manual_seed(0)
    torch.manual_seed(0)
    ours, theirs = make(snn), make(torch.nn)
    fan_in, _ = torch.nn.init._calculate_fan_in_and_fan_out(theirs.weight)
    bound = 1 / math.sqrt(fan_in)
    for name in ("weight", "bias"):
        values, reference = getattr(ours, name).detach().numpy(), getattr(theirs, name).detach().numpy()
        assert values.shape == reference.shape and values.dtype == np.float32
        assert np.abs(values).max() <= bound and np.abs(reference).max() <= bound
        assert values.std() == pytest.approx(reference.std(), rel=0.1 if name == "bias" else 0.02)


def test_batchnorm_init():
    bn = snn.BatchNorm2d(5)
    assert (bn.weight.detach().numpy() == 1).all() and not bn.bias.detach().numpy().any()
    assert not bn.running_mean.numpy().any() and (bn.running_var.numpy() == 1).all() and int(bn.num_batches_tracked) == 0
