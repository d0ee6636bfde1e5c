"""Tests for freezelab.plotting.timing: points and bars against the rows put in."""

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.collections import PathCollection, PolyCollection
from matplotlib.colors import to_rgba

from freezelab.plotting.timing import KIND_COLOURS, plot_block_shares, plot_measured_vs_predicted
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


def scatters(ax):
    return {c.get_label(): c for c in ax.collections if isinstance(c, PathCollection)}


def test_one_point_per_row_at_measured_and_predicted():
    ax = plot_measured_vs_predicted(SweepResult(ROWS, SETUP))
    points = scatters(ax)
    assert set(points) == {"none", "prefix", "middle"}
    np.testing.assert_allclose(points["none"].get_offsets(), [[1.0, 1.0]])
    np.testing.assert_allclose(points["prefix"].get_offsets(), [[0.85, 0.8], [0.7, 0.6]])
    np.testing.assert_allclose(points["middle"].get_offsets(), [[0.95, 0.9]])


def test_points_are_coloured_by_kind():
    points = scatters(plot_measured_vs_predicted(SweepResult(ROWS, SETUP)))
    for kind, colour in KIND_COLOURS.items():
        np.testing.assert_allclose(points[kind].get_facecolor()[0], to_rgba(colour))


def test_a_kind_without_rows_gets_no_points():
    prefix_only = [r for r in ROWS if r.kind == "prefix"]
    ax = plot_measured_vs_predicted(SweepResult(prefix_only, SETUP))
    assert set(scatters(ax)) == {"prefix"}
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "middle" not in legend and "none" not in legend and "prefix" in legend


def test_each_point_is_labelled_where_it_lies():
    ax = plot_measured_vs_predicted(SweepResult(ROWS, SETUP))
    notes = {a.get_text(): a.xy for a in ax.texts}
    assert notes == {
        "nothing frozen": (1.0, 1.0),
        "block1": (0.85, 0.8),
        "blocks 1-2": (0.7, 0.6),
        "block3 only": (0.95, 0.9),
    }


def test_diagonal_and_tolerance_band():
    ax = plot_measured_vs_predicted(SweepResult(ROWS, SETUP), tolerance=0.25)
    (diagonal,) = ax.lines
    np.testing.assert_allclose(diagonal.get_xdata(), [0.0, 1.1])
    np.testing.assert_allclose(diagonal.get_ydata(), [0.0, 1.1])
    (band,) = [c for c in ax.collections if isinstance(c, PolyCollection)]
    vertices = band.get_paths()[0].vertices
    at_end = vertices[np.isclose(vertices[:, 0], 1.1), 1]
    assert at_end.min() == pytest.approx(1.1 * 0.75)
    assert at_end.max() == pytest.approx(1.1 * 1.25)
    assert band.get_label() == "±25%"
    assert ax.get_xlim() == pytest.approx((0, 1.1))
    assert ax.get_ylim() == pytest.approx((0, 1.1))


def test_title_names_the_setup():
    title = plot_measured_vs_predicted(SweepResult(ROWS, SETUP)).get_title()
    assert title == "CPU (test box)\ntensorflow 2.x, batch 16"


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
    assert len(scatters(left)) == 3 and not right.collections


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


def test_block_shares_draws_into_a_given_axes():
    _, (left, right) = plt.subplots(1, 2)
    assert plot_block_shares(SHARES[:2], ax=right) is right
    assert len(right.patches) == 4 and not left.patches
