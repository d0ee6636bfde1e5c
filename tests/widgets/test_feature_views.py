"""The logic behind lesson 04's panels, and that the panels build."""

import numpy as np
import pytest

from freezelab.core.models import load_vgg16
from freezelab.vis.activations import heatmap
from freezelab.vis.images import sample_image, to_caffe
from freezelab.widgets import feature_views
from freezelab.widgets.feature_views import (
    filter_grid_figure,
    filter_range,
    heatmap_figure,
    layer_options,
)


@pytest.fixture(scope="module")
def vgg():
    return load_vgg16(weights=None, input_size=32, verbose=False)


def test_layer_options_list_the_13_convs_early_to_late_with_filter_counts(vgg):
    options = layer_options(vgg)
    assert len(options) == 13
    assert options[0] == ("block1_conv1 (64 filters)", "block1_conv1")
    assert options[-1] == ("block5_conv3 (512 filters)", "block5_conv3")


@pytest.mark.parametrize(
    ("first", "last", "count", "expected"),
    [(0, 3, 64, [0, 1, 2, 3]), (60, 70, 64, [60, 61, 62, 63]), (5, 2, 64, [5]), (0, 40, 64, None)],
)
def test_filter_range_stays_inside_the_layer_and_the_limit(first, last, count, expected):
    result = filter_range(first, last, count, limit=16)
    assert result == (expected if expected is not None else list(range(16)))


def test_heatmap_figure_shows_the_same_heatmap_as_the_function(vgg):
    photo = sample_image("coffee", 32)
    figure = heatmap_figure(vgg, photo, "block2_conv1", None)
    shown = figure.axes[1].images[0].get_array()
    np.testing.assert_allclose(shown, heatmap(vgg, to_caffe(photo), "block2_conv1"))


def test_filter_grid_figure_has_one_panel_per_filter(vgg):
    photo = sample_image("chelsea", 32)
    maps = filter_grid_figure(vgg, "block1_conv1", [0, 1, 2], "feature maps", photo)
    pictures = filter_grid_figure(
        vgg, "block1_conv1", [4, 5], "filter pictures", photo, steps=2, octaves=1
    )
    assert sum(bool(a.images) for a in maps.axes) == 3
    assert [a.get_title() for a in pictures.axes if a.images] == ["#4", "#5"]
    with pytest.raises(ValueError, match="kind must be"):
        filter_grid_figure(vgg, "block1_conv1", [0], "weights", photo)


def test_figures_are_not_tracked_by_pyplot(vgg):
    # A figure drawn in the worker thread must not be flushed half-drawn below the cell.
    import matplotlib.pyplot as plt

    before = set(plt.get_fignums())
    photo = sample_image("chelsea", 32)
    filter_grid_figure(vgg, "block1_conv1", [0, 1], "feature maps", photo)
    heatmap_figure(vgg, photo, "block2_conv1", None)
    assert set(plt.get_fignums()) == before


def test_panels_pass_the_chosen_values_to_the_figures(vgg, monkeypatch):
    from matplotlib.figure import Figure

    calls = []

    def record(*args, **kwargs):
        calls.append(args)
        return Figure(figsize=(1, 1))  # something to draw

    monkeypatch.setattr(feature_views, "heatmap_figure", record)
    monkeypatch.setattr(feature_views, "filter_grid_figure", record)
    grid = feature_views.filter_grid_view(vgg)
    layer, _ = grid.children[0].children
    span, draw = grid.children[1].children
    layer.value = "block3_conv1"
    assert span.max == 255
    span.value = (250, 255)
    assert grid.job.wait(30)  # the first drawing runs in the background
    draw.click()
    assert grid.job.wait(30)
    assert calls[-1][1:4] == ("block3_conv1", [250, 251, 252, 253, 254, 255], "feature maps")
    panel = feature_views.heatmap_view(vgg)
    photo, layer, channel = panel.children[0].children
    layer.value = "block2_conv2"
    channel.value = 3
    assert calls[-1][2:] == ("block2_conv2", 3)
    channel.value = -1
    assert calls[-1][3] is None
    photo.value = "rocket"
    np.testing.assert_array_equal(calls[-1][1], sample_image("rocket", 32))


def test_filter_pictures_draw_in_the_background_with_progress(vgg):
    grid = feature_views.filter_grid_view(vgg, steps=2, octaves=1)
    assert grid.job.wait(120)
    _, kind = grid.children[0].children
    span, draw = grid.children[1].children
    span.value = (0, 1)
    kind.value = "filter pictures"
    draw.click()
    assert draw.disabled  # no second drawing while one runs
    assert grid.job.wait(120) and grid.job.last_error is None
    assert not draw.disabled
    assert "gradient ascent on block1_conv1 (4/4)" in grid.job.status.value or (
        grid.job.bar.value == 1.0
    )
    output = grid.children[-1]
    assert len(output.outputs) == 1  # the new figure replaced the old one
    data = output.outputs[0]["data"]
    assert "image/png" in data and "<Figure size" not in data["text/plain"]  # a picture, not text


def test_figures_reach_the_page_as_png_even_where_pyplot_was_never_imported():
    # A bare Figure, as the feature views draw it; a pure red square must come back red.
    import io

    from matplotlib.figure import Figure
    from PIL import Image

    figure = Figure(figsize=(1, 1), dpi=20)
    axes = figure.add_axes((0, 0, 1, 1))
    axes.imshow(np.ones((4, 4, 3)) * [1.0, 0.0, 0.0])
    axes.set_axis_off()
    image = feature_views.figure_png(figure)
    bundle = image.data  # the PNG bytes the page receives
    assert bundle.startswith(b"\x89PNG")
    picture = np.asarray(Image.open(io.BytesIO(bundle)).convert("RGB"))
    middle = picture[picture.shape[0] // 2, picture.shape[1] // 2]
    assert tuple(middle) == (255, 0, 0)
