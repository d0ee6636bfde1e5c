"""Gradual unfreezing: thaw a pretrained base block by block, top first.

An `UnfreezeSchedule` says which layers train at each epoch and at which
learning rate. Two ways run it:

* `GradualUnfreezing`, a Keras callback for one ``fit()`` call. At the start
  of every epoch where the trainable set changes it applies the new flags,
  recompiles with a fresh optimizer (the old one would reject newly trainable
  weights), builds that optimizer, and rebuilds ``fit()``'s train function.
  ``compile()`` alone would leave ``fit()`` holding no train function at all;
  a flag change without ``compile()`` is silently ignored by the cached one.
  freezelab runs the callback only on TensorFlow, where it is tested (Keras
  3.15); it refuses JAX and PyTorch at the start of ``fit()``. There use
  `fit_in_stages`. (On JAX, ``fit()`` also carries the trainable and
  optimizer variables in local state fixed when it starts, so a mid-fit
  recompile would not reach the running loop.)
* `fit_in_stages`, a driver that calls ``fit()`` once per stage (with
  ``initial_epoch``) after recompiling, for any backend. Same schedule, same
  epochs, one merged history.
"""

from __future__ import annotations

import itertools
import warnings
from dataclasses import dataclass, field

import keras
import numpy as np

from freezelab._validation import is_int
from freezelab.core.compile_guard import compile_status, fresh_optimizer, recompile
from freezelab.core.freezing import get_mask, select_layers, set_mask
from freezelab.core.layers import iter_layers

MID_FIT_BACKENDS = ("tensorflow",)


@dataclass(frozen=True)
class UnfreezeStage:
    """From ``epoch`` on, ``unfreeze`` also trains, at ``learning_rate``.

    Attributes:
        epoch: First epoch (0-based, as Keras counts) of the stage.
        unfreeze: Layer specs (see `select_layers`) made trainable here.
        learning_rate: The optimizer's learning rate from this epoch on.
    """

    epoch: int
    unfreeze: tuple = ()
    learning_rate: float = 1e-4


@dataclass(frozen=True)
class StageRecord:
    """What the callback found and did at the start of one epoch.

    Attributes:
        epoch: The epoch.
        stage: Index of the schedule's stage in force.
        trainable_layers: Weighted layers that train in this epoch.
        learning_rate: The learning rate in force.
        recompiled: Whether the model was recompiled before this epoch.
        in_sync: Whether `compile_status` found training in sync with the flags.
    """

    epoch: int
    stage: int
    trainable_layers: tuple[str, ...]
    learning_rate: float
    recompiled: bool
    in_sync: bool


