"""BatchNormalization facts, checked against Keras's own weight lists and hand-computed statistics."""

import keras
import numpy as np
import pytest
from keras import layers

from freezelab.finetune.batchnorm import (
    BNCounts,
    bn_change,
    bn_counts,
    bn_input_shift,
    bn_layers,
    bn_snapshot,
    freeze_bn,
    reestimate_bn_statistics,
    training_inference_gap,
)
from tests.support.helpers import keras_counts

CHANNELS = 4


def tiny_bn_model(name="tiny_bn"):
    """Conv(4, no bias) -> BN -> ReLU -> GAP -> Dense(3): 108 + 16 + 15 parameters."""
    inputs = keras.Input((8, 8, 3))
    x = layers.Conv2D(CHANNELS, 3, padding="same", use_bias=False, name="block1_conv")(inputs)
    x = layers.BatchNormalization(name="block1_bn")(x)
    x = layers.ReLU(name="block1_relu")(x)
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = layers.Dense(3, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name=name)


def nested_bn_model():
    """The tiny model nested as one layer, with a second BN in the outer head."""
    base = tiny_bn_model("inner")
    inputs = keras.Input((8, 8, 3))
    x = base(inputs)
    x = layers.BatchNormalization(name="head_bn")(x)
    outputs = layers.Dense(2, name="out")(x)
    return keras.Model(inputs, outputs), base


def images(n=16, seed=0):
    return np.random.default_rng(seed).normal(3.0, 2.0, size=(n, 8, 8, 3)).astype("float32")


def test_bn_layers_opens_nested_models_in_order():
    model, _ = nested_bn_model()
    assert [layer.name for layer in bn_layers(model)] == ["block1_bn", "head_bn"]


def test_counts_by_hand_and_against_keras_lists_when_everything_trains():
    model = tiny_bn_model()
    counts = bn_counts(model)
    # One BN layer over 4 channels: gamma + beta = 8, moving mean + variance = 8.
    assert counts == BNCounts(
        layers=1, frozen_layers=0, affine=8, affine_trainable=8, moving=8, moving_trainable=0
    )
    trainable, non_trainable = keras_counts(model)
    assert non_trainable == counts.moving == 8  # the only non-trainable weights
    assert trainable == 108 + 8 + 15
    names = sorted(w.path for w in model.non_trainable_weights)
    assert names == ["block1_bn/moving_mean", "block1_bn/moving_variance"]


def test_freeze_bn_moves_gamma_and_beta_to_keras_non_trainable_list():
    model = tiny_bn_model()
    trainable_before, _ = keras_counts(model)
    assert freeze_bn(model) == ["block1_bn"]
    counts = bn_counts(model)
    trainable, non_trainable = keras_counts(model)
    assert (counts.frozen_layers, counts.affine_trainable) == (1, 0)
    assert trainable == trainable_before - counts.affine
    assert non_trainable == counts.affine + counts.moving
    assert model.get_layer("block1_conv").trainable  # other layers untouched


def test_counts_follow_keras_flags_in_a_nested_model():
    model, base = nested_bn_model()
    base.trainable = False
    counts = bn_counts(model)
    # Only the outer head_bn (over the 3 outputs of the inner model) trains.
    assert (counts.frozen_layers, counts.affine_trainable) == (1, 2 * 3)
    keras_trainable, _ = keras_counts(model)
    assert keras_trainable == counts.affine_trainable + (3 * 2 + 2)
    # Keras 3 goes by each variable's flag: a BN layer unfrozen inside a frozen
    # base trains again (its gamma and beta: 2 * 4 more).
    base.get_layer("block1_bn").trainable = True
    counts = bn_counts(model)
    assert (counts.frozen_layers, counts.affine_trainable) == (0, 2 * 3 + 2 * 4)
    assert keras_counts(model)[0] == counts.affine_trainable + (3 * 2 + 2)
    model.trainable = False
    assert bn_counts(model).affine_trainable == keras_counts(model)[0] == 0


def test_moving_statistics_follow_the_momentum_rule():
    layer = layers.BatchNormalization(momentum=0.9)
    x = images(32)
    layer.build(x.shape)
    model = keras.Sequential([keras.Input((8, 8, 3)), layer])
    layer(x, training=True)
    snap = bn_snapshot(model)[layer.name]
    mean, variance = x.mean(axis=(0, 1, 2)), x.var(axis=(0, 1, 2))
    np.testing.assert_allclose(snap["moving_mean"], 0.1 * mean, rtol=1e-5)
    np.testing.assert_allclose(snap["moving_variance"], 0.9 * 1.0 + 0.1 * variance, rtol=1e-5)
    np.testing.assert_array_equal(snap["gamma"], np.ones(3))


def test_inference_mode_call_changes_no_statistic():
    model = tiny_bn_model()
    before = bn_snapshot(model)
    model(images(), training=False)
    assert bn_change(before, model) == {
        "gamma": 0.0,
        "beta": 0.0,
        "moving_mean": 0.0,
        "moving_variance": 0.0,
    }


