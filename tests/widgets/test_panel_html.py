"""Tests for freezelab.widgets.panel_html: the panel's bars and backward map as HTML."""

import re

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
        ("pool: frozen, gradient flows through", "5", FLOW_COLOUR),
        ("dense: weight-gradient computed", "14", TRAINABLE_COLOUR),
    ]
    assert "<b>75.0%</b>" in fragment and "(hand-made)" in fragment


def test_names_are_escaped():
    groups = [GroupParams("<b>x</b>", 1, 1)]
    assert "&lt;b&gt;x&lt;/b&gt;" in block_bars_html(readout(groups))
