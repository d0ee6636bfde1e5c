"""Step timing for the live freeze panel: seconds after a tick, on a private copy.

`freezelab.speed.timing.time_train_step` times a learner's model carefully
(a fresh compile, warm-up steps, 20 repeats, the model restored), which
takes a minute or more on a CPU. A panel needs a first figure within seconds
of a tick and must not touch the model the learner is ticking. `LiveTimer`:

* keeps its **own copy** of the model (built once), so ticks may go on
  while it times, and a cancelled timing leaves the learner's model as it was;
* per mask, compiles the copy with a fresh optimizer (the trainable set is
  fixed at ``compile()``), runs **one** untimed step (tracing), then times a
  few steps and returns at once, and can **refine** the same mask with more
  steps later while the learner looks;
* **caches** every mask's measurement by its text form, so coming back to a
  mask costs nothing;
* reports progress and stops at the next step when cancelled
  (`freezelab.progress.Progress`).

The measured fraction of a mask is its median over the median of the fully
trainable mask, both measured here; the prediction is the cost model's
`StepCost.relative_cost` (FLOPs).
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import keras
import numpy as np

from freezelab._validation import check_int
from freezelab.core.freezing import get_mask, set_mask
from freezelab.core.mask_text import mask_to_text
from freezelab.core.shapes import model_input_shape
from freezelab.progress import Progress
from freezelab.speed.cost import step_cost
from freezelab.speed.timing import describe_device, out_of_memory_message, synchronize


@dataclass
class LiveMeasurement:
    """What the live timer measured for one mask.

    Attributes:
        mask_text: The mask in its text form (`freezelab.mask_to_text`).
        predicted_fraction: The cost model's step cost / fully trainable cost.
        setup_ms: Compile plus the first, untimed step (tracing) last time.
        times_ms: Every timed step so far.
    """

    mask_text: str
    predicted_fraction: float
    setup_ms: float = 0.0
    times_ms: list[float] = field(default_factory=list)

    @property
    def steps(self) -> int:
        """Timed steps so far."""
        return len(self.times_ms)

    @property
    def median_ms(self) -> float | None:
        """Median step time, or None before the first timed step."""
        return statistics.median(self.times_ms) if self.times_ms else None

    @property
    def spread_ms(self) -> float | None:
        """Interquartile range of the step times (0 for one step; None before any)."""
        if not self.times_ms:
            return None
        if len(self.times_ms) < 2:
            return 0.0
        quartiles = statistics.quantiles(self.times_ms, n=4)
        return quartiles[2] - quartiles[0]

    def text(self) -> str:
        """One line, e.g. ``"212.4 ms/step (IQR 8.1 ms, 3 steps)"``."""
        if self.median_ms is None:
            return "not measured yet"
        return f"{self.median_ms:.1f} ms/step (IQR {self.spread_ms:.1f} ms, {self.steps} steps)"


class LiveTimer:
    """Times freeze masks quickly on a private copy of a model.

    Args:
        model: A built single-input Keras model with a fixed input size. It is
            read (its configuration, for the copy and the cost model), never
            changed.
        batch_size: Examples per step.
        optimizer: Optimizer name for the copy's ``compile()``.
        jit_compile: Passed to ``compile()``.
        seed: Seed of the random batch.

    Raises:
        ValueError: If the model has no fixed single input, or the batch size
            is not a positive int.
    """

    def __init__(
        self,
        model: keras.Model,
        batch_size: int = 8,
        optimizer: str = "adam",
        jit_compile: bool | str = "auto",
        seed: int = 0,
    ):
        self.batch_size = check_int(batch_size, "batch_size", minimum=1)
        self.model = model
        self.optimizer = optimizer
        self.jit_compile = jit_compile
        self.input_shape = model_input_shape(model, "LiveTimer", fixed=True)
        self.full_mask = {name: True for name in get_mask(model)}
        self.measurements: dict[str, LiveMeasurement] = {}
        self._seed = seed
        self._copy: keras.Model | None = None
        self._compiled_for: str | None = None
        self._lock = threading.Lock()
        self._predicted: dict[str, float] = {}

    @property
    def device(self) -> str:
        """What the steps run on (see `describe_device`)."""
        return describe_device()

    @property
    def reference(self) -> LiveMeasurement | None:
        """The fully trainable mask's measurement, once measured."""
        found = self.measurements.get(mask_to_text(self.full_mask))
        return found if found is not None and found.steps else None

    def predicted_fraction(self, mask: dict[str, bool]) -> float:
        """The cost model's step cost of ``mask`` over the fully trainable step.

        Args:
            mask: Layer name to trainable flag (every weighted layer).

        Returns:
            The fraction (1.0 for the fully trainable mask).
        """
        text = mask_to_text(mask)
        if text not in self._predicted:
            self._predicted[text] = step_cost(self.model, mask, self.batch_size).relative_cost
        return self._predicted[text]

    def predicted_ms(self, mask: dict[str, bool]) -> float | None:
        """Predicted step time: the measured fully trainable step times the predicted fraction.

        Args:
            mask: Layer name to trainable flag.

        Returns:
            Milliseconds, or None until the fully trainable step was measured.
        """
        reference = self.reference
        if reference is None:
            return None
        return reference.median_ms * self.predicted_fraction(mask)

    def measured_fraction(self, mask: dict[str, bool]) -> float | None:
        """Measured step time of ``mask`` over the fully trainable step's, or None."""
        found = self.measurements.get(mask_to_text(mask))
        reference = self.reference
        if found is None or not found.steps or reference is None:
            return None
        return found.median_ms / reference.median_ms

    def measure(
        self,
        mask: dict[str, bool],
        steps: int = 3,
        progress: Progress | None = None,
        label: str | None = None,
    ) -> LiveMeasurement:
        """Times ``steps`` more training steps of ``mask`` and returns its measurement.

        A mask seen before keeps its earlier steps (the call refines it); one
        whose copy is still compiled needs no new compile or tracing.

        Args:
            mask: Layer name to trainable flag for the model's weighted layers.
            steps: Timed steps to add.
            progress: Receives reports; cancelling it stops at the next step
                (the steps timed so far are kept).
            label: What the reports call the mask (default: its text form,
                which can be long).

        Returns:
            The `LiveMeasurement` of the mask (the cached object, updated).

        Raises:
            ValueError: If the mask names layers the model lacks or ``steps`` is
                not a positive int.
            freezelab.progress.Cancelled: If ``progress`` was cancelled.
            freezelab.speed.timing.StepOutOfMemoryError: If a step does not fit
                in memory (the message names the batch size to try).
        """
        steps = check_int(steps, "steps", minimum=1)
        text = mask_to_text(mask)
        with self._lock, out_of_memory_message(self.batch_size, self.input_shape):
            measurement = self.measurements.get(text)
            if measurement is None:
                measurement = LiveMeasurement(text, self.predicted_fraction(mask))
                self.measurements[text] = measurement
            copy, x, y = self._ready_copy()
            report = progress.report if progress is not None else _ignore
            label = text if label is None else label
            if self._compiled_for != text:
                report(0, steps, f"compiling {label}")
                start = time.perf_counter()
                set_mask(copy, mask)
                copy.compile(
                    optimizer=self.optimizer,
                    loss="mean_squared_error",
                    jit_compile=self.jit_compile,
                )
                copy.train_on_batch(x, y)  # tracing: not timed
                synchronize(copy)
                measurement.setup_ms = (time.perf_counter() - start) * 1000.0
                self._compiled_for = text
            for done in range(steps):
                report(done, steps, f"timing {label}")
                start = time.perf_counter()
                copy.train_on_batch(x, y)
                synchronize(copy)
                measurement.times_ms.append((time.perf_counter() - start) * 1000.0)
            report(steps, steps, f"timed {label}")
            return measurement

    def _ready_copy(self) -> tuple[keras.Model, np.ndarray, np.ndarray]:
        if self._copy is None:
            self._copy = keras.models.clone_model(self.model)
            rng = np.random.default_rng(self._seed)
            self._x = rng.uniform(-1, 1, (self.batch_size, *self.input_shape)).astype("float32")
            out_shape = tuple(int(d) for d in self._copy.outputs[0].shape[1:])
            self._y = rng.uniform(0, 1, (self.batch_size, *out_shape)).astype("float32")
        return self._copy, self._x, self._y


