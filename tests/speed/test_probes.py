"""Tests for freezelab.speed.probes, against Keras's own weight lists and outputs."""

import math

import keras
import numpy as np
import pytest
from keras import layers

from freezelab.core.freezing import get_mask, set_mask
from freezelab.speed.probes import features_model, floor_mask, trainable_shapes, update_probe


def test_update_probe_holds_exactly_the_shapes_given():
    shapes = [(3, 3, 2, 4), (4,), (7,)]
    probe = update_probe(shapes)
    assert [tuple(v.shape) for v in probe.trainable_weights] == shapes
    assert probe.count_params() == sum(math.prod(s) for s in shapes)


def test_update_probe_step_updates_only_one_number_per_weight_with_adam():
    probe = update_probe([(5,), (2, 3)])
    probe.compile(optimizer=keras.optimizers.Adam(0.1), loss="mean_squared_error")
    x = np.zeros((4, 1), "float32")
    probe.train_on_batch(x, x + 1.0)
    for variable in probe.trainable_weights:
        values = np.ravel(keras.ops.convert_to_numpy(variable))
        assert values[0] != 0.0  # the number the forward pass reads moved
        np.testing.assert_array_equal(values[1:], 0.0)  # zero gradient: Adam leaves them
    assert len(probe.optimizer.variables) > 2 * len(probe.trainable_weights)  # Adam's moments exist


@pytest.mark.parametrize("shapes", [[], [(0,)], [(2, 0)]])
def test_update_probe_rejects_empty_shapes(shapes):
    with pytest.raises(ValueError, match="Received: shapes="):
        update_probe(shapes)


def test_trainable_shapes_are_keras_trainable_weights_when_all_train_and_skip_bn_statistics():
    inputs = keras.Input((6, 6, 3))
    x = layers.Conv2D(4, 3, name="block1_conv1")(inputs)
    x = layers.BatchNormalization(name="block1_bn")(x)
    outputs = layers.Dense(2, name="head")(layers.Flatten()(x))
    model = keras.Model(inputs, outputs)
    expected = [tuple(v.shape) for v in model.trainable_weights]
    model.get_layer("block1_conv1").trainable = False  # the current flags do not matter
    assert trainable_shapes(model) == expected
    assert (4,) in expected and len(expected) == 6  # conv 2, BN gamma/beta 2, dense 2


def test_floor_mask_freezes_every_layer(small_vgg_flat):
    mask = floor_mask(small_vgg_flat)
    assert set(mask) == set(get_mask(small_vgg_flat)) and not any(mask.values())
    saved = get_mask(small_vgg_flat)
    set_mask(small_vgg_flat, mask)
    assert small_vgg_flat.trainable_weights == []
    set_mask(small_vgg_flat, saved)


def test_features_model_computes_what_the_head_computes(small_vgg_flat):
    head = features_model(small_vgg_flat)
    first_head = next(
        layer for layer in small_vgg_flat.layers if not layer.name.startswith(("block", "input"))
    )
    to_features = keras.Model(small_vgg_flat.input, first_head.input)
    images = np.random.default_rng(0).uniform(-1, 1, (2, 32, 32, 3)).astype("float32")
    features = to_features.predict(images, verbose=0)
    np.testing.assert_allclose(
        head.predict(features, verbose=0), small_vgg_flat.predict(images, verbose=0), atol=1e-5
    )
    base_params = sum(
        layer.count_params() for layer in small_vgg_flat.layers if layer.name.startswith("block")
    )
    assert head.count_params() == small_vgg_flat.count_params() - base_params


def test_features_model_needs_a_head():
    inputs = keras.Input((4,))
    model = keras.Model(inputs, layers.Dense(2, name="dense")(inputs))
    with pytest.raises(ValueError, match="no head layers"):
        features_model(model)


def test_trainable_shapes_of_chosen_layers_are_their_own_trainable_weights(small_vgg_flat):
    small_vgg_flat.get_layer("block2_conv1").trainable = False  # flags do not matter
    expected = [
        tuple(v.shape)
        for name in ("block2_conv1", "block2_conv2")
        for v in small_vgg_flat.get_layer(name).weights
    ]
    assert trainable_shapes(small_vgg_flat, ["block2_"]) == expected
    assert not small_vgg_flat.get_layer("block2_conv1").trainable  # put back
    with pytest.raises(ValueError, match="Received: prefixes=\\[\\]"):
        trainable_shapes(small_vgg_flat, [])


def test_a_head_on_cached_features_costs_its_own_step_only_by_hand():
    # The head alone (Flatten -> Dense(5, relu) -> Dense(3)) on cached 6x6x4 features, batch 2.
    # By hand, 2 FLOPs per multiply-add; a Dense's forward adds its bias (and ReLU) per output:
    #   head_dense: 2*144*5 = 1440 MACs -> forward 2880 + 10 bias + 10 relu = 2900; it is now the
    #     first layer, so it computes NO input gradient; weight grad 2880 + 10 = 2890; bias+relu
    #     grads 20.
    #   logits: 2*5*3 = 30 MACs -> forward 60 + 6 = 66; input grad 60; weight grad 66; bias grad 6.
    from freezelab.speed.cost import step_cost

    inputs = keras.Input((6, 6, 2))
    x = layers.Conv2D(4, 3, padding="same", activation="relu", name="block1_conv1")(inputs)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(5, activation="relu", name="head_dense")(x)
    model = keras.Model(inputs, layers.Dense(3, name="logits")(x))
    head_step = step_cost(features_model(model), batch_size=2)
    assert head_step.total_flops == (2900 + 2890 + 20) + (66 + 60 + 66 + 6)
    # Counting head_dense's input gradient (2880 more) is what the lesson once did by mistake.
    assert head_step.total_flops == 6008
