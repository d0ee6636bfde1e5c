"""Tests for freezelab.finetune.head_first: every arm from the same trained head."""

import functools

import keras
import numpy as np
import pytest

from freezelab.finetune.head_first import (
    ARMS,
    head_first_over_seeds,
    head_layers,
    steps_per_call,
    train_head_until_flat,
)
from freezelab.finetune.strategies import build_classifier, preprocess_images
from tests.support.finetune import tiny_base as shared_tiny_base
from tests.support.finetune import tiny_data


def tiny_base():
    return shared_tiny_base(("block1", "block4", "block5"))


def run(seeds=(0,), rates=(1e-3,), **kwargs):
    settings = dict(
        rates=rates,
        scratch_rate=1e-3,
        epochs=2,
        batch_size=8,
        head_learning_rate=1e-2,
        head_max_epochs=6,
        head_patience=2,
        freeze_up_to="block1",  # the tiny base has blocks 1, 4 and 5
    )
    settings.update(kwargs)
    return head_first_over_seeds(tiny_base, tiny_data, seeds, **settings)


def test_the_head_evaluated_on_cached_features_matches_the_whole_network():
    data = tiny_data()
    arrays = (
        preprocess_images(data.x_train),
        data.y_train,
        preprocess_images(data.x_val),
        data.y_val,
    )
    keras.utils.set_random_seed(0)
    model = build_classifier(tiny_base(), 3)
    fit = train_head_until_flat(
        model, arrays, learning_rate=1e-2, batch_size=8, max_epochs=10, patience=3, min_delta=0.01
    )
    model.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    loss, accuracy = model.evaluate(arrays[2], arrays[3], verbose=0)  # through the base
    assert fit.evaluation.val_accuracy == pytest.approx(accuracy, abs=1e-6)
    assert fit.evaluation.val_loss == pytest.approx(loss, rel=1e-4)


@functools.cache
def default_run():
    return run()


def test_every_arm_starts_from_the_trained_head():
    seed = default_run().runs[0]
    for (arm, _), result in seed.arms.items():
        expected = seed.scratch_head if arm == "from_scratch" else seed.head
        assert result.start == expected.evaluation
    assert {arm for arm, _ in seed.arms} == set(ARMS)


def test_freeze_blocks_keeps_its_frozen_block_and_full_fine_tuning_moves_every_block():
    seed = default_run().runs[0]
    frozen = seed.arms["freeze_blocks", 1e-3].drift
    assert frozen["block1"] == 0.0
    assert frozen["block4"] > 0 and frozen["block5"] > 0
    assert all(value > 0 for value in seed.arms["full_fine_tuning", 1e-3].drift.values())


def test_head_only_keeps_every_base_block_and_trains_the_head_on():
    seed = default_run().runs[0]
    head_only = seed.arms["head_only", 1e-3]
    assert set(head_only.drift) == {"block1", "block4", "block5"}
    assert all(value == 0.0 for value in head_only.drift.values())
    # the head went on training: its loss on the validation images moved from the start's
    assert head_only.end.val_loss != pytest.approx(head_only.start.val_loss, abs=1e-7)


def test_a_zero_rate_changes_nothing():
    seed = run(rates=(0.0,), scratch_rate=0.0).runs[0]
    for result in seed.arms.values():
        assert result.end.val_accuracy == pytest.approx(result.start.val_accuracy, abs=1e-6)
        assert all(value == 0.0 for value in result.drift.values())


def test_reused_compiled_models_give_the_numbers_of_fresh_ones():
    both = run(seeds=(0, 1), rates=(1e-3, 1e-2))  # seed 1 and rate 1e-2 reuse compiled models
    alone = run(seeds=(1,), rates=(1e-2,))
    for arm, rate in (("freeze_blocks", 1e-2), ("full_fine_tuning", 1e-2)):
        expected = alone.runs[0].arms[arm, rate]
        got = both.runs[1].arms[arm, rate]
        assert got.end.val_loss == pytest.approx(expected.end.val_loss, rel=1e-4)
        for block, value in expected.drift.items():
            assert got.drift[block] == pytest.approx(value, rel=1e-4, abs=1e-7)


def test_the_head_stops_when_its_loss_is_flat():
    data = tiny_data()
    arrays = (
        preprocess_images(data.x_train),
        data.y_train,
        preprocess_images(data.x_val),
        data.y_val,
    )
    keras.utils.set_random_seed(0)
    model = build_classifier(tiny_base(), 3)
    common = dict(learning_rate=1e-3, batch_size=8, max_epochs=6)
    never_flat = train_head_until_flat(model, arrays, patience=2, min_delta=0.0, **common)
    always_flat = train_head_until_flat(model, arrays, patience=2, min_delta=100.0, **common)
    # checked every 2 epochs: the first check sets the best, the second finds no fall of 100
    assert always_flat.epochs == 4
    assert never_flat.epochs <= 6
    assert 2 * len(never_flat.losses) == never_flat.epochs


