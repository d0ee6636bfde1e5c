"""Tests for freezelab.plotting.panel: the per-block bars against the counts put in."""

import matplotlib.pyplot as plt
import pytest
from matplotlib.colors import to_rgba

from freezelab.plotting.panel import FROZEN_COLOUR, TRAINABLE_COLOUR, plot_block_params
from freezelab.speed.readouts import GroupParams, PanelLayout, Readout

GROUPS = (
    GroupParams("block1", 0, 38_720),
    GroupParams("block2", 100_000, 121_440),
    GroupParams("head", 2_500_000, 0),
)


def readout(groups=GROUPS):
    trainable = sum(g.trainable_params for g in groups)
    frozen = sum(g.frozen_params for g in groups)
    return Readout(
        trainable_params=trainable,
        non_trainable_params=frozen,
        groups=groups,
        backward=(),
        relative_cost=0.5,
        cost_source="given",
    )


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def bars(ax):
    patches = list(ax.patches)
    half = len(patches) // 2
    return patches[:half], patches[half:]


def test_one_trainable_and_one_frozen_bar_per_group():
    ax = plot_block_params(readout())
    trained, frozen = bars(ax)
    assert len(ax.patches) == 2 * len(GROUPS)
    assert [b.get_width() for b in trained] == pytest.approx([0.0, 0.1, 2.5])
    assert [b.get_width() for b in frozen] == pytest.approx([0.03872, 0.12144, 0.0])


def test_frozen_bars_start_where_trainable_bars_end():
    trained, frozen = bars(plot_block_params(readout()))
    assert [b.get_x() for b in trained] == pytest.approx([0.0, 0.0, 0.0])
    assert [b.get_x() for b in frozen] == pytest.approx([0.0, 0.1, 2.5])
    for t, f in zip(trained, frozen):
        assert t.get_y() == pytest.approx(f.get_y())


def test_bar_ends_are_the_group_totals():
    _, frozen = bars(plot_block_params(readout()))
    ends = [f.get_x() + f.get_width() for f in frozen]
    assert ends == pytest.approx([38_720 / 1e6, 221_440 / 1e6, 2_500_000 / 1e6])


def test_groups_are_labelled_top_to_bottom_in_order():
    ax = plot_block_params(readout())
    trained, _ = bars(ax)
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == ["block1", "block2", "head"]
    assert ax.yaxis_inverted()
    # Inverted axis: the first group is drawn highest, i.e. at the smallest y.
    centres = [b.get_y() + b.get_height() / 2 for b in trained]
    assert centres == sorted(centres)


def test_bar_colours_and_legend():
    ax = plot_block_params(readout())
    trained, frozen = bars(ax)
    assert {b.get_facecolor() for b in trained} == {to_rgba(TRAINABLE_COLOUR)}
    assert {b.get_facecolor() for b in frozen} == {to_rgba(FROZEN_COLOUR)}
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["trainable", "frozen"]
    assert ax.get_xlabel() == "parameters (millions)"


def test_title_gives_the_trainable_share_and_total():
    # 2,600,000 of 2,760,160 parameters train: 94.2%.
    assert plot_block_params(readout()).get_title() == "94.2% of 2,760,160 parameters train"
    all_frozen = (GroupParams("block1", 0, 1_000), GroupParams("block2", 0, 3_000))
    assert plot_block_params(readout(all_frozen)).get_title() == "0.0% of 4,000 parameters train"


def test_draws_into_a_given_axes():
    _, (left, right) = plt.subplots(1, 2)
    ax = plot_block_params(readout(), ax=right)
    assert ax is right
    assert len(right.patches) == 6 and len(left.patches) == 0
    assert len(plt.get_fignums()) == 1


def test_new_figure_height_grows_with_the_groups():
    ax = plot_block_params(readout())
    assert tuple(ax.figure.get_size_inches()) == pytest.approx((6, 0.4 * 3 + 1))


def test_bars_of_a_real_layout_match_hand_counts(sequential):
    # demo_sequential: Dense(64) on 100 inputs, Dense(32), Dense(10), weights plus biases.
    params = {"dense_64": 100 * 64 + 64, "dense_32": 64 * 32 + 32, "dense_10": 32 * 10 + 10}
    mask = {"dense_64": False, "dense_32": True, "dense_10": True}
    ax = plot_block_params(PanelLayout(sequential).readout(mask))
    trained, frozen = bars(ax)
    assert [t.get_text() for t in ax.get_yticklabels()] == list(params)
    assert [t.get_width() * 1e6 for t in trained] == pytest.approx([0, 2080, 330])
    assert [f.get_width() * 1e6 for f in frozen] == pytest.approx([6464, 0, 0])
    assert ax.get_title() == f"{2410 / 8874:.1%} of 8,874 parameters train"
    assert sum(params.values()) == 8874
