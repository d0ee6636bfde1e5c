"""Time a list of freeze masks and compare each with the cost model.

The standard list for a VGG-style model freezes growing **prefixes** (nothing,
block1, blocks 1-2, ... the whole base) and single **middle** blocks alone
(block3 only, block4 only); the head always trains. `run_sweep` times each
case with `time_train_step` and sets the measured speed-up beside the one the
cost model (`step_cost`) predicts; `predict_sweep` gives the predictions
alone, which are deterministic and need no timing.
"""

from __future__ import annotations

import json
import platform
import statistics
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import keras

from freezelab._validation import check_sweep_cases
from freezelab.core.freezing import get_mask, weighted_layers
from freezelab.core.layers import block_names, iter_layers
from freezelab.core.shapes import model_input_shape
from freezelab.speed.cost import step_cost
from freezelab.speed.timing import StepTiming, time_forward, time_interleaved, time_train_step


@dataclass(frozen=True)
class FreezeCase:
    """One configuration of a sweep.

    Attributes:
        label: Short name, e.g. ``"blocks 1-3"`` or ``"block4 only"``.
        kind: ``"none"`` (nothing frozen), ``"prefix"`` or ``"middle"``.
        frozen: Names of the frozen blocks (or layers, for models without
            VGG block names).
        mask: Layer name to trainable flag for every layer with weights.
    """

    label: str
    kind: str
    frozen: tuple[str, ...]
    mask: dict[str, bool]


@dataclass(frozen=True)
class SweepRow:
    """Measured and predicted figures for one case.

    Attributes:
        label: The case's label.
        kind: ``"none"``, ``"prefix"`` or ``"middle"``.
        frozen: Frozen blocks.
        predicted_fraction: Cost-model step cost / fully trainable step cost.
        median_ms: Measured median step time (None when not timed).
        iqr_ms: Measured interquartile range (None when not timed).
        measured_fraction: Measured step time / fully trainable step time.
        adjusted_fraction: The cost model's prediction with the forward pass
            at its measured share of the step (`StepCost.time_fraction`).
        fraction_iqr: Spread (interquartile range) of ``measured_fraction``
            over the timing rounds; None when the cases were not interleaved.
    """

    label: str
    kind: str
    frozen: tuple[str, ...]
    predicted_fraction: float
    median_ms: float | None = None
    iqr_ms: float | None = None
    measured_fraction: float | None = None
    adjusted_fraction: float | None = None
    fraction_iqr: float | None = None

    @property
    def predicted_speedup(self) -> float:
        """1 / predicted_fraction."""
        return 1.0 / self.predicted_fraction

    @property
    def measured_speedup(self) -> float | None:
        """Fully trainable time / this case's time (None when not timed)."""
        return None if self.measured_fraction is None else 1.0 / self.measured_fraction

    @property
    def error(self) -> float | None:
        """Relative error of the predicted step-time fraction against the measured one."""
        if self.measured_fraction is None:
            return None
        return self.predicted_fraction / self.measured_fraction - 1.0

    @property
    def adjusted_error(self) -> float | None:
        """Relative error of `adjusted_fraction` against the measured fraction."""
        if self.measured_fraction is None or self.adjusted_fraction is None:
            return None
        return self.adjusted_fraction / self.measured_fraction - 1.0


