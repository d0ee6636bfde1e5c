"""The freeze panel on the course's small ViT: block checkboxes, a LoRA rank, Keras's counts."""

import html
import re

import keras
import numpy as np
import pytest

from freezelab.core.peft import apply_strategy, lora_layer_paths
from freezelab.sources.vit import tiny_vit
from freezelab.speed.cost import step_cost
from freezelab.widgets.freeze_panel import FreezePanel, freeze_panel
from freezelab.widgets.mask_code import COMPILE_LINE, mask_code
from tests.support.helpers import keras_counts

# Tiny sizes: width d = 8, 2 heads of size k = 4, 2 blocks, 3 classes.
SIZES = dict(image_size=8, patch_size=4, width=8, depth=2, num_heads=2, mlp_width=8, num_classes=3)
D, HEADS, K, DEPTH, CLASSES = 8, 2, 4, 2, 3
# The head after the blocks: final_norm (gamma, beta) and the softmax Dense.
HEAD_PARAMS = 2 * D + (D * CLASSES + CLASSES)


def lora_params(rank):
    """Hand count of Keras's LoRA factors on every query and value projection.

    ``enable_lora(r)`` on an ``EinsumDense`` with kernel ``(d, heads, k)`` adds
    ``lora_kernel_a`` ``(d, heads, r)`` and ``lora_kernel_b`` ``(r, k)``: not
    the ``r * (d_in + d_out)`` of a ``d_in x d_out`` Dense.
    """
    per_projection = D * HEADS * rank + rank * K
    return DEPTH * 2 * per_projection


def small_vit(name="tiny_vit"):
    return tiny_vit(**SIZES, name=name)


def open_panel(model):
    return freeze_panel(model, follow_interval=None)


def shown_count(panel):
    return int(panel.trainable_count.value.strip("<b>/").replace(",", ""))


def assert_counts_are_keras(panel):
    readout = panel.readout
    assert (readout.trainable_params, readout.non_trainable_params) == keras_counts(panel.model)
    assert shown_count(panel) == readout.trainable_params
    assert panel.flags_note.value == ""


def trainable_paths(model):
    return {v.path for v in model.trainable_weights}


def test_one_checkbox_row_per_transformer_block():
    model = small_vit()
    panel = open_panel(model)
    expected = {
        f"block{n}": [
            layer.name
            for layer in model.layers
            if layer.name.startswith(f"block{n}_") and layer.weights
        ]
        for n in range(1, DEPTH + 1)
    }
    assert {group: panel.layout.groups[group] for group in expected} == expected
    parts = ["norm1", "attention", "norm2", "mlp1", "mlp2"]
    assert expected["block1"] == [f"block1_{part}" for part in parts]
    assert [g for g in panel.group_toggles if g.startswith("block")] == list(expected)
    assert panel.head_layers == ["final_norm", "source_predictions"]
    # Everything trains in a fresh model; attention weights are counted as trainable.
    assert panel.readout.trainable_params == model.count_params()
    assert_counts_are_keras(panel)


def test_unticking_a_block_freezes_exactly_its_variables():
    model = small_vit()
    panel = open_panel(model)
    everything = trainable_paths(model)
    panel.group_toggles["block2"].value = False
    frozen = everything - trainable_paths(model)
    assert frozen == {v.path for v in model.weights if v.path.startswith("block2_")}
    assert {v.path for v in model.non_trainable_weights} == frozen
    assert_counts_are_keras(panel)
    block2 = next(g for g in panel.readout.groups if g.group == "block2")
    assert block2.trainable_params == 0
    assert block2.frozen_params == sum(
        int(np.prod(v.shape)) for v in model.weights if v.path.startswith("block2_")
    )


def test_ticking_the_attention_layer_alone_trains_its_four_projections():
    model = small_vit()
    panel = open_panel(model)
    panel.set_mask({name: False for name in panel.mask})
    panel.checkboxes["block1_attention"].value = True
    attention = model.get_layer("block1_attention")
    assert trainable_paths(model) == {v.path for v in attention.weights}
    assert len(attention.weights) == 8  # query, key, value, output: kernel and bias each
    assert_counts_are_keras(panel)


def test_lora_rank_adds_the_hand_counted_factors_on_a_copy():
    model = small_vit()
    before = [w.copy() for w in model.get_weights()]
    panel = open_panel(model)
    assert panel.has_lora_menu
    assert panel.lora_menu.options == (("off", 0), ("1", 1), ("2", 2), ("4", 4))
    panel.set_mask(panel.layout.train_only_head())
    assert panel.readout.trainable_params == HEAD_PARAMS
    for rank in (2, 4, 1):
        panel.lora_menu.value = rank  # as a learner picks it
        assert panel.lora_rank == rank
        assert panel.model is not model
        assert panel.readout.trainable_params == HEAD_PARAMS + lora_params(rank)
        assert_counts_are_keras(panel)
        assert panel.readout.total_params == model.count_params() + lora_params(rank)
        assert f"rank {rank}, on a copy" in panel.lora_status.value
    # The model passed in never gets LoRA and keeps its weights and ticks.
    assert lora_layer_paths(model) == []
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    panel.set_lora_rank(0)
    assert panel.model is model
    assert panel.readout.trainable_params == HEAD_PARAMS
    assert_counts_are_keras(panel)
    assert panel.lora_status.value == ""


