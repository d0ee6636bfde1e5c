"""Tests for freezelab.widgets.panel_html: the panel's bars and backward map as HTML."""

import re

import pytest

from freezelab.plotting.panel import FLOW_COLOUR, FROZEN_COLOUR, IDLE_COLOUR, TRAINABLE_COLOUR
from freezelab.speed.readouts import BackwardStep, GroupParams, Readout
from freezelab.widgets.panel_html import backward_map_html, block_bars_html


def readout(groups, backward=(), relative_cost=0.75):
    trainable = sum(g.trainable_params for g in groups)
    frozen = sum(g.frozen_params for g in groups)
    return Readout(trainable, frozen, tuple(groups), tuple(backward), relative_cost, "hand-made")


def bar_widths(fragment: str, colour: str) -> list[int]:
    return [int(w) for w in re.findall(rf"width:(\d+)px;background:{colour}", fragment)]


def test_bars_share_one_scale_set_by_the_largest_block():
    groups = [GroupParams("block1", 100, 300), GroupParams("block5", 0, 800)]
    fragment = block_bars_html(readout(groups), width_px=400)
    # block5 (800 parameters) fills 400 px, so one px is 2 parameters.
    assert bar_widths(fragment, TRAINABLE_COLOUR) == [50, 0]
    assert bar_widths(fragment, FROZEN_COLOUR) == [150, 400]
    assert "100 / 400" in fragment and "0 / 800" in fragment


def test_backward_map_colours_each_layer_by_what_backprop_does():
    steps = [
        BackwardStep("conv_a", "block1", True, False, False),
        BackwardStep("conv_b", "block2", True, True, False),
        BackwardStep("pool", "block2", False, False, True),
        BackwardStep("dense", "head", True, True, True),
    ]
    fragment = backward_map_html(readout([], steps, relative_cost=0.25))
    cells = re.findall(r'title="([^"]+)" style="[^"]*width:(\d+)px[^"]*background:(#\w+)', fragment)
    assert cells == [
        ("conv_a: no backward pass", "14", IDLE_COLOUR),
        ("conv_b: weight-gradient computed", "14", TRAINABLE_COLOUR),
        ("pool: no weights (pooling): gradient passes through", "5", FLOW_COLOUR),
        ("dense: weight-gradient computed", "14", TRAINABLE_COLOUR),
    ]
    assert "<b>75.0%</b>" in fragment and "(hand-made)" in fragment
    assert "removed by this mask, predicted by the FLOP model:" in fragment


def test_names_are_escaped():
    groups = [GroupParams("<b>x</b>", 1, 1)]
    assert "&lt;b&gt;x&lt;/b&gt;" in block_bars_html(readout(groups))


def test_measured_vs_predicted_places_each_mask_by_its_fractions():
    from freezelab.widgets.panel_html import measured_vs_predicted_svg

    assert measured_vs_predicted_svg([]) == ""
    points = [("T:all", 1.0, 1.0), ("F:block1 T:block2,head", 0.6, 0.3)]
    svg = measured_vs_predicted_svg(points, current="F:block1 T:block2,head", size_px=124)
    # 124 px with 24 px padding: 76 px for 0..1.2, so 1.0 sits at 24 + 76 / 1.2.
    full = 24 + 76 / 1.2
    circles = re.findall(r'<circle cx="([\d.]+)" cy="([\d.]+)"', svg)
    assert [(float(x), float(y)) for x, y in circles] == [
        pytest.approx((full, 124 - full), abs=0.05),
        pytest.approx((24 + 76 * 0.5, 124 - (24 + 76 * 0.25)), abs=0.05),
    ]
    assert svg.count('stroke="#222"') == 1  # only the current mask is ringed
