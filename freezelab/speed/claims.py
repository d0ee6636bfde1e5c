"""A timing lesson's claims judged on two runs' rounds: this run's and a committed record's.

A claim compares two per-round series with `paired_verdict`. Each series is
an arm's step times (its label), or one number per round made from two arms:
``("-", x, y)`` is the saving ``x - y`` in each round, ``("/", x, y)`` the
ratio ``x / y`` (a speed-up when ``x`` is the slower arm).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from freezelab.verdicts import PairedVerdict, paired_verdict

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
            or "difference"); see `per_round` for the series.
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
        if not (isinstance(claim, tuple) and len(claim) == 5):
            raise ValueError(
                f"Each claim is (text, a, b, direction, statistic). Received: {claim!r}"
            )
        text, a, b, direction, statistic = claim
        verdicts = [
            paired_verdict(
                per_round(times, a),
                per_round(times, b),
                claim=text,
                direction=direction,
                statistic=statistic,
            )
            for times in (this, other)
        ]
        judged.append((text, *verdicts))
    return judged
