"""The lesson-side log of verdicts: the printed line, and Holm's correction over every question."""

import pytest

from freezelab.verdict_log import VerdictLog
from freezelab.verdicts import paired_verdict


def _verdict(favouring, pairs=20, claim="a lower than b", max_chance=0.05):
    # `favouring` rounds where a < b (ratio 0.9), the rest where a > b (ratio 1.1).
    a = [0.9] * favouring + [1.1] * (pairs - favouring)
    return paired_verdict(a, [1.0] * pairs, claim=claim, max_chance=max_chance)


def test_show_prints_the_reading_median_and_middle_half_and_records(capsys):
    log = VerdictLog()
    verdict = _verdict(20)
    assert log.show(verdict, unit=" x") is verdict
    printed = capsys.readouterr().out.strip()
    assert printed == (
        "a lower than b: shown in this run (20 of 20; chance < 0.001%); median ratio 0.900 x, "
        "middle half 0.900 to 0.900 x"
    )
    assert log.asked == [verdict]


def test_holm_keeps_a_strong_verdict_and_drops_a_weak_one_among_many():
    # Chances: 20 of 20 is about 1e-6; 15 of 20 is 2.07 %. With four questions Holm asks the
    # smallest P to be below 0.05 / 4, the next below 0.05 / 3 = 1.67 %: 2.07 % fails there,
    # and with it every larger P.
    log = VerdictLog()
    strong, weak = _verdict(20, claim="strong"), _verdict(15, claim="weak")
    for verdict in [strong, weak, _verdict(15, claim="w2"), _verdict(15, claim="w3")]:
        log.show(verdict)
    assert weak.shown and round(weak.chance, 4) == 0.0207
    assert log.kept([strong, weak]) == [True, False]
    assert log.footnote([strong, weak]).endswith("keeps the headline verdicts except: weak")
    assert "4 one-sided questions were asked (each at 5 %)" in log.footnote([strong])
    # Alone, the weak verdict passes: one question, 2.07 % < 5 %.
    alone = VerdictLog()
    alone.show(weak)
    assert alone.footnote([weak]).endswith("(all pass it)")


def test_a_verdict_not_shown_by_the_paired_rule_is_never_kept():
    # 15 of 20 agree (chance 2.07 %, which Holm keeps alone), but the inclusive upper quartile
    # sits a quarter of the way from 0.99 to 1.5: the middle half crosses "no difference".
    spread = paired_verdict([0.99] * 15 + [1.5] * 5, [1.0] * 20, claim="wide")
    assert not spread.shown and spread.chance < 0.05
    assert VerdictLog.line(spread).endswith("but the middle half reaches no difference)")
    assert "reaches" not in VerdictLog.line(_verdict(10))  # too few rounds agree: nothing to add
    log = VerdictLog()
    log.show(spread)
    assert log.kept([spread]) == [False]
    assert log.footnote([spread]).endswith("except: wide")


def test_questions_asked_both_ways_are_named_in_the_footnote():
    log = VerdictLog()
    both = [_verdict(10, claim=f"way {i}", max_chance=0.025) for i in range(2)]
    for verdict in [_verdict(20), *both]:
        log.show(verdict)
    assert "(1 at 5 %, 2 at 2.5 %: a question asked both ways counts as two)" in log.footnote(
        log.asked[:1]
    )


def test_bad_input_is_refused_with_what_was_received():
    log = VerdictLog()
    with pytest.raises(ValueError, match="Received: float"):
        log.show(0.5)
    with pytest.raises(ValueError, match="never shown"):
        log.kept([_verdict(20)])
