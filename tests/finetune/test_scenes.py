"""Scenes with one localised object: labels, masks and the heatmap checks."""

import numpy as np
import pytest

from freezelab.finetune import scenes
from freezelab.finetune.source_task import shape_masks


def test_each_scene_holds_its_object_where_its_mask_says():
    data = scenes.make_scenes(40, image_size=48, seed=3)
    assert data.images.shape == (40, 48, 48, 3) and data.images.dtype == np.float32
    assert np.bincount(data.labels).tolist() == [10, 10, 10, 10]
    assert data.images.min() >= 0.0 and data.images.max() <= 255.0
    for image, mask in zip(data.images, data.masks):
        # Every object is painted in one flat colour (plus a little noise),
        # so it differs from the background around it.
        inside, outside = image[mask], image[~mask]
        assert inside.std(axis=0).max() < 15.0
        assert np.abs(inside.mean(axis=0) - outside.mean(axis=0)).max() > 20.0
        rows, columns = np.nonzero(mask)
        # Small: a radius of at most a fifth-ish of the side, wholly inside.
        assert rows.max() - rows.min() <= 2 * 0.24 * 48 + 1
        assert rows.min() > 0 and rows.max() < 47 and columns.min() > 0 and columns.max() < 47


def test_objects_are_placed_anywhere_not_only_in_the_centre():
    data = scenes.make_scenes(200, image_size=64, seed=0)
    centres = np.array([np.argwhere(mask).mean(axis=0) for mask in data.masks])
    assert centres.min() < 20 and centres.max() > 44


def test_same_seed_same_scenes_other_seed_other_scenes():
    first = scenes.make_scenes(8, 32, seed=5)
    again = scenes.make_scenes(8, 32, seed=5)
    other = scenes.make_scenes(8, 32, seed=6)
    assert np.array_equal(first.images, again.images)
    assert not np.array_equal(first.images, other.images)


def test_shape_masks_draw_known_shapes():
    centre = np.array([[16.0, 16.0]])
    disc = shape_masks(np.array(["disc"]), 32, centre, np.array([8.0]), np.array([0.0]))[0]
    # A disc of radius 8: area close to pi r^2.
    assert abs(disc.sum() - np.pi * 64) < 12
    cross = shape_masks(np.array(["cross"]), 32, centre, np.array([8.0]), np.array([0.0]))[0]
    assert cross[16, 16] and cross[16, 22] and cross[22, 16] and not cross[22, 22]
    bar = shape_masks(np.array(["bar"]), 32, centre, np.array([8.0]), np.array([0.0]))[0]
    assert bar[16, 22] and not bar[22, 16]


def test_pair_scene_puts_one_object_in_each_half():
    image, objects = scenes.make_pair_scene("cross", "ring", image_size=64, seed=1)
    assert image.shape == (64, 64, 3)
    assert objects.labels.tolist() == [0, 2]
    left, right = objects.masks
    assert np.argwhere(left)[:, 1].max() < 32 <= np.argwhere(right)[:, 1].min()


def test_heat_on_mask_and_nearest_object_by_hand():
    heat = np.zeros((4, 4))
    heat[0, 0], heat[3, 3] = 3.0, 1.0
    mask = np.zeros((4, 4), bool)
    mask[:2, :2] = True
    assert scenes.heat_on_mask(heat, mask) == pytest.approx(0.75)
    assert scenes.heat_on_mask(np.zeros((4, 4)), mask) == 0.0
    other = np.zeros((4, 4), bool)
    other[3, 2:] = True
    assert scenes.nearest_object((0, 1), np.stack([mask, other])) == 0
    assert scenes.nearest_object((3, 1), np.stack([mask, other])) == 1


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: scenes.make_scenes(0), "num_images"),
        (lambda: scenes.make_scenes(4, image_size=16), "image_size"),
        (lambda: scenes.make_scenes(4, classes=("cross",)), "classes"),
        (lambda: scenes.make_scenes(4, classes=("cross", "star")), "star"),
        (lambda: scenes.make_pair_scene("cross", "cross"), "two different"),
        (lambda: scenes.make_pair_scene("cross", "moon"), "moon"),
        (lambda: scenes.heat_on_mask(np.zeros((2, 2)), np.zeros((3, 3), bool)), "same shape"),
        (lambda: scenes.nearest_object((0, 0), np.zeros((1, 2, 2), bool)), "empty"),
    ],
)
def test_bad_input_names_what_was_received(call, message):
    with pytest.raises(ValueError, match="Received") as error:
        call()
    assert message in str(error.value)
