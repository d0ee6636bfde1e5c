"""Fine-tuning a network with BatchNormalization: arms compared over seeds, and the guide's recipe.

Two experiments for the BatchNorm lesson:

* `compare_arms` trains several **arms** on the same seeds, each seed on its
  own data split that every arm of that seed shares (paired). An arm is a
  function the lesson writes in plain Keras: it gets a fresh pretrained base
  and the preprocessed training images and returns the model to train (BN
  statistics left to update, BN layers that always use their stored
  statistics, BN layers frozen, a frozen base...). The helper only compiles,
  fits, evaluates and measures what moved; optionally it also re-estimates the
  BN statistics on the training images afterwards, with no weight update, and
  evaluates again, and it can do both after every epoch without changing the
  training (the statistics are put back before the next epoch). Verdicts come from `freezelab.verdicts.paired_verdict` on
  the per-seed numbers (`ArmComparison.values`).
* `run_guide_recipe` follows the Keras transfer-learning guide: a nested base
  called as ``base(inputs, training=False)`` (`nested_classifier`), trained
  with the base frozen, then unfrozen and recompiled at a low learning rate,
  beside variants without ``training=False`` and with the BN layers frozen
  again after unfreezing. It records, per phase, whether the BN statistics
  moved and whether the model still ran in inference mode, so the guide's
  promise can be checked on the installed Keras.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import keras
import numpy as np

from freezelab._validation import check_bool, check_int, check_str
from freezelab.core.accounting import count_params
from freezelab.core.freezing import get_mask
from freezelab.finetune.batchnorm import (
    bn_change,
    bn_layers,
    bn_snapshot,
    freeze_bn,
    reestimate_bn_statistics,
    training_inference_gap,
)
from freezelab.finetune.drift import snapshot_weights, verify_frozen_unchanged, weight_drift
from freezelab.finetune.strategies import Budget, SplitData, preprocess_images

if TYPE_CHECKING:
    from freezelab.sources.data import TargetDataset

#: The lesson's three ways through the guide: (training_false, freeze_bn_after_unfreezing).
GUIDE_VARIANTS = ((True, False), (False, False), (True, True))
#: What `ArmComparison.values` can return per run.
ARM_METRICS = ("val_accuracy", "reestimated_val_accuracy", "train_accuracy", "seconds")
#: What `ArmComparison.epoch_values` can return per run and epoch.
EPOCH_METRICS = ("val_accuracy", "reestimated_val_accuracy")
_MOVING = ("moving_mean", "moving_variance")
_AFFINE = ("gamma", "beta")
_MODE_PROBE = 32

#: An arm: (fresh pretrained base, preprocessed training images) -> model to train.
ArmBuilder = Callable[[keras.Model, np.ndarray], keras.Model]


@dataclass(frozen=True)
class ArmRun:
    """One arm trained on one seed by `compare_arms`.

    Attributes:
        arm: The arm's name.
        seed: Seed of the data split, the head's initial weights and the batch order.
        val_accuracy: Validation accuracy after training (inference mode).
        train_accuracy: Training accuracy of the last epoch, as ``fit()`` reports it.
        reestimated_val_accuracy: Validation accuracy after re-estimating the
            BN statistics on the training images (no weight update); None when
            not asked for. Equal to ``val_accuracy`` for an arm whose BN layers
            never run in training mode.
        moving_change: Largest change of any BN moving mean or variance during ``fit()``.
        affine_change: Largest change of any BN gamma or beta during ``fit()``.
        trainable_params: Parameters the optimizer updated.
        seconds: Wall-clock time of ``fit()`` (for an arm's first seed,
            tracing the train function included; with per-epoch evaluation,
            that included).
        epoch_val_accuracy: Validation accuracy after each epoch, as trained;
            None unless ``compare_arms(..., eval_every_epoch=True)``.
        epoch_reestimated_val_accuracy: Validation accuracy after each epoch
            with the BN statistics re-estimated on the training images (then
            put back, so training goes on unchanged); None unless asked for.
    """

    arm: str
    seed: int
    val_accuracy: float
    train_accuracy: float
    reestimated_val_accuracy: float | None
    moving_change: float
    affine_change: float
    trainable_params: int
    seconds: float
    epoch_val_accuracy: tuple[float, ...] | None = None
    epoch_reestimated_val_accuracy: tuple[float, ...] | None = None


@dataclass(frozen=True)
class ArmComparison:
    """Every arm of `compare_arms` on the same seeds, one run per (arm, seed).

    Attributes:
        arms: The arm names, in the order given.
        seeds: The seeds, in order.
        runs: The runs, arm by arm, each arm's seeds in order.
    """

    arms: tuple[str, ...]
    seeds: tuple[int, ...]
    runs: tuple[ArmRun, ...]

    def of_arm(self, arm: str) -> list[ArmRun]:
        """The runs of one arm, in seed order.

        Raises:
            ValueError: For an arm not in the comparison.
        """
        if arm not in self.arms:
            raise ValueError(f"arm must be one of {self.arms}. Received: arm={arm!r}")
        return [run for run in self.runs if run.arm == arm]

    def values(self, arm: str, metric: str = "val_accuracy") -> list[float]:
        """One number per seed, in seed order: pass two arms' to `paired_verdict`.

        Args:
            arm: An arm name.
            metric: One of `ARM_METRICS`.

        Returns:
            The metric of each of the arm's runs.

        Raises:
            ValueError: For an unknown arm or metric, or re-estimated accuracy
                that was not measured.
        """
        if metric not in ARM_METRICS:
            raise ValueError(f"metric must be one of {ARM_METRICS}. Received: metric={metric!r}")
        numbers = [getattr(run, metric) for run in self.of_arm(arm)]
        if any(number is None for number in numbers):
            raise ValueError(
                f"{metric} was not measured: run compare_arms(..., reestimate=True). "
                f"Received: metric={metric!r}"
            )
        return [float(number) for number in numbers]

    def epoch_values(self, arm: str, metric: str = "val_accuracy") -> list[list[float]]:
        """Per epoch, one number per seed in seed order: pair two arms' epoch by epoch.

        Args:
            arm: An arm name.
            metric: One of `EPOCH_METRICS`.

        Returns:
            ``result[epoch][seed_index]``, epochs from the first.

        Raises:
            ValueError: For an unknown arm or metric, or a comparison run
                without ``eval_every_epoch=True``.
        """
        if metric not in EPOCH_METRICS:
            raise ValueError(f"metric must be one of {EPOCH_METRICS}. Received: metric={metric!r}")
        per_run = [getattr(run, f"epoch_{metric}") for run in self.of_arm(arm)]
        if any(values is None for values in per_run):
            raise ValueError(
                "Per-epoch accuracy was not measured: run compare_arms(..., "
                f"eval_every_epoch=True). Received: arm={arm!r}"
            )
        return [list(values) for values in zip(*per_run)]

    def table(self, metric: str = "val_accuracy") -> str:
        """Each seed on a line with every arm's value, then the median per arm."""
        width = max(14, *(len(arm) + 2 for arm in self.arms))
        columns = {arm: self.values(arm, metric) for arm in self.arms}
        lines = [f"{'seed':>6}" + "".join(f"{arm:>{width}}" for arm in self.arms)]
        for index, seed in enumerate(self.seeds):
            lines.append(
                f"{seed:>6}" + "".join(f"{columns[arm][index]:>{width}.3f}" for arm in self.arms)
            )
        lines.append(
            f"{'median':>6}"
            + "".join(f"{float(np.median(columns[arm])):>{width}.3f}" for arm in self.arms)
        )
        return "\n".join(lines)


