"""Tests for freezelab.widgets.freeze_panel: ticks reach the model and the readouts."""

import random
import time

import keras
import numpy as np
import pytest

from freezelab.core.compile_guard import compile_status
from freezelab.core.freezing import freeze, get_mask
from freezelab.core.models import load_vgg16, with_head
from freezelab.widgets.freeze_panel import FreezePanel, freeze_panel
from tests.support.helpers import keras_counts


def trains_in_keras(model):
    """Names of layers whose weights Keras itself would train."""
    trainable_ids = {id(w) for w in model.trainable_weights}
    names = set()
    for layer in model._flatten_layers(include_self=False):
        is_leaf = layer.weights and not isinstance(layer, keras.Model)
        if is_leaf and any(id(w) in trainable_ids for w in layer.weights):
            names.add(layer.name)
    return names


def assert_consistent(panel):
    """Ticks, model flags and the readout agree with Keras's weight lists."""
    ticked = {name for name, flag in panel.mask.items() if flag}
    assert trains_in_keras(panel.model) == ticked
    readout = panel.readout
    assert (readout.trainable_params, readout.non_trainable_params) == keras_counts(panel.model)
    shown = int(panel.trainable_count.value.strip("<b>/").replace(",", ""))
    assert shown == readout.trainable_params


def test_ticking_a_layer_freezes_it_and_updates_the_count(small_vgg_flat):
    panel = freeze_panel(small_vgg_flat, timer=None)
    before, _ = keras_counts(small_vgg_flat)
    panel.checkboxes["block5_conv2"].value = False
    kernel, bias = small_vgg_flat.get_layer("block5_conv2").weights
    assert not small_vgg_flat.get_layer("block5_conv2").trainable
    assert keras_counts(small_vgg_flat)[0] == before - int(np.prod(kernel.shape)) - int(
        np.prod(bias.shape)
    )
    assert_consistent(panel)
    assert panel.group_toggles["block5"].value is False
    assert panel.text_box.value == "F:block5_conv2 T:block1-4,block5_conv1,block5_conv3,head"


def test_group_toggle_sets_the_whole_block(small_vgg_flat):
    panel = freeze_panel(small_vgg_flat, timer=None)
    panel.group_toggles["block3"].value = False
    assert [
        panel.checkboxes[n].value for n in ("block3_conv1", "block3_conv2", "block3_conv3")
    ] == [False] * 3
    assert_consistent(panel)
    panel.group_toggles["block3"].value = True
    assert all(panel.mask.values())
    assert_consistent(panel)


def test_burst_of_rapid_toggles_ends_consistent(small_vgg_flat):
    panel = freeze_panel(small_vgg_flat, timer=None)
    rng = random.Random(0)
    expected = dict(panel.mask)
    names = list(expected)
    for _ in range(300):
        if rng.random() < 0.15:
            group = rng.choice(list(panel.group_toggles))
            value = not panel.group_toggles[group].value
            panel.group_toggles[group].value = value
            expected.update({n: value for n in panel.layout.groups[group]})
        else:
            name = rng.choice(names)
            expected[name] = not expected[name]
            panel.checkboxes[name].value = expected[name]
    assert panel.mask == expected
    assert_consistent(panel)


def test_mask_is_read_and_set_from_code_and_text(small_vgg_flat):
    panel = freeze_panel(small_vgg_flat, timer=None)
    panel.set_mask("F:block1-3 T:block4-5,head")
    assert [n for n, f in panel.mask.items() if not f] == [
        "block1_conv1", "block1_conv2", "block2_conv1", "block2_conv2",
        "block3_conv1", "block3_conv2", "block3_conv3",
    ]  # fmt: skip
    assert_consistent(panel)
    text = panel.mask_text
    panel.set_mask({"block4_conv1": False})
    assert panel.mask_text != text
    panel.set_mask(text)
    assert panel.mask_text == "F:block1-3 T:block4-5,head"
    assert_consistent(panel)


