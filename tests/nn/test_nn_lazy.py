"""Lazy layers: placeholders before the first call, then the eager class, torch's counts, names and reprs."""
import numpy as np
import pytest

import scratchgrad as sg
import scratchgrad.nn as snn

torch = pytest.importorskip("torch")


def build(nn):
    return nn.Sequential(
        nn.LazyConv2d(6, 3, padding=1), nn.LazyBatchNorm2d(), nn.ReLU(), nn.MaxPool2d(2),
        nn.LazyConv2d(8, (3, 1), groups=2, bias=False), nn.Flatten(), nn.LazyLinear(10), nn.LazyBatchNorm1d(),
    )


def test_before_first_call_matches_torch():
    ours, theirs = build(snn), build(torch.nn)
    assert repr(ours) == repr(theirs)
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    assert [n for n, _ in ours.named_buffers()] == [n for n, _ in theirs.named_buffers()]
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert all(isinstance(p, snn.UninitializedParameter) and repr(p) == "<UninitializedParameter>" for p in ours.parameters())
    assert isinstance(ours[1].running_mean, snn.UninitializedBuffer)
    assert ours[0].has_uninitialized_params()


def test_dry_run_materializes_like_torch():
    ours, theirs = build(snn), build(torch.nn)
    ours(sg.randn(4, 4, 6, 6))
    theirs(torch.randn(4, 4, 6, 6))
    assert repr(ours) == repr(theirs)
    assert [type(m).__name__ for m in ours] == ["Conv2d", "BatchNorm2d", "ReLU", "MaxPool2d", "Conv2d", "Flatten", "Linear", "BatchNorm1d"]
    assert isinstance(ours[0], snn.Conv2d) and not isinstance(ours[0], snn.LazyConv2d)
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in theirs.parameters())
    for (name, ours_value), (_, theirs_value) in zip(ours.state_dict().items(), theirs.state_dict().items()):
        assert ours_value.shape == tuple(theirs_value.shape), name
    assert all(type(p) is snn.Parameter and p.dtype == np.float32 for p in ours.parameters())
    assert not ours[0]._forward_pre_hooks  # the inference hook removed itself
    assert int(ours[1].num_batches_tracked) == 1  # the dry run was a training step, as in torch


def test_materialized_initialization_equals_eager_layer():
    x = sg.randn(2, 5)
    image = sg.randn(2, 3, 4, 4)
    for lazy, eager, inputs in [
        (lambda: snn.LazyLinear(4), lambda: snn.Linear(5, 4), x),
        (lambda: snn.LazyConv2d(6, 3, groups=3), lambda: snn.Conv2d(3, 6, 3, groups=3), image),
        (lambda: snn.LazyBatchNorm2d(), lambda: snn.BatchNorm2d(3), image),
    ]:
        sg.manual_seed(11)
        reference = eager()
        module = lazy()
        sg.manual_seed(11)
        module(inputs)  # draws the same numbers the eager constructor drew
        for name, value in reference.named_parameters():
            np.testing.assert_array_equal(dict(module.named_parameters())[name].detach().numpy(), value.detach().numpy())
        assert repr(module) == repr(reference)


def test_lazy_linear_forward_and_gradients_match_torch_after_loading():
    theirs = torch.nn.Sequential(torch.nn.LazyLinear(3), torch.nn.Tanh(), torch.nn.LazyLinear(2))
    x = np.random.default_rng(0).standard_normal((4, 5)).astype(np.float32)
    theirs(torch.tensor(x))
    ours = snn.Sequential(snn.LazyLinear(3), snn.Tanh(), snn.LazyLinear(2))
    ours.load_state_dict(theirs.state_dict())  # placeholders take the checkpoint's shapes
    assert ours[0].weight.shape == (3, 5)
    ours_x, theirs_x = sg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    ours_out, theirs_out = ours(ours_x), theirs(theirs_x)
    np.testing.assert_allclose(ours_out.detach().numpy(), theirs_out.detach().numpy(), rtol=1e-4, atol=1e-5)
    upstream = np.random.default_rng(1).standard_normal((4, 2)).astype(np.float32)
    ours_out.backward(sg.tensor(upstream))
    theirs_out.backward(torch.tensor(upstream))
    np.testing.assert_allclose(ours_x.grad.numpy(), theirs_x.grad.numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(ours[2].weight.grad.numpy(), theirs[2].weight.grad.numpy(), rtol=1e-4, atol=1e-5)
    # loaded weights are kept by the first call, and the module becomes a Linear
    np.testing.assert_array_equal(ours[0].weight.detach().numpy(), theirs[0].weight.detach().numpy())
    assert repr(ours[0]) == "Linear(in_features=5, out_features=3, bias=True)"


def test_lazy_dtype_conversion_before_materialization():
    module = snn.LazyLinear(3).double()
    out = module(sg.randn(2, 4).double())
    assert out.dtype == np.float64 and module.weight.dtype == np.float64


def test_lazy_errors():
    with pytest.raises(RuntimeError, match="LazyConv2d: expected 3D .* or 4D"):
        snn.LazyConv2d(4, 3)(sg.randn(2, 3))
    with pytest.raises(ValueError, match="in_channels must be divisible by groups"):
        snn.LazyConv2d(4, 3, groups=2)(sg.randn(1, 3, 5, 5))
    with pytest.raises(ValueError, match="out_channels must be divisible by groups"):
        snn.LazyConv2d(3, 3, groups=2)
    with pytest.raises(ValueError, match="out_features"):
        snn.LazyLinear(-1)


def test_lazy_layer_called_with_keyword_input():
    layer = snn.LazyLinear(2)
    assert layer(input=sg.randn(3, 4)).shape == (3, 2) and layer.in_features == 4
