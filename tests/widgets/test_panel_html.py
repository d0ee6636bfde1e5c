"""Tests for freezelab.widgets.panel_html: the panel's bars and backward map as HTML."""

import re

import pytest

from freezelab.plotting.panel import (
    FLOW_COLOUR,
    FROZEN_COLOUR,
    FROZEN_EDGE,
    IDLE_COLOUR,
    LOWEST_TRAINABLE_COLOUR,
    MAP_LEGEND,
    TRAINABLE_COLOUR,
)
from freezelab.speed.readouts import BackwardStep, GroupParams, Readout
from freezelab.widgets.panel_html import backward_map_html, block_bars_html, panel_snapshot_html


def readout(groups, backward=(), relative_cost=0.75):
    trainable = sum(g.trainable_params for g in groups)
    frozen = sum(g.frozen_params for g in groups)
    return Readout(trainable, frozen, tuple(groups), tuple(backward), relative_cost, "hand-made")


def bar_widths(fragment: str, colour: str) -> list[float]:
    """Each bar segment's width in percent of the bar (the largest block fills 100 %)."""
    return [
        float(w)
        for w in re.findall(
            rf'width:([\d.]+)%;border:1px solid [^;]+;background:{colour}"', fragment
        )
    ]


def test_bars_share_one_scale_set_by_the_largest_block():
    groups = [GroupParams("block1", 100, 300), GroupParams("block5", 0, 800)]
    fragment = block_bars_html(readout(groups), max_width_px=400)
    # block5 (800 parameters) fills the bar; block1's 100 trainable are an eighth of it.
    assert bar_widths(fragment, TRAINABLE_COLOUR) == [12.5]  # block5's empty part is not drawn
    assert bar_widths(fragment, FROZEN_COLOUR) == [37.5, 100]
    # The light grey frozen parts carry a darker border, and the legend names the scale.
    assert fragment.count(f"border:1px solid {FROZEN_EDGE};background:{FROZEN_COLOUR}") == 3
    assert "(bar length: parameters per block, relative to block5)" in fragment
    # The numbers say what they are (issue 25): trainable of total.
    assert "100 of 400 train" in fragment and "0 of 800 train" in fragment
    # No fixed pixel width that could push the numbers out of a narrow panel.
    assert re.findall(r"[^-]width:(\d+)px", fragment) == ["10", "10"]  # the legend's swatches
    assert fragment.count("max-width:400px") == 2


def cells(fragment: str) -> list[tuple[str, str, str]]:
    return re.findall(r'title="([^"]+)" style="[^"]*width:(\d+)px;[^"]*?(border:[^"]+)"', fragment)


def test_backward_map_colours_each_layer_by_what_backprop_does():
    steps = [
        BackwardStep("conv_a", "block1", True, False, False),
        BackwardStep("conv_b", "block2", True, True, False),
        BackwardStep("pool", "block2", False, False, True),
        BackwardStep("dense", "head", True, True, True),
    ]
    fragment = backward_map_html(readout([], steps, relative_cost=0.25))
    assert cells(fragment) == [
        (
            "conv_a: frozen: no backward work",
            "14",
            f"border:1px solid {FROZEN_EDGE};background:{IDLE_COLOUR}",
        ),
        (  # the lowest trainable layer: conv_a below it is frozen, so nothing is passed down
            "conv_b: trains, lowest: nothing passed down",
            "14",
            f"border:1px solid {TRAINABLE_COLOUR};background:{LOWEST_TRAINABLE_COLOUR}",
        ),
        (
            "pool: no weights (pooling): gradient passes through",
            "5",
            f"border:1px dashed {FLOW_COLOUR};background:#fff",
        ),
        (
            "dense: trains: weight-gradient computed",
            "14",
            f"border:1px solid {TRAINABLE_COLOUR};background:{TRAINABLE_COLOUR}",
        ),
    ]
    assert "<b>75.0%</b>" in fragment and "(hand-made)" in fragment
    assert "removed by this mask, predicted by the FLOP model:" in fragment


def test_backward_map_names_its_blocks_and_keeps_pooling_apart_from_frozen_layers():
    steps = [
        BackwardStep("block1_conv1", "block1", True, True, False),
        BackwardStep("block1_pool", "block1", False, False, True),
        BackwardStep("block2_conv1", "block2", True, False, True),
        BackwardStep("block2_pool", "block2", False, False, True),
        BackwardStep("dense", "head", True, True, True),
    ]
    fragment = backward_map_html(readout([], steps))
    labels = re.findall(r'class="fl-map-label"[^>]*>([^<]+)<', fragment)
    assert labels == ["block1", "block2", "head"]  # one label per block, input to output
    # Everything below block2_conv1 trains, so the pools pass the gradient on; the pools are
    # drawn apart from block2_conv1 (frozen, gradient flowing), in the map and in the legend.
    drawn = {title.split(":")[0]: background for title, _, background in cells(fragment)}
    assert drawn["block2_conv1"] == f"border:1px solid {FLOW_COLOUR};background:{FLOW_COLOUR}"
    assert drawn["block1_pool"] == drawn["block2_pool"] != drawn["block2_conv1"]
    legend = fragment[fragment.index("weight-gradient computed ·") :]
    assert "frozen: gradient passes through" in legend
    assert "no weights (pooling)" in legend
    assert drawn["block1_pool"] in legend  # the legend's swatch is the pools' own fill


def test_names_are_escaped():
    groups = [GroupParams("<b>x</b>", 1, 1)]
    assert "&lt;b&gt;x&lt;/b&gt;" in block_bars_html(readout(groups))


