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
import os
import platform
import statistics
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import keras
import numpy as np

from freezelab._validation import ArgumentTypeError, describe, received
from freezelab.core.freezing import get_mask, weighted_layers
from freezelab.core.layers import block_names, iter_layers
from freezelab.core.mask_text import mask_to_text
from freezelab.core.shapes import model_input_shape
from freezelab.settings import pick
from freezelab.speed.cost import step_cost
from freezelab.speed.probes import features_model, floor_mask, trainable_shapes, update_probe
from freezelab.speed.records import library_versions
from freezelab.speed.timing import (
    StepTiming,
    TimedArm,
    compiled_copy,
    random_batch,
    time_arms,
)
from freezelab.verdicts import PairedVerdict, paired_verdict

#: Labels of the arms timed beside the masks (see `freezelab.speed.probes`).
FLOOR = "floor (everything frozen)"
OVERHEAD = "one-weight probe"
UPDATE = "update probe"
CACHED = "head on cached features"
EAGER = "eager: "
VARIABLE_COUNT = "variable-count probe"


@dataclass(frozen=True)
class FreezeCase:
    """One configuration of a sweep.

    Attributes:
        label: Short name, e.g. ``"blocks 1-3"`` or ``"block4 only"``.
        kind: ``"none"`` (nothing frozen), ``"prefix"``, ``"middle"`` or
            ``"last"`` (the last block alone).
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
        adjusted_fraction: The cost model's prediction from the measured
            floor and update (`StepCost.time_fraction`): only the backward
            part is scaled by FLOPs.
        fraction_iqr: Spread (interquartile range) of ``measured_fraction``
            over the timing rounds; None when the cases were not interleaved.
        fraction_quartiles: (25th, 75th) percentile of the same-round
            fractions; None when not interleaved.
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
    fraction_quartiles: tuple[float, float] | None = None

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
        setup: Device, backend, batch size, input shape, versions, the
            machine's load average before and after, and the measured terms
            (``floor_ms``, ``floor_share``, ``update_ms``, ``update_share``,
            ``overhead_ms``, ``cached_ms``).
        timings: The full `StepTiming` of each case (empty for predictions).
        extras: Timings of the arms run beside the cases: the floor, the
            update probes (two, plus those asked for), the head on cached
            features, eager copies.
    """

    rows: list[SweepRow]
    setup: dict
    timings: list[StepTiming] = field(default_factory=list)
    extras: dict[str, StepTiming] = field(default_factory=dict)

    def times(self, label: str) -> list[float]:
        """Every timed step of a case or extra arm, in round order (ms).

        Args:
            label: A case's label, or an extra arm's (``"floor (everything
                frozen)"``, ``"head on cached features"``, ``"eager: <case>"``...).

        Returns:
            The step times; with an interleaved sweep, item ``i`` is round ``i``.

        Raises:
            ValueError: For a label the sweep did not time.
        """
        for row, timing in zip(self.rows, self.timings):
            if row.label == label:
                return list(timing.times_ms)
        if label in self.extras:
            return list(self.extras[label].times_ms)
        known = [row.label for row in self.rows] + list(self.extras)
        raise ValueError(
            f"No arm named {label!r} was timed. Accepted: {known}. Received: {label!r}"
        )

    def compare(
        self, faster: str, slower: str, claim: str | None = None, direction: str = "lower"
    ) -> PairedVerdict:
        """Whether ``faster`` steps are shorter than ``slower`` ones, round by round.

        The pairs are the interleaved rounds: the verdict uses the same-round
        ratios (`freezelab.verdicts.paired_verdict`), so a load change during
        the sweep slows both arms of a pair alike.

        Args:
            faster: Label of the arm claimed to be faster.
            slower: Label of the other arm.
            claim: The claim in words; default ``"<faster> faster than <slower>"``.
            direction: ``"lower"`` (the claim: the first arm's steps are
                shorter) or ``"higher"`` (they are longer).

        Returns:
            A `PairedVerdict` on the ratio ``faster / slower``.

        Raises:
            ValueError: For an unknown label, or a sweep that was not interleaved.
        """
        if not self.setup.get("interleaved"):
            raise ValueError(
                "compare() needs an interleaved sweep (run_sweep(..., interleave=True)): "
                "only then are the i-th steps of two arms a pair. Received: interleaved=False"
            )
        return paired_verdict(
            self.times(faster),
            self.times(slower),
            claim=claim
            or f"{faster} {'faster' if direction == 'lower' else 'slower'} than {slower}",
            direction=direction,
        )

    def paired_fraction(self, label: str) -> float:
        """Median over rounds of ``label``'s step / the reference's step in the same round.

        Args:
            label: A case's or an extra arm's label.

        Returns:
            The fraction of the fully trainable step (the first case); for an
            interleaved sweep the median of same-round ratios, otherwise the
            ratio of medians.

        Raises:
            ValueError: For a label the sweep did not time.
        """
        times, reference = self.times(label), self.times(self.rows[0].label)
        if not self.setup.get("interleaved"):
            return statistics.median(times) / statistics.median(reference)
        return statistics.median(t / r for t, r in zip(times, reference))

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

    def table(
        self, predictions: bool = True, times: bool = True, extras: Sequence[str] = ()
    ) -> str:
        """The table as aligned text.

        Measured rows give the step time and, as fractions of the fully
        trainable step, what was measured (the median of same-round ratios,
        with the middle half of them when interleaved), what the FLOP model
        predicts and what the model with measured terms predicts
        (`StepCost.time_fraction`), each with its error.

        Args:
            predictions: Include the two predictions' columns (measured
                tables only; predictions alone always show them).
            times: Include the step times in ms (``ms/step``, ``IQR``); False
                keeps the fractions only, to set the predictions beside them.
            extras: Labels of extra arms (e.g. ``FLOOR``) to add as measured
                rows below the cases, without predictions (measured tables
                of interleaved sweeps only).

        Returns:
            The aligned table, one line per row.

        Raises:
            ValueError: For ``extras`` the sweep did not time, or on a sweep
                that is not interleaved.
        """
        extras = list(extras)
        unknown = [label for label in extras if label not in self.extras]
        if unknown:
            raise ValueError(
                f"table's extras are extra arms' labels. Accepted: {sorted(self.extras)}. "
                f"Received: {unknown}"
            )
        if extras and not (self.measured and self.setup.get("interleaved")):
            raise ValueError(
                "Extra rows need an interleaved, measured sweep. Received: a sweep with "
                f"interleaved={self.setup.get('interleaved')}, measured={self.measured}"
            )
        width = max([16, *(len(label) + 1 for label in extras)])
        if self.measured:
            header = f"{'frozen':<{width}}"
            if times:
                header += f"{'ms/step':>9}{'IQR':>7}"
            header += f"{'measured':>10}{'middle half':>15}"
            if predictions:
                header += f"{'FLOPs':>8}{'FLOPs err':>10}{'terms':>8}{'terms err':>10}"
            lines = [header, "-" * len(header)]
            for r in self.rows:
                half = (
                    f"{r.fraction_quartiles[0]:>7.1%}-{r.fraction_quartiles[1]:<6.1%}"
                    if r.fraction_quartiles
                    else f"{'':>14}"
                )
                terms = (
                    f"{r.adjusted_fraction:>8.1%}{_signed(r.adjusted_error):>10}"
                    if r.adjusted_error is not None
                    else ""
                )
                line = f"{r.label:<{width}}"
                if times:
                    line += f"{r.median_ms:>9.1f}{r.iqr_ms:>7.1f}"
                line += f"{r.measured_fraction:>10.1%} {half}"
                if predictions:
                    line += f"{r.predicted_fraction:>8.1%}{_signed(r.error):>10}{terms}"
                lines.append(line)
            reference = self.times(self.rows[0].label)
            for label in extras:
                ratios = [t / r for t, r in zip(self.times(label), reference)]
                low, high = _quartiles(ratios)
                line = f"{label:<{width}}"
                if times:
                    line += f"{self.extras[label].median_ms:>9.1f}{self.extras[label].iqr_ms:>7.1f}"
                line += f"{statistics.median(ratios):>10.1%} {low:>7.1%}-{high:<6.1%}"
                lines.append(line)
            lines.append(
                "(fractions of the fully trainable step: medians of same-round ratios"
                + ("; error = predicted / measured - 1)" if predictions else ")")
            )
        else:
            header = f"{'frozen':<18}{'predicted step cost':>21}{'predicted speed-up':>20}"
            lines = [header, "-" * len(header)]
            for r in self.rows:
                lines.append(
                    f"{r.label:<18}{r.predicted_fraction:>21.1%}{r.predicted_speedup:>19.2f}x"
                )
        return "\n".join(lines)

    def terms_table(self) -> str:
        """The arms timed beside the masks, and the terms derived from them, as text."""
        if not self.extras:
            return "(no extra arms were timed)"
        width = max(28, *(len(label) + 1 for label in self.extras))
        lines = [f"{'arm':<{width}}{'ms/step':>9}{'IQR':>7}{'of the full step':>18}"]
        lines.append("-" * len(lines[0]))
        for label, timing in self.extras.items():
            lines.append(
                f"{label:<{width}}{timing.median_ms:>9.1f}{timing.iqr_ms:>7.1f}"
                f"{self.paired_fraction(label):>18.1%}"
            )
        setup = self.setup
        lines.append(
            f"floor share {setup['floor_share']:.1%}; update {setup['update_ms']:.1f} ms for "
            f"{setup['full_trainable_params']:,} weights = {setup['update_share']:.1%} of the full step "
            "(median of same-round ratios, update probe minus one-weight probe)"
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
        extras = {
            label: {"median_ms": t.median_ms, "iqr_ms": t.iqr_ms, "times_ms": list(t.times_ms)}
            for label, t in self.extras.items()
        }
        return {"setup": self.setup, "rows": rows, "extras": extras}

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
    but the first and last, kind ``"middle"``), then the last block alone
    (kind ``"last"``: for VGG16, block5, which holds about half of the
    parameters). Layers outside the blocks (the head) always
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
        last, names = groups[-1]
        if len(groups) > 1:
            cases.append(FreezeCase(f"{last} only", "last", (last,), _mask(full, names)))
    return cases


