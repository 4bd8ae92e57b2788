"""The MNIST sample shipped inside the package."""
from __future__ import annotations

from importlib import resources

import numpy as np

from scratchgrad.data import MNIST, mnist_sample
from scratchgrad.data.make_sample import build_sample
from scratchgrad.data.sample import SAMPLE_FILE


def test_sample_sizes_balance_and_dtypes():
    for train, per_class in ((True, 600), (False, 100)):
        sample = mnist_sample(train=train)
        assert sample.images.shape == (10 * per_class, 1, 28, 28) and sample.images.dtype == np.uint8
        assert sample.labels.dtype == np.int64
        assert np.bincount(sample.labels).tolist() == [per_class] * 10
        assert len(sample.classes) == 10


def test_sample_is_small_on_disk():
    assert resources.files("scratchgrad.data").joinpath(SAMPLE_FILE).stat().st_size <= 2_000_000


def test_sample_is_real_mnist_and_rebuilds_byte_identically(shared_data, tmp_path):
    rebuilt = build_sample(tmp_path / "sample.npz")
    shipped = resources.files("scratchgrad.data").joinpath(SAMPLE_FILE).read_bytes()
    assert rebuilt.read_bytes() == shipped
    test = MNIST(train=False, download=False)
    sample = mnist_sample(train=False)
    first_sevens = test.images[test.labels == 7][:100]
    np.testing.assert_array_equal(sample.images[sample.labels == 7], first_sevens)
