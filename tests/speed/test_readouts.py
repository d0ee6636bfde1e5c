"""Tests for freezelab.speed.readouts: every number the freeze panel shows."""

import keras
import pytest

from freezelab.core.freezing import set_mask
from freezelab.speed import cost
from freezelab.speed.readouts import PanelLayout
from tests.support.helpers import keras_counts

# Hand-computed VGG16 conv parameters per block (3x3 kernels plus biases).
BLOCK_PARAMS = {
    "block1": (3 * 3 * 3 * 64 + 64) + (3 * 3 * 64 * 64 + 64),
    "block2": (3 * 3 * 64 * 128 + 128) + (3 * 3 * 128 * 128 + 128),
    "block3": (3 * 3 * 128 * 256 + 256) + 2 * (3 * 3 * 256 * 256 + 256),
    "block4": (3 * 3 * 256 * 512 + 512) + 2 * (3 * 3 * 512 * 512 + 512),
    "block5": 3 * (3 * 3 * 512 * 512 + 512),
}


def frozen_blocks_mask(layout, blocks):
    return {row.name: row.group not in blocks for row in layout.weighted}


def test_readout_counts_match_keras_weight_lists(small_vgg_flat):
    layout = PanelLayout(small_vgg_flat)
    mask = frozen_blocks_mask(layout, {"block1", "block2", "block3"})
    set_mask(small_vgg_flat, mask)
    readout = layout.readout(mask)
    assert (readout.trainable_params, readout.non_trainable_params) == keras_counts(small_vgg_flat)


def test_per_block_parameters_match_hand_count(small_vgg_flat):
    layout = PanelLayout(small_vgg_flat)
    readout = layout.readout(frozen_blocks_mask(layout, {"block5"}))
    by_group = {g.group: g for g in readout.groups}
    for block, params in BLOCK_PARAMS.items():
        assert by_group[block].total_params == params
    assert by_group["block5"].trainable_params == 0
    assert by_group["block5"].frozen_params == BLOCK_PARAMS["block5"]
    assert by_group["block4"].trainable_params == BLOCK_PARAMS["block4"]
    # The head of small_vgg_flat: Flatten(512) -> Dense(16) -> Dense(3).
    assert by_group["head"].trainable_params == (512 * 16 + 16) + (16 * 3 + 3)


def test_share_and_adam_state_for_blocks_1_to_3_frozen():
    base = keras.applications.VGG16(include_top=False, weights=None, input_shape=(32, 32, 3))
    layout = PanelLayout(base)
    readout = layout.readout(frozen_blocks_mask(layout, {"block1", "block2", "block3"}))
    still_training = BLOCK_PARAMS["block4"] + BLOCK_PARAMS["block5"]
    assert readout.total_params == 14_714_688
    assert readout.trainable_params == still_training
    assert readout.trainable_share == pytest.approx(still_training / 14_714_688)
    assert readout.optimizer_state_bytes == 2 * 4 * still_training
    assert readout.optimizer_state_mb == pytest.approx(8 * still_training / 1e6)
    assert readout.optimizer_state_mib == pytest.approx(8 * still_training / 1024**2)
    # Blocks 4-5: 12,979,200 parameters x 8 bytes = 103,833,600 bytes = 99.0 MiB (103.8 MB).
    assert f"{readout.optimizer_state_mib:.1f}" == "99.0"
    assert f"Adam optimizer state: {readout.optimizer_state_mib:.1f} MiB" in readout.summary()


def test_backward_map_follows_the_lowest_trainable_layer(small_vgg_flat):
    layout = PanelLayout(small_vgg_flat)
    steps = {
        s.name: s
        for s in layout.readout(frozen_blocks_mask(layout, {"block1", "block2", "block3"})).backward
    }
    assert (
        not steps["block3_conv3"].computes_weight_grad and not steps["block3_conv3"].gradient_flows
    )
    assert steps["block4_conv1"].computes_weight_grad and not steps["block4_conv1"].gradient_flows
    assert steps["block4_pool"].gradient_flows and not steps["block4_pool"].computes_weight_grad
    assert "input_layer" not in steps

    # Freezing a middle block: its gradient must still flow through to block3.
    steps = {s.name: s for s in layout.readout(frozen_blocks_mask(layout, {"block4"})).backward}
    assert not steps["block4_conv2"].computes_weight_grad
    assert steps["block4_conv2"].gradient_flows
    assert not steps["block1_conv1"].gradient_flows and steps["block1_conv1"].computes_weight_grad


@pytest.mark.parametrize(
    "frozen",
    [
        set(),
        {"block1", "block2", "block3"},
        {"block4"},
        {"block1", "block2", "block3", "block4", "block5"},
    ],
)
def test_relative_cost_agrees_with_the_cost_module(small_vgg_flat, frozen):
    layout = PanelLayout(small_vgg_flat)
    assert layout.cost_source == "freezelab.speed.cost"
    mask = frozen_blocks_mask(layout, frozen)
    expected = cost.step_cost(small_vgg_flat, mask=mask).relative_cost
    assert layout.readout(mask).relative_cost == pytest.approx(expected, rel=1e-9)


