"""Fine-tuning strategies compared on the same data, starting weights, batches and steps.

`compare_peft_strategies` trains one model per strategy of
`freezelab.core.peft.apply_strategy` (head only, top blocks, BitFit, LoRA,
full) for every seed, and records validation accuracy after every epoch and
the seconds spent in training steps. Each seed is one pair across the arms:
the same images (``make_data(seed)``), the same starting weights
(``make_model(seed)``, built after ``keras.utils.set_random_seed(seed)``),
the same batch order (the seed is set again before ``fit()``) and the same
number of steps. Only the strategy and its learning rate differ.

An arm given several learning rates picks one first: it trains from a
separate tuning seed at each rate (same data, head, batches and steps) and
keeps the rate with the highest final validation accuracy there; the
compared seeds then run at that rate only, so no compared seed takes part
in the choice.

Tracing a training step costs seconds on TensorFlow, more than a short run
itself, so each arm is compiled once: a warm-up step traces it, then every
seed loads its own starting weights into that model and resets the
optimizer's variables (moments and step counter) to their values before
any step. The tests check that a seed trained this way ends with the same
weights as one trained on a freshly built and compiled model.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import keras
import numpy as np

from freezelab._validation import check_float, check_int, check_str
from freezelab.core.peft import (
    PEFT_STRATEGIES,
    StrategyResult,
    apply_strategy,
    lora_layer_paths,
    merge_lora,
)

#: ``make_data(seed)`` returns ``(x_train, y_train, x_val, y_val)``, ready for the model.
DataFactory = Callable[[int], tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class PeftArm:
    """One strategy of a comparison, with its learning rate or the rates to choose from.

    Attributes:
        label: A unique name for tables, e.g. ``"LoRA r=4"``.
        strategy: One of `freezelab.core.peft.PEFT_STRATEGIES`.
        learning_rates: Adam's learning rate for every trainable variable of
            the arm, or several: the one that does best on the tuning seed is used.
        rank: The LoRA rank (``"lora"`` only).
        top_blocks: How many of the last blocks train (``"top_blocks"`` only).
    """

    label: str
    strategy: str
    learning_rates: tuple[float, ...]
    rank: int = 4
    top_blocks: int = 1

    def apply(self, model: keras.Model) -> StrategyResult:
        """Applies this arm's strategy to ``model`` (see `apply_strategy`)."""
        return apply_strategy(model, self.strategy, top_blocks=self.top_blocks, rank=self.rank)


@dataclass(frozen=True)
class PeftRun:
    """One arm trained from one seed.

    Attributes:
        label: The arm's label.
        seed: The seed (images, starting weights, batch order).
        steps: Training steps done at each check (one check per epoch).
        val_accuracy: Validation accuracy at each check.
        train_seconds: Wall time of the epochs' training parts (from each
            epoch's start to its validation), summed up to each check.
        start_fingerprint: Sum of the output layer's starting kernel: equal
            across arms for the same seed.
        frozen_changed: Variables that were not trainable and changed in
            ``fit()`` (0 when freezing held).
    """

    label: str
    seed: int
    steps: tuple[int, ...]
    val_accuracy: tuple[float, ...]
    train_seconds: tuple[float, ...]
    start_fingerprint: float
    frozen_changed: int

    @property
    def final_accuracy(self) -> float:
        """Validation accuracy after the last step."""
        return self.val_accuracy[-1]

    @property
    def ms_per_step(self) -> float:
        """Mean milliseconds per training step over the run."""
        return 1000.0 * self.train_seconds[-1] / self.steps[-1]

    def steps_to(self, target: float) -> int | None:
        """Steps done at the first check with validation accuracy >= ``target``, or None."""
        index = self._first_at(target)
        return None if index is None else self.steps[index]

    def seconds_to(self, target: float) -> float | None:
        """Training seconds until the first check at ``target`` or above, or None."""
        index = self._first_at(target)
        return None if index is None else self.train_seconds[index]

    def _first_at(self, target: float) -> int | None:
        return next(
            (index for index, value in enumerate(self.val_accuracy) if value >= target), None
        )