def compare_arms(
    make_base: Callable[[], keras.Model],
    make_dataset: Callable[[int], SplitData | TargetDataset],
    arms: Mapping[str, ArmBuilder],
    budget: Budget | None = None,
    seeds: Sequence[int] = (0, 1, 2, 3, 4),
    *,
    reestimate: bool = False,
    eval_every_epoch: bool = False,
    verbose: int = 0,
) -> ArmComparison:
    """Trains every arm on every seed, each seed on its own data split, and measures BN.

    For each seed, ``make_dataset(seed)`` gives the split that every arm of
    that seed trains and is evaluated on, so the arms are paired. For each
    arm and seed: the seed is set (Keras, NumPy, Python), the arm builds its
    model from ``make_base()`` and the preprocessed training images, and the
    model is compiled with Adam at ``budget.learning_rate``; the seed is set
    again right before ``fit()``, so every arm of a seed sees the same batch
    order whatever its builder drew; the model is fitted for
    ``budget.epochs`` and evaluated on the validation images. After each run,
    every layer the arm froze is checked to have moved exactly zero, moving
    statistics included. With ``reestimate=True`` the BN statistics are then
    re-estimated on the training images (`reestimate_bn_statistics`: no
    weight update) and the model is evaluated again.

    With ``eval_every_epoch=True``, after every epoch the model is evaluated
    as trained and again with its BN statistics re-estimated on the training
    images; then the statistics are put back exactly, so the training, and
    every number measured after ``fit()``, is the same as without it.

    Each seed starts exactly as a fresh model would, but one compiled model
    serves all seeds of an arm (the fresh model's weights and a fresh
    optimizer state are loaded into it), so ``fit()`` traces its train
    function once per arm rather than once per run.

    Args:
        make_base: Returns a fresh pretrained base each call.
        make_dataset: Seed to the data split of that seed: anything with
            ``x_train, y_train, x_val, y_val, num_classes`` (images RGB in
            0..255, caffe-preprocessed here; integer labels).
        arms: Arm name to a function ``(base, x_train) -> model`` that returns
            the (uncompiled) model to train; it must set the same trainable
            flags for every seed.
        budget: Epochs, batch size, learning rate.
        seeds: One run per arm and seed.
        reestimate: Also measure validation accuracy after re-estimating the
            BN statistics on the training images.
        eval_every_epoch: Also record both accuracies after every epoch
            (`ArmComparison.epoch_values`).
        verbose: Passed to ``fit()``.

    Returns:
        An `ArmComparison`.

    Raises:
        ValueError: For no arm, an arm name that is not a non-empty string or
            a builder that is not callable, or ``seeds`` that are empty,
            repeated or not non-negative ints.
        RuntimeError: If an arm's builder returns different trainable sets
            for different seeds, or a frozen layer moved (not expected).
    """
    if not isinstance(arms, Mapping) or not arms:
        raise ValueError(f"arms needs at least one name -> builder. Received: arms={arms!r}")
    for name, build in arms.items():
        check_str(name, "arm name")
        if not callable(build):
            raise ValueError(f"Each arm needs a callable builder. Received: {name!r} -> {build!r}")
    seeds = _check_seeds(seeds)
    reestimate = check_bool(reestimate, "reestimate")
    eval_every_epoch = check_bool(eval_every_epoch, "eval_every_epoch")
    budget = budget or Budget()
    splits = {seed: _prepared(make_dataset(seed)) for seed in seeds}
    runs = []
    for name, build in arms.items():
        model, optimizer_start, flags = None, [], []
        for seed in seeds:
            x_train, y_train, x_val, y_val = splits[seed]
            keras.utils.set_random_seed(seed)
            fresh = build(make_base(), x_train)
            fresh_flags = [tuple(v.shape) for v in fresh.trainable_weights]
            if model is None:
                model, flags = fresh, fresh_flags
                _compile(model, budget.learning_rate)
                model.optimizer.build(model.trainable_variables)
                optimizer_start = [np.array(v) for v in model.optimizer.variables]
            else:
                if fresh_flags != flags:
                    raise RuntimeError(
                        f"Arm {name!r} built a different trainable set for seed {seed}: "
                        "a builder must freeze the same layers every time. "
                        f"Received: {len(fresh_flags)} trainable variables, expected {len(flags)}"
                    )
                model.set_weights(fresh.get_weights())
                for variable, value in zip(model.optimizer.variables, optimizer_start):
                    variable.assign(value)
            runs.append(
                _fit_and_measure(
                    model,
                    name,
                    seed,
                    (x_train, y_train, x_val, y_val),
                    budget,
                    (reestimate, eval_every_epoch),
                    verbose,
                )
            )
    return ArmComparison(tuple(arms), tuple(seeds), tuple(runs))


