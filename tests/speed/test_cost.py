"""The cost model against VGG16's published figures and hand-computed FLOPs."""

from collections import defaultdict

import keras
import numpy as np
import pytest
from keras import layers

from freezelab.core.freezing import freeze, get_mask
from freezelab.core.models import load_vgg16, with_head
from freezelab.speed.cost import block_shares, layer_costs, memory_estimate, step_cost

# forward GMACs per block of VGG16 at 224x224 (the table in ../shared/DESIGN.md)
VGG16_BLOCK_GMACS = {
    "block1": 1.94,
    "block2": 2.78,
    "block3": 4.62,
    "block4": 4.62,
    "block5": 1.39,
}


def tiny_model(conv_layers=1):
    """Input 8x8x3 -> Conv(4, 3x3, same, relu) x N -> MaxPool(2) -> Flatten -> Dense(5)."""
    inputs = keras.Input((8, 8, 3))
    x = inputs
    for i in range(conv_layers):
        x = layers.Conv2D(4, 3, padding="same", activation="relu", name=f"conv{i + 1}")(x)
    x = layers.MaxPooling2D(2, name="pool")(x)
    x = layers.Flatten(name="flatten")(x)
    outputs = layers.Dense(5, name="dense")(x)
    return keras.Model(inputs, outputs)


def test_vgg16_block_macs_match_the_published_table():
    costs = layer_costs(load_vgg16(weights=None, input_size=224, verbose=False))
    per_block = defaultdict(int)
    for cost in costs:
        per_block[cost.block] += cost.macs
    for block, gmacs in VGG16_BLOCK_GMACS.items():
        assert per_block[block] / 1e9 == pytest.approx(gmacs, abs=0.006), block
    assert sum(per_block.values()) / 1e9 == pytest.approx(15.35, abs=0.006)


def test_vgg16_with_top_is_15_47_gmacs_and_flops_count_a_multiply_add_twice():
    model = load_vgg16(weights=None, include_top=True, verbose=False)
    costs = layer_costs(model)
    assert sum(c.macs for c in costs) / 1e9 == pytest.approx(15.47, abs=0.006)
    forward = sum(c.forward_flops for c in costs)
    # 2 FLOPs per multiply-add, plus a small element-wise part (bias, relu, pooling)
    assert 2 * 15.47e9 < forward < 2 * 15.47e9 * 1.01


def test_layer_costs_by_hand_on_a_tiny_model():
    costs = {c.name: c for c in layer_costs(tiny_model(), batch_size=2)}
    conv_macs = 8 * 8 * 4 * (3 * 3 * 3)  # outputs x kernel volume, per example
    conv = costs["conv1"]
    assert conv.macs == 2 * conv_macs
    assert conv.forward_flops == 2 * (2 * conv_macs + 8 * 8 * 4 + 8 * 8 * 4)  # + bias + relu
    assert conv.input_grad_flops == 2 * 2 * conv_macs
    assert conv.weight_grad_flops == 2 * (2 * conv_macs + 8 * 8 * 4)  # + bias gradient
    assert conv.params == 3 * 3 * 3 * 4 + 4
    assert conv.activation_elements == 2 * 8 * 8 * 4
    pool = costs["pool"]
    assert pool.forward_flops == 2 * 4 * 4 * 4 * 4  # one compare per window element
    assert pool.weight_grad_flops == 0 and pool.params == 0
    assert costs["flatten"].forward_flops == 0
    dense = costs["dense"]
    assert dense.macs == 2 * 64 * 5
    assert dense.params == 64 * 5 + 5
    assert dense.forward_flops == 2 * (2 * 64 * 5 + 5)  # linear: bias only


def test_first_layer_never_computes_its_input_gradient():
    cost = step_cost(tiny_model(), batch_size=1)
    conv = next(layer for layer in cost.layers if layer.name == "conv1")
    assert conv.computes_weight_grad and not conv.computes_input_grad
    costs = {c.name: c for c in layer_costs(tiny_model())}
    by_hand = (
        costs["conv1"].weight_grad_flops
        + costs["conv1"].activation_grad_flops
        + costs["pool"].input_grad_flops
        + costs["dense"].input_grad_flops
        + costs["dense"].weight_grad_flops
        + costs["dense"].activation_grad_flops
    )
    assert cost.backward_flops == by_hand
    assert cost.relative_cost == 1.0


