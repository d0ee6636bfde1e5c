"""rank_sum_test: hand-enumerated cases, ties by midranks, scipy's exact test as an independent truth."""

import numpy as np
import pytest

from freezelab.vis.rank_test import rank_sum_test


def test_complete_separation_by_hand():
    # Ranks 3 and 4 against 1 and 2: of the C(4, 2) = 6 ways to pick two ranks,
    # only {3, 4} reaches a rank sum of 7, so P = 1/6; all 4 cross pairs favour it.
    result = rank_sum_test([3.0, 4.0], [1.0, 2.0], claim="first higher")
    assert result.p_value == pytest.approx(1 / 6)
    assert (result.favouring, result.pairs, result.sizes) == (4.0, 4, (2, 2))
    assert not result.shown
    assert rank_sum_test([3.0, 4.0], [1.0, 2.0], claim="x", direction="lower").p_value == 1.0


def test_interleaved_groups_by_hand():
    # first = ranks {1, 3}: sum 4. Subset sums of size 2 from 1..4: 3, 4, 5, 5, 6, 7:
    # five of six are >= 4, so P = 5/6; one pair (3 > 2) of four favours "higher".
    result = rank_sum_test([1.0, 3.0], [2.0, 4.0], claim="x")
    assert result.p_value == pytest.approx(5 / 6)
    assert result.favouring == 1.0


def test_ties_use_midranks_by_hand():
    # Pooled 1, 2, 2, 3 -> midranks 1, 2.5, 2.5, 4; first = {1, 2.5}: sum 3.5.
    # Subset sums: 3.5, 3.5, 5, 5, 6.5, 6.5, so P(sum <= 3.5) = 2/6 for "lower".
    # Pairs favouring "lower": 1<2, 1<3, 2<3 and the tie 2=2 as one half: 3.5 of 4.
    result = rank_sum_test([1.0, 2.0], [2.0, 3.0], claim="x", direction="lower")
    assert result.p_value == pytest.approx(1 / 3)
    assert result.favouring == 3.5


@pytest.mark.parametrize("direction, alternative", [("higher", "greater"), ("lower", "less")])
def test_agrees_with_scipy_exact_without_ties(direction, alternative):
    from scipy.stats import mannwhitneyu

    rng = np.random.default_rng(3)
    for sizes in [(8, 4), (8, 6), (5, 9)]:
        first, second = rng.normal(0.5, 1, sizes[0]), rng.normal(0, 1, sizes[1])
        ours = rank_sum_test(first, second, claim="x", direction=direction)
        theirs = mannwhitneyu(first, second, alternative=alternative, method="exact")
        assert ours.p_value == pytest.approx(theirs.pvalue, rel=1e-12)


def test_str_names_claim_p_and_rule():
    line = str(rank_sum_test([5.0, 6.0, 7.0, 8.0], [1.0, 2.0, 3.0], claim="A above B"))
    # Only the top four of seven ranks reach this rank sum: 1 of C(7, 4) = 35, P = 0.029.
    assert line.startswith("A above B: shown in this run (exact Mann–Whitney P = 0.029")
    assert "12 of 12 cross pairs" in line and "rule: shown when P < 0.05" in line


@pytest.mark.parametrize(
    "first, second, kwargs, message",
    [
        ([], [1.0], {}, "non-empty"),
        ([[1.0]], [1.0], {}, "1-D"),
        ([np.nan], [1.0], {}, "finite"),
        ([1.0], [2.0], {"direction": "up"}, "direction"),
        (np.zeros(150), np.zeros(60), {}, "at most 200"),
    ],
)
def test_bad_input(first, second, kwargs, message):
    with pytest.raises(ValueError, match=message):
        rank_sum_test(first, second, claim="x", **kwargs)
