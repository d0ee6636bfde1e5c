"""Tests for freezelab.plotting.timing: points and bars against the rows put in."""

import itertools
from dataclasses import replace

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.collections import PathCollection, PolyCollection
from matplotlib.colors import to_rgba
from matplotlib.container import ErrorbarContainer

from freezelab.plotting.timing import (
    FITTED_COLOUR,
    KIND_COLOURS,
    KIND_NAMES,
    plot_block_shares,
    plot_measured_vs_predicted,
    plot_prediction_errors,
)
from freezelab.speed.cost import BlockShare
from freezelab.speed.sweep import SweepResult, SweepRow

SETUP = {"device": "CPU (test box)", "backend": "tensorflow 2.x", "batch_size": 16}


def row(label, kind, predicted, measured, median_ms=10.0):
    return SweepRow(
        label=label,
        kind=kind,
        frozen=(),
        predicted_fraction=predicted,
        median_ms=median_ms,
        iqr_ms=0.5,
        measured_fraction=measured,
    )


ROWS = [
    row("nothing frozen", "none", 1.0, 1.0),
    row("block1", "prefix", 0.8, 0.85),
    row("blocks 1-2", "prefix", 0.6, 0.7),
    row("block3 only", "middle", 0.9, 0.95),
]


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


NAME_KINDS = {name: kind for kind, name in KIND_NAMES.items()}


def hollow_points(ax):
    """The FLOP model's points: unlabelled hollow scatters."""
    found = [c for c in ax.collections if isinstance(c, PathCollection) and len(c.get_offsets())]
    return np.concatenate([c.get_offsets() for c in found]) if found else np.empty((0, 2))


def filled(ax):
    """Kind label -> (x, y) of the filled points drawn with error bars."""
    return {
        c.get_label(): np.column_stack([np.asarray(d, dtype=float) for d in c.lines[0].get_data()])
        for c in ax.containers
        if isinstance(c, ErrorbarContainer)
    }


def test_hollow_points_at_measured_and_flop_prediction():
    ax = plot_measured_vs_predicted(SweepResult(ROWS, SETUP))
    np.testing.assert_allclose(
        sorted(map(tuple, hollow_points(ax))),
        sorted([(1.0, 1.0), (0.85, 0.8), (0.7, 0.6), (0.95, 0.9)]),
    )


def test_filled_points_use_the_measured_terms_prediction_when_there_is_one():
    rows = [replace(r, adjusted_fraction=r.predicted_fraction + 0.05) for r in ROWS]
    points = filled(plot_measured_vs_predicted(SweepResult(rows, SETUP)))
    assert set(points) == {"nothing frozen", "a prefix frozen", "a middle block frozen"}
    np.testing.assert_allclose(points["a prefix frozen"], [[0.85, 0.85], [0.7, 0.65]])
    # Without the terms (no measured floor), the FLOP prediction is drawn filled.
    points = filled(plot_measured_vs_predicted(SweepResult(ROWS, SETUP)))
    np.testing.assert_allclose(points["a middle block frozen"], [[0.95, 0.9]])
    # Asked not to, it draws the FLOP prediction filled even when terms exist, and no band.
    ax = plot_measured_vs_predicted(SweepResult(rows, SETUP), tolerance=None, terms=False)
    np.testing.assert_allclose(filled(ax)["a prefix frozen"], [[0.85, 0.8], [0.7, 0.6]])
    assert not [c for c in ax.collections if type(c).__name__ == "FillBetweenPolyCollection"]
    assert "±" not in " ".join(t.get_text() for t in ax.get_legend().get_texts())


def test_every_kind_a_sweep_can_hold_is_drawn():
    # run_sweep labels a plain mask "custom": it must be drawn, not dropped silently.
    rows = [*ROWS, row("F:block3-4 T:block1-2,block5,head", "custom", 0.8, 0.81)]
    points = filled(plot_measured_vs_predicted(SweepResult(rows, SETUP)))
    np.testing.assert_allclose(points["another mask"], [[0.81, 0.8]])
    assert sum(len(p) for p in points.values()) == len(rows)


