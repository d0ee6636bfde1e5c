"""The gap above the floor: estimates and readings worked by hand."""

import pytest

from freezelab.speed.floor_gap import floor_gap
from freezelab.verdicts import paired_verdict

SETUP = {
    "floor_ms": 100.0,
    "update_ms": 30.0,
    "full_trainable_params": 1_000_000,
    "cached_ms": 5.0,
    "overhead_ms": 2.0,
}


def test_estimates_by_hand():
    gap = floor_gap(SETUP, head_params=20_000, head_backward_flops=2e8, flop_rate=2e11)
    # Update: 20,000 / 1e6 x 30 ms = 0.6 ms; backward: 2e8 / 2e11 s = 1 ms -> 1.6 % of 100 ms.
    assert gap.head_update_ms == pytest.approx(0.6) and gap.head_backward_ms == pytest.approx(1.0)
    assert gap.parts == pytest.approx(0.016) and gap.cached == pytest.approx(0.03)
    assert (gap.low, gap.high) == (gap.parts, gap.cached)


def test_readings_and_lines():
    gap = floor_gap(SETUP, head_params=20_000, head_backward_flops=2e8, flop_rate=2e11)
    floor = [100.0] * 8
    whole = [102.0, 101.0, 103.0, 102.0, 102.0, 101.5, 102.5, 102.0]  # ratios 1.01-1.03
    slower = paired_verdict(whole, floor, claim="s", direction="higher", max_chance=0.025)
    faster = paired_verdict(whole, floor, claim="f", direction="lower", max_chance=0.025)
    assert gap.reading(slower, faster) == "slower than the floor, as expected"
    lines = gap.lines(slower)
    assert "median whole/floor ratio 1.020" in lines[1] and "between the two estimates" in lines[1]
    assert lines[2].endswith("below the ratio's middle half")  # 1.016 below the first quartile
    assert lines[3].endswith("above the ratio's middle half")  # 1.03 above the third quartile
    mixed = [100.0, 100.5, 99.5, 101.0, 99.0, 100.0, 100.2, 99.8]
    undecided = paired_verdict(mixed, floor, claim="s", direction="higher", max_chance=0.025)
    not_faster = paired_verdict(mixed, floor, claim="f", direction="lower", max_chance=0.025)
    assert gap.reading(undecided, not_faster).startswith("within this run's resolution")
    broken = paired_verdict([98.0] * 8, floor, claim="f", direction="lower", max_chance=0.025)
    assert "broken" in gap.reading(undecided, broken)


def test_bad_input_names_what_was_received():
    with pytest.raises(ValueError, match="missing \\['cached_ms'\\]"):
        floor_gap({k: v for k, v in SETUP.items() if k != "cached_ms"}, 1, 1.0, 1.0)
    with pytest.raises(ValueError, match="Received: flop_rate=0"):
        floor_gap(SETUP, 1, 1.0, 0)