def test_bad_masks_change_nothing(small_vgg_flat):
    panel = freeze_panel(small_vgg_flat, timer=None)
    with pytest.raises(ValueError, match="Received"):
        panel.set_mask({"block9_conv1": False})
    with pytest.raises(ValueError, match="True or False"):
        panel.set_mask({"block1_conv1": 0})
    with pytest.raises(ValueError, match="Unknown layer or block"):
        panel.set_mask("F:block7 T:all")
    assert all(panel.mask.values())
    panel.text_box.value = "F:nonsense T:all"
    assert "Unknown layer or block" in panel.message.value
    assert all(panel.mask.values())
    assert_consistent(panel)


def test_presets_and_slider(small_vgg_flat):
    panel = freeze_panel(small_vgg_flat, timer=None)
    buttons = {
        b._dom_classes[0]: b for b in panel.widget.children[1].children if hasattr(b, "click")
    }
    buttons["fl-preset-head"].click()
    assert trains_in_keras(small_vgg_flat) == {"head_dense_1", "predictions"}
    buttons["fl-preset-all"].click()
    assert all(panel.mask.values())
    panel.checkboxes["predictions"].value = False
    buttons["fl-preset-base"].click()
    assert trains_in_keras(small_vgg_flat) == {"head_dense_1"}
    assert panel.has_block_menu
    panel.block_slider.value = 4
    assert {n for n, f in panel.mask.items() if f} == {
        "block5_conv1", "block5_conv2", "block5_conv3", "head_dense_1", "predictions",
    }  # fmt: skip
    assert_consistent(panel)


def test_unfreezing_inside_a_frozen_nested_base():
    base = load_vgg16(weights=None, input_size=32, verbose=False)
    model = with_head(base, (8, 2), nested=True)
    base.trainable = False
    panel = freeze_panel(model, timer=None)
    assert {n for n, f in panel.mask.items() if f} == {"head_dense_1", "predictions"}
    panel.checkboxes["block5_conv3"].value = True
    assert trains_in_keras(model) == {"block5_conv3", "head_dense_1", "predictions"}
    assert_consistent(panel)


def test_frozen_top_level_model_opens_only_the_ticked_layer(sequential):
    sequential.trainable = False
    panel = freeze_panel(sequential, timer=None)
    assert not any(panel.mask.values())
    panel.checkboxes["dense_32"].value = True
    assert trains_in_keras(sequential) == {"dense_32"}
    assert_consistent(panel)


def test_model_without_vgg_blocks_gets_one_row_per_layer(sequential):
    panel = freeze_panel(sequential, timer=None)
    assert list(panel.checkboxes) == ["dense_64", "dense_32", "dense_10"]
    assert panel.group_toggles == {}
    assert not hasattr(panel, "block_slider")
    assert not panel.has_block_menu
    panel.checkboxes["dense_64"].value = False
    assert_consistent(panel)


def test_model_without_weights_shows_a_message():
    inputs = keras.Input((8, 8, 3))
    model = keras.Model(inputs, keras.layers.MaxPooling2D()(inputs))
    panel = freeze_panel(model, timer=None)
    assert panel.mask == {}
    assert "fl-no-weights" in panel.widget._dom_classes
    assert "no layers with weights" in panel.widget.value


def test_recompile_badge_and_button(sequential):
    sequential.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    x, y = np.zeros((4, 100), "float32"), np.zeros((4,), "int32")
    sequential.fit(x, y, epochs=1, verbose=0)
    panel = freeze_panel(sequential, timer=None)
    assert "in sync" in panel.badge.value
    panel.checkboxes["dense_64"].value = False
    assert compile_status(sequential).needs_recompile
    assert "recompile needed" in panel.badge.value
    old_optimizer = sequential.optimizer
    panel.recompile_button.click()
    assert sequential.optimizer is not old_optimizer
    assert not compile_status(sequential).needs_recompile
    assert "in sync" in panel.badge.value
    before = sequential.get_layer("dense_64").get_weights()[0].copy()
    sequential.fit(x + 1, y, epochs=1, verbose=0)
    np.testing.assert_array_equal(sequential.get_layer("dense_64").get_weights()[0], before)


def test_time_button_calls_the_timer_with_the_ticked_mask(sequential):
    calls = []

    def fake_timer(model, mask=None, batch_size=8):
        calls.append((model, dict(mask), batch_size))
        return "12.5 ms per step (fake)"

    panel = FreezePanel(sequential, timer=fake_timer, timing_batch_size=4)
    panel.checkboxes["dense_32"].value = False
    panel.time_button.click()
    assert panel.job.wait(30)
    assert calls == [(sequential, {"dense_64": True, "dense_32": False, "dense_10": True}, 4)]
    assert "12.5 ms per step (fake)" in panel.timing.value


