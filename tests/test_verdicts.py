"""The paired verdict rule, checked against hand-worked pairs."""

import pytest

from freezelab.verdicts import (
    MAX_CHANCE,
    MIN_PAIRS,
    format_statistic,
    paired_numbers,
    paired_verdict,
    sign_test_chance,
)


def test_every_round_faster_is_shown_with_hand_computed_ratio():
    verdict = paired_verdict([50, 60, 40, 50, 45], [100, 100, 100, 100, 90], claim="a faster")
    assert verdict.shown
    assert verdict.median == pytest.approx(0.5)
    assert verdict.favouring == 5 and verdict.pairs == 5
    assert str(verdict).startswith("a faster: shown in this run (median ratio 0.5")


def test_one_pair_in_five_against_passes_the_quartiles_but_not_the_sign_test():
    # Differences (a - b): 4 of 5 positive -> inclusive lower quartile is the 2nd smallest,
    # beyond 0; but 4 of 5 coin flips agree 6/32 = 19 % of the time, above 5 %.
    four = paired_verdict(
        [3, 3, 3, 3, 1],
        [1, 1, 1, 1, 2],
        claim="a higher",
        direction="higher",
        statistic="difference",
    )
    assert four.lower_quartile == pytest.approx(2.0) and not four.shown
    five = paired_verdict(
        [3, 3, 3, 3, 3],
        [1, 1, 1, 1, 2],
        claim="a higher",
        direction="higher",
        statistic="difference",
    )
    assert five.shown and five.chance == 1 / 32
    three = paired_verdict(
        [3, 3, 3, 0, 0],
        [1, 1, 1, 1, 1],
        claim="a higher",
        direction="higher",
        statistic="difference",
    )
    assert three.lower_quartile == pytest.approx(-1.0)
    assert not three.shown and three.verdict == "not shown in this run"


def test_a_coin_flip_is_not_shown_either_way():
    a, b = [1, 2, 1, 2, 1, 2], [2, 1, 2, 1, 2, 1]
    assert not paired_verdict(a, b, claim="a faster").shown
    assert not paired_verdict(a, b, claim="a slower", direction="higher").shown


def test_pairing_matters_a_shared_drift_cancels():
    # Both arms drift together; unpaired spreads overlap, but a is always 10 % lower.
    b = [100, 200, 300, 150, 250]
    a = [0.9 * x for x in b]
    verdict = paired_verdict(a, b, claim="a faster")
    assert verdict.shown and verdict.median == pytest.approx(0.9)


def test_too_few_pairs_never_show():
    verdict = paired_verdict([1] * (MIN_PAIRS - 1), [2] * (MIN_PAIRS - 1), claim="a faster")
    assert not verdict.shown and "fewer than" in str(verdict)
    assert verdict.fewest_to_show == MIN_PAIRS  # pairs + 1: no count can
    # 4 of 4 agree by chance 1/16 = 6.25 %, above the 5 % bound: why MIN_PAIRS is 5.
    assert sign_test_chance(4, 4) == 1 / 16 > MAX_CHANCE >= sign_test_chance(5, 5)


def test_sign_test_chance_rejects_impossible_counts():
    with pytest.raises(ValueError, match="favouring=6, pairs=5"):
        sign_test_chance(6, 5)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(a=[1, 2], b=[1]), "len\\(a\\)=2, len\\(b\\)=1"),
        (dict(a=[], b=[]), "len\\(a\\)=0"),
        (dict(a=[1, float("nan")], b=[1, 1]), "finite"),
        (dict(a=["x"], b=[1]), "a='x'|a=\\['x'\\]"),
        (dict(a=[1], b=[0]), "positive values in b"),
        (dict(a=[1], b=[1], statistic="mean"), "statistic='mean'"),
        (dict(a=[1], b=[1], direction="down"), "direction='down'"),
    ],
)
def test_bad_input_names_what_was_received(kwargs, message):
    with pytest.raises(ValueError, match=message):
        paired_verdict(claim="c", **kwargs)


def test_paired_numbers_difference():
    assert paired_numbers([3, 5], [1, 1], "difference") == [2, 4]


