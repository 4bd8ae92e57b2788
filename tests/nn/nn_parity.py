"""Helpers for the nn tests: run a scratchgrad module and the same torch module side by side.

Test files in tests/nn import it as ``from nn_parity import check_parity`` (pytest puts
tests/nn on ``sys.path`` for them).
"""
import numpy as np
import pytest

import scratchgrad as sg
import scratchgrad.nn as snn
from parity import TEST_DEVICE, as_numpy

TOLERANCES = {np.dtype(np.float64): dict(rtol=1e-6, atol=1e-9), np.dtype(np.float32): dict(rtol=1e-4, atol=1e-5)}


def assert_close(actual, expected, dtype, what=""):
    np.testing.assert_allclose(np.asarray(actual), np.asarray(expected), err_msg=what, **TOLERANCES[np.dtype(dtype)])


def build_pair(make, dtype, train=True):
    """The same module built with torch.nn and scratchgrad.nn; torch's weights copied into ours.

    ``make(nn, T)`` builds the module from an ``nn`` namespace; ``T(array)`` makes a tensor of
    that library in the test dtype (for loss weights and the like).
    """
    torch = pytest.importorskip("torch")
    torch_dtype = getattr(torch, np.dtype(dtype).name)
    torch_module = make(torch.nn, lambda a: torch.tensor(np.asarray(a, dtype=dtype))).to(torch_dtype)
    scratch_module = make(snn, lambda a: sg.tensor(np.asarray(a, dtype=dtype))).to(dtype)
    scratch_module.load_state_dict(torch_module.state_dict())
    scratch_module.to(TEST_DEVICE)
    torch_module.train(train)
    scratch_module.train(train)
    return scratch_module, torch_module


def check_parity(make, inputs, dtype, train=True, seed=0):
    """Forward values, input gradients and parameter gradients agree with torch's, for a
    random upstream gradient. Float inputs are cast to ``dtype`` and differentiated."""
    torch = pytest.importorskip("torch")
    scratch_module, torch_module = build_pair(make, dtype, train)
    inputs = [x.astype(dtype) if x.dtype.kind == "f" else x for x in inputs]
    torch_inputs = [torch.tensor(x, requires_grad=x.dtype.kind == "f") for x in inputs]
    scratch_inputs = [sg.tensor(x, requires_grad=x.dtype.kind == "f", device=TEST_DEVICE) for x in inputs]
    torch_out = torch_module(*torch_inputs)
    scratch_out = scratch_module(*scratch_inputs)
    assert scratch_out.dtype == np.dtype(dtype), f"output dtype {scratch_out.dtype}, expected {dtype}"
    assert scratch_out.shape == tuple(torch_out.shape)
    assert_close(as_numpy(scratch_out), as_numpy(torch_out), dtype, "forward")

    upstream = np.random.default_rng(seed).standard_normal(tuple(torch_out.shape)).astype(dtype)
    torch_out.backward(torch.tensor(upstream))
    scratch_out.backward(sg.tensor(upstream, device=TEST_DEVICE))
    for i, (s, t) in enumerate(zip(scratch_inputs, torch_inputs)):
        if t.requires_grad:
            assert_close(as_numpy(s.grad), as_numpy(t.grad), dtype, f"grad of input {i}")
    scratch_params = dict(scratch_module.named_parameters())
    for name, t in torch_module.named_parameters():
        assert scratch_params[name].grad.dtype == np.dtype(dtype)
        assert_close(as_numpy(scratch_params[name].grad), as_numpy(t.grad), dtype, f"grad of {name}")
    for name, t in torch_module.named_buffers():
        assert_close(as_numpy(dict(scratch_module.named_buffers())[name]), as_numpy(t), dtype, f"buffer {name}")
    return scratch_module, torch_module