def test_default_timer_times_a_copy_in_the_background(sequential):
    panel = freeze_panel(sequential, timing_batch_size=4)
    assert panel.live_timer is not None
    panel.checkboxes["dense_64"].value = False
    mask = dict(panel.mask)
    panel.time_button.click()
    assert panel.job.wait(120)
    assert panel.job.last_error is None
    # The learner's model kept its flags; the copy was timed.
    assert get_mask(sequential) == mask
    timer = panel.live_timer
    measured = timer.measurements[panel.mask_text]
    assert measured.steps >= 3 and measured.median_ms > 0
    assert timer.reference is not None and timer.reference.steps >= 3
    assert "measured:" in panel.timing.value and "ms/step" in panel.timing.value
    assert "<circle" in panel.live_plot.value


def test_after_cancel_live_timing_says_it_was_cancelled_not_switched_off(sequential):
    panel = freeze_panel(sequential, timing_batch_size=4)
    timer = panel.live_timer
    measure = timer.measure

    def cancelled_at_once(*args, **kwargs):
        panel.job.cancel()  # as if the learner pressed Cancel: the next report stops the run
        return measure(*args, **kwargs)

    timer.measure = cancelled_at_once
    panel.live_toggle.value = True
    assert panel.job.wait(60)
    assert panel.job.status.value == "cancelled"
    assert panel.live_toggle.value  # live timing is still on ...
    text = panel.timing.value
    assert "measured: not yet (timing cancelled" in text  # ... and the readout says why
    assert "switch live timing on" not in text


def test_panel_follows_changes_made_in_code(small_vgg_flat):
    panel = freeze_panel(small_vgg_flat, timer=None)
    freeze(small_vgg_flat, "block5")  # another cell, not the panel
    panel.refresh()
    assert not any(panel.mask[f"block5_conv{i}"] for i in (1, 2, 3))
    assert (panel.readout.trainable_params, panel.readout.non_trainable_params) == keras_counts(
        small_vgg_flat
    )
    small_vgg_flat.trainable = False
    panel.checkboxes["block5_conv1"].value = True  # the next interaction picks the change up
    assert trains_in_keras(small_vgg_flat) == {"block5_conv1"}
    assert {name for name, trains in panel.mask.items() if trains} == {"block5_conv1"}
    assert_consistent(panel)


def test_leading_blocks_menu_reflects_the_mask(small_vgg_flat):
    panel = freeze_panel(small_vgg_flat, timer=None)
    assert panel.block_slider.value == 0
    panel.set_mask("F:block1-4 T:block5,head")
    assert panel.block_slider.value == 4
    panel.checkboxes["block3_conv1"].value = True
    assert panel.block_slider.value == "custom"  # not a frozen prefix of whole blocks
    assert panel.block_slider.label == "custom"
    panel.block_slider.value = 4  # the same k as before now applies again
    assert panel.mask_text == "F:block1-4 T:block5,head"


def test_leading_blocks_menu_reads_custom_after_any_single_tick(small_vgg_flat):
    panel = freeze_panel(small_vgg_flat, timer=None, follow_interval=None)
    assert (panel.block_slider.value, panel.block_slider.label) == (0, "none")
    # Every VGG block and the head hold two or more layers with weights, so one frozen layer
    # is never a frozen prefix of whole blocks: the menu must read "custom", not go blank.
    for name in panel.checkboxes:
        panel.set_mask("T:all")
        panel.checkboxes[name].value = False
        assert panel.block_slider.index == 0, name
        assert (panel.block_slider.value, panel.block_slider.label) == ("custom", "custom"), name
    panel.set_mask("F:block1-2 T:block3-5,head")
    assert (panel.block_slider.value, panel.block_slider.label) == (2, "block1-2")
    panel.block_slider.value = "custom"  # choosing "custom" by hand changes no flag
    assert panel.mask_text == "F:block1-2 T:block3-5,head"


