"""What freezelab does on JAX and PyTorch where TensorFlow behaves otherwise.

Run by `test_other_backends.py` under ``KERAS_BACKEND=jax`` and ``torch``
(after the portable tests, in the same process, with TensorFlow hidden by
`tests.backends.without_tensorflow`); skipped on TensorFlow, whose behaviour
the rest of the suite states. Checked with Keras 3.15, JAX 0.10 and
PyTorch 2.13 on the CPU.
"""

from __future__ import annotations

import re
import sys

import keras
import numpy as np
import pytest

from freezelab.core.compile_guard import compile_status, recompile
from freezelab.core.freezing import freeze
from freezelab.finetune.unfreezing import GradualUnfreezing, UnfreezeSchedule
from freezelab.speed.timing import StepOutOfMemoryError, time_train_step

BACKEND = keras.backend.backend()
# Keras's error when fit() on JAX meets a trainable set changed since compile() (README quotes it).
JAX_REFITS_CHANGED_SET = (
    "Argument `optimizer_variables` must be a list of tensors corresponding 1:1 to "
    "the trainable variables list that the optimizer was built with"
)
pytestmark = pytest.mark.skipif(
    BACKEND == "tensorflow",
    reason="states how jax and torch differ from TensorFlow; tests/backends/"
    "test_other_backends.py runs it under KERAS_BACKEND=jax and torch",
)


def small_model(size=4):
    return keras.Sequential(
        [
            keras.Input((size,)),
            keras.layers.Dense(8, name="first"),
            keras.layers.Dense(2, name="second"),
        ]
    )


def data(size=4):
    rng = np.random.default_rng(0)
    return rng.normal(size=(16, size)).astype("float32"), rng.normal(size=(16, 2)).astype("float32")


def kernel(model, name):
    return np.array(model.get_layer(name).kernel)


def test_freezing_after_fit_is_detected_and_a_recompile_fixes_it():
    model = small_model()
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    x, y = data()
    model.fit(x, y, epochs=1, verbose=0)
    freeze(model, "first")
    status = compile_status(model)
    assert status.needs_recompile and status.changed_layers == ["first"]
    assert not recompile(model).needs_recompile
    before_first, before_second = kernel(model, "first"), kernel(model, "second")
    model.fit(x, y, epochs=1, verbose=0)
    np.testing.assert_array_equal(kernel(model, "first"), before_first)
    assert not np.allclose(kernel(model, "second"), before_second)


def test_without_a_recompile_the_next_fit_is_not_silently_wrong():
    """TensorFlow's cached train function keeps training a layer frozen after fit().

    JAX's fit() carries the trainable variables in its state and refuses the
    changed set with Keras's own ValueError; PyTorch's reads the flags at every
    step, so the frozen layer stays put and the others train.
    """
    model = small_model()
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    x, y = data()
    model.fit(x, y, epochs=1, verbose=0)
    freeze(model, "first")
    before_first, before_second = kernel(model, "first"), kernel(model, "second")
    if BACKEND == "jax":
        with pytest.raises(ValueError, match=re.escape(JAX_REFITS_CHANGED_SET)):
            model.fit(x, y, epochs=1, verbose=0)
    else:
        model.fit(x, y, epochs=1, verbose=0)
        np.testing.assert_array_equal(kernel(model, "first"), before_first)
        assert not np.allclose(kernel(model, "second"), before_second)


