"""Strategies compared: frozen weights kept, pairs shared, a reused model equal to a fresh one."""

import dataclasses

import keras
import numpy as np
import pytest

from freezelab.finetune.peft_compare import (
    PeftArm,
    PeftRun,
    compare_peft_strategies,
    compile_arm,
    merge_gap,
)
from freezelab.sources.vit import tiny_vit

NUM_CLASSES = 3


def make_model(seed):
    # The body is the same "pretrained" network for every seed; the new head depends on it.
    model = tiny_vit(
        image_size=8,
        patch_size=4,
        width=8,
        depth=2,
        num_heads=2,
        mlp_width=8,
        num_classes=NUM_CLASSES,
        seed=0,
    )
    head = model.layers[-1]
    head.kernel.assign(np.random.default_rng(seed).normal(size=head.kernel.shape) * 0.3)
    return model


def make_data(seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(24, 8, 8, 3)).astype("float32") * 50
    y = np.arange(24) % NUM_CLASSES
    return x[:16], y[:16], x[16:], y[16:]


ARMS = [
    PeftArm("head", "head", (1e-2,)),
    PeftArm("LoRA r=2", "lora", (1e-2,), rank=2),
    PeftArm("full", "full", (1e-3,)),
]


@pytest.fixture(scope="module")
def comparison():
    return compare_peft_strategies(
        make_model, make_data, ARMS, [1, 2], epochs=2, batch_size=8, verbose=False
    )


def test_frozen_weights_are_bit_identical_after_fit_and_trained_ones_move(comparison):
    start = make_model(2)  # the last seed's starting weights, built independently
    for label in ("head", "LoRA r=2", "full"):
        trained = comparison.models[label]
        kept = [
            np.array_equal(np.array(a), np.array(b))
            for a, b in zip(
                start.get_layer("block1_mlp1").weights, trained.get_layer("block1_mlp1").weights
            )
        ]
        assert kept == ([False, False] if label == "full" else [True, True])
        assert all(run.frozen_changed == 0 for run in comparison.runs[label])
    query = comparison.models["LoRA r=2"].get_layer("block1_attention").query_dense
    assert np.array_equal(
        np.array(query._kernel), np.array(start.get_layer("block1_attention").query_dense.kernel)
    )
    assert np.abs(np.array(query.lora_kernel_b)).max() > 0  # the factor trained (starts at 0)


def test_every_arm_starts_a_seed_from_the_same_head_and_seeds_differ(comparison):
    for seed_index, seed in enumerate((1, 2)):
        expected = float(np.sum(np.array(make_model(seed).layers[-1].kernel)))
        prints = [comparison.runs[arm.label][seed_index].start_fingerprint for arm in ARMS]
        assert prints == pytest.approx([expected] * len(ARMS), rel=1e-6)
    assert (
        comparison.runs["head"][0].start_fingerprint != comparison.runs["head"][1].start_fingerprint
    )


def test_counts_steps_and_clock(comparison):
    run = comparison.runs["full"][0]
    assert run.steps == (2, 4) and len(run.val_accuracy) == 2
    assert 0 < run.train_seconds[0] < run.train_seconds[1]
    assert comparison.results["full"].trainable_params == make_model(0).count_params()
    assert comparison.results["head"].trainable_params == sum(
        int(np.prod(w.shape)) for w in make_model(0).layers[-1].weights
    ) + sum(int(np.prod(w.shape)) for w in make_model(0).get_layer("final_norm").weights)
    assert "LoRA r=2" in comparison.table() and len(comparison.values("head")) == 2


def test_table_with_step_times_from_elsewhere(comparison):
    # Hand truth: a target of 0 is reached at the first check (2 steps), so the time to it
    # is 2 x the given ms/step.
    reached_at_once = dataclasses.replace(comparison, target_accuracy=0.0)
    step_ms = {arm.label: 100.0 * (index + 1) for index, arm in enumerate(ARMS)}
    table = reached_at_once.table(step_ms=step_ms)
    for arm in ARMS:
        row = next(line for line in table.splitlines() if line.startswith(arm.label + " "))
        seconds = 2 * step_ms[arm.label] / 1000.0
        assert f"{step_ms[arm.label]:.1f}" in row
        assert row.endswith(f"2 of 2: 2 steps (2-2), {seconds:.1f} s"), row
    assert "at that ms/step" in table
    with pytest.raises(ValueError, match="Received"):
        comparison.table(step_ms={ARMS[0].label: 1.0})
    with pytest.raises(ValueError, match="Received"):
        comparison.table(step_ms={arm.label: 0.0 for arm in ARMS})


