"""Tests for freezelab.plotting.bn_arms: what is drawn against the numbers put in."""

import matplotlib.pyplot as plt
import numpy as np
import pytest

from freezelab.plotting.bn_arms import (
    plot_arms_by_step,
    plot_paired_arms,
    spread_offsets,
)

ARMS = {"updating": [0.5, 0.4, 0.6], "kept": [0.8, 0.7, 0.6], "frozen": [0.8, 0.7, 0.7]}


def test_spread_offsets_puts_equal_values_side_by_side():
    offsets = spread_offsets([0.1, 0.2, 0.1, 0.1], width=0.1)
    assert offsets[1] == 0.0
    assert offsets[[0, 2, 3]] == pytest.approx([-0.1, 0.0, 0.1])


def test_paired_arms_draws_each_seed_and_the_differences():
    figure = plot_paired_arms(
        ARMS, {"kept - updating": ("kept", "updating")}, title="t", chance=0.1
    )
    axis, diff_axis = figure.axes
    median_line = axis.lines[0]
    assert list(median_line.get_ydata()) == pytest.approx([0.5, 0.7, 0.7])
    seed_lines = [line for line in axis.lines if line.get_color() == "tab:blue"]
    assert [list(line.get_ydata()) for line in seed_lines] == [
        pytest.approx([0.5, 0.8, 0.8]),
        pytest.approx([0.4, 0.7, 0.7]),
        pytest.approx([0.6, 0.6, 0.7]),
    ]
    dots = [line for line in diff_axis.lines if line.get_marker() == "o"]
    assert sorted(dots[0].get_ydata()) == pytest.approx([0.0, 0.3, 0.3])
    # 2 of the 3 differences are above zero (one tie), said under the tick
    assert diff_axis.get_xticklabels()[0].get_text() == "kept - updating\n(2 of 3 > 0)"
    plt.close(figure)


def test_paired_arms_rejects_unknown_arms_and_unequal_lengths():
    with pytest.raises(ValueError, match="pairs must name"):
        plot_paired_arms(ARMS, {"x": ("kept", "missing")})
    with pytest.raises(ValueError, match="one length"):
        plot_paired_arms({"a": [0.1], "b": [0.1, 0.2]}, {"x": ("a", "b")})


def test_arms_by_step_draws_medians_and_the_share_left():
    by_arm = {
        "updating": [[0.2, 0.4, 0.3], [0.5, 0.6, 0.7]],
        "kept": [[0.6, 0.6, 0.8], [0.7, 0.7, 0.7]],
    }
    figure = plot_arms_by_step([10, 20], by_arm)
    (axis,) = figure.axes
    medians = [line for line in axis.lines if line.get_linestyle() == "-"]
    assert [list(line.get_ydata()) for line in medians] == [
        pytest.approx([0.3, 0.6]),
        pytest.approx([0.6, 0.7]),
    ]
    # the two arms sit side by side around each step count
    assert np.mean([medians[0].get_xdata()[0], medians[1].get_xdata()[0]]) == pytest.approx(10)
    labels = [label.get_text() for label in axis.get_xticklabels()]
    assert labels == [f"10\n0.99**10 = {0.99**10:.2f}", f"20\n0.99**20 = {0.99**20:.2f}"]
    assert "updating arm's moving averages" in axis.get_xlabel()
    plt.close(figure)


def test_arms_by_step_rejects_a_wrong_number_of_evaluations():
    with pytest.raises(ValueError, match="one entry per step count"):
        plot_arms_by_step([10, 20], {"a": [[0.1]]})