def _ignore(*_args) -> None:
    return None


# What the panel's timing can and cannot show, under every comparison it prints.
UNPAIRED_NOTE = (
    "rough and unpaired: one short run each, not interleaved rounds (lesson 03 measures properly)"
)


@dataclass(frozen=True)
class LiveReadout:
    """What the panel shows about step time for the current mask.

    Attributes:
        mask_text: The current mask's text form.
        predicted_fraction: Cost model: this mask's step over the fully trainable step.
        predicted_ms: That fraction times the measured fully trainable step
            (None until it was measured).
        measurement: This mask's measurement, or None when not measured yet.
        measured_fraction: Measured step over measured fully trainable step.
        points: ``(mask text, predicted fraction, measured fraction)`` for every
            mask measured so far, the learner's own sweep.
        device: What the steps run on.
        reference: The fully trainable step's measurement, or None before it.
    """

    mask_text: str
    predicted_fraction: float
    predicted_ms: float | None
    measurement: LiveMeasurement | None
    measured_fraction: float | None
    points: tuple[tuple[str, float, float], ...]
    device: str
    reference: LiveMeasurement | None = None

    def text(self, waiting: str = "time it, or switch live timing on") -> str:
        """Short lines: the reference step, predicted and measured step time.

        Once this mask and the fully trainable step were both measured, two
        indented lines follow "measured": the `verdict`, and that the timing
        is rough and unpaired (`UNPAIRED_NOTE`).

        Args:
            waiting: What the "measured" line says before this mask was
                measured (the panel says whether timing runs or was cancelled).

        Returns:
            The lines, joined by newlines.
        """
        lines = []
        if self.reference is not None:
            lines.append(f"fully trainable step: {self.reference.text()} · {self.device}")
        predicted = f"predicted: {self.predicted_fraction:.0%} of the fully trainable step"
        if self.predicted_ms is not None:
            predicted += f" ≈ {self.predicted_ms:.1f} ms/step"
        lines.append(predicted)
        if self.measurement is None or not self.measurement.steps:
            lines.append(f"measured: not yet ({waiting})")
        else:
            measured = f"measured: {self.measurement.text()}"
            if self.measured_fraction is not None:
                measured += f" = {self.measured_fraction:.0%} of the fully trainable step"
            lines.append(measured)
        if self.reference is None:
            lines[-1] += f" · {self.device}"
        verdict = self.verdict()
        if verdict:
            lines += [f"  {verdict}", f"  {UNPAIRED_NOTE}"]
        return "\n".join(lines)

    def verdict(self) -> str:
        """Whether this mask's median differs from the fully trainable step's beyond the spread.

        Returns:
            ``"within the spread: no difference shown"`` when the two medians
            differ by less than the larger of the two IQRs, else which is
            shorter; empty before both were measured, or for the fully
            trainable mask itself.
        """
        mine, reference = self.measurement, self.reference
        if mine is None or reference is None or not mine.steps or mine is reference:
            return ""
        gap = mine.median_ms - reference.median_ms
        spread = max(mine.spread_ms, reference.spread_ms)
        if abs(gap) < spread:
            return (
                "within the spread: no difference shown (medians "
                f"{abs(gap):.1f} ms apart, IQRs {mine.spread_ms:.1f} and "
                f"{reference.spread_ms:.1f} ms)"
            )
        side = "shorter" if gap < 0 else "longer"
        return (
            f"{side} than the fully trainable step by {abs(gap):.1f} ms, beyond both IQRs "
            f"({mine.spread_ms:.1f} and {reference.spread_ms:.1f} ms)"
        )


