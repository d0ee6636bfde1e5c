"""Tests of lesson 04's chance tests against hand-worked cases."""

import itertools
import math

import numpy as np
import pytest

from freezelab.vis.chance import hits_verdict, holm, monte_carlo_chance


def test_hits_verdict_equals_the_binomial_tail_for_equal_chances():
    # 19 of 24 coin flips: P(X >= 19) = sum C(24, k) / 2**24, k = 19..24.
    hits = [1] * 19 + [0] * 5
    verdict = hits_verdict(hits, [0.5] * 24, claim="nearer")
    expected = sum(math.comb(24, k) for k in range(19, 25)) / 2**24
    assert verdict.chance == pytest.approx(expected)
    assert (verdict.hits, verdict.trials, verdict.expected) == (19, 24, 12.0)
    assert verdict.shown
    assert (
        str(verdict)
        == "nearer: shown in this run (19 of 24 hit, 12.0 expected by chance; chance 0.33%)"
    )


def test_hits_verdict_enumerates_unequal_chances():
    # Three trials with chances 0.1, 0.5, 0.9, two hits: enumerate all 8 outcomes.
    chances = [0.1, 0.5, 0.9]
    expected = sum(
        math.prod(p if hit else 1 - p for p, hit in zip(chances, outcome))
        for outcome in itertools.product([0, 1], repeat=3)
        if sum(outcome) >= 2
    )
    verdict = hits_verdict([True, False, True], chances, claim="c")
    assert verdict.chance == pytest.approx(expected)  # 0.545
    assert not verdict.shown
    assert verdict.reading.startswith("not shown in this run (2 of 3 hit, 1.5 expected")


def test_hits_verdict_bound_is_inclusive_at_five_percent():
    # 1 hit of 1 with chance 0.05: P = 0.05 exactly, which the rule accepts (<= 5 %).
    assert hits_verdict([1], [0.05], claim="c").shown
    assert not hits_verdict([1], [0.0501], claim="c").shown


@pytest.mark.parametrize(
    "hits, chances",
    [([], []), ([1, 0], [0.5]), ([2], [0.5]), ([1], [1.5])],
)
def test_hits_verdict_rejects_bad_input(hits, chances):
    with pytest.raises(ValueError):
        hits_verdict(hits, chances, claim="c")


def test_monte_carlo_chance_counts_the_observation_as_a_draw():
    assert monte_carlo_chance(1.0, [0.1] * 20) == pytest.approx(1 / 21)  # the smallest with 20
    assert monte_carlo_chance(0.5, [0.1, 0.5, 0.7, 0.2]) == pytest.approx(3 / 5)  # ties count
    assert monte_carlo_chance(0.0, np.zeros(199)) == 1.0


@pytest.mark.parametrize("observed, draws", [(1.0, []), (float("nan"), [1.0]), (1.0, [np.inf])])
def test_monte_carlo_chance_rejects_bad_input(observed, draws):
    with pytest.raises(ValueError):
        monte_carlo_chance(observed, draws)


def test_holm_matches_a_hand_worked_family():
    # Sorted: 0.0147 (< 0.05/4 = 0.0125? no) -> Holm stops at once: nothing shown.
    steps = holm([0.142, 0.0148, 0.0906, 0.0147])
    assert [s.shown for s in steps] == [False] * 4
    assert [s.threshold for s in steps] == pytest.approx([0.05, 0.05 / 3, 0.05 / 2, 0.05 / 4])
    assert [s.stopped_earlier for s in steps] == [True, True, True, False]
    assert "Holm stopped at an earlier P, equal or smaller, that failed" in steps[1].reading
    # 0.01 < 0.0125 and 0.012 < 0.0167 pass; 0.04 >= 0.025 fails, so 0.03 fails too.
    steps = holm([0.04, 0.01, 0.03, 0.012])
    assert [s.shown for s in steps] == [False, True, False, True]
    assert steps[0].stopped_earlier and not steps[2].stopped_earlier
    assert steps[1].reading == "shown in this run (P = 0.01, Holm threshold 0.0125)"


@pytest.mark.parametrize("p_values, alpha", [([], 0.05), ([1.2], 0.05), ([0.1], 0.0)])
def test_holm_rejects_bad_input(p_values, alpha):
    with pytest.raises(ValueError):
        holm(p_values, alpha)