def test_chance_is_the_one_sided_sign_test_worked_by_hand():
    six_of_six = paired_verdict([1] * 6, [2] * 6, claim="x", direction="lower")
    assert six_of_six.chance == 1 / 64
    # 5 of 6 favour: P(X >= 5) = (6 + 1) / 64.
    five_of_six = paired_verdict([1, 1, 1, 1, 1, 3], [2] * 6, claim="x", direction="lower")
    assert (five_of_six.favouring, five_of_six.chance) == (5, 7 / 64)
    # 4 of 5: (5 + 1) / 32; none of 4: every outcome counts, 1.
    four_of_five = paired_verdict([1, 1, 1, 1, 3], [2] * 5, claim="x", direction="lower")
    assert four_of_five.chance == 6 / 32
    assert paired_verdict([3] * 4, [2] * 4, claim="x", direction="lower").chance == 1.0


@pytest.mark.parametrize("pairs", [5, 12, 15, 16])
def test_fewest_to_show_is_the_smallest_count_the_rule_accepts(pairs):
    # Independent truth: try every count k of pairs at ratio 0.5, the rest barely
    # against the claim (ratio 1.0001), the most favourable case for the rule.
    fewest = min(
        k
        for k in range(pairs + 1)
        if paired_verdict([1] * k + [2.0002] * (pairs - k), [2] * pairs, claim="a").shown
    )
    verdict = paired_verdict([1] * pairs, [2] * pairs, claim="a")
    assert verdict.fewest_to_show == fewest
    assert {5: 5, 12: 10, 15: 12, 16: 12}[pairs] == fewest


def test_marginal_reading_names_the_counts_and_the_sign_test_chance():
    ten = paired_verdict([1] * 10 + [4] * 2, [2] * 12, claim="a")
    assert ten.marginal
    # P(X >= 10) for X ~ Binomial(12, 1/2) = (66 + 12 + 1) / 4096 = 1.93 %.
    assert ten.reading == "shown in this run, marginal (10 of 12; chance 1.9%)"
    eleven = paired_verdict([1] * 11 + [4], [2] * 12, claim="a")
    assert not eleven.marginal and eleven.reading.startswith("shown in this run (11 of 12")
    assert not paired_verdict([1] * 5, [2] * 5, claim="a").marginal  # all pairs agree
    coin = paired_verdict([1, 4] * 6, [2] * 12, claim="a")
    assert not coin.marginal and coin.reading.startswith("not shown in this run (6 of 12")


def test_reading_prints_chances_as_plain_percentages_from_100_down():
    # No pair favours the claim: every outcome has at least 0 pairs, chance 1 (once printed "1e+02%").
    none = paired_verdict([2] * 5, [1] * 5, claim="a")
    assert none.reading == "not shown in this run (0 of 5; chance 100%)"
    # 4 of 5: (5 + 1) / 32 = 18.75 %; 12 of 12: 1 / 4096 = 0.0244 %.
    assert "(4 of 5; chance 19%)" in paired_verdict([1, 1, 1, 1, 3], [2] * 5, claim="a").reading
    assert "(12 of 12; chance 0.024%)" in paired_verdict([1] * 12, [2] * 12, claim="a").reading
    # 17 of 17: 1 / 131072 = 0.00076 %, below the floor; 46 of 46 (2**-46) printed "1.4e-12%" once.
    assert "(17 of 17; chance < 0.001%)" in paired_verdict([1] * 17, [2] * 17, claim="a").reading
    assert "(46 of 46; chance < 0.001%)" in paired_verdict([1] * 46, [2] * 46, claim="a").reading
    # 15 of 15: 1 / 32768 = 0.0031 %, above the floor: still two significant digits, no exponent.
    assert "(15 of 15; chance 0.0031%)" in paired_verdict([1] * 15, [2] * 15, claim="a").reading


def test_numbers_are_the_parenthesised_part_of_the_line():
    verdict = paired_verdict([50, 60, 40, 50, 45], [100] * 5, claim="a faster")
    assert str(verdict) == f"a faster: shown in this run ({verdict.numbers})"


def test_ratios_near_one_keep_three_decimals_so_their_side_of_one_shows():
    # Hand-made pairs: ratios 1.004, 1.01, 1.015, 1.02, 1.028 -> quartiles 1.01 and 1.02.
    verdict = paired_verdict(
        [100.4, 101.0, 101.5, 102.0, 102.8], [100.0] * 5, claim="a slower", direction="higher"
    )
    assert "median ratio 1.015, middle half 1.010 to 1.020" in verdict.numbers
    assert "middle half 1 to" not in verdict.numbers
    assert format_statistic(0.5, "ratio") == "0.5" and format_statistic(2.667, "ratio") == "2.67"
    assert (
        format_statistic(1.004, "difference") == "1" and format_statistic(0.9, "ratio") == "0.900"
    )