def test_after_a_stale_fit_weights_copied_before_restore_the_model():
    """Lesson 02's table and exercise 5: copy the weights before a fit() that may be stale.

    On JAX, Keras 3.15.1's JAXTrainer.fit purges the model's variables before the first step
    and puts them back only after a step has run, so the refused fit() leaves them empty:
    reading a weight fails, and so does fit() after a fresh compile(). On PyTorch the stale
    fit() runs with the new flags and the weights stay readable. On both, weights copied
    before the stale fit() and put back with set_weights() make the model whole again, and a
    fresh compile() trains the new set.
    """
    model = small_model()
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    x, y = data()
    model.fit(x, y, epochs=1, verbose=0)
    saved = model.get_weights()
    freeze(model, "first")
    if BACKEND == "jax":
        with pytest.raises(ValueError, match=re.escape(JAX_REFITS_CHANGED_SET)):
            model.fit(x, y, epochs=1, verbose=0)
        with pytest.raises(TypeError):
            model.get_weights()
        model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
        with pytest.raises(RuntimeError):
            model.fit(x, y, epochs=1, verbose=0)
    else:
        model.fit(x, y, epochs=1, verbose=0)  # PyTorch: the new flags take effect at once
        assert len(model.get_weights()) == len(saved)
    model.set_weights(saved)
    for restored, copy in zip(model.get_weights(), saved):
        np.testing.assert_array_equal(restored, copy)
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    before_first, before_second = kernel(model, "first"), kernel(model, "second")
    model.fit(x, y, epochs=1, verbose=0)
    np.testing.assert_array_equal(kernel(model, "first"), before_first)
    assert not np.allclose(kernel(model, "second"), before_second)


def test_compile_with_the_same_optimizer_after_freezing():
    """Lesson 01 and fl.compile_status: on JAX the optimizer, not fit(), holds the old set.

    Freezing only, then compile() with the already built optimizer: JAX refuses the next fit();
    TensorFlow and PyTorch accept the smaller set, and the frozen layer stays put.
    """
    model = small_model()
    optimizer = keras.optimizers.SGD(0.1)
    model.compile(optimizer=optimizer, loss="mse")
    x, y = data()
    model.fit(x, y, epochs=1, verbose=0)
    freeze(model, "first")
    model.compile(optimizer=optimizer, loss="mse")  # freezing only, the built optimizer kept
    before_first, before_second = kernel(model, "first"), kernel(model, "second")
    if BACKEND == "jax":
        with pytest.raises(ValueError, match=re.escape(JAX_REFITS_CHANGED_SET)):
            model.fit(x, y, epochs=1, verbose=0)
    else:
        model.fit(x, y, epochs=1, verbose=0)
        np.testing.assert_array_equal(kernel(model, "first"), before_first)
        assert not np.allclose(kernel(model, "second"), before_second)


def test_gradual_unfreezing_inside_one_fit_refuses_with_a_clear_error():
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(2, 3, name="block1_conv1")(inputs)
    x = keras.layers.Conv2D(2, 3, name="block2_conv1")(x)
    outputs = keras.layers.Dense(2, name="head")(keras.layers.Flatten()(x))
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="adam", loss="mse")
    schedule = UnfreezeSchedule.top_down(blocks=("block2",), head_epochs=1)
    rng = np.random.default_rng(0)
    images, targets = rng.normal(size=(4, 8, 8, 3)), rng.normal(size=(4, 2))
    with pytest.raises(RuntimeError, match=rf"backend '{BACKEND}'.*fit_in_stages"):
        model.fit(images, targets, epochs=2, verbose=0, callbacks=[GradualUnfreezing(schedule)])


def backend_out_of_memory_error():
    """The error this backend raises when an accelerator runs out of memory."""
    if BACKEND == "jax":
        import jax

        return jax.errors.JaxRuntimeError(
            "RESOURCE_EXHAUSTED: Out of memory while trying to allocate 1073741824 bytes."
        )
    import torch

    return torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 1.00 GiB")


def test_out_of_memory_of_this_backend_gets_the_clear_message(monkeypatch):
    model = small_model()

    def exhausted(*args, **kwargs):
        raise backend_out_of_memory_error()

    monkeypatch.setattr(model, "train_on_batch", exhausted)
    with pytest.raises(StepOutOfMemoryError, match=r"batch_size=64 of 4 .*batch_size=32"):
        time_train_step(model, batch_size=64, repeats=1)


def test_the_run_had_no_tensorflow():
    # Last in the run: every test before it ran where TensorFlow cannot be imported.
    assert sys.modules.get("tensorflow") is None
    with pytest.raises(ModuleNotFoundError):
        __import__("tensorflow")
