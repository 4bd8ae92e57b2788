"""Batched transforms: identities, determinism, and independent references."""
from __future__ import annotations

import colorsys

import numpy as np
import pytest

from scratchgrad.data import transforms as T
from scratchgrad.data.geometry import affine_inverse, warp_nearest


def _batch(n=8, c=3, h=32, w=32, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, c, h, w), dtype=np.uint8)


def _rng(seed=0):
    return np.random.default_rng(seed)


ALL_RANDOM = [
    T.RandomRotation(15), T.RandomHorizontalFlip(), T.RandomAffine(10, translate=(0.1, 0.2)),
    T.ColorJitter(0.2, 0.2, 0.2, 0.1), T.RandomCrop(32, padding=4),
    T.study_preset("cifar10", jitter=True),
]


@pytest.mark.parametrize("transform", ALL_RANDOM, ids=lambda t: type(t).__name__)
def test_same_generator_state_gives_same_batch(transform):
    batch = _batch()
    before = batch.copy()
    first, second = transform(batch, _rng(7)), transform(batch, _rng(7))
    np.testing.assert_array_equal(first, second)
    np.testing.assert_array_equal(batch, before)  # the input is never modified
    assert not np.array_equal(transform(batch, _rng(8)), first)


@pytest.mark.parametrize("transform", ALL_RANDOM[:-1], ids=lambda t: type(t).__name__)
def test_uint8_in_uint8_out_same_shape(transform):
    out = transform(_batch(), _rng())
    assert out.dtype == np.uint8 and out.shape == (8, 3, 32, 32)


def test_flip_twice_is_identity():
    batch = _batch()
    flip = T.RandomHorizontalFlip(p=1.0)
    np.testing.assert_array_equal(flip(flip(batch, _rng()), _rng()), batch)
    np.testing.assert_array_equal(flip(batch, _rng()), batch[..., ::-1])
    np.testing.assert_array_equal(T.RandomHorizontalFlip(p=0.0)(batch, _rng()), batch)


def test_flip_chooses_per_image():
    flipped = T.RandomHorizontalFlip()(_batch(n=64), _rng())
    mirrored = [np.array_equal(out, image[..., ::-1]) for out, image in zip(flipped, _batch(n=64))]
    assert 10 < sum(mirrored) < 54


@pytest.mark.parametrize("transform", [
    T.RandomRotation(0), T.RandomAffine(0), T.RandomAffine(0, translate=(0, 0)),
    T.RandomCrop(32), T.ColorJitter(), T.Compose([]),
], ids=repr)
def test_zero_strength_is_identity(transform):
    batch = _batch(c=3, h=32, w=32)
    np.testing.assert_array_equal(transform(batch, _rng()), batch)


@pytest.mark.parametrize("shape", [(2, 1, 9, 9), (2, 3, 8, 8)])
def test_rotation_by_90_degrees_is_counter_clockwise_rot90(shape):
    batch = _batch(*shape)
    rotated = T.RandomRotation((90, 90))(batch, _rng())
    np.testing.assert_array_equal(rotated, np.rot90(batch, k=1, axes=(2, 3)))
    np.testing.assert_array_equal(T.RandomRotation((-90, -90))(batch, _rng()),
                                  np.rot90(batch, k=-1, axes=(2, 3)))


def test_affine_rotates_clockwise_like_torchvision_affine():
    batch = _batch(2, 1, 8, 8)
    np.testing.assert_array_equal(T.RandomAffine((90, 90))(batch, _rng()),
                                  np.rot90(batch, k=-1, axes=(2, 3)))


def test_translation_shifts_whole_pixels_and_fills():
    batch = np.zeros((1, 1, 5, 5), np.uint8) + 9
    shifted = warp_nearest(batch, affine_inverse(np.zeros(1), 2.0, -1.0), fill=0)
    expected = np.zeros_like(batch)
    expected[..., :4, 2:] = 9  # right by 2, up by 1
    np.testing.assert_array_equal(shifted, expected)


def test_translation_stays_within_the_range():
    image = np.zeros((1, 1, 20, 20), np.uint8)
    image[..., 10, 10] = 255
    shifted = T.RandomAffine(0, translate=(0.1, 0.1))(np.repeat(image, 200, axis=0), _rng())
    rows, cols = np.nonzero(shifted[:, 0])[1:]
    assert set(np.abs(rows - 10)) <= {0, 1, 2} and set(np.abs(cols - 10)) <= {0, 1, 2}
    assert len(set(cols)) == 5  # every whole shift in [-2, 2] occurs


