"""Step timing: what is timed, what is reported, and that the model is left as it was."""

import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
from keras import layers

from freezelab.core.freezing import get_mask
from freezelab.speed.timing import (
    StepOutOfMemoryError,
    StepTiming,
    describe_device,
    optimizer_names,
    time_forward,
    time_interleaved,
    time_train_step,
)


def tiny_model():
    inputs = keras.Input((8, 8, 3))
    x = layers.Conv2D(4, 3, padding="same", activation="relu", name="conv1")(inputs)
    x = layers.Conv2D(4, 3, padding="same", activation="relu", name="conv2")(x)
    x = layers.Flatten(name="flatten")(x)
    outputs = layers.Dense(5, name="dense")(x)
    return keras.Model(inputs, outputs, name="tiny")


def param_count(variables):
    return sum(int(np.prod(v.shape)) for v in variables)


def test_reports_median_spread_and_the_setup_honestly():
    timing = time_train_step(tiny_model(), batch_size=4, repeats=3, warmup=1)
    assert isinstance(timing, StepTiming)
    assert len(timing.times_ms) == 3
    assert timing.median_ms == pytest.approx(float(np.median(timing.times_ms)))
    assert timing.iqr_ms >= 0
    assert timing.backend == keras.backend.backend() == "tensorflow"
    assert timing.batch_size == 4 and timing.input_shape == (8, 8, 3)
    # this machine has no GPU: the step ran on the CPU and must say so
    assert timing.device.startswith("CPU (") and not timing.is_gpu
    assert f"{len(os.sched_getaffinity(0))} threads" in timing.device
    assert timing.jit_compile is False  # Keras "auto" means no XLA on a TF CPU
    assert timing.peak_memory_bytes is None
    text = str(timing)
    assert "ms/step" in text and "CPU" in text and "GPU" not in text


def test_mask_is_compiled_in_with_a_fresh_optimizer():
    model = tiny_model()
    model.compile(optimizer="adam", loss="mse")
    x = np.zeros((2, 8, 8, 3), "float32")
    model.train_on_batch(x, np.zeros((2, 5), "float32"))  # train function now cached
    mask = {**get_mask(model), "conv1": False, "conv2": False}
    timing = time_train_step(model, mask, batch_size=2, repeats=1, warmup=1)
    # only the dense layer's weights were updated in the timed steps
    assert timing.trainable_params == param_count(model.get_layer("dense").weights)


def test_model_is_left_as_it_was():
    model = tiny_model()
    optimizer = keras.optimizers.SGD(0.1)
    model.compile(optimizer=optimizer, loss="mse")
    before_weights = [np.array(w) for w in model.weights]
    before_mask = get_mask(model)
    time_train_step(model, {"conv2": False}, batch_size=2, repeats=2, warmup=1)
    for before, after in zip(before_weights, model.weights):
        np.testing.assert_array_equal(before, np.array(after))
    assert get_mask(model) == before_mask
    assert model.optimizer is optimizer
    assert model.loss == "mse"


def test_mask_naming_a_missing_layer_is_rejected_before_anything_runs():
    model = tiny_model()
    with pytest.raises(ValueError, match=r"conv9.*Received"):
        time_train_step(model, {"conv9": False}, repeats=1)
    assert all(get_mask(model).values())


@pytest.mark.parametrize(
    ("argument", "value"), [("batch_size", 0), ("repeats", 0), ("warmup", -1), ("repeats", 1.5)]
)
def test_bad_counts_are_rejected(argument, value):
    with pytest.raises(ValueError, match=f"{argument}={value}"):
        time_train_step(tiny_model(), **{argument: value})


@pytest.mark.parametrize("optimizer", ["adamw2", "", 3])
def test_unknown_optimizer_names_the_accepted_ones(optimizer):
    model = tiny_model()
    with pytest.raises(ValueError) as raised:
        time_train_step(model, {"conv1": False}, repeats=1, optimizer=optimizer)
    message = str(raised.value)
    assert f"Received: optimizer={optimizer!r}" in message
    assert "adam, adamax, adamw" in message and "sgd" in message
    assert not getattr(model, "compiled", False)  # rejected before anything ran
    assert all(get_mask(model).values())


def test_every_accepted_optimizer_name_compiles():
    for name in optimizer_names():
        keras.optimizers.get(name)  # Keras's own lookup accepts each listed name


def test_model_without_fixed_input_size_is_rejected():
    inputs = keras.Input((None, None, 3))
    outputs = layers.GlobalAveragePooling2D()(layers.Conv2D(2, 3)(inputs))
    with pytest.raises(ValueError, match="fixed input size"):
        time_train_step(keras.Model(inputs, outputs), repeats=1)


