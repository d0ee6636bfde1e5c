"""Tests for freezelab.finetune.bn_verdicts: comparisons asked both ways, one line each."""

import statistics

import pytest

from freezelab.finetune.bn_verdicts import accuracy_both_ways, both_ways_line


def test_both_directions_are_asked_with_differences_computed_by_hand():
    a, b = [0.8, 0.7, 0.9, 0.6, 0.75], [0.5, 0.6, 0.4, 0.65, 0.5]
    forward, backward = accuracy_both_ways("kept", a, "updating", b)
    by_hand = [x - y for x, y in zip(a, b)]
    assert forward.claim == "kept more accurate than updating"
    assert backward.claim == "updating more accurate than kept"
    assert forward.median == pytest.approx(statistics.median(by_hand))
    assert backward.median == pytest.approx(-statistics.median(by_hand))
    assert forward.favouring == sum(d > 0 for d in by_hand) == 4
    # 4 of 5 agree by chance 19 % one way: neither direction is shown.
    assert not forward.shown and not backward.shown


def test_each_direction_gets_half_the_bound_so_five_of_five_is_not_enough():
    # 5 of 5 one way: one-sided 1/32 = 3.1 % passes 5 % but not 2.5 %; either way 6.25 %.
    five = accuracy_both_ways("a", [0.9] * 5, "b", [0.5] * 5)
    assert five[0].favouring == 5 and not five[0].shown
    assert "5 of 5; chance either way 6.2%" in both_ways_line(five)
    # 6 of 6: 1/64 one-sided = 1.6 % <= 2.5 %; either way 3.1 %.
    six = accuracy_both_ways("a", [0.9] * 6, "b", [0.5] * 6)
    assert six[0].shown and not six[1].shown
    assert both_ways_line(six).startswith(
        "a more accurate than b: shown in this run (6 of 6; chance either way 3.1%)"
    )


def test_line_names_the_direction_shown_even_when_it_is_the_second():
    pair = accuracy_both_ways("a", [0.1] * 6, "b", [0.2, 0.3, 0.4, 0.5, 0.6, 0.7])
    line = both_ways_line(pair)
    assert line.startswith("b more accurate than a: shown in this run (6 of 6")
    assert line.endswith("median difference +0.350")


def test_line_says_neither_with_the_first_minus_second_spread():
    pair = accuracy_both_ways("a", [0.5, 0.6, 0.5, 0.6, 0.5], "b", [0.6, 0.5, 0.5, 0.5, 0.6])
    # differences -0.1, +0.1, 0, +0.1, -0.1: quartiles -0.1 and +0.1, median 0
    # 2 of 5 favour each arm; the line names the count of the first arm asked.
    assert both_ways_line(pair) == (
        "a vs b: neither direction shown (median difference +0.000, middle half -0.100 to +0.100;"
        " 2 of 5; chance either way 100% for a)"
    )


def test_ties_do_not_favour_either_direction():
    pair = accuracy_both_ways("a", [0.5] * 5, "b", [0.5] * 5)
    assert [verdict.favouring for verdict in pair] == [0, 0]
    assert not any(verdict.shown for verdict in pair)


@pytest.mark.parametrize("pair", [[], "ab", [1, 2]])
def test_line_rejects_anything_but_two_verdicts(pair):
    with pytest.raises(ValueError, match="Received: pair="):
        both_ways_line(pair)


def test_names_must_be_non_empty_strings():
    with pytest.raises(ValueError, match="a_name"):
        accuracy_both_ways("", [1, 2, 3], "b", [1, 2, 3])


def test_holm_family_passes_eight_of_eight_three_times_and_stops_at_seven():
    from freezelab.finetune.bn_verdicts import holm_both_ways

    eight = accuracy_both_ways("a", [0.9] * 8, "b", [0.5] * 8)
    seven = accuracy_both_ways("c", [0.9] * 7 + [0.4], "d", [0.5] * 8)
    # 8 of 8: 2 / 2**8 = 0.78 % either way, below Holm's first threshold 5 % / 3 = 1.67 %.
    family = holm_both_ways({"one": eight, "two": eight, "three": eight})
    assert [row.shown for row in family] == [True, True, True]
    assert family[0].p_value == pytest.approx(2 / 256)
    assert sorted(row.threshold for row in family) == pytest.approx([0.05 / 3, 0.05 / 2, 0.05])
    assert "a more accurate than b, shown (8 of 8; P 0.78%" in family[0].line
    # 7 of 8: 2 * 9 / 256 = 7.0 % either way fails even alone; the others still pass.
    mixed = holm_both_ways({"first": eight, "second": seven})
    assert [row.shown for row in mixed] == [True, False]
    assert mixed[1].p_value == pytest.approx(2 * 9 / 256)
    assert "second: neither direction shown (7 of 8" in mixed[1].line


def test_holm_family_leading_direction_can_be_the_second_arm():
    from freezelab.finetune.bn_verdicts import holm_both_ways

    (row,) = holm_both_ways({"q": accuracy_both_ways("a", [0.1] * 8, "b", [0.6] * 8)})
    assert row.shown and row.leading.claim == "b more accurate than a"


def test_holm_family_needs_the_middle_half_on_its_side():
    from freezelab.finetune.bn_verdicts import holm_both_ways

    # 8 of 8 favour a, but 6 by a hair and the middle half includes 0 only if differences are 0:
    # here two ties and six wins: 6 of 8 (P 29 %) -> not shown whatever the quartiles.
    tied = accuracy_both_ways("a", [0.5, 0.5] + [0.9] * 6, "b", [0.5] * 8)
    (row,) = holm_both_ways({"q": tied})
    assert not row.shown and row.leading.favouring == 6


def test_holm_family_rejects_bad_input():
    from freezelab.finetune.bn_verdicts import holm_both_ways

    with pytest.raises(ValueError, match="at least one"):
        holm_both_ways({})
    with pytest.raises(ValueError, match="two verdicts"):
        holm_both_ways({"q": ["not a verdict", "x"]})
