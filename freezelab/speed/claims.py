"""A timing lesson's claims judged on two runs' rounds: this run's and a committed record's.

A claim compares two per-round series with `paired_verdict`. Each series is
an arm's step times (its label), or one number per round made from two arms:
``("-", x, y)`` is the saving ``x - y`` in each round, ``("/", x, y)`` the
ratio ``x / y`` (a speed-up when ``x`` is the slower arm).

`check_against_record` judges lesson 03's claims (`STEP_CLAIMS`, and
`UPDATE_CLAIM` where the record holds the block3 and block4 update probes) on
a sweep's rounds and on a committed record's; `record_statuses` turns that
into each claim's status under the record rule.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from freezelab.speed.machine import quiet_check
from freezelab.speed.records import record_times
from freezelab.verdicts import MAX_CHANCE, PairedVerdict, paired_verdict

Times = Callable[[str], Sequence[float]] | Mapping[str, Sequence[float]]
Series = str | tuple[str, str, str]


def per_round(times: Times, series: Series) -> list[float]:
    """One number per round: an arm's step times, or two arms combined round by round.

    Args:
        times: Label -> step times in round order (a mapping such as
            `record_times` returns, or a function such as `SweepResult.times`).
        series: A label, or ``("-", x, y)`` / ``("/", x, y)``.

    Returns:
        The per-round numbers.

    Raises:
        ValueError: For a series that is neither a label nor such a tuple.
    """
    read = times.__getitem__ if isinstance(times, Mapping) else times
    if isinstance(series, str):
        return list(read(series))
    if isinstance(series, tuple) and len(series) == 3 and series[0] in ("-", "/"):
        op, x, y = series
        pairs = zip(read(x), read(y), strict=True)
        return [a - b if op == "-" else a / b for a, b in pairs]
    raise ValueError(
        f"A series is an arm's label or ('-', x, y) / ('/', x, y). Received: series={series!r}"
    )


def judge_claims(
    claims: Sequence[tuple], this: Times, other: Times
) -> list[tuple[str, PairedVerdict, PairedVerdict]]:
    """Judges each claim on this run's rounds and on another run's, by the same rule.

    Args:
        claims: ``(text, a, b, direction, statistic)`` tuples: the claim is
            that series ``a`` is ``direction`` ("lower" or "higher") than
            series ``b``, paired round by round by ``statistic`` ("ratio"
            or "difference"); see `per_round` for the series. A sixth
            element, if given, is the sign test's bound (``max_chance``; 0.025
            for a comparison also asked the other way).
        this: This run's label -> step times.
        other: The other run's (e.g. a committed record's) label -> step times.

    Returns:
        ``(text, this run's verdict, the other run's verdict)`` per claim, as
        `agreement_table` prints them.

    Raises:
        ValueError: For a malformed claim or series, or one that
            `paired_verdict` refuses.
    """
    judged = []
    for claim in claims:
        if not (isinstance(claim, tuple) and len(claim) in (5, 6)):
            raise ValueError(
                "Each claim is (text, a, b, direction, statistic[, max_chance]). "
                f"Received: {claim!r}"
            )
        text, a, b, direction, statistic = claim[:5]
        max_chance = claim[5] if len(claim) == 6 else MAX_CHANCE
        verdicts = [
            paired_verdict(
                per_round(times, a),
                per_round(times, b),
                claim=text,
                direction=direction,
                statistic=statistic,
                max_chance=max_chance,
            )
            for times in (this, other)
        ]
        judged.append((text, *verdicts))
    return judged


FLOOR = "floor (everything frozen)"
CACHED = "head on cached features"

# Lesson 03's claims, fixed before its committed run (the block3 one chosen after earlier
# runs, as the lesson says). The whole base against the floor is
# asked both ways, so each direction gets half of the 5 % bound.
STEP_CLAIMS = (
    (
        "whole base frozen faster than nothing frozen",
        "blocks 1-5",
        "nothing frozen",
        "lower",
        "ratio",
    ),
    ("whole base frozen slower than the floor", "blocks 1-5", FLOOR, "higher", "ratio", 0.025),
    ("whole base frozen faster than the floor", "blocks 1-5", FLOOR, "lower", "ratio", 0.025),
    ("blocks 1-2 faster than block4 only", "blocks 1-2", "block4 only", "lower", "ratio"),
    (
        "block3 saves more on a frozen prefix",
        ("-", "blocks 1-2", "blocks 1-3"),
        ("-", "nothing frozen", "block3 only"),
        "higher",
        "difference",
    ),
    (
        "block2 saves more on a frozen prefix",
        ("-", "block1", "blocks 1-2"),
        ("-", "nothing frozen", "block2 only"),
        "higher",
        "difference",
    ),
    ("block5 only faster than nothing frozen", "block5 only", "nothing frozen", "lower", "ratio"),
    ("blocks 1-2 faster than block5 only", "blocks 1-2", "block5 only", "lower", "ratio"),
    ("block4 only faster than block3 only", "block4 only", "block3 only", "lower", "ratio"),
    ("cached features faster than frozen base", CACHED, "blocks 1-5", "lower", "ratio"),
    (
        "freezing saves less eagerly",
        ("/", "eager: nothing frozen", "eager: blocks 1-5"),
        ("/", "nothing frozen", "blocks 1-5"),
        "lower",
        "ratio",
    ),
)


# Asked only where the record holds the two single-block update probes (older records do not).
UPDATE_CLAIM = (
    "block4's weights take longer to update than block3's",
    "update probe: block4",
    "update probe: block3",
    "higher",
    "ratio",
)

# Asked only where the record holds an eager floor (older records do not): does the eager
# frozen-base step do more work above its own floor than the compiled one does above its floor?
EAGER_FLOOR_CLAIM = (
    "eager frozen base does more above its floor",
    ("-", "eager: blocks 1-5", "eager: " + FLOOR),
    ("-", "blocks 1-5", FLOOR),
    "higher",
    "difference",
)

#: Claims judged only where the record holds their arms.
OPTIONAL_CLAIMS = (UPDATE_CLAIM, EAGER_FLOOR_CLAIM)


def _labels(claim: tuple) -> list[str]:
    """The arm labels a claim's two series read."""
    return [
        label
        for series in claim[1:3]
        for label in ([series] if isinstance(series, str) else series[1:])
    ]


