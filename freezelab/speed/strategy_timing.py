"""Step time per fine-tuning strategy, measured side by side and predicted by the cost model.

Each strategy (`freezelab.core.peft.apply_strategy`: head only, top blocks,
BitFit, LoRA, full) is applied to its own freshly built copy of the model,
compiled with its own optimizer, and timed by `freezelab.speed.timing.time_arms`:
every round runs one step of each copy in a new random order, so the load's
drift on a shared machine falls on every strategy alike and the i-th times of
two strategies form a pair. The prediction is `freezelab.speed.cost.step_cost`
of the prepared copy as a fraction of the fully trained model's step.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import keras

from freezelab._validation import check_int
from freezelab.core.peft import PEFT_STRATEGIES, apply_strategy, peft_line
from freezelab.speed.cost import optimizer_state_bytes, step_cost
from freezelab.speed.sweep import _load_average, _quartiles
from freezelab.speed.timing import (
    TimedArm,
    _compile_for_timing,
    check_optimizer,
    describe_device,
    random_batch,
    time_arms,
)

#: The strategies `time_strategies` times when none are given.
DEFAULT_STRATEGIES = ("head", "top_blocks", "bitfit", "lora", "full")


@dataclass(frozen=True)
class StrategyTiming:
    """One strategy's counts, predicted cost and measured step time.

    Attributes:
        label: E.g. ``"head"``, ``"top_blocks 1"``, ``"lora r4"``.
        strategy: One of `freezelab.core.peft.PEFT_STRATEGIES`.
        options: The strategy's options (``rank``, ``top_blocks``).
        trainable_params: Scalars in the prepared model's ``trainable_weights``.
        all_params: All its scalars (LoRA factors included).
        optimizer_bytes: The optimizer's state for the trainable weights.
        predicted_flops: `step_cost`'s forward plus remaining backward FLOPs.
        predicted_fraction: ``predicted_flops`` / the fully trained model's.
        times_ms: The timed steps, ``times_ms[i]`` from round ``i``.
        median_ms: Median step time.
        q1_ms: Lower quartile (inclusive method, as everywhere in freezelab).
        q3_ms: Upper quartile.
    """

    label: str
    strategy: str
    options: dict = field(compare=False)
    trainable_params: int
    all_params: int
    optimizer_bytes: int
    predicted_flops: int
    predicted_fraction: float
    times_ms: tuple[float, ...]
    median_ms: float
    q1_ms: float
    q3_ms: float

    @property
    def peft_line(self) -> str:
        """Hugging Face PEFT's line: ``trainable params: … || all params: … || trainable%: …``."""
        return peft_line(self.trainable_params, self.all_params)


