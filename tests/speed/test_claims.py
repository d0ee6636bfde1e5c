"""Claims judged on two runs' rounds, against verdicts computed by hand from the same numbers."""

import pytest

from freezelab.speed.claims import judge_claims, per_round
from freezelab.verdicts import paired_verdict

THIS = {
    "full": [10.0, 12.0, 11.0, 10.0, 13.0, 12.0],
    "frozen": [4.0, 5.0, 4.5, 4.0, 5.0, 5.0],
    "eager full": [20.0, 21.0, 22.0, 20.0, 23.0, 21.0],
    "eager frozen": [15.0, 16.0, 17.0, 15.0, 18.0, 16.0],
}


def test_per_round_reads_a_label_or_combines_two_arms_round_by_round():
    assert per_round(THIS, "full") == THIS["full"]
    assert per_round(THIS, ("-", "full", "frozen")) == [6.0, 7.0, 6.5, 6.0, 8.0, 7.0]
    assert per_round(lambda label: THIS[label], ("/", "full", "frozen"))[0] == 2.5
    with pytest.raises(ValueError, match="Received"):
        per_round(THIS, ("*", "full", "frozen"))


def test_each_claim_is_judged_on_both_runs_as_paired_verdict_would():
    other = {label: list(reversed(times)) for label, times in THIS.items()}
    claims = [
        ("frozen is faster", "frozen", "full", "lower", "ratio"),
        (
            "freezing saves less eagerly",
            ("/", "eager full", "eager frozen"),
            ("/", "full", "frozen"),
            "lower",
            "ratio",
        ),
    ]
    judged = judge_claims(claims, THIS, other)
    assert [text for text, _, _ in judged] == ["frozen is faster", "freezing saves less eagerly"]
    by_hand = paired_verdict(THIS["frozen"], THIS["full"], claim="frozen is faster")
    assert judged[0][1] == by_hand
    eager = [a / b for a, b in zip(THIS["eager full"], THIS["eager frozen"])]
    compiled = [a / b for a, b in zip(THIS["full"], THIS["frozen"])]
    assert judged[1][1] == paired_verdict(eager, compiled, claim="freezing saves less eagerly")
    assert judged[1][1].shown and judged[1][1].favouring == 6
    assert judged[0][2].pairs == 6  # the other run's rounds, judged by the same rule


def test_a_malformed_claim_is_refused():
    with pytest.raises(ValueError, match="Received"):
        judge_claims([("too short", "full")], THIS, THIS)