def _prepared(dataset) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    return (
        preprocess_images(dataset.x_train),
        np.asarray(dataset.y_train),
        preprocess_images(dataset.x_val),
        np.asarray(dataset.y_val),
    )


class _EpochEvaluation(keras.callbacks.Callback):
    """After each epoch: accuracy as trained, and with BN re-estimated then put back."""

    def __init__(self, x_train, x_val, y_val, evaluate):
        super().__init__()
        self.arrays, self.evaluate = (x_train, x_val, y_val), evaluate
        self.as_trained, self.reestimated = [], []

    def on_epoch_end(self, epoch, logs=None):
        x_train, x_val, y_val = self.arrays
        model = self.model
        self.as_trained.append(float(model.evaluate(x_val, y_val, **self.evaluate)["accuracy"]))
        kept = bn_snapshot(model)
        reestimate_bn_statistics(model, x_train)
        self.reestimated.append(float(model.evaluate(x_val, y_val, **self.evaluate)["accuracy"]))
        for layer in bn_layers(model):
            for kind in _MOVING:
                getattr(layer, kind).assign(kept[layer.name][kind])


def _fit_and_measure(model, name, seed, arrays, budget, options, verbose) -> ArmRun:
    x_train, y_train, x_val, y_val = arrays
    reestimate, eval_every_epoch = options
    evaluate = dict(batch_size=max(budget.batch_size, 64), verbose=0, return_dict=True)
    epochs = _EpochEvaluation(x_train, x_val, y_val, evaluate) if eval_every_epoch else None
    mask = get_mask(model)
    before, weights_before = bn_snapshot(model), snapshot_weights(model)
    # Reseeded here, after the builder ran: every arm of a seed sees the same batch order,
    # whatever its builder drew (Keras 3.15.1 shuffles with TF's global seed on TensorFlow and
    # with NumPy's global generator on JAX and torch).
    keras.utils.set_random_seed(seed)
    start = time.perf_counter()
    history = model.fit(
        x_train,
        y_train,
        epochs=budget.epochs,
        batch_size=budget.batch_size,
        verbose=verbose,
        callbacks=[epochs] if epochs else None,
    )
    seconds = time.perf_counter() - start
    verify_frozen_unchanged(weight_drift(weights_before, model, mask=mask))
    change = bn_change(before, model)
    val_accuracy = float(model.evaluate(x_val, y_val, **evaluate)["accuracy"])
    reestimated = None
    if reestimate:
        reestimate_bn_statistics(model, x_train)
        reestimated = float(model.evaluate(x_val, y_val, **evaluate)["accuracy"])
    return ArmRun(
        arm=name,
        seed=seed,
        val_accuracy=val_accuracy,
        train_accuracy=float(history.history["accuracy"][-1]),
        reestimated_val_accuracy=reestimated,
        moving_change=max(change.get(kind, 0.0) for kind in _MOVING),
        affine_change=max(change.get(kind, 0.0) for kind in _AFFINE),
        trainable_params=count_params(model).trainable,
        seconds=seconds,
        epoch_val_accuracy=tuple(epochs.as_trained) if epochs else None,
        epoch_reestimated_val_accuracy=tuple(epochs.reestimated) if epochs else None,
    )