def test_legend_labels_can_be_renamed_per_kind():
    ax = plot_measured_vs_predicted(SweepResult(ROWS, SETUP), kind_names={"middle": "blocks 3-4"})
    assert set(filled(ax)) == {"nothing frozen", "a prefix frozen", "blocks 3-4"}


def test_points_are_coloured_by_kind():
    for kind, container in (
        (c.get_label(), c) for c in plot_measured_vs_predicted(SweepResult(ROWS, SETUP)).containers
    ):
        np.testing.assert_allclose(
            to_rgba(container.lines[0].get_color()), to_rgba(KIND_COLOURS[NAME_KINDS[kind]])
        )


def test_error_bars_span_the_middle_half_of_the_rounds():
    rows = [
        replace(r, fraction_quartiles=(r.measured_fraction - 0.02, r.measured_fraction + 0.05))
        for r in ROWS
    ]
    ax = plot_measured_vs_predicted(SweepResult(rows, SETUP))
    container = next(c for c in ax.containers if c.get_label() == "a prefix frozen")
    segments = container.lines[2][0].get_segments()
    spans = sorted((round(seg[0][0], 6), round(seg[1][0], 6)) for seg in segments)
    assert spans == [(0.68, 0.75), (0.83, 0.9)]


def test_a_kind_without_rows_gets_no_points():
    prefix_only = [r for r in ROWS if r.kind == "prefix"]
    ax = plot_measured_vs_predicted(SweepResult(prefix_only, SETUP))
    assert set(filled(ax)) == {"a prefix frozen"}
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "a middle block frozen" not in legend and "nothing frozen" not in legend
    assert "a prefix frozen" in legend


def test_each_point_is_labelled_where_it_lies():
    ax = plot_measured_vs_predicted(SweepResult(ROWS, SETUP))
    notes = {a.get_text(): a.xy for a in ax.texts}
    assert notes == {
        "nothing frozen": (1.0, 1.0),
        "block1": (0.85, 0.8),
        "blocks 1-2": (0.7, 0.6),
        "block3 only": (0.95, 0.9),
    }


def test_diagonal_band_and_axes_that_never_clip_a_point():
    ax = plot_measured_vs_predicted(SweepResult(ROWS, SETUP), tolerance=0.25)
    (diagonal,) = [
        line for line in ax.lines if len(line.get_xdata()) == 2 and line.get_xdata()[0] == 0
    ]
    end = 1.1 * 1.03
    np.testing.assert_allclose(diagonal.get_xdata(), [0.0, end])
    (band,) = [c for c in ax.collections if isinstance(c, PolyCollection)]
    vertices = band.get_paths()[0].vertices
    at_end = vertices[np.isclose(vertices[:, 0], end), 1]
    assert at_end.min() == pytest.approx(end * 0.75)
    assert at_end.max() == pytest.approx(end * 1.25)
    assert band.get_label() == "±25% of the diagonal"
    # A step measured at 139 % of the fully trainable one stays on the axes.
    slow = [*ROWS, row("block2 only", "middle", 0.95, 1.39)]
    slow[-1] = replace(slow[-1], fraction_quartiles=(1.3, 1.5))
    ax = plot_measured_vs_predicted(SweepResult(slow, SETUP))
    assert ax.get_xlim()[1] >= 1.5 and ax.get_ylim()[1] >= 1.5


def test_labels_never_overlap_and_the_floor_is_marked():
    close = [row(f"mask {i}", "prefix", 0.9, 0.9 + i * 0.001) for i in range(6)]
    ax = plot_measured_vs_predicted(SweepResult(close, {**SETUP, "floor_share": 0.3}))
    heights = sorted(a.xyann[1] for a in ax.texts if a.get_text().startswith("mask"))
    assert min(b - a for a, b in itertools.pairwise(heights)) > 0.05
    assert any(list(line.get_xdata()) == [0.3, 0.3] for line in ax.lines)


