"""BatchNorm over several training steps (running statistics, num_batches_tracked) and eval; Dropout."""
import numpy as np
import pytest

import scratchgrad as sg
import scratchgrad.nn as snn
from nn_parity import assert_close, build_pair
from parity import TEST_DEVICE, as_numpy

torch = pytest.importorskip("torch")


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("make, shape", [
    (lambda nn, T: nn.BatchNorm2d(3), (4, 3, 5, 5)),
    (lambda nn, T: nn.BatchNorm2d(3, momentum=None), (4, 3, 2, 3)),
    (lambda nn, T: nn.BatchNorm1d(4, momentum=0.3), (8, 4)),
    (lambda nn, T: nn.BatchNorm1d(4, eps=1e-3, affine=False), (5, 4, 3)),
], ids=["bn2d", "bn2d-cumulative", "bn1d-momentum", "bn1d-3d-noaffine"])
def test_batchnorm_steps_match_torch(make, shape, dtype):
    ours, theirs = build_pair(make, dtype, train=True)
    rng = np.random.default_rng(0)
    for step in range(4):
        x = (rng.standard_normal(shape) * (step + 1) + step).astype(dtype)
        upstream = rng.standard_normal(shape).astype(dtype)
        ours_x, theirs_x = sg.tensor(x, requires_grad=True, device=TEST_DEVICE), torch.tensor(x, requires_grad=True)
        ours_out, theirs_out = ours(ours_x), theirs(theirs_x)
        assert_close(as_numpy(ours_out), as_numpy(theirs_out), dtype, f"output, step {step}")
        ours_out.backward(sg.tensor(upstream, device=TEST_DEVICE))
        theirs_out.backward(torch.tensor(upstream))
        assert_close(as_numpy(ours_x.grad), as_numpy(theirs_x.grad), dtype, f"input grad, step {step}")
        for name in ("running_mean", "running_var"):
            assert_close(as_numpy(getattr(ours, name)), as_numpy(getattr(theirs, name)), dtype, f"{name}, step {step}")
        assert int(ours.num_batches_tracked) == int(theirs.num_batches_tracked) == step + 1
        assert ours.running_var.dtype == np.dtype(dtype) and ours.num_batches_tracked.dtype == np.int64
    ours.eval()
    theirs.eval()
    x = rng.standard_normal(shape).astype(dtype)
    assert_close(as_numpy(ours(sg.tensor(x, device=TEST_DEVICE))), as_numpy(theirs(torch.tensor(x))), dtype, "eval output")
    assert int(ours.num_batches_tracked) == 4  # eval does not count batches


def test_batchnorm_without_running_stats_uses_batch_stats_in_eval():
    ours, theirs = build_pair(lambda nn, T: nn.BatchNorm2d(2, track_running_stats=False), np.float64, train=False)
    assert ours.running_mean is None and list(ours.state_dict()) == list(theirs.state_dict()) == ["weight", "bias"]
    x = np.random.default_rng(1).standard_normal((3, 2, 4, 4))
    assert_close(as_numpy(ours(sg.tensor(x, device=TEST_DEVICE))), as_numpy(theirs(torch.tensor(x))), np.float64)


def test_batchnorm_state_dict_keys_and_bias_flag():
    assert list(snn.BatchNorm2d(3).state_dict()) == list(torch.nn.BatchNorm2d(3).state_dict())
    no_bias, theirs = snn.BatchNorm2d(3, bias=False), torch.nn.BatchNorm2d(3, bias=False)
    assert list(no_bias.state_dict()) == list(theirs.state_dict()) and repr(no_bias) == repr(theirs)


def test_batchnorm_input_checks():
    with pytest.raises(ValueError, match=r"BatchNorm2d: expected 4D input \(got 3D input"):
        snn.BatchNorm2d(3)(sg.randn(2, 3, 4))
    with pytest.raises(ValueError, match=r"BatchNorm1d: expected 2D or 3D input \(got 4D input"):
        snn.BatchNorm1d(3)(sg.randn(2, 3, 4, 4))
    with pytest.raises(ValueError, match=r"BatchNorm2d\(3\): expected 3 channels at dim 1, got input of shape \(2, 4, 5, 5\)"):
        snn.BatchNorm2d(3)(sg.randn(2, 4, 5, 5))
    with pytest.raises(ValueError, match="momentum"):
        snn.BatchNorm2d(3, momentum=2)
    with pytest.raises(ValueError, match="num_features"):
        snn.BatchNorm2d(-1)


def test_reset_running_stats():
    bn = snn.BatchNorm1d(2)
    bn(sg.randn(4, 2) + 3)
    bn.reset_running_stats()
    assert not bn.running_mean.numpy().any() and (bn.running_var.numpy() == 1).all() and int(bn.num_batches_tracked) == 0


def test_dropout_is_inverted_and_identity_in_eval():
    sg.manual_seed(0)
    dropout = snn.Dropout(0.25)
    x = sg.ones(200, 100, requires_grad=True)
    out = dropout(x)
    values = out.detach().numpy()
    kept = values != 0
    assert set(np.unique(values)) == {0.0, np.float32(1 / 0.75)}
    assert kept.mean() == pytest.approx(0.75, abs=0.01)
    upstream = np.random.default_rng(0).standard_normal(values.shape).astype(np.float32)
    out.backward(sg.tensor(upstream))
    np.testing.assert_allclose(x.grad.numpy(), upstream * kept / 0.75, rtol=1e-6)
    assert out.dtype == np.float32
    dropout.eval()
    y = sg.randn(3, 4)
    np.testing.assert_array_equal(dropout(y).numpy(), y.numpy())


def test_dropout_inplace_is_computed_out_of_place_and_seeded():
    x = sg.ones(50, 50)
    sg.manual_seed(3)
    first = snn.Dropout(0.5, inplace=True)(x).numpy()
    assert (x.numpy() == 1).all()  # the input is left unchanged
    sg.manual_seed(3)
    np.testing.assert_array_equal(snn.Dropout(0.5)(x).numpy(), first)


def test_dropout_probability_validated():
    for bad in (-0.1, 1.5, "0.5"):
        with pytest.raises(ValueError, match="between 0 and 1"):
            snn.Dropout(bad)
    assert not snn.Dropout(1.0)(sg.ones(3)).numpy().any()
