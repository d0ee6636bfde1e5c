"""Tests for freezelab.finetune.unfreezing: the schedule, the callback, the per-stage driver."""

import keras
import numpy as np
import pytest

from freezelab.finetune.drift import snapshot_weights, weight_drift
from freezelab.finetune.unfreezing import (
    GradualUnfreezing,
    UnfreezeSchedule,
    UnfreezeStage,
    fit_in_stages,
    fit_recording_warnings,
)

LAYERS = ["block1_conv1", "block2_conv1", "block3_conv1", "predictions"]


def tiny_vgg_like():
    inputs = keras.Input((8, 8, 3))
    x = inputs
    for block in (1, 2, 3):
        x = keras.layers.Conv2D(4, 3, padding="same", name=f"block{block}_conv1")(x)
    x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    outputs = keras.layers.Dense(3, activation="softmax", name="predictions")(x)
    model = keras.Model(inputs, outputs)
    model.compile(
        keras.optimizers.Adam(1e-2), "sparse_categorical_crossentropy", metrics=["accuracy"]
    )
    return model


def schedule():
    return UnfreezeSchedule.top_down(
        blocks=("block3", "block2"),
        head_epochs=1,
        epochs_per_stage=1,
        head_learning_rate=1e-2,
        learning_rate=5e-3,
        frozen_at_start=("block1", "block2", "block3"),
    )


# Written out by hand: what trains in each epoch of `schedule()`.
EXPECTED_TRAINABLE = [
    {"predictions"},
    {"block3_conv1", "predictions"},
    {"block2_conv1", "block3_conv1", "predictions"},
]


def data(seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(32, 8, 8, 3)).astype("float32"), rng.integers(0, 3, 32)


class EpochWatcher(keras.callbacks.Callback):
    """Records, independently of freezelab, what moved in each epoch and what Keras trains."""

    def __init__(self):
        super().__init__()
        self.moved, self.keras_trainable, self.learning_rates, self.optimizers = [], [], [], []

    def on_epoch_begin(self, epoch, logs=None):
        self.before = snapshot_weights(self.model)
        owners = {id(w): layer.name for layer in self.model.layers for w in layer.weights}
        self.keras_trainable.append({owners[id(w)] for w in self.model.trainable_weights})
        self.learning_rates.append(float(np.asarray(self.model.optimizer.learning_rate)))
        self.optimizers.append(id(self.model.optimizer))

    def on_epoch_end(self, epoch, logs=None):
        drifts = weight_drift(self.before, self.model)
        self.moved.append({d.name for d in drifts if d.relative_change > 0})


def test_top_down_schedule_by_hand():
    plan = schedule()
    assert [plan.stage_at(e) for e in range(4)] == [0, 1, 2, 2]
    assert [plan.learning_rate_at(e) for e in range(3)] == [1e-2, 5e-3, 5e-3]
    assert plan.total_epochs == 3
    model = tiny_vgg_like()
    for epoch, expected in enumerate(EXPECTED_TRAINABLE):
        mask = plan.mask_at(model, epoch)
        assert list(mask) == LAYERS
        assert {name for name, trains in mask.items() if trains} == expected


def test_callback_unfreezes_on_schedule_and_recompiles_each_stage():
    model = tiny_vgg_like()
    callback = GradualUnfreezing(schedule())
    watcher = EpochWatcher()  # runs after the callback at each epoch start
    x, y = data()
    history = model.fit(x, y, epochs=3, batch_size=8, verbose=0, callbacks=[callback, watcher])
    records = callback.records
    assert [set(r.trainable_layers) for r in records] == EXPECTED_TRAINABLE
    assert [r.recompiled for r in records] == [True, True, True]
    assert all(r.in_sync for r in records)
    # What Keras itself trains and what actually moved agree with the schedule.
    assert watcher.keras_trainable == EXPECTED_TRAINABLE
    assert watcher.moved == EXPECTED_TRAINABLE
    assert watcher.learning_rates == pytest.approx([1e-2, 5e-3, 5e-3])
    assert len(set(watcher.optimizers)) == 3  # a fresh optimizer per stage
    assert len(history.history["loss"]) == 3


def test_callback_does_not_recompile_when_nothing_changes():
    plan = UnfreezeSchedule.top_down(
        blocks=("block3",),
        head_epochs=2,
        head_learning_rate=1e-2,
        learning_rate=1e-2,
        frozen_at_start=("block1", "block2", "block3"),
    )
    model = tiny_vgg_like()
    callback = GradualUnfreezing(plan)
    x, y = data()
    model.fit(x, y, epochs=3, batch_size=16, verbose=0, callbacks=[callback])
    assert [r.recompiled for r in callback.records] == [True, False, True]


def test_fit_in_stages_follows_the_same_schedule():
    model = tiny_vgg_like()
    watcher = EpochWatcher()
    x, y = data()
    history, records = fit_in_stages(
        model,
        schedule(),
        x,
        y,
        batch_size=8,
        verbose=0,
        callbacks=[watcher],
        validation_data=(x, y),
    )
    assert [set(r.trainable_layers) for r in records] == EXPECTED_TRAINABLE
    assert watcher.moved == EXPECTED_TRAINABLE
    assert len(history["val_accuracy"]) == 3


def test_schedule_rejects_bad_epochs():
    with pytest.raises(ValueError, match="Received"):
        UnfreezeSchedule(stages=(UnfreezeStage(0, ("block1",)),))
    with pytest.raises(ValueError, match="increase"):
        UnfreezeSchedule(stages=(UnfreezeStage(2, ("block1",)), UnfreezeStage(2, ("block2",))))
    with pytest.raises(ValueError, match="head_epochs"):
        UnfreezeSchedule.top_down(head_epochs=0)


def test_schedule_naming_a_missing_block_fails_clearly():
    plan = UnfreezeSchedule.top_down(blocks=("block5",), frozen_at_start=("block1",))
    with pytest.raises(ValueError, match="block5"):
        plan.mask_at(tiny_vgg_like(), 1)


class _WarnOnce(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        import warnings

        warnings.warn("first line\nsecond line", UserWarning, stacklevel=1)


class _RefuseAfterOneStep(keras.callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        raise ValueError("refused here\nmore detail")


def _tiny_fit_data():
    rng = np.random.default_rng(0)
    return rng.normal(size=(8, 8, 8, 3)).astype("float32"), np.arange(8) % 3


def test_fit_recording_warnings_records_each_warning_once():
    model = tiny_vgg_like()
    x, y = _tiny_fit_data()
    record = fit_recording_warnings(
        model, x, y, epochs=1, batch_size=4, verbose=0, callbacks=[_WarnOnce()]
    )
    assert record.refused is None
    assert "first line" in record.warnings
    assert all("\n" not in message for message in record.warnings)


def test_fit_recording_warnings_restores_the_weights_after_a_refusal():
    model = tiny_vgg_like()
    x, y = _tiny_fit_data()
    before = model.get_weights()
    record = fit_recording_warnings(
        model, x, y, epochs=1, batch_size=4, verbose=0, callbacks=[_RefuseAfterOneStep()]
    )
    assert record.refused == "refused here"
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), before))
    with pytest.raises(ValueError, match="Received: model="):
        fit_recording_warnings("not a model", x, y)