@dataclass(frozen=True)
class PeftComparison:
    """The runs of `compare_peft_strategies`.

    Attributes:
        arms: The arms, in the order given.
        seeds: The seeds, in the order run.
        runs: Arm label -> one `PeftRun` per seed, in seed order.
        results: Arm label -> what its strategy left trainable.
        models: Arm label -> its model, holding the last seed's trained weights.
        target_accuracy: The accuracy `steps_to` and `seconds_to` read.
        rates: Arm label -> the learning rate its compared seeds ran at.
        tuning: Arm label -> ``{rate: final validation accuracy}`` on the
            tuning seed; empty for an arm given one rate.
        tuning_seed: The seed the rates were chosen on, or None.
    """

    arms: tuple[PeftArm, ...]
    seeds: tuple[int, ...]
    runs: dict[str, list[PeftRun]]
    results: dict[str, StrategyResult]
    models: dict[str, keras.Model]
    target_accuracy: float
    rates: dict[str, float]
    tuning: dict[str, dict[float, float]]
    tuning_seed: int | None

    def values(self, label: str, key: str = "final_accuracy") -> list[float]:
        """One number per seed for an arm: an `PeftRun` attribute such as ``"ms_per_step"``.

        Raises:
            ValueError: For an unknown label or key.
        """
        if label not in self.runs:
            raise ValueError(f"Unknown arm; expected one of {list(self.runs)}. Received: {label!r}")
        if key not in ("final_accuracy", "ms_per_step"):
            raise ValueError(
                f"key must be 'final_accuracy' or 'ms_per_step'. Received: key={key!r}"
            )
        return [float(getattr(run, key)) for run in self.runs[label]]

    def table(self, step_ms: dict[str, float] | None = None) -> str:
        """One row per arm: trainable share, accuracy, steps and time to the target.

        Args:
            step_ms: Arm label -> a step time in milliseconds measured elsewhere
                (e.g. `time_strategies`' interleaved medians). When given, the
                table's ms/step is that figure and the time to the target is
                steps × that figure; otherwise both come from ``fit()``'s own
                epoch clock (each epoch's training wall time, start-up
                included).

        Returns:
            The table as text.

        Raises:
            ValueError: When ``step_ms`` lacks an arm or holds a time that is
                not positive.
        """
        if step_ms is not None:
            labels = [arm.label for arm in self.arms]
            if any(label not in step_ms or not float(step_ms[label]) > 0 for label in labels):
                raise ValueError(
                    f"step_ms needs a positive time for every arm {labels}. "
                    f"Received: step_ms={step_ms!r}"
                )
        target = self.target_accuracy
        clock = "s" if step_ms is None else "s at that ms/step"
        lines = [
            f"{'arm':<14}{'lr':>7}{'trainable':>11}{'share':>9}{'accuracy':>10}"
            f"{'range':>13}{'ms/step':>9}   reached {target:g}: steps (lowest-highest), {clock} "
            "(medians of those reaching)"
        ]
        for arm in self.arms:
            runs = self.runs[arm.label]
            result = self.results[arm.label]
            accuracy = [run.final_accuracy for run in runs]
            reached = [s for s in (run.steps_to(target) for run in runs) if s is not None]
            if step_ms is None:
                per_step = float(np.median([run.ms_per_step for run in runs]))
                timed = [s for s in (run.seconds_to(target) for run in runs) if s is not None]
            else:
                per_step = float(step_ms[arm.label])
                timed = [steps * per_step / 1000.0 for steps in reached]
            to_target = (
                f"{len(reached)} of {len(runs)}: {np.median(reached):.0f} steps "
                f"({min(reached)}-{max(reached)}), "
                f"{np.median(timed):.1f} s"
                if reached
                else f"0 of {len(runs)}"
            )
            lines.append(
                f"{arm.label:<14}{self.rates[arm.label]:>7g}{result.trainable_params:>11,}"
                f"{100 * result.trainable_share:>8.2f}%{np.median(accuracy):>10.3f}"
                f"{f'{min(accuracy):.3f}-{max(accuracy):.3f}':>13}"
                f"{per_step:>9.1f}   {to_target}"
            )
        return "\n".join(lines)


class _EpochClock(keras.callbacks.Callback):
    """Wall time of each epoch's training part: from the epoch's start to its validation.

    No per-batch hooks: on TensorFlow they cost about a tenth of a short step.
    """

    def __init__(self):
        super().__init__()
        self.epoch_seconds: list[float] = []
        self._start = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_test_begin(self, logs=None):
        self.epoch_seconds.append(time.perf_counter() - self._start)