def test_warp_matches_torch_grid_sample_nearest():
    torch = pytest.importorskip("torch")
    rng = _rng(3)
    batch = rng.integers(0, 256, (6, 3, 11, 14), dtype=np.uint8)
    inverse = affine_inverse(rng.uniform(-40, 40, 6), rng.integers(-3, 4, 6), rng.integers(-3, 4, 6))
    ours = warp_nearest(batch, inverse, fill=0)
    n, _, h, w = batch.shape
    xs, ys = np.meshgrid(np.arange(w) - (w - 1) / 2, np.arange(h) - (h - 1) / 2)
    points = np.stack([xs, ys, np.ones_like(xs)], axis=-1).reshape(1, -1, 3)
    sources = points @ inverse.transpose(0, 2, 1)  # (N, H*W, 2), centred input coordinates
    grid = torch.tensor(sources / [w / 2, h / 2], dtype=torch.float32).reshape(n, h, w, 2)
    theirs = torch.nn.functional.grid_sample(
        torch.tensor(batch, dtype=torch.float32), grid, mode="nearest",
        padding_mode="zeros", align_corners=False).numpy()
    near_tie = (np.abs(np.abs(sources % 1) - 0.5) < 1e-3).any(-1).reshape(n, 1, h, w)
    np.testing.assert_array_equal(np.where(near_tie, 0, ours), np.where(near_tie, 0, theirs))


def test_rotation_keeps_the_centre_and_fills_corners():
    batch = np.full((4, 1, 15, 15), 200, np.uint8)
    rotated = T.RandomRotation((30, 45), fill=7)(batch, _rng())
    assert (rotated[:, :, 7, 7] == 200).all() and (rotated[:, :, 0, 0] == 7).all()


def test_color_jitter_on_one_channel_keeps_shape_and_dtype():
    batch = _batch(c=1, h=28, w=28)
    out = T.ColorJitter(0.2, 0.2, 0.2, 0.1)(batch, _rng())
    assert out.shape == batch.shape and out.dtype == np.uint8
    assert not np.array_equal(out, batch)


def test_color_jitter_on_one_channel_ignores_saturation_and_hue():
    batch = _batch(c=1, h=28, w=28)
    np.testing.assert_array_equal(T.ColorJitter(saturation=0.9, hue=0.5)(batch, _rng()), batch)


def test_brightness_scales_and_clamps():
    batch = _batch()
    out = T.ColorJitter(brightness=(1.5, 1.5))(batch, _rng())
    np.testing.assert_array_equal(out, np.minimum(np.floor(batch * 1.5 + 0.5), 255))


def test_contrast_blends_with_mean_luma():
    batch = _batch(n=2)
    out = T.ColorJitter(contrast=(0.5, 0.5))(batch, _rng())
    luma = np.tensordot([0.2989, 0.587, 0.114], batch.astype(float), axes=(0, 1))  # (N, H, W)
    mean = luma.mean(axis=(1, 2))[:, None, None, None]
    np.testing.assert_allclose(out, 0.5 * batch + 0.5 * mean, atol=0.51)


def test_saturation_zero_gives_grey():
    out = T.ColorJitter(saturation=(0, 0))(_batch(), _rng())
    assert np.abs(out.astype(int) - out[:, :1]).max() <= 1


def test_hue_shift_matches_colorsys():
    batch = _batch(n=3, h=6, w=6)
    batch[0, :, :2] = batch[0, :1, :2]  # some grey pixels
    out = T.ColorJitter(hue=(0.25, 0.25))(batch, _rng())
    expected = np.empty(batch.shape)
    for index in np.ndindex(3, 6, 6):
        n, i, j = index
        h, s, v = colorsys.rgb_to_hsv(*(batch[n, :, i, j] / 255))
        expected[n, :, i, j] = np.array(colorsys.hsv_to_rgb((h + 0.25) % 1, s, v)) * 255
    np.testing.assert_allclose(out, expected, atol=0.51)


def test_hue_shift_of_pure_colours():
    red = np.zeros((1, 3, 1, 1), np.uint8)
    red[0, 0] = 255
    third = T.ColorJitter(hue=(1 / 3, 1 / 3))(red, _rng())
    assert third.ravel().tolist() == [0, 255, 0]


def test_random_crop_with_padding():
    batch = _batch(n=50)
    out = T.RandomCrop(32, padding=4)(batch, _rng())
    assert out.shape == batch.shape
    zero_rows = (out == 0).all(axis=(1, 3))  # per image and row: padding rows are all zero
    assert zero_rows.any() and not zero_rows.all()
    crops = T.RandomCrop((20, 24))(batch, _rng())
    assert crops.shape == (50, 3, 20, 24)


