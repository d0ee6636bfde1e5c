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

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from freezelab._validation import check_str
from freezelab.verdicts import MAX_CHANCE, PairedVerdict, paired_verdict
from freezelab.vis.chance import holm


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


@dataclass(frozen=True)
class FamilyVerdict:
    """One comparison of a family asked both ways, under Holm's rule.

    Attributes:
        question: The comparison's name, as given.
        leading: The claim of the direction with more seeds on its side.
        p_value: The two-sided sign-test chance of that direction
            (twice the one-sided, at most 1).
        threshold: Its Holm threshold.
        shown: Holm passes it **and** the middle half of its differences lies
            on its side of zero (the rule of `paired_verdict`).
    """

    question: str
    leading: PairedVerdict
    p_value: float
    threshold: float
    shown: bool

    @property
    def line(self) -> str:
        """``"<question>: <claim> shown (8 of 8; P 0.78% <= Holm 1.7%)"``, or "neither ..."."""
        counts = (
            f"{self.leading.favouring} of {self.leading.pairs}; P {_percent(self.p_value)} "
            f"{'<' if self.p_value < self.threshold else 'not <'} Holm {_percent(self.threshold)}"
        )
        if self.shown:
            return f"{self.question}: {self.leading.claim}, shown ({counts})"
        return (
            f"{self.question}: neither direction shown ({counts} for "
            f"{self.leading.claim.split(' more accurate than ')[0]}; middle half "
            f"{self.leading.lower_quartile:+.3f} to {self.leading.upper_quartile:+.3f})"
        )


def holm_both_ways(
    family: Mapping[str, Sequence[PairedVerdict]], alpha: float = MAX_CHANCE
) -> list[FamilyVerdict]:
    """A family of comparisons, each asked both ways, corrected with Holm's rule.

    Each comparison's P value is the two-sided sign-test chance of its
    leading direction (the one with more seeds on its side; the first on a
    tie). `freezelab.vis.chance.holm` then sorts the family's P values. A
    direction is shown when Holm passes it and, as in `paired_verdict`, the
    middle half of its differences lies on its side of zero.

    Args:
        family: Question name -> the two verdicts of `accuracy_both_ways`.
        alpha: The family's bound (default 5 %).

    Returns:
        One `FamilyVerdict` per question, in the order given.

    Raises:
        ValueError: For an empty family, an entry that is not two verdicts,
            or as `holm`.
    """
    if not family:
        raise ValueError(f"family needs at least one comparison. Received: family={family!r}")
    for name, pair in family.items():
        if len(pair) != 2 or not all(isinstance(verdict, PairedVerdict) for verdict in pair):
            raise ValueError(
                "each entry of family must be the two verdicts of accuracy_both_ways. "
                f"Received: family[{name!r}]={pair!r}"
            )
    leading = [max(pair, key=lambda verdict: verdict.favouring) for pair in family.values()]
    p_values = [min(1.0, 2 * verdict.chance) for verdict in leading]
    steps = holm(p_values, alpha=alpha)
    return [
        FamilyVerdict(
            question=name,
            leading=verdict,
            p_value=p_value,
            threshold=step.threshold,
            shown=step.shown and _middle_half_on_side(verdict),
        )
        for name, verdict, p_value, step in zip(family, leading, p_values, steps)
    ]


def _middle_half_on_side(verdict: PairedVerdict) -> bool:
    """Whether the middle half of the differences lies above zero (the claim's side)."""
    return verdict.lower_quartile > 0


def _percent(probability: float) -> str:
    """A probability in percent, two significant digits below 10 %."""
    percent = 100 * probability
    return f"{percent:.0f}%" if percent >= 10 else f"{percent:.2g}%"
