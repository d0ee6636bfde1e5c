"""Does an untrained head wreck the pretrained base? Drift under Adam and SGD.

The usual advice (train the head first, then unfreeze) rests on one
mechanism: a random head sends large gradients into the base. Whether large
gradients move the base further depends on the optimizer. SGD's step is
``learning_rate * gradient``: a larger gradient, a larger step. Adam's step
is about ``learning_rate`` per parameter whatever the gradient's size,
because it divides by the gradient's running root mean square. So the same
experiment is run under both: for each seed, one model starts from the
pretrained base under its random head (``"untrained head"``) and from the same
base under that head trained on cached features (``"trained head"``); then
everything trains for the same epochs at the same learning rate, and the
base's drift is measured.

One compiled model per optimizer serves every seed and both starts (the
weights and the optimizer state are reset before each run), so ``fit()``
traces its train function once per optimizer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import keras
import numpy as np

from freezelab.core.layers import iter_layers
from freezelab.finetune.drift import drift_by_block, snapshot_weights, weight_drift
from freezelab.finetune.strategies import build_classifier, preprocess_images

if TYPE_CHECKING:
    from freezelab.finetune.strategies import SplitData

OPTIMIZERS = ("adam", "sgd")
STARTS = ("untrained head", "trained head")


@dataclass(frozen=True)
class HeadStartRun:
    """One run of the base under one optimizer from one start.

    Attributes:
        optimizer: ``"adam"`` or ``"sgd"``.
        start: ``"untrained head"`` or ``"trained head"``.
        seed: The seed (head initialisation, shuffling).
        first_loss: Training loss on the training images before the run.
        base_drift: The largest relative weight change in each base block.
        val_accuracy: Validation accuracy after the run.
    """

    optimizer: str
    start: str
    seed: int
    first_loss: float
    base_drift: dict[str, float]
    val_accuracy: float


def head_start_drift(
    make_base: Callable[[], keras.Model],
    dataset: SplitData,
    *,
    seed: int = 0,
    optimizers: Sequence[str] = OPTIMIZERS,
    learning_rate: float = 1e-3,
    head_learning_rate: float = 1e-3,
    head_epochs: int = 30,
    epochs: int = 1,
    batch_size: int = 16,
    reuse: dict | None = None,
) -> list[HeadStartRun]:
    """Trains base and head together from an untrained and from a trained head.

    Args:
        make_base: Returns a fresh pretrained base.
        dataset: Anything with ``x_train, y_train, x_val, y_val, num_classes``.
        seed: Seeds the head's initial weights and the shuffling.
        optimizers: Optimizers to run, each at ``learning_rate``.
        learning_rate: The one learning rate of every run of the base.
        head_learning_rate: Adam's learning rate for the head on cached features.
        head_epochs: Epochs of the head on cached features (the trained start).
        epochs: Epochs of base and head together, the same for every run.
        batch_size: Images per step.
        reuse: A dict kept between calls (``{}`` to start) holding one
            compiled model per optimizer; None compiles anew.

    Returns:
        One `HeadStartRun` per optimizer and start, optimizers outermost.

    Raises:
        ValueError: For an unknown optimizer or a ``reuse`` that is not a dict.
    """
    for name in optimizers:
        if name not in OPTIMIZERS:
            raise ValueError(f"optimizers must come from {OPTIMIZERS}. Received: {name!r}")
    if reuse is not None and not isinstance(reuse, dict):
        raise ValueError(f"reuse must be a dict or None. Received: reuse={reuse!r}")
    x_train = preprocess_images(dataset.x_train)
    x_val = preprocess_images(dataset.x_val)
    y_train, y_val = np.asarray(dataset.y_train), np.asarray(dataset.y_val)
    keras.utils.set_random_seed(seed)
    model = build_classifier(make_base(), dataset.num_classes, name="head_start")
    starts = {"untrained head": model.get_weights()}
    _train_head(model, x_train, y_train, head_learning_rate, head_epochs, batch_size)
    starts["trained head"] = model.get_weights()
    runs = []
    for name in optimizers:
        kept, optimizer_start = _kept_model(model, name, learning_rate, reuse)
        for start, weights in starts.items():
            kept.set_weights(weights)
            for variable, value in zip(kept.optimizer.variables, optimizer_start):
                variable.assign(value)
            keras.utils.set_random_seed(seed)
            first_loss = float(kept.evaluate(x_train, y_train, verbose=0)[0])
            before = snapshot_weights(kept)
            history = kept.fit(
                x_train,
                y_train,
                epochs=epochs,
                batch_size=batch_size,
                validation_data=(x_val, y_val),
                verbose=0,
            )
            drift = drift_by_block(weight_drift(before, kept))
            runs.append(
                HeadStartRun(
                    optimizer=name,
                    start=start,
                    seed=seed,
                    first_loss=first_loss,
                    base_drift={k: v for k, v in drift.items() if k.startswith("block")},
                    val_accuracy=float(history.history["val_accuracy"][-1]),
                )
            )
    return runs


def _train_head(model, x_train, y_train, learning_rate, epochs, batch_size) -> None:
    """Trains the head's layers (shared with ``model``) on the base's cached outputs."""
    head_refs = [ref for ref in iter_layers(model) if ref.block == "head"]
    extractor = keras.Model(model.input, head_refs[0].layer.input)
    features = extractor.predict(x_train, batch_size=batch_size, verbose=0)
    inputs = keras.Input(shape=features.shape[1:])
    x = inputs
    for ref in head_refs:
        x = ref.layer(x)
    head = keras.Model(inputs, x)
    head.compile(
        optimizer=keras.optimizers.Adam(learning_rate), loss="sparse_categorical_crossentropy"
    )
    head.fit(features, y_train, epochs=epochs, batch_size=batch_size, verbose=0)


def _kept_model(model, name, learning_rate, reuse) -> tuple[keras.Model, list[np.ndarray]]:
    """A compiled copy of ``model`` for ``name`` and its optimizer's starting state."""
    key = (name, float(learning_rate), tuple(model.input.shape), model.output.shape[-1])
    if reuse is not None and key in reuse:
        return reuse[key]
    kept = keras.models.clone_model(model)
    optimizer = (
        keras.optimizers.Adam(learning_rate)
        if name == "adam"
        else keras.optimizers.SGD(learning_rate)
    )
    kept.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    kept.optimizer.build(kept.trainable_variables)
    entry = (kept, [np.array(v) for v in kept.optimizer.variables])
    if reuse is not None:
        reuse[key] = entry
    return entry


__all__ = ["OPTIMIZERS", "STARTS", "HeadStartRun", "head_start_drift"]
