"""Tests for freezelab.plotting.features: the artists each grid puts on the figure."""

import matplotlib.pyplot as plt
import numpy as np
import pytest

from freezelab.plotting.features import (
    grid_shape,
    plot_feature_maps,
    plot_filter_pictures,
    plot_heatmap,
    plot_image_grid,
    plot_source_task,
)
from freezelab.vis.ascent import AscentSettings, FilterPictures


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def image_axes(figure):
    return [axis for axis in figure.axes if axis.images]


def shown(axis):
    return np.asarray(axis.images[0].get_array())


def suptitle(figure):
    return figure.get_suptitle()


@pytest.mark.parametrize(
    ("count", "columns", "expected"),
    [
        (1, 8, (1, 1)),
        (3, 8, (1, 3)),
        (8, 8, (1, 8)),
        (9, 8, (2, 8)),
        (10, 4, (3, 4)),
        (5, 1, (5, 1)),
    ],
)
def test_grid_shape_rows_and_columns(count, columns, expected):
    assert grid_shape(count, columns) == expected


@pytest.mark.parametrize(("count", "columns"), [(0, 8), (-1, 8), (3, 0)])
def test_grid_shape_rejects_empty_grids(count, columns):
    with pytest.raises(ValueError, match=f"count={count}, columns={columns}"):
        grid_shape(count, columns)


def test_image_grid_draws_each_picture_once_in_order():
    rng = np.random.default_rng(0)
    pictures = [rng.uniform(size=(4, 5, 3)) for _ in range(10)]
    titles = [f"p{i}" for i in range(10)]
    figure = plot_image_grid(pictures, titles=titles, columns=4, panel_size=1.0)
    assert len(figure.axes) == 12  # 3 rows of 4
    drawn = image_axes(figure)
    assert len(drawn) == 10
    assert figure.axes[:10] == drawn
    for axis, picture, title in zip(drawn, pictures, titles):
        np.testing.assert_array_equal(shown(axis), picture)
        assert axis.get_title() == title
    assert not any(axis.axison for axis in figure.axes)
    assert tuple(figure.get_size_inches()) == pytest.approx((4.0, 3.4))
    assert suptitle(figure) == ""


def test_image_grid_without_pyplot_is_a_bare_untracked_figure():
    before = set(plt.get_fignums())
    figure = plot_image_grid([np.zeros((4, 4, 3), np.uint8)] * 2, titles=["a", "b"], pyplot=False)
    assert set(plt.get_fignums()) == before
    assert [axis.get_title() for axis in figure.axes] == ["a", "b"]
    tracked = plot_image_grid([np.zeros((4, 4, 3), np.uint8)])
    assert tracked.number in plt.get_fignums()
    plt.close(tracked)


def test_image_grid_takes_a_stacked_array_and_colours_2d_maps():
    maps = np.arange(2 * 3 * 3, dtype=float).reshape(2, 3, 3)
    figure = plot_image_grid(maps, suptitle="two maps")
    drawn = image_axes(figure)
    assert len(figure.axes) == 2 and len(drawn) == 2
    for axis, picture in zip(drawn, maps):
        np.testing.assert_array_equal(shown(axis), picture)
        assert axis.images[0].get_cmap().name == "viridis"
        assert axis.get_title() == ""
    assert suptitle(figure) == "two maps"
    gray = plot_image_grid(maps, cmap="gray")
    assert {axis.images[0].get_cmap().name for axis in gray.axes} == {"gray"}


def test_feature_maps_one_panel_per_channel_titled_with_its_index():
    maps = np.random.default_rng(1).normal(size=(4, 5, 3))
    figure = plot_feature_maps(maps, channels=[7, 2, 40], layer_name="block3_conv1", columns=2)
    drawn = image_axes(figure)
    assert len(drawn) == 3
    assert len(figure.axes) == 4  # 2 rows of 2
    for i, axis in enumerate(drawn):
        np.testing.assert_array_equal(shown(axis), maps[..., i])
    assert [axis.get_title() for axis in drawn] == ["#7", "#2", "#40"]
    assert "block3_conv1" in suptitle(figure)
    assert "4x5" in suptitle(figure)


def test_heatmap_shows_photo_heat_and_overlay():
    rng = np.random.default_rng(2)
    photo = rng.integers(0, 256, size=(6, 6, 3), dtype=np.uint8)
    heat = rng.uniform(size=(6, 6))
    blended = rng.integers(0, 256, size=(6, 6, 3), dtype=np.uint8)
    figure = plot_heatmap(photo, heat, blended, title="class 3 (dog)")
    drawn = image_axes(figure)
    assert len(figure.axes) == 3 and len(drawn) == 3
    for axis, picture in zip(drawn, (photo, heat, blended)):
        np.testing.assert_array_equal(shown(axis), picture)
    assert [axis.get_title() for axis in drawn] == ["photo", "heatmap", "overlay"]
    assert drawn[1].images[0].get_cmap().name == "jet"
    assert suptitle(figure) == "class 3 (dog)"


def filter_result(filters):
    # Each picture: half its pixels 0, half 255. Centred that is +-127.5 with std 127.5,
    # so stretch_contrast maps it to 127.5 +- 0.15 * 255 = 165.75 / 89.25 -> 166 / 89.
    pixels = np.zeros((len(filters), 2, 2, 3), np.float32)
    pixels[:, 0] = 255.0
    for i in range(len(filters)):
        pixels[i] = np.roll(pixels[i], i, axis=1)
    return FilterPictures(
        layer_name="block2_conv2",
        filters=list(filters),
        pixels=pixels,
        start_activation=np.zeros(len(filters)),
        final_activation=np.ones(len(filters)),
        settings=AscentSettings(),
    )


def test_filter_pictures_shows_contrast_stretched_pictures_titled_by_filter():
    result = filter_result([5, 0, 11])
    figure = plot_filter_pictures(result, columns=2)
    drawn = image_axes(figure)
    assert len(drawn) == 3 and len(figure.axes) == 4
    assert [axis.get_title() for axis in drawn] == ["#5", "#0", "#11"]
    for axis, raw in zip(drawn, result.pixels):
        expected = np.where(raw == 255.0, 166, 89).astype(np.uint8)
        np.testing.assert_array_equal(shown(axis), expected)
    assert "block2_conv2" in suptitle(figure)


def test_filter_pictures_takes_a_given_title():
    figure = plot_filter_pictures(filter_result([1]), title="after fine-tuning")
    assert suptitle(figure) == "after fine-tuning"
    assert len(image_axes(figure)) == 1


# (32, 1): lesson 01's picture of the source task, fl.plot_source_task(image_size=32).
@pytest.mark.parametrize("image_size, seed", [(16, 3), (32, 1)])
def test_source_task_shows_each_class_once_in_class_order(image_size, seed):
    from freezelab.sources.source_task import CLASS_NAMES, make_source_images

    figure = plot_source_task(image_size=image_size, seed=seed)
    drawn = image_axes(figure)
    assert [axis.get_title() for axis in drawn] == [
        n.replace("_stripes_", " ") for n in CLASS_NAMES
    ]
    samples = make_source_images(len(CLASS_NAMES), image_size=image_size, seed=seed)
    first = int(np.flatnonzero(samples.labels == 0)[0])
    np.testing.assert_array_equal(shown(drawn[0]), samples.images[first].astype(np.uint8))
    assert shown(drawn[-1]).shape == (image_size, image_size, 3)
    plt.close(figure)
