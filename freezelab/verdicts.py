"""One rule for "shown in this run": paired comparisons that can say "not shown".

Every measured comparison in the course is **paired**: two arms measured in
the same timing round (interleaved step times), or trained on the same seed
and the same data split (fine-tuning runs). Pairing cancels what the two arms
share (a load spike, a lucky split), so the evidence is in the per-pair
comparisons, not in two spreads set side by side.

The rule (`paired_verdict`): form one number per pair, the ratio ``a / b``
(timings) or the difference ``a - b`` (accuracies, drifts). The claim "a is
lower (or higher) than b" is **shown** when the middle half of those numbers
(the interquartile range, inclusive quartiles) lies entirely on the claim's
side of "no difference" (1 for a ratio, 0 for a difference) **and** so
many pairs favour the claim that a coin flip per pair would do as well at
most `MAX_CHANCE` (5 %) of the time (the one-sided sign test; the direction
is written in the claim before the run). Put plainly: at least three pairs in
four favour the claim, and never fewer than the sign test asks (no margin is
required; a pair exactly at "no difference" does not favour it). With 5
pairs that means all 5 (4 of 5 happens by chance 19 % of the time); with 12
timing rounds, 10 of 12; with 16, 12 of 16. Fewer than `MIN_PAIRS` pairs
never show anything (4 of 4 happens by chance 6.25 % of the time).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

#: Fewest pairs from which a verdict can be "shown" (all 5 of 5 agree by chance 3.1 % of the time).
MIN_PAIRS = 5
#: Largest one-sided sign-test chance with which a claim can be "shown".
MAX_CHANCE = 0.05
STATISTICS = ("ratio", "difference")
DIRECTIONS = ("lower", "higher")


def format_statistic(value: float, statistic: str) -> str:
    """A verdict's median or quartile as text: three significant digits, three decimals near 1.

    A ratio between 0.9 and 1.1 keeps three decimals (``1.004``, not ``1``),
    so that its middle half shows on which side of 1 it lies.

    Args:
        value: The number.
        statistic: ``"ratio"`` or ``"difference"``.

    Returns:
        The text.
    """
    if statistic == "ratio" and 0.9 <= value <= 1.1:
        return f"{value:.3f}"
    return f"{value:.3g}"


@dataclass(frozen=True)
class PairedVerdict:
    """The outcome of one paired comparison.

    Attributes:
        claim: What was claimed, in words, e.g. ``"blocks 1-2 faster than block4 only"``.
        statistic: ``"ratio"`` (``a / b`` per pair) or ``"difference"`` (``a - b``).
        direction: ``"lower"`` or ``"higher"``: the claim is that ``a`` is that.
        median: Median of the per-pair numbers.
        lower_quartile: 25th percentile of the per-pair numbers.
        upper_quartile: 75th percentile of the per-pair numbers.
        favouring: Pairs whose number favours the claim.
        pairs: Number of pairs.
        shown: Whether the claim is shown by the rule.
        max_chance: The largest sign-test chance the rule accepted
            (`MAX_CHANCE`, or half of it for a comparison asked both ways).
    """

    claim: str
    statistic: str
    direction: str
    median: float
    lower_quartile: float
    upper_quartile: float
    favouring: int
    pairs: int
    shown: bool
    max_chance: float = MAX_CHANCE

    @property
    def chance(self) -> float:
        """How often at least `favouring` of `pairs` would favour the claim by chance alone.

        Each pair is taken as a fair coin (no real difference): the one-sided
        sign test, ``P(X >= favouring)`` for ``X ~ Binomial(pairs, 1/2)``. It
        says how surprising the agreement is, e.g. 1/64 for 6 of 6 pairs.
        """
        return sign_test_chance(self.favouring, self.pairs)

    @property
    def fewest_to_show(self) -> int:
        """Fewest favouring pairs with which the rule can show a claim, for this many pairs.

        The inclusive upper (or lower) quartile sits at position ``0.75 (n - 1)``
        of the sorted numbers, so it is beyond "no difference" only when at
        least ``floor(0.75 (n - 1)) + 1`` numbers are (9 of 12, 4 of 5); the
        sign test then asks for its chance to be at most `MAX_CHANCE` (10 of
        12, 5 of 5). The larger of the two counts; ``pairs + 1`` (never) below
        `MIN_PAIRS` pairs.
        """
        return fewest_to_show(self.pairs, self.max_chance)

    @property
    def marginal(self) -> bool:
        """Whether the claim is shown by exactly the fewest pairs that can show it.

        Such a verdict (10 of 12 pairs, 12 of 15) would flip with one pair
        more against it: read it with its `chance`. A claim that every pair
        favours is never marginal.
        """
        return self.shown and self.favouring == self.fewest_to_show and self.favouring < self.pairs

    @property
    def reading(self) -> str:
        """The verdict with its strength, e.g. ``"shown in this run, marginal (10 of 12; chance 1.9%)"``.

        ``chance`` is the one-sided sign test (`chance`): how often at least
        this many pairs would agree if each pair were a coin flip.
        """
        counts = f"{self.favouring} of {self.pairs}; chance {_percent(self.chance)}"
        if self.marginal:
            return f"{self.verdict}, marginal ({counts})"
        return f"{self.verdict} ({counts})"

    @property
    def numbers(self) -> str:
        """The figures behind the verdict, as `str()` prints them in parentheses."""
        name = "ratio" if self.statistic == "ratio" else "difference"
        median, low, high = (
            format_statistic(v, self.statistic)
            for v in (self.median, self.lower_quartile, self.upper_quartile)
        )
        text = (
            f"median {name} {median}, middle half {low} to {high}, "
            f"{self.favouring} of {self.pairs} pairs agree"
        )
        if self.pairs < MIN_PAIRS:
            text += f"; fewer than {MIN_PAIRS} pairs"
        return text

    @property
    def verdict(self) -> str:
        """``"shown in this run"`` or ``"not shown in this run"``."""
        return "shown in this run" if self.shown else "not shown in this run"

    def __str__(self) -> str:
        return f"{self.claim}: {self.verdict} ({self.numbers})"


def paired_numbers(a: Sequence[float], b: Sequence[float], statistic: str) -> list[float]:
    """One number per pair: ``a[i] / b[i]`` or ``a[i] - b[i]``.

    Args:
        a: Values of the first arm, one per pair.
        b: Values of the second arm, in the same order.
        statistic: ``"ratio"`` or ``"difference"``.

    Returns:
        The per-pair numbers, in order.

    Raises:
        ValueError: For arms of different lengths, an empty arm, a value that
            is not a finite number, an unknown statistic, or a ratio with a
            non-positive denominator.
    """
    if statistic not in STATISTICS:
        raise ValueError(
            f"statistic must be one of {STATISTICS}. Received: statistic={statistic!r}"
        )
    a, b = _finite(a, "a"), _finite(b, "b")
    if len(a) != len(b) or not a:
        raise ValueError(
            "A paired comparison needs two non-empty arms of equal length, one value per pair. "
            f"Received: len(a)={len(a)}, len(b)={len(b)}"
        )
    if statistic == "difference":
        return [x - y for x, y in zip(a, b)]
    if min(b) <= 0:
        raise ValueError(f"A ratio needs positive values in b. Received: b={b}")
    return [x / y for x, y in zip(a, b)]


def paired_verdict(
    a: Sequence[float],
    b: Sequence[float],
    *,
    claim: str,
    direction: str = "lower",
    statistic: str = "ratio",
    max_chance: float = MAX_CHANCE,
) -> PairedVerdict:
    """Decides whether a paired comparison shows that ``a`` is lower (or higher) than ``b``.

    Args:
        a: The first arm, one value per pair (a timing round, or a seed).
        b: The second arm, in the same pair order.
        claim: The claim in words, printed with the verdict.
        direction: ``"lower"``: the claim is ``a < b``; ``"higher"``: ``a > b``.
        statistic: ``"ratio"`` for timings (scale-free), ``"difference"``
            for accuracies and drifts.
        max_chance: Largest one-sided sign-test chance that can show the
            claim; `MAX_CHANCE` by default. A comparison asked in both
            directions passes half of it to each (see
            `freezelab.finetune.bn_verdicts.accuracy_both_ways`).

    Returns:
        A `PairedVerdict`; ``str()`` of it reads as one line.

    Raises:
        ValueError: As `paired_numbers`, for an unknown direction, or for a
            `max_chance` outside (0, 1].

    Example:
        >>> str(paired_verdict([1, 1, 1, 1, 1], [2, 2, 2, 2, 2], claim="a faster"))
        'a faster: shown in this run (median ratio 0.5, middle half 0.5 to 0.5, 5 of 5 pairs agree)'
    """
    if direction not in DIRECTIONS:
        raise ValueError(
            f"direction must be one of {DIRECTIONS}. Received: direction={direction!r}"
        )
    if not (isinstance(max_chance, (int, float)) and 0 < max_chance <= 1):
        raise ValueError(f"max_chance must lie in (0, 1]. Received: max_chance={max_chance!r}")
    numbers = paired_numbers(a, b, statistic)
    neutral = 1.0 if statistic == "ratio" else 0.0
    if len(numbers) > 1:
        lower, _, upper = statistics.quantiles(numbers, n=4, method="inclusive")
    else:
        lower = upper = numbers[0]
    if direction == "lower":
        favouring = sum(number < neutral for number in numbers)
        beyond = upper < neutral
    else:
        favouring = sum(number > neutral for number in numbers)
        beyond = lower > neutral
    return PairedVerdict(
        claim=claim,
        statistic=statistic,
        direction=direction,
        median=statistics.median(numbers),
        lower_quartile=lower,
        upper_quartile=upper,
        favouring=favouring,
        pairs=len(numbers),
        shown=(
            beyond
            and len(numbers) >= MIN_PAIRS
            and sign_test_chance(favouring, len(numbers)) <= max_chance
        ),
        max_chance=max_chance,
    )


def sign_test_chance(favouring: int, pairs: int) -> float:
    """How often at least `favouring` of `pairs` coin flips land on one chosen side.

    Args:
        favouring: Pairs that favour the claim.
        pairs: All pairs.

    Returns:
        ``P(X >= favouring)`` for ``X ~ Binomial(pairs, 1/2)``: 1/32 for 5 of 5.

    Raises:
        ValueError: Unless ``0 <= favouring <= pairs``.
    """
    if not 0 <= favouring <= pairs:
        raise ValueError(
            "favouring must lie between 0 and pairs. "
            f"Received: favouring={favouring}, pairs={pairs}"
        )
    hits = range(favouring, pairs + 1)
    return sum(math.comb(pairs, k) for k in hits) / 2**pairs


def fewest_to_show(pairs: int, max_chance: float = MAX_CHANCE) -> int:
    """Fewest favouring pairs out of `pairs` with which `paired_verdict` can show a claim.

    Args:
        pairs: Number of pairs.
        max_chance: The sign test's bound, as passed to `paired_verdict`.

    Returns:
        The larger of the quartile rule's count and the sign test's count (5 of
        5, 10 of 12, 12 of 15, 12 of 16), or ``pairs + 1`` when no count can
        (fewer than `MIN_PAIRS` pairs, or a bound no count meets).
    """
    if pairs < MIN_PAIRS:
        return pairs + 1
    by_quartile = math.floor(0.75 * (pairs - 1)) + 1
    by_sign_test = next(
        (k for k in range(pairs + 1) if sign_test_chance(k, pairs) <= max_chance), pairs + 1
    )
    return max(by_quartile, by_sign_test)


def _finite(values: Sequence[float], name: str) -> list[float]:
    try:
        numbers = [float(value) for value in values]
    except (TypeError, ValueError):
        raise ValueError(
            f"{name} must be a sequence of numbers. Received: {name}={values!r}"
        ) from None
    if not all(math.isfinite(number) for number in numbers):
        raise ValueError(f"{name} must hold finite numbers. Received: {name}={numbers}")
    return numbers


def _percent(probability: float) -> str:
    """A probability as a percentage with two significant digits, never in exponent form.

    Below 0.001 % it prints ``"< 0.001%"``: two significant digits there would need an exponent.
    """
    percent = 100 * probability
    if percent >= 10:
        return f"{percent:.0f}%"
    if percent < 0.001:
        return "< 0.001%"
    return f"{percent:.2g}%"
