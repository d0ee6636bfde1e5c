"""Every arm from the same trained head: strategies that differ in one thing at a time.

Per seed, the pretrained base's outputs are cached once and a new head is
trained on them until its training loss is flat (`train_head_until_flat`).
That head on the frozen base *is* feature extraction, and every other arm
starts from it: freeze the whole base (``"head_only"``: the head alone trains
on, the control for the extra head epochs), blocks 1-3 (``"freeze_blocks"``)
or nothing (``"full_fine_tuning"``), then the same ``epochs`` of whatever
trains, at each base learning rate of a sweep. A randomly initialised copy of
the base gets its own head trained until flat on its outputs (random
features) and, when a ``scratch_rate`` is given, the same epochs at that rate
(``"from_scratch"``). So an
arm differs from feature extraction only in what trains after the head, and
the learning rate is swept instead of fixed.

Every number is measured by ``evaluate()`` on the training and validation
images: the start is the trained head evaluated on the cached outputs (the
same numbers as through the whole network), the end is the whole network
after the base epochs.
One compiled model per set-up serves every seed and rate: its weights,
optimizer state and learning rate are reset before each run, so ``fit()``
traces its train function once.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import keras
import numpy as np

from freezelab._quiet import expected_retracing
from freezelab.core.freezing import freeze, get_mask
from freezelab.core.layers import iter_layers
from freezelab.finetune.drift import (
    drift_by_block,
    snapshot_weights,
    verify_frozen_unchanged,
    weight_drift,
)
from freezelab.finetune.strategies import build_classifier, preprocess_images

if TYPE_CHECKING:
    from freezelab.finetune.strategies import SplitData
    from freezelab.sources.data import TargetDataset

#: The arms, in table order; ``feature_extraction`` is the trained head itself.
ARMS = ("feature_extraction", "head_only", "freeze_blocks", "full_fine_tuning", "from_scratch")
#: The base's last block: ``"head_only"`` freezes up to it, so only the head trains.
LAST_BLOCK = "block5"
_LOSS = "sparse_categorical_crossentropy"


@dataclass(frozen=True)
class Evaluation:
    """``evaluate()`` on the training and the validation images.

    Attributes:
        train_accuracy: Accuracy on the training images.
        val_accuracy: Accuracy on the validation images.
        val_loss: Cross-entropy on the validation images.
    """

    train_accuracy: float
    val_accuracy: float
    val_loss: float


@dataclass(frozen=True)
class HeadFit:
    """A head trained on cached features until its training loss was flat.

    Attributes:
        losses: Training loss per check (Keras's running mean since the last check).
        evaluation: The head on the frozen base, after training.
        passes_per_check: Passes over the features per check (one Keras epoch).
        start_fingerprint: The sum of every head weight before training: equal
            sums mark the same starting head.
    """

    losses: tuple[float, ...]
    evaluation: Evaluation
    passes_per_check: int = 1
    start_fingerprint: float = 0.0

    @property
    def epochs(self) -> int:
        """Epochs (passes over the data) the head trained before its loss stopped falling."""
        return len(self.losses) * self.passes_per_check


@dataclass(frozen=True)
class ArmResult:
    """One arm of one seed: its start (the trained head), its end and its drift.

    Attributes:
        arm: One of `ARMS`.
        rate: The base learning rate; None for feature extraction.
        start: Before the base epochs.
        end: After them (feature extraction: the same as ``start``).
        drift: Largest relative weight change per block over the base epochs.
    """

    arm: str
    rate: float | None
    start: Evaluation
    end: Evaluation
    drift: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class HeadFirstSeed:
    """Every arm of one seed.

    Attributes:
        seed: The seed (data split, head initialisation, shuffling).
        head: The pretrained base's head, trained until flat.
        scratch_head: The random base's head, trained until flat.
        arms: ``(arm, rate)`` to its result (rate None for feature extraction).
        scratch_same_passes: The random base's head from the same random start,
            trained for exactly as many passes as the pretrained base's head
            (no stopping rule): the random-features arm without the
            difference in training length.
    """

    seed: int
    head: HeadFit
    scratch_head: HeadFit
    arms: dict[tuple[str, float | None], ArmResult]
    scratch_same_passes: HeadFit | None = None


@dataclass(frozen=True)
class HeadFirstComparison:
    """The arms over seeds, with the settings that made them.

    Attributes:
        runs: One `HeadFirstSeed` per seed, in seed order.
        rates: The base learning rates swept (pretrained arms).
        scratch_rate: From scratch's learning rate; None when it was not run.
        epochs: Base epochs of every arm.
    """

    runs: tuple[HeadFirstSeed, ...]
    rates: tuple[float, ...]
    scratch_rate: float | None
    epochs: int

    @property
    def seeds(self) -> tuple[int, ...]:
        """The seeds, in order."""
        return tuple(run.seed for run in self.runs)

    def values(
        self, arm: str, rate: float | None = None, key: str = "val_accuracy", when: str = "end"
    ) -> list[float]:
        """One number per seed for one arm.

        Args:
            arm: One of `ARMS`.
            rate: The base rate; None for feature extraction and from scratch
                (which ran at ``scratch_rate``).
            key: ``"val_accuracy"``, ``"train_accuracy"`` or ``"val_loss"``.
            when: ``"end"`` or ``"start"``.

        Returns:
            The values in seed order.

        Raises:
            ValueError: For an unknown arm, rate, key or ``when``, or
                ``"from_scratch"`` when it was not run.
        """
        if arm not in ARMS:
            raise ValueError(f"arm must be one of {ARMS}. Received: arm={arm!r}")
        if arm == "from_scratch" and self.scratch_rate is None:
            raise ValueError(
                "from_scratch was not run (no scratch_rate was given). Received: arm='from_scratch'"
            )
        if key not in ("val_accuracy", "train_accuracy", "val_loss"):
            raise ValueError(
                f"key must be 'val_accuracy', 'train_accuracy' or 'val_loss'. Received: key={key!r}"
            )
        if when not in ("start", "end"):
            raise ValueError(f"when must be 'start' or 'end'. Received: when={when!r}")
        if arm == "from_scratch":
            rate = self.scratch_rate
        elif arm == "feature_extraction":
            rate = None
        elif rate not in self.rates:
            raise ValueError(f"rate must be one of {self.rates}. Received: rate={rate!r}")
        return [getattr(getattr(run.arms[arm, rate], when), key) for run in self.runs]

    def drift(self, arm: str, rate: float, block: str) -> list[float]:
        """One arm's largest relative change in ``block``, per seed.

        Raises:
            ValueError: For an arm that trains no base layer, or an unknown rate.
        """
        if arm not in ("freeze_blocks", "full_fine_tuning") or rate not in self.rates:
            raise ValueError(
                "drift is recorded for freeze_blocks and full_fine_tuning at a swept rate. "
                f"Received: arm={arm!r}, rate={rate!r}"
            )
        return [run.arms[arm, rate].drift.get(block, 0.0) for run in self.runs]


def head_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """The layers of the head (block ``"head"``), in model order."""
    return [ref.layer for ref in iter_layers(model) if ref.block == "head"]


def cached_features(model: keras.Model, images: np.ndarray, batch_size: int) -> np.ndarray:
    """What the base (every layer before the head) outputs for ``images``.

    Args:
        model: A classifier from `freezelab.build_classifier`.
        images: Preprocessed images.
        batch_size: Images per ``predict`` step.

    Returns:
        The base's outputs, one row per image.
    """
    extractor = keras.Model(model.input, head_layers(model)[0].input)
    return extractor.predict(images, batch_size=batch_size, verbose=0)


def train_head_until_flat(
    model: keras.Model,
    data: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    *,
    learning_rate: float,
    batch_size: int,
    max_epochs: int,
    patience: int,
    min_delta: float,
    seed: int = 0,
    pool: dict | None = None,
    stop_when_flat: bool = True,
) -> HeadFit:
    """Trains ``model``'s head on its base's cached outputs until the training loss is flat.

    "Flat": one Keras epoch holds ``patience`` passes over the features (run
    in one call with ``steps_per_execution``, except on PyTorch, whose
    trainer takes only 1), the training loss is checked once per Keras epoch,
    and training stops at the first check that did not bring it ``min_delta``
    below its best (``keras.callbacks.EarlyStopping(monitor="loss",
    patience=1)``), or after ``max_epochs`` passes. With
    ``stop_when_flat=False`` there is no rule: the head trains exactly
    ``max_epochs`` passes (rounded down to whole checks). The head's trained
    weights are written back into ``model``; its base is untouched.

    Args:
        model: A classifier from `freezelab.build_classifier` (its head random
            or not: training starts from the head's current weights).
        data: ``(x_train, y_train, x_val, y_val)``, preprocessed images.
        learning_rate: Adam's learning rate for the head.
        batch_size: Images per step.
        max_epochs: Most passes over the features.
        patience: Passes over the features per check (one Keras epoch). The
            rule stops at the first check without a fall of ``min_delta``.
        min_delta: The smallest fall of the loss that counts.
        seed: Seeds the shuffling.
        pool: A dict kept between calls (``{}`` to start) that keeps one
            compiled head per feature shape; None compiles anew.
        stop_when_flat: False trains ``max_epochs`` passes with no stopping
            rule (a control of equal training length).

    Returns:
        A `HeadFit`: the losses and the head's evaluation on the frozen base.

    Raises:
        ValueError: For ``max_epochs`` or ``patience`` below 1.
    """
    if max_epochs < 1 or patience < 1:
        raise ValueError(
            f"max_epochs and patience must be at least 1. Received: max_epochs={max_epochs}, "
            f"patience={patience}"
        )
    x_train, y_train, x_val, y_val = data
    train_features = cached_features(model, x_train, batch_size)
    val_features = cached_features(model, x_val, batch_size)
    layers = head_layers(model)
    steps = patience * -(-len(train_features) // batch_size)
    head, optimizer_start = _kept_head(layers, train_features.shape[1:], learning_rate, steps, pool)
    start = [w for layer in layers for w in layer.get_weights()]
    head.set_weights(start)
    reset_optimizer(head, optimizer_start, learning_rate)
    keras.utils.set_random_seed(seed)
    # One Keras epoch holds `patience` passes over the features: the stopping rule is checked once
    # per `patience` passes, which costs far less than once per pass.
    flat = keras.callbacks.EarlyStopping(monitor="loss", patience=1, min_delta=min_delta)
    history = head.fit(
        np.concatenate([train_features] * patience),
        np.concatenate([np.asarray(y_train)] * patience),
        epochs=max(1, max_epochs // patience),
        batch_size=batch_size,
        verbose=0,
        callbacks=[flat] if stop_when_flat else [],
    )
    weights = head.get_weights()
    for layer in layers:
        count = len(layer.get_weights())
        layer.set_weights(weights[:count])
        weights = weights[count:]
    evaluation = evaluate_split(head, train_features, y_train, val_features, y_val, batch_size)
    fingerprint = float(sum(np.sum(w, dtype="float64") for w in start))
    losses = tuple(float(v) for v in history.history["loss"])
    return HeadFit(losses, evaluation, patience, fingerprint)


@expected_retracing()  # one compiled copy per trainable set, refitted per seed
def head_first_over_seeds(
    make_base: Callable[[], keras.Model],
    make_dataset: Callable[[int], SplitData | TargetDataset],
    seeds: Sequence[int],
    *,
    rates: Sequence[float],
    scratch_rate: float | None = None,
    epochs: int,
    batch_size: int,
    head_learning_rate: float,
    head_max_epochs: int,
    head_patience: int,
    head_min_delta: float = 1e-2,
    freeze_up_to: str = "block3",
) -> HeadFirstComparison:
    """Runs the arms of `ARMS` from the same trained head, for each seed and base rate.

    Args:
        make_base: Returns a fresh pretrained base each call.
        make_dataset: Seed to that seed's data split (images RGB in 0..255).
        seeds: One run of every arm per seed.
        rates: Base learning rates for freeze-blocks and full fine-tuning.
        scratch_rate: From scratch's learning rate (base and head together);
            None (the default) runs no ``"from_scratch"`` arm, only the random
            base's head (random features).
        epochs: Base epochs of every arm, the same for all.
        batch_size: Images per step.
        head_learning_rate: Adam's rate for the heads on cached features.
        head_max_epochs: See `train_head_until_flat`.
        head_patience: See `train_head_until_flat`.
        head_min_delta: See `train_head_until_flat`.
        freeze_up_to: The last block frozen by ``freeze_blocks``.

    Returns:
        A `HeadFirstComparison`.

    Raises:
        ValueError: For no seeds, no rates, or ``epochs`` below 1.
    """
    seeds, rates = tuple(seeds), tuple(float(rate) for rate in rates)
    if not seeds or not rates or epochs < 1:
        raise ValueError(
            "Give at least one seed, one rate and one epoch. "
            f"Received: seeds={seeds}, rates={rates}, epochs={epochs}"
        )
    pool: dict = {}
    head_args = dict(
        learning_rate=head_learning_rate,
        batch_size=batch_size,
        max_epochs=head_max_epochs,
        patience=head_patience,
        min_delta=head_min_delta,
        pool=pool,
    )
    runs = []
    for seed in seeds:
        dataset = make_dataset(seed)
        data = (
            preprocess_images(dataset.x_train),
            np.asarray(dataset.y_train),
            preprocess_images(dataset.x_val),
            np.asarray(dataset.y_val),
        )
        keras.utils.set_random_seed(seed)
        base = make_base()
        model = build_classifier(base, dataset.num_classes, name="head_first")
        random_head = [layer.get_weights() for layer in head_layers(model)]
        head = train_head_until_flat(model, data, seed=seed, **head_args)
        start = model.get_weights()
        arms = {
            ("feature_extraction", None): ArmResult(
                "feature_extraction", None, head.evaluation, head.evaluation
            )
        }
        tune = functools.partial(  # what every arm of this seed shares
            _fine_tune,
            data=data,
            epochs=epochs,
            batch_size=batch_size,
            seed=seed,
            freeze_up_to=freeze_up_to,
            pool=pool,
        )
        for arm in ("head_only", "freeze_blocks", "full_fine_tuning"):
            for rate in rates:
                arms[arm, rate] = tune(model, start, head.evaluation, arm, rate)
        keras.utils.set_random_seed(seed)
        scratch = build_classifier(keras.models.clone_model(base), dataset.num_classes)
        for layer, weights in zip(head_layers(scratch), random_head):
            layer.set_weights(weights)  # the same random head as the pretrained arms
        scratch_head = train_head_until_flat(scratch, data, seed=seed, **head_args)
        if scratch_rate is not None:
            arms["from_scratch", float(scratch_rate)] = tune(
                scratch,
                scratch.get_weights(),
                scratch_head.evaluation,
                "from_scratch",
                float(scratch_rate),
            )
        for layer, weights in zip(head_layers(scratch), random_head):
            layer.set_weights(
                weights
            )  # the same random start again (after every arm that reads it)
        same_passes = train_head_until_flat(
            scratch,
            data,
            seed=seed,
            stop_when_flat=False,
            **{**head_args, "max_epochs": head.epochs},
        )
        runs.append(HeadFirstSeed(seed, head, scratch_head, arms, same_passes))
    scratch_rate = None if scratch_rate is None else float(scratch_rate)
    return HeadFirstComparison(tuple(runs), rates, scratch_rate, epochs)


def _fine_tune(model, start, before, arm, rate, data, epochs, batch_size, seed, freeze_up_to, pool):
    """``epochs`` of base and head together from ``start`` (evaluated as ``before``), at ``rate``."""
    x_train, y_train, x_val, y_val = data
    kept, optimizer_start = kept_compiled(model, arm, freeze_up_to, pool)
    kept.set_weights(start)
    reset_optimizer(kept, optimizer_start, rate)
    snapshot = snapshot_weights(kept)
    keras.utils.set_random_seed(seed)
    kept.fit(x_train, y_train, epochs=epochs, batch_size=batch_size, verbose=0)
    drifts = weight_drift(snapshot, kept, mask=get_mask(kept))
    verify_frozen_unchanged(drifts)
    after = evaluate_split(kept, x_train, y_train, x_val, y_val, batch_size)
    blocks = {k: v for k, v in drift_by_block(drifts).items() if k.startswith("block")}
    return ArmResult(arm, rate, before, after, blocks)


def kept_compiled(
    model: keras.Model, arm: str, freeze_up_to: str, pool: dict
) -> tuple[keras.Model, list[np.ndarray]]:
    """One compiled copy of ``model`` per trainable set (kept in ``pool``), and its optimizer's start.

    ``"freeze_blocks"`` freezes up to ``freeze_up_to``, ``"head_only"`` the
    whole base (up to `LAST_BLOCK`); any other arm trains everything. Load weights into the copy and call `reset_optimizer` before each run.
    """
    frozen = {"freeze_blocks": freeze_up_to, "head_only": LAST_BLOCK}.get(arm)
    key = ("model", frozen, tuple(model.input.shape), model.output.shape[-1])
    if key not in pool:
        kept = keras.models.clone_model(model)
        if frozen is not None:
            freeze(kept, up_to=frozen)
        kept.compile(optimizer=keras.optimizers.Adam(1e-3), loss=_LOSS, metrics=["accuracy"])
        kept.optimizer.build(kept.trainable_variables)
        pool[key] = (kept, [np.array(v) for v in kept.optimizer.variables])
    return pool[key]


def _kept_head(layers, feature_shape, learning_rate, steps, pool):
    """One compiled head per feature shape and layer set-up, and its optimizer's start."""
    units = tuple(layer.units for layer in layers if hasattr(layer, "units"))
    names = tuple(type(layer).__name__ for layer in layers)
    key = ("head", tuple(feature_shape), units, names, steps)
    if pool is not None and key in pool:
        return pool[key]
    inputs = keras.Input(shape=feature_shape)
    x = inputs
    for layer in layers:
        x = type(layer).from_config(layer.get_config())(x)
    head = keras.Model(inputs, x)
    head.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=_LOSS,
        metrics=["accuracy"],
        steps_per_execution=steps_per_call(steps),  # the same steps, fewer calls
    )
    head.optimizer.build(head.trainable_variables)
    entry = (head, [np.array(v) for v in head.optimizer.variables])
    if pool is not None:
        pool[key] = entry
    return entry


def steps_per_call(steps: int, backend: str | None = None) -> int:
    """Training steps per call for ``compile(steps_per_execution=...)``.

    Keras 3.15.1's PyTorch trainer accepts only 1; TensorFlow and JAX run
    ``steps`` (one Keras epoch) per call. The steps taken, and so the
    results, are the same either way: only the overhead differs.

    Args:
        steps: Steps in one Keras epoch.
        backend: A Keras backend name; None reads `keras.backend.backend()`.

    Returns:
        1 on ``"torch"``, else ``steps``.
    """
    backend = keras.backend.backend() if backend is None else backend
    return 1 if backend == "torch" else steps


def reset_optimizer(
    model: keras.Model, optimizer_start: list[np.ndarray], learning_rate: float
) -> None:
    """Puts the optimizer back to its state before any step, at ``learning_rate``."""
    for variable, value in zip(model.optimizer.variables, optimizer_start):
        variable.assign(value)
    model.optimizer.learning_rate = learning_rate


def evaluate_split(model, x_train, y_train, x_val, y_val, batch_size) -> Evaluation:
    """``model.evaluate()`` on the training and on the validation images."""
    train = model.evaluate(x_train, y_train, batch_size=batch_size, verbose=0, return_dict=True)
    val = model.evaluate(x_val, y_val, batch_size=batch_size, verbose=0, return_dict=True)
    return Evaluation(float(train["accuracy"]), float(val["accuracy"]), float(val["loss"]))


__all__ = [
    "ARMS",
    "ArmResult",
    "Evaluation",
    "HeadFirstComparison",
    "HeadFirstSeed",
    "HeadFit",
    "cached_features",
    "head_first_over_seeds",
    "head_layers",
    "train_head_until_flat",
]
