"""Two small panels for lesson 04, thin views over `freezelab.vis.activations` and `freezelab.vis.ascent`.

* `filter_grid_view`: pick a layer (early to late) and a range of filters;
  see their feature maps for a photo, or draw what excites them.
* `heatmap_view`: pick a photo and a layer; see where the layer responds.

All logic lives in plain functions (`layer_options`, `filter_range`,
`heatmap_figure`, `filter_grid_figure`), tested without a browser.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import keras
import numpy as np

from freezelab.core.shapes import square_input_side
from freezelab.vis.activations import conv_layer_names, feature_maps, find_layer, heatmap, overlay
from freezelab.vis.ascent import filter_pictures
from freezelab.vis.images import sample_image, sample_names, to_caffe
from freezelab.widgets.background import BackgroundJob

if TYPE_CHECKING:
    from ipywidgets import VBox
    from matplotlib.figure import Figure

MAX_FILTERS = 16


def layer_options(model: keras.Model) -> list[tuple[str, str]]:
    """``(label, layer name)`` pairs of the conv layers, early to late, for a dropdown.

    The label carries the filter count, e.g. ``"block1_conv1 (64 filters)"``.
    """
    options = []
    for name in conv_layer_names(model):
        filters = _find(model, name).filters
        options.append((f"{name} ({filters} filters)", name))
    return options


def filter_range(first: int, last: int, filter_count: int, limit: int = MAX_FILTERS) -> list[int]:
    """The filters ``first..last`` (inclusive), kept inside the layer and at most ``limit``.

    Args:
        first: First filter asked for.
        last: Last filter asked for.
        filter_count: Filters the layer has.
        limit: Most filters returned (pictures are slow to make).

    Returns:
        A non-empty list of filter indices.
    """
    first = min(max(int(first), 0), filter_count - 1)
    last = min(max(int(last), first), filter_count - 1, first + limit - 1)
    return list(range(first, last + 1))


def filter_grid_figure(
    model: keras.Model,
    layer_name: str,
    filters: list[int],
    kind: str,
    photo: np.ndarray,
    **ascent_settings,
) -> Figure:
    """The figure `filter_grid_view` shows: feature maps of ``photo`` or ascent pictures.

    Args:
        model: A caffe-preprocessed model (VGG16 or the teacher).
        layer_name: A conv layer.
        filters: Filter indices.
        kind: ``"feature maps"`` or ``"filter pictures"``.
        photo: ``(S, S, 3)`` uint8 RGB photo at the model's input size.
        **ascent_settings: Passed to `freezelab.vis.ascent.filter_pictures`.

    Returns:
        A matplotlib Figure that pyplot does not track: drawn in a worker
        thread, it never appears by itself below the cell.

    Raises:
        ValueError: For an unknown ``kind``.
    """
    from freezelab.plotting.features import plot_feature_maps, plot_filter_pictures

    if kind == "feature maps":
        maps = feature_maps(model, to_caffe(photo), layer_name, filters)
        return plot_feature_maps(maps, filters, layer_name, pyplot=False)
    if kind == "filter pictures":
        settings = {"progress": False, **ascent_settings}
        result = filter_pictures(model, layer_name, filters, **settings)
        return plot_filter_pictures(result, pyplot=False)
    raise ValueError(f"kind must be 'feature maps' or 'filter pictures'. Received: kind={kind!r}")


def heatmap_figure(
    model: keras.Model, photo: np.ndarray, layer_name: str, channel: int | None
) -> Figure:
    """The figure `heatmap_view` shows: photo, heatmap and overlay.

    Args:
        model: A caffe-preprocessed model.
        photo: ``(S, S, 3)`` uint8 RGB photo at the model's input size.
        layer_name: A layer with spatial output.
        channel: One channel, or None for the mean over channels.

    Returns:
        A matplotlib Figure that pyplot does not track.
    """
    from freezelab.plotting.features import plot_heatmap

    heat = heatmap(model, to_caffe(photo), layer_name, channel)
    what = "mean of all channels" if channel is None else f"channel {channel}"
    return plot_heatmap(photo, heat, overlay(photo, heat), f"{layer_name}: {what}", pyplot=False)


def filter_grid_view(model: keras.Model, photo_name: str = "chelsea", **ascent_settings) -> VBox:
    """Panel: choose a layer and a filter range; see feature maps or filter pictures.

    Args:
        model: A caffe-preprocessed conv model (VGG16 or the teacher).
        photo_name: Sample photo whose feature maps are shown.
        **ascent_settings: Settings for the filter pictures (e.g. ``steps``).

    Returns:
        An ``ipywidgets.VBox``; display it in a notebook.
    """
    import ipywidgets as widgets

    photo = sample_image(photo_name, square_input_side(model, "The feature views", fixed=True))
    options = layer_options(model)
    layer = widgets.Dropdown(options=options, value=options[0][1], description="layer")
    span = widgets.IntRangeSlider(value=(0, 7), min=0, max=_find(model, layer.value).filters - 1)
    span.description = "filters"
    kind = widgets.ToggleButtons(options=["feature maps", "filter pictures"])
    draw = widgets.Button(description="Draw", button_style="primary")
    draw.add_class("fl-draw")
    output = widgets.Output()
    job = BackgroundJob("fl-draw-job")

    def on_layer(change):
        span.max = _find(model, change["new"]).filters - 1

    def render(_=None):
        if job.running:  # One drawing at a time: Cancel it or wait.
            return
        filters = filter_range(*span.value, _find(model, layer.value).filters)
        chosen_layer, chosen_kind = layer.value, kind.value

        def work(progress):
            progress.report(0, None, f"drawing {chosen_kind} of {chosen_layer}")
            settings = dict(ascent_settings)
            if chosen_kind == "filter pictures":
                settings["progress"] = progress.steps(f"gradient ascent on {chosen_layer}")
            return filter_grid_figure(model, chosen_layer, filters, chosen_kind, photo, **settings)

        def finished(_=None):
            draw.disabled = False

        output.outputs = ()  # The old figure goes: it no longer matches the choice.
        draw.disabled = True
        job.start(
            work,
            on_done=lambda figure: (_show_figure(output, figure), finished()),
            on_cancel=finished,
            on_error=lambda error: (_show_error(output, error), finished()),
        )

    layer.observe(on_layer, names="value")
    draw.on_click(render)
    render()
    note = widgets.HTML(f"Photo: {photo_name}. At most {MAX_FILTERS} filters per drawing.")
    view = widgets.VBox(
        [widgets.HBox([layer, kind]), widgets.HBox([span, draw]), job.widget, note, output]
    )
    view.job = job  # for scripts and tests: view.job.wait()
    return view


def heatmap_view(model: keras.Model) -> VBox:
    """Panel: choose a sample photo and a layer; see where the layer responds.

    Args:
        model: A caffe-preprocessed conv model (VGG16 or the teacher).

    Returns:
        An ``ipywidgets.VBox``; display it in a notebook.
    """
    import ipywidgets as widgets

    size = square_input_side(model, "The feature views", fixed=True)
    photo = widgets.Dropdown(options=sample_names(), value="chelsea", description="photo")
    options = layer_options(model)
    layer = widgets.Dropdown(options=options, value=options[0][1], description="layer")
    channel = widgets.IntText(value=-1, description="channel", tooltip="-1: mean of all")
    output = widgets.Output()

    def render(_=None):
        chosen = None if channel.value < 0 else channel.value
        _show(output, heatmap_figure, model, sample_image(photo.value, size), layer.value, chosen)

    for control in (photo, layer, channel):
        control.observe(render, names="value")
    render()
    hint = widgets.HTML("channel -1 shows the mean over all channels.")
    return widgets.VBox([widgets.HBox([photo, layer, channel]), hint, output])


def figure_png(figure) -> object:
    """A figure as a PNG image to display, whatever the kernel's figure formatters.

    A bare `matplotlib.figure.Figure` displays as its text ("<Figure size ...>")
    in a kernel where pyplot was never imported (the app page's), because
    matplotlib's inline backend registers the PNG formatter only then.

    Args:
        figure: A matplotlib figure.

    Returns:
        An `IPython.display.Image` holding the figure rendered as PNG.
    """
    import io

    from IPython.display import Image

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", bbox_inches="tight")
    return Image(data=buffer.getvalue(), format="png")


def _show(output, make_figure, *args, **kwargs) -> None:
    from IPython.display import display

    with output:
        output.clear_output(wait=True)
        try:
            figure = make_figure(*args, **kwargs)
        except ValueError as error:
            print(error)
            return
        display(figure_png(figure))


def _show_figure(output, figure) -> None:
    """Shows a finished figure (from the worker thread) in place of the old one."""
    output.outputs = ()  # Thread-safe clear: a trait assignment, no capture context.
    output.append_display_data(figure_png(figure))


def _show_error(output, error: BaseException) -> None:
    output.outputs = ()
    output.append_stdout(f"{error}\n")


def _find(model: keras.Model, layer_name: str):
    return find_layer(model, layer_name).layer


__all__ = [
    "MAX_FILTERS",
    "filter_grid_figure",
    "filter_grid_view",
    "filter_range",
    "heatmap_figure",
    "heatmap_view",
    "layer_options",
]
