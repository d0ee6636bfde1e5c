"""Lesson 04's tests against chance: hit counts, random baselines and Holm's rule.

Three questions the lesson asks of its pictures and maps, each answered with
an exact chance and the course's bound (`freezelab.verdicts.MAX_CHANCE`, 5 %):

* `hits_verdict`: did more maps hit than chance would give, when each map has
  its own chance rate (a Poisson-binomial count)?
* `monte_carlo_chance`: how often does a random draw (random kernels) reach
  the observed number? Its smallest possible value is ``1 / (draws + 1)``.
* `holm`: which of a family of P values pass Holm's step-down rule?

Paired comparisons (two arms measured on the same filter or scene) use
`freezelab.verdicts.paired_verdict` instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from freezelab.sources.scenes import hits_beyond_chance
from freezelab.verdicts import MAX_CHANCE


@dataclass(frozen=True)
class ChanceVerdict:
    """Hits counted against each trial's own chance rate.

    Attributes:
        claim: The claim in words.
        hits: Trials that hit.
        trials: All trials.
        expected: Hits expected by chance alone (the sum of the chance rates).
        chance: Exact probability of at least `hits` hits by chance alone.
        shown: Whether `chance` is at most `MAX_CHANCE`.
    """

    claim: str
    hits: int
    trials: int
    expected: float
    chance: float
    shown: bool

    @property
    def verdict(self) -> str:
        """``"shown in this run"`` or ``"not shown in this run"``."""
        return "shown in this run" if self.shown else "not shown in this run"

    @property
    def reading(self) -> str:
        """E.g. ``"shown in this run (19 of 24 hit, 12.0 expected by chance; chance 0.31%)"``."""
        return (
            f"{self.verdict} ({self.hits} of {self.trials} hit, {self.expected:.1f} expected "
            f"by chance; chance {_percent(self.chance)})"
        )

    def __str__(self) -> str:
        return f"{self.claim}: {self.reading}"


def hits_verdict(hits: Sequence[bool], chances: Sequence[float], *, claim: str) -> ChanceVerdict:
    """Decides whether more trials hit than their chance rates explain.

    Under chance, trial ``i`` hits with probability ``chances[i]``,
    independently; the count of hits is then Poisson-binomial, and its upper
    tail is computed exactly (`freezelab.sources.scenes.hits_beyond_chance`).

    Args:
        hits: One bool (or 0/1) per trial.
        chances: Each trial's chance of a hit, in ``[0, 1]``, in the same order.
        claim: The claim in words, printed with the verdict.

    Returns:
        A `ChanceVerdict`; ``str()`` of it reads as one line.

    Raises:
        ValueError: For sequences of different lengths, no trials, a hit that
            is not 0 or 1, or a chance outside ``[0, 1]``.
    """
    hits = np.asarray(hits, dtype=float).ravel()
    chances = np.asarray(chances, dtype=float).ravel()
    if hits.size == 0 or hits.size != chances.size:
        raise ValueError(
            "hits and chances need one value per trial, at least one trial. "
            f"Received: {hits.size} hits, {chances.size} chances"
        )
    if not np.all((hits == 0) | (hits == 1)):
        raise ValueError(f"hits must be 0 or 1 (False or True). Received: hits={hits.tolist()}")
    count = int(hits.sum())
    chance = hits_beyond_chance(count, chances)
    return ChanceVerdict(
        claim=claim,
        hits=count,
        trials=int(hits.size),
        expected=float(chances.sum()),
        chance=chance,
        shown=chance <= MAX_CHANCE,
    )


def monte_carlo_chance(observed: float, draws: Sequence[float]) -> float:
    """How often random draws reach the observed value: ``(1 + draws >= observed) / (1 + n)``.

    The observed value counts as one more draw, so the result is never 0: with
    ``n`` draws the smallest it can be is ``1 / (n + 1)`` (1/21 for 20 draws,
    1/201 for 200).

    Args:
        observed: The value measured on the real thing (e.g. a trained
            layer's share of selective kernels).
        draws: The same value for each random draw (e.g. each seed of a
            random initialiser).

    Returns:
        The one-sided Monte-Carlo chance, in ``(0, 1]``.

    Raises:
        ValueError: For no draws, or a value that is not a finite number.
    """
    draws = np.asarray(draws, dtype=float).ravel()
    if draws.size == 0 or not np.all(np.isfinite(draws)) or not np.isfinite(observed):
        raise ValueError(
            "monte_carlo_chance needs a finite observed value and at least one finite draw. "
            f"Received: observed={observed!r}, {draws.size} draws"
        )
    return float((1 + np.sum(draws >= observed)) / (1 + draws.size))


@dataclass(frozen=True)
class HolmStep:
    """One test of a family under Holm's rule.

    Attributes:
        p_value: The test's own P value.
        threshold: Its Holm threshold, ``alpha / (m - k)`` for the k-th
            smallest P (k from 0).
        shown: Whether it passes: its P and every smaller one are below
            their thresholds.
        stopped_earlier: True where a smaller P already failed (the test
            fails whatever its own P).
    """

    p_value: float
    threshold: float
    shown: bool
    stopped_earlier: bool

    @property
    def reading(self) -> str:
        """E.g. ``"not shown in this run (P = 0.015, Holm threshold 0.0167; Holm stopped at an earlier P, equal or smaller, that failed)"``."""
        text = f"P = {self.p_value:.2g}, Holm threshold {self.threshold:.3g}"
        if self.stopped_earlier:
            text += "; Holm stopped at an earlier P, equal or smaller, that failed"
        verdict = "shown in this run" if self.shown else "not shown in this run"
        return f"{verdict} ({text})"


def holm(p_values: Sequence[float], alpha: float = MAX_CHANCE) -> list[HolmStep]:
    """Holm's step-down rule over a family of one-sided tests.

    Sort the P values; the smallest must be below ``alpha / m``, the next
    below ``alpha / (m - 1)``, and so on; at the first that fails, it and
    every larger P fail. The chance that any true null passes stays at most
    ``alpha`` (Holm, 1979, "A simple sequentially rejective multiple test
    procedure").

    Args:
        p_values: One P value per test, in any order.
        alpha: The family's bound.

    Returns:
        One `HolmStep` per P value, in the order given.

    Raises:
        ValueError: For no P values, a P value outside ``[0, 1]``, or an
            ``alpha`` outside ``(0, 1)``.
    """
    p = np.asarray(p_values, dtype=float).ravel()
    if p.size == 0 or not np.all((p >= 0) & (p <= 1)):
        raise ValueError(
            f"holm needs at least one P value, each in [0, 1]. Received: p_values={p.tolist()}"
        )
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie in (0, 1). Received: alpha={alpha!r}")
    order = np.argsort(p, kind="stable")
    steps: list[HolmStep | None] = [None] * p.size
    failed = False
    for k, index in enumerate(order):
        threshold = alpha / (p.size - k)
        stopped_earlier = failed
        passes = not failed and p[index] < threshold
        failed = failed or not passes
        steps[index] = HolmStep(float(p[index]), threshold, passes, stopped_earlier)
    return steps  # type: ignore[return-value]


def _percent(probability: float) -> str:
    """A probability as a percentage with two significant digits, never in exponent form."""
    percent = 100 * probability
    return f"{percent:.0f}%" if percent >= 10 else f"{percent:.2g}%"
