"""Comparisons over seeds against hand-computed means, spreads and verdicts; the runner on a tiny base."""

import math

import keras
import numpy as np
import pytest

from freezelab.finetune.seeds import (
    beyond_spread,
    compare_over_seeds,
    strategies_over_seeds,
)
from freezelab.finetune.strategies import Budget, SplitData, run_strategy

# By hand: (0.5, 0.6, 0.7) has mean 0.6 and sample std 0.1; (0.3, 0.3, 0.3) mean 0.3, std 0;
# (0.2, 0.4, 0.9) mean 0.5, squared deviations 0.09 + 0.01 + 0.16 = 0.26, / 2 -> std sqrt(0.13).
VALUES = {"a": [0.5, 0.6, 0.7], "b": [0.3, 0.3, 0.3], "c": [0.2, 0.4, 0.9]}


def comparison():
    return compare_over_seeds(VALUES, (0, 1, 2), metric="val accuracy")


def test_means_and_sample_stds_by_hand():
    result = comparison()
    assert result.names == ("a", "b", "c")
    assert result.seeds == (0, 1, 2)
    assert result.values["c"] == (0.2, 0.4, 0.9)
    assert result.means == pytest.approx({"a": 0.6, "b": 0.3, "c": 0.5})
    assert result.stds == pytest.approx({"a": 0.1, "b": 0.0, "c": math.sqrt(0.13)})
    assert result.gap("a", "b") == pytest.approx(0.3)
    assert result.spread("a", "c") == pytest.approx(math.sqrt(0.13))


def test_verdicts_name_a_winner_only_beyond_the_larger_spread():
    result = comparison()
    # a - b = 0.3 > max(0.1, 0) = 0.1
    assert result.winner("a", "b") == "a" and result.winner("b", "a") == "a"
    assert result.verdict("a", "b") == "shown in this run: a beats b (gap +0.300, spread 0.100)"
    assert result.verdict("a", "b", claim="a is higher") == (
        "shown in this run: a is higher (gap +0.300, spread 0.100)"
    )
    # The claim the other way round: b above a is contradicted, beyond the spread.
    assert result.verdict("b", "a") == (
        "not shown in this run (the opposite: a above b, gap -0.300, spread 0.100)"
    )
    # a - c = 0.1 < sqrt(0.13) = 0.361: within noise, whichever way the claim is put.
    assert result.winner("a", "c") is None
    assert result.verdict("a", "c") == (
        "not shown in this run (within noise: gap +0.100, spread 0.361)"
    )
    assert result.verdict("c", "a").startswith("not shown in this run (within noise: gap -0.100")


def test_a_gap_equal_to_the_spread_is_not_a_win():
    # Mean 2, std 1 against mean 1, std 0: the gap equals the spread exactly.
    assert beyond_spread(2.0, 1.0, 1.0, 0.0) == 0
    assert beyond_spread(2.0, 0.999, 1.0, 0.0) == 1
    assert beyond_spread(1.0, 0.0, 2.0, 0.999) == -1
    result = compare_over_seeds({"x": [1, 2, 3], "y": [1, 1, 1]}, [4, 5, 6])
    assert result.means == {"x": 2.0, "y": 1.0} and result.stds == {"x": 1.0, "y": 0.0}
    assert result.winner("x", "y") is None


def test_best_needs_to_beat_the_runner_up_beyond_the_spread():
    result = comparison()
    assert result.ranking() == ["a", "c", "b"]
    assert result.best() is None  # a vs c is within noise
    assert result.best_verdict() == (
        "not shown in this run (within noise: a vs runner-up c, gap +0.100, spread 0.361): "
        "no single best"
    )
    clear = compare_over_seeds({"a": VALUES["a"], "b": VALUES["b"]}, (0, 1, 2))
    assert clear.best() == "a"
    assert clear.best_verdict() == (
        "shown in this run: a is best (above runner-up b, gap +0.300, spread 0.100)"
    )


def test_table_has_each_seed_then_mean_and_std():
    lines = comparison().table().splitlines()
    assert lines[0] == "val accuracy per seed"
    assert lines[1].split() == ["seed", "a", "b", "c"]
    assert [line.split() for line in lines[2:5]] == [
        ["0", "0.500", "0.300", "0.200"],
        ["1", "0.600", "0.300", "0.400"],
        ["2", "0.700", "0.300", "0.900"],
    ]
    mean_line = "mean 0.600 ± 0.100 0.300 ± 0.000 0.500 ± 0.361"
    assert lines[5].split() == mean_line.split()
    assert comparison().table(digits=1).splitlines()[2].split() == ["0", "0.5", "0.3", "0.2"]