def test_frozen_base_with_lora_is_lesson_07s_lora_strategy():
    panel = open_panel(small_vit())
    panel.set_mask(panel.layout.train_only_head())
    panel.set_lora_rank(2)
    lesson = small_vit()
    result = apply_strategy(lesson, "lora", rank=2)
    assert trainable_paths(panel.model) == trainable_paths(lesson)
    assert panel.readout.trainable_params == result.trainable_params
    assert sorted(lora_layer_paths(panel.model)) == sorted(result.lora_layers)


def test_ticks_with_lora_keep_the_factors_training_and_the_kernels_frozen():
    panel = open_panel(small_vit())
    panel.set_mask(panel.layout.train_only_head())
    panel.set_lora_rank(2)
    panel.group_toggles["block1"].value = True
    model = panel.model
    block1 = {v.path for v in model.weights if v.path.startswith("block1_")}
    adapted = {"block1_attention/query/kernel", "block1_attention/value/kernel"}
    factors = {v.path for v in model.weights if "/lora_kernel_" in v.path}
    head = {v.path for v in model.weights if v.path.startswith(("final_norm", "source_pred"))}
    assert trainable_paths(model) == (block1 - adapted) | factors | head
    assert_counts_are_keras(panel)
    panel.checkboxes["block1_attention"].value = False
    assert {p for p in trainable_paths(model) if p.startswith("block1_attention")} == {
        p for p in factors if p.startswith("block1_attention")
    }
    assert_counts_are_keras(panel)


def test_the_code_box_rebuilds_the_panels_state_on_a_fresh_model():
    panel = open_panel(small_vit())
    panel.set_mask("F:patch_embedding,block1 T:all")
    panel.set_lora_rank(4)
    shown = re.search(r'<pre class="fl-code"[^>]*>(.*)</pre>', panel.code.value, re.S)
    code = html.unescape(shown.group(1))
    assert "enable_lora(4)" in code
    own_lines = mask_code(panel.mask).removesuffix(COMPILE_LINE)  # the mask's own lines
    assert own_lines.strip() and code.startswith(own_lines)
    fresh = small_vit()
    exec(code, {"model": fresh, "keras": keras})
    assert keras_counts(fresh) == keras_counts(panel.model)
    assert trainable_paths(fresh) == trainable_paths(panel.model)


def test_compute_readout_matches_the_cost_model_on_the_model_itself():
    panel = open_panel(small_vit())
    panel.set_mask(panel.layout.train_only_head())
    for rank in (0, 2):
        panel.set_lora_rank(rank)
        readout = panel.readout
        assert "rough estimate" not in readout.cost_source
        cost = step_cost(panel.model)  # reads which variables train from the model
        assert readout.relative_cost == pytest.approx(cost.relative_cost)
    # With LoRA the gradient reaches block1's attention (its factors train).
    steps = {step.name: step for step in panel.readout.backward}
    assert steps["block1_attention"].computes_weight_grad
    assert not steps["block1_mlp1"].computes_weight_grad
    assert steps["block1_mlp1"].gradient_flows
    assert not steps["patch_embedding"].gradient_flows


@pytest.mark.parametrize("rank", [-1, 5, 64, 2.0, True, "4", None])
def test_bad_rank_is_refused_and_changes_nothing(rank):
    model = small_vit()
    panel = open_panel(model)
    with pytest.raises(ValueError, match=r"from 0 \(LoRA off\) to 4.*Received: rank="):
        panel.set_lora_rank(rank)
    assert panel.model is model
    assert panel.lora_rank == 0
    assert_counts_are_keras(panel)


def test_a_model_without_attention_gets_no_lora_menu(functional):
    panel = open_panel(functional)
    assert not panel.has_lora_menu
    assert panel.variable_layout is None
    with pytest.raises(ValueError, match="Received: rank=2"):
        panel.set_lora_rank(2)


def test_a_model_with_lora_from_code_shows_it_and_refuses_a_rank():
    model = small_vit()
    apply_strategy(model, "lora", rank=2)
    panel = FreezePanel(model, follow_interval=None)
    assert not panel.has_lora_menu
    assert "enabled before the panel opened" in panel.lora_status.value
    with pytest.raises(ValueError, match="already had LoRA"):
        panel.set_lora_rank(4)
    # Lesson 07's strategy freezes the query/value biases inside a layer the panel ticks
    # as training: the panel says Keras trains fewer than the ticks would.
    assert "Keras trains" in panel.flags_note.value
    panel.set_mask(panel.layout.train_only_head())
    assert_counts_are_keras(panel)


def test_frozen_leading_blocks_menu_freezes_the_embeddings_below_them():
    model = small_vit()
    panel = open_panel(model)
    panel.block_slider.value = 1
    frozen = {name for name, trains in panel.mask.items() if not trains}
    block1 = {layer.name for layer in model.layers if layer.name.startswith("block1_")}
    assert frozen == {"patch_embedding", "position_embedding"} | (block1 & set(panel.mask))
    assert_counts_are_keras(panel)
    assert panel.block_slider.value == 1
    steps = {step.name: step for step in panel.readout.backward}
    assert not steps["patch_embedding"].gradient_flows
    assert not steps["block1_mlp2"].gradient_flows  # a frozen prefix: no backward at all
    assert steps["block2_norm1"].computes_weight_grad
