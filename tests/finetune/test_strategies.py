"""Tests for freezelab.finetune.strategies: preprocessing, strategies, the recompile pitfall."""

import keras
import numpy as np
import pytest

from freezelab.finetune.strategies import (
    Budget,
    SplitData,
    build_classifier,
    forgotten_recompile_demo,
    format_summary,
    preprocess_images,
    run_strategy,
    subset_per_class,
)


def tiny_base():
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", name="block1_conv1")(inputs)
    x = keras.layers.Conv2D(4, 3, padding="same", name="block2_conv1")(x)
    return keras.Model(inputs, x, name="tiny_base")


def tiny_data(train=24, val=12, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    return SplitData(
        rng.uniform(0, 255, (train, 8, 8, 3)).astype("float32"),
        np.arange(train) % classes,
        rng.uniform(0, 255, (val, 8, 8, 3)).astype("float32"),
        np.arange(val) % classes,
        classes,
    )


def test_caffe_preprocessing_by_hand():
    pixel = np.array([[[[255.0, 0.0, 0.0]]]])  # pure red, RGB
    # BGR order, ImageNet means (103.939, 116.779, 123.68) subtracted.
    expected = [0 - 103.939, 0 - 116.779, 255 - 123.68]
    np.testing.assert_allclose(preprocess_images(pixel, "caffe")[0, 0, 0], expected, rtol=1e-5)
    np.testing.assert_allclose(preprocess_images(pixel, "unit")[0, 0, 0], [1.0, 0.0, 0.0])
    assert pixel[0, 0, 0, 0] == 255.0  # input untouched


def test_preprocessing_rejects_unknown_names_and_shapes():
    with pytest.raises(ValueError, match="Received: 'torch'"):
        preprocess_images(np.zeros((1, 4, 4, 3)), "torch")
    with pytest.raises(ValueError, match=r"Received: shape \(4, 4, 3\)"):
        preprocess_images(np.zeros((4, 4, 3)))


def test_subset_per_class_keeps_that_many_of_each():
    subset = subset_per_class(tiny_data(train=30), per_class=4)
    assert np.bincount(subset.y_train).tolist() == [4, 4, 4]
    assert len(subset.x_train) == 12
    with pytest.raises(ValueError, match="per_class=11"):
        subset_per_class(tiny_data(train=30), per_class=11)


def test_budget_and_strategy_are_checked():
    with pytest.raises(ValueError, match="epochs=1"):
        Budget(epochs=1)
    with pytest.raises(ValueError, match="head_epochs=3"):
        Budget(epochs=3, head_epochs=3)
    with pytest.raises(ValueError, match="Received: 'fine_tune'"):
        run_strategy("fine_tune", tiny_base, tiny_data())


def test_feature_extraction_trains_the_models_own_head_on_cached_features():
    data = tiny_data()
    run = run_strategy("feature_extraction", tiny_base, data, Budget(epochs=2, batch_size=8))
    drift = {d.name: d.relative_change for d in run.drift}
    assert drift["block1_conv1"] == 0.0 and drift["block2_conv1"] == 0.0
    assert drift["predictions"] > 0.0
    # The head trained on cached features is the model's own head: evaluating the
    # whole model on images gives the last validation accuracy of the history.
    x_val = preprocess_images(data.x_val)
    _, accuracy = run.model.evaluate(x_val, data.y_val, verbose=0)
    assert accuracy == pytest.approx(run.final_val_accuracy)
    # Only the head's parameters trained: Dense(64) on 4 features, Dense(3).
    assert run.trainable_params == (4 * 64 + 64) + (64 * 3 + 3)


def test_freeze_blocks_leaves_the_prefix_exactly_unchanged():
    run = run_strategy(
        "freeze_blocks",
        tiny_base,
        tiny_data(),
        Budget(epochs=2, batch_size=8),
        freeze_up_to="block1",
    )
    drift = {d.name: (d.relative_change, d.trainable) for d in run.drift}
    assert drift["block1_conv1"] == (0.0, False)
    assert drift["block2_conv1"][0] > 0.0 and drift["block2_conv1"][1] is True
    assert "freeze_blocks" in format_summary([run])
    with_seconds = format_summary([run]).splitlines()
    without = format_summary([run], seconds=False).splitlines()
    assert with_seconds[0].split()[-1] == "seconds" and "seconds" not in without[0]
    assert without[2].split() == with_seconds[2].split()[:-1]
    assert float(with_seconds[2].split()[-1]) == round(run.seconds, 1)


def test_forgetting_to_recompile_lets_a_frozen_layer_move():
    data = tiny_data()
    model = build_classifier(tiny_base(), data.num_classes)
    without, after_recompile = forgotten_recompile_demo(
        model, preprocess_images(data.x_train), data.y_train, freeze_spec="block1", batch_size=8
    )
    assert without > 0.0
    assert after_recompile == 0.0


def test_every_strategy_trains_pretrained_layers_at_the_fine_tune_rate():
    budget = Budget(epochs=4, batch_size=8, learning_rate=1e-2, fine_tune_learning_rate=1e-3)
    for strategy in ("freeze_blocks", "full_fine_tuning", "from_scratch", "two_phase"):
        run = run_strategy(strategy, tiny_base, tiny_data(), budget, freeze_up_to="block1")
        rate = float(keras.ops.convert_to_numpy(run.model.optimizer.learning_rate))
        assert rate == pytest.approx(1e-3), strategy
    two_phase = run_strategy("two_phase", tiny_base, tiny_data(), budget)
    assert [r.learning_rate for r in two_phase.stages] == pytest.approx([1e-2, 1e-2, 1e-3, 1e-3])
    assert [r.recompiled for r in two_phase.stages] == [True, False, True, False]


def test_feature_extraction_trains_its_head_for_feature_epochs():
    budget = Budget(epochs=2, batch_size=8, feature_epochs=7)
    run = run_strategy("feature_extraction", tiny_base, tiny_data(), budget)
    assert len(run.history["accuracy"]) == 7
    with pytest.raises(ValueError, match="feature_epochs=0"):
        Budget(epochs=2, feature_epochs=0)


@pytest.mark.parametrize("strategy", ["freeze_blocks", "full_fine_tuning", "from_scratch"])
def test_a_reused_compiled_model_gives_the_run_a_fresh_model_gives(strategy):
    budget = Budget(epochs=2, batch_size=8)

    def run(seed, **extra):
        data = tiny_data(seed=seed)
        return run_strategy(
            strategy, tiny_base, data, budget, seed=seed, freeze_up_to="block1", **extra
        )

    fresh = [run(seed) for seed in (0, 1)]
    pool = {}
    first = run(0, reuse=pool)
    kept = next(iter(pool.values()))["model"]
    train_function = kept.train_function
    second = run(1, reuse=pool)
    assert len(pool) == 1 and second.model is kept
    assert kept.train_function is train_function  # traced once, used twice
    assert first.model is not kept  # the earlier run keeps a copy of its own weights
    for expected, got in zip(fresh, (first, second)):
        for metric, values in expected.history.items():
            np.testing.assert_allclose(got.history[metric], values, rtol=1e-5, atol=1e-6)
        for a, b in zip(expected.model.get_weights(), got.model.get_weights()):
            np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)
        assert got.weights == expected.weights


def test_reuse_must_be_a_dict():
    with pytest.raises(ValueError, match="Received: reuse="):
        run_strategy("full_fine_tuning", tiny_base, tiny_data(), Budget(epochs=2), reuse=[])