def test_title_names_the_setup():
    title = plot_measured_vs_predicted(SweepResult(ROWS, SETUP)).get_title()
    assert title == "CPU (test box)\ntensorflow 2.x, batch 16, input "


def test_predictions_only_are_refused():
    predicted = [SweepRow("block1", "prefix", (), 0.8), SweepRow("none", "none", (), 1.0)]
    with pytest.raises(ValueError, match="predictions only"):
        plot_measured_vs_predicted(SweepResult(predicted, SETUP))
    partly = [ROWS[0], SweepRow("block1", "prefix", (), 0.8)]
    with pytest.raises(ValueError, match="measured rows"):
        plot_measured_vs_predicted(SweepResult(partly, SETUP))


def test_draws_into_a_given_axes():
    _, (left, right) = plt.subplots(1, 2)
    assert plot_measured_vs_predicted(SweepResult(ROWS, SETUP), ax=left) is left
    assert len(filled(left)) == 3 and not right.collections


SHARES = [
    BlockShare("block1", 1_000, 600, 0.1, 0.6),
    BlockShare("block2", 4_000, 300, 0.4, 0.3),
    BlockShare("", 5_000, 100, 0.5, 0.1),
]


def test_block_shares_two_bars_per_block_at_the_given_shares():
    ax = plot_block_shares(SHARES)
    assert len(ax.patches) == 6
    params, compute = ax.patches[:3], ax.patches[3:]
    assert [b.get_height() for b in params] == pytest.approx([0.1, 0.4, 0.5])
    assert [b.get_height() for b in compute] == pytest.approx([0.6, 0.3, 0.1])
    # Width 0.4: parameter bars span [p - 0.4, p], compute bars [p, p + 0.4].
    assert [b.get_x() for b in params] == pytest.approx([-0.4, 0.6, 1.6])
    assert [b.get_x() for b in compute] == pytest.approx([0.0, 1.0, 2.0])
    assert [b.get_width() for b in ax.patches] == pytest.approx([0.4] * 6)


def test_block_shares_ticks_legend_and_percent_axis():
    ax = plot_block_shares(SHARES)
    assert list(ax.get_xticks()) == [0, 1, 2]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["block1", "block2", "(other)"]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "share of parameters",
        "share of forward compute",
    ]
    formatter = ax.yaxis.get_major_formatter()
    assert formatter(0.25, 0) == "25%"
    assert formatter(1.0, 0) == "100%"
    assert ax.get_ylabel() == "share of the model's total"


def test_block_shares_draws_into_a_given_axes():
    _, (left, right) = plt.subplots(1, 2)
    assert plot_block_shares(SHARES[:2], ax=right) is right
    assert len(right.patches) == 4 and not left.patches


def test_mask_colours_are_not_the_backward_maps_colours():
    from freezelab.plotting import panel

    map_colours = {
        value.lower()
        for name, value in vars(panel).items()
        if name.endswith("_COLOUR") and isinstance(value, str)
    }
    assert map_colours and not map_colours & {c.lower() for c in KIND_COLOURS.values()}


def error_rows():
    quartiles = {"block1": (0.8, 0.9), "blocks 1-2": (0.65, 0.75), "block3 only": (0.9, 1.0)}
    return [
        replace(
            r,
            fraction_quartiles=quartiles.get(r.label, (1.0, 1.0)),
            adjusted_fraction=r.measured_fraction + 0.01,
        )
        for r in ROWS
    ]


def test_prediction_errors_one_row_per_mask_without_the_reference():
    ax = plot_prediction_errors(SweepResult(error_rows(), SETUP))
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == ["block3 only", "blocks 1-2", "block1"]  # top to bottom: first mask first