def live_readout(timer: LiveTimer, mask: dict[str, bool]) -> LiveReadout:
    """Gathers what the panel shows about step time for ``mask`` (no timing runs).

    Args:
        timer: The panel's `LiveTimer`.
        mask: The current mask.

    Returns:
        A `LiveReadout`.
    """
    text = mask_to_text(mask)
    found = timer.measurements.get(text)
    reference = timer.reference
    points = tuple(
        (m.mask_text, m.predicted_fraction, m.median_ms / reference.median_ms)
        for m in timer.measurements.values()
        if m.steps and reference is not None
    )
    return LiveReadout(
        mask_text=text,
        predicted_fraction=timer.predicted_fraction(mask),
        predicted_ms=timer.predicted_ms(mask),
        measurement=found if found is not None and found.steps else None,
        measured_fraction=timer.measured_fraction(mask),
        points=points,
        device=timer.device,
        reference=reference,
    )


class _WholeRun:
    """Turns the reports of each `LiveTimer.measure` call into reports of the whole run.

    ``done`` counts every step of the run so far; ``total`` adds the steps
    still planned, so the fraction moves forward across calls (it can only
    stall when a tick adds work).
    """

    def __init__(self, progress: Progress):
        self.progress = progress
        self.steps_before = 0
        self.planned = 0

    def report(self, done: float, total: float | None = None, what: str = "") -> None:
        self.progress.report(self.steps_before + done, self.steps_before + self.planned, what)