def test_values_and_drift_refuse_what_was_not_run():
    comparison = default_run()
    assert len(comparison.values("full_fine_tuning", 1e-3)) == 1
    assert comparison.values("from_scratch") == comparison.values("from_scratch", 5.0)
    with pytest.raises(ValueError, match="Received: arm='two_phase'"):
        comparison.values("two_phase", 1e-3)
    with pytest.raises(ValueError, match=r"Received: rate=0\.5"):
        comparison.values("freeze_blocks", 0.5)
    with pytest.raises(ValueError, match="Received: key='loss'"):
        comparison.values("freeze_blocks", 1e-3, key="loss")
    with pytest.raises(ValueError, match="Received: arm='from_scratch'"):
        comparison.drift("from_scratch", 1e-3, "block1")
    with pytest.raises(ValueError, match=r"Received: seeds=\(\)"):
        run(seeds=())


def test_no_scratch_rate_runs_no_from_scratch_arm_but_keeps_random_features():
    with_scratch, without = default_run(), run(scratch_rate=None)
    assert without.scratch_rate is None
    assert ("from_scratch", 1e-3) in with_scratch.runs[0].arms
    assert not any(arm == "from_scratch" for arm, _ in without.runs[0].arms)
    # the random base's head is trained either way, from the same start
    assert without.runs[0].scratch_head == with_scratch.runs[0].scratch_head
    assert without.values("full_fine_tuning", 1e-3) == with_scratch.values("full_fine_tuning", 1e-3)
    with pytest.raises(ValueError, match="from_scratch was not run"):
        without.values("from_scratch")


def tiny_arrays():
    data = tiny_data()
    return (
        preprocess_images(data.x_train),
        data.y_train,
        preprocess_images(data.x_val),
        data.y_val,
    )


def test_without_the_rule_the_head_trains_exactly_the_passes_asked():
    arrays = tiny_arrays()
    keras.utils.set_random_seed(0)
    model = build_classifier(tiny_base(), 3)
    # a loss that never falls by 100: the rule would stop at the second check (4 passes)
    common = dict(learning_rate=1e-3, batch_size=8, max_epochs=10, patience=2, min_delta=100.0)
    ruled = train_head_until_flat(model, arrays, **common)
    fixed = train_head_until_flat(model, arrays, stop_when_flat=False, **common)
    assert ruled.epochs == 4
    assert fixed.epochs == 10
    assert len(fixed.losses) == 5


def test_the_start_fingerprint_is_the_sum_of_the_starting_head():
    arrays = tiny_arrays()
    keras.utils.set_random_seed(0)
    model = build_classifier(tiny_base(), 3)
    start = [w for layer in head_layers(model) for w in layer.get_weights()]
    fit = train_head_until_flat(
        model, arrays, learning_rate=1e-2, batch_size=8, max_epochs=4, patience=2, min_delta=0.01
    )
    assert fit.start_fingerprint == pytest.approx(float(sum(np.sum(w) for w in start)), rel=1e-6)
    again = train_head_until_flat(  # now from the trained head: another fingerprint
        model, arrays, learning_rate=1e-2, batch_size=8, max_epochs=4, patience=2, min_delta=0.01
    )
    assert again.start_fingerprint != pytest.approx(fit.start_fingerprint, rel=1e-6)


@pytest.mark.parametrize(("backend", "expected"), [("torch", 1), ("tensorflow", 60), ("jax", 60)])
def test_steps_per_call_is_one_on_torch_only(backend, expected):
    assert steps_per_call(60, backend) == expected


def test_the_compiled_head_takes_one_step_per_call_when_the_backend_is_torch(monkeypatch):
    arrays = tiny_arrays()
    keras.utils.set_random_seed(0)
    model = build_classifier(tiny_base(), 3)
    settings = dict(learning_rate=1e-2, batch_size=8, max_epochs=4, patience=2, min_delta=0.01)
    pool = {}
    train_head_until_flat(model, arrays, pool=pool, **settings)
    (kept,) = [head for head, _ in pool.values()]
    assert kept.steps_per_execution == 2 * -(-len(arrays[1]) // 8)  # a check's steps per call
    monkeypatch.setattr(keras.backend, "backend", lambda: "torch")
    torch_pool = {}
    train_head_until_flat(model, arrays, pool=torch_pool, **settings)
    (kept,) = [head for head, _ in torch_pool.values()]
    assert kept.steps_per_execution == 1


def test_random_features_also_train_for_the_pretrained_heads_passes():
    # The same-passes random head: the same random start as the until-flat one, no rule,
    # exactly as many passes as the pretrained head ran (HeadFit.epochs counts passes).
    for seed_run in default_run().runs:
        same = seed_run.scratch_same_passes
        assert same.epochs == seed_run.head.epochs
        assert same.start_fingerprint == seed_run.scratch_head.start_fingerprint
        assert same.start_fingerprint == seed_run.head.start_fingerprint