@dataclass(frozen=True)
class GuidePhase:
    """One phase of `run_guide_recipe`.

    Attributes:
        name: ``"head only"`` (base frozen) or ``"base unfrozen"``.
        trainable_params: Parameters the optimizer updated in this phase.
        mode_gap: `training_inference_gap` of the model at the start of the
            phase: 0.0 means ``fit()``'s training-mode calls run the base in
            inference mode.
        moving_change: Largest change of a BN moving mean or variance during the phase.
        affine_change: Largest change of a BN gamma or beta during the phase.
    """

    name: str
    trainable_params: int
    mode_gap: float
    moving_change: float
    affine_change: float


@dataclass(frozen=True)
class GuideRun:
    """The outcome of `run_guide_recipe`.

    Attributes:
        label: Describes the variant.
        training_false: Whether the base was called with ``training=False``.
        freeze_bn_after_unfreezing: Whether the BN layers were set
            ``trainable=False`` again after ``base.trainable = True``.
        phases: The two phases, in order.
    """

    label: str
    training_false: bool
    freeze_bn_after_unfreezing: bool
    phases: tuple[GuidePhase, ...]

    @property
    def kept_inference_mode(self) -> bool:
        """True when the BN statistics stayed put and the mode gap was 0 after unfreezing."""
        unfrozen = self.phases[-1]
        return unfrozen.moving_change == 0.0 and unfrozen.mode_gap == 0.0