def compare_peft_strategies(
    make_model: Callable[[int], keras.Model],
    make_data: DataFactory,
    arms: Sequence[PeftArm],
    seeds: Sequence[int],
    *,
    epochs: int,
    batch_size: int = 32,
    target_accuracy: float = 0.9,
    tuning_seed: int | None = None,
    verbose: bool = True,
) -> PeftComparison:
    """Trains every arm from every seed, paired, and records accuracy and step time.

    Args:
        make_model: ``make_model(seed)`` builds a fresh, built model with
            ``blockN_`` layer names and a softmax output (its starting
            weights may depend on the seed; it is called after
            ``keras.utils.set_random_seed(seed)``).
        make_data: ``make_data(seed)`` returns ``(x_train, y_train, x_val,
            y_val)`` with integer labels.
        arms: The strategies, with unique labels.
        seeds: At least one seed, no repeats.
        epochs: Epochs per run; validation accuracy is read after each.
        batch_size: Examples per step.
        target_accuracy: The validation accuracy whose first crossing
            `PeftRun.steps_to` reports in `PeftComparison.table`.
        tuning_seed: The seed that arms with several learning rates choose
            their rate on (highest final validation accuracy; the lower rate
            on a tie); not one of ``seeds``. Needed only for such arms.
        verbose: Print one line per arm as it finishes.

    Returns:
        A `PeftComparison`.

    Raises:
        ValueError: For no arms, repeated labels, an unknown strategy, no
            or repeated seeds, counts below 1, a target outside (0, 1], or
            a tuning seed that is missing or among ``seeds``.
    """
    arms = _check_arms(arms)
    seeds = _check_seeds(seeds)
    epochs = check_int(epochs, "epochs", minimum=1)
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    target_accuracy = check_float(target_accuracy, "target_accuracy", above=0.0, maximum=1.0)
    tuned = any(len(arm.learning_rates) > 1 for arm in arms)
    if tuned and (tuning_seed is None or tuning_seed in seeds):
        raise ValueError(
            "Arms with several learning rates need a tuning_seed that is not one of the "
            f"compared seeds {seeds}. Received: tuning_seed={tuning_seed!r}"
        )
    if tuning_seed is not None:
        tuning_seed = check_int(tuning_seed, "tuning_seed", minimum=0)
    data = {seed: make_data(seed) for seed in [*seeds, *([tuning_seed] if tuned else [])]}
    runs, results, models, rates, tuning = {}, {}, {}, {}, {}
    for arm in arms:
        started = time.perf_counter()
        model, results[arm.label], reset = _compiled_arm(make_model, arm, seeds[0], data[seeds[0]])

        starts = {}  # seed -> starting weights: the same at every rate

        def run(seed, rate, model=model, reset=reset, arm=arm, starts=starts):
            if seed not in starts:
                starts[seed] = _starting_weights(make_model, arm, seed, model)
            return _run_seed(
                model, reset, starts[seed], arm.label, seed, rate, data[seed], epochs, batch_size
            )

        tuning[arm.label] = {}
        if len(arm.learning_rates) > 1:
            for rate in arm.learning_rates:
                tuning[arm.label][rate] = run(tuning_seed, rate).final_accuracy
            best = max(tuning[arm.label].values())
            rates[arm.label] = min(r for r, a in tuning[arm.label].items() if a == best)
        else:
            rates[arm.label] = arm.learning_rates[0]
        runs[arm.label] = [run(seed, rates[arm.label]) for seed in seeds]
        models[arm.label] = model
        if verbose:
            median = np.median([r.final_accuracy for r in runs[arm.label]])
            print(
                f"{arm.label}: rate {rates[arm.label]:g}, {len(seeds)} seeds, median validation "
                f"accuracy {median:.3f} ({time.perf_counter() - started:.0f} s)"
            )
    return PeftComparison(
        tuple(arms),
        tuple(seeds),
        runs,
        results,
        models,
        target_accuracy,
        rates,
        tuning,
        tuning_seed if tuned else None,
    )


def compile_arm(model: keras.Model, learning_rate: float) -> None:
    """Compiles ``model`` as every arm is: Adam, sparse cross-entropy, accuracy.

    ``jit_compile=False`` on every machine: Keras's ``"auto"`` turns XLA on
    only where a GPU is present (TensorFlow) or always (JAX), and XLA's
    compile would cost more than these short runs.

    Args:
        model: The model, its trainable flags set.
        learning_rate: Adam's learning rate.
    """
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        jit_compile=False,
    )