def predict_sweep(
    model: keras.Model, cases: Sequence[FreezeCase] | None = None, batch_size: int = 8
) -> SweepResult:
    """The cost model's prediction for each case, without timing anything.

    Args:
        model: A built Keras model.
        cases: The cases (or plain masks, or a dict from label to mask);
            None uses `standard_cases`.
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
    *,
    eager: Sequence[str] = (),
    jit_compile: bool | str = "auto",
    seed: int = 0,
    update_probes: Mapping[str, Sequence[str]] | None = None,
    variable_count_probe: bool = False,
) -> SweepResult:
    """Times every case, and the parts of a step FLOPs miss, against the cost model.

    The first case is the reference: fractions and speed-ups are relative to
    it, so it should be "nothing frozen" (as in `standard_cases`). Each case
    runs on its own copy of the model, compiled with a fresh optimizer. Beside
    the cases, the same rounds time (see `freezelab.speed.probes`):

    * the **floor**: every layer frozen, the same compiled train function;
    * the **update probes**: as many weights as the full model trains, and one
      weight; their difference is the optimizer update's time;
    * one more update probe per entry of ``update_probes``, holding the
      weights of chosen layers only (e.g. block3's against block4's);
    * the **head on cached features**, when the model's head is a chain;
    * an **eager** copy (``run_eagerly=True``) of each case named in ``eager``
      (the floor too, when ``eager`` names it);
    * with ``variable_count_probe``, a fixed-cost probe with one single-number
      weight per trainable variable of the model: the fixed cost of a step
      that passes as many variables as the full model's.

    The prediction with measured terms (``adjusted_fraction``) keeps the floor
    and the update at their measured shares and scales only the rest by the
    backward FLOPs that remain (`StepCost.time_fraction`).

    Args:
        model: A built single-input Keras model; it is not changed.
        cases: The cases (or plain masks, or a dict from label to mask);
            None uses `standard_cases`.
        batch_size: Examples per step.
        repeats: Timed rounds (steps per arm); None means 20 (5 in quick mode).
        warmup: Untimed steps per arm first.
        optimizer: Optimizer name.
        progress: Called with a line when timing starts and per finished
            case; None for silence.
        interleave: Time the arms side by side, one step of each per round in
            a new random order (`freezelab.speed.timing.time_arms`), so a load
            that drifts during the sweep hits every arm alike and
            `SweepResult.compare` can pair rounds. Otherwise one arm after
            another.
        eager: Labels of cases to time also with ``run_eagerly=True``; the
            floor's label (``FLOOR``) adds an eager floor.
        jit_compile: Passed to ``compile()``.
        seed: Seed of the random batch and of the round orders.
        update_probes: Arm label to layer-name prefixes (e.g.
            ``{"update probe: block4": ["block4_"]}``): each adds an update
            probe (`freezelab.speed.probes.update_probe`) holding exactly the
            trainable weight shapes of those layers, timed in the same rounds
            and found under its label in ``extras``.
        variable_count_probe: Also time the variable-count probe (label
            ``VARIABLE_COUNT`` in ``extras``).

    Returns:
        A `SweepResult` with measurements.

    Raises:
        ValueError: As `time_train_step` and `step_cost`, for no cases, for
            an ``eager`` label that is not a case, or for an ``update_probes``
            label already in use or prefixes that name no layer with weights.
    """
    cases = check_sweep_cases(cases, FreezeCase, "run_sweep")
    cases = standard_cases(model) if cases is None else cases
    if not cases:
        raise ValueError("run_sweep needs at least one case. Received: cases=[]")
    repeats = pick(20, 5) if repeats is None else repeats
    labels = [case.label for case in cases]
    unknown = [label for label in eager if label not in [*labels, FLOOR]]
    if unknown:
        raise ValueError(
            "eager names cases (or the floor) to time eagerly. "
            f"Accepted: {[*labels, FLOOR]}. Received: {unknown}"
        )
    probe_shapes = _probe_shapes(model, update_probes, labels, eager)
    if variable_count_probe:
        probe_shapes[VARIABLE_COUNT] = [(1,)] * len(trainable_shapes(model))
    costs = [step_cost(model, case.mask, batch_size) for case in cases]
    load_before = _load_average()
    x, y = random_batch(model, batch_size, seed)
    with warnings.catch_warnings():
        # The floor has no trainable weights by design; Keras warns about that once.
        warnings.filterwarnings("ignore", message=".*does not have any trainable weights.*")
        arms = _arms(model, cases, eager, x, y, optimizer, jit_compile, probe_shapes)
        if progress is not None:
            how = "side by side" if interleave else "one after another"
            progress(f"timing {len(arms)} arms {how}, {repeats} rounds...")
        if interleave:
            timed = time_arms(arms, repeats, warmup, seed)
        else:
            timed = [time_arms([arm], repeats, warmup, seed)[0] for arm in arms]
    timings, extras = (
        timed[: len(cases)],
        dict(zip([a.label for a in arms[len(cases) :]], timed[len(cases) :])),
    )
    reference = timings[0]
    ratio = _round_ratios if interleave else _median_ratio
    floor_share = min(statistics.median(ratio(extras[FLOOR], reference)), 1.0)
    update = [u - o for u, o in zip(extras[UPDATE].times_ms, extras[OVERHEAD].times_ms)]
    update_ms = max(statistics.median(update), 0.0)
    if interleave:  # Paired, like the floor: each round's update over the same round's full step.
        update_share = statistics.median(u / r for u, r in zip(update, reference.times_ms))
    else:
        update_share = update_ms / reference.median_ms
    update_share = min(max(update_share, 0.0), 1.0 - floor_share)
    fractions = [ratio(timing, reference) for timing in timings]
    full_terms = costs[0].time_fraction(floor_share, update_share)
    rows = [
        SweepRow(
            label=case.label,
            kind=case.kind,
            frozen=case.frozen,
            predicted_fraction=cost.relative_cost / costs[0].relative_cost,
            median_ms=timing.median_ms,
            iqr_ms=timing.iqr_ms,
            measured_fraction=statistics.median(ratios),
            adjusted_fraction=cost.time_fraction(floor_share, update_share) / full_terms,
            fraction_iqr=_iqr(ratios) if interleave else None,
            fraction_quartiles=_quartiles(ratios) if interleave else None,
        )
        for case, cost, timing, ratios in zip(cases, costs, timings, fractions)
    ]
    if progress is not None:
        for row in rows:
            progress(
                f"{row.label:<16} {row.median_ms:8.1f} ms/step  measured {row.measured_speedup:.2f}x"
                f"  predicted {row.predicted_speedup:.2f}x"
            )
    setup = {
        **_setup(model, reference, optimizer),
        "interleaved": interleave,
        "repeats": repeats,
        "warmup": warmup,
        "load_average_before": load_before,
        "load_average_after": _load_average(),
        "floor_ms": extras[FLOOR].median_ms,
        "floor_share": floor_share,
        "forward_ms": extras[FLOOR].median_ms,
        "forward_share": floor_share,
        "update_ms": update_ms,
        "update_share": update_share,
        "overhead_ms": extras[OVERHEAD].median_ms,
        "cached_ms": extras[CACHED].median_ms if CACHED in extras else None,
        "full_trainable_params": costs[0].full_trainable_params,
    }
    return SweepResult(rows=rows, setup=setup, timings=timings, extras=extras)


def _probe_shapes(model, update_probes, labels, eager) -> dict[str, list[tuple[int, ...]]]:
    """Checks ``update_probes`` and returns each extra probe's weight shapes by label."""
    if update_probes is None:
        return {}
    if not isinstance(update_probes, Mapping):
        raise ValueError(
            "update_probes maps an arm label to layer-name prefixes, e.g. "
            f"{{'update probe: block4': ['block4_']}}. Received: update_probes={update_probes!r}"
        )
    taken = {
        *labels,
        FLOOR,
        OVERHEAD,
        UPDATE,
        CACHED,
        VARIABLE_COUNT,
        *(EAGER + label for label in eager),
    }
    shapes = {}
    for label, prefixes in update_probes.items():
        if label in taken:
            raise ValueError(
                f"update_probes labels must differ from the other arms' ({sorted(taken)}). "
                f"Received: {label!r}"
            )
        if isinstance(prefixes, str):
            raise ValueError(
                "update_probes values are lists of layer-name prefixes, e.g. ['block4_']. "
                f"Received: {label!r}: {prefixes!r}"
            )
        shapes[label] = trainable_shapes(model, prefixes)
    return shapes


