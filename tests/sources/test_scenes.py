"""Scenes with one localised object: labels, masks and the heatmap checks."""

import numpy as np
import pytest

from freezelab.sources import scenes
from freezelab.sources.source_task import shape_masks


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


def two_columns():
    left = np.zeros((4, 6), bool)
    left[:, 0] = True
    right = np.zeros((4, 6), bool)
    right[1:3, 3] = True
    return np.stack([left, right])


def test_nearest_mask_map_agrees_with_nearest_object_on_every_pixel():
    masks = two_columns()
    nearest = scenes.nearest_mask_map(masks)
    for row in range(4):
        for column in range(6):
            assert nearest[row, column] == scenes.nearest_object((row, column), masks)


def test_object_check_by_hand():
    masks = two_columns()
    heat = np.zeros((4, 6))
    heat[1, 1], heat[1, 3] = 2.0, 1.0  # peak next to the left column, not on it
    left = scenes.object_check(heat, masks, 0)
    assert left.peak == (1, 1)
    assert left.peak_nearest_own and not left.peak_in_own and not left.peak_in_others
    # Columns 0-1 lie nearer the left column; column 2 is at least sqrt(2) < 2 from the right one.
    assert left.nearest_chance == pytest.approx(8 / 24)
    assert left.area_share == pytest.approx(4 / 24)
    assert left.heat_share == 0.0 and left.heat_share_others == pytest.approx(1 / 3)
    right = scenes.object_check(heat, masks, 1)
    assert not right.peak_nearest_own and not right.peak_in_own
    heat[1, 3] = 3.0  # now the peak sits on the right object: the left map's other object
    assert scenes.object_check(heat, masks, 0).peak_in_others
    assert not scenes.object_check(heat, masks, 1).peak_in_others
    assert right.nearest_chance == pytest.approx(1 - left.nearest_chance)
    assert right.heat_share == pytest.approx(1 / 3)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: scenes.object_check(np.zeros((4, 6)), two_columns(), 2), "index"),
        (lambda: scenes.object_check(np.zeros((3, 6)), two_columns(), 0), "same size"),
        (lambda: scenes.nearest_mask_map(np.zeros((2, 3, 3), bool)), "empty"),
    ],
)
def test_object_check_bad_input(call, message):
    with pytest.raises(ValueError, match="Received") as error:
        call()
    assert message in str(error.value)


def test_object_check_on_a_coarse_map_reports_the_cell_centre():
    masks = np.zeros((2, 8, 8), bool)
    masks[0, 0:3, 0:3] = True  # holds the centre (1, 1) of cell (0, 0)
    masks[1, 4:8, 6] = True  # holds no cell centre (their columns are odd)
    coarse = np.zeros((4, 4))
    coarse[0, 3] = 1.0  # the top-right cell: upsampled, its peak pixel could sit anywhere in it
    heat = np.kron(coarse, np.ones((2, 2)))
    check = scenes.object_check(heat, masks, 0, coarse=coarse)
    assert check.peak == (1, 7)
    assert check.in_own_chance == pytest.approx(1 / 16)  # 1 of 16 cell centres on mask 0
    assert scenes.object_check(heat, masks, 1, coarse=coarse).in_own_chance == 0.0
    assert check.area_share == pytest.approx(9 / 64)
    centres = [(r, c) for r in (1, 3, 5, 7) for c in (1, 3, 5, 7)]
    nearer = np.mean([scenes.nearest_object(point, masks) == 0 for point in centres])
    assert check.nearest_chance == pytest.approx(nearer)
    assert check.peak_nearest_own == (scenes.nearest_object((1, 7), masks) == 0)
    with pytest.raises(ValueError, match="Received"):
        scenes.object_check(heat, masks, 0, coarse=np.zeros((3, 3)))


def test_coarse_heat_shares_use_the_map_before_min_max_scaling():
    masks = np.zeros((2, 8, 8), bool)
    masks[0, 0:4, 0:4] = True  # a quarter of the image
    masks[1, 4:8, 4:8] = True
    flat = np.ones((4, 4))  # even heat: min-max scaling would make it all zero
    check = scenes.object_check(np.zeros((8, 8)), masks, 0, coarse=flat)
    assert check.heat_share == pytest.approx(0.25) and check.heat_share_others == pytest.approx(
        0.25
    )
    # A cooler left half (1) than right (2): compare with the resize computed independently.
    from skimage.transform import resize

    coarse = np.array([[1.0, 2.0], [1.0, 2.0]])
    fine = resize(coarse, (8, 8), order=1, mode="edge", anti_aliasing=False)
    check = scenes.object_check(np.zeros((8, 8)), masks, 0, coarse=coarse)
    assert check.heat_share == pytest.approx(fine[:4, :4].sum() / fine.sum())
    assert check.heat_share < 0.25  # the left half is cooler, but not zero as scaled


def test_hits_beyond_chance_matches_enumeration_and_the_binomial():
    import itertools
    from math import comb

    chances = [0.1, 0.5, 0.7, 0.25, 0.9]
    for hits in range(6):
        exact = sum(
            np.prod([p if hit else 1 - p for p, hit in zip(chances, outcome)])
            for outcome in itertools.product([0, 1], repeat=5)
            if sum(outcome) >= hits
        )
        assert scenes.hits_beyond_chance(hits, chances) == pytest.approx(exact)
    binomial = sum(comb(10, k) * 0.3**k * 0.7 ** (10 - k) for k in range(7, 11))
    assert scenes.hits_beyond_chance(7, [0.3] * 10) == pytest.approx(binomial)
    assert scenes.hits_beyond_chance(0, chances) == pytest.approx(1.0)
    for bad in [
        lambda: scenes.hits_beyond_chance(6, chances),
        lambda: scenes.hits_beyond_chance(1, [1.5]),
    ]:
        with pytest.raises(ValueError, match="Received"):
            bad()