def _compiled_arm(make_model, arm, seed, data):
    keras.utils.set_random_seed(seed)
    model = make_model(seed)
    result = arm.apply(model)
    compile_arm(model, arm.learning_rates[0])
    model.optimizer.build(model.trainable_variables)
    start_state = [_numpy(variable) for variable in model.optimizer.variables]

    def reset():
        for variable, value in zip(model.optimizer.variables, start_state):
            variable.assign(value)

    x_train, y_train, x_val, y_val = data
    # Trace the training and test steps once; every seed resets weights and optimizer after.
    model.fit(x_train[:2], y_train[:2], epochs=1, batch_size=2, verbose=0)
    model.evaluate(x_val[:2], y_val[:2], verbose=0)
    return model, result, reset


def _starting_weights(make_model, arm, seed, model) -> list[np.ndarray]:
    keras.utils.set_random_seed(seed)
    fresh = make_model(seed)
    arm.apply(fresh)
    if [v.path for v in fresh.weights] != [v.path for v in model.weights]:
        raise ValueError(
            "make_model must build the same architecture for every seed. "
            f"Received: seed={seed} with weights {[v.path for v in fresh.weights][:4]}..."
        )
    return fresh.get_weights()


def _run_seed(model, reset, start, label, seed, rate, data, epochs, batch_size) -> PeftRun:
    model.set_weights(start)
    reset()
    model.optimizer.learning_rate = rate  # assigns Adam's rate variable: nothing is traced again
    frozen = {id(v): _numpy(v) for v in model.weights if not v.trainable}
    fingerprint = float(np.sum(_numpy(model.layers[-1].kernel)))
    x_train, y_train, x_val, y_val = data
    clock = _EpochClock()
    keras.utils.set_random_seed(seed)  # the same batch order in every arm
    history = model.fit(
        x_train,
        y_train,
        epochs=epochs,
        batch_size=batch_size,
        validation_data=(x_val, y_val),
        callbacks=[clock],
        verbose=0,
    )
    steps_per_epoch = -(-len(x_train) // batch_size)
    changed = sum(
        not np.array_equal(_numpy(v), frozen[id(v)]) for v in model.weights if id(v) in frozen
    )
    return PeftRun(
        label=label,
        seed=seed,
        steps=tuple(steps_per_epoch * (epoch + 1) for epoch in range(epochs)),
        val_accuracy=tuple(float(value) for value in history.history["val_accuracy"]),
        train_seconds=tuple(float(value) for value in np.cumsum(clock.epoch_seconds)),
        start_fingerprint=fingerprint,
        frozen_changed=int(changed),
    )


def _numpy(value) -> np.ndarray:
    return np.asarray(keras.ops.convert_to_numpy(value))


def merge_gap(model: keras.Model, images: np.ndarray, batch_size: int = 64) -> float:
    """The largest difference between ``model``'s outputs and its LoRA-merged copy's.

    Args:
        model: A model with LoRA enabled on some layers (see `merge_lora`).
        images: Inputs for both models.
        batch_size: Examples per forward pass.

    Returns:
        ``max |model(images) - merge_lora(model)(images)|`` over every output.

    Raises:
        ValueError: If ``model`` has no LoRA layers.
    """
    if not lora_layer_paths(model):
        raise ValueError(
            f"merge_gap needs a model with LoRA enabled. Received: model={model.name!r} without LoRA"
        )
    merged = merge_lora(model)
    before = model.predict(images, batch_size=batch_size, verbose=0)
    after = merged.predict(images, batch_size=batch_size, verbose=0)
    return float(np.max(np.abs(before - after)))


def _check_arms(arms) -> list[PeftArm]:
    arms = list(arms)
    if not arms or not all(isinstance(arm, PeftArm) for arm in arms):
        raise ValueError(f"arms must be a non-empty list of PeftArm. Received: arms={arms!r}")
    labels = [check_str(arm.label, "label") for arm in arms]
    if len(set(labels)) != len(labels):
        raise ValueError(f"Each arm needs its own label. Received: labels={labels}")
    for arm in arms:
        if arm.strategy not in PEFT_STRATEGIES:
            raise ValueError(
                f"strategy must be one of {PEFT_STRATEGIES}. Received: strategy={arm.strategy!r}"
            )
        rates = arm.learning_rates
        if not isinstance(rates, tuple) or not rates:
            raise ValueError(
                f"learning_rates must be a non-empty tuple. Received: learning_rates={rates!r}"
            )
        for rate in rates:
            check_float(rate, "learning_rates", above=0.0)
    return arms


def _check_seeds(seeds) -> list[int]:
    seeds = [check_int(seed, "seed", minimum=0) for seed in seeds]
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be one or more distinct ints. Received: seeds={seeds}")
    return seeds
