"""The stripe task: balanced labels, each image's stripes at its class's angle, independent splits."""

import numpy as np
import pytest

from freezelab.sources.source_task import ORIENTATIONS_DEG
from freezelab.sources.stripe_task import (
    ANGLE_JITTER_DEG,
    STRIPE_ANGLES_DEG,
    STRIPE_CLASSES,
    draw_stripe_images,
    load_stripe_dataset,
)


def _stripe_angle(image: np.ndarray) -> float:
    # Independent truth: the structure tensor's dominant gradient direction, turned by
    # 90 degrees, is the direction the stripes run in (x = column, y = row).
    grey = image.mean(axis=-1)
    gy, gx = np.gradient(grey)
    gradient = 0.5 * np.degrees(np.arctan2(2 * np.sum(gx * gy), np.sum(gx * gx) - np.sum(gy * gy)))
    return (gradient - 90.0) % 180.0


def test_labels_are_balanced_and_images_are_rgb_in_pixel_units():
    data = load_stripe_dataset(image_size=32, seed=0, train_per_class=3, val_per_class=2)
    assert data.x_train.shape == (24, 32, 32, 3) and data.x_val.shape == (16, 32, 32, 3)
    assert data.x_train.dtype == np.float32 and data.y_train.dtype == np.int64
    assert np.bincount(data.y_train).tolist() == [3] * 8
    assert np.bincount(data.y_val).tolist() == [2] * 8
    assert data.x_train.min() >= 0.0 and data.x_train.max() <= 255.0
    assert data.class_names == STRIPE_CLASSES and data.num_classes == 8


def test_each_image_has_stripes_at_its_class_angle():
    images, labels = draw_stripe_images(12, 32, np.random.default_rng(3))
    errors = []
    for image, label in zip(images, labels):
        difference = abs(_stripe_angle(image) - STRIPE_ANGLES_DEG[label]) % 180.0
        errors.append(min(difference, 180.0 - difference))
    # The drawn angle is within the jitter; the estimate adds the background's pull.
    assert np.median(errors) < ANGLE_JITTER_DEG + 2.0
    assert np.mean(np.asarray(errors) < 11.25) > 0.9  # nearer its own class than a neighbour


def test_four_angles_are_the_source_tasks_and_four_are_new():
    data = load_stripe_dataset(image_size=16, seed=0, train_per_class=1, val_per_class=1)
    known = [
        name for name, angle in zip(STRIPE_CLASSES, STRIPE_ANGLES_DEG) if angle in ORIENTATIONS_DEG
    ]
    assert known == ["stripes_0deg", "stripes_45deg", "stripes_90deg", "stripes_135deg"]
    assert sum("new to the teacher" in text for text in data.provenance.values()) == 4


def test_same_seed_same_images_other_seed_other_images_and_splits_differ():
    first = load_stripe_dataset(image_size=16, seed=4, train_per_class=2, val_per_class=2)
    again = load_stripe_dataset(image_size=16, seed=4, train_per_class=2, val_per_class=2)
    other = load_stripe_dataset(image_size=16, seed=5, train_per_class=2, val_per_class=2)
    assert np.array_equal(first.x_train, again.x_train)
    assert not np.array_equal(first.x_train, other.x_train)
    assert not np.array_equal(first.x_train, first.x_val)


@pytest.mark.parametrize(
    "kwargs", [{"image_size": 4}, {"train_per_class": 0}, {"val_per_class": 0}, {"seed": -1}]
)
def test_bad_sizes_raise_with_the_received_value(kwargs):
    with pytest.raises(ValueError, match="Received"):
        load_stripe_dataset(**kwargs)