def nested_classifier(
    base: keras.Model,
    num_classes: int,
    training: bool | None = False,
    name: str | None = None,
) -> keras.Model:
    """The Keras transfer-learning guide's model: the base nested as one layer.

    Builds::

        inputs = keras.Input(shape=base.input.shape[1:])
        x = base(inputs, training=False)      # training=None: base(inputs)
        x = keras.layers.GlobalAveragePooling2D()(x)
        outputs = keras.layers.Dense(num_classes, activation="softmax")(x)

    Args:
        base: A conv base.
        num_classes: Outputs of the softmax layer.
        training: ``False`` (the guide's way), ``True``, or None to call the
            base without a ``training`` argument.
        name: Model name.

    Returns:
        The model; ``model.layers[1]`` is the base.

    Raises:
        ValueError: If ``training`` is not True, False or None, or
            ``num_classes`` is not a positive int.
    """
    if not any(training is choice for choice in (True, False, None)):
        raise ValueError(f"training must be True, False or None. Received: training={training!r}")
    num_classes = check_int(num_classes, "num_classes", minimum=1)
    inputs = keras.Input(shape=base.input.shape[1:], name="image")
    x = base(inputs) if training is None else base(inputs, training=training)
    x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name=name or f"{base.name}_nested")


def run_guide_recipe(
    make_base: Callable[[], keras.Model],
    dataset: SplitData | TargetDataset,
    budget: Budget | None = None,
    *,
    variants: Sequence[tuple[bool, bool]] = GUIDE_VARIANTS,
    seed: int = 0,
    verbose: int = 0,
) -> list[GuideRun]:
    """Runs the guide's two phases on a nested BN base and measures BN in each.

    Phase 1 ("head only"): ``base.trainable = False``, compile at
    ``budget.learning_rate``, fit ``budget.head_epochs`` (default half the
    epochs). Phase 2 ("base unfrozen"): ``base.trainable = True`` (and, for a
    variant that asks, every BN layer back to ``trainable=False``), recompile
    with a fresh optimizer at ``budget.fine_tune_learning_rate``, fit the
    remaining epochs.

    While the base is frozen, every variant computes the same thing, so phase 1
    is trained once, on the guide's model (``training=False``); each variant's
    own model gets those weights, its phase-1 mode is measured on itself, and
    it runs phase 2 on its own. No validation runs: the measurements are of
    BN, not of accuracy.

    Args:
        make_base: Returns a fresh pretrained BN base each call.
        dataset: Anything with ``x_train, y_train, num_classes``.
        budget: Epochs, batch size and the two learning rates.
        variants: ``(training_false, freeze_bn_after_unfreezing)`` pairs:
            call the base as ``base(inputs, training=False)`` or as
            ``base(inputs)``, and set the BN layers ``trainable=False`` after
            unfreezing the base or not. The default: the guide's, the same
            without ``training=False``, and the guide's with BN frozen again.
        seed: Seeds Keras, NumPy and Python.
        verbose: Passed to ``fit()``.

    Returns:
        One `GuideRun` per variant, in order.

    Raises:
        ValueError: If a variant is not a pair of True/False values, there is
            none, or ``seed`` is negative.
    """
    checked = []
    for variant in variants:
        if not isinstance(variant, tuple | list) or len(variant) != 2:
            raise ValueError(
                "Each variant is a pair (training_false, freeze_bn_after_unfreezing). "
                f"Received: {variant!r}"
            )
        checked.append(
            (
                check_bool(variant[0], "training_false"),
                check_bool(variant[1], "freeze_bn_after_unfreezing"),
            )
        )
    if not checked:
        raise ValueError(f"Pass at least one variant. Received: variants={variants!r}")
    seed = check_int(seed, "seed", minimum=0)
    budget = budget or Budget()
    head_epochs = budget.head_epochs or budget.epochs // 2
    x_train, y_train = preprocess_images(dataset.x_train), np.asarray(dataset.y_train)
    probe = x_train[:_MODE_PROBE]
    fit_args = dict(batch_size=budget.batch_size, verbose=verbose)

    keras.utils.set_random_seed(seed)
    base = make_base()
    base.trainable = False
    guide_model = nested_classifier(base, dataset.num_classes, training=False)
    _compile(guide_model, budget.learning_rate)
    before = bn_snapshot(guide_model)
    guide_model.fit(x_train, y_train, epochs=head_epochs, **fit_args)
    head_change = bn_change(before, guide_model)
    head_weights = guide_model.get_weights()
    head_params = count_params(guide_model).trainable

    runs = []
    for training_false, refreeze in checked:
        base = make_base()
        base.trainable = False
        model = nested_classifier(
            base, dataset.num_classes, training=False if training_false else None
        )
        model.set_weights(head_weights)
        head = GuidePhase(
            name="head only",
            trainable_params=head_params,
            mode_gap=training_inference_gap(model, probe),
            moving_change=max(head_change.get(kind, 0.0) for kind in _MOVING),
            affine_change=max(head_change.get(kind, 0.0) for kind in _AFFINE),
        )
        base.trainable = True
        if refreeze:
            freeze_bn(base)
        _compile(model, budget.fine_tune_learning_rate)
        mode_gap = training_inference_gap(model, probe)
        before = bn_snapshot(model)
        model.fit(x_train, y_train, epochs=budget.epochs - head_epochs, **fit_args)
        change = bn_change(before, model)
        unfrozen = GuidePhase(
            name="base unfrozen",
            trainable_params=count_params(model).trainable,
            mode_gap=mode_gap,
            moving_change=max(change.get(kind, 0.0) for kind in _MOVING),
            affine_change=max(change.get(kind, 0.0) for kind in _AFFINE),
        )
        call = "base(inputs, training=False)" if training_false else "base(inputs)"
        label = call + (", then freeze_bn(base)" if refreeze else "")
        runs.append(GuideRun(label, training_false, refreeze, (head, unfrozen)))
    return runs


def _check_seeds(seeds: Sequence[int]) -> list[int]:
    if isinstance(seeds, int | np.integer) and not isinstance(seeds, bool):
        seeds = (seeds,)
    if not isinstance(seeds, tuple | list | range) or not seeds:
        raise ValueError(f"seeds must be a non-empty list of ints. Received: seeds={seeds!r}")
    checked = [check_int(seed, "seeds", minimum=0) for seed in seeds]
    if len(set(checked)) != len(checked):
        raise ValueError(f"seeds must not repeat. Received: seeds={seeds!r}")
    return checked


def _compile(model: keras.Model, learning_rate: float) -> None:
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