def test_bn_change_is_the_largest_absolute_difference():
    model = tiny_bn_model()
    before = bn_snapshot(model)
    bn = model.get_layer("block1_bn")
    bn.moving_mean.assign([0.0, 0.5, -2.0, 0.0])
    change = bn_change(before, model)
    assert change["moving_mean"] == pytest.approx(2.0)
    assert change["moving_variance"] == 0.0


def test_training_mode_matches_batch_statistics_and_restores_state():
    layer = layers.BatchNormalization(epsilon=1e-3)
    x = images(16)
    layer.build(x.shape)
    before = np.array(layer.moving_mean)
    gap = training_inference_gap(layer, x)
    mean, variance = x.mean(axis=(0, 1, 2)), x.var(axis=(0, 1, 2))
    by_batch = (x - mean) / np.sqrt(variance + 1e-3)
    by_moving = x / np.sqrt(1.0 + 1e-3)  # fresh layer: moving mean 0, variance 1
    assert gap == pytest.approx(np.abs(by_batch - by_moving).max(), rel=1e-4)
    np.testing.assert_array_equal(np.array(layer.moving_mean), before)


def test_frozen_bn_runs_in_inference_mode_even_with_training_true():
    model = tiny_bn_model()
    assert training_inference_gap(model, images()) > 0.0
    freeze_bn(model)
    assert training_inference_gap(model, images()) == 0.0


def test_fit_updates_statistics_only_when_bn_is_trainable():
    x, y = images(32), np.arange(32) % 3
    changes = {}
    for frozen in (False, True):
        keras.utils.set_random_seed(0)
        model = tiny_bn_model()
        if frozen:
            freeze_bn(model)
        model.compile("sgd", "sparse_categorical_crossentropy")
        before = bn_snapshot(model)
        model.fit(x, y, epochs=1, batch_size=8, verbose=0)
        changes[frozen] = bn_change(before, model)
    assert changes[True] == dict.fromkeys(changes[True], 0.0)
    assert changes[False]["moving_mean"] > 0.0
    assert changes[False]["moving_variance"] > 0.0


def test_input_shift_in_stored_standard_deviations_by_hand():
    model = tiny_bn_model()
    bn = model.get_layer("block1_bn")
    x = images(8)
    conv = keras.ops.convert_to_numpy(model.get_layer("block1_conv")(x))
    mean = conv.mean(axis=(0, 1, 2))
    bn.moving_mean.assign(mean + np.array([2.0, -2.0, 0.0, 0.0]) * 3.0)
    bn.moving_variance.assign(np.full(4, 9.0 - bn.epsilon))  # stored std exactly 3
    # Channel shifts 2, 2, 0, 0 standard deviations: mean 1.0.
    assert bn_input_shift(model, x) == {"block1_bn": pytest.approx(1.0, rel=1e-4)}
    with pytest.raises(ValueError, match="pass the base"):
        bn_input_shift(nested_bn_model()[0], x)


def test_bad_inputs_raise_keras_style_errors():
    with pytest.raises(ValueError, match="Received"):
        bn_layers("not a model")
    with pytest.raises(ValueError, match="batch_size"):
        bn_input_shift(tiny_bn_model(), images(), batch_size=0)
    with pytest.raises(ValueError, match="at least 2 samples"):
        training_inference_gap(tiny_bn_model(), images(1))
    with pytest.raises(ValueError, match="Keras layer"):
        training_inference_gap(np.zeros(3), images())
    with pytest.raises(ValueError, match="different BN layers"):
        bn_change(bn_snapshot(tiny_bn_model()), bn_snapshot(nested_bn_model()[0]))
    with pytest.raises(ValueError, match="two bn_snapshot"):
        bn_change([], tiny_bn_model())


def test_reestimate_stores_the_statistics_of_the_images_layer_by_layer():
    inputs = keras.Input((6, 6, 3))
    x = keras.layers.Conv2D(4, 3, use_bias=False, name="conv_a")(inputs)
    x = keras.layers.BatchNormalization(name="bn_a")(x)
    x = keras.layers.Conv2D(2, 3, use_bias=False, name="conv_b")(x)
    x = keras.layers.BatchNormalization(name="bn_b")(x)
    model = keras.Model(inputs, x)
    frozen = model.get_layer("bn_b")
    frozen.trainable = False
    kept_mean = np.array(frozen.moving_mean)
    data = np.random.default_rng(1).normal(3.0, 2.0, size=(20, 6, 6, 3)).astype("float32")

    assert reestimate_bn_statistics(model, data) == ["bn_a"]
    # Independent truth: NumPy statistics of what reaches bn_a.
    conv_out = keras.ops.convert_to_numpy(
        keras.Model(inputs, model.get_layer("conv_a").output)(data)
    )
    bn_a = model.get_layer("bn_a")
    np.testing.assert_allclose(
        bn_a.moving_mean, conv_out.mean(axis=(0, 1, 2)), rtol=1e-4, atol=1e-4
    )
    np.testing.assert_allclose(
        bn_a.moving_variance, conv_out.var(axis=(0, 1, 2)), rtol=1e-3, atol=1e-4
    )
    assert bn_a.momentum == 0.99  # put back
    np.testing.assert_array_equal(frozen.moving_mean, kept_mean)  # frozen: inference mode, kept
    with pytest.raises(ValueError, match="at least 2 samples"):
        reestimate_bn_statistics(model, data[:1])
