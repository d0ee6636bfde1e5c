"""Tests for freezelab.finetune.head_damage: the base probed before and after an unfrozen epoch."""

import keras
import numpy as np
import pytest

from freezelab.finetune.head_damage import STARTS, head_start_damage
from tests.support.finetune import tiny_base, tiny_data

HEAD = dict(head_max_epochs=6, head_patience=2, batch_size=8)


def test_both_starts_are_reported_with_one_probe_before():
    runs = head_start_damage(tiny_base, tiny_data(), learning_rate=1e-3, **HEAD)
    assert [run.start for run in runs] == list(STARTS)
    assert runs[0].probe_before == runs[1].probe_before
    # the trained start's model is its probe before: the same head on the same base
    assert runs[1].val_before == pytest.approx(runs[1].probe_before, abs=1e-6)
    for run in runs:
        assert set(run.base_drift) == {"block1", "block5"}
        assert all(value > 0 for value in run.base_drift.values())
        assert run.base_drift_whole > 0


def test_whole_base_drift_weights_each_layer_by_its_starting_size():
    runs = head_start_damage(tiny_base, tiny_data(), learning_rate=1e-3, **HEAD)
    keras.utils.set_random_seed(0)  # head_start_damage builds its base the same way
    start = tiny_base()
    squared = {
        layer.name.split("_")[0]: sum(
            float(np.sum(w.astype("float64") ** 2)) for w in layer.get_weights()
        )
        for layer in start.layers
        if layer.weights
    }
    for run in runs:  # one layer per block: ||dW||^2 = sum of (drift * ||W0||)^2
        expected = np.sqrt(
            sum(run.base_drift[block] ** 2 * size for block, size in squared.items())
            / sum(squared.values())
        )
        assert run.base_drift_whole == pytest.approx(expected, rel=1e-5)


def test_zero_learning_rate_leaves_the_base_and_so_the_probe_unchanged():
    runs = head_start_damage(tiny_base, tiny_data(), learning_rate=0.0, **HEAD)
    for run in runs:
        assert all(value == 0.0 for value in run.base_drift.values())
        assert run.base_drift_whole == 0.0
        assert run.val_after == pytest.approx(run.val_before, abs=1e-6)
    # same base, same random start, same seed: the probe after repeats the probe before
    for run in runs:
        assert run.probe_after == pytest.approx(run.probe_before, abs=1e-6)
        # ... after as many passes, a multiple of the check (2) and at most the cap (6)
        assert run.probe_passes_after == run.probe_passes_before
        assert run.probe_passes_before in (2, 4, 6)


def test_a_shared_pool_gives_the_numbers_of_a_fresh_one():
    kwargs = dict(learning_rate=1e-2, **HEAD)
    fresh = [head_start_damage(tiny_base, tiny_data(seed), seed=seed, **kwargs) for seed in (0, 1)]
    pool = {}
    shared = [
        head_start_damage(tiny_base, tiny_data(seed), seed=seed, pool=pool, **kwargs)
        for seed in (0, 1)
    ]
    for expected_runs, got_runs in zip(fresh, shared):
        for expected, got in zip(expected_runs, got_runs):
            assert got.probe_after == pytest.approx(expected.probe_after, abs=1e-6)
            for block, value in expected.base_drift.items():
                assert got.base_drift[block] == pytest.approx(value, rel=1e-4, abs=1e-7)


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="Received: epochs=0"):
        head_start_damage(tiny_base, tiny_data(), epochs=0)
    with pytest.raises(ValueError, match="Received: pool="):
        head_start_damage(tiny_base, tiny_data(), pool=[])
