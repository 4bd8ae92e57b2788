"""nn.utils: clip_grad_norm_ / clip_grad_value_ against torch, parameters_to_vector."""
import math

import numpy as np
import pytest

import scratchgrad as sg
import scratchgrad.nn as snn
from scratchgrad.nn.utils import clip_grad_norm_, clip_grad_value_, parameters_to_vector, vector_to_parameters

torch = pytest.importorskip("torch")

SHAPES = [(3, 4), (5,), (2, 1, 3)]


def params_with_grads(dtype, scale=1.0, seed=0):
    rng = np.random.default_rng(seed)
    grads = [rng.standard_normal(shape).astype(dtype) * scale for shape in SHAPES]
    ours, theirs = [], []
    for grad in grads:
        p, q = snn.Parameter(sg.zeros(*grad.shape, dtype=dtype)), torch.nn.Parameter(torch.zeros(grad.shape, dtype=getattr(torch, np.dtype(dtype).name)))
        p.grad, q.grad = sg.tensor(grad), torch.tensor(grad)
        ours.append(p)
        theirs.append(q)
    return ours, theirs


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("max_norm", [0.5, 1e3])
@pytest.mark.parametrize("norm_type", [2.0, 1, 3.5, math.inf, "inf", 0])
def test_clip_grad_norm_matches_torch(dtype, max_norm, norm_type):
    ours, theirs = params_with_grads(dtype)
    ours_total = clip_grad_norm_(ours, max_norm, norm_type)
    theirs_total = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type if norm_type != "inf" else math.inf)
    rtol = 1e-4 if dtype == np.float32 else 1e-6
    assert isinstance(ours_total, sg.Tensor) and ours_total.shape == () and ours_total.dtype == np.dtype(dtype)
    np.testing.assert_allclose(ours_total.numpy(), theirs_total.numpy(), rtol=rtol)
    for p, q in zip(ours, theirs):
        assert p.grad.dtype == np.dtype(dtype)
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=rtol, atol=1e-7)


def test_clip_grad_norm_single_tensor_generator_and_no_grads():
    ours, theirs = params_with_grads(np.float32, scale=10)
    total = clip_grad_norm_(ours[0], 1.0)
    np.testing.assert_allclose(total.numpy(), torch.nn.utils.clip_grad_norm_(theirs[0], 1.0).numpy(), rtol=1e-5)
    assert np.linalg.norm(ours[0].grad.numpy()) == pytest.approx(1.0, rel=1e-4)
    model = snn.Linear(3, 2)
    empty = clip_grad_norm_(model.parameters(), 1.0)
    assert empty.item() == 0.0 and empty.dtype == np.float32
    model(sg.randn(4, 3)).sum().backward()
    assert clip_grad_norm_((p for p in model.parameters()), 0.1).item() > 0.1


def test_clip_grad_norm_nonfinite():
    ours, _ = params_with_grads(np.float32)
    ours[1].grad.array[0] = np.nan
    with pytest.raises(RuntimeError, match="non-finite"):
        clip_grad_norm_(ours, 1.0, error_if_nonfinite=True)
    assert math.isnan(clip_grad_norm_(ours, 1.0).item())


def test_clip_grad_value_matches_torch():
    ours, theirs = params_with_grads(np.float32, scale=3)
    clip_grad_value_(ours, 1.5)
    torch.nn.utils.clip_grad_value_(theirs, 1.5)
    for p, q in zip(ours, theirs):
        np.testing.assert_array_equal(p.grad.numpy(), q.grad.numpy())


def test_parameters_to_vector_round_trip():
    model = snn.Sequential(snn.Linear(3, 2), snn.Linear(2, 1))
    vector = parameters_to_vector(model.parameters())
    assert vector.shape == (sum(p.numel() for p in model.parameters()),)
    np.testing.assert_array_equal(vector.detach().numpy()[:6], model[0].weight.detach().numpy().reshape(-1))
    vector_to_parameters(sg.arange(vector.numel()).float(), model.parameters())
    assert model[0].weight.detach().numpy().reshape(-1).tolist() == [0, 1, 2, 3, 4, 5]
    assert model[1].bias.item() == vector.numel() - 1
    with pytest.raises(ValueError, match="elements"):
        vector_to_parameters(sg.zeros(3), model.parameters())