def test_prediction_errors_points_are_predicted_over_measured_minus_one():
    ax = plot_prediction_errors(SweepResult(error_rows(), SETUP))
    points = hollow_points(ax)
    # block1 sits at y = 2: FLOPs 0.8 / 0.85 - 1 below, terms 0.86 / 0.85 - 1 above.
    row1 = sorted(map(tuple, points[np.isclose(points[:, 1].round(), 2)]), key=lambda p: p[1])
    np.testing.assert_allclose(row1, [(0.8 / 0.85 - 1, 1.85), (0.86 / 0.85 - 1, 2.15)])


def test_prediction_error_bars_cross_zero_only_when_inside_the_middle_half():
    ax = plot_prediction_errors(SweepResult(error_rows(), SETUP))
    bars = {}
    for line in ax.lines:
        xs, ys = line.get_data()
        if len(set(np.round(ys, 6))) == 1 and len(xs) == 2:
            bars[round(float(ys[0]), 2)] = (float(xs[0]), float(xs[1]))
    # blocks 1-2 (y = 1): FLOPs 0.6 lies below its middle half 0.65-0.75, terms 0.71 inside it.
    np.testing.assert_allclose(bars[0.85], (0.6 / 0.75 - 1, 0.6 / 0.65 - 1))
    assert bars[0.85][1] < 0
    assert bars[1.15][0] < 0 < bars[1.15][1]


def test_a_fitted_mask_is_drawn_grey_and_named():
    from matplotlib.colors import to_hex

    ax = plot_prediction_errors(SweepResult(error_rows(), SETUP), fitted=["blocks 1-2"])
    grey = [line for line in ax.lines if to_hex(line.get_color()) == FITTED_COLOUR]
    # One bar: blocks 1-2's measured-terms bar at y = 1.15; its FLOP bar keeps its colour.
    assert [round(float(line.get_ydata()[0]), 2) for line in grey] == [1.15]
    assert "fitted, not predicted" in [t.get_text() for t in ax.get_legend().get_texts()]
    with pytest.raises(ValueError, match="Received"):
        plot_prediction_errors(SweepResult(error_rows(), SETUP), fitted=["blocks 1-9"])


def test_prediction_errors_refuse_rows_without_a_middle_half():
    with pytest.raises(ValueError, match="interleaved"):
        plot_prediction_errors(SweepResult(ROWS, SETUP))


def test_only_the_named_kinds_are_labelled():
    ax = plot_measured_vs_predicted(SweepResult(ROWS, SETUP), labelled_kinds=["prefix"])
    assert {a.get_text() for a in ax.texts if a.get_text() != " floor"} == {"block1", "blocks 1-2"}
    ax = plot_measured_vs_predicted(SweepResult(ROWS, SETUP), labelled_kinds=[])
    assert not [a for a in ax.texts if a.get_text() != " floor"]


def test_labelled_kinds_refuses_an_unknown_kind():
    with pytest.raises(ValueError, match="labelled_kinds"):
        plot_measured_vs_predicted(SweepResult(ROWS, SETUP), labelled_kinds=["start"])


def test_prediction_errors_legend_names_each_colour_present_outside_the_axes():
    ax = plot_prediction_errors(SweepResult(error_rows(), SETUP))
    legend = ax.get_legend()
    entries = {t.get_text(): h for t, h in zip(legend.get_texts(), legend.legend_handles)}
    assert set(entries) == {
        "FLOP model",
        "from measured terms",
        "a prefix frozen",
        "a middle block frozen",
    }
    assert to_rgba(entries["a prefix frozen"].get_color()) == to_rgba(KIND_COLOURS["prefix"])
    assert to_rgba(entries["a middle block frozen"].get_color()) == to_rgba(KIND_COLOURS["middle"])
    assert legend.get_bbox_to_anchor().x0 > ax.get_window_extent().x1  # right of the axes


