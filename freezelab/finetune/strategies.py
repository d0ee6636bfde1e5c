"""Fine-tuning strategies, run side by side on the same data and budget.

Each strategy starts from a fresh copy of the pretrained base (from
``make_base()``), puts the same new head on it, trains for the same number of
epochs, and returns a `TrainingRun` with its history, wall-clock time,
trainable parameters and per-layer weight drift:

* ``feature_extraction``: the whole base frozen; its outputs are computed
  once, cached, and only the head trains on them for ``feature_epochs``
  (cheap, since the base never runs again; whether that is enough epochs for
  the head to finish training is for the caller to check on its history).
* ``freeze_blocks``: blocks 1..k frozen (``freeze_up_to="block3"``), the rest trains.
* ``full_fine_tuning``: everything trains from the first step, head still random.
* ``two_phase``: the head trains alone, then the whole base is unfrozen at
  ``budget.fine_tune_learning_rate`` (recompiled with a fresh optimizer; on
  TensorFlow inside one ``fit()`` through `GradualUnfreezing`, elsewhere one
  ``fit()`` per stage).
* ``gradual_unfreezing``: the head trains alone, then one block per stage is
  unfrozen, top first (`freezelab.finetune.unfreezing`).
* ``from_scratch``: the same architecture with random weights, all trainable.

One learning rate for pretrained layers: every strategy that trains base
layers trains them at ``budget.fine_tune_learning_rate`` (full fine-tuning and
freeze-blocks from the first step, two-phase and gradual unfreezing after the
head phase), so a comparison of strategies is not a comparison of learning
rates. A head that trains alone uses ``budget.learning_rate``.

Per-layer learning rates (discriminative fine-tuning) are left out: Keras 3
optimizers take one learning rate, and splitting variables over several
optimizers needs a custom ``train_step`` per backend.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import keras
import numpy as np

from freezelab.core.accounting import count_params
from freezelab.core.freezing import freeze, get_mask, weighted_layers
from freezelab.core.layers import iter_layers
from freezelab.core.models import (
    describe_weights,
    set_weights_source,
    weights_source,
    with_head,
)
from freezelab.finetune.drift import (
    LayerDrift,
    snapshot_weights,
    verify_frozen_unchanged,
    weight_drift,
)
from freezelab.finetune.unfreezing import (
    MID_FIT_BACKENDS,
    GradualUnfreezing,
    StageRecord,
    UnfreezeSchedule,
    UnfreezeStage,
    fit_in_stages,
)
from freezelab.vis.images import to_caffe

if TYPE_CHECKING:
    from freezelab.sources.data import TargetDataset

STRATEGIES = (
    "feature_extraction",
    "freeze_blocks",
    "full_fine_tuning",
    "two_phase",
    "gradual_unfreezing",
    "from_scratch",
)
PREPROCESSINGS = ("caffe", "unit")
#: Strategies that compile once per run, so a kept compiled model can serve the next run.
_COMPILE_ONCE = ("freeze_blocks", "full_fine_tuning", "from_scratch")


@dataclass(frozen=True)
class Budget:
    """What every strategy gets: the same epochs, batch size and learning rates.

    Attributes:
        epochs: Epochs in all (both phases of two-phase together).
        batch_size: Images per step.
        learning_rate: For a head that trains alone (feature extraction, the
            head phase of two-phase and gradual unfreezing). The BatchNorm
            experiments (`compare_arms`, `run_guide_recipe`'s head phase)
            use it for every run, base layers included.
        fine_tune_learning_rate: For every run of the strategies in which
            base layers train (freeze-blocks, full fine-tuning and
            from-scratch from the first step; two-phase and gradual
            unfreezing after the head phase) and for `run_guide_recipe`'s
            unfrozen phase; `compare_arms` does not use it.
        head_epochs: Head-only epochs of two-phase and gradual unfreezing;
            None means half the epochs (two-phase) or a third (gradual).
        feature_epochs: Epochs of feature extraction's head on cached
            features; None means ``epochs``.
    """

    epochs: int = 6
    batch_size: int = 32
    learning_rate: float = 1e-3
    fine_tune_learning_rate: float = 1e-4
    head_epochs: int | None = None
    feature_epochs: int | None = None

    def __post_init__(self):
        if isinstance(self.epochs, bool) or not isinstance(self.epochs, int) or self.epochs < 2:
            raise ValueError(
                "A budget needs at least 2 epochs (two-phase has two). "
                f"Received: epochs={self.epochs!r}"
            )
        if self.head_epochs is not None and not 1 <= self.head_epochs < self.epochs:
            raise ValueError(
                f"head_epochs must be from 1 to epochs - 1 = {self.epochs - 1}. "
                f"Received: head_epochs={self.head_epochs!r}"
            )
        if self.feature_epochs is not None and (
            not isinstance(self.feature_epochs, int) or self.feature_epochs < 1
        ):
            raise ValueError(
                "feature_epochs must be a positive int or None. "
                f"Received: feature_epochs={self.feature_epochs!r}"
            )


@dataclass(frozen=True)
class SplitData:
    """Training and validation arrays, as `freezelab.sources.data.load_target_dataset` gives them."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    num_classes: int


@dataclass
class TrainingRun:
    """The outcome of one strategy.

    Attributes:
        strategy: One of `STRATEGIES`.
        label: Name shown in plots and tables.
        history: Metric name (``accuracy``, ``val_accuracy``, ``loss``,
            ``val_loss``) to one value per epoch.
        seconds: Wall-clock time of the training, caching included.
        trainable_params: Parameters trained in the last epoch.
        drift: Per-layer relative weight change over the run; ``trainable``
            says whether the layer trained at any time.
        weights: Which pretrained weights the run started from.
        preprocessing: ``"caffe"`` or ``"unit"``.
        stages: For staged strategies, what trained at each epoch.
        model: The trained model.
    """

    strategy: str
    label: str
    history: dict[str, list[float]]
    seconds: float
    trainable_params: int
    drift: list[LayerDrift]
    weights: str
    preprocessing: str
    stages: list[StageRecord] = field(default_factory=list)
    model: keras.Model | None = field(default=None, repr=False)

    @property
    def final_train_accuracy(self) -> float:
        """Training accuracy of the last epoch."""
        return self.history["accuracy"][-1]

    @property
    def final_val_accuracy(self) -> float:
        """Validation accuracy after the last epoch."""
        return self.history["val_accuracy"][-1]

    @property
    def generalization_gap(self) -> float:
        """Training minus validation accuracy at the end: large means overfitting."""
        return self.final_train_accuracy - self.final_val_accuracy


def preprocess_images(images: np.ndarray, preprocessing: str = "caffe") -> np.ndarray:
    """Prepares RGB images in 0..255 for the base.

    Args:
        images: Float or uint8 array ``(n, h, w, 3)``, RGB, 0..255.
        preprocessing: ``"caffe"`` (VGG16's own and the teacher's: RGB to
            BGR, ImageNet means subtracted) or ``"unit"`` (divided by 255:
            the mismatch this lesson's pitfall shows).

    Returns:
        A new float32 array.

    Raises:
        ValueError: For another ``preprocessing`` or images without 3 channels.
    """
    if preprocessing not in PREPROCESSINGS:
        raise ValueError(
            f"preprocessing must be one of {PREPROCESSINGS}. Received: {preprocessing!r}"
        )
    images = np.asarray(images, dtype=np.float32)
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(
            f"Expected RGB images of shape (n, h, w, 3). Received: shape {images.shape}"
        )
    if preprocessing == "unit":
        return images / 255.0
    return to_caffe(images)  # the same numbers as keras.applications.vgg16.preprocess_input


def subset_per_class(
    dataset: SplitData | TargetDataset, per_class: int, seed: int = 0
) -> SplitData:
    """Keeps ``per_class`` training images of each class (validation untouched).

    Args:
        dataset: Anything with ``x_train, y_train, x_val, y_val, num_classes``.
        per_class: Training images kept per class.
        seed: Which images are kept.

    Returns:
        A `SplitData`.

    Raises:
        ValueError: If a class has fewer than ``per_class`` training images.
    """
    rng = np.random.default_rng(seed)
    labels = np.asarray(dataset.y_train)
    keep = []
    for label in range(dataset.num_classes):
        where = np.flatnonzero(labels == label)
        if len(where) < per_class:
            raise ValueError(
                f"Class {label} has {len(where)} training images, fewer than asked. "
                f"Received: per_class={per_class}"
            )
        keep.extend(rng.choice(where, per_class, replace=False))
    keep = np.sort(np.array(keep))
    return SplitData(
        dataset.x_train[keep], labels[keep], dataset.x_val, dataset.y_val, dataset.num_classes
    )


def build_classifier(
    base: keras.Model,
    num_classes: int,
    head_units: tuple[int, ...] = (64,),
    pooling: str = "avg",
    name: str | None = None,
) -> keras.Model:
    """The base with a new head (flattened, so blocks can be frozen by name).

    Args:
        base: The convolutional base.
        num_classes: Outputs of the softmax layer.
        head_units: Hidden dense layers of the head.
        pooling: See `freezelab.with_head`.
        name: Model name.

    Returns:
        The model; the head's layers are in block ``"head"``.
    """
    return with_head(base, head_units=(*head_units, num_classes), pooling=pooling, name=name)


def base_factory(
    input_size: int = 64, prefer: str = "auto", timeout: float = 10.0
) -> Callable[[], keras.Model]:
    """Decides once which pretrained base to use and returns a maker of fresh copies.

    ImageNet VGG16 when its weights are available, else freezelab's offline
    teacher (see `freezelab.sources.teacher.pretrained_base`, which prints the choice).

    Args:
        input_size: Side of the square input, at least 32.
        prefer: ``"auto"``, ``"imagenet"`` or ``"teacher"``.
        timeout: Seconds ``"auto"`` may spend reaching ImageNet weights.

    Returns:
        A function with no arguments returning a new base with the chosen weights.

    Raises:
        ValueError: For an unknown ``prefer`` or an input size below 32.
    """
    from freezelab.core.models import load_vgg16, weights_source
    from freezelab.sources.teacher import load_teacher, pretrained_base

    first = pretrained_base(input_size=input_size, prefer=prefer, verbose=True, timeout=timeout)
    if weights_source(first) == "imagenet":
        return lambda: load_vgg16("imagenet", input_size=input_size, verbose=False)
    return lambda: load_teacher(input_size, verbose=False)


def base_layer_names(model: keras.Model) -> list[str]:
    """The weighted layers of the base: every one not in the head."""
    return [ref.name for ref in weighted_layers(model) if ref.block != "head"]


def run_strategy(
    strategy: str,
    make_base: Callable[[], keras.Model],
    dataset: SplitData | TargetDataset,
    budget: Budget | None = None,
    *,
    freeze_up_to: str = "block3",
    schedule: UnfreezeSchedule | None = None,
    head_units: tuple[int, ...] = (64,),
    pooling: str = "avg",
    preprocessing: str = "caffe",
    seed: int = 0,
    verbose: int = 0,
    label: str | None = None,
    reuse: dict | None = None,
) -> TrainingRun:
    """Trains one strategy and checks that frozen layers did not move.

    Args:
        strategy: One of `STRATEGIES`.
        make_base: Returns a fresh pretrained base each call, e.g.
            ``lambda: freezelab.sources.teacher.pretrained_base(input_size=64, verbose=False)``.
        dataset: Anything with ``x_train, y_train, x_val, y_val, num_classes``
            (images RGB in 0..255, integer labels).
        budget: Epochs, batch size and learning rates; the same for every strategy.
        freeze_up_to: For ``freeze_blocks``: the last block (or layer) frozen.
        schedule: For ``gradual_unfreezing``; None builds a top-down one that
            fits the budget.
        head_units: Hidden units of the head.
        pooling: How the head reduces the base's feature map.
        preprocessing: See `preprocess_images`.
        seed: Seeds Keras, NumPy and Python for the head's initial weights and
            the shuffling.
        verbose: Passed to ``fit()``: 0 silent, 2 one line per epoch.
        label: Name shown in plots; defaults to the strategy.
        reuse: A dict kept between calls (``{}`` to start) in which runs of
            the strategies that compile once (``freeze_blocks``,
            ``full_fine_tuning``, ``from_scratch``) keep their compiled
            model. A later run of the same set-up loads its fresh weights and
            a fresh optimizer state into that model, so ``fit()`` does not
            trace its functions again (tracing costs more than a small run).
            The earlier run's ``model`` is replaced by an uncompiled copy with
            its trained weights. None: a new model every run.

    Returns:
        A `TrainingRun`.

    Raises:
        ValueError: For an unknown strategy, bad budget or preprocessing.
        RuntimeError: If a layer that never trained moved (not expected).
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES}. Received: {strategy!r}")
    budget = budget or Budget()
    x_train = preprocess_images(dataset.x_train, preprocessing)
    x_val = preprocess_images(dataset.x_val, preprocessing)
    y_train, y_val = np.asarray(dataset.y_train), np.asarray(dataset.y_val)
    keras.utils.set_random_seed(seed)
    base = make_base()
    weights = describe_weights(base)
    if strategy == "from_scratch":
        base = keras.models.clone_model(base)  # same layers, fresh random weights
        set_weights_source(base, "untrained")
        weights = describe_weights(base)
    model = build_classifier(base, dataset.num_classes, head_units, pooling, name=strategy)
    before = snapshot_weights(model)
    fit_args = dict(
        batch_size=budget.batch_size,
        validation_data=(x_val, y_val),
        verbose=verbose,
    )
    stages: list[StageRecord] = []
    start = time.perf_counter()
    if strategy == "feature_extraction":
        history = _train_on_cached_features(model, x_train, y_train, x_val, y_val, budget, verbose)
        ever_trained = get_mask(model)
    elif strategy in ("two_phase", "gradual_unfreezing"):
        if strategy == "two_phase" or schedule is None:
            schedule = _default_schedule(strategy, model, budget)
        _compile(model, schedule.head_learning_rate)
        history, stages = _run_schedule(model, schedule, x_train, y_train, budget, fit_args)
        ever_trained = {name: any(name in r.trainable_layers for r in stages) for name in before}
    else:
        if strategy == "freeze_blocks":
            freeze(model, up_to=freeze_up_to)
        model = _compiled(model, strategy, budget.fine_tune_learning_rate, reuse)
        run = model.fit(x_train, y_train, epochs=budget.epochs, **fit_args)
        history = {key: [float(v) for v in values] for key, values in run.history.items()}
        ever_trained = get_mask(model)
    seconds = time.perf_counter() - start
    drift = weight_drift(before, model, mask=ever_trained)
    verify_frozen_unchanged(drift)
    result = TrainingRun(
        strategy=strategy,
        label=label or strategy,
        history=history,
        seconds=seconds,
        trainable_params=count_params(model).trainable,
        drift=drift,
        weights=weights,
        preprocessing=preprocessing,
        stages=stages,
        model=model,
    )
    if reuse is not None and strategy in _COMPILE_ONCE:
        reuse[_reuse_key(model, strategy, budget.fine_tune_learning_rate)]["last_run"] = result
    return result


def _reuse_key(model: keras.Model, strategy: str, learning_rate: float) -> tuple:
    """What a compiled model's train function depends on: the same key, the same function."""
    shape = tuple(model.input.shape)
    mask = tuple(get_mask(model).items())
    layers = tuple(
        (ref.name, type(ref.layer).__name__, tuple(tuple(w.shape) for w in ref.layer.weights))
        for ref in iter_layers(model)
        if not isinstance(ref.layer, keras.layers.InputLayer)  # auto-named per model
    )
    return (strategy, float(learning_rate), shape, mask, layers)


def _compiled(model: keras.Model, strategy: str, learning_rate: float, reuse) -> keras.Model:
    """``model`` compiled, or the kept compiled model of the same set-up holding its weights."""
    if reuse is None:
        _compile(model, learning_rate)
        return model
    if not isinstance(reuse, dict):
        raise ValueError(f"reuse must be a dict or None. Received: reuse={reuse!r}")
    key = _reuse_key(model, strategy, learning_rate)
    entry = reuse.get(key)
    if entry is None:
        _compile(model, learning_rate)
        model.optimizer.build(model.trainable_variables)
        start = [np.array(variable) for variable in model.optimizer.variables]
        reuse[key] = {"model": model, "optimizer_start": start, "last_run": None}
        return model
    kept = entry["model"]
    if entry["last_run"] is not None:  # the earlier run keeps its trained weights
        entry["last_run"].model = _detached_copy(kept)
    kept.set_weights(model.get_weights())
    for variable, value in zip(kept.optimizer.variables, entry["optimizer_start"]):
        variable.assign(value)
    set_weights_source(kept, weights_source(model))
    return kept


def _detached_copy(model: keras.Model) -> keras.Model:
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    set_weights_source(copy, weights_source(model))
    return copy


def forgotten_recompile_demo(
    model: keras.Model,
    x: np.ndarray,
    y: np.ndarray,
    freeze_spec: str | int | slice | keras.layers.Layer | list | tuple = "block1",
    learning_rate: float = 1e-3,
    batch_size: int = 32,
) -> tuple[float, float]:
    """Freezes a layer after ``fit()`` and shows it still moves until recompiled.

    The model trains one epoch fully trainable; then ``freeze_spec`` is
    frozen. One more epoch without recompiling, then one after
    `freezelab.recompile`.

    Args:
        model: An uncompiled classifier, all layers trainable.
        x: Preprocessed training images.
        y: Integer labels.
        freeze_spec: What to freeze after the first epoch (see `select_layers`).
        learning_rate: Adam's learning rate.
        batch_size: Images per step.

    Returns:
        The largest relative drift of the frozen layers in the epoch without
        recompiling (above zero: the pitfall) and in the epoch after
        recompiling (exactly zero).

    Raises:
        ValueError: If ``freeze_spec`` names nothing in the model.
    """
    from freezelab.core.compile_guard import recompile

    _compile(model, learning_rate)
    model.fit(x, y, epochs=1, batch_size=batch_size, verbose=0)
    frozen = set(freeze(model, freeze_spec))
    largest = []
    for fix in (False, True):
        if fix:
            recompile(model)
        before = snapshot_weights(model)
        model.fit(x, y, epochs=1, batch_size=batch_size, verbose=0)
        drifts = weight_drift(before, model)
        largest.append(max(d.relative_change for d in drifts if d.name in frozen))
    return largest[0], largest[1]


def summary_rows(runs: list[TrainingRun]) -> list[dict[str, object]]:
    """One row per run for the results table.

    Args:
        runs: Finished runs.

    Returns:
        Dicts with ``strategy, trainable_params, train_accuracy, val_accuracy,
        gap, seconds``.
    """
    return [
        {
            "strategy": run.label,
            "trainable_params": run.trainable_params,
            "train_accuracy": round(run.final_train_accuracy, 3),
            "val_accuracy": round(run.final_val_accuracy, 3),
            "gap": round(run.generalization_gap, 3),
            "seconds": round(run.seconds, 1),
        }
        for run in runs
    ]


def format_summary(runs: list[TrainingRun], seconds: bool = True) -> str:
    """The results table as aligned text (accuracies, gap, wall-clock seconds).

    Args:
        runs: Finished runs.
        seconds: Whether to add the wall-clock column. A run's seconds include
            tracing its train function, which some strategies pay at every
            seed and others once, so they are not a fair speed comparison.

    Returns:
        The table, one line per run under a header.
    """
    rows = summary_rows(runs)
    header = f"{'strategy':<24}{'trainable':>12}{'train acc':>11}{'val acc':>9}{'gap':>8}"
    header += f"{'seconds':>9}" if seconds else ""
    lines = [header, "-" * len(header)]
    for row in rows:
        line = (
            f"{row['strategy']:<24}{row['trainable_params']:>12,}{row['train_accuracy']:>11.3f}"
            f"{row['val_accuracy']:>9.3f}{row['gap']:>8.3f}"
        )
        lines.append(line + (f"{row['seconds']:>9.1f}" if seconds else ""))
    return "\n".join(lines)


def _compile(model: keras.Model, learning_rate: float) -> None:
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )


def _default_schedule(strategy: str, model: keras.Model, budget: Budget) -> UnfreezeSchedule:
    base = tuple(base_layer_names(model))
    if strategy == "two_phase":
        head_epochs = budget.head_epochs or budget.epochs // 2
        stage = UnfreezeStage(head_epochs, base, budget.fine_tune_learning_rate)
        return UnfreezeSchedule(base, budget.learning_rate, (stage,))
    head_epochs = budget.head_epochs or max(1, budget.epochs // 3)
    blocks = [
        b for b in ("block5", "block4", "block3") if any(r.block == b for r in iter_layers(model))
    ]
    remaining = budget.epochs - head_epochs
    blocks = blocks[: max(1, min(len(blocks), remaining))]
    per_stage = max(1, remaining // max(1, len(blocks)))
    return UnfreezeSchedule.top_down(
        tuple(blocks),
        head_epochs=head_epochs,
        epochs_per_stage=per_stage,
        head_learning_rate=budget.learning_rate,
        learning_rate=budget.fine_tune_learning_rate,
        frozen_at_start=base,
    )


def _run_schedule(model, schedule, x_train, y_train, budget, fit_args):
    if keras.backend.backend() in MID_FIT_BACKENDS:
        callback = GradualUnfreezing(schedule)
        run = model.fit(x_train, y_train, epochs=budget.epochs, callbacks=[callback], **fit_args)
        history = {key: [float(v) for v in values] for key, values in run.history.items()}
        return history, callback.records
    return fit_in_stages(model, schedule, x_train, y_train, epochs=budget.epochs, **fit_args)


def _train_on_cached_features(model, x_train, y_train, x_val, y_val, budget, verbose):
    """Computes the frozen base's outputs once, then trains the head layers on them.

    The head model calls the very same layer objects as ``model``, so training
    it trains ``model``'s head; the base never runs again.
    """
    base_names = base_layer_names(model)
    freeze(model, base_names)
    head_refs = [ref for ref in iter_layers(model) if ref.block == "head"]
    base_output = head_refs[0].layer.input
    extractor = keras.Model(model.input, base_output)
    train_features = extractor.predict(x_train, batch_size=budget.batch_size, verbose=0)
    val_features = extractor.predict(x_val, batch_size=budget.batch_size, verbose=0)
    features = keras.Input(shape=train_features.shape[1:], name="cached_features")
    x = features
    for ref in head_refs:
        x = ref.layer(x)
    head = keras.Model(features, x, name="head_on_cached_features")
    _compile(head, budget.learning_rate)
    run = head.fit(
        train_features,
        y_train,
        epochs=budget.feature_epochs or budget.epochs,
        batch_size=budget.batch_size,
        validation_data=(val_features, y_val),
        verbose=verbose,
    )
    _compile(model, budget.learning_rate)  # so that model.evaluate() works on images
    return {key: [float(v) for v in values] for key, values in run.history.items()}


__all__ = [
    "PREPROCESSINGS",
    "STRATEGIES",
    "Budget",
    "SplitData",
    "TrainingRun",
    "base_factory",
    "base_layer_names",
    "build_classifier",
    "forgotten_recompile_demo",
    "format_summary",
    "preprocess_images",
    "run_strategy",
    "subset_per_class",
]
