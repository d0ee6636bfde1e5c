"""Does unfreezing under an untrained head damage the pretrained base? Measured before and after.

The usual advice (train the head first, then unfreeze) says that a random
head's errors rewrite the pretrained features. This module measures that,
per seed, with one before/after pair for each start:

* ``"untrained head"``: the pretrained base under its new random head;
* ``"trained head"``: the same base under that same head trained until flat
  on the base's cached outputs (`freezelab.finetune.head_first.train_head_until_flat`).

From each start, base and head train together for ``epochs`` at one learning
rate (Adam). The damage to the base is read with a **probe**: a fresh head
(the same random start every time) trained until flat on the base's cached
outputs. The probe before the epoch is the trained start's own head, so
``probe_after - probe_before`` is what a start's epoch did to the base's
features for the new task, with the head's state taken out of the reading;
both starts are probed the same way, so their damage can be compared.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import keras
import numpy as np

from freezelab._quiet import expected_retracing
from freezelab.finetune.drift import (
    drift_by_block,
    relative_change,
    snapshot_weights,
    weight_drift,
)
from freezelab.finetune.head_first import (
    evaluate_split,
    head_layers,
    kept_compiled,
    reset_optimizer,
    train_head_until_flat,
)
from freezelab.finetune.strategies import build_classifier, preprocess_images

if TYPE_CHECKING:
    from freezelab.finetune.strategies import SplitData

STARTS = ("untrained head", "trained head")


@dataclass(frozen=True)
class DamageRun:
    """One start of one seed, before and after its unfrozen epochs.

    Attributes:
        start: ``"untrained head"`` or ``"trained head"``.
        seed: The seed (head initialisation, shuffling).
        val_before: The model's validation accuracy before the epochs.
        val_after: The model's validation accuracy after them.
        probe_before: A fresh head trained until flat on the base before the
            epochs: validation accuracy (the same for both starts of a seed).
        probe_after: The same probe on this start's base after the epochs.
        base_drift: The largest relative weight change in each base block.
        base_drift_whole: The relative change of all the base's weights taken
            together, ``||W1 - W0|| / ||W0||`` over every block's layers.
        probe_passes_before: Passes the probe before the epochs ran until flat.
        probe_passes_after: Passes this start's probe after the epochs ran.
    """

    start: str
    seed: int
    val_before: float
    val_after: float
    probe_before: float
    probe_after: float
    base_drift: dict[str, float]
    base_drift_whole: float
    probe_passes_before: int = 0
    probe_passes_after: int = 0


@expected_retracing()  # one compiled copy per trainable set, refitted per seed
def head_start_damage(
    make_base: Callable[[], keras.Model],
    dataset: SplitData,
    *,
    seed: int = 0,
    learning_rate: float = 1e-3,
    head_learning_rate: float = 1e-3,
    head_max_epochs: int = 300,
    head_patience: int = 10,
    head_min_delta: float = 1e-2,
    epochs: int = 1,
    batch_size: int = 16,
    pool: dict | None = None,
) -> list[DamageRun]:
    """Unfreezes everything under an untrained and under a trained head; probes the base after.

    Args:
        make_base: Returns a fresh pretrained base.
        dataset: Anything with ``x_train, y_train, x_val, y_val, num_classes``.
        seed: Seeds the head's initial weights and the shuffling.
        learning_rate: Adam's rate for base and head together, both starts.
        head_learning_rate: Adam's rate for heads on cached features (the
            trained start and every probe).
        head_max_epochs: See `train_head_until_flat`.
        head_patience: See `train_head_until_flat`.
        head_min_delta: See `train_head_until_flat`.
        epochs: Epochs of base and head together, the same for both starts.
        batch_size: Images per step.
        pool: A dict kept between calls (``{}`` to start) holding the compiled
            models; None compiles anew.

    Returns:
        One `DamageRun` per start, in the order of `STARTS`.

    Raises:
        ValueError: For ``epochs`` below 1 or a ``pool`` that is not a dict.
    """
    if epochs < 1:
        raise ValueError(f"epochs must be at least 1. Received: epochs={epochs}")
    if pool is not None and not isinstance(pool, dict):
        raise ValueError(f"pool must be a dict or None. Received: pool={pool!r}")
    pool = {} if pool is None else pool
    data = (
        preprocess_images(dataset.x_train),
        np.asarray(dataset.y_train),
        preprocess_images(dataset.x_val),
        np.asarray(dataset.y_val),
    )
    head_args = dict(
        learning_rate=head_learning_rate,
        batch_size=batch_size,
        max_epochs=head_max_epochs,
        patience=head_patience,
        min_delta=head_min_delta,
        seed=seed,
        pool=pool,
    )
    keras.utils.set_random_seed(seed)
    model = build_classifier(make_base(), dataset.num_classes, name="head_start")
    random_head = [layer.get_weights() for layer in head_layers(model)]
    starts = {"untrained head": model.get_weights()}
    probe_fit = train_head_until_flat(model, data, **head_args)
    probe_before = probe_fit.evaluation.val_accuracy
    starts["trained head"] = model.get_weights()
    kept, optimizer_start = kept_compiled(model, "full_fine_tuning", "block3", pool)
    runs = []
    for start in STARTS:
        kept.set_weights(starts[start])
        reset_optimizer(kept, optimizer_start, learning_rate)
        before = evaluate_split(kept, *data, batch_size)
        snapshot = snapshot_weights(kept)
        keras.utils.set_random_seed(seed)
        kept.fit(data[0], data[1], epochs=epochs, batch_size=batch_size, verbose=0)
        after = evaluate_split(kept, *data, batch_size)
        layer_drifts = weight_drift(snapshot, kept)
        drift = drift_by_block(layer_drifts)
        base_names = [d.name for d in layer_drifts if d.block.startswith("block")]
        now = snapshot_weights(kept)
        whole = relative_change(
            [w for name in base_names for w in snapshot[name]],
            [w for name in base_names for w in now[name]],
        )
        model.set_weights(kept.get_weights())  # the changed base, under the probe's random head
        for layer, weights in zip(head_layers(model), random_head):
            layer.set_weights(weights)
        probe_after_fit = train_head_until_flat(model, data, **head_args)
        probe_after = probe_after_fit.evaluation.val_accuracy
        runs.append(
            DamageRun(
                start=start,
                seed=seed,
                val_before=before.val_accuracy,
                val_after=after.val_accuracy,
                probe_before=probe_before,
                probe_after=probe_after,
                base_drift={k: v for k, v in drift.items() if k.startswith("block")},
                base_drift_whole=whole,
                probe_passes_before=probe_fit.epochs,
                probe_passes_after=probe_after_fit.epochs,
            )
        )
    return runs


__all__ = ["STARTS", "DamageRun", "head_start_damage"]
