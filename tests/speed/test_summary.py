"""Lesson 03's summary lines, from verdicts built by hand on known per-round numbers."""

import pytest

from freezelab.speed.summary import StepNumbers, against_ceiling, step_summary
from freezelab.verdicts import paired_verdict


def _verdict(ratios, claim="c"):
    # A ratio claim "lower" than 1: each number is one round's ratio against ones.
    return paired_verdict(ratios, [1.0] * len(ratios), claim=claim)


SHOWN = _verdict([0.9] * 10)  # every round favours: shown
NOT_SHOWN = _verdict([0.9, 1.1] * 5)  # half the rounds: not shown


def _numbers(**changes):
    base = dict(
        saved={"blocks 1-2": 0.25, "block4 only": 0.10, "block5 only": 0.06},
        params_share={"blocks 1-2": 0.02, "block5 only": 0.48},
        floor_share=0.28,
        ceiling_range=(3.4, 3.7),
        record_ceiling=3.5,
        update_share=0.06,
        extra_flop_ms=32.0,
        cached_speedup=120.0,
        eager_speedups=(1.15, 3.5),
    )
    return StepNumbers(**{**base, **changes})


def test_the_speedup_is_read_against_the_ceiling_by_both_middle_halves():
    assert against_ceiling((3.0, 3.2), (3.4, 3.7)) == "below the ceiling beyond both spreads"
    assert "broken measurement" in against_ceiling((3.8, 3.9), (3.4, 3.7))
    assert "overlap" in against_ceiling((3.6, 3.8), (3.4, 3.7))
    with pytest.raises(ValueError, match="Received"):
        against_ceiling((3.9, 3.8), (3.4, 3.7))


def test_in_short_repeats_only_shown_findings_and_every_line_has_its_status():
    whole = paired_verdict([0.28] * 10, [1.0] * 10, claim="whole")  # 1 / 0.28 = 3.57x
    verdicts = {
        "whole": whole,
        "prefix": SHOWN,
        "why": NOT_SHOWN,
        "params": SHOWN,
        "update": NOT_SHOWN,  # so the parameters sentence stays out of "In short"
        "cached": _verdict([0.03] * 10),
        "eager": SHOWN,
    }
    status = {"whole base frozen faster than nothing frozen": "reproduced (x)"}
    lines = step_summary(verdicts, status, _numbers())
    assert lines[0].startswith("In short: freezing the whole base made a step 3.57x faster")
    assert "a frozen prefix saved more than a frozen middle" in lines[0]
    assert "parameter count" not in lines[0]
    assert "reproduced (x)" in lines[1] and "the record's 3.50x, inside it" in lines[1]
    assert "round by round" not in lines[1]
    paired = step_summary(verdicts, status, _numbers(whole_over_floor=(0.99, 0.966, 1.041)))[1]
    assert paired.endswith(
        "(the whole-base step over the floor, round by round: 0.990, middle half 0.966 to 1.041)"
    )
    moved = step_summary(verdicts, status, _numbers(record_ceiling=3.2))[1]
    assert "the record's 3.20x, outside it: the ceiling moved more between" in moved
    assert "3.57x faster per step" in lines[1] and "overlap" in lines[1]
    assert "25.0%" in lines[2] and "10.0%" in lines[2]
    assert lines[-1].startswith(
        "7. Run eagerly: freezing the whole base gave 1.15x instead of 3.50x"
    )
    assert "33x faster than the frozen base" in lines[6]  # 1 / 0.03
    without_eager = step_summary({**verdicts, "eager": None}, status, _numbers())
    assert len(without_eager) == len(lines) - 1


def test_missing_verdicts_are_named():
    with pytest.raises(ValueError, match="Missing: \\['prefix', 'why'"):
        step_summary({"whole": SHOWN}, {}, _numbers())


def test_each_summary_line_reads_the_record_status_of_its_own_claim():
    from freezelab.speed.summary import RECORD_CLAIMS

    assert RECORD_CLAIMS["whole"] == "whole base frozen faster than nothing frozen"
    assert RECORD_CLAIMS["prefix"] == "blocks 1-2 faster than block4 only"
    assert RECORD_CLAIMS["why"] == "block3 saves more on a frozen prefix"
    assert RECORD_CLAIMS["params"] == "blocks 1-2 faster than block5 only"
    assert RECORD_CLAIMS["update"] == "block4's weights take longer to update than block3's"
    assert RECORD_CLAIMS["cached"] == "cached features faster than frozen base"
    assert RECORD_CLAIMS["eager"] == "freezing saves less eagerly"
    assert RECORD_CLAIMS["block5"] == "block5 only faster than nothing frozen"


def test_line_four_carries_block5s_own_verdict_when_given():
    verdicts = {key: SHOWN for key in ("whole", "prefix", "why", "params", "update", "cached")}
    verdicts["eager"] = None
    status = {"block5 only faster than nothing frozen": "not reproduced (r)"}
    plain = step_summary(verdicts, status, _numbers())[4]
    assert plain.startswith("4. ") and "its own saving" not in plain
    with_block5 = step_summary({**verdicts, "block5": NOT_SHOWN}, status, _numbers())[4]
    assert "saved 6.0% (its own saving: not shown (5 of 10" in with_block5
    assert "not reproduced (r))" in with_block5