def _arms(model, cases, eager, x, y, optimizer, jit_compile, probe_shapes=None) -> list[TimedArm]:
    """The cases' copies, the floor, the update probes, cached features, eager copies."""
    arms = [
        TimedArm(
            case.label, compiled_copy(model, case.mask, optimizer, jit_compile=jit_compile), x, y
        )
        for case in cases
    ]
    arms.append(
        TimedArm(
            FLOOR, compiled_copy(model, floor_mask(model), optimizer, jit_compile=jit_compile), x, y
        )
    )
    batch = len(x)
    probe_x = np.zeros((batch, 1), "float32")
    probes = {OVERHEAD: [(1,)], UPDATE: trainable_shapes(model), **(probe_shapes or {})}
    for label, shapes in probes.items():
        probe = update_probe(shapes)
        probe.compile(optimizer=optimizer, loss="mean_squared_error", jit_compile=jit_compile)
        arms.append(TimedArm(label, probe, probe_x, probe_x))
    try:
        head = features_model(model)
    except ValueError:
        head = None  # A head that is not a chain: no cached-features arm.
    if head is not None:
        head.compile(optimizer=optimizer, loss="mean_squared_error", jit_compile=jit_compile)
        features = np.random.default_rng(0).uniform(size=(batch, *head.input_shape[1:]))
        arms.append(TimedArm(CACHED, head, features.astype("float32"), y))
    masks = {case.label: case.mask for case in cases}
    for label in eager:
        mask = floor_mask(model) if label == FLOOR else masks[label]
        copy = compiled_copy(model, mask, optimizer, run_eagerly=True)
        arms.append(TimedArm(EAGER + label, copy, x, y, run_eagerly=True))
    return arms


