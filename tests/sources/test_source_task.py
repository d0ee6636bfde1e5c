"""Tests for freezelab.sources.source_task: the procedural images show what their labels say."""

import numpy as np
import pytest

from freezelab.sources.source_task import (
    CLASS_NAMES,
    COLOURS,
    GRATING_CLASSES,
    NUM_CLASSES,
    ORIENTATIONS_DEG,
    make_source_images,
)


@pytest.fixture(scope="module")
def batch():
    return make_source_images(400, image_size=32, seed=3)


def test_shapes_ranges_and_balance(batch):
    assert batch.images.shape == (400, 32, 32, 3)
    assert batch.images.dtype == np.float32
    assert batch.images.min() >= 0.0 and batch.images.max() <= 255.0
    assert np.bincount(batch.labels, minlength=NUM_CLASSES).tolist() == [20] * NUM_CLASSES
    assert NUM_CLASSES == 20 and len(CLASS_NAMES) == 20


def test_same_seed_same_images_other_seed_other_images():
    first = make_source_images(30, image_size=16, seed=5)
    again = make_source_images(30, image_size=16, seed=5)
    other = make_source_images(30, image_size=16, seed=6)
    np.testing.assert_array_equal(first.images, again.images)
    assert not np.array_equal(first.images, other.images)


def test_grating_orientation_matches_the_label(batch):
    # The strongest non-DC Fourier component points across the stripes.
    hits = []
    for image, label in zip(batch.images, batch.labels):
        if label >= len(GRATING_CLASSES):
            continue
        grey = image.mean(axis=-1)
        power = np.abs(np.fft.fftshift(np.fft.fft2(grey - grey.mean()))) ** 2
        fy, fx = np.unravel_index(np.argmax(power), power.shape)
        across = np.degrees(np.arctan2(fy - 16, fx - 16)) % 180
        stripes_along = (across - 90) % 180
        expected = ORIENTATIONS_DEG[label // len(COLOURS)]
        error = min(abs(stripes_along - expected), 180 - abs(stripes_along - expected))
        hits.append(error < 20)
    assert np.mean(hits) > 0.9


def test_grating_colour_matches_the_label(batch):
    strongest_channel = {"red": 0, "green": 1, "blue": 2}
    for colour_index, name in enumerate(COLOURS):
        chosen = (batch.labels < len(GRATING_CLASSES)) & (
            batch.labels % len(COLOURS) == colour_index
        )
        red, green, blue = batch.images[chosen].mean(axis=(0, 1, 2))
        if name == "yellow":
            assert blue < min(red, green) - 40
        else:
            assert np.argmax([red, green, blue]) == strongest_channel[name]


@pytest.mark.parametrize(
    "kwargs",
    [{"num_images": 0}, {"num_images": 2.5}, {"num_images": 4, "image_size": 4}],
)
def test_bad_arguments_raise_clear_errors(kwargs):
    with pytest.raises(ValueError, match="Received"):
        make_source_images(**kwargs)
