"""The CUDA backend (CuPy): what a GPU run needs beyond the op tables.

The op and module tables run on the GPU with ``SCRATCHGRAD_TEST_DEVICE=cuda python -m pytest``;
this file checks whole training steps, device moves, saving and the errors. Without CuPy and
a CUDA GPU (CI) only the first tests run; the rest are skipped.
"""
from __future__ import annotations

import io

import numpy as np
import pytest

import scratchgrad as sg
import scratchgrad.nn as nn
import scratchgrad.nn.functional as F

gpu = pytest.mark.skipif(not sg.cuda.is_available(), reason="needs CuPy and a CUDA GPU")


def test_availability_is_consistent():
    available = sg.cuda.is_available()
    assert (sg.cuda.device_count() > 0) == available
    if not available:
        with pytest.raises(RuntimeError, match="CuPy with a CUDA GPU is required"):
            sg.zeros(2).to("cuda")
        with pytest.raises(RuntimeError, match="CuPy with a CUDA GPU is required"):
            sg.cuda.synchronize()


def small_cnn(seed: int) -> nn.Module:
    sg.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(3, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 8, 3, stride=2), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 5),
    )


def train(model: nn.Module, device: str, x: np.ndarray, y: np.ndarray, optimizer_name: str, steps: int) -> list[float]:
    model.to(device)
    if optimizer_name == "adam":
        optimizer = sg.optim.Adam(model.parameters(), lr=1e-2, weight_decay=1e-4)
    else:
        optimizer = sg.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    inputs, targets = sg.tensor(x, device=device), sg.tensor(y, device=device)
    losses = []
    for _ in range(steps):
        optimizer.zero_grad()
        loss = F.cross_entropy(model(inputs), targets)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


@gpu
@pytest.mark.parametrize("dtype, optimizer_name", [(np.float64, "adam"), (np.float64, "sgd"), (np.float32, "sgd")])
def test_training_steps_match_the_cpu(dtype, optimizer_name):
    """Convs, BatchNorm (running statistics too), pooling, Linear, loss and the optimizer on
    the GPU follow the CPU run step by step. (Not Adam in float32: its normalised steps turn
    rounding differences in near-zero gradients into differences of a whole step.)"""
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((4, 3, 10, 10)).astype(dtype), rng.integers(0, 5, 4)
    on_cpu, on_gpu = small_cnn(0).to(dtype), small_cnn(0).to(dtype)
    tolerance = dict(rtol=1e-9, atol=1e-11) if dtype == np.float64 else dict(rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(train(on_gpu, "cuda", x, y, optimizer_name, 4), train(on_cpu, "cpu", x, y, optimizer_name, 4), **tolerance)
    gpu_state = on_gpu.state_dict()
    for name, value in on_cpu.state_dict().items():
        assert gpu_state[name].device == sg.device("cuda")
        np.testing.assert_allclose(gpu_state[name].cpu().numpy(), value.numpy(), err_msg=name, **tolerance)


@gpu
def test_to_device_is_differentiable_both_ways():
    x = sg.tensor([1.0, -2.0, 3.0], requires_grad=True)
    y = (x.cuda() * 2).relu().cpu().sum()
    y.backward()
    assert x.grad.device == sg.device("cpu")
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 0.0, 2.0])


@gpu
def test_mixed_devices_are_an_error_that_names_them():
    with pytest.raises(RuntimeError, match="same device, but found cpu and cuda"):
        sg.ones(3) + sg.ones(3, device="cuda")
    with pytest.raises(RuntimeError, match="same device"):
        F.linear(sg.ones(2, 3, device="cuda"), sg.ones(4, 3))


@gpu
def test_a_gpu_model_saves_and_loads_on_the_cpu():
    model = small_cnn(1).to("cuda")
    buffer = io.BytesIO()
    sg.save(model.state_dict(), buffer)
    loaded = sg.load(io.BytesIO(buffer.getvalue()))
    assert all(value.device == sg.device("cpu") for value in loaded.values())
    on_cpu = small_cnn(2)
    on_cpu.load_state_dict(loaded)
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(on_cpu.state_dict()[name].numpy(), value.cpu().numpy(), err_msg=name)
    back = sg.load(io.BytesIO(buffer.getvalue()), map_location="cuda")
    assert all(value.device == sg.device("cuda") for value in back.values())


@gpu
def test_optimizer_state_follows_its_parameters():
    """A checkpoint of a GPU run's optimizer resumes on the CPU (state moved to each parameter's device)."""
    model = small_cnn(3).to("cuda")
    optimizer = sg.optim.Adam(model.parameters(), lr=1e-3)
    rng = np.random.default_rng(1)
    x, y = sg.tensor(rng.standard_normal((2, 3, 8, 8)), dtype=sg.float32, device="cuda"), sg.tensor([0, 1], device="cuda")
    F.cross_entropy(model(x), y).backward()
    optimizer.step()
    state = optimizer.state_dict()
    on_cpu = small_cnn(3)
    resumed = sg.optim.Adam(on_cpu.parameters(), lr=1e-3)
    resumed.load_state_dict(state)
    moments = [s["exp_avg"] for s in resumed.state_dict()["state"].values()]
    assert moments and all(m.device == sg.device("cpu") for m in moments)
