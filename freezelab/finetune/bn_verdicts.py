"""Accuracy comparisons asked both ways, and the one line a lesson prints for each.

The BatchNorm lesson compares arms trained on the same seeds. It asks each
comparison in both directions ("a more accurate than b", then "b more
accurate than a") with `freezelab.verdicts.paired_verdict` on the per-seed
accuracy differences, so that either arm can come out ahead, or neither, and
prints one line per comparison. Asking twice doubles the chance that a coin
flip per seed shows *some* direction, so each direction gets half the
sign-test bound (2.5 %) and the line prints the chance either way: with 5
seeds even 5 of 5 (6.25 % either way) shows nothing; 6 of 6 (3.1 %) can.
"""

from __future__ import annotations

from collections.abc import Sequence

from freezelab._validation import check_str
from freezelab.verdicts import MAX_CHANCE, PairedVerdict, paired_verdict


def accuracy_both_ways(
    a_name: str, a: Sequence[float], b_name: str, b: Sequence[float]
) -> list[PairedVerdict]:
    """Asks "a more accurate than b", then "b more accurate than a", paired by seed.

    Args:
        a_name: The first arm's name, as printed.
        a: The first arm's accuracy per seed.
        b_name: The second arm's name.
        b: The second arm's accuracy per seed, in the same seed order.

    Returns:
        Two `PairedVerdict` (statistic ``"difference"``, direction
        ``"higher"``, ``max_chance`` half of `MAX_CHANCE`): ``[a > b, b > a]``.

    Raises:
        ValueError: For an empty or non-string name, or as `paired_verdict`.
    """
    check_str(a_name, "a_name")
    check_str(b_name, "b_name")
    return [
        paired_verdict(
            x,
            y,
            claim=f"{x_name} more accurate than {y_name}",
            direction="higher",
            statistic="difference",
            max_chance=MAX_CHANCE / 2,
        )
        for x_name, x, y_name, y in ((a_name, a, b_name, b), (b_name, b, a_name, a))
    ]


def both_ways_line(pair: Sequence[PairedVerdict]) -> str:
    """One line for a comparison asked both ways: the direction shown, or neither.

    Args:
        pair: The two verdicts of `accuracy_both_ways`.

    Returns:
        ``"<claim>: shown in this run (6 of 6; chance either way 3.1%),
        median difference +0.123"`` for the direction shown, or ``"<a> vs <b>: neither direction shown (median
        difference ..., middle half ... to ...)"`` (first named minus second).

    Raises:
        ValueError: For anything but two verdicts.
    """
    if len(pair) != 2 or not all(isinstance(verdict, PairedVerdict) for verdict in pair):
        raise ValueError(
            f"pair must be the two verdicts of accuracy_both_ways. Received: pair={pair!r}"
        )
    for verdict in pair:
        if verdict.shown:
            return (
                f"{verdict.claim}: {verdict.verdict} ({_counts(verdict)}), "
                f"median difference {verdict.median:+.3f}"
            )
    first, ahead = pair[0], max(pair, key=lambda verdict: verdict.favouring)
    return (
        f"{first.claim.replace(' more accurate than ', ' vs ')}: neither direction shown (median "
        f"difference {first.median:+.3f}, middle half {first.lower_quartile:+.3f} to "
        f"{first.upper_quartile:+.3f}; {_counts(ahead)} for "
        f"{ahead.claim.split(' more accurate than ')[0]})"
    )


def _counts(verdict: PairedVerdict) -> str:
    """``"6 of 6; chance either way 3.1%"``: the two-sided sign test (twice the one-sided)."""
    either_way = min(1.0, 2 * verdict.chance)
    percent = 100 * either_way
    shown = f"{percent:.0f}%" if percent >= 10 else f"{percent:.2g}%"
    return f"{verdict.favouring} of {verdict.pairs}; chance either way {shown}"