def test_a_reused_arm_ends_where_a_freshly_compiled_one_does(comparison):
    # Independent truth: the same seed trained on a model built and compiled for it alone.
    seed = 2
    keras.utils.set_random_seed(seed)
    fresh = make_model(seed)
    ARMS[1].apply(fresh)
    compile_arm(fresh, ARMS[1].learning_rates[0])
    x_train, y_train, _, _ = make_data(seed)
    keras.utils.set_random_seed(seed)
    fresh.fit(x_train, y_train, epochs=2, batch_size=8, verbose=0)
    for a, b in zip(fresh.weights, comparison.models["LoRA r=2"].weights):
        np.testing.assert_allclose(np.array(a), np.array(b), atol=1e-6)


def test_merged_lora_gives_the_same_outputs(comparison):
    model = comparison.models["LoRA r=2"]
    images = make_data(0)[2]
    assert merge_gap(model, images) < 1e-5
    # Not vacuous: the factors change the outputs.
    query = model.get_layer("block1_attention").query_dense
    saved = np.array(query.lora_kernel_b)
    before = model.predict(images, verbose=0)
    query.lora_kernel_b.assign(np.zeros_like(saved))
    without = model.predict(images, verbose=0)
    query.lora_kernel_b.assign(saved)
    assert np.abs(before - without).max() > 1e-6
    with pytest.raises(ValueError, match="Received"):
        merge_gap(make_model(0), images)


def test_steps_and_seconds_to_a_target():
    run = PeftRun("a", 0, (4, 8, 12), (0.5, 0.8, 0.7), (1.0, 2.0, 3.0), 0.0, 0)
    assert run.steps_to(0.8) == 8 and run.seconds_to(0.8) == 2.0
    assert run.steps_to(0.9) is None and run.seconds_to(0.9) is None
    assert run.final_accuracy == 0.7 and run.ms_per_step == pytest.approx(250.0)


@pytest.mark.parametrize(
    "arms, seeds, kwargs",
    [
        ([], [0], {}),
        ([PeftArm("a", "head", (1e-3,)), PeftArm("a", "full", (1e-3,))], [0], {}),
        ([PeftArm("a", "prefix", (1e-3,))], [0], {}),
        ([PeftArm("a", "head", (-1.0,))], [0], {}),
        ([PeftArm("a", "head", 1e-3)], [0], {}),
        ([PeftArm("a", "head", (1e-3,))], [0, 0], {}),
        ([PeftArm("a", "head", (1e-3,))], [0], {"epochs": 0}),
        ([PeftArm("a", "head", (1e-3,))], [0], {"target_accuracy": 1.5}),
        ([PeftArm("a", "head", (1e-3, 1e-2))], [0], {}),
        ([PeftArm("a", "head", (1e-3, 1e-2))], [0], {"tuning_seed": 0}),
    ],
)
def test_bad_input_raises_with_the_received_value(arms, seeds, kwargs):
    options = {"epochs": 1, **kwargs}
    with pytest.raises(ValueError, match="Received"):
        compare_peft_strategies(make_model, make_data, arms, seeds, verbose=False, **options)


def test_values_rejects_an_unknown_arm(comparison):
    with pytest.raises(ValueError, match="Received"):
        comparison.values("LoRA r=64")


def _fresh_fit(arm, seed, rate, epochs=2):
    keras.utils.set_random_seed(seed)
    fresh = make_model(seed)
    arm.apply(fresh)
    compile_arm(fresh, rate)
    x_train, y_train, x_val, y_val = make_data(seed)
    keras.utils.set_random_seed(seed)
    fresh.fit(x_train, y_train, epochs=epochs, batch_size=8, verbose=0)
    return fresh, fresh.evaluate(x_val, y_val, verbose=0, return_dict=True)["accuracy"]


def test_a_tuned_arm_keeps_the_rate_that_did_best_on_the_tuning_seed_only():
    arm = PeftArm("LoRA r=2", "lora", (1e-4, 3e-2), rank=2)
    tuned = compare_peft_strategies(
        make_model, make_data, [arm], [1], epochs=2, batch_size=8, tuning_seed=9, verbose=False
    )
    # Independent truth: each rate's accuracy on seed 9 from a freshly compiled model.
    expected = {rate: _fresh_fit(arm, 9, rate)[1] for rate in arm.learning_rates}
    assert tuned.tuning["LoRA r=2"] == pytest.approx(expected, abs=1e-6)
    best = max(expected.values())
    assert tuned.rates["LoRA r=2"] == min(r for r, a in expected.items() if a == best)
    assert tuned.tuning_seed == 9 and tuned.seeds == (1,)
    trained, _ = _fresh_fit(arm, 1, tuned.rates["LoRA r=2"])
    for a, b in zip(trained.weights, tuned.models["LoRA r=2"].weights):
        np.testing.assert_allclose(np.array(a), np.array(b), atol=1e-6)
