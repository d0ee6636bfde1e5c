"""Tests for freezelab.plotting.training: curves, drift bars and filter pictures."""

import matplotlib.pyplot as plt
import numpy as np
import pytest

from freezelab.finetune.drift import LayerDrift
from freezelab.finetune.strategies import TrainingRun
from freezelab.plotting.training import plot_drift, plot_filters_before_after, plot_histories


def run(label, history=None, drift=()):
    return TrainingRun(
        strategy="freeze_blocks",
        label=label,
        history=history or {},
        seconds=1.0,
        trainable_params=10,
        drift=list(drift),
        weights="imagenet",
        preprocessing="caffe",
    )


HEAD_ONLY = run(
    "head only",
    {
        "accuracy": [0.5, 0.6, 0.7],
        "val_accuracy": [0.45, 0.55, 0.58],
        "loss": [1.2, 0.9, 0.7],
        "val_loss": [1.3, 1.0, 0.95],
    },
)
FULL = run(
    "full fine-tuning",
    {
        "accuracy": [0.4, 0.8, 0.9],
        "val_accuracy": [0.35, 0.6, 0.62],
        "loss": [1.5, 0.6, 0.3],
        "val_loss": [1.6, 1.1, 1.2],
    },
)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_histories_one_panel_per_metric():
    figure = plot_histories([HEAD_ONLY, FULL])
    assert len(figure.axes) == 2
    assert [axis.get_ylabel() for axis in figure.axes] == ["accuracy", "loss"]
    assert all(axis.get_xlabel() == "epoch" for axis in figure.axes)
    assert figure.axes[1].get_title().startswith("loss")
    only_loss = plot_histories([HEAD_ONLY], metrics=("loss",))
    assert len(only_loss.axes) == 1 and only_loss.axes[0].get_ylabel() == "loss"


def test_histories_curves_follow_the_recorded_values():
    figure = plot_histories([HEAD_ONLY, FULL])
    for axis, metric in zip(figure.axes, ("accuracy", "loss")):
        lines = axis.get_lines()
        assert len(lines) == 4  # training and validation, for each of the two runs
        for index, training_run in enumerate((HEAD_ONLY, FULL)):
            train, val = lines[2 * index], lines[2 * index + 1]
            np.testing.assert_array_equal(train.get_xdata(), [1, 2, 3])
            np.testing.assert_array_equal(val.get_xdata(), [1, 2, 3])
            np.testing.assert_allclose(train.get_ydata(), training_run.history[metric])
            np.testing.assert_allclose(val.get_ydata(), training_run.history[f"val_{metric}"])


def test_histories_training_dashed_validation_solid_one_colour_per_run():
    lines = plot_histories([HEAD_ONLY, FULL]).axes[0].get_lines()
    assert [line.get_linestyle() for line in lines] == ["--", "-", "--", "-"]
    assert [line.get_marker() for line in lines[1::2]] == ["o", "o"]
    assert lines[0].get_color() == lines[1].get_color()
    assert lines[2].get_color() == lines[3].get_color()
    assert lines[0].get_color() != lines[2].get_color()


def test_histories_legend_names_each_run_once_on_the_first_panel():
    figure = plot_histories([HEAD_ONLY, FULL])
    legend = figure.axes[0].get_legend()
    assert [t.get_text() for t in legend.get_texts()] == ["head only", "full fine-tuning"]
    assert figure.axes[1].get_legend() is None


def test_histories_refuse_no_runs_and_missing_metrics():
    with pytest.raises(ValueError, match="at least one run"):
        plot_histories([])
    with pytest.raises(ValueError, match="'head only' has no \\['top5', 'val_top5'\\]"):
        plot_histories([HEAD_ONLY], metrics=("accuracy", "top5"))


def test_histories_refuse_a_missing_validation_metric():
    no_val = run("no validation", {"accuracy": [0.5, 0.6], "loss": [1.0, 0.8]})
    with pytest.raises(ValueError, match="val_accuracy"):
        plot_histories([no_val])