@dataclass(frozen=True)
class UnfreezeSchedule:
    """Which layers train at each epoch.

    At epoch 0 every layer named by ``frozen_at_start`` is frozen and all other
    layers train (the head); each `UnfreezeStage` then unfreezes more.

    Attributes:
        frozen_at_start: Layer specs frozen before the first stage.
        head_learning_rate: Learning rate before the first stage.
        stages: The stages, by increasing epoch.
    """

    frozen_at_start: tuple = ("block1", "block2", "block3", "block4", "block5")
    head_learning_rate: float = 1e-3
    stages: tuple[UnfreezeStage, ...] = field(default_factory=tuple)

    def __post_init__(self):
        epochs = [stage.epoch for stage in self.stages]
        if any(not is_int(e) or e < 1 for e in epochs):
            raise ValueError(
                "Stage epochs must be ints of at least 1 (epoch 0 trains the head). "
                f"Received: epochs {epochs}"
            )
        if epochs != sorted(set(epochs)):
            raise ValueError(f"Stage epochs must increase strictly. Received: epochs {epochs}")

    @classmethod
    def top_down(
        cls,
        blocks: tuple[str, ...] = ("block5", "block4", "block3"),
        head_epochs: int = 1,
        epochs_per_stage: int = 1,
        head_learning_rate: float = 1e-3,
        learning_rate: float = 1e-4,
        frozen_at_start: tuple = ("block1", "block2", "block3", "block4", "block5"),
    ) -> UnfreezeSchedule:
        """The usual schedule: train the head, then unfreeze one block per stage.

        Args:
            blocks: Blocks to unfreeze, in order (top of the network first).
            head_epochs: Epochs with only the head training.
            epochs_per_stage: Epochs between two unfreezings.
            head_learning_rate: Learning rate while only the head trains.
            learning_rate: The lower learning rate once pretrained layers train.
            frozen_at_start: What is frozen at epoch 0.

        Returns:
            The schedule.

        Raises:
            ValueError: If ``head_epochs`` or ``epochs_per_stage`` is below 1.
        """
        for label, value in (("head_epochs", head_epochs), ("epochs_per_stage", epochs_per_stage)):
            if not is_int(value) or value < 1:
                raise ValueError(f"{label} must be an int of at least 1. Received: {value!r}")
        head_epochs, epochs_per_stage = int(head_epochs), int(epochs_per_stage)
        stages = tuple(
            UnfreezeStage(head_epochs + i * epochs_per_stage, (block,), learning_rate)
            for i, block in enumerate(blocks)
        )
        return cls(tuple(frozen_at_start), head_learning_rate, stages)

    @property
    def total_epochs(self) -> int:
        """Epochs until the last stage has had as many epochs as the one before it."""
        if not self.stages:
            return 1
        epochs = [0] + [stage.epoch for stage in self.stages]
        return epochs[-1] + (epochs[-1] - epochs[-2])

    def stage_at(self, epoch: int) -> int:
        """Index of the stage in force at ``epoch``: 0 before the first, then 1, 2 …"""
        return sum(1 for stage in self.stages if stage.epoch <= epoch)

    def learning_rate_at(self, epoch: int) -> float:
        """Learning rate in force at ``epoch``."""
        index = self.stage_at(epoch)
        return self.head_learning_rate if index == 0 else self.stages[index - 1].learning_rate

    def mask_at(self, model: keras.Model, epoch: int) -> dict[str, bool]:
        """The trainable mask (as `get_mask` writes it) for ``epoch``.

        Args:
            model: The model the schedule runs on.
            epoch: 0-based epoch.

        Returns:
            Layer name to trainable flag for every weighted layer.

        Raises:
            ValueError: If a spec names a layer or block the model lacks.
        """
        frozen = {id(layer) for layer in select_layers(model, list(self.frozen_at_start))}
        for stage in self.stages[: self.stage_at(epoch)]:
            for layer in select_layers(model, list(stage.unfreeze)):
                frozen.discard(id(layer))
        names = get_mask(model)
        by_name = {ref.name: ref.layer for ref in iter_layers(model)}
        return {name: id(by_name[name]) not in frozen for name in names}


class GradualUnfreezing(keras.callbacks.Callback):
    """Applies an `UnfreezeSchedule` during one ``fit()``, recompiling at each stage.

    ``history`` records, for every epoch, which layers trained and whether
    the model was recompiled (a `StageRecord` each).

    Args:
        schedule: The schedule.
        verbose: Print a line when a stage starts.

    Raises:
        RuntimeError: At the start of ``fit()`` on a backend other than
            TensorFlow, the only one on which freezelab runs and tests the
            callback; use `fit_in_stages` there.
    """

    def __init__(self, schedule: UnfreezeSchedule, verbose: bool = False):
        super().__init__()
        if not isinstance(schedule, UnfreezeSchedule):
            raise ValueError(f"Expected an UnfreezeSchedule. Received: {schedule!r}")
        self.schedule = schedule
        self.verbose = verbose
        self.records: list[StageRecord] = []

    def on_train_begin(self, logs=None):
        backend = keras.backend.backend()
        if backend not in MID_FIT_BACKENDS:
            raise RuntimeError(
                "GradualUnfreezing recompiles inside fit(); freezelab runs it only on "
                f"the TensorFlow backend, where it is tested. Received: backend {backend!r}. "
                "Use fl.fit_in_stages(model, schedule, ...) instead."
            )

    def on_epoch_begin(self, epoch, logs=None):
        model = self.model
        wanted = self.schedule.mask_at(model, epoch)
        rate = self.schedule.learning_rate_at(epoch)
        current_rate = _learning_rate(model)
        changed = wanted != get_mask(model) or abs(rate - current_rate) > 1e-6 * rate
        if changed:
            apply_stage(model, wanted, rate)
            # compile() dropped fit()'s train function; fit() calls it next.
            model.make_train_function()
            if self.verbose:
                unfrozen = [name for name, trains in wanted.items() if trains]
                print(
                    f"Epoch {epoch + 1}: stage {self.schedule.stage_at(epoch)}, "
                    f"learning rate {rate:g}, training {len(unfrozen)} layers"
                )
        self.records.append(_record(model, epoch, self.schedule, changed))


