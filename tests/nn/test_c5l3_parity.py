"""Issue 2, item 2: the study's C5L3, written for ``torch.nn``, runs on ``scratchgrad.nn``
by changing only the import; torch's weights load without renaming; logits and gradients agree."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import scratchgrad  # noqa: E402


def c5l3_source(nn):
    """The model exactly as a PyTorch user writes it; ``nn`` is the only thing that changes."""

    class C5L3(nn.Module):
        def __init__(self, in_channels=3, num_classes=10, side=32, batchnorm=True, conv_dropout=0.0, fc_dropout=0.0):
            super().__init__()

            def block(cin, cout, pool):
                layers = [nn.Conv2d(cin, cout, 3, padding=1)]
                if batchnorm:
                    layers.append(nn.BatchNorm2d(cout))
                layers.append(nn.ReLU())
                if pool:
                    layers += [nn.MaxPool2d(2), nn.Dropout(conv_dropout)]
                return layers

            self.features = nn.Sequential(
                *block(in_channels, 128, True), *block(128, 256, True), *block(256, 512, False),
                *block(512, 512, False), *block(512, 256, True),
            )
            s = side // 8
            self.classifier = nn.Sequential(
                nn.Flatten(),
                nn.Linear(256 * s * s, 512), nn.ReLU(), nn.Dropout(fc_dropout),
                nn.Linear(512, 256), nn.ReLU(), nn.Dropout(fc_dropout),
                nn.Linear(256, 128), nn.ReLU(), nn.Dropout(fc_dropout),
                nn.Linear(128, num_classes),
            )

        def forward(self, x):
            return self.classifier(self.features(x))

    return C5L3


@pytest.fixture(scope="module")
def models():
    torch.manual_seed(0)
    reference = c5l3_source(torch.nn)(in_channels=1, side=16)
    ours = c5l3_source(scratchgrad.nn)(in_channels=1, side=16)
    reference.train()
    x = torch.randn(8, 1, 16, 16)
    reference(x)  # one train-mode pass so that BatchNorm's running statistics are not trivial
    ours.load_state_dict(reference.state_dict())
    return reference, ours


def test_state_dict_keys_and_shapes_are_torchs(models):
    reference, ours = models
    theirs = {k: tuple(v.shape) for k, v in reference.state_dict().items()}
    assert {k: tuple(v.shape) for k, v in ours.state_dict().items()} == theirs
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in reference.parameters())


def test_eval_logits_agree(models):
    reference, ours = models
    x = np.random.default_rng(0).standard_normal((4, 1, 16, 16)).astype(np.float32)
    reference.eval(), ours.eval()
    with torch.no_grad():
        expected = reference(torch.tensor(x)).numpy()
    with scratchgrad.no_grad():
        actual = ours(scratchgrad.tensor(x)).numpy()
    assert actual.dtype == np.float32
    np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=1e-4)


def test_train_mode_gradients_agree(models):
    reference, ours = models
    rng = np.random.default_rng(1)
    x = rng.standard_normal((6, 1, 16, 16)).astype(np.float32)
    y = rng.integers(0, 10, 6)
    reference.train(), ours.train()
    reference.zero_grad(), ours.zero_grad()
    torch.nn.functional.cross_entropy(reference(torch.tensor(x)), torch.tensor(y)).backward()
    scratchgrad.nn.functional.cross_entropy(ours(scratchgrad.tensor(x)), scratchgrad.tensor(y)).backward()
    theirs = {name: p.grad.numpy() for name, p in reference.named_parameters()}
    # Conv biases followed by BatchNorm have a true gradient of 0: both engines give float32
    # noise there, so errors are measured against the largest gradient as well (a noise floor).
    floor = 1e-5 * max(np.abs(g).max() for g in theirs.values())
    for name, parameter in ours.named_parameters():
        assert parameter.grad.dtype == np.float32, name
        expected = theirs[name]
        error = np.abs(parameter.grad.numpy() - expected).max()
        assert error <= 1e-3 * np.abs(expected).max() + floor, f"{name}: max error {error:.3g}"
    for name, buffer in ours.named_buffers():
        np.testing.assert_allclose(buffer.numpy(), dict(reference.named_buffers())[name].numpy(), rtol=1e-4, atol=1e-6, err_msg=name)
