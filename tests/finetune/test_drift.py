"""Tests for freezelab.finetune.drift: relative weight change, the frozen-layer check, filter pictures."""

import keras
import numpy as np
import pytest

from freezelab.core.freezing import freeze, get_mask
from freezelab.finetune.drift import (
    LayerDrift,
    drift_by_block,
    relative_change,
    snapshot_weights,
    verify_frozen_unchanged,
    weight_drift,
)


def tiny_model():
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, name="block1_conv1")(inputs)
    x = keras.layers.Conv2D(4, 3, name="block2_conv1")(x)
    x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    outputs = keras.layers.Dense(3, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs)


def random_batch(count=32, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(count, 8, 8, 3)).astype("float32"), rng.integers(0, 3, count)


def test_relative_change_matches_hand_computation():
    old = [np.array([3.0, 0.0]), np.array([4.0])]  # norm 5
    new = [np.array([3.0, 3.0]), np.array([0.0])]  # difference (0, 3, -4): norm 5
    assert relative_change(old, new) == pytest.approx(1.0)
    assert relative_change(old, [w.copy() for w in old]) == 0.0


def test_relative_change_of_zero_start_is_plain_norm():
    assert relative_change([np.zeros(2)], [np.array([6.0, 8.0])]) == pytest.approx(10.0)


def test_frozen_layer_drift_is_exactly_zero_and_trained_layers_move():
    model = tiny_model()
    freeze(model, "block1_conv1")
    model.compile(keras.optimizers.Adam(1e-2), "sparse_categorical_crossentropy")
    before = snapshot_weights(model)
    x, y = random_batch()
    model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    drifts = weight_drift(before, model, mask=get_mask(model))
    moved = {d.name for d in drifts if d.relative_change > 0}
    # Independent truth: the layers owning Keras's own trainable weights.
    keras_trainable = {
        layer.name
        for layer in model.layers
        if any(w.trainable for w in layer.weights) and layer.trainable
    }
    assert moved == keras_trainable == {"block2_conv1", "predictions"}
    assert verify_frozen_unchanged(drifts) == ["block1_conv1"]
    assert [d.block for d in drifts] == ["block1", "block2", "head"]


def test_verify_frozen_unchanged_names_a_moved_frozen_layer():
    drifts = [
        LayerDrift("block1_conv1", "block1", 0.02, False),
        LayerDrift("dense", "head", 1.0, True),
    ]
    with pytest.raises(RuntimeError, match="block1_conv1"):
        verify_frozen_unchanged(drifts)


def test_verify_frozen_unchanged_needs_trainable_flags():
    with pytest.raises(ValueError, match="Received"):
        verify_frozen_unchanged([LayerDrift("dense", "head", 0.0)])


def test_weight_drift_rejects_snapshot_of_another_model():
    model = tiny_model()
    other = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, name="dense_x")])
    with pytest.raises(ValueError, match="dense_x"):
        weight_drift(snapshot_weights(other), model)
    with pytest.raises(ValueError, match="Received"):
        weight_drift([1, 2], model)


def test_drift_by_block_takes_largest_per_block():
    drifts = [
        LayerDrift("block1_conv1", "block1", 0.1),
        LayerDrift("block1_conv2", "block1", 0.3),
        LayerDrift("predictions", "head", 0.5),
    ]
    assert drift_by_block(drifts) == {"block1": 0.3, "head": 0.5}