@dataclass
class SweepResult:
    """A sweep's table, with the set-up it was measured on.

    Attributes:
        rows: One `SweepRow` per case, in order.
        setup: Device, backend, batch size, input shape, versions.
        timings: The full `StepTiming` of each case (empty for predictions).
    """

    rows: list[SweepRow]
    setup: dict
    timings: list[StepTiming] = field(default_factory=list)

    @property
    def measured(self) -> bool:
        """Whether the rows hold measurements."""
        return all(row.median_ms is not None for row in self.rows)

    @property
    def worst_prefix_error(self) -> float | None:
        """Largest absolute error among prefix cases (None for predictions)."""
        errors = [abs(r.error) for r in self.rows if r.kind == "prefix" and r.error is not None]
        return max(errors) if errors else None

    @property
    def worst_adjusted_prefix_error(self) -> float | None:
        """Largest absolute forward-adjusted error among prefix cases."""
        errors = [
            abs(r.adjusted_error)
            for r in self.rows
            if r.kind == "prefix" and r.adjusted_error is not None
        ]
        return max(errors) if errors else None

    def table(self) -> str:
        """The table as aligned text."""
        if self.measured:
            header = (
                f"{'frozen':<18}{'ms/step':>10}{'IQR':>8}{'speed-up':>10}{'predicted':>11}"
                f"{'error':>8}{'fwd-adjusted error':>20}"
                + (f"{'fraction IQR':>16}" if self.rows[0].fraction_iqr is not None else "")
            )
            lines = [header, "-" * len(header)]
            for r in self.rows:
                adjusted = "" if r.adjusted_error is None else f"{r.adjusted_error:>+20.0%}"
                spread = "" if r.fraction_iqr is None else f"{r.fraction_iqr:>16.1%}"
                lines.append(
                    f"{r.label:<18}{r.median_ms:>10.1f}{r.iqr_ms:>8.1f}"
                    f"{r.measured_speedup:>9.2f}x{r.predicted_speedup:>10.2f}x{r.error:>+8.0%}"
                    f"{adjusted}{spread}"
                )
        else:
            header = f"{'frozen':<18}{'predicted step cost':>21}{'predicted speed-up':>20}"
            lines = [header, "-" * len(header)]
            for r in self.rows:
                lines.append(
                    f"{r.label:<18}{r.predicted_fraction:>21.1%}{r.predicted_speedup:>19.2f}x"
                )
        return "\n".join(lines)

    def to_json(self) -> dict:
        """A JSON-ready record: set-up, and per case the figures and all step times."""
        rows = []
        for index, row in enumerate(self.rows):
            record = asdict(row)
            record["frozen"] = list(row.frozen)
            record["predicted_speedup"] = row.predicted_speedup
            record["measured_speedup"] = row.measured_speedup
            record["error"] = row.error
            record["adjusted_error"] = row.adjusted_error
            if index < len(self.timings):
                record["times_ms"] = list(self.timings[index].times_ms)
            rows.append(record)
        return {"setup": self.setup, "rows": rows}

    def save_json(self, path: str | Path) -> Path:
        """Writes `to_json` to ``path`` and returns the path."""
        path = Path(path)
        path.write_text(json.dumps(self.to_json(), indent=2) + "\n")
        return path

    def __str__(self) -> str:
        return self.table()

    def _repr_html_(self) -> str:
        return f"<pre>{self.table()}</pre>"


def standard_cases(model: keras.Model) -> list[FreezeCase]:
    """The sweep's standard configurations for ``model``.

    For a VGG-style model: nothing frozen; block1; blocks 1-2; ... every
    block (the whole base); then each middle block frozen alone (all blocks
    but the first and last). Layers outside the blocks (the head) always
    train. For other models the prefixes run over the layers with weights,
    leaving the last one trainable.

    Args:
        model: A Keras model.

    Returns:
        The cases, in order.
    """
    full = {name: True for name in get_mask(model)}
    blocks = block_names(weighted_layers(model))
    block_of_layer = {ref.name: ref.block for ref in iter_layers(model)}
    if blocks:
        groups = [(block, [n for n in full if block_of_layer[n] == block]) for block in blocks]
        unit = "block"
    else:
        groups = [(name, [name]) for name in list(full)[:-1]]
        unit = "layer"
    cases = [FreezeCase("nothing frozen", "none", (), dict(full))]
    frozen_names: list[str] = []
    for index, (group, names) in enumerate(groups):
        frozen_names += names
        label = f"{group}" if index == 0 else f"{unit}s 1-{index + 1}"
        frozen = tuple(g for g, _ in groups[: index + 1])
        cases.append(FreezeCase(label, "prefix", frozen, _mask(full, frozen_names)))
    if unit == "block":
        for group, names in groups[1:-1]:
            cases.append(FreezeCase(f"{group} only", "middle", (group,), _mask(full, names)))
    return cases


def predict_sweep(
    model: keras.Model, cases: Sequence[FreezeCase] | None = None, batch_size: int = 8
) -> SweepResult:
    """The cost model's prediction for each case, without timing anything.

    Args:
        model: A built Keras model.
        cases: The cases; None uses `standard_cases`.
        batch_size: Examples per step.

    Returns:
        A `SweepResult` whose rows hold only predictions.

    Raises:
        ValueError: As `step_cost`.
    """
    cases = check_sweep_cases(cases, FreezeCase, "predict_sweep")
    cases = standard_cases(model) if cases is None else cases
    rows = [
        SweepRow(c.label, c.kind, c.frozen, step_cost(model, c.mask, batch_size).relative_cost)
        for c in cases
    ]
    setup = {
        "model": model.name,
        "batch_size": batch_size,
        "input_shape": list(model_input_shape(model, "run_sweep")),
    }
    return SweepResult(rows=rows, setup=setup)