def test_out_of_memory_gives_a_clear_message_with_the_batch_size(monkeypatch):
    import tensorflow as tf

    model = tiny_model()
    before = [np.array(w) for w in model.weights]

    def exhausted(*args, **kwargs):
        raise tf.errors.ResourceExhaustedError(None, None, "OOM when allocating tensor")

    monkeypatch.setattr(model, "train_on_batch", exhausted)
    with pytest.raises(StepOutOfMemoryError, match=r"batch_size=64 of 8x8x3.*batch_size=32"):
        time_train_step(model, batch_size=64, repeats=1)
    for old, new in zip(before, model.weights):
        np.testing.assert_array_equal(old, np.array(new))


def test_other_errors_are_not_disguised_as_out_of_memory(monkeypatch):
    model = tiny_model()

    def broken(*args, **kwargs):
        raise RuntimeError("something else")

    monkeypatch.setattr(model, "train_on_batch", broken)
    with pytest.raises(RuntimeError, match="something else"):
        time_train_step(model, repeats=1)


def test_run_eagerly_is_reported_and_not_called_xla():
    timing = time_train_step(tiny_model(), batch_size=2, repeats=1, warmup=1, run_eagerly=True)
    assert timing.run_eagerly and not timing.jit_compile
    assert "eager" in str(timing)


def test_describe_device_names_the_cpu_here():
    assert describe_device().startswith(f"CPU ({len(os.sched_getaffinity(0))} threads")


JAX_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import keras
    from keras import layers
    from freezelab.speed.cost import step_cost
    from freezelab.speed.sweep import standard_cases
    from freezelab.speed.timing import time_train_step

    inputs = keras.Input((8, 8, 3))
    x = layers.Conv2D(4, 3, padding="same", activation="relu", name="conv1")(inputs)
    outputs = layers.Dense(5, name="dense")(layers.Flatten()(x))
    model = keras.Model(inputs, outputs)
    before = [w.numpy().copy() for w in model.weights]
    timing = time_train_step(model, {"conv1": False}, batch_size=2, repeats=2, warmup=1)
    unchanged = all((b == w.numpy()).all() for b, w in zip(before, model.weights))
    print(json.dumps({
        "backend": timing.backend, "device": timing.device, "jit": timing.jit_compile,
        "times": len(timing.times_ms), "trainable": timing.trainable_params,
        "cost": step_cost(model).relative_cost, "cases": len(standard_cases(model)),
        "unchanged": bool(unchanged), "tensorflow": "tensorflow" in sys.modules,
    }))
    """
)


def test_jax_backend_times_the_step_without_tensorflow():
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
    done = subprocess.run(
        [sys.executable, "-c", JAX_SCRIPT], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["backend"] == "jax"
    assert report["device"].startswith("CPU (")
    assert report["jit"] is True  # JAX always compiles the step
    assert report["times"] == 2
    assert report["trainable"] == 8 * 8 * 4 * 5 + 5  # only the dense layer trained
    assert report["cost"] == 1.0 and report["cases"] == 2
    assert report["unchanged"]
    assert report["tensorflow"] is False


def test_interleaved_timing_gives_each_mask_its_own_compiled_copy():
    model = tiny_model()
    before = [np.array(w) for w in model.weights]
    masks = [
        {"conv1": True, "conv2": True, "dense": True},
        {"conv1": False, "conv2": True, "dense": True},
        {"conv1": False, "conv2": False, "dense": True},
    ]
    timings = time_interleaved(model, masks, batch_size=2, repeats=2, warmup=1)
    assert [len(t.times_ms) for t in timings] == [2, 2, 2]
    expected = [
        param_count(model.weights),
        param_count(model.get_layer("conv2").weights + model.get_layer("dense").weights),
        param_count(model.get_layer("dense").weights),
    ]
    assert [t.trainable_params for t in timings] == expected
    assert all(get_mask(model).values())
    for old, new in zip(before, model.weights):
        np.testing.assert_array_equal(old, np.array(new))


def test_interleaved_timing_rejects_an_unknown_layer():
    with pytest.raises(ValueError, match="conv9"):
        time_interleaved(tiny_model(), [{"conv9": False}], repeats=1)


def test_forward_timing_runs_no_training():
    model = tiny_model()
    before = [np.array(w) for w in model.weights]
    timing = time_forward(model, batch_size=3, repeats=2, warmup=1)
    assert len(timing.times_ms) == 2 and timing.trainable_params == 0
    assert timing.batch_size == 3 and timing.device.startswith("CPU (")
    for old, new in zip(before, model.weights):
        np.testing.assert_array_equal(old, np.array(new))