def test_leader_lines_lie_above_the_markers_and_end_on_their_points():
    ax = plot_measured_vs_predicted(SweepResult(ROWS, SETUP))
    marker_zorder = max(c.lines[0].get_zorder() for c in ax.containers)
    for note in ax.texts:
        if note.get_text() == " floor":
            continue
        assert note.get_zorder() > marker_zorder
        assert note.arrowprops["shrinkB"] == 0  # the line reaches the point itself
        assert note.arrowprops["arrowstyle"] == "-|>"


def bar_styles(ax):
    """y of each error bar -> its line style."""
    styles = {}
    for line in ax.lines:
        xs, ys = line.get_data()
        if len(xs) == 2 and len(set(np.round(ys, 6))) == 1:
            styles[round(float(ys[0]), 2)] = line.get_linestyle()
    return styles


def test_prediction_error_bars_solid_only_when_inside_even_where_a_bar_touches_zero():
    rows = error_rows()
    # block1 (y = 2): FLOPs 0.8 on its lower quartile 0.8 (inside); terms just above 0.9 (outside).
    rows[1] = replace(rows[1], predicted_fraction=0.8, adjusted_fraction=0.9 * (1 + 1e-9))
    ax = plot_prediction_errors(SweepResult(rows, SETUP))
    styles = bar_styles(ax)
    assert styles[1.85] == "-" and styles[2.15] == ":"
    # blocks 1-2 (y = 1): FLOPs 0.6 below 0.65-0.75 (outside), terms 0.71 inside.
    assert styles[0.85] == ":" and styles[1.15] == "-"


def test_prediction_error_ticks_are_few_enough_to_read():
    rows = [replace(r, fraction_quartiles=(0.5, 0.5), adjusted_fraction=0.5) for r in error_rows()]
    rows[1] = replace(rows[1], predicted_fraction=0.55, measured_fraction=0.5)  # +10 %
    rows[2] = replace(rows[2], predicted_fraction=0.475, measured_fraction=0.5)  # -5 %
    ax = plot_prediction_errors(SweepResult(rows, SETUP))
    ax.figure.canvas.draw()
    low, high = ax.get_xlim()
    ticks = [t for t in ax.get_xticks() if low <= t <= high]
    assert 2 <= len(ticks) <= 5
    boxes = [
        t.get_window_extent() for t in ax.get_xticklabels() if t.get_visible() and t.get_text()
    ]
    assert all(a.x1 < b.x0 for a, b in itertools.pairwise(sorted(boxes, key=lambda b: b.x0)))


def test_a_fitted_mask_is_greyed_on_the_measured_against_predicted_plot_too():
    from matplotlib.colors import to_hex

    ax = plot_measured_vs_predicted(SweepResult(error_rows(), SETUP), fitted=["blocks 1-2"])
    containers = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
    grey = [c for c in containers if to_hex(c.lines[0].get_color()) == FITTED_COLOUR]
    # One filled point, blocks 1-2's terms prediction (0.71) at its measured 0.7, with its bar.
    assert len(grey) == 1
    np.testing.assert_allclose(grey[0].lines[0].get_xydata(), [[0.7, 0.71]])
    prefix = [c for c in containers if to_hex(c.lines[0].get_color()) == KIND_COLOURS["prefix"]]
    np.testing.assert_allclose(
        prefix[0].lines[0].get_xydata(), [[0.85, 0.86]]
    )  # block1 keeps its colour
    assert "fitted, not predicted" in [t.get_text() for t in ax.get_legend().get_texts()]
    plain = plot_measured_vs_predicted(SweepResult(error_rows(), SETUP))
    assert not any(
        to_hex(c.lines[0].get_color()) == FITTED_COLOUR
        for c in plain.containers
        if isinstance(c, ErrorbarContainer)
    )
    with pytest.raises(ValueError, match="Received"):
        plot_measured_vs_predicted(SweepResult(error_rows(), SETUP), fitted=["blocks 1-9"])