def test_measured_vs_predicted_places_each_mask_by_its_fractions():
    from freezelab.widgets.panel_html import measured_vs_predicted_svg

    assert measured_vs_predicted_svg([]) == ""
    points = [("T:all", 1.0, 1.0), ("F:block1 T:block2,head", 0.6, 0.3)]
    svg = measured_vs_predicted_svg(points, current="F:block1 T:block2,head", size_px=128)
    # 128 px, a 36 px margin for the axes' numbers and 8 px above: 84 px for 0..1.2,
    # so 1.0 sits 70 px from the origin at (36, 92).
    circles = re.findall(r'<circle cx="([\d.]+)" cy="([\d.]+)"', svg)
    assert [(float(x), float(y)) for x, y in circles] == [
        pytest.approx((36 + 70, 92 - 70), abs=0.05),
        pytest.approx((36 + 42, 92 - 21), abs=0.05),  # 0.6 and 0.3 of 1.2
    ]
    assert svg.count('stroke="#222"') == 1  # only the current mask is ringed
    ticks = re.findall(r'class="fl-tick"[^>]*>([^<]+)<', svg)
    assert ticks == ["0%", "0%", "50%", "50%", "100%", "100%"]  # both axes numbered
    assert "predicted, % of fully trainable step" in svg and "measured, %" in svg
    assert "above 100 %" not in svg and "fl-above-note" not in svg  # nothing to explain


def test_the_scatter_tells_the_reference_from_this_mask_where_they_overlap():
    from freezelab.widgets.panel_html import measured_vs_predicted_svg

    # The case: this mask at 99 % predicted, 96 % measured, on top of T:all's dot.
    points = [("T:all", 1.0, 1.0), ("F:block5_conv1", 0.99, 0.96), ("F:head", 0.9, 0.8)]
    html = measured_vs_predicted_svg(points, current="F:block5_conv1", size_px=128)
    # The reference is a larger hollow ring, so a dot on it still shows both.
    (ring,) = re.findall(r'<circle [^>]*r="7" fill="none"[^>]*>', html)
    assert f'stroke="{TRAINABLE_COLOUR}"' in ring
    assert html.count('r="4"') == 2  # this mask and the earlier one: filled dots
    (legend,) = re.findall(r'class="fl-scatter-legend"[^>]*>(.*?)</div>', html)
    words = re.findall(r"</span> ([^<]+)</span>", legend)
    assert words == ["fully trainable step (reference)", "this mask", "masks timed before"]
    alone = measured_vs_predicted_svg([("T:all", 1.0, 1.0)], current="T:all")
    assert re.findall(r"</span> ([^<]+)</span>", alone) == ["fully trainable step (reference)"]


def test_a_mask_measured_above_the_full_step_is_explained_where_it_is_drawn():
    from freezelab.widgets.panel_html import measured_vs_predicted_svg

    # The case: predicted 95 %, measured 139 % of the fully trainable step.
    svg = measured_vs_predicted_svg([("T:all", 1.0, 1.0), ("F:head", 0.95, 1.39)], size_px=128)
    (tip,) = re.findall(r'class="fl-off-scale"[^>]*><title>([^<]+)</title>', svg)
    assert tip.startswith("F:head: predicted 95%, measured 139% (above 100 %")
    assert "noise at this size" in tip
    assert ">139%</text>" in svg  # its value is written beside the edge marker
    (note,) = re.findall(r'class="fl-above-note"[^>]*>([^<]+)<', svg)  # under the plot
    assert note.startswith("Orange: measured above 100 %") and "timing noise" in note
    assert svg.count("<circle") == 1  # only T:all is a dot inside the scale


def test_map_legend_has_the_grey_dashed_pooling_swatch_and_the_cost_source_in_words():
    steps = [
        BackwardStep("conv_a", "block1", True, False, False),
        BackwardStep("pool", "block1", False, False, False),
        BackwardStep("dense", "head", True, True, True),
    ]
    fragment = backward_map_html(
        Readout(1, 1, (), tuple(steps), 0.5, "freezelab.speed.cost (rough estimate for X)")
    )
    grey_dashed = f"border:1px dashed {FROZEN_EDGE};background:#fff"
    # The grey dashed cell is used by a cell, and the legend has a swatch for it.
    legend = fragment[fragment.index("weight-gradient computed ·") :]
    assert grey_dashed in fragment.split("weight-gradient computed ·")[0]
    assert f'{grey_dashed}"></span> no weights (pooling): no backward work' in legend
    # The legend uses the matplotlib map's words, in its order; no stripes that
    # JupyterLab's sanitizer would strip.
    whole_legend = fragment[fragment.rindex('color:#555">') :]
    words = re.findall(r"</span> ([^·<]+?) ·", whole_legend)
    assert tuple(words) == MAP_LEGEND
    assert "repeating-linear-gradient" not in fragment
    assert "freezelab.speed.cost" not in fragment
    assert "(FLOP count, forward + backward per layer (rough estimate for X))" in fragment


def test_snapshot_shows_the_tick_meaning_and_the_code_for_the_mask():
    groups = {"block1": [("block1_conv1", False)], "head": [("dense", True)]}
    fragment = panel_snapshot_html(readout([]), groups, "F:block1 T:head", "small")
    assert "ticked = trains (<code>layer.trainable = True</code>); untick to freeze" in fragment
    assert "Code for this mask" in fragment
    code = fragment[fragment.index('<pre class="fl-code"') :]
    assert "trains = {&quot;dense&quot;}" in code and "model.compile(" in code


def test_code_box_states_the_rule_that_holds_on_every_backend():
    from freezelab.widgets.panel_html import mask_code_html

    box = mask_code_html({"block1_conv1": False, "dense": True})
    assert "compile() again with a fresh optimizer" in box
    # PyTorch reads the flags at every step: no claim that Keras fixes the set.
    assert "fixes the trainable set" not in box
