"""The one training step: the update it makes on both engines, and its hooks' place in it."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import scratchgrad
import scratchgrad.nn as snn
import scratchgrad.optim as soptim
from scratchgrad.lab.step import train_step
from scratchgrad.models import build_model


def _pair():
    torch.manual_seed(0)
    model_t = build_model("small_cnn", torch.nn, width=0.25).double()
    model_s = build_model("small_cnn", snn, width=0.25).double()
    model_s.load_state_dict({k: scratchgrad.tensor(v.numpy()) for k, v in model_t.state_dict().items()})
    images = np.random.default_rng(0).standard_normal((4, 1, 28, 28))
    labels = np.array([0, 3, 3, 9])
    return model_t, model_s, images, labels


def test_one_step_updates_both_engines_alike_and_as_written_out():
    model_t, model_s, images, labels = _pair()
    reference = build_model("small_cnn", torch.nn, width=0.25).double()
    reference.load_state_dict(model_t.state_dict())
    opt_ref = torch.optim.Adam(reference.parameters(), lr=1e-2)
    for _ in range(2):  # the step written out, as each caller wrote it before
        loss = torch.nn.functional.cross_entropy(reference(torch.from_numpy(images)), torch.from_numpy(labels))
        opt_ref.zero_grad()
        loss.backward()
        opt_ref.step()
    opt_t = torch.optim.Adam(model_t.parameters(), lr=1e-2)
    opt_s = soptim.Adam(model_s.parameters(), lr=1e-2)
    for _ in range(2):
        loss_t, logits_t = train_step(model_t, opt_t, torch.nn.functional.cross_entropy, torch.from_numpy(images),
                                      torch.from_numpy(labels))
        loss_s, logits_s = train_step(model_s, opt_s, snn.functional.cross_entropy, scratchgrad.tensor(images),
                                      scratchgrad.tensor(labels))
        assert logits_t.shape == (4, 10) and logits_s.shape == (4, 10)
        assert loss_s.item() == pytest.approx(loss_t.item(), rel=1e-10)
    assert loss_t.item() == loss.item()
    for (name, p_ref), p_t in zip(reference.state_dict().items(), model_t.state_dict().values()):
        assert torch.equal(p_ref, p_t), name
    for name, p_s in model_s.state_dict().items():
        np.testing.assert_allclose(p_s.numpy(), model_t.state_dict()[name].numpy(), rtol=1e-8, atol=1e-10,
                                   err_msg=name)


def test_before_backward_can_stop_the_step_before_anything_changes():
    model_t, _, images, labels = _pair()
    before = {k: v.clone() for k, v in model_t.named_parameters()}  # (BatchNorm's statistics move in the forward)
    optimizer = torch.optim.SGD(model_t.parameters(), lr=0.1)

    def refuse(loss):
        assert loss.grad_fn is not None and all(p.grad is None for p in model_t.parameters())
        raise RuntimeError("stop")

    with pytest.raises(RuntimeError, match="stop"):
        train_step(model_t, optimizer, torch.nn.functional.cross_entropy, torch.from_numpy(images),
                   torch.from_numpy(labels), before_backward=refuse)
    assert all(torch.equal(before[k], v) for k, v in model_t.named_parameters())


def test_before_update_sees_the_gradients_of_the_weights_not_yet_updated():
    _, model_s, images, labels = _pair()
    optimizer = soptim.SGD(model_s.parameters(), lr=0.1)
    seen = {}

    def read():
        seen.update({name: (p.detach().numpy().copy(), p.grad.numpy().copy()) for name, p in model_s.named_parameters()})

    before = {name: p.detach().numpy().copy() for name, p in model_s.named_parameters()}
    train_step(model_s, optimizer, snn.functional.cross_entropy, scratchgrad.tensor(images),
               scratchgrad.tensor(labels), before_update=read)
    for name, p in model_s.named_parameters():
        weight, grad = seen[name]
        np.testing.assert_array_equal(weight, before[name])
        np.testing.assert_allclose(p.detach().numpy(), weight - 0.1 * grad, rtol=1e-12, atol=1e-15, err_msg=name)