def test_frozen_prefix_saves_more_than_frozen_middle(small_vgg_flat):
    layout = PanelLayout(small_vgg_flat)
    prefix = layout.readout(frozen_blocks_mask(layout, {"block1", "block2", "block3"}))
    middle = layout.readout(frozen_blocks_mask(layout, {"block3", "block4"}))
    # The middle freezes more parameters, yet saves less: gradients still flow through it.
    assert middle.trainable_params < prefix.trainable_params
    assert prefix.saved_fraction > middle.saved_fraction > 0


def test_layer_type_without_a_formula_gets_the_cost_models_estimate():
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2DTranspose(4, 3, padding="same", name="deconv")(inputs)
    x = keras.layers.Flatten(name="flat")(x)
    outputs = keras.layers.Dense(2, name="dense")(x)
    model = keras.Model(inputs, outputs)
    with pytest.raises(ValueError, match="Conv2DTranspose"):
        cost.layer_costs(model)
    rows = {row.name: row for row in cost.layer_costs(model, unknown="estimate")}
    # Estimate: output positions x kernel size multiply-adds, 2 FLOPs each.
    deconv_forward = 2 * 8 * 8 * (3 * 3 * 4 * 3)
    assert rows["deconv"].estimated and rows["deconv"].forward_flops == deconv_forward
    assert rows["deconv"].params == 3 * 3 * 4 * 3 + 4
    # Dense keeps its exact formula: 2 x 256 x 2 multiply-add FLOPs plus the bias.
    assert not rows["dense"].estimated and rows["dense"].forward_flops == 2 * 256 * 2 + 2
    layout = PanelLayout(model)
    assert "rough estimate for Conv2DTranspose" in layout.cost_source
    # Hand count with deconv frozen: forward everywhere, dense's weight-gradient and
    # bias; deconv is below every trainable layer, so no gradient flows into it.
    forward = deconv_forward + 2 * 256 * 2 + 2
    full = forward + deconv_forward + (2 * 512 + 2) + 2 * 512 + 2
    frozen_deconv = forward + (2 * 512 + 2) + 2
    assert layout.readout({"deconv": False, "dense": True}).relative_cost == pytest.approx(
        frozen_deconv / full
    )


def test_batchnorm_statistics_count_as_non_trainable():
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, name="conv")(inputs)
    x = keras.layers.BatchNormalization(name="bn")(x)
    model = keras.Model(inputs, keras.layers.Dense(2, name="dense")(x))
    layout = PanelLayout(model)
    mask = {"conv": True, "bn": True, "dense": False}
    set_mask(model, mask)
    readout = layout.readout(mask)
    assert (readout.trainable_params, readout.non_trainable_params) == keras_counts(model)


def test_presets(small_vgg_flat):
    layout = PanelLayout(small_vgg_flat)
    head = {"head_dense_1", "predictions"}
    assert set(layout.head_layers) == head
    assert all(layout.train_everything().values())
    assert {n for n, f in layout.train_only_head().items() if f} == head
    partly = {**layout.train_everything(), "predictions": False}
    assert {n for n, f in layout.freeze_base(partly).items() if f} == {"head_dense_1"}
    assert layout.freeze_first_blocks(3) == frozen_blocks_mask(
        layout, {"block1", "block2", "block3"}
    )
    assert all(layout.freeze_first_blocks(0).values())
    with pytest.raises(ValueError, match="from 0 to 5"):
        layout.freeze_first_blocks(6)


def test_model_without_vgg_blocks_gets_one_group_per_layer(sequential):
    layout = PanelLayout(sequential)
    assert list(layout.groups) == ["dense_64", "dense_32", "dense_10"]
    assert layout.head_layers == ["dense_10"]
    with pytest.raises(ValueError, match="VGG block names"):
        layout.freeze_first_blocks(1)


def test_backward_map_leaves_out_the_input_and_maps_each_step():
    from types import SimpleNamespace as Row

    from freezelab.speed.readouts import backward_map

    rows = [
        Row(name="image", group="input", has_weights=False, block="input"),
        Row(name="conv", group="block1", has_weights=True, block="block1"),
        Row(name="pool", group="block1", has_weights=False, block="block1"),
    ]
    steps = [
        Row(computes_weight_grad=False, computes_input_grad=False),
        Row(computes_weight_grad=True, computes_input_grad=False),
        Row(computes_weight_grad=False, computes_input_grad=True),
    ]
    cells = backward_map(rows, steps)
    assert [c.name for c in cells] == ["conv", "pool"]
    assert [(c.computes_weight_grad, c.gradient_flows) for c in cells] == [
        (True, False),
        (False, True),
    ]
