"""Tests for freezelab.plotting.panel: the per-block bars against the counts put in, and the
backward-cost map's cells against masks whose backward work is written out by hand."""

import matplotlib.pyplot as plt
import pytest
from matplotlib.colors import to_rgba

from freezelab.plotting.panel import (
    FLOW_COLOUR,
    FROZEN_COLOUR,
    IDLE_COLOUR,
    LOWEST_TRAINABLE_COLOUR,
    MAP_LEGEND,
    TRAINABLE_COLOUR,
    WEIGHTED_WIDTH,
    WEIGHTLESS_WIDTH,
    backward_cell_kind,
    plot_backward_map,
    plot_block_params,
)
from freezelab.speed.readouts import BackwardStep, GroupParams, PanelLayout, Readout

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
    assert plot_block_params(readout()).get_title() == (
        "94.2% of 2,760,160 parameters train (counted, exact)"
    )
    all_frozen = (GroupParams("block1", 0, 1_000), GroupParams("block2", 0, 3_000))
    assert plot_block_params(readout(all_frozen)).get_title() == (
        "0.0% of 4,000 parameters train (counted, exact)"
    )


def test_longest_bar_stays_clear_of_the_right_edge():
    ax = plot_block_params(readout())
    _, frozen = bars(ax)
    longest = max(f.get_x() + f.get_width() for f in frozen)
    assert ax.get_xlim()[1] > longest * 1.05


def test_frozen_bars_use_the_backward_maps_grey():
    _, frozen = bars(plot_block_params(readout()))
    assert {b.get_facecolor() for b in frozen} == {to_rgba(IDLE_COLOUR)}


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
    assert ax.get_title() == f"{2410 / 8874:.1%} of 8,874 parameters train (counted, exact)"
    assert sum(params.values()) == 8874


# --- plot_backward_map ---------------------------------------------------------------------------

CONV, POOL = True, False


def step(name, group, has_weights, weight_grad, flows):
    return BackwardStep(name, group, has_weights, weight_grad, flows)


def map_readout(steps, relative_cost=0.6):
    return Readout(
        trainable_params=1,
        non_trainable_params=1,
        groups=(),
        backward=tuple(steps),
        relative_cost=relative_cost,
        cost_source="given",
    )


# A frozen middle: block1 trains, block2 is frozen and passes the gradient down, block3 trains.
# A frozen prefix: blocks 1-2 frozen, no backward work below block3.
MIDDLE = (
    step("block1_conv1", "block1", CONV, True, False),
    step("block1_pool", "block1", POOL, False, True),
    step("block2_conv1", "block2", CONV, False, True),
    step("block2_pool", "block2", POOL, False, True),
    step("block3_conv1", "block3", CONV, True, True),
)
PREFIX = (
    step("block1_conv1", "block1", CONV, False, False),
    step("block1_pool", "block1", POOL, False, False),
    step("block2_conv1", "block2", CONV, False, False),
    step("block2_pool", "block2", POOL, False, False),
    step("block3_conv1", "block3", CONV, True, False),
)


def cells(ax):
    from matplotlib.patches import Rectangle

    return [p for p in ax.patches if isinstance(p, Rectangle)]


def test_one_cell_per_layer_per_mask_in_layer_order():
    ax = plot_backward_map({"middle": map_readout(MIDDLE), "prefix": map_readout(PREFIX)})
    drawn = cells(ax)
    assert len(drawn) == 2 * len(MIDDLE)
    assert [c.get_label() for c in drawn] == [s.name for s in MIDDLE] * 2
    lefts = [c.get_x() for c in drawn[: len(MIDDLE)]]
    assert lefts == sorted(lefts)  # input on the left, output on the right


def test_cell_colours_follow_the_backward_rule():
    ax = plot_backward_map({"middle": map_readout(MIDDLE), "prefix": map_readout(PREFIX)})
    drawn = cells(ax)
    middle, prefix = drawn[:5], drawn[5:]
    # Independent truth, written out by hand from the steps above.
    # block1_conv1 trains but nothing trainable lies below it: the lowest trainable layer.
    assert [c.get_facecolor() for c in middle] == [
        to_rgba(LOWEST_TRAINABLE_COLOUR),
        to_rgba("white"),
        to_rgba(FLOW_COLOUR),
        to_rgba("white"),
        to_rgba(TRAINABLE_COLOUR),
    ]
    assert [c.get_facecolor() for c in prefix] == [
        to_rgba(IDLE_COLOUR),
        to_rgba("white"),
        to_rgba(IDLE_COLOUR),
        to_rgba("white"),
        to_rgba(LOWEST_TRAINABLE_COLOUR),  # block3_conv1, above a frozen prefix
    ]
    assert middle[0].get_edgecolor() == middle[4].get_edgecolor() == to_rgba(TRAINABLE_COLOUR)
    # Pooling cells: hatched, their outline says whether the gradient passes through.
    assert middle[1].get_edgecolor() == to_rgba(FLOW_COLOUR)
    assert prefix[1].get_edgecolor() != to_rgba(FLOW_COLOUR)