def test_normalize_divides_uint8_by_255_first():
    batch = np.array([0, 255, 51], np.uint8).reshape(1, 3, 1, 1)
    out = T.Normalize((0.5, 0.5, 0.2), (0.5, 0.5, 0.1))(batch, _rng())
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.ravel(), [-1, 1, 0], atol=1e-6)
    floats = T.Normalize(0.5, 0.25)(np.full((1, 1, 2, 2), 0.75, np.float32))
    np.testing.assert_allclose(floats, 1.0)


def test_study_presets():
    cifar = T.study_preset("cifar10", jitter=True)
    assert [type(t).__name__ for t in cifar.transforms] == [
        "RandomRotation", "RandomHorizontalFlip", "RandomAffine", "ColorJitter", "Normalize"]
    mnist = T.study_preset("mnist")
    assert [type(t).__name__ for t in mnist.transforms] == [
        "RandomRotation", "RandomHorizontalFlip", "Normalize"]
    out = mnist(_batch(c=1, h=28, w=28), _rng())
    assert out.dtype == np.float32 and abs(out.mean()) < 3
    assert [type(t).__name__ for t in T.study_preset("fashion-mnist", train=False).transforms] == ["Normalize"]
    assert T.study_preset("cifar10", normalize=False)(_batch(), _rng()).dtype == np.uint8


def _names(pipeline):
    return [type(t).__name__ for t in pipeline.transforms]


def test_augment_presets():
    assert _names(T.augment_preset("none", "mnist", 28)) == ["Normalize"]
    assert _names(T.augment_preset("study+jitter", "mnist", 28)) == _names(T.study_preset("mnist", jitter=True))
    crop = T.augment_preset("crop+flip", "cifar10", 32)
    assert _names(crop) == ["RandomCrop", "RandomHorizontalFlip", "Normalize"]
    assert crop.transforms[0].size == (32, 32) and crop.transforms[0].padding == 4
    assert T.augment_preset("crop+flip", "fashion-mnist", 28).transforms[0].padding == 3
    for name in T.AUGMENT_PRESETS:
        assert _names(T.augment_preset(name, "fashion-mnist", 28, train=False)) == ["Normalize"]
    raw = T.augment_preset("crop+flip", "mnist", 28, normalize=False)
    out = raw(_batch(n=16, c=1, h=28, w=28), _rng())
    assert out.dtype == np.uint8 and out.shape == (16, 1, 28, 28)


def test_crop_flip_shifts_content_by_at_most_the_padding():
    image = np.zeros((64, 1, 28, 28), np.uint8)
    image[:, :, 13:15, 13:15] = 255  # a centred square: flips leave it where it is
    out = T.augment_preset("crop+flip", "mnist", 28, normalize=False)(image, _rng())
    rows, cols = np.nonzero(out[:, 0].max(axis=0))
    assert rows.min() >= 10 and rows.max() <= 17 and cols.min() >= 10 and cols.max() <= 17
    assert len(np.unique(np.argmax(out[:, 0].max(axis=2), axis=1))) > 1  # the crops differ


@pytest.mark.parametrize("make, match", [
    (lambda: T.RandomHorizontalFlip(p=2), "p: expected a probability"),
    (lambda: T.RandomRotation(-5), "degrees"),
    (lambda: T.RandomAffine(0, translate=(0.1,)), "translate"),
    (lambda: T.ColorJitter(hue=0.7), "hue"),
    (lambda: T.ColorJitter(brightness=-1), "brightness"),
    (lambda: T.RandomCrop(0), "size"),
    (lambda: T.Normalize((0.5, 0.5), (0.5,)), "mean, std"),
    (lambda: T.study_preset("imagenet"), "dataset"),
    (lambda: T.augment_preset("autoaugment", "mnist", 28), "name"),
])
def test_bad_arguments_are_named(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_bad_batches_are_reported():
    with pytest.raises(ValueError, match=r"RandomRotation: expected an array \(N, C, H, W\)"):
        T.RandomRotation(10)(np.zeros((3, 32, 32), np.uint8), _rng())
    with pytest.raises(ValueError, match="ColorJitter: expected a uint8 array"):
        T.ColorJitter(0.1)(np.zeros((1, 3, 4, 4), np.float32), _rng())
    with pytest.raises(ValueError, match="3 means for a batch with 1 channels"):
        T.Normalize((0.5,) * 3, (0.5,) * 3)(np.zeros((1, 1, 4, 4), np.uint8))
