"""Figures for lesson 03: measured against predicted step time, parameters against compute."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from freezelab.speed.cost import BlockShare
from freezelab.speed.sweep import SweepResult

if TYPE_CHECKING:
    from matplotlib.axes import Axes

# Not the backward map's green (trains) and orange (passes the gradient), so that a
# colour means one thing across the course's figures.
KIND_COLOURS = {
    "none": "#444444",
    "prefix": "#1f5fa8",
    "middle": "#b8328a",
    "last": "#17a2b8",
    "custom": "#8c6d1f",
}
KIND_NAMES = {
    "none": "nothing frozen",
    "prefix": "a prefix frozen",
    "middle": "a middle block frozen",
    "last": "the last block frozen",
    "custom": "another mask",
}


def plot_measured_vs_predicted(
    result: SweepResult,
    tolerance: float | None = 0.05,
    ax: Axes | None = None,
    *,
    terms: bool = True,
    kind_names: dict[str, str] | None = None,
    labelled_kinds: Sequence[str] | None = None,
    fitted: Sequence[str] = (),
) -> Axes:
    """Measured against predicted step-time fraction, one point per mask, with error bars.

    The x-axis is the measured fraction of the fully trainable step (the
    median of same-round ratios; the bar spans the middle half of them when
    the sweep was interleaved). Filled points are the prediction from
    measured terms (``adjusted_fraction``, when there is one), hollow points
    the FLOP model's. Points on the diagonal are predicted exactly; the
    shaded band is ``tolerance`` (relative) around it. The axes grow to hold
    every point and bar: nothing is clipped.

    Args:
        result: A measured `SweepResult` (from `run_sweep`).
        tolerance: Relative half-width of the shaded band; None draws no band.
        ax: Matplotlib axes to draw on; None makes a new figure.
        terms: Whether to draw the measured-terms predictions; False draws the
            FLOP model's prediction only (filled, with the error bars).
        kind_names: Legend labels that replace `KIND_NAMES` for some kinds,
            e.g. ``{"middle": "blocks 3-4 (middle)"}``.
        labelled_kinds: Kinds whose points get a name beside the axes (e.g.
            ``["prefix"]`` where the other masks crowd one corner); None names
            every point.
        fitted: Masks whose measured-terms prediction is fitted from the run
            rather than predicted (e.g. ``["blocks 1-5"]``, whose terms
            prediction comes from the floor): their filled point is drawn in
            `FITTED_COLOUR`, so it does not read as an exact prediction.

    Returns:
        The axes.

    Raises:
        ValueError: If ``result`` holds predictions only,
            ``labelled_kinds`` names a kind that is not in `KIND_COLOURS`, or
            ``fitted`` names a mask the result does not hold.
    """
    _check_fitted(result.rows, fitted)
    if labelled_kinds is not None and not set(labelled_kinds) <= set(KIND_COLOURS):
        raise ValueError(
            f"labelled_kinds must be kinds of {sorted(KIND_COLOURS)}. "
            f"Received: labelled_kinds={list(labelled_kinds)!r}"
        )
    if not result.measured:
        raise ValueError(
            "plot_measured_vs_predicted needs measured rows (from run_sweep). "
            "Received: a SweepResult holding predictions only"
        )
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(5.6, 4.8))
    extent = (
        max(
            1.1,
            *(r.predicted_fraction for r in result.rows),
            *(r.adjusted_fraction or 0.0 for r in result.rows),
            *((r.fraction_quartiles or (0.0, r.measured_fraction))[1] for r in result.rows),
        )
        * 1.03
    )
    line = [0.0, extent]
    ax.plot(line, line, color="#888888", linewidth=1)
    if tolerance is not None:
        ax.fill_between(
            line,
            [v * (1 - tolerance) for v in line],
            [v * (1 + tolerance) for v in line],
            color="#cccccc",
            alpha=0.4,
            label=f"±{tolerance:.0%} of the diagonal",
        )
    labelled: list[tuple[str, float, float]] = []
    for kind, colour in KIND_COLOURS.items():
        rows = [r for r in result.rows if r.kind == kind]
        if not rows:
            continue
        measured = [r.measured_fraction for r in rows]
        errors = _error_bars(rows)
        ax.scatter(
            measured,
            [r.predicted_fraction for r in rows],
            facecolors="none",
            edgecolors=colour,
            zorder=3,
        )
        has_terms = terms and all(r.adjusted_fraction is not None for r in rows)
        shown = (
            [r.adjusted_fraction for r in rows]
            if has_terms
            else [r.predicted_fraction for r in rows]
        )
        for r, y in zip(rows, shown):  # links each mask's two predictions
            ax.plot(
                [r.measured_fraction] * 2,
                [r.predicted_fraction, y],
                color=colour,
                linewidth=0.6,
                alpha=0.6,
            )
        greyed = [has_terms and r.label in fitted for r in rows]
        for grey in (False, True):
            picked = [i for i, g in enumerate(greyed) if g == grey]
            if not picked:
                continue
            ax.errorbar(
                [measured[i] for i in picked],
                [shown[i] for i in picked],
                xerr=None if errors is None else [[side[i] for i in picked] for side in errors],
                fmt="o",
                color=FITTED_COLOUR if grey else colour,
                label=None if grey else {**KIND_NAMES, **(kind_names or {})}[kind],
                zorder=4,
                markersize=4,  # small, so that more of the middle-half bars show beside them
                elinewidth=1.5,
                capsize=3,
            )
        if labelled_kinds is None or kind in labelled_kinds:
            labelled.extend((r.label, r.measured_fraction, y) for r, y in zip(rows, shown))
    if labelled:
        _annotate_apart(ax, labelled, extent)
    floor = result.setup.get("floor_share")
    if floor:
        ax.axvline(floor, color="#999999", linestyle=":", linewidth=1)
        ax.text(floor, 0.02 * extent, " floor", fontsize=7, color="#666666")
    ax.set_xlim(0, extent)
    ax.set_ylim(0, extent)
    ax.set_xlabel(
        "measured step time / fully trainable step\n"
        "(bar: middle half of rounds; hidden where narrower than its marker)"
    )
    if terms:
        ax.scatter([], [], facecolors="none", edgecolors="#444444", label="FLOP model (hollow)")
        if fitted:
            ax.scatter([], [], color=FITTED_COLOUR, label="fitted, not predicted")
        ax.set_ylabel("predicted (filled: from measured terms; hollow: FLOPs)")
    else:
        ax.set_ylabel("predicted by the FLOP model")
    setup = result.setup
    ax.set_title(
        f"{setup.get('device', '')}\n{setup.get('backend', '')}, batch {setup.get('batch_size')}, "
        f"input {'x'.join(str(d) for d in setup.get('input_shape', [])[:2])}",
        fontsize=8,
    )
    ax.legend(fontsize=7, loc="upper left")
    return ax


def _check_fitted(rows, fitted: Sequence[str]) -> None:
    """Raises a ValueError naming the labels of ``fitted`` that no row of ``rows`` has."""
    unknown = [label for label in fitted if label not in [r.label for r in rows]]
    if unknown:
        raise ValueError(
            f"fitted must name masks of the result {[r.label for r in rows]}. Received: {unknown}"
        )


def _annotate_apart(ax, points: list[tuple[str, float, float]], extent: float) -> None:
    """Labels every point in a column right of the axes, each joined to its point by a thin line.

    The labels are spaced evenly in the order of their points' heights, so
    points that lie close together never get overlapping labels. Each leader
    line is drawn above the markers and ends in a small arrow head exactly on
    its point, so no other marker hides where it ends.
    """
    ordered = sorted(points, key=lambda point: -point[2])
    step = min(0.06 * extent, 0.97 * extent / max(len(ordered), 1))
    top = max(min(ordered[0][2] + 0.03 * extent, 0.98 * extent), step * len(ordered))
    for index, (label, x, y) in enumerate(ordered):
        ax.annotate(
            label,
            (x, y),
            xytext=(1.04 * extent, top - index * step),
            textcoords="data",
            fontsize=7,
            va="center",
            annotation_clip=False,
            zorder=5,  # above the markers (zorder 4)
            arrowprops={
                "arrowstyle": "-|>",
                "mutation_scale": 6,
                "color": "#555555",
                "linewidth": 0.6,
                "shrinkA": 2,
                "shrinkB": 0,
            },
        )


def _error_bars(rows) -> list[list[float]] | None:
    """Distances from each measured fraction to its quartiles (None when not interleaved)."""
    if any(r.fraction_quartiles is None for r in rows):
        return None
    below = [max(r.measured_fraction - r.fraction_quartiles[0], 0.0) for r in rows]
    above = [max(r.fraction_quartiles[1] - r.measured_fraction, 0.0) for r in rows]
    return [below, above]


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
    ax.set_ylabel("share of the model's total")
    ax.legend(fontsize=8)
    ax.set_title("Parameters are not compute", fontsize=10)
    return ax


#: Colour of a measured-terms point that is fitted from the run, not predicted.
FITTED_COLOUR = "#b0b0b0"


def plot_prediction_errors(
    result: SweepResult, ax: Axes | None = None, fitted: Sequence[str] = ()
) -> Axes:
    """Each prediction's error against the measurement, one row per mask.

    The x-axis is predicted / measured - 1 (0 means predicted exactly). Each
    mask except the reference gets two points: the FLOP model's (hollow) and,
    when there is one, the measured-terms prediction (filled), coloured by
    kind. A bar spans predicted / (upper quartile) - 1 to predicted / (lower
    quartile) - 1, so it crosses zero exactly when the prediction lies inside
    the measured middle half of the same-round ratios; such a bar is drawn
    solid, and a bar of a prediction outside it dotted, so that a bar whose
    end merely touches 0 is not read as inside. Small errors that the
    measured-vs-predicted plot squeezes into one corner are spread out here.
    The legend, right of the axes so that it hides no point, names the
    colours (`KIND_NAMES`) as well as the two models.

    Args:
        result: A measured, interleaved `SweepResult` (from `run_sweep`).
        ax: Matplotlib axes to draw on; None makes a new figure.
        fitted: Masks whose measured-terms prediction is fitted from the run
            (the whole base: the measured floor plus the head); their filled
            point and bar are drawn grey and named in the legend, not as a
            prediction.

    Returns:
        The axes.

    Raises:
        ValueError: If ``result`` holds predictions only, was not
            interleaved (no middle half to draw), or ``fitted`` names no row.
    """
    rows = result.rows[1:]
    _check_fitted(rows, fitted)
    if not result.measured or any(r.fraction_quartiles is None for r in rows):
        raise ValueError(
            "plot_prediction_errors needs measured, interleaved rows (from run_sweep with "
            f"interleave=True). Received: measured={result.measured}, quartiles="
            f"{[r.fraction_quartiles for r in rows]}"
        )
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(5.6, 0.35 * len(rows) + 1.2))
    models = [("predicted_fraction", "none", -0.15)]
    if all(r.adjusted_fraction is not None for r in rows):
        models.append(("adjusted_fraction", None, 0.15))
    for index, r in enumerate(rows):
        y = len(rows) - 1 - index
        low, high = r.fraction_quartiles
        colour = KIND_COLOURS.get(r.kind, KIND_COLOURS["custom"])
        for attribute, face, offset in models:
            predicted = getattr(r, attribute)
            inside = low <= predicted <= high
            if attribute == "adjusted_fraction" and r.label in fitted:
                colour_here = FITTED_COLOUR
            else:
                colour_here = colour
            ax.plot(
                [predicted / high - 1, predicted / low - 1],
                [y + offset] * 2,
                color=colour_here,
                linewidth=1.6 if inside else 1.0,
                linestyle="-" if inside else ":",
            )
            ax.scatter(
                [predicted / r.measured_fraction - 1],
                [y + offset],
                facecolors=face or colour_here,
                edgecolors=colour_here,
                zorder=3,
            )
    ax.axvline(0.0, color="#888888", linewidth=1)
    ax.set_yticks(range(len(rows)), [r.label for r in reversed(rows)], fontsize=8)
    ax.xaxis.set_major_locator(plt.MaxNLocator(nbins=4))  # few ticks: labels never touch
    ax.xaxis.set_major_formatter(
        plt.FuncFormatter(lambda value, _: "0%" if abs(value) < 1e-12 else f"{value:+.0%}")
    )
    ax.set_xlabel(
        "predicted / measured - 1 (bar: where the measured middle half would put it)", fontsize=8
    )
    ax.scatter([], [], facecolors="none", edgecolors="#444444", label="FLOP model")
    if len(models) > 1:
        ax.scatter([], [], color="#444444", label="from measured terms")
    for kind, colour in KIND_COLOURS.items():
        if any(r.kind == kind for r in rows):
            ax.plot([], [], color=colour, linewidth=4, label=KIND_NAMES[kind])
    if fitted and len(models) > 1:
        ax.scatter([], [], color=FITTED_COLOUR, label="fitted, not predicted")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.set_title(
        "prediction error per mask\n"
        "(solid bar: inside the measured middle half, crossing 0; dotted: outside)",
        fontsize=8,
    )
    return ax
