"""Tests for freezelab.widgets.variable_readout: counts variable by variable, as Keras lists them."""

import pytest

from freezelab.core.freezing import get_mask, set_mask
from freezelab.core.lora_choice import keep_lora_rule, lora_copy
from freezelab.sources.vit import tiny_vit
from freezelab.speed.cost import step_cost
from freezelab.speed.readouts import PanelLayout
from freezelab.widgets.variable_readout import VariableLayout, flags_note, needs_variable_readout
from tests.support.helpers import keras_counts

SIZES = dict(image_size=8, patch_size=4, width=8, depth=2, num_heads=2, mlp_width=8, num_classes=3)
MASKS = [
    {},  # everything frozen
    {"block1_attention": True, "block2_mlp1": True},
    {"patch_embedding": True, "source_predictions": True},
]


def readout_after(model, layout, mask):
    full = {name: mask.get(name, False) for name in layout.layer_names}
    set_mask(model, full)
    keep_lora_rule(model)
    return VariableLayout(model, layout).readout(full)


@pytest.mark.parametrize("rank", [0, 2])
def test_counts_and_compute_equal_keras_and_the_cost_model(rank):
    model = tiny_vit(**SIZES)
    layout = PanelLayout(model)
    if rank:
        model = lora_copy(model, rank, get_mask(model))
    for mask in [*MASKS, layout.train_everything()]:
        readout = readout_after(model, layout, mask)
        assert (readout.trainable_params, readout.non_trainable_params) == keras_counts(model)
        assert readout.relative_cost == pytest.approx(step_cost(model).relative_cost)
        assert sum(g.trainable_params for g in readout.groups) == readout.trainable_params
        assert flags_note(model, readout) == ""


def test_the_per_layer_layout_misses_attention_weights():
    # Why the panel needs this module: the lump count calls attention weights frozen.
    model = tiny_vit(**SIZES)
    layout = PanelLayout(model)
    assert needs_variable_readout(model)
    attention = sum(layer.count_params() for layer in model.layers if "attention" in layer.name)
    lump = layout.readout(layout.train_everything())
    assert keras_counts(model)[0] - lump.trainable_params == attention
    variable = VariableLayout(model, layout).readout(layout.train_everything())
    assert variable.trainable_params == keras_counts(model)[0]


def test_vgg_needs_no_variable_readout(small_vgg_flat):
    assert not needs_variable_readout(small_vgg_flat)


def test_flags_note_names_keras_count_when_flags_differ():
    model = tiny_vit(**SIZES)
    layout = PanelLayout(model)
    readout = readout_after(model, layout, layout.train_everything())
    model.get_layer("block1_mlp1").kernel.trainable = False  # a per-variable flag, as BitFit sets
    note = flags_note(model, readout)
    trainable, frozen = keras_counts(model)
    assert f"Keras trains {trainable:,} parameters ({frozen:,} non-trainable)" in note


def test_a_model_with_other_layers_is_refused(small_vgg_flat):
    layout = PanelLayout(tiny_vit(**SIZES))
    with pytest.raises(ValueError, match="Received: model"):
        VariableLayout(small_vgg_flat, layout)
