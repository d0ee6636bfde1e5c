"""BN fine-tuning experiments on a tiny base: frozen statistics stay exact, arms paired by seed."""

import keras
import numpy as np
import pytest
from keras import layers

from freezelab.finetune.bn_finetune import (
    ArmComparison,
    ArmRun,
    compare_arms,
    nested_classifier,
    run_guide_recipe,
)
from freezelab.finetune.strategies import Budget, SplitData, preprocess_images

BUDGET = Budget(epochs=2, batch_size=8, learning_rate=1e-2, fine_tune_learning_rate=1e-3)


def tiny_base():
    """Conv(4, no bias) -> BN -> ReLU, with BN statistics far from the defaults."""
    inputs = keras.Input((8, 8, 3))
    x = layers.Conv2D(4, 3, padding="same", use_bias=False, name="block1_conv")(inputs)
    x = layers.BatchNormalization(name="block1_bn")(x)
    x = layers.ReLU(name="block1_relu")(x)
    base = keras.Model(inputs, x, name="tiny_base")
    bn = base.get_layer("block1_bn")
    bn.moving_mean.assign([5.0, -5.0, 2.0, 0.0])
    bn.moving_variance.assign([40.0, 30.0, 20.0, 10.0])
    return base


def tiny_data(n=24):
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, size=(n, 8, 8, 3)).astype("float32")
    y = np.arange(n) % 3
    return SplitData(x, y, x[:8], y[:8], 3)


def arms():
    def updating(base, x_train):
        return head(base)

    def frozen(base, x_train):
        base.get_layer("block1_bn").trainable = False
        return head(base)

    return {"updating": updating, "frozen": frozen}


def head(base):
    x = layers.GlobalAveragePooling2D()(base.output)
    return keras.Model(base.input, layers.Dense(3, activation="softmax")(x))


def splits(seed):
    data = tiny_data()
    return SplitData(data.x_train, data.y_train, data.x_val[seed:], data.y_val[seed:], 3)


@pytest.mark.slow
def test_compare_arms_pairs_seeds_measures_bn_and_each_seed_runs_as_if_fresh():
    result = compare_arms(tiny_base, splits, arms(), BUDGET, seeds=(0, 1), reestimate=True)
    assert result.arms == ("updating", "frozen") and result.seeds == (0, 1)
    frozen = result.of_arm("frozen")
    assert all(run.moving_change == 0.0 and run.affine_change == 0.0 for run in frozen)
    # Conv 3*3*3*4 + Dense 4*3 + 3: everything except the BN layer's 16 weights.
    assert frozen[0].trainable_params == 108 + 15
    # A frozen BN layer never runs in training mode: re-estimating changes nothing.
    assert result.values("frozen") == result.values("frozen", "reestimated_val_accuracy")
    updating = result.of_arm("updating")
    assert all(run.moving_change > 0.0 and run.affine_change > 0.0 for run in updating)
    assert updating[1].trainable_params == 108 + 8 + 15
    # Seed 1 evaluates on its own split: 7 validation images, so accuracy is a multiple of 1/7.
    assert round(updating[1].val_accuracy * 7, 4) == round(updating[1].val_accuracy * 7)
    # The second seed reuses the compiled model; a fresh model must give the same run.
    alone = compare_arms(tiny_base, splits, {"updating": arms()["updating"]}, BUDGET, seeds=(1,))
    assert alone.of_arm("updating")[0].val_accuracy == pytest.approx(updating[1].val_accuracy)
    assert alone.of_arm("updating")[0].moving_change == pytest.approx(
        updating[1].moving_change, rel=1e-5
    )
    assert "median" in result.table() and len(result.table().splitlines()) == 4


