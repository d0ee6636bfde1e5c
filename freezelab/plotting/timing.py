"""Figures for lesson 03: measured against predicted step time, parameters against compute."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from freezelab.speed.cost import BlockShare
from freezelab.speed.sweep import SweepResult

if TYPE_CHECKING:
    from matplotlib.axes import Axes

KIND_COLOURS = {"none": "#444444", "prefix": "#2a9d5c", "middle": "#d0703a"}


def plot_measured_vs_predicted(
    result: SweepResult, tolerance: float = 0.2, ax: Axes | None = None
) -> Axes:
    """Scatter of measured against predicted step-time fraction, one point per mask.

    Points on the diagonal are predicted exactly; the shaded band is
    ``tolerance`` (relative) around it. Prefix masks are green, middle blocks
    orange.

    Args:
        result: A measured `SweepResult` (from `run_sweep`).
        tolerance: Relative half-width of the shaded band.
        ax: Matplotlib axes to draw on; None makes a new figure.

    Returns:
        The axes.

    Raises:
        ValueError: If ``result`` holds predictions only.
    """
    if not result.measured:
        raise ValueError(
            "plot_measured_vs_predicted needs measured rows (from run_sweep). "
            "Received: a SweepResult holding predictions only"
        )
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(5.2, 4.6))
    line = [0.0, 1.1]
    ax.plot(line, line, color="#888888", linewidth=1)
    ax.fill_between(
        line,
        [v * (1 - tolerance) for v in line],
        [v * (1 + tolerance) for v in line],
        color="#cccccc",
        alpha=0.4,
        label=f"±{tolerance:.0%}",
    )
    for kind, colour in KIND_COLOURS.items():
        rows = [r for r in result.rows if r.kind == kind]
        if not rows:
            continue
        ax.scatter(
            [r.measured_fraction for r in rows],
            [r.predicted_fraction for r in rows],
            color=colour,
            label=kind,
            zorder=3,
        )
        for r in rows:
            ax.annotate(
                r.label,
                (r.measured_fraction, r.predicted_fraction),
                fontsize=7,
                xytext=(4, -3),
                textcoords="offset points",
            )
    ax.set_xlim(0, 1.1)
    ax.set_ylim(0, 1.1)
    ax.set_xlabel("measured step time / fully trainable")
    ax.set_ylabel("predicted (cost model)")
    setup = result.setup
    ax.set_title(
        f"{setup.get('device', '')}\n{setup.get('backend', '')}, batch {setup.get('batch_size')}",
        fontsize=8,
    )
    ax.legend(fontsize=8, loc="upper left")
    return ax


def plot_block_shares(shares: Sequence[BlockShare], ax: Axes | None = None) -> Axes:
    """Side-by-side bars: each block's share of parameters and of forward compute.

    Args:
        shares: From `freezelab.speed.cost.block_shares`.
        ax: Matplotlib axes to draw on; None makes a new figure.

    Returns:
        The axes.
    """
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(6.4, 3.4))
    positions = range(len(shares))
    width = 0.4
    ax.bar(
        [p - width / 2 for p in positions],
        [s.params_share for s in shares],
        width,
        label="share of parameters",
        color="#5b7fb5",
    )
    ax.bar(
        [p + width / 2 for p in positions],
        [s.compute_share for s in shares],
        width,
        label="share of forward compute",
        color="#e0a030",
    )
    ax.set_xticks(list(positions), [s.block or "(other)" for s in shares])
    ax.yaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{v:.0%}"))
    ax.legend(fontsize=8)
    ax.set_title("Parameters are not compute", fontsize=10)
    return ax
