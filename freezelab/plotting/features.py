"""Figures for lesson 04: feature-map grids, heatmap overlays and filter pictures."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from freezelab.vis.ascent import FilterPictures


def grid_shape(count: int, columns: int = 8) -> tuple[int, int]:
    """Rows and columns of a grid holding ``count`` panels, at most ``columns`` wide.

    Raises:
        ValueError: If ``count`` or ``columns`` is below 1.
    """
    if count < 1 or columns < 1:
        raise ValueError(
            f"A grid needs at least one panel and one column. Received: count={count}, "
            f"columns={columns}"
        )
    columns = min(columns, count)
    return math.ceil(count / columns), columns


def plot_image_grid(
    images: np.ndarray | Sequence[np.ndarray],
    titles: Sequence[str] | None = None,
    columns: int = 8,
    panel_size: float = 1.4,
    cmap: str | None = None,
    suptitle: str | None = None,
    pyplot: bool = True,
) -> Figure:
    """Shows pictures (RGB or 2D maps) in a grid without axes.

    Args:
        images: A sequence of ``(H, W, 3)`` pictures or ``(H, W)`` maps.
        titles: One short title per picture.
        columns: Most panels per row.
        panel_size: Inches per panel.
        cmap: Colormap for 2D maps (``"viridis"`` when None).
        suptitle: Title over the whole grid.
        pyplot: False builds a bare `matplotlib.figure.Figure` that pyplot
            does not track (for figures drawn in a widget's worker thread:
            the notebook's inline backend never shows it by itself).

    Returns:
        The matplotlib Figure.
    """
    images = list(images)
    rows, columns = grid_shape(len(images), columns)
    # Constrained layout keeps each row's titles clear of the row above and of the suptitle.
    size = {"figsize": (panel_size * columns, panel_size * rows + 0.4), "layout": "constrained"}
    if pyplot:
        import matplotlib.pyplot as plt

        figure = plt.figure(**size)
    else:
        from matplotlib.figure import Figure

        figure = Figure(**size)
    axes = figure.subplots(rows, columns, squeeze=False)
    for index, axis in enumerate(axes.flat):
        axis.axis("off")
        if index >= len(images):
            continue
        picture = np.asarray(images[index])
        axis.imshow(picture, cmap=(cmap or "viridis") if picture.ndim == 2 else None)
        if titles is not None:
            axis.set_title(titles[index], fontsize=8)
    if suptitle:
        figure.suptitle(suptitle, fontsize=10)
    return figure


def plot_feature_maps(
    maps: np.ndarray,
    channels: Sequence[int],
    layer_name: str,
    columns: int = 8,
    pyplot: bool = True,
) -> Figure:
    """Grid of one input's feature maps, one panel per channel.

    Args:
        maps: ``(h, w, n)`` feature maps, e.g. from `freezelab.vis.activations.feature_maps`.
        channels: The channel index of each of the ``n`` maps (for titles).
        layer_name: Shown in the title.
        columns: Most panels per row.
        pyplot: False for a Figure pyplot does not track (see `plot_image_grid`).

    Returns:
        The matplotlib Figure.
    """
    panels = [maps[..., i] for i in range(maps.shape[-1])]
    return plot_image_grid(
        panels,
        titles=[f"#{c}" for c in channels],
        columns=columns,
        suptitle=f"{layer_name}: feature maps {maps.shape[0]}x{maps.shape[1]}",
        pyplot=pyplot,
    )


def plot_heatmap(
    photo: np.ndarray, heat: np.ndarray, blended: np.ndarray, title: str, pyplot: bool = True
) -> Figure:
    """Photo, heatmap and the two overlaid, side by side.

    Args:
        photo: ``(H, W, 3)`` RGB photo.
        heat: ``(H, W)`` heatmap in 0..1.
        blended: The overlay from `freezelab.vis.activations.overlay`.
        title: Title over the three panels.
        pyplot: False for a Figure pyplot does not track (see `plot_image_grid`).

    Returns:
        The matplotlib Figure.
    """
    figure = plot_image_grid(
        [photo, heat, blended],
        titles=["photo", "heatmap", "overlay"],
        columns=3,
        panel_size=2.6,
        cmap="jet",
        suptitle=title,
        pyplot=pyplot,
    )
    return figure


def plot_filter_pictures(
    result: FilterPictures, columns: int = 8, title: str | None = None, pyplot: bool = True
) -> Figure:
    """Grid of gradient-ascent pictures, each titled with its filter index.

    Args:
        result: A `freezelab.vis.ascent.FilterPictures`.
        columns: Most panels per row.
        title: Title over the grid (defaults to the layer name).
        pyplot: False for a Figure pyplot does not track (see `plot_image_grid`).

    Returns:
        The matplotlib Figure.
    """
    return plot_image_grid(
        result.pictures,
        titles=[f"#{f}" for f in result.filters],
        columns=columns,
        suptitle=title or f"{result.layer_name}: what excites each filter",
        pyplot=pyplot,
    )


def plot_source_task(image_size: int = 32, seed: int = 1) -> Figure:
    """One sample of each class of the teacher's procedural source task, in class order.

    Args:
        image_size: Side of the drawn images, at least 8.
        seed: Which draw (any seed; the teacher's held-out seed gives its held-out images).

    Returns:
        The matplotlib Figure (two rows of ten).

    Raises:
        ValueError: For an ``image_size`` below 8.
    """
    from freezelab.sources.source_task import NUM_CLASSES, make_source_images

    samples = make_source_images(NUM_CLASSES, image_size=image_size, seed=seed)
    order = np.argsort(samples.labels)
    return plot_image_grid(
        [samples.images[i].astype(np.uint8) for i in order],
        titles=[samples.class_names[samples.labels[i]].replace("_stripes_", " ") for i in order],
        columns=10,
        suptitle="the teacher's source task: one sample of each class",
    )