@dataclass(frozen=True)
class StrategyTimings:
    """The rows of one interleaved run, with where and how it ran.

    Attributes:
        rows: One `StrategyTiming` per strategy, in the order asked for.
        batch_size: Examples per step.
        rounds: Timed rounds (steps per strategy).
        device: What ran the steps (`freezelab.speed.timing.describe_device`).
        backend: The Keras backend.
        load_before: The 1-, 5- and 15-minute load averages before the run
            (None where the system has none).
        load_after: The same after the run.
    """

    rows: list[StrategyTiming]
    batch_size: int
    rounds: int
    device: str
    backend: str
    load_before: tuple[float, float, float] | None
    load_after: tuple[float, float, float] | None

    def row(self, label: str) -> StrategyTiming:
        """The row with this label.

        Raises:
            ValueError: If no row has it.
        """
        for row in self.rows:
            if row.label == label:
                return row
        raise ValueError(
            f"No strategy labelled {label!r}. Accepted: {[r.label for r in self.rows]}. "
            f"Received: label={label!r}"
        )

    def measured_fraction(self, label: str, reference: str = "full") -> float:
        """Median step time of ``label`` / median of ``reference`` (the full row by default)."""
        return self.row(label).median_ms / self.row(reference).median_ms

    def round_ratios(self, label: str, reference: str = "full") -> list[float]:
        """Per round: ``label``'s step time / ``reference``'s (pairs for a verdict)."""
        return [a / b for a, b in zip(self.row(label).times_ms, self.row(reference).times_ms)]

    def table(self) -> str:
        """A plain-text table: counts, optimizer state, predicted and measured step time."""
        has_full = any(r.label == "full" for r in self.rows)
        lines = [
            f"{'strategy':<14}{'trainable':>11}{'%':>9}{'optim MiB':>11}{'pred':>7}"
            f"{'ms/step':>9}{'IQR ms':>14}" + (f"{'meas':>7}" if has_full else "")
        ]
        for r in self.rows:
            share = 100 * r.trainable_params / r.all_params
            line = (
                f"{r.label:<14}{r.trainable_params:>11,}{share:>8.2f}%"
                f"{r.optimizer_bytes / 2**20:>11.3f}{r.predicted_fraction:>7.2f}"
                f"{r.median_ms:>9.1f}{f'{r.q1_ms:.1f}-{r.q3_ms:.1f}':>14}"
            )
            if has_full:
                line += f"{self.measured_fraction(r.label):>7.2f}"
            lines.append(line)
        load = "n/a" if self.load_before is None else f"{self.load_before[0]:.2f}"
        after = "n/a" if self.load_after is None else f"{self.load_after[0]:.2f}"
        lines.append(
            f"{self.rounds} interleaved rounds, batch {self.batch_size}, {self.device}, "
            f"Keras backend {self.backend}; 1-minute load {load} before, {after} after. "
            "pred / meas: step FLOPs / time as a fraction of full fine-tuning."
        )
        return "\n".join(lines)

    def to_json(self) -> dict:
        """The run as plain JSON-ready data (times included)."""
        return {
            "batch_size": self.batch_size,
            "rounds": self.rounds,
            "device": self.device,
            "backend": self.backend,
            "load_before": self.load_before,
            "load_after": self.load_after,
            "rows": [
                {
                    "label": r.label,
                    "strategy": r.strategy,
                    "options": r.options,
                    "trainable_params": r.trainable_params,
                    "all_params": r.all_params,
                    "optimizer_bytes": r.optimizer_bytes,
                    "predicted_flops": r.predicted_flops,
                    "predicted_fraction": r.predicted_fraction,
                    "median_ms": r.median_ms,
                    "q1_ms": r.q1_ms,
                    "q3_ms": r.q3_ms,
                    "times_ms": list(r.times_ms),
                }
                for r in self.rows
            ],
        }

    def __str__(self) -> str:
        return self.table()


StrategySpec = str | tuple[str, dict]


def prepare_strategy(
    build: Callable[[], keras.Model], spec: StrategySpec
) -> tuple[str, keras.Model, dict, object]:
    """Builds a fresh model and applies one strategy to it.

    Args:
        build: A function returning a new built model with ``blockN_`` layer
            names (e.g. `freezelab.sources.vit.load_vit_teacher` with
            ``verbose=False``); called once per strategy.
        spec: A strategy name, or ``(name, options)`` such as
            ``("lora", {"rank": 8})`` or ``("top_blocks", {"top_blocks": 2})``.

    Returns:
        ``(label, model, options, result)``: the row label (``"lora r8"``),
        the prepared model, the options used, and `apply_strategy`'s result.

    Raises:
        ValueError: For a spec that is not a known strategy name or pair, or
            as `freezelab.core.peft.apply_strategy`.
    """
    name, options = _parse(spec)
    model = build()
    result = apply_strategy(model, name, **options)
    return _label(name, options), model, options, result