def test_weightless_layers_are_narrow_and_hatched_unlike_frozen_layers():
    drawn = cells(plot_backward_map(map_readout(PREFIX)))
    widths = [c.get_width() for c in drawn]
    assert widths == pytest.approx([WEIGHTED_WIDTH, WEIGHTLESS_WIDTH] * 2 + [WEIGHTED_WIDTH])
    assert WEIGHTLESS_WIDTH < WEIGHTED_WIDTH
    assert [bool(c.get_hatch()) for c in drawn] == [False, True, False, True, False]
    frozen_conv, pool = drawn[0], drawn[1]
    assert frozen_conv.get_facecolor() != pool.get_facecolor()


def test_kinds_and_legend():
    kinds = [backward_cell_kind(s) for s in MIDDLE + PREFIX]
    assert kinds == [
        "trains, lowest: nothing passed down",
        "no weights (pooling): gradient passes through",
        "frozen: gradient passes through",
        "no weights (pooling): gradient passes through",
        "trains: weight-gradient computed",
        "frozen: no backward work",
        "no weights (pooling): no backward work",
        "frozen: no backward work",
        "no weights (pooling): no backward work",
        "trains, lowest: nothing passed down",
    ]
    ax = plot_backward_map(map_readout(MIDDLE))
    assert tuple(t.get_text() for t in ax.get_legend().get_texts()) == MAP_LEGEND


def test_block_boundaries_sit_between_blocks_and_blocks_are_named():
    ax = plot_backward_map(map_readout(MIDDLE))
    drawn = cells(ax)
    boundaries = sorted(line.get_xdata()[0] for line in ax.get_lines())
    # After block1_pool (index 1) and block2_pool (index 3), in the gap before the next cell.
    for boundary, (before, after) in zip(boundaries, [(1, 2), (3, 4)]):
        assert drawn[before].get_x() + drawn[before].get_width() < boundary < drawn[after].get_x()
    assert len(boundaries) == 2
    top = ax.child_axes[0] if ax.child_axes else None
    assert top is not None
    assert [t.get_text() for t in top.get_xticklabels()] == ["block1", "block2", "block3"]
    assert [t.get_text() for t in ax.get_xticklabels()] == [
        "conv1",
        "pool",
        "conv1",
        "pool",
        "conv1",
    ]


def test_rows_are_labelled_with_mask_and_predicted_saving_top_to_bottom():
    ax = plot_backward_map({"A": map_readout(MIDDLE, 0.8), "B": map_readout(PREFIX, 0.575)})
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == [
        "A\npredicted: removes 20.0%\nof step FLOPs",
        "B\npredicted: removes 42.5%\nof step FLOPs",
    ]
    drawn = cells(ax)
    assert drawn[0].get_y() < drawn[5].get_y() and ax.yaxis_inverted()


def test_a_real_vgg_mask_matches_the_panel_rule(small_vgg_flat):
    layout = PanelLayout(small_vgg_flat)
    mask = layout.freeze_first_blocks(3)
    ax = plot_backward_map({"blocks 1-3": layout.readout(mask)})
    drawn = {c.get_label(): c for c in cells(ax)}
    # Frozen prefix: grey; block4 trains: green; pools above block4 pass the gradient.
    assert drawn["block2_conv1"].get_facecolor() == to_rgba(IDLE_COLOUR)
    assert drawn["block3_pool"].get_edgecolor() != to_rgba(FLOW_COLOUR)
    # block4_conv1 trains but passes nothing down (its input-gradient would reach frozen layers
    # only); block4_conv2 passes the gradient to it.
    assert drawn["block4_conv1"].get_facecolor() == to_rgba(LOWEST_TRAINABLE_COLOUR)
    assert drawn["block4_conv2"].get_facecolor() == to_rgba(TRAINABLE_COLOUR)
    assert drawn["block4_pool"].get_edgecolor() == to_rgba(FLOW_COLOUR)
    assert "input_layer" not in drawn


def test_bad_input_is_rejected():
    with pytest.raises(ValueError, match="non-empty mapping"):
        plot_backward_map({})
    with pytest.raises(ValueError, match="same layers"):
        plot_backward_map({"a": map_readout(MIDDLE), "b": map_readout(MIDDLE[:3])})


def test_draws_into_a_given_axes_for_the_map():
    _, (left, right) = plt.subplots(1, 2)
    assert plot_backward_map(map_readout(MIDDLE), ax=right) is right
    assert len(left.patches) == 0 and len(cells(right)) == 5
