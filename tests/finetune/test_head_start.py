"""Tests for freezelab.finetune.head_start: drift of the base from an untrained vs a trained head."""

import pytest

from freezelab.finetune.head_start import head_start_drift
from tests.support.finetune import tiny_base, tiny_data


def test_a_trained_head_starts_from_a_lower_loss_and_every_arm_is_reported():
    runs = head_start_drift(
        tiny_base, tiny_data(), learning_rate=1e-3, head_epochs=40, batch_size=8
    )
    assert [(r.optimizer, r.start) for r in runs] == [
        ("adam", "untrained head"),
        ("adam", "trained head"),
        ("sgd", "untrained head"),
        ("sgd", "trained head"),
    ]
    assert runs[1].first_loss < runs[0].first_loss
    assert runs[0].first_loss == pytest.approx(runs[2].first_loss, rel=1e-5)  # same start
    for run in runs:
        assert set(run.base_drift) == {"block1", "block5"}
        assert all(value > 0 for value in run.base_drift.values())


def test_zero_learning_rate_moves_nothing():
    runs = head_start_drift(tiny_base, tiny_data(), learning_rate=0.0, head_epochs=2, batch_size=8)
    for run in runs:
        assert all(value == 0.0 for value in run.base_drift.values())


def test_a_reused_compiled_model_gives_the_numbers_of_a_fresh_one():
    kwargs = dict(learning_rate=1e-2, head_epochs=3, batch_size=8)
    fresh = [head_start_drift(tiny_base, tiny_data(seed), seed=seed, **kwargs) for seed in (0, 1)]
    pool = {}
    reused = [
        head_start_drift(tiny_base, tiny_data(seed), seed=seed, reuse=pool, **kwargs)
        for seed in (0, 1)
    ]
    assert len(pool) == 2  # one compiled model per optimizer
    for expected_runs, got_runs in zip(fresh, reused):
        for expected, got in zip(expected_runs, got_runs):
            for block, value in expected.base_drift.items():
                assert got.base_drift[block] == pytest.approx(value, rel=1e-4, abs=1e-7)


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="Received: 'rmsprop'"):
        head_start_drift(tiny_base, tiny_data(), optimizers=("rmsprop",))
    with pytest.raises(ValueError, match="Received: reuse="):
        head_start_drift(tiny_base, tiny_data(), reuse=[])