def test_a_result_for_another_mask_is_marked_stale(sequential):
    panel = FreezePanel(sequential, timer=lambda model, mask, batch_size: "9.0 ms/step")
    panel.time_button.click()
    assert panel.job.wait(30)
    assert "9.0 ms/step" in panel.timing.value and "stale" not in panel.timing.value
    panel.checkboxes["dense_64"].value = False
    assert "stale: timed T:all" in panel.timing.value
    panel.checkboxes["dense_64"].value = True
    assert "stale" not in panel.timing.value


def test_an_error_in_the_timer_is_shown_in_the_panel(sequential):
    def failing_timer(model, mask, batch_size):
        raise RuntimeError("out of memory on GPU:0")

    panel = FreezePanel(sequential, timer=failing_timer)
    panel.time_button.click()
    assert panel.job.wait(30)
    assert "out of memory on GPU:0" in panel.job.status.value
    assert not panel.time_button.disabled


def test_saved_view_has_a_readable_line_and_the_widget(sequential):
    panel = freeze_panel(sequential, timer=None)
    data = panel._repr_mimebundle_()
    data = data[0] if isinstance(data, tuple) else data
    assert data["text/plain"].startswith(
        f"Freeze panel for {sequential.name}: needs a running kernel"
    )
    assert "VBox" not in data["text/plain"]
    view = data["application/vnd.jupyter.widget-view+json"]
    assert view["model_id"] == panel.widget.model_id


def test_saved_view_has_a_static_snapshot_of_the_ticks_and_counts(small_vgg_flat):
    panel = freeze_panel(small_vgg_flat, timer=None)
    freeze(small_vgg_flat, ["block1", "block2"])
    panel.refresh()
    data = panel._repr_mimebundle_()
    data = data[0] if isinstance(data, tuple) else data
    snapshot = data["text/html"]
    assert snapshot == panel.snapshot_html() == panel.snapshot().data
    trainable, frozen = keras_counts(small_vgg_flat)
    assert f"<b>{trainable:,}</b> trainable" in snapshot
    assert f"non-trainable: {frozen:,}" in snapshot
    for layer in small_vgg_flat.layers:
        if layer.weights:
            tick = "☑" if layer.trainable else "☐"
            assert f"{tick} {layer.name}<" in snapshot, layer.name
    assert panel.mask_text in snapshot


def test_panel_follows_flags_changed_in_code_within_a_second(small_vgg_flat):
    panel = freeze_panel(small_vgg_flat, timer=None)
    try:
        small_vgg_flat.trainable = False  # as in another cell, no call to the panel
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline and any(panel.mask.values()):
            time.sleep(0.02)
        assert not any(panel.mask.values())
        assert panel.readout.trainable_params == keras_counts(small_vgg_flat)[0] == 0
        assert panel.trainable_count.value == "<b>0</b>"
        small_vgg_flat.trainable = True
        small_vgg_flat.get_layer("block5_conv3").trainable = False
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline and sum(panel.mask.values()) != len(panel.mask) - 1:
            time.sleep(0.02)
        assert_consistent(panel)
        assert panel.mask["block5_conv3"] is False
    finally:
        panel.close()
    assert not panel.follower.running


def test_without_following_the_panel_waits_for_a_refresh(small_vgg_flat):
    panel = freeze_panel(small_vgg_flat, timer=None, follow_interval=None)
    small_vgg_flat.trainable = False
    time.sleep(0.3)
    assert all(panel.mask.values())  # still the old ticks
    panel.refresh()
    assert not any(panel.mask.values())


@pytest.mark.parametrize("batch", [0, -2, 2.5, "8"])
def test_bad_timing_batch_size_names_what_was_received(sequential, batch):
    with pytest.raises(ValueError, match=r"timing_batch_size must be a positive integer.*Received"):
        freeze_panel(sequential, timing_batch_size=batch)


def test_head_layers_are_the_layers_after_the_last_block(small_vgg_flat):
    panel = freeze_panel(small_vgg_flat, timer=None, follow_interval=None)
    names = [layer.name for layer in small_vgg_flat.layers if layer.weights]
    after_blocks = [n for n in names if not n.startswith("block")]
    assert panel.head_layers == after_blocks and after_blocks
    panel.set_mask(panel.layout.train_only_head())
    assert {n for n, trains in panel.mask.items() if trains} == set(after_blocks)


