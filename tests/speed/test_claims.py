"""Claims judged on two runs' rounds, against verdicts computed by hand from the same numbers."""

import pytest

from freezelab.speed.claims import (
    EAGER_FLOOR_CLAIM,
    OPTIONAL_CLAIMS,
    STEP_CLAIMS,
    UPDATE_CLAIM,
    check_against_record,
    judge_claims,
    per_round,
    record_statuses,
)
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


def test_a_sixth_element_sets_the_sign_tests_bound():
    frozen = [*THIS["frozen"][:5], 13.0]  # 5 of 6 rounds faster: chance 10.9 %
    times = {"full": THIS["full"], "frozen": frozen}
    claim = ("frozen is faster", "frozen", "full", "lower", "ratio")
    strict = judge_claims([(*claim, 0.01)], times, times)[0][1]
    assert strict == paired_verdict(frozen, THIS["full"], claim=claim[0], max_chance=0.01)
    assert strict.max_chance == 0.01


def test_check_against_record_judges_every_step_claim_on_the_records_rounds():
    labels = {
        label
        for claim in STEP_CLAIMS
        for series in claim[1:3]
        for label in ([series] if isinstance(series, str) else series[1:])
    }
    rounds = {label: [100.0 + 10 * i + len(label) for i in range(6)] for label in labels}
    record = {
        "masks": [{"label": label, "times_ms": times} for label, times in rounds.items()],
        "extras": {},
    }

    class Result:
        times = staticmethod(rounds.__getitem__)

    judged = check_against_record(Result(), record)
    assert [text for text, _, _ in judged] == [claim[0] for claim in STEP_CLAIMS]
    both_ways = [ours for text, ours, _ in judged if "than the floor" in text]
    assert [verdict.max_chance for verdict in both_ways] == [0.025, 0.025]
    assert all(ours == theirs for _, ours, theirs in judged)  # the same rounds on both sides
    del record["masks"][0]
    with pytest.raises(ValueError, match="Received"):
        check_against_record(Result(), record)


def _labels(claims):
    return {
        label
        for claim in claims
        for series in claim[1:3]
        for label in ([series] if isinstance(series, str) else series[1:])
    }


def _fake_run(load, with_probes=True):
    # Every arm takes the same time in each round, so no claim can be shown; a test changes
    # one arm where it needs a claim shown. The setup and the record hold the given load.
    labels = _labels((*STEP_CLAIMS, *OPTIONAL_CLAIMS) if with_probes else STEP_CLAIMS)
    rounds = {label: [100.0 + i for i in range(8)] for label in labels}
    device = "CPU (2 threads, test)"
    setup = {"load_average_before": (load, load, load), "device": device}
    record = {
        "masks": [{"label": label, "times_ms": times} for label, times in rounds.items()],
        "extras": {},
        **setup,
    }

    class Result:
        times = staticmethod(rounds.__getitem__)

    Result.setup = setup
    return Result(), record


def test_record_statuses_follow_the_rule_worked_by_hand():
    quiet_result, quiet_record = _fake_run(load=0.2)
    judged = dict(
        (text, (ours, theirs))
        for text, ours, theirs in check_against_record(quiet_result, quiet_record)
    )
    assert UPDATE_CLAIM[0] in judged  # the record holds both probes
    assert EAGER_FLOOR_CLAIM[0] in judged  # and the eager floor
    statuses = record_statuses(quiet_result, quiet_record)
    for text, (ours, theirs) in judged.items():
        # Equal series never show a claim: undecided in both, with both counts.
        assert not ours.shown
        assert statuses[text] == (
            f"undecided in both runs (this run {ours.favouring} of {ours.pairs}, "
            f"the record {theirs.favouring} of {theirs.pairs})"
        )
    _, loud_record = _fake_run(load=3.0)
    faster = [80.0 + i for i in range(8)]  # shown in the record only
    loud_record["masks"] = [
        {**mask, "times_ms": faster} if mask["label"] == "blocks 1-5" else mask
        for mask in loud_record["masks"]
    ]
    mixed = record_statuses(quiet_result, loud_record)[STEP_CLAIMS[0][0]]
    assert mixed == (
        "not reproduced (the record: shown 8 of 8; not shown in this run, the record not quiet)"
    )
    assert set(record_statuses(quiet_result, None).values()) == {
        "not reproduced (no committed record with these settings)"
    }
    _, old_record = _fake_run(load=0.2, with_probes=False)
    old = record_statuses(quiet_result, old_record)
    assert old[UPDATE_CLAIM[0]] == "not reproduced (the record lacks this claim's arms)"
    assert old[EAGER_FLOOR_CLAIM[0]] == "not reproduced (the record lacks this claim's arms)"


def test_a_claim_shown_in_two_quiet_runs_is_reproduced():
    result, record = _fake_run(load=0.2)
    faster = [80.0 + i for i in range(8)]  # blocks 1-5 faster than nothing frozen in every round
    record["masks"] = [
        {**mask, "times_ms": faster} if mask["label"] == "blocks 1-5" else mask
        for mask in record["masks"]
    ]
    times = {mask["label"]: mask["times_ms"] for mask in record["masks"]}
    result.times = staticmethod(times.__getitem__)
    status = record_statuses(result, record)[STEP_CLAIMS[0][0]]
    assert status == "reproduced (the quiet record: shown 8 of 8)"
    record["load_average_before"] = (3.0, 3.0, 3.0)
    assert record_statuses(result, record)[STEP_CLAIMS[0][0]] == (
        "not reproduced (the record: shown 8 of 8; the record not quiet)"
    )


def test_the_eager_floor_claim_compares_each_rounds_gap_above_its_own_floor():
    # By hand: eagerly the frozen base sits 30 ms above its floor, compiled 2 ms, in every round.
    compiled_floor = [100.0, 102.0, 101.0, 99.0, 103.0, 100.0]
    eager_floor = [150.0, 151.0, 149.0, 152.0, 150.0, 151.0]
    times = {
        "blocks 1-5": [t + 2.0 for t in compiled_floor],
        "floor (everything frozen)": compiled_floor,
        "eager: blocks 1-5": [t + 30.0 for t in eager_floor],
        "eager: floor (everything frozen)": eager_floor,
    }
    ((_, ours, _),) = judge_claims([EAGER_FLOOR_CLAIM], times, times)
    assert ours.shown and ours.favouring == 6
    assert ours.median == 28.0  # 30 - 2 ms in every round