def test_frozen_prefix_removes_all_its_backward_work():
    model = tiny_model(conv_layers=2)
    freeze(model, "conv1")
    cost = step_cost(model)
    rows = {row.name: row for row in cost.layers}
    assert rows["conv1"].backward_flops == 0
    # conv2 is now the lowest trainable layer: it needs its weight gradient only
    assert rows["conv2"].computes_weight_grad and not rows["conv2"].computes_input_grad


def test_frozen_layer_above_a_trainable_one_keeps_its_input_gradient():
    model = tiny_model(conv_layers=3)
    mask = {**get_mask(model), "conv2": False}
    rows = {row.name: row for row in step_cost(model, mask).layers}
    costs = {c.name: c for c in layer_costs(model)}
    middle = rows["conv2"]
    assert not middle.computes_weight_grad and middle.computes_input_grad
    assert middle.backward_flops == (
        costs["conv2"].input_grad_flops + costs["conv2"].activation_grad_flops
    )


def test_block5_only_trainable_matches_hand_math_from_the_table():
    model = load_vgg16(weights=None, input_size=224, verbose=False)
    freeze(model, up_to="block4_pool")
    cost = step_cost(model)
    # forward ~ F; backward: block5's weight gradients (2 x 1.39 GFLOPs of MACs) and the
    # input gradients of block5_conv2 and conv3 (2/3 of block5); full ~ 3F less conv1's
    # input gradient (86.7 MMACs).
    forward, block5 = 15.35, 1.387
    expected = (forward + block5 + 2 / 3 * block5) / (3 * forward - 0.0867)
    assert cost.relative_cost == pytest.approx(expected, rel=0.01)
    assert cost.saved_fraction == pytest.approx(1 - expected, rel=0.02)


def test_whole_base_frozen_tops_out_near_three_times():
    model = with_head(load_vgg16(weights=None, input_size=224, verbose=False), (16, 3))
    freeze(model, ["block1", "block2", "block3", "block4", "block5"])
    cost = step_cost(model)
    assert 2.9 < 1 / cost.relative_cost < 3.0


def test_mask_none_reads_the_models_flags():
    model = tiny_model(conv_layers=2)
    explicit = step_cost(model, {"conv1": False})
    freeze(model, "conv1")
    assert step_cost(model).total_flops == explicit.total_flops


def test_prefix_saves_more_than_the_same_block_frozen_alone(small_vgg_flat):
    all_true = {name: True for name in get_mask(small_vgg_flat)}
    prefix = {n: not n.startswith(("block1", "block2", "block3")) for n in all_true}
    middle = {n: not n.startswith("block3") for n in all_true}
    assert (
        step_cost(small_vgg_flat, prefix).relative_cost
        < step_cost(small_vgg_flat, middle).relative_cost
    )


def test_mask_with_unknown_layer_is_rejected():
    with pytest.raises(ValueError, match=r"'conv9'.*Received"):
        step_cost(tiny_model(), {"conv9": False})


def test_mask_naming_a_layer_without_weights_is_rejected():
    with pytest.raises(ValueError, match="without weights"):
        step_cost(tiny_model(), {"pool": False})


def test_mask_values_must_be_bools():
    with pytest.raises(ValueError, match="True or False"):
        step_cost(tiny_model(), {"conv1": 0})


@pytest.mark.parametrize("batch_size", [0, -1, 2.5, True])
def test_bad_batch_size_is_rejected(batch_size):
    with pytest.raises(ValueError, match="batch_size"):
        layer_costs(tiny_model(), batch_size)


def test_unsupported_layer_type_is_named():
    inputs = keras.Input((8, 8, 3))
    outputs = layers.Conv2DTranspose(2, 3, name="up")(inputs)
    with pytest.raises(ValueError, match="Conv2DTranspose"):
        layer_costs(keras.Model(inputs, outputs))