NAMES = ["block1_conv1", "block5_conv3", "predictions"]
FROZEN_BASE = run(
    "frozen base",
    drift=[
        LayerDrift("block1_conv1", "block1", 0.0, False),
        LayerDrift("block5_conv3", "block5", 0.0, False),
        LayerDrift("predictions", "head", 0.8, True),
    ],
)
TRAIN_ALL = run(
    "train all",
    drift=[
        LayerDrift("block1_conv1", "block1", 0.002, True),
        LayerDrift("block5_conv3", "block5", 0.05, True),
        LayerDrift("predictions", "head", 1.5, True),
    ],
)


def test_drift_bar_heights_are_the_relative_changes():
    axis = plot_drift([FROZEN_BASE, TRAIN_ALL]).axes[0]
    assert len(axis.patches) == 6
    heights = [bar.get_height() for bar in axis.patches]
    assert heights[:3] == pytest.approx([0.0, 0.0, 0.8])
    assert heights[3:] == pytest.approx([0.002, 0.05, 1.5])


def test_drift_bars_sit_side_by_side_under_their_layer():
    axis = plot_drift([FROZEN_BASE, TRAIN_ALL]).axes[0]
    # Two runs: width 0.4, run 0 centred on 0, 1, 2 and run 1 on 0.4, 1.4, 2.4.
    assert [bar.get_width() for bar in axis.patches] == pytest.approx([0.4] * 6)
    lefts = [bar.get_x() for bar in axis.patches]
    assert lefts == pytest.approx([-0.2, 0.8, 1.8, 0.2, 1.2, 2.2])
    assert list(axis.get_xticks()) == pytest.approx([0.2, 1.2, 2.2])
    assert [t.get_text() for t in axis.get_xticklabels()] == NAMES


def test_drift_layer_missing_from_a_later_run_gets_zero():
    partial = run("head only", drift=[LayerDrift("predictions", "head", 0.3, True)])
    axis = plot_drift([TRAIN_ALL, partial]).axes[0]
    assert [bar.get_height() for bar in axis.patches[3:]] == pytest.approx([0.0, 0.0, 0.3])


def test_drift_one_run_fills_the_slot():
    axis = plot_drift([TRAIN_ALL]).axes[0]
    assert [bar.get_width() for bar in axis.patches] == pytest.approx([0.8] * 3)
    assert list(axis.get_xticks()) == pytest.approx([0.0, 1.0, 2.0])


def test_drift_axes_labels_legend_and_title():
    figure = plot_drift([FROZEN_BASE, TRAIN_ALL], title="drift after 6 epochs")
    axis = figure.axes[0]
    assert axis.get_yscale() == "symlog"
    assert axis.get_ylabel() == "relative change"
    assert axis.get_title() == "drift after 6 epochs"
    assert [t.get_text() for t in axis.get_legend().get_texts()] == ["frozen base", "train all"]
    assert "||W1 - W0||" in plot_drift([TRAIN_ALL]).axes[0].get_title()


def test_drift_refuses_no_runs():
    with pytest.raises(ValueError, match="at least one run"):
        plot_drift([])


def test_filters_before_on_top_after_below():
    rng = np.random.default_rng(0)
    before = rng.uniform(size=(4, 3, 3, 3))
    after = rng.uniform(size=(4, 3, 3, 3))
    figure = plot_filters_before_after(before, after, title="block1_conv1")
    assert len(figure.axes) == 8
    top, bottom = figure.axes[:4], figure.axes[4:]
    for column in range(4):
        np.testing.assert_array_equal(top[column].images[0].get_array(), before[column])
        np.testing.assert_array_equal(bottom[column].images[0].get_array(), after[column])
    assert top[0].get_ylabel() == "before" and bottom[0].get_ylabel() == "after"
    assert all(not axis.get_xticks().size and not axis.get_yticks().size for axis in figure.axes)
    assert figure.get_suptitle() == "block1_conv1"


def test_filters_single_filter_still_makes_two_rows():
    picture = np.full((1, 2, 2, 3), 0.25)
    figure = plot_filters_before_after(picture, 1.0 - picture)
    assert len(figure.axes) == 2
    np.testing.assert_allclose(figure.axes[1].images[0].get_array(), 0.75)


def test_filters_of_different_shapes_are_refused():
    with pytest.raises(ValueError, match=r"\(2, 3, 3, 3\) and \(3, 3, 3, 3\)"):
        plot_filters_before_after(np.zeros((2, 3, 3, 3)), np.zeros((3, 3, 3, 3)))
