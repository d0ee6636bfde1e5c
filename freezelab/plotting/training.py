"""Figures of the fine-tuning lesson: training curves, weight drift, filters before and after."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from collections.abc import Sequence

    from matplotlib.figure import Figure

    from freezelab.finetune.strategies import TrainingRun


def plot_histories(
    runs: Sequence[TrainingRun], metrics: Sequence[str] = ("accuracy", "loss")
) -> Figure:
    """Training (dashed) and validation (solid) curves of every run on one figure.

    Args:
        runs: `freezelab.finetune.strategies.TrainingRun` objects.
        metrics: One panel per metric name found in the histories.

    Returns:
        The matplotlib figure.

    Raises:
        ValueError: If there are no runs or a metric is missing from a history.
    """
    import matplotlib.pyplot as plt

    if not runs:
        raise ValueError("plot_histories needs at least one run. Received: no runs")
    for run in runs:
        wanted = [name for metric in metrics for name in (metric, f"val_{metric}")]
        missing = [name for name in wanted if name not in run.history]
        if missing:
            raise ValueError(
                f"Run {run.label!r} has no {missing} in its history. "
                f"Received: metrics={tuple(metrics)}, history keys={sorted(run.history)}"
            )
    figure, axes = plt.subplots(1, len(metrics), figsize=(6 * len(metrics), 4), squeeze=False)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for axis, metric in zip(axes[0], metrics):
        for index, run in enumerate(runs):
            colour = colours[index % len(colours)]
            epochs = np.arange(1, len(run.history[metric]) + 1)
            axis.plot(epochs, run.history[metric], "--", color=colour, alpha=0.7)
            val_epochs = np.arange(1, len(run.history[f"val_{metric}"]) + 1)
            axis.plot(val_epochs, run.history[f"val_{metric}"], "-o", color=colour, label=run.label)
        axis.set_xlabel("epoch")
        axis.set_ylabel(metric)
        axis.set_title(f"{metric}: validation (solid), training (dashed)")
    axes[0][0].legend(fontsize="small")
    figure.tight_layout()
    return figure


def plot_drift(
    runs: Sequence[TrainingRun],
    title: str = "Relative weight change ||W1 - W0|| / ||W0|| per layer",
) -> Figure:
    """Bars of each layer's relative weight change, one colour per run.

    Frozen layers show no bar at all (exactly zero).

    Args:
        runs: Runs whose ``drift`` lists the same layers.
        title: Figure title.

    Returns:
        The matplotlib figure.

    Raises:
        ValueError: If there are no runs.
    """
    import matplotlib.pyplot as plt

    if not runs:
        raise ValueError("plot_drift needs at least one run. Received: no runs")
    names = [d.name for d in runs[0].drift]
    width = 0.8 / len(runs)
    figure, axis = plt.subplots(figsize=(max(8, 0.5 * len(names)), 4))
    for index, run in enumerate(runs):
        values = {d.name: d.relative_change for d in run.drift}
        axis.bar(
            np.arange(len(names)) + index * width,
            [values.get(name, 0.0) for name in names],
            width,
            label=run.label,
        )
    axis.set_xticks(np.arange(len(names)) + 0.4 - width / 2)
    axis.set_xticklabels(names, rotation=60, ha="right", fontsize="small")
    axis.set_yscale("symlog", linthresh=1e-3)
    axis.set_ylabel("relative change")
    axis.set_title(title)
    axis.legend(fontsize="small")
    figure.tight_layout()
    return figure


def plot_filters_before_after(before: np.ndarray, after: np.ndarray, title: str = "") -> Figure:
    """The same filters as pictures: before fine-tuning (top row), after (bottom).

    Args:
        before: ``(count, h, w, 3)`` pictures in 0..1 (`freezelab.vis.kernels.kernel_pictures`).
        after: The same filters after training, drawn at the same scale.
        title: Figure title.

    Returns:
        The matplotlib figure.

    Raises:
        ValueError: If the two sets differ in shape.
    """
    import matplotlib.pyplot as plt

    before, after = np.asarray(before), np.asarray(after)
    if before.shape != after.shape:
        raise ValueError(
            "before and after must hold the same filters. "
            f"Received: shapes {before.shape} and {after.shape}"
        )
    count = before.shape[0]
    figure, axes = plt.subplots(2, count, figsize=(1.2 * count, 2.8), squeeze=False)
    for row, (pictures, name) in enumerate(((before, "before"), (after, "after"))):
        for column in range(count):
            axis = axes[row][column]
            axis.imshow(pictures[column], interpolation="nearest")
            axis.set_xticks([])
            axis.set_yticks([])
        axes[row][0].set_ylabel(name)
    figure.suptitle(title)
    figure.tight_layout()
    return figure