def check_against_record(
    result: object, record: Mapping
) -> list[tuple[str, PairedVerdict, PairedVerdict]]:
    """Judges lesson 03's claims (`STEP_CLAIMS`) on a sweep's rounds and on a record's.

    Each of `OPTIONAL_CLAIMS` (`UPDATE_CLAIM`, `EAGER_FLOOR_CLAIM`) is judged
    too where the record holds its arms.

    Args:
        result: A `SweepResult` from an interleaved `run_sweep` with the
            standard cases, the floor, the cached-features and eager arms
            (and the block3 and block4 update probes, for `UPDATE_CLAIM`).
        record: A committed timing record (`matching_record`).

    Returns:
        ``(claim, this run's verdict, the record's verdict)`` per claim, as
        `agreement_table` prints them.

    Raises:
        ValueError: If ``record`` holds no per-round times, or an arm is missing.
    """
    times = record_times(record)
    missing = sorted(
        {label for claim in STEP_CLAIMS for label in _labels(claim) if label not in times}
    )
    if missing:
        raise ValueError(f"The record lacks arms the claims need. Received: missing={missing}")
    optional = [c for c in OPTIONAL_CLAIMS if all(label in times for label in _labels(c))]
    return judge_claims((*STEP_CLAIMS, *optional), result.times, times)


def record_statuses(result: object, record: Mapping | None) -> dict[str, str]:
    """Each of lesson 03's claims under the record rule, as a line ending.

    The rule: a claim is **reproduced** only where this run and the record
    both show it and both were quiet by the course's rule (`quiet_check`).

    Args:
        result: A `SweepResult`, as for `check_against_record`.
        record: The matching committed record (`matching_record`), or None.

    Returns:
        Claim text (`STEP_CLAIMS`' and `OPTIONAL_CLAIMS`') -> e.g.
        ``"reproduced (the quiet record: shown 20 of 20)"``,
        ``"not reproduced (the record: shown 15 of 15; the record not quiet)"`` or,
        where neither run shows it, ``"undecided in both runs (this run 11 of 20,
        the record 10 of 20)"``.

    Raises:
        ValueError: As `check_against_record` and `quiet_check` raise.
    """
    texts = [claim[0] for claim in (*STEP_CLAIMS, *OPTIONAL_CLAIMS)]
    if record is None:
        return {text: "not reproduced (no committed record with these settings)" for text in texts}
    statuses = {text: "not reproduced (the record lacks this claim's arms)" for text in texts}
    this_quiet, record_quiet = quiet_check(result).quiet, quiet_check(record).quiet
    for text, ours, theirs in check_against_record(result, record):
        counts = f"{'shown' if theirs.shown else 'not shown'} {theirs.favouring} of {theirs.pairs}"
        if ours.shown and theirs.shown and this_quiet and record_quiet:
            statuses[text] = f"reproduced (the quiet record: {counts})"
            continue
        if not ours.shown and not theirs.shown:
            statuses[text] = (
                f"undecided in both runs (this run {ours.favouring} of {ours.pairs}, "
                f"the record {theirs.favouring} of {theirs.pairs})"
            )
            continue
        reasons = [
            reason
            for reason, applies in (
                ("not shown in this run", not ours.shown),
                ("not shown in the record", not theirs.shown),
                ("this run not quiet", not this_quiet),
                ("the record not quiet", not record_quiet),
            )
            if applies
        ]
        statuses[text] = f"not reproduced (the record: {counts}; {', '.join(reasons)})"
    return statuses