def apply_stage(model: keras.Model, mask: dict[str, bool], learning_rate: float) -> None:
    """Sets the flags, recompiles with a fresh optimizer at ``learning_rate``, builds it.

    Args:
        model: A compiled model.
        mask: The trainable mask to apply.
        learning_rate: The new optimizer's learning rate.

    Raises:
        ValueError: If the model was never compiled.
    """
    set_mask(model, mask)
    optimizer = fresh_optimizer(model.optimizer)
    config = optimizer.get_config()
    config["learning_rate"] = learning_rate
    recompile(model, optimizer=type(optimizer).from_config(config))
    model.optimizer.build(model.trainable_variables)


def fit_in_stages(
    model: keras.Model,
    schedule: UnfreezeSchedule,
    x: object = None,
    y: object = None,
    epochs: int | None = None,
    **fit_kwargs,
) -> tuple[dict[str, list[float]], list[StageRecord]]:
    """Runs ``schedule`` with one ``fit()`` per stage, on any backend.

    Args:
        model: A compiled model.
        schedule: The schedule.
        x: Training inputs, as for ``fit()``.
        y: Training targets.
        epochs: Total epochs; defaults to ``schedule.total_epochs``.
        **fit_kwargs: Passed to every ``fit()`` (``batch_size``,
            ``validation_data``, ``verbose``, ``callbacks`` …).

    Returns:
        The merged history (metric name to one value per epoch) and one
        `StageRecord` per epoch.

    Raises:
        ValueError: If ``epochs`` is below 1 or the model is not compiled.
    """
    epochs = schedule.total_epochs if epochs is None else epochs
    if not is_int(epochs) or epochs < 1:
        raise ValueError(f"epochs must be an int of at least 1. Received: epochs={epochs!r}")
    epochs = int(epochs)
    bounds = [0] + [s.epoch for s in schedule.stages if s.epoch < epochs] + [epochs]
    history: dict[str, list[float]] = {}
    records: list[StageRecord] = []
    for start, end in itertools.pairwise(bounds):
        apply_stage(model, schedule.mask_at(model, start), schedule.learning_rate_at(start))
        for epoch in range(start, end):
            records.append(_record(model, epoch, schedule, recompiled=epoch == start))
        run = model.fit(x, y, initial_epoch=start, epochs=end, **fit_kwargs)
        for key, values in run.history.items():
            history.setdefault(key, []).extend(float(v) for v in values)
    return history, records


def _learning_rate(model: keras.Model) -> float:
    return float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))


def _record(model, epoch, schedule, recompiled) -> StageRecord:
    return StageRecord(
        epoch=epoch,
        stage=schedule.stage_at(epoch),
        trainable_layers=tuple(name for name, trains in get_mask(model).items() if trains),
        learning_rate=schedule.learning_rate_at(epoch),
        recompiled=recompiled,
        in_sync=not compile_status(model).needs_recompile,
    )


@dataclass(frozen=True)
class FitRecord:
    """What one ``fit()`` call raised, warned or refused.

    Attributes:
        warnings: The first line of every warning the call raised, in order.
        refused: The first line of the ``ValueError`` the call raised (JAX
            refuses a ``fit()`` whose trainable set changed since
            ``compile()``), or None when it ran.
    """

    warnings: tuple[str, ...]
    refused: str | None


def fit_recording_warnings(model: keras.Model, *args, **fit_kwargs) -> FitRecord:
    """Calls ``model.fit(*args, **fit_kwargs)``, recording every warning and a refusal.

    A ``fit()`` after a change to ``trainable`` without ``compile()`` behaves
    differently per backend (Keras 3.15.1): TensorFlow keeps its traced train
    function, PyTorch may raise in the optimizer, JAX raises ``ValueError``
    and empties the model's variables. On a ``ValueError`` the model's weights
    are written back as they were before the call, so the model can be
    compiled and trained again.

    Args:
        model: A compiled Keras model.
        *args: Passed to ``model.fit``.
        **fit_kwargs: Passed to ``model.fit``.

    Returns:
        A `FitRecord`.

    Raises:
        ValueError: If ``model`` is not a Keras model.
    """
    if not isinstance(model, keras.Model):
        raise ValueError(f"model must be a keras.Model. Received: model={type(model).__name__}")
    before = [np.array(w, copy=True) for w in model.get_weights()]
    refused = None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            model.fit(*args, **fit_kwargs)
        except ValueError as error:
            refused = (str(error).splitlines() or [""])[0]
            model.set_weights(before)
    messages = tuple((str(w.message).splitlines() or [""])[0] for w in caught)
    return FitRecord(messages, refused)
