"""Comparisons over seeds: each seed, the mean ± spread, and paired verdicts.

One run of a small fine-tuning experiment says little: another seed (other
head weights, another shuffle, another split of the data) can move a
validation accuracy by more than the gap between two strategies. So the
lessons compare over several seeds, paired by seed, with the course's one
rule (`freezelab.verdicts.paired_verdict`): a claim is shown only when the
per-seed differences favour it by the middle half and the sign test (with 5
seeds, all 5). An older, unpaired rule (`beyond_spread`: the difference of
the means beyond the larger sample standard deviation) is kept for callers
that still use it; no lesson does.

* `compare_over_seeds` takes values per name per seed and returns a
  `SeedComparison`: its `~SeedComparison.table` (each seed on a line, then
  mean ± std) and `~SeedComparison.paired`, the course's one rule
  (`freezelab.verdicts.paired_verdict`) on the per-seed differences, which
  lesson 05 uses. `~SeedComparison.verdict` and `~SeedComparison.best_verdict`
  keep the older unpaired rule (`beyond_spread`) for callers that still use it.
* `strategies_over_seeds` runs fine-tuning strategies
  (`freezelab.finetune.strategies.run_strategy`) once per seed, each seed on
  its own split of the data (``make_dataset(seed)``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from freezelab._validation import check_bool, check_choice, check_float, check_int, check_str
from freezelab.finetune.strategies import (
    STRATEGIES,
    Budget,
    SplitData,
    TrainingRun,
    run_strategy,
)
from freezelab.verdicts import PairedVerdict, paired_verdict

if TYPE_CHECKING:
    import keras

    from freezelab.sources.data import TargetDataset

#: Fewest seeds a comparison accepts: a sample standard deviation needs two.
MIN_SEEDS = 2


def beyond_spread(mean_a: float, std_a: float, mean_b: float, std_b: float) -> int:
    """The one rule for naming a winner: the gap of the means must exceed the larger spread.

    Args:
        mean_a: Mean of ``a`` over seeds.
        std_a: Sample standard deviation of ``a`` over the same seeds.
        mean_b: Mean of ``b``.
        std_b: Sample standard deviation of ``b``.

    Returns:
        ``1`` when ``mean_a - mean_b > max(std_a, std_b)`` (``a`` is higher
        beyond the spread), ``-1`` when ``mean_b - mean_a`` exceeds it, ``0``
        otherwise (within noise, a tie included).

    Raises:
        ValueError: For a value that is not a finite number, or a negative
            standard deviation.
    """
    mean_a = check_float(mean_a, "mean_a")
    mean_b = check_float(mean_b, "mean_b")
    spread = max(check_float(std_a, "std_a", minimum=0.0), check_float(std_b, "std_b", minimum=0.0))
    gap = mean_a - mean_b
    if abs(gap) > spread:
        return 1 if gap > 0 else -1
    return 0


@dataclass(frozen=True)
class SeedComparison:
    """Values of several named things (strategies, settings) over the same seeds.

    Attributes:
        names: The names, in the order given.
        seeds: The seeds, in order.
        values: Name to one value per seed, in the order of ``seeds``.
        means: Name to the mean over seeds.
        stds: Name to the sample standard deviation over seeds (ddof=1).
        metric: What the values are (for the table), e.g. ``"val accuracy"``.
    """

    names: tuple[str, ...]
    seeds: tuple[int, ...]
    values: dict[str, tuple[float, ...]]
    means: dict[str, float]
    stds: dict[str, float]
    metric: str = "value"

    def _name(self, name: object, argument: str) -> str:
        return check_choice(name, argument, self.names)

    def gap(self, a: str, b: str) -> float:
        """``means[a] - means[b]``.

        Raises:
            ValueError: For a name not in the comparison.
        """
        return self.means[self._name(a, "a")] - self.means[self._name(b, "b")]

    def spread(self, a: str, b: str) -> float:
        """The larger of the two sample standard deviations: what a gap must exceed.

        Raises:
            ValueError: For a name not in the comparison.
        """
        return max(self.stds[self._name(a, "a")], self.stds[self._name(b, "b")])

    def winner(self, a: str, b: str) -> str | None:
        """The one of ``a`` and ``b`` with the higher mean, when the gap exceeds the spread.

        Args:
            a: A name.
            b: Another name.

        Returns:
            ``a``, ``b``, or None when the gap is within the spread.

        Raises:
            ValueError: For a name not in the comparison, or ``a == b``.
        """
        a, b = self._pair(a, b)
        side = beyond_spread(self.means[a], self.stds[a], self.means[b], self.stds[b])
        return {1: a, -1: b, 0: None}[side]

    def _pair(self, a: object, b: object) -> tuple[str, str]:
        a, b = self._name(a, "a"), self._name(b, "b")
        if a == b:
            raise ValueError(f"Compare two different names. Received: a={a!r}, b={b!r}")
        return a, b

    def paired(
        self, a: str, b: str, claim: str | None = None, direction: str = "higher"
    ) -> PairedVerdict:
        """The course's one rule on the per-seed differences ``a - b`` (`paired_verdict`).

        Each seed is one pair: the same seed, hence the same data split, in both arms.

        Args:
            a: A name.
            b: Another name.
            claim: The claim in words; default ``"a higher than b"`` (or lower).
            direction: ``"higher"`` (the claim is ``a > b``) or ``"lower"``.

        Returns:
            A `freezelab.verdicts.PairedVerdict`; ``str()`` gives one line.

        Raises:
            ValueError: For a name not in the comparison, ``a == b`` or a bad direction.
        """
        a, b = self._pair(a, b)
        claim = claim or f"{a} {direction} than {b} ({self.metric})"
        return paired_verdict(
            self.values[a], self.values[b], claim=claim, direction=direction, statistic="difference"
        )

    def _numbers(self, a: str, b: str) -> str:
        return f"gap {self.gap(a, b):+.3f}, spread {self.spread(a, b):.3f}"

    def verdict(self, a: str, b: str, claim: str | None = None) -> str:
        """Whether this run shows the claim "``a`` is higher than ``b``", with the numbers.

        Args:
            a: The name the claim puts higher.
            b: The name it puts lower.
            claim: The claim in words; default ``"<a> beats <b>"``.

        Returns:
            ``"shown in this run: <claim> (gap +0.123, spread 0.045)"`` when
            ``a``'s mean exceeds ``b``'s by more than the spread;
            ``"not shown in this run (the opposite: <b> above <a>, gap ...,
            spread ...)"`` when ``b`` is higher beyond the spread; else
            ``"not shown in this run (within noise: gap ..., spread ...)"``.
            The gap is ``means[a] - means[b]``.

        Raises:
            ValueError: For a name not in the comparison, ``a == b``, or a
                ``claim`` that is not a non-empty string.
        """
        a, b = self._pair(a, b)
        claim = f"{a} beats {b}" if claim is None else check_str(claim, "claim")
        numbers = self._numbers(a, b)
        winner = self.winner(a, b)
        if winner == a:
            return f"shown in this run: {claim} ({numbers})"
        if winner == b:
            return f"not shown in this run (the opposite: {b} above {a}, {numbers})"
        return f"not shown in this run (within noise: {numbers})"

    def ranking(self) -> list[str]:
        """The names from highest mean to lowest (ties keep the given order)."""
        return sorted(self.names, key=lambda name: -self.means[name])

    def best(self) -> str | None:
        """The highest mean, when it beats the runner-up beyond the spread; else None.

        Raises:
            ValueError: If the comparison has fewer than two names.
        """
        first, second = self._top_two()
        return first if self.winner(first, second) == first else None

    def _top_two(self) -> tuple[str, str]:
        if len(self.names) < 2:
            raise ValueError(
                f"A best needs at least two names to compare. Received: names={self.names!r}"
            )
        first, second = self.ranking()[:2]
        return first, second

    def best_verdict(self) -> str:
        """Whether one name is best in this run: the top of the ranking against the runner-up.

        Returns:
            ``"shown in this run: <first> is best (above runner-up <second>,
            gap ..., spread ...)"``, or ``"not shown in this run (within
            noise: <first> vs runner-up <second>, gap ..., spread ...): no
            single best"``.

        Raises:
            ValueError: If the comparison has fewer than two names.
        """
        first, second = self._top_two()
        numbers = self._numbers(first, second)
        if self.best() is None:
            return (
                f"not shown in this run (within noise: {first} vs runner-up {second}, "
                f"{numbers}): no single best"
            )
        return f"shown in this run: {first} is best (above runner-up {second}, {numbers})"

    def table(self, digits: int = 3) -> str:
        """Each seed on a line, one column per name, then mean ± standard deviation.

        Args:
            digits: Decimals shown.

        Returns:
            The table as aligned text; the header names the metric.

        Raises:
            ValueError: If ``digits`` is not an int from 0 to 6.
        """
        digits = check_int(digits, "digits", minimum=0, maximum=6)
        summary = {n: f"{self.means[n]:.{digits}f} ± {self.stds[n]:.{digits}f}" for n in self.names}
        width = max(len(text) for text in [*self.names, *summary.values()]) + 2
        lines = [
            f"{self.metric} per seed",
            f"{'seed':>6}" + "".join(f"{n:>{width}}" for n in self.names),
        ]
        for index, seed in enumerate(self.seeds):
            cells = "".join(f"{self.values[n][index]:>{width}.{digits}f}" for n in self.names)
            lines.append(f"{seed:>6}" + cells)
        lines.append(f"{'mean':>6}" + "".join(f"{summary[n]:>{width}}" for n in self.names))
        return "\n".join(lines)


def _check_seeds(seeds: object, minimum_count: int = 1) -> tuple[int, ...]:
    if not isinstance(seeds, tuple | list | range) or isinstance(seeds, str):
        raise ValueError(f"seeds must be a tuple, list or range of ints. Received: seeds={seeds!r}")
    checked = tuple(check_int(seed, "seeds", minimum=0) for seed in seeds)
    if len(checked) < minimum_count:
        raise ValueError(
            f"At least {minimum_count} seed(s) are needed. Received: seeds={tuple(seeds)!r}"
        )
    if len(set(checked)) != len(checked):
        raise ValueError(f"seeds must not repeat. Received: seeds={tuple(seeds)!r}")
    return checked


def compare_over_seeds(
    values: Mapping[str, Sequence[float]],
    seeds: Sequence[int],
    metric: str = "value",
) -> SeedComparison:
    """Puts values of several names over the same seeds side by side.

    Args:
        values: Name to one value per seed, in the order of ``seeds``, e.g.
            ``{"freeze_blocks": [0.71, 0.66, 0.69], "from_scratch": [...]}``.
        seeds: The seeds, at least two, none repeated.
        metric: What the values are, for the table's header.

    Returns:
        A `SeedComparison` with means and sample standard deviations (ddof=1).

    Raises:
        ValueError: If ``values`` is empty or not a mapping, a name is not a
            non-empty string, a name has not exactly one value per seed, a
            value is not a finite number, or ``seeds`` has fewer than two
            seeds or repeats one.
    """
    seeds = _check_seeds(seeds, MIN_SEEDS)
    metric = check_str(metric, "metric")
    if not isinstance(values, Mapping) or not values:
        raise ValueError(
            f"values must be a non-empty mapping of name to values per seed. Received: values={values!r}"
        )
    table: dict[str, tuple[float, ...]] = {}
    for name, per_seed in values.items():
        check_str(name, "name")
        if isinstance(per_seed, str) or not isinstance(per_seed, Sequence | np.ndarray):
            raise ValueError(
                f"Each name needs a sequence of values, one per seed. Received: {name}={per_seed!r}"
            )
        if len(per_seed) != len(seeds):
            raise ValueError(
                f"{name} needs one value per seed ({len(seeds)} seeds: {seeds}). "
                f"Received: {name}={list(per_seed)!r}"
            )
        table[name] = tuple(check_float(v, f"{name} value") for v in per_seed)
    means = {name: float(np.mean(row)) for name, row in table.items()}
    stds = {name: float(np.std(row, ddof=1)) for name, row in table.items()}
    return SeedComparison(tuple(table), seeds, table, means, stds, metric)


def strategies_over_seeds(
    strategies: Sequence[str],
    make_base: Callable[[], keras.Model],
    make_dataset: Callable[[int], SplitData | TargetDataset],
    budget: Budget | None = None,
    seeds: Sequence[int] = (0, 1, 2),
    *,
    progress: bool = True,
    **run_strategy_kwargs: object,
) -> dict[str, list[TrainingRun]]:
    """Runs each strategy once per seed, every seed on its own data.

    For each seed, ``make_dataset(seed)`` gives that seed's data (its own
    split into training and validation images), and every strategy runs on
    it with ``run_strategy(..., seed=seed)`` (the head's initial weights and
    the shuffling). Strategies of the same seed share the data, so they are
    compared on equal terms; seeds differ in data and initialisation, so the
    spread over seeds shows how much a result depends on both.

    Args:
        strategies: Names from `freezelab.finetune.strategies.STRATEGIES`,
            none repeated.
        make_base: Returns a fresh pretrained base each call.
        make_dataset: Seed to dataset, e.g.
            ``lambda s: freezelab.load_target_dataset(image_size=32, seed=s)``.
        budget: The same for every run (see `run_strategy`).
        seeds: One run per strategy per seed.
        progress: Print one line per finished run (seed, strategy, accuracies, seconds).
        **run_strategy_kwargs: Passed to `run_strategy` (``freeze_up_to``,
            ``preprocessing``, ``label``, ``verbose``, ...); not ``seed``.
            ``reuse`` defaults to a new dict, so each set-up traces its
            train function once for all seeds.

    Returns:
        Strategy to its runs, one per seed in the order of ``seeds``.

    Raises:
        ValueError: For an unknown or repeated strategy, bad seeds, a
            ``make_dataset`` or ``make_base`` that is not callable, or
            ``seed`` among the keyword arguments.
    """
    if isinstance(strategies, str) or not isinstance(strategies, Sequence) or not strategies:
        raise ValueError(
            f"strategies must be a non-empty list of strategy names. Received: strategies={strategies!r}"
        )
    for strategy in strategies:
        check_choice(strategy, "strategies", STRATEGIES)
    if len(set(strategies)) != len(strategies):
        raise ValueError(f"strategies must not repeat. Received: strategies={strategies!r}")
    seeds = _check_seeds(seeds)
    for function, name in ((make_base, "make_base"), (make_dataset, "make_dataset")):
        if not callable(function):
            raise ValueError(f"{name} must be callable. Received: {name}={function!r}")
    if "seed" in run_strategy_kwargs:
        raise ValueError(
            "Pass seeds=, not seed=: each run gets its own seed. "
            f"Received: seed={run_strategy_kwargs['seed']!r}"
        )
    progress = check_bool(progress, "progress")
    # One compiled model per set-up, reused across seeds (see run_strategy's reuse).
    run_strategy_kwargs.setdefault("reuse", {})
    runs: dict[str, list[TrainingRun]] = {strategy: [] for strategy in strategies}
    for seed in seeds:
        dataset = make_dataset(seed)
        for strategy in strategies:
            run = run_strategy(
                strategy, make_base, dataset, budget, seed=seed, **run_strategy_kwargs
            )
            runs[strategy].append(run)
            if progress:
                print(
                    f"seed {seed}  {run.label:<28} train {run.final_train_accuracy:.3f}  "
                    f"val {run.final_val_accuracy:.3f}  ({run.seconds:.1f} s)",
                    flush=True,
                )
    return runs


__all__ = [
    "MIN_SEEDS",
    "SeedComparison",
    "beyond_spread",
    "compare_over_seeds",
    "strategies_over_seeds",
]