def test_memory_estimate_against_keras_and_a_built_adam():
    model = tiny_model(conv_layers=2)
    freeze(model, "conv1")
    estimate = memory_estimate(model, batch_size=2, optimizer="adam")
    weights = sum(int(np.prod(w.shape)) * 4 for w in model.weights)
    trainable = sum(int(np.prod(w.shape)) * 4 for w in model.trainable_weights)
    assert estimate.weights_bytes == weights
    assert estimate.gradients_bytes == trainable
    adam = keras.optimizers.Adam()
    adam.build(model.trainable_variables)
    slots = [v for v in adam.variables if len(v.shape) > 0]  # leave out step counters
    assert estimate.optimizer_bytes == sum(int(np.prod(v.shape)) * 4 for v in slots)
    assert memory_estimate(model, optimizer="sgd").optimizer_bytes == 0
    # stored: conv1's output (input of conv2), then conv2, pool, flatten, dense outputs
    elements = 8 * 8 * 4 + 8 * 8 * 4 + 4 * 4 * 4 + 64 + 5
    assert estimate.activations_bytes == 2 * elements * 4
    assert estimate.total_bytes == (
        estimate.weights_bytes
        + estimate.gradients_bytes
        + estimate.optimizer_bytes
        + estimate.activations_bytes
    )


def test_memory_estimate_rejects_an_unknown_optimizer():
    with pytest.raises(ValueError, match="optimizer='adamx'"):
        memory_estimate(tiny_model(), optimizer="adamx")


def test_block5_holds_half_the_parameters_and_a_tenth_of_the_compute():
    shares = {s.block: s for s in block_shares(load_vgg16(weights=None, verbose=False))}
    assert shares["block5"].params_share == pytest.approx(0.481, abs=0.002)
    assert shares["block5"].compute_share == pytest.approx(0.090, abs=0.003)
    assert shares["block1"].compute_share == pytest.approx(0.126, abs=0.003)


def test_block_table_marks_which_gradients_run(small_vgg_flat):
    names = get_mask(small_vgg_flat)
    middle = {n: not n.startswith("block3") for n in names}
    lines = step_cost(small_vgg_flat, middle).block_table().splitlines()
    rows = {line.split()[0]: line for line in lines[1:]}
    assert rows["block1"].endswith("W WI")  # first layer: no input gradient
    assert rows["block3"].endswith("I I I")  # frozen, but the gradient flows through
    assert rows["block4"].endswith("WI WI WI")


def test_time_fraction_reduces_to_the_flop_fraction_and_keeps_the_forward_floor():
    model = tiny_model(conv_layers=3)
    mask = {**get_mask(model), "conv1": False, "conv2": False}
    cost = step_cost(model, mask)
    flop_share = cost.forward_flops / cost.full_total_flops
    assert cost.time_fraction(flop_share) == pytest.approx(cost.relative_cost)
    # everything frozen: only the forward pass remains
    frozen = step_cost(model, {"conv1": False, "conv2": False, "conv3": False, "dense": False})
    assert frozen.time_fraction(0.25) == pytest.approx(0.25)
    with pytest.raises(ValueError, match=r"forward_share=1\.5"):
        cost.time_fraction(1.5)


def test_time_fraction_update_term_scales_with_the_parameters_that_still_train():
    model = tiny_model(conv_layers=3)
    mask = {**get_mask(model), "conv1": False, "conv2": False}
    cost = step_cost(model, mask)
    # Hand count: parameters of the layers that train, against every layer with weights.
    trains = {layer.name: mask.get(layer.name, True) for layer in model.layers if layer.weights}
    params = {layer.name: layer.count_params() for layer in model.layers if layer.weights}
    assert cost.trainable_params == sum(p for name, p in params.items() if trains[name])
    assert cost.full_trainable_params == sum(params.values())
    full_backward = cost.full_total_flops - cost.forward_flops
    expected = 0.3 + 0.1 * cost.trainable_share + 0.6 * cost.backward_flops / full_backward
    assert cost.time_fraction(0.3, 0.1) == pytest.approx(expected)
    everything = step_cost(model, {name: True for name in get_mask(model)})
    assert everything.time_fraction(0.3, 0.1) == pytest.approx(1.0)
    with pytest.raises(ValueError, match=r"update_share=0\.8"):
        cost.time_fraction(0.3, 0.8)