@pytest.mark.slow
def test_eval_every_epoch_leaves_training_unchanged_and_ends_at_the_final_numbers():
    budget = Budget(epochs=3, batch_size=8, learning_rate=1e-2)
    plain = compare_arms(tiny_base, splits, arms(), budget, seeds=(0, 1), reestimate=True)
    epochs = compare_arms(
        tiny_base, splits, arms(), budget, seeds=(0, 1), reestimate=True, eval_every_epoch=True
    )
    for arm in ("updating", "frozen"):
        for run, traced in zip(plain.of_arm(arm), epochs.of_arm(arm)):
            # Re-estimating after each epoch and putting the statistics back changes nothing.
            assert traced.val_accuracy == run.val_accuracy
            assert traced.moving_change == pytest.approx(run.moving_change, rel=1e-6)
            assert traced.reestimated_val_accuracy == run.reestimated_val_accuracy
            assert len(traced.epoch_val_accuracy) == 3
            assert traced.epoch_val_accuracy[-1] == traced.val_accuracy
            assert traced.epoch_reestimated_val_accuracy[-1] == traced.reestimated_val_accuracy
        per_epoch = epochs.epoch_values(arm)
        assert len(per_epoch) == 3 and all(len(seeds) == 2 for seeds in per_epoch)
        assert [values[-1] for values in zip(*per_epoch)] == epochs.values(arm)
    # A frozen BN layer ignores re-estimation after every epoch as well.
    assert epochs.epoch_values("frozen") == epochs.epoch_values(
        "frozen", "reestimated_val_accuracy"
    )
    # An independent truth for one epoch: a fresh model trained for one epoch by hand.
    keras.utils.set_random_seed(0)
    model = arms()["updating"](tiny_base(), None)
    model.compile(
        optimizer=keras.optimizers.Adam(1e-2),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    model.optimizer.build(model.trainable_variables)
    data = splits(0)
    x_train = preprocess_images(data.x_train)
    keras.utils.set_random_seed(0)  # as compare_arms does right before fit()
    model.fit(x_train, data.y_train, epochs=1, batch_size=8, verbose=0)
    by_hand = model.evaluate(preprocess_images(data.x_val), data.y_val, verbose=0, return_dict=True)
    assert epochs.epoch_values("updating")[0][0] == pytest.approx(by_hand["accuracy"])
    with pytest.raises(ValueError, match="eval_every_epoch=True"):
        plain.epoch_values("updating")
    with pytest.raises(ValueError, match="metric must be one of"):
        epochs.epoch_values("updating", "train_accuracy")


@pytest.mark.slow
def test_identical_arms_see_the_same_batches_whatever_their_builders_draw():
    def plain(base, x_train):
        return head(base)

    def drawing(base, x_train):
        # A builder may draw random numbers (NumPy's global generator, which the JAX and torch
        # trainers shuffle with) or reseed while it builds (here: to 7, as a helper of its own
        # might); neither may change the order of the batches in fit().
        model = head(base)
        np.random.permutation(len(x_train))
        keras.utils.set_random_seed(7)
        np.random.permutation(len(x_train))
        return model

    def cloned(base, x_train):
        # As lesson 06's "statistics kept" arm is built: through clone_model (which draws new
        # initial weights), then the plain model's weights copied in.
        model = head(base)
        copy = keras.models.clone_model(model)
        copy.set_weights(model.get_weights())
        return copy

    builders = {"plain": plain, "drawing": drawing, "cloned": cloned}
    result = compare_arms(tiny_base, splits, builders, BUDGET, (0, 1), eval_every_epoch=True)
    for other_arm in ("drawing", "cloned"):
        for same, other in zip(result.of_arm("plain"), result.of_arm(other_arm)):
            # Same initial weights (built right after the seed is set, draws after), so any
            # difference comes from the batch order: the moving statistics follow every batch.
            assert other.moving_change == same.moving_change
            assert other.val_accuracy == same.val_accuracy
            assert other.train_accuracy == same.train_accuracy
            assert other.epoch_val_accuracy == same.epoch_val_accuracy


def test_arm_comparison_values_and_table_in_seed_order():
    def run(arm, seed, accuracy):
        return ArmRun(arm, seed, accuracy, 1.0, None, 0.0, 0.0, 0, 0.0)

    result = ArmComparison(
        ("a", "b"),
        (3, 7),
        (run("a", 3, 0.5), run("a", 7, 0.7), run("b", 3, 0.25), run("b", 7, 0.75)),
    )
    assert result.values("a") == [0.5, 0.7]
    assert result.values("b", "train_accuracy") == [1.0, 1.0]
    assert result.table().splitlines()[-1].split() == ["median", "0.600", "0.500"]
    with pytest.raises(ValueError, match="not measured"):
        result.values("a", "reestimated_val_accuracy")
    with pytest.raises(ValueError, match="arm must be one of"):
        result.values("c")
    with pytest.raises(ValueError, match="metric must be one of"):
        result.values("a", "loss")


def test_compare_arms_refuses_bad_arms_and_seeds():
    with pytest.raises(ValueError, match="at least one"):
        compare_arms(tiny_base, splits, {}, BUDGET)
    with pytest.raises(ValueError, match="callable"):
        compare_arms(tiny_base, splits, {"a": 3}, BUDGET)
    with pytest.raises(ValueError, match="must not repeat"):
        compare_arms(tiny_base, splits, arms(), BUDGET, seeds=(1, 1))
    with pytest.raises(ValueError, match="non-empty"):
        compare_arms(tiny_base, splits, arms(), BUDGET, seeds=())


def test_compare_arms_refuses_a_builder_that_freezes_differently_per_seed():
    calls = []

    def unstable(base, x_train):
        calls.append(x_train.shape)
        if len(calls) > 1:
            base.get_layer("block1_conv").trainable = False
        return head(base)

    with pytest.raises(RuntimeError, match="different trainable set"):
        compare_arms(tiny_base, splits, {"unstable": unstable}, BUDGET, seeds=(0, 1))


def test_nested_classifier_records_training_false_on_the_base_call():
    base = tiny_base()
    model = nested_classifier(base, 3, training=False)
    assert model.layers[1] is base
    node = next(entry for entry in model.get_config()["layers"] if entry["name"] == "tiny_base")[
        "inbound_nodes"
    ][0]
    assert node["kwargs"]["training"] is False
    plain = nested_classifier(tiny_base(), 3, training=None)
    node = next(e for e in plain.get_config()["layers"] if e["name"] == "tiny_base")
    assert "training" not in node["inbound_nodes"][0]["kwargs"]
    with pytest.raises(ValueError, match="training must be"):
        nested_classifier(base, 3, training="no")


@pytest.mark.slow
def test_guide_recipe_variants_measure_bn_as_a_direct_call_shows():
    guide, plain, refrozen = run_guide_recipe(tiny_base, tiny_data(), BUDGET)
    for run in (guide, plain, refrozen):
        head = run.phases[0]
        assert head.trainable_params == 15  # base frozen: the Dense head only
        assert (head.moving_change, head.affine_change, head.mode_gap) == (0.0, 0.0, 0.0)
    # Without training=False, unfreezing puts BN back in training mode.
    unfrozen = plain.phases[1]
    assert unfrozen.trainable_params == 108 + 8 + 15
    assert unfrozen.moving_change > 0.0 and unfrozen.mode_gap > 0.0
    assert not plain.kept_inference_mode
    # BN frozen again after unfreezing: inference mode, nothing of BN moves.
    unfrozen = refrozen.phases[1]
    assert unfrozen.trainable_params == 108 + 15
    assert (unfrozen.moving_change, unfrozen.affine_change, unfrozen.mode_gap) == (0.0, 0.0, 0.0)
    assert refrozen.kept_inference_mode
    # Whether fit() honours base(inputs, training=False) depends on the Keras
    # version: the recipe must report what a direct training-mode call shows.
    base = tiny_base()
    model = nested_classifier(base, 3, training=False)
    x = tiny_data().x_val
    before = np.array(base.get_layer("block1_bn").moving_mean)
    same = np.allclose(model(x, training=True), model(x, training=False))
    moved = not np.array_equal(before, np.array(base.get_layer("block1_bn").moving_mean))
    assert same != moved  # inference mode exactly when the statistics stayed put
    assert guide.kept_inference_mode == same
    assert guide.label == "base(inputs, training=False)"


def test_guide_recipe_refuses_bad_variants():
    with pytest.raises(ValueError, match="pair"):
        run_guide_recipe(tiny_base, tiny_data(), BUDGET, variants=[(True,)])
    with pytest.raises(ValueError, match="training_false"):
        run_guide_recipe(tiny_base, tiny_data(), BUDGET, variants=[(1, False)])
    with pytest.raises(ValueError, match="at least one"):
        run_guide_recipe(tiny_base, tiny_data(), BUDGET, variants=[])
