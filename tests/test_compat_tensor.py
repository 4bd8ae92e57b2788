"""Tensor-level PyTorch behaviour that public code relies on (issue 18): ``Tensor.data`` as a
detached Tensor sharing memory, device predicates, ``bernoulli_``."""
import numpy as np
import pytest

import scratchgrad as sg

torch = pytest.importorskip("torch")
LIBS = [pytest.param(sg, id="scratchgrad"), pytest.param(torch, id="torch")]


@pytest.mark.parametrize("lib", LIBS)
def test_data_is_a_detached_tensor_sharing_memory(lib):
    x = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
    d = x.data
    assert isinstance(d, lib.Tensor) and not d.requires_grad and d.grad_fn is None
    d[0] = 10.0  # through the shared memory, invisible to autograd
    d.add_(1.0)
    assert x.detach().numpy().tolist() == [11.0, 3.0, 4.0]
    assert x.requires_grad and x.is_leaf


@pytest.mark.parametrize("lib", LIBS)
def test_changes_through_data_are_hidden_from_autograd(lib):
    # detach() shares the version counter (a later backward raises); .data does not (it uses the new values)
    x = lib.tensor([0.5, -1.0], requires_grad=True)
    y = x.sigmoid()
    y.data.zero_()
    (g,) = lib.autograd.grad(y.sum(), [x])
    assert g.numpy().tolist() == [0.0, 0.0]
    y = x.sigmoid()
    y.detach().zero_()
    with pytest.raises(RuntimeError):
        lib.autograd.grad(y.sum(), [x])


@pytest.mark.parametrize("lib", LIBS)
def test_data_assignment_replaces_the_values(lib):
    p = lib.nn.Parameter(lib.zeros(2, 3))
    p.data = lib.ones(4)
    assert tuple(p.shape) == (4,) and p.requires_grad and p.detach().numpy().tolist() == [1.0] * 4


def test_public_data_idioms_give_torchs_numbers():
    rng = np.random.default_rng(0)
    logits, w0, g = rng.standard_normal((5, 4)), rng.standard_normal((3, 2)), rng.standard_normal((3, 2))
    results = []
    for lib in (sg, torch):
        outputs = lib.tensor(logits, requires_grad=True) * 2
        _, predicted = lib.max(outputs.data, 1)  # the CIFAR-10 tutorial's accuracy line
        p = lib.tensor(w0, requires_grad=True)
        p.grad = lib.tensor(g)
        p.data.add_(p.grad.data, alpha=-0.1)  # hand-written SGD of older code
        copy = p.data.clone()
        p.data.mul_(0.5)
        results.append((predicted.numpy(), p.detach().numpy(), copy.numpy()))
    for ours, theirs in zip(*results):
        np.testing.assert_allclose(ours, theirs, rtol=1e-12)


@pytest.mark.parametrize("lib", LIBS)
def test_device_predicates(lib):
    x = lib.ones(2)
    assert (x.is_cpu, x.is_cuda, x.is_xpu, x.is_mps, x.device.type) == (True, False, False, False, "cpu")


@pytest.mark.skipif(not sg.cuda.is_available(), reason="no CUDA GPU")
def test_device_predicates_on_the_gpu():
    x = sg.ones(2, device="cuda")
    assert (x.is_cpu, x.is_cuda, x.device.type) == (False, True, "cuda")


def test_bernoulli_fills_zeros_and_ones_with_probability_p_seeded():
    x = sg.empty(200, 300)
    sg.manual_seed(2)
    a = x.bernoulli_(0.3).numpy().copy()
    assert set(np.unique(a)) == {0.0, 1.0} and abs(a.mean() - 0.3) < 0.01 and x.dtype == sg.float32
    sg.manual_seed(2)
    np.testing.assert_array_equal(sg.empty(200, 300).bernoulli_(0.3).numpy(), a)
    per_element = sg.empty(2, 5000).bernoulli_(sg.tensor([[0.1], [0.9]]).expand(2, 5000)).numpy()
    np.testing.assert_allclose(per_element.mean(1), [0.1, 0.9], atol=0.02)
    generated = [sg.empty(10).bernoulli_(0.5, generator=sg.Generator(4)).numpy() for _ in range(2)]
    np.testing.assert_array_equal(*generated)