def time_strategies(
    build: Callable[[], keras.Model],
    strategies: Sequence[StrategySpec] = DEFAULT_STRATEGIES,
    batch_size: int = 8,
    rounds: int = 12,
    seed: int = 0,
    *,
    warmup: int = 2,
    optimizer: str = "adam",
) -> StrategyTimings:
    """Times fine-tuning strategies side by side in one interleaved run.

    Each strategy gets its own model from ``build()``, prepared by
    `freezelab.core.peft.apply_strategy` and compiled with a fresh
    optimizer; `freezelab.speed.timing.time_arms` then runs one training
    step of each per round, in a new random order each round. Memory: one
    model and its optimizer state per strategy.

    Args:
        build: Returns a new built model with ``blockN_`` layer names; called
            once per strategy and once more for the fully trained reference
            of the prediction.
        strategies: Strategy names or ``(name, options)`` pairs (see
            `prepare_strategy`); labels must differ.
        batch_size: Examples per step (a random batch, the same for all).
        rounds: Timed rounds, at least 1.
        seed: Seed of the batch and of the round orders.
        warmup: Untimed steps of each strategy first (tracing, compiling).
        optimizer: Optimizer name; decides the optimizer state bytes too.

    Returns:
        A `StrategyTimings`; ``rows`` in the order asked for.

    Raises:
        ValueError: For no strategies, repeated labels, counts out of range,
            an unknown optimizer, or as `prepare_strategy`.
    """
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    rounds = check_int(rounds, "rounds", minimum=1)
    warmup = check_int(warmup, "warmup", minimum=0)
    seed = check_int(seed, "seed", minimum=0)
    check_optimizer(optimizer)
    if isinstance(strategies, str) or not strategies:
        raise ValueError(
            "strategies is a non-empty list of strategy names or (name, options) pairs. "
            f"Received: strategies={strategies!r}"
        )
    prepared = [prepare_strategy(build, spec) for spec in strategies]
    labels = [label for label, *_ in prepared]
    if len(set(labels)) != len(labels):
        raise ValueError(f"Each strategy needs its own label. Received labels: {labels}")
    reference = build()
    apply_strategy(reference, "full")
    full_flops = step_cost(reference, None, batch_size).total_flops
    x, y = random_batch(prepared[0][1], batch_size, seed)
    arms = []
    for label, model, _, _ in prepared:
        _compile_for_timing(model, optimizer, "auto", False)
        arms.append(TimedArm(label, model, x, y))
    load_before = _load_average()
    timings = time_arms(arms, rounds, warmup, seed)
    load_after = _load_average()
    rows = []
    for (label, model, options, result), timing in zip(prepared, timings):
        predicted = step_cost(model, None, batch_size).total_flops
        times = list(timing.times_ms)
        q1, q3 = _quartiles(times)
        rows.append(
            StrategyTiming(
                label=label,
                strategy=result.strategy,
                options=options,
                trainable_params=result.trainable_params,
                all_params=result.all_params,
                optimizer_bytes=optimizer_state_bytes(result.trainable_params, optimizer),
                predicted_flops=predicted,
                predicted_fraction=predicted / full_flops,
                times_ms=tuple(times),
                median_ms=statistics.median(times),
                q1_ms=q1,
                q3_ms=q3,
            )
        )
    return StrategyTimings(
        rows=rows,
        batch_size=batch_size,
        rounds=rounds,
        device=describe_device(),
        backend=keras.backend.backend(),
        load_before=load_before,
        load_after=load_after,
    )


def _parse(spec) -> tuple[str, dict]:
    if isinstance(spec, str):
        name, options = spec, {}
    elif isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[1], dict):
        name, options = spec
    else:
        raise ValueError(
            "A strategy is a name or a (name, options) pair such as ('lora', {'rank': 8}). "
            f"Received: {spec!r}"
        )
    if name not in PEFT_STRATEGIES:
        raise ValueError(f"Unknown strategy. Accepted: {PEFT_STRATEGIES}. Received: {name!r}")
    allowed = {"lora": {"rank"}, "top_blocks": {"top_blocks"}}.get(name, set())
    if set(options) - allowed:
        raise ValueError(
            f"Strategy {name!r} takes options {sorted(allowed)}. Received: options={options!r}"
        )
    return name, dict(options)


def _label(name: str, options: dict) -> str:
    if name == "lora":
        return f"lora r{options.get('rank', 4)}"
    if name == "top_blocks":
        return f"top_blocks {options.get('top_blocks', 1)}"
    return name
