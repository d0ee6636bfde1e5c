"""Lesson 03's summary: this run's findings in plain words and as numbered lines.

Each line states a finding with its numbers, its verdict (`paired_verdict`) and
its status under the record rule (`record_statuses`); the plain-words line
("In short") repeats only the findings whose verdict reads "shown".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from freezelab.speed.claims import STEP_CLAIMS, UPDATE_CLAIM
from freezelab.verdicts import PairedVerdict

#: The verdicts the summary needs, by key.
VERDICT_KEYS = ("whole", "prefix", "why", "params", "update", "cached", "eager")
_STEP_TEXTS = [claim[0] for claim in STEP_CLAIMS]
#: The record rule's claim names (`freezelab.speed.claims`, read from there) for each verdict.
RECORD_CLAIMS = {
    "whole": _STEP_TEXTS[0],  # whole base frozen faster than nothing frozen
    "prefix": _STEP_TEXTS[3],  # blocks 1-2 faster than block4 only
    "why": _STEP_TEXTS[4],  # block3 saves more on a frozen prefix
    "params": _STEP_TEXTS[7],  # blocks 1-2 faster than block5 only
    "update": UPDATE_CLAIM[0],
    "cached": _STEP_TEXTS[9],  # cached features faster than frozen base
    "eager": _STEP_TEXTS[10],  # freezing saves less eagerly
    "block5": _STEP_TEXTS[6],  # block5 only faster than nothing frozen (optional)
}


@dataclass(frozen=True)
class StepNumbers:
    """The measured numbers the summary quotes (fractions are of the fully trainable step).

    Attributes:
        saved: Mask label -> fraction of the step its freezing saved
            (``"blocks 1-2"``, ``"block4 only"``, ``"block5 only"``).
        params_share: Mask label -> share of the convolution parameters it
            freezes (``"blocks 1-2"``, ``"block5 only"``).
        floor_share: The floor's share of the step.
        ceiling_range: The ceiling's middle half (low, high).
        record_ceiling: The matching record's ceiling, or None.
        update_share: The optimizer update's share of the step.
        extra_flop_ms: The FLOP model's extra saving for block3 on a prefix.
        cached_speedup: Cached features against the fully trainable step.
        eager_speedups: Whole base frozen (eager, compiled) medians, or None.
        whole_over_floor: The whole-base step over the floor, paired by round
            (median, lower quartile, upper quartile), or None.
    """

    saved: Mapping[str, float]
    params_share: Mapping[str, float]
    floor_share: float
    ceiling_range: tuple[float, float]
    record_ceiling: float | None
    update_share: float
    extra_flop_ms: float
    cached_speedup: float
    eager_speedups: tuple[float, float] | None = None
    whole_over_floor: tuple[float, float, float] | None = None


def against_ceiling(speedup_range: tuple[float, float], ceiling_range: tuple[float, float]) -> str:
    """How a measured speed-up's middle half lies against the ceiling's.

    Args:
        speedup_range: The speed-up's middle half (low, high).
        ceiling_range: The ceiling's middle half (low, high).

    Returns:
        "above the ceiling beyond both spreads: a broken measurement", "below
        the ceiling beyond both spreads" or "the ranges overlap: at the ceiling
        within this run's resolution".

    Raises:
        ValueError: For a range whose low end is above its high end.
    """
    for name, (low, high) in (("speedup_range", speedup_range), ("ceiling_range", ceiling_range)):
        if low > high:
            raise ValueError(f"{name} is (low, high). Received: {name}={(low, high)}")
    if speedup_range[0] > ceiling_range[1]:
        return "above the ceiling beyond both spreads: a broken measurement"
    if speedup_range[1] < ceiling_range[0]:
        return "below the ceiling beyond both spreads"
    return "the ranges overlap: at the ceiling within this run's resolution"


def step_summary(
    verdicts: Mapping[str, PairedVerdict | None],
    status: Mapping[str, str],
    numbers: StepNumbers,
) -> list[str]:
    """Lesson 03's summary lines: "In short", then one numbered line per finding.

    Args:
        verdicts: `VERDICT_KEYS` -> the lesson's verdicts; ``"whole"`` is
            whole base against nothing frozen (a ratio), ``"why"`` a
            difference in ms; ``"eager"`` may be None (no compiled arm).
            An optional ``"block5"`` (block5 frozen alone against nothing
            frozen) puts block5's own verdict beside its saving in line 4.
        status: `record_statuses`' output.
        numbers: The measured numbers quoted.

    Returns:
        The lines to print.

    Raises:
        ValueError: For missing verdicts.
    """
    missing = [
        key
        for key in VERDICT_KEYS
        if key not in verdicts or (verdicts[key] is None and key != "eager")
    ]
    if missing:
        raise ValueError(f"step_summary needs every verdict of {VERDICT_KEYS}. Missing: {missing}")

    def said(key: str) -> str:
        line = verdicts[key].reading.replace(" in this run", "")
        return f"{line}; {status.get(RECORD_CLAIMS[key], 'not reproduced (no status)')}"

    whole = verdicts["whole"]
    speedup = 1 / whole.median
    speedup_range = (1 / whole.upper_quartile, 1 / whole.lower_quartile)
    relation = against_ceiling(speedup_range, numbers.ceiling_range)
    saved = numbers.saved
    short = []
    if whole.shown:
        short.append(
            f"freezing the whole base made a step {speedup:.2f}x faster, "
            + ("about the ceiling the floor sets" if "overlap" in relation else relation)
        )
    if verdicts["prefix"].shown:
        short.append(
            "a frozen prefix saved more than a frozen middle of equal forward compute "
            f"({saved['blocks 1-2']:.0%} against {saved['block4 only']:.0%})"
        )
    if verdicts["params"].shown and verdicts["update"].shown:
        short.append(
            "parameter count did not predict time, but parameters cost time through the optimizer "
            f"update (about {numbers.update_share:.0%} of the step here, by a probe that may overcharge)"
        )
    block5_own = ""
    if verdicts.get("block5") is not None:
        block5_own = f" (its own saving: {said('block5')})"
    pair = ""
    if numbers.whole_over_floor is not None:
        median, lower, upper = numbers.whole_over_floor
        pair = (
            f" (the whole-base step over the floor, round by round: {median:.3f}, middle half "
            f"{lower:.3f} to {upper:.3f})"
        )
    low, high = numbers.ceiling_range
    record = ""
    if numbers.record_ceiling:
        record = f"; the record's {numbers.record_ceiling:.2f}x, " + (
            "inside it"
            if low <= numbers.record_ceiling <= high
            else "outside it: the ceiling moved more between the two runs than within this one"
        )
    lines = [
        "In short: "
        + ("; ".join(short) if short else "no headline verdict was shown in this run")
        + ".",
        f"1. Whole base frozen: {speedup:.2f}x faster per step (middle half {speedup_range[0]:.2f}x to "
        f"{speedup_range[1]:.2f}x), {said('whole')}; ceiling {1 / numbers.floor_share:.2f}x (middle half "
        f"{low:.2f}x to {high:.2f}x{record}; the floor is {numbers.floor_share:.1%} of the step): {relation}"
        + pair,
        f"2. Where: a frozen prefix (blocks 1-2) saved {saved['blocks 1-2']:.1%}, a frozen middle (block4) "
        f"{saved['block4 only']:.1%} at equal forward compute: {said('prefix')}",
        f"3. Why (same layers, two positions): block3 saved {verdicts['why'].median:.1f} ms more per step on "
        f"a frozen prefix than alone: {said('why')}; the cost model's reason: the input gradients a prefix "
        f"no longer needs (it expects {numbers.extra_flop_ms:.1f} ms)",
        f"4. Parameter count did not predict time: block5 ({numbers.params_share['block5 only']:.0%} of the "
        f"convolution parameters) saved {saved['block5 only']:.1%}{block5_own}, blocks 1-2 "
        f"({numbers.params_share['blocks 1-2']:.0%}) {saved['blocks 1-2']:.1%}: {said('params')}",
        f"5. The update was {numbers.update_share:.1%} of the full step (update probe; may overcharge); "
        f"block4's weights took longer to update than block3's: {said('update')}",
        f"6. Past the ceiling: cached features {numbers.cached_speedup:.0f}x faster per step than fully "
        f"trainable (these settings), {1 / verdicts['cached'].median:.0f}x faster than the frozen base: "
        f"{said('cached')}",
    ]
    if verdicts["eager"] is not None and numbers.eager_speedups is not None:
        eager, compiled = numbers.eager_speedups
        lines.append(
            f"7. Run eagerly: freezing the whole base gave {eager:.2f}x instead of {compiled:.2f}x "
            f"compiled: {said('eager')}"
        )
    return lines


__all__ = ["RECORD_CLAIMS", "VERDICT_KEYS", "StepNumbers", "against_ceiling", "step_summary"]