def run_sweep(
    model: keras.Model,
    cases: Sequence[FreezeCase] | None = None,
    batch_size: int = 8,
    repeats: int | None = None,
    warmup: int = 2,
    optimizer: str = "adam",
    progress: Callable[[str], None] | None = print,
    interleave: bool = False,
    **timing_options,
) -> SweepResult:
    """Times every case and compares it with the cost model.

    The first case is the reference: speed-ups and fractions are relative to
    it, so it should be "nothing frozen" (as in `standard_cases`). Every case
    is timed with a fresh compile and optimizer (see `time_train_step`). The
    forward pass alone is timed too, for the forward-adjusted prediction
    (`StepCost.time_fraction`) and the ``forward_share`` in ``setup``.

    Args:
        model: A built single-input Keras model.
        cases: The cases; None uses `standard_cases`.
        batch_size: Examples per step.
        repeats: Timed steps per case; None as in `time_train_step`.
        warmup: Untimed steps per case.
        optimizer: Optimizer name.
        progress: Called with one line per finished case; None for silence.
        interleave: Time the cases side by side (`time_interleaved`): steps
            take turns, so a load that drifts during the sweep hits every
            case alike. Needs one model copy per case in memory.
        **timing_options: Passed on to `time_train_step` (``jit_compile``,
            ``run_eagerly``).

    Returns:
        A `SweepResult` with measurements.

    Raises:
        ValueError: As `time_train_step` and `step_cost`.
    """
    cases = check_sweep_cases(cases, FreezeCase, "run_sweep")
    cases = standard_cases(model) if cases is None else cases
    if not cases:
        raise ValueError("run_sweep needs at least one case. Received: cases=[]")
    costs = [step_cost(model, case.mask, batch_size) for case in cases]
    reference = costs[0].relative_cost
    if interleave:
        if progress is not None:
            progress(f"timing {len(cases)} masks side by side, {repeats or 'default'} rounds...")
        timings = time_interleaved(
            model,
            [c.mask for c in cases],
            batch_size,
            repeats,
            warmup,
            optimizer,
            with_forward=True,
            **timing_options,
        )
        forward = timings.pop()
    else:
        timings = []
        forward = None
    if not interleave:
        for case in cases:
            timings.append(
                time_train_step(
                    model, case.mask, batch_size, repeats, warmup, optimizer, **timing_options
                )
            )
            if progress is not None:
                progress(f"{case.label:<16} {timings[-1].median_ms:8.1f} ms/step")
        forward = time_forward(model, batch_size, repeats, warmup)
    if interleave:
        # Same-round ratios: load drift between rounds cancels out (issue: a loaded run
        # showed middle masks slower than nothing frozen with ratios of medians).
        fractions = [_round_ratios(timing, timings[0]) for timing in timings]
        forward_share = min(statistics.median(_round_ratios(forward, timings[0])), 1.0)
    else:
        fractions = [[timing.median_ms / timings[0].median_ms] for timing in timings]
        forward_share = min(forward.median_ms / timings[0].median_ms, 1.0)
    rows = [
        SweepRow(
            label=case.label,
            kind=case.kind,
            frozen=case.frozen,
            predicted_fraction=cost.relative_cost / reference,
            median_ms=timing.median_ms,
            iqr_ms=timing.iqr_ms,
            measured_fraction=statistics.median(ratios),
            adjusted_fraction=cost.time_fraction(forward_share)
            / costs[0].time_fraction(forward_share),
            fraction_iqr=_iqr(ratios) if interleave else None,
        )
        for case, cost, timing, ratios in zip(cases, costs, timings, fractions)
    ]
    if progress is not None and interleave:
        for row in rows:
            progress(
                f"{row.label:<16} {row.median_ms:8.1f} ms/step  measured {row.measured_speedup:.2f}x"
                f"  predicted {row.predicted_speedup:.2f}x"
            )
    setup = {
        **_setup(model, timings[0], optimizer),
        "interleaved": interleave,
        "forward_ms": forward.median_ms,
        "forward_share": forward_share,
    }
    return SweepResult(rows=rows, setup=setup, timings=timings)


def _round_ratios(timing: StepTiming, reference: StepTiming) -> list[float]:
    """Each round's step time over the reference's step time in the same round."""
    return [t / r for t, r in zip(timing.times_ms, reference.times_ms)]


def _iqr(values: list[float]) -> float:
    if len(values) < 2:
        return 0.0
    quartiles = statistics.quantiles(values, n=4)
    return quartiles[2] - quartiles[0]


def _setup(model, timing: StepTiming, optimizer: str) -> dict:
    return {
        "model": model.name,
        "device": timing.device,
        "backend": timing.backend,
        "jit_compile": timing.jit_compile,
        "run_eagerly": timing.run_eagerly,
        "batch_size": timing.batch_size,
        "input_shape": list(timing.input_shape),
        "optimizer": optimizer,
        "keras": keras.__version__,
        "python": platform.python_version(),
    }


def _mask(full: dict[str, bool], frozen_names: list[str]) -> dict[str, bool]:
    return {name: name not in frozen_names for name in full}
