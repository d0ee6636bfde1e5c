"""The shape task: balanced labels, the named shape in each image, independent splits."""

import numpy as np
import pytest

from freezelab.sources.shape_task import TARGET_SHAPES, draw_shape_images, load_shape_dataset
from freezelab.sources.source_task import make_source_images

#: make_source_images(24, image_size=16, seed=7).images.sum() before the drawing code was shared.
SOURCE_SUM = 1835332.75


def test_labels_are_balanced_and_images_are_rgb_in_pixel_units():
    data = load_shape_dataset(image_size=32, seed=0, train_per_class=5, val_per_class=3)
    assert data.x_train.shape == (30, 32, 32, 3) and data.x_val.shape == (18, 32, 32, 3)
    assert data.x_train.dtype == np.float32 and data.y_train.dtype == np.int64
    assert np.bincount(data.y_train).tolist() == [5] * 6
    assert np.bincount(data.y_val).tolist() == [3] * 6
    assert data.x_train.min() >= 0.0 and data.x_train.max() <= 255.0
    assert data.class_names == TARGET_SHAPES and data.num_classes == 6


def test_each_image_holds_its_named_shape_where_its_mask_says():
    # Independent truths: the shape is one flat colour that stands out from the
    # background, and its mask's second moments tell a bar (long axis more than
    # twice the short one) from a disc (about round).
    rng = np.random.default_rng(0)
    images, labels, masks = draw_shape_images(("disc", "bar"), 8, 64, rng)
    elongation = {0: [], 1: []}
    for image, label, mask in zip(images, labels, masks):
        inside, outside = image[mask], image[~mask]
        assert inside.std(axis=0).max() < 15.0
        assert np.abs(inside.mean(axis=0) - outside.mean(axis=0)).max() > 20.0
        rows, columns = np.nonzero(mask)
        eigen = np.linalg.eigvalsh(np.cov(np.stack([rows, columns])))
        elongation[int(label)].append(np.sqrt(eigen[-1] / eigen[0]))
    assert max(elongation[0]) < 1.2 and min(elongation[1]) > 2.0


def test_same_seed_same_images_other_seed_other_images_and_splits_differ():
    first = load_shape_dataset(image_size=32, seed=4, train_per_class=2, val_per_class=2)
    again = load_shape_dataset(image_size=32, seed=4, train_per_class=2, val_per_class=2)
    other = load_shape_dataset(image_size=32, seed=5, train_per_class=2, val_per_class=2)
    assert np.array_equal(first.x_train, again.x_train)
    assert not np.array_equal(first.x_train, other.x_train)
    assert not np.array_equal(first.x_train, first.x_val)


def test_the_source_task_draws_the_same_images_as_before_the_shared_helpers():
    # The teacher was trained on these images: sharing the drawing code with the
    # shape task must not change them (fingerprint taken before the refactor).
    images = make_source_images(24, image_size=16, seed=7).images
    assert images.shape == (24, 16, 16, 3)
    assert float(images.sum()) == pytest.approx(SOURCE_SUM, rel=1e-6)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"image_size": 8},
        {"train_per_class": 0},
        {"val_per_class": -1},
        {"classes": ("disc",)},
        {"classes": ("disc", "disc")},
        {"classes": ("disc", "star")},
        {"classes": "disc"},
    ],
)
def test_bad_input_names_what_was_received(kwargs):
    with pytest.raises(ValueError, match="Received"):
        load_shape_dataset(**kwargs)