def follow_mask(
    timer: LiveTimer,
    wanted: Callable[[], dict[str, bool]],
    progress: Progress,
    first_steps: int = 3,
    max_steps: int = 10,
    on_update: Callable[[], None] | None = None,
) -> None:
    """Times whatever mask ``wanted()`` returns, following it as it changes.

    First the fully trainable mask (the reference for fractions), then the
    current mask to ``first_steps``; then it refines the current mask two
    steps at a time up to ``max_steps``; last it brings the reference to
    ``max_steps`` too, so the measured fraction compares medians of as many
    steps each. After each batch of steps it asks ``wanted()`` again, so a
    tick during timing moves the work to the new mask within one step.
    Returns when the current mask and the reference have ``max_steps``; the
    last report then names what was timed ("timed this mask and the fully
    trainable step, 10 steps each").

    Args:
        timer: The `LiveTimer`.
        wanted: Returns the mask to time now (read from another thread).
        progress: For reports and cancelling.
        first_steps: Steps before the first figure is shown.
        max_steps: Steps after which a mask is left alone.
        on_update: Called after every batch of steps (to redraw).

    Raises:
        freezelab.progress.Cancelled: When cancelled.
    """
    run = _WholeRun(progress)
    while True:
        mask = dict(wanted())
        target = timer.full_mask if timer.reference is None else mask
        done = _steps_done(timer, target)
        if done >= max_steps:  # The current mask is done: level the reference with it.
            target = timer.full_mask
            done = _steps_done(timer, target)
            if done >= max_steps:
                # The job's last line names both: "timed the fully trainable step" alone
                # read as if the learner's own mask had not been timed.
                both = mask_to_text(mask) != mask_to_text(timer.full_mask)
                timed = (
                    "this mask and the fully trainable step" if both else "the fully trainable step"
                )
                progress.report(
                    run.steps_before, run.steps_before, f"timed {timed}, {max_steps} steps each"
                )
                return
            steps = max_steps - done  # in one go: one compile
        else:
            steps = first_steps - done if done < first_steps else min(2, max_steps - done)
        run.planned = _steps_left(timer, mask, max_steps)
        label = "the fully trainable step" if target is timer.full_mask else "this mask"
        timer.measure(target, steps=steps, progress=run, label=label)
        run.steps_before += steps
        if on_update is not None:
            on_update()


def _steps_done(timer: LiveTimer, mask: dict[str, bool]) -> int:
    """Timed steps of ``mask`` so far (0 before its first)."""
    found = timer.measurements.get(mask_to_text(mask))
    return found.steps if found is not None else 0


def _steps_left(timer: LiveTimer, mask: dict[str, bool], max_steps: int) -> int:
    """Steps `follow_mask` still plans: ``mask`` and the reference, each to ``max_steps``."""
    left = max(max_steps - _steps_done(timer, mask), 0)
    if mask_to_text(mask) != mask_to_text(timer.full_mask):
        left += max(max_steps - _steps_done(timer, timer.full_mask), 0)
    return left