@pytest.mark.parametrize(
    ("values", "seeds", "needle"),
    [
        ({"a": [0.1, 0.2]}, (0,), "At least 2 seed"),
        ({"a": [0.1, 0.2]}, (1, 1), "must not repeat"),
        ({"a": [0.1, 0.2]}, (0, -1), "seeds=-1"),
        ({"a": [0.1, 0.2]}, "01", "seeds='01'"),
        ({"a": [0.1, 0.2, 0.3]}, (0, 1), "a=[0.1, 0.2, 0.3]"),
        ({"a": [0.1, float("nan")]}, (0, 1), "a value=nan"),
        ({"a": [0.1, None]}, (0, 1), "a value=None"),
        ({"a": "0.1"}, (0, 1), "a='0.1'"),
        ({3: [0.1, 0.2]}, (0, 1), "name=3"),
        ({}, (0, 1), "values={}"),
        ([0.1, 0.2], (0, 1), "values=[0.1, 0.2]"),
    ],
)
def test_bad_comparisons_are_refused_naming_what_was_received(values, seeds, needle):
    with pytest.raises(ValueError, match="Received:") as error:
        compare_over_seeds(values, seeds)
    assert needle in str(error.value)


def test_bad_names_in_verdicts_are_refused():
    result = comparison()
    with pytest.raises(ValueError, match="Received: a='d'"):
        result.verdict("d", "a")
    with pytest.raises(ValueError, match="Received: a='a', b='a'"):
        result.winner("a", "a")
    with pytest.raises(ValueError, match="Received: claim=''"):
        result.verdict("a", "b", claim="")
    with pytest.raises(ValueError, match="Received: names=\\('a',\\)"):
        compare_over_seeds({"a": [0.1, 0.2]}, (0, 1)).best_verdict()
    with pytest.raises(ValueError, match=r"Received: std_a=-0\.1"):
        beyond_spread(0.5, -0.1, 0.4, 0.0)
    with pytest.raises(ValueError, match="Received: digits=9"):
        result.table(digits=9)


def tiny_base():
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", name="block1_conv1")(inputs)
    return keras.Model(inputs, x, name="tiny_base")


def tiny_data(seed):
    rng = np.random.default_rng(seed)
    return SplitData(
        rng.uniform(0, 255, (12, 8, 8, 3)).astype("float32"),
        np.arange(12) % 3,
        rng.uniform(0, 255, (6, 8, 8, 3)).astype("float32"),
        np.arange(6) % 3,
        3,
    )


def test_runner_gives_each_seed_its_own_data_and_seed(capsys):
    asked = []

    def make_dataset(seed):
        asked.append(seed)
        return tiny_data(seed)

    budget = Budget(epochs=2, batch_size=4)
    runs = strategies_over_seeds(
        ["feature_extraction"], tiny_base, make_dataset, budget, seeds=(3, 5), head_units=()
    )
    assert asked == [3, 5]
    assert list(runs) == ["feature_extraction"] and len(runs["feature_extraction"]) == 2
    printed = capsys.readouterr().out.splitlines()
    assert [line.split()[:3] for line in printed] == [
        ["seed", "3", "feature_extraction"],
        ["seed", "5", "feature_extraction"],
    ]
    # The second seed's run is the run that seed and its data give on their own.
    alone = run_strategy(
        "feature_extraction", tiny_base, tiny_data(5), budget, seed=5, head_units=()
    )
    np.testing.assert_allclose(
        runs["feature_extraction"][1].history["loss"], alone.history["loss"], rtol=1e-5
    )


def test_runner_refuses_bad_arguments():
    budget = Budget(epochs=2, batch_size=4)
    with pytest.raises(ValueError, match="Received: strategies='two_phase'"):
        strategies_over_seeds("two_phase", tiny_base, tiny_data, budget)
    with pytest.raises(ValueError, match="Received: strategies='fine_tune'"):
        strategies_over_seeds(["fine_tune"], tiny_base, tiny_data, budget)
    with pytest.raises(ValueError, match="must not repeat"):
        strategies_over_seeds(["two_phase", "two_phase"], tiny_base, tiny_data, budget)
    with pytest.raises(ValueError, match="Received: make_dataset="):
        strategies_over_seeds(["two_phase"], tiny_base, tiny_data(0), budget)
    with pytest.raises(ValueError, match="Received: seed=1"):
        strategies_over_seeds(["two_phase"], tiny_base, tiny_data, budget, seed=1)
    with pytest.raises(ValueError, match="must not repeat"):
        strategies_over_seeds(["two_phase"], tiny_base, tiny_data, budget, seeds=(0, 0))


def test_paired_uses_the_per_seed_differences():
    from freezelab.verdicts import paired_verdict

    values = {"a": [0.5, 0.6, 0.7, 0.8, 0.9], "b": [0.4, 0.5, 0.6, 0.9, 0.8]}
    comparison = compare_over_seeds(values, (0, 1, 2, 3, 4), metric="val")
    verdict = comparison.paired("a", "b", claim="a beats b")
    expected = paired_verdict(
        values["a"], values["b"], claim="a beats b", direction="higher", statistic="difference"
    )
    assert verdict == expected
    # Middle half 0.1 to 0.1, but 4 of 5 seeds agree by chance 19 %: not shown.
    assert verdict.favouring == 4 and not verdict.shown
    assert not comparison.paired("b", "a").shown
    with pytest.raises(ValueError):
        comparison.paired("a", "a")