def test_code_box_follows_the_ticks_and_running_it_gives_the_same_flags(small_vgg_flat):
    import html
    import re

    panel = freeze_panel(small_vgg_flat, timer=None, follow_interval=None)
    panel.set_mask("F:block1-4,block5_conv1 T:block5_conv2,block5_conv3,head")
    code = html.unescape(
        re.search(r'<pre class="fl-code"[^>]*>(.*)</pre>', panel.code.value, re.S)[1]
    )
    assert "Code for this mask" in panel.code.value
    # Run the shown code on a fresh copy with every layer trainable: Keras agrees with the ticks.
    copy = keras.models.clone_model(small_vgg_flat)
    copy.trainable = True
    exec(code, {"model": copy, "keras": keras})  # the code the learner would write
    assert trains_in_keras(copy) == {name for name, flag in panel.mask.items() if flag}
    before = panel.code.value
    panel.checkboxes["block5_conv2"].value = False
    assert panel.code.value != before
    copy = keras.models.clone_model(small_vgg_flat)
    code = html.unescape(
        re.search(r'<pre class="fl-code"[^>]*>(.*)</pre>', panel.code.value, re.S)[1]
    )
    exec(code, {"model": copy, "keras": keras})
    assert trains_in_keras(copy) == {name for name, flag in panel.mask.items() if flag}
    assert "Code for this mask" in panel.snapshot_html()
    assert html.escape(code) in panel.snapshot_html()


def test_header_says_ticked_trains_and_a_partial_block_shows_its_count(small_vgg_flat):
    panel = freeze_panel(small_vgg_flat, timer=None, follow_interval=None)
    header = panel.widget.children[0].value
    assert "Ticked = trains (<code>layer.trainable = True</code>); untick to freeze." in header
    assert "Weights in use" in header
    panel.checkboxes["block5_conv1"].value = False
    assert panel.group_toggles["block5"].value is False
    assert panel.group_toggles["block5"].description == "block5 (2/3 train)"
    panel.group_toggles["block5"].value = True  # ticking a partial block trains all of it
    assert panel.group_toggles["block5"].description == "block5 (all)"
    panel.group_toggles["block5"].value = False
    assert panel.group_toggles["block5"].description == "block5 (none)"
    quiet = FreezePanel(small_vgg_flat, timer=None, follow_interval=None, show_weights=False)
    assert "Weights in use" not in quiet.widget.children[0].value


def test_labels_say_what_their_numbers_are_and_idle_clutter_is_hidden(small_vgg_flat):
    # Issue 25's labels: the Adam line names parameters, the bars say trainable of
    # total, a partial block's toggle keeps clear of the next box, and no empty
    # progress bar or disabled Cancel shows before a timing.
    panel = freeze_panel(small_vgg_flat, follow_interval=None)
    panel.checkboxes["block5_conv1"].value = False
    assert "(2 slots × trainable parameters × 4 bytes)" in panel.optimizer_state.value
    block5 = panel.readout.groups[-2]
    assert block5.group == "block5"
    assert f"{block5.trainable_params:,} of {block5.total_params:,} train" in (
        panel.block_bars.value
    )
    assert panel.group_toggles["block5"].layout.margin == "0 12px 0 0"
    assert panel.job.widget.layout.display == "none"


def test_header_names_the_base_and_the_head_of_a_lessons_model_in_plain_words():
    # Lesson 02 builds its model with keras.Model on a freezelab base (issue 25).
    base = load_vgg16(weights=None, input_size=32, verbose=False)
    x = keras.layers.GlobalAveragePooling2D()(base.output)
    outputs = keras.layers.Dense(3, name="predictions")(keras.layers.Dense(8)(x))
    model = keras.Model(base.input, outputs, name="vgg16_with_head")
    header = freeze_panel(model, timer=None, follow_interval=None).widget.children[0].value
    assert (
        "Weights in use for &#x27;vgg16_with_head&#x27;: base &#x27;vgg16&#x27;: UNTRAINED "
        "(random weights); head: 2 layers added outside freezelab, initialised by Keras"
    ) in header
    assert "Parameter and FLOP counts do not depend on the weights&#x27; values" in header


