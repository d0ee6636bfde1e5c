"""Fine-tuning a network with BatchNormalization: statistics updating or kept, measured.

Two experiments for the BatchNorm lesson, each on the same data and budget:

* `fine_tune_with_bn` trains a pretrained BN base under a new head with every
  layer trainable, for each seed once with the BN layers left alone (``"updating"``: batch
  statistics in training, moving statistics adapted to the new data) and
  once with every BN layer set ``trainable=False`` (``"frozen"``: inference
  mode, the pretrained statistics kept, gamma and beta fixed).
  `compare_bn_runs` puts several seeds of both side by side and names a
  winner only when the gap between the means exceeds the spread over seeds.
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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import keras
import numpy as np

from freezelab._validation import check_bool, check_choice, check_int
from freezelab.core.accounting import count_params
from freezelab.core.freezing import get_mask
from freezelab.finetune.batchnorm import bn_change, bn_snapshot, freeze_bn, training_inference_gap
from freezelab.finetune.drift import snapshot_weights, verify_frozen_unchanged, weight_drift
from freezelab.finetune.seeds import compare_over_seeds
from freezelab.finetune.strategies import Budget, SplitData, build_classifier, preprocess_images

if TYPE_CHECKING:
    from freezelab.finetune.data import TargetDataset

BN_MODES = ("updating", "frozen")
#: The lesson's three ways through the guide: (training_false, freeze_bn_after_unfreezing).
GUIDE_VARIANTS = ((True, False), (False, False), (True, True))
_MOVING = ("moving_mean", "moving_variance")
_AFFINE = ("gamma", "beta")
_MODE_PROBE = 32


@dataclass(frozen=True)
class BNRun:
    """One fine-tuning run of `fine_tune_with_bn`.

    Attributes:
        bn_mode: ``"updating"`` or ``"frozen"``.
        seed: The seed of the head's initial weights and the shuffling.
        history: Metric name to one value per epoch (from ``fit()``).
        moving_change: Largest change of any BN moving mean or variance.
        affine_change: Largest change of any BN gamma or beta.
        trainable_params: Parameters the optimizer updated.
        seconds: Wall-clock time of ``fit()`` (for the first seed of a call,
            tracing the train function included).
    """

    bn_mode: str
    seed: int
    history: dict[str, list[float]]
    moving_change: float
    affine_change: float
    trainable_params: int
    seconds: float

    @property
    def final_val_accuracy(self) -> float:
        """Validation accuracy after the last epoch (inference mode)."""
        return self.history["val_accuracy"][-1]

    @property
    def final_train_accuracy(self) -> float:
        """Training accuracy of the last epoch, as ``fit()`` reports it."""
        return self.history["accuracy"][-1]


@dataclass(frozen=True)
class BNComparison:
    """Validation accuracy of the two BN modes over the same seeds.

    Attributes:
        seeds: The seeds, in order.
        accuracies: BN mode to its final validation accuracy per seed.
        means: BN mode to the mean over seeds.
        stds: BN mode to the sample standard deviation over seeds (ddof=1).
        gap: ``means["updating"] - means["frozen"]``.
        spread: The larger of the two standard deviations.
        winner: The better mode when ``|gap| > spread``, else None.
    """

    seeds: tuple[int, ...]
    accuracies: dict[str, tuple[float, ...]]
    means: dict[str, float]
    stds: dict[str, float]
    gap: float
    spread: float
    winner: str | None

    def table(self) -> str:
        """Each seed on a line, then mean ± standard deviation per mode."""
        header = f"{'seed':>6}" + "".join(f"{'BN ' + m:>14}" for m in BN_MODES)
        lines = [header]
        for index, seed in enumerate(self.seeds):
            lines.append(
                f"{seed:>6}" + "".join(f"{self.accuracies[m][index]:>14.3f}" for m in BN_MODES)
            )
        lines.append(
            f"{'mean':>6}"
            + "".join(f"{f'{self.means[m]:.3f} ± {self.stds[m]:.3f}':>14}" for m in BN_MODES)
        )
        return "\n".join(lines)

    def verdict(self) -> str:
        """Whether one mode won in this run, with the numbers that decide it."""
        numbers = f"gap {self.gap:+.3f}, spread {self.spread:.3f}"
        if self.winner is None:
            return f"not shown in this run (within noise: {numbers}): no BN mode won"
        return f"shown in this run: BN {self.winner} is better ({numbers})"


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


def fine_tune_with_bn(
    make_base: Callable[[], keras.Model],
    dataset: SplitData | TargetDataset,
    bn_mode: str,
    budget: Budget | None = None,
    seeds: Sequence[int] = (0,),
    verbose: int = 0,
) -> list[BNRun]:
    """Fine-tunes a pretrained BN base under a new head, BN statistics updating or frozen.

    The classifier is the base, global average pooling and a softmax layer
    (`freezelab.finetune.strategies.build_classifier` with no hidden layer).
    Every layer trains from the first step at ``budget.learning_rate``; with
    ``bn_mode="frozen"`` the BN layers are set ``trainable=False`` before
    ``compile()``. After each run, every frozen layer is checked to have moved
    exactly zero, moving statistics included.

    Each seed starts exactly as a fresh model would: the seed is set, a fresh
    base and head are built, and their weights and a fresh optimizer state
    are loaded into one compiled model, so ``fit()`` traces its train
    function once per call rather than once per seed (tracing costs more
    than a small run).

    Args:
        make_base: Returns a fresh pretrained base each call, e.g.
            ``lambda: freezelab.load_bn_teacher(32, verbose=False)``.
        dataset: Anything with ``x_train, y_train, x_val, y_val, num_classes``
            (images RGB in 0..255, integer labels).
        bn_mode: ``"updating"`` or ``"frozen"``.
        budget: Epochs, batch size, learning rate.
        seeds: One run per seed; a seed sets Keras, NumPy and Python's
            generators (head weights and shuffling).
        verbose: Passed to ``fit()``.

    Returns:
        One `BNRun` per seed, in order.

    Raises:
        ValueError: For an unknown ``bn_mode``, or ``seeds`` that are empty,
            repeated or not non-negative ints.
        RuntimeError: If a frozen layer moved (not expected).
    """
    check_choice(bn_mode, "bn_mode", BN_MODES)
    seeds = _check_seeds(seeds)
    budget = budget or Budget()
    x_train, x_val = preprocess_images(dataset.x_train), preprocess_images(dataset.x_val)
    y_train, y_val = np.asarray(dataset.y_train), np.asarray(dataset.y_val)
    model, optimizer_start, runs = None, [], []
    for seed in seeds:
        keras.utils.set_random_seed(seed)
        fresh = build_classifier(make_base(), dataset.num_classes, head_units=(), pooling="avg")
        if model is None:
            model = fresh
            if bn_mode == "frozen":
                freeze_bn(model)
            _compile(model, budget.learning_rate)
            model.optimizer.build(model.trainable_variables)
            optimizer_start = [np.array(v) for v in model.optimizer.variables]
        else:
            model.set_weights(fresh.get_weights())
            for variable, value in zip(model.optimizer.variables, optimizer_start):
                variable.assign(value)
        mask = get_mask(model)
        before, weights_before = bn_snapshot(model), snapshot_weights(model)
        start = time.perf_counter()
        run = model.fit(
            x_train,
            y_train,
            epochs=budget.epochs,
            batch_size=budget.batch_size,
            validation_data=(x_val, y_val),
            verbose=verbose,
        )
        seconds = time.perf_counter() - start
        verify_frozen_unchanged(weight_drift(weights_before, model, mask=mask))
        change = bn_change(before, model)
        runs.append(
            BNRun(
                bn_mode=bn_mode,
                seed=seed,
                history={key: [float(v) for v in values] for key, values in run.history.items()},
                moving_change=max(change.get(kind, 0.0) for kind in _MOVING),
                affine_change=max(change.get(kind, 0.0) for kind in _AFFINE),
                trainable_params=count_params(model).trainable,
                seconds=seconds,
            )
        )
    return runs


def compare_bn_runs(runs: list[BNRun]) -> BNComparison:
    """Puts runs of both BN modes over the same seeds side by side.

    Args:
        runs: `BNRun` results, one per (mode, seed), both modes on the same
            seeds, at least two seeds.

    Returns:
        A `BNComparison`; its winner is the mode with the higher mean, named
        only when the gap between the means exceeds the larger standard
        deviation (the rule of `freezelab.finetune.seeds.beyond_spread`).

    Raises:
        ValueError: If a mode is missing, the seeds differ between the modes,
            a (mode, seed) repeats, or there are fewer than two seeds.
    """
    by_mode: dict[str, dict[int, float]] = {mode: {} for mode in BN_MODES}
    for run in runs:
        if run.bn_mode not in by_mode:
            raise ValueError(f"Unknown bn_mode {run.bn_mode!r}. Received: a run of {run!r}")
        if run.seed in by_mode[run.bn_mode]:
            raise ValueError(
                f"Two runs of BN {run.bn_mode} with seed {run.seed}. Received: {len(runs)} runs"
            )
        by_mode[run.bn_mode][run.seed] = run.final_val_accuracy
    seeds = sorted(by_mode[BN_MODES[0]])
    if sorted(by_mode[BN_MODES[1]]) != seeds or len(seeds) < 2:
        raise ValueError(
            "Both BN modes need runs on the same seeds, at least two of them. Received: seeds "
            + ", ".join(f"{mode} {sorted(values)}" for mode, values in by_mode.items())
        )
    comparison = compare_over_seeds(
        {mode: [by_mode[mode][s] for s in seeds] for mode in BN_MODES}, seeds, "val accuracy"
    )
    return BNComparison(
        comparison.seeds,
        dict(comparison.values),
        dict(comparison.means),
        dict(comparison.stds),
        comparison.gap("updating", "frozen"),
        comparison.spread("updating", "frozen"),
        comparison.winner("updating", "frozen"),
    )


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
