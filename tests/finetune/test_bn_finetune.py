"""BN fine-tuning experiments on a tiny base: frozen statistics stay exact, comparisons by hand."""

import keras
import numpy as np
import pytest
from keras import layers

from freezelab.finetune.bn_finetune import (
    BNRun,
    compare_bn_runs,
    fine_tune_with_bn,
    nested_classifier,
    run_guide_recipe,
)
from freezelab.finetune.strategies import Budget, SplitData

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


def run(mode, seed, accuracy):
    return BNRun(mode, seed, {"val_accuracy": [accuracy]}, 0.0, 0.0, 0, 0.0)


def test_frozen_bn_keeps_every_statistic_and_trains_the_rest():
    (result,) = fine_tune_with_bn(tiny_base, tiny_data(), "frozen", BUDGET)
    assert result.moving_change == 0.0
    assert result.affine_change == 0.0
    # Conv 3*3*3*4 + Dense 4*3 + 3: everything except the BN layer's 16 weights.
    assert result.trainable_params == 108 + 15
    assert len(result.history["val_accuracy"]) == BUDGET.epochs


@pytest.mark.slow
def test_updating_bn_moves_its_statistics_and_each_seed_runs_as_if_fresh():
    first, second = fine_tune_with_bn(tiny_base, tiny_data(), "updating", BUDGET, seeds=(0, 1))
    assert (first.seed, second.seed) == (0, 1)
    assert second.moving_change > 0.0 and second.affine_change > 0.0
    assert second.trainable_params == 108 + 8 + 15
    # The second seed reuses the compiled model; a fresh model must give the same run.
    (alone,) = fine_tune_with_bn(tiny_base, tiny_data(), "updating", BUDGET, seeds=(1,))
    for key in ("loss", "val_loss", "val_accuracy"):
        np.testing.assert_allclose(second.history[key], alone.history[key], rtol=1e-5)
    assert second.moving_change == pytest.approx(alone.moving_change, rel=1e-5)


def test_unknown_bn_mode_and_bad_seeds_are_refused():
    with pytest.raises(ValueError, match="must be one of"):
        fine_tune_with_bn(tiny_base, tiny_data(), "sometimes", BUDGET)
    with pytest.raises(ValueError, match="must not repeat"):
        fine_tune_with_bn(tiny_base, tiny_data(), "frozen", BUDGET, seeds=(1, 1))
    with pytest.raises(ValueError, match="non-empty"):
        fine_tune_with_bn(tiny_base, tiny_data(), "frozen", BUDGET, seeds=())


def test_comparison_names_a_winner_only_beyond_the_spread():
    runs = [run("updating", s, a) for s, a in zip((0, 1, 2), (0.5, 0.6, 0.7))]
    runs += [run("frozen", s, 0.3) for s in (0, 1, 2)]
    clear = compare_bn_runs(runs)
    assert clear.means["updating"] == pytest.approx(0.6)
    assert clear.stds["updating"] == pytest.approx(0.1)  # sample std of 0.5, 0.6, 0.7
    assert clear.gap == pytest.approx(0.3)
    assert clear.winner == "updating"
    assert clear.verdict().startswith("shown in this run")

    close = [run("updating", s, a) for s, a in zip((0, 1, 2), (0.5, 0.6, 0.7))]
    close += [run("frozen", s, a) for s, a in zip((0, 1, 2), (0.45, 0.6, 0.6))]
    result = compare_bn_runs(close)
    assert result.gap == pytest.approx(0.05)
    assert result.winner is None
    assert result.verdict().startswith("not shown in this run (within noise")
    assert "0.500" in result.table() and "0.450" in result.table()


def test_comparison_refuses_unpaired_or_single_seeds():
    with pytest.raises(ValueError, match="same seeds"):
        compare_bn_runs([run("updating", 0, 0.5), run("frozen", 1, 0.5)])
    with pytest.raises(ValueError, match="same seeds"):
        compare_bn_runs([run("updating", 0, 0.5), run("frozen", 0, 0.5)])
    with pytest.raises(ValueError, match="Two runs"):
        compare_bn_runs([run("updating", 0, 0.5), run("updating", 0, 0.6)])


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
