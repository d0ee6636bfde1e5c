"""Exact Mann–Whitney (rank-sum) test for two unpaired groups, e.g. filters of two layers.

Pictures of filters from two layers are not paired: there is no "same
filter" in the other layer. The question "does layer A's number tend to be
higher than layer B's?" is then a rank-sum question. `rank_sum_test` counts
the pairs ``(a, b)`` that favour the claim (ties count one half: the
Mann–Whitney U) and gives the exact one-sided P of at least that many under
the null hypothesis that both groups come from one distribution. P is exact
by enumeration of every way to split the pooled ranks into the two group
sizes (midranks for ties, so the test is exact conditional on the ties),
done by dynamic programming over rank sums rather than by listing subsets.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np

_DIRECTIONS = ("higher", "lower")


@dataclasses.dataclass(frozen=True)
class RankSumTest:
    """The result of `rank_sum_test`.

    Attributes:
        claim: What was tested, in words.
        direction: ``"higher"`` or ``"lower"``: the first group's side.
        favouring: Pairs ``(first[i], second[j])`` on the claim's side, ties
            counting one half (the Mann–Whitney U).
        pairs: ``len(first) * len(second)``.
        p_value: Exact one-sided P of at least ``favouring`` by chance.
        sizes: ``(len(first), len(second))``.
    """

    claim: str
    direction: str
    favouring: float
    pairs: int
    p_value: float
    sizes: tuple[int, int]

    @property
    def shown(self) -> bool:
        """True where P < 0.05."""
        return self.p_value < 0.05

    def __str__(self) -> str:
        verdict = "shown" if self.shown else "not shown"
        return (
            f"{self.claim}: {verdict} in this run (exact Mann–Whitney P = {self.p_value:.2g}, "
            f"{self.favouring:g} of {self.pairs} cross pairs favour it, "
            f"{self.sizes[0]} and {self.sizes[1]} values; rule: shown when P < 0.05)"
        )


def rank_sum_test(
    first: Sequence[float] | np.ndarray,
    second: Sequence[float] | np.ndarray,
    claim: str,
    direction: str = "higher",
) -> RankSumTest:
    """Exact one-sided Mann–Whitney test that ``first`` tends to lie above (or below) ``second``.

    Args:
        first: The first group's values (e.g. one number per filter of a layer).
        second: The second group's values; unpaired with ``first``.
        claim: The claim in words, printed with the result.
        direction: ``"higher"``: ``first`` tends to be larger; ``"lower"``:
            smaller.

    Returns:
        A `RankSumTest`; ``str()`` gives one line with P and the pair count.

    Raises:
        ValueError: If a group is empty, not one-dimensional, holds NaN or
            infinite values, or the groups hold more than 200 values in all,
            or ``direction`` is not ``"higher"`` or ``"lower"``.
    """
    if direction not in _DIRECTIONS:
        raise ValueError(
            f"direction must be one of {_DIRECTIONS}. Received: direction={direction!r}"
        )
    groups = []
    for name, values in (("first", first), ("second", second)):
        array = np.asarray(values, dtype=float)
        if array.ndim != 1 or array.size == 0:
            raise ValueError(
                f"{name} must be a non-empty 1-D sequence of numbers. "
                f"Received: {name} of shape {array.shape}"
            )
        if not np.all(np.isfinite(array)):
            raise ValueError(f"{name} must hold finite numbers. Received: {name}={array}")
        groups.append(array)
    a, b = groups
    if a.size + b.size > 200:
        raise ValueError(
            "rank_sum_test is exact and meant for small groups (at most 200 values in all). "
            f"Received: {a.size} + {b.size} values"
        )
    sign = 1.0 if direction == "higher" else -1.0
    a, b = sign * a, sign * b  # "lower" is "higher" for the negated values
    difference = a[:, None] - b[None, :]
    favouring = float(np.sum(difference > 0) + 0.5 * np.sum(difference == 0))
    return RankSumTest(
        claim=claim,
        direction=direction,
        favouring=favouring,
        pairs=int(a.size * b.size),
        p_value=_upper_tail(a, b),
        sizes=(int(a.size), int(b.size)),
    )


def _upper_tail(a: np.ndarray, b: np.ndarray) -> float:
    """P(rank sum of a random ``len(a)``-subset >= the observed rank sum of ``a``)."""
    pooled = np.concatenate([a, b])
    # Doubled midranks are integers: 2 * (mean of the tied positions, 1-based).
    order = np.argsort(pooled, kind="stable")
    doubled = np.empty(pooled.size, dtype=int)
    sorted_values = pooled[order]
    start = 0
    while start < pooled.size:
        stop = start
        while stop + 1 < pooled.size and sorted_values[stop + 1] == sorted_values[start]:
            stop += 1
        doubled[order[start : stop + 1]] = start + stop + 2  # 2 * midrank
        start = stop + 1
    observed = int(doubled[: a.size].sum())
    # ways[k][s]: subsets of size k with doubled rank sum s (Python ints: exact).
    ways: list[dict[int, int]] = [{} for _ in range(a.size + 1)]
    ways[0][0] = 1
    for rank in doubled:
        for k in range(a.size - 1, -1, -1):
            for s, count in ways[k].items():
                ways[k + 1][s + rank] = ways[k + 1].get(s + rank, 0) + count
    tail = sum(count for s, count in ways[a.size].items() if s >= observed)
    return tail / math.comb(pooled.size, a.size)