# What the pages around the panel do to its HTML, as measured in Chromium (issue 25):
# JupyterLab's output area breaks <pre> text anywhere ("a fre|sh optimizer", "x|86_64"),
# and Voila's widget HTML gives it a proportional font and a 28 px line height.
_HOST_CSS = """
.host { font-family: sans-serif; font-size: 13px; line-height: 28px; }
.host pre { word-break: break-all; font-family: sans-serif; line-height: 28px; }
"""
_LAYOUT_JS = r"""([width, phrases]) => {
    const host = document.querySelector('.host');
    host.style.width = width + 'px';
    const pres = [...host.querySelectorAll('pre')].map(pre => {
        const style = getComputedStyle(pre);
        return {
            wordBreak: style.wordBreak,
            monospace: /mono/i.test(style.fontFamily),
            lineHeightRatio: parseFloat(style.lineHeight) / parseFloat(style.fontSize),
        };
    });
    // Each phrase wherever it is written: on how many lines is it drawn?
    const lines = [];
    const walker = document.createTreeWalker(host, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
        for (const phrase of phrases) {
            const at = node.textContent.indexOf(phrase);
            if (at < 0) continue;
            const range = document.createRange();
            range.setStart(node, at);
            range.setEnd(node, at + phrase.length);
            const tops = new Set([...range.getClientRects()].map(r => Math.round(r.top)));
            lines.push([phrase, tops.size]);
        }
    }
    // A legend swatch and the first letter of its words are drawn on the same line.
    const orphans = [];
    for (const swatch of host.querySelectorAll('span[style*="width:10px;height:10px"]')) {
        const words = swatch.nextSibling;
        const at = words ? words.textContent.search(/\S/) : -1;
        if (at < 0) { orphans.push('(no words)'); continue; }
        const range = document.createRange();
        range.setStart(words, at);
        range.setEnd(words, at + 1);
        const letter = range.getBoundingClientRect();
        const box = swatch.getBoundingClientRect();
        if (box.bottom <= letter.top || box.top >= letter.bottom)
            orphans.push(words.textContent.trim());
    }
    return {pres, lines, orphans};
}"""


@pytest.mark.browser
def test_numbers_keep_their_units_and_code_reads_as_code_on_any_page(small_vgg_flat):
    """Drawn in Chromium under the host pages' own CSS, at panel widths from 160 to 500 px.

    Numbers stay with their label or unit, legend swatches with their words, and the code
    and timing lines keep a monospace font, a normal line height and whole words.
    """
    from tests.support.web import chromium

    panel = freeze_panel(small_vgg_flat, follow_interval=None)  # the live timer: timing lines
    panel.checkboxes["block5_conv1"].value = False  # a non-trainable count to show
    assert "<pre" in panel.timing.value
    readout = panel.readout
    phrases = [
        f"{readout.optimizer_state_mib:.1f} MiB",
        f"non-trainable: {readout.non_trainable_params:,}",
    ]
    fragments = [
        panel.counts.value,
        panel.optimizer_state.value,
        panel.block_bars.value,
        panel.backward_map.value,
        panel.code.value,
        panel.timing.value,
        panel.snapshot_html(),
    ]
    with chromium() as browser:
        page = browser.new_page()
        page.set_content(
            f"<style>{_HOST_CSS}</style><div class='host'>"
            + "".join(f"<div>{fragment}</div>" for fragment in fragments)
            + "</div>"
        )
        for width in range(160, 501, 4):
            layout = page.evaluate(_LAYOUT_JS, [width, phrases])
            # Each phrase twice: in the panel's labels and in its static snapshot.
            assert sorted(phrase for phrase, _ in layout["lines"]) == sorted(phrases * 2), layout
            split = [phrase for phrase, lines in layout["lines"] if lines != 1]
            assert not split, f"split across lines at {width} px: {split}"
            assert not layout["orphans"], f"swatch apart from its words at {width} px: {layout}"
            assert len(layout["pres"]) == 3, layout  # code box, timing lines, snapshot's code
            for pre in layout["pres"]:
                assert pre["wordBreak"] == "normal", (width, pre)
                assert pre["monospace"], (width, pre)
                assert pre["lineHeightRatio"] < 1.6, (width, pre)