def _round_ratios(timing: StepTiming, reference: StepTiming) -> list[float]:
    """Each round's step time over the reference's step time in the same round."""
    return [t / r for t, r in zip(timing.times_ms, reference.times_ms)]


def _median_ratio(timing: StepTiming, reference: StepTiming) -> list[float]:
    """The ratio of medians, for arms that were not timed side by side."""
    return [timing.median_ms / reference.median_ms]


def _quartiles(values: list[float]) -> tuple[float, float]:
    if len(values) < 2:
        return (values[0], values[0])
    quartiles = statistics.quantiles(values, n=4, method="inclusive")
    return (quartiles[0], quartiles[2])


def _load_average() -> tuple[float, float, float] | None:
    """The machine's 1-, 5- and 15-minute load averages (None where not available)."""
    try:
        return tuple(round(value, 2) for value in os.getloadavg())
    except (AttributeError, OSError):
        return None


def _iqr(values: list[float]) -> float:
    low, high = _quartiles(values)
    return high - low


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
        "backend_version": library_versions([timing.backend]).get(timing.backend, "unknown"),
        "python": platform.python_version(),
    }


def _mask(full: dict[str, bool], frozen_names: list[str]) -> dict[str, bool]:
    return {name: name not in frozen_names for name in full}


def check_sweep_cases(cases: object, case_type: type, purpose: str) -> list | None:
    """Checks a sweep's cases: None, or a non-empty list of cases or plain masks.

    A plain mask (a dict from layer name to True/False, as ``get_mask``
    returns) is accepted as a case: it becomes ``case_type(label, "custom",
    frozen, mask)``, labelled by its text form (``"F:block1-3 T:block4-5,head"``).
    A dict from label to mask (or to case) gives each its own label, in order:
    ``{"nothing frozen": mask, "blocks 3-4": other_mask}``.

    Args:
        cases: The argument.
        case_type: The sweep's case class (``FreezeCase``).
        purpose: The function asking, for the message.

    Returns:
        None when ``cases`` is None (the standard cases), else a list of
        ``case_type``.

    Raises:
        ArgumentTypeError: For something that is not a list of cases or masks.
        ValueError: For an empty list: a sweep needs at least one case.
    """
    if cases is None:
        return None
    if (
        isinstance(cases, Mapping)
        and cases
        and all(isinstance(value, (dict, case_type)) for value in cases.values())
    ):
        return _labelled_cases(cases, case_type, purpose)
    if isinstance(cases, (str, bytes, dict)) or not isinstance(cases, Iterable):
        raise ArgumentTypeError(
            f"{purpose} takes a list of cases (from fl.standard_cases(model)) or of masks "
            f"(dicts from fl.get_mask). {received('cases', cases)} of type {type(cases).__name__}"
        )
    items = list(cases)
    if not items:
        raise ValueError(f"{purpose} needs at least one case. Received: cases=[]")
    result = []
    for index, item in enumerate(items):
        if isinstance(item, case_type):
            result.append(item)
        elif isinstance(item, dict):
            label = mask_to_text(item) or f"mask {index}"
            frozen = tuple(name for name, trains in item.items() if not trains)
            result.append(case_type(label=label, kind="custom", frozen=frozen, mask=dict(item)))
        else:
            raise ArgumentTypeError(
                f"{purpose} takes cases ({case_type.__name__}, from fl.standard_cases(model)) "
                f"or masks (dicts). Received: cases[{index}]={describe(item)} of type "
                f"{type(item).__name__}"
            )
    return result


def _labelled_cases(cases: Mapping, case_type: type, purpose: str) -> list:
    """Cases from a dict of label -> mask (kind "custom") or label -> case (relabelled)."""
    result = []
    for label, item in cases.items():
        if not isinstance(label, str) or not label:
            raise ArgumentTypeError(
                f"{purpose} takes a dict from labels (non-empty str) to masks. "
                f"Received: a key {label!r} of type {type(label).__name__}"
            )
        if isinstance(item, case_type):
            result.append(replace(item, label=label))
        else:
            frozen = tuple(name for name, trains in item.items() if not trains)
            result.append(case_type(label=label, kind="custom", frozen=frozen, mask=dict(item)))
    return result


def _signed(fraction: float) -> str:
    """A signed percentage with one decimal, with no "-0.0%" for a value that rounds to zero."""
    return "+0.0%" if abs(fraction) < 0.0005 else f"{fraction:+.1%}"
