import keras
import numpy as np
import pytest

from freezelab.core.compile_guard import (
    CompileStatus,
    compile_status,
    fresh_optimizer,
    recompile,
)
from freezelab.core.freezing import freeze, unfreeze


def small_model():
    return keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(8, name="first"),
            keras.layers.Dense(2, name="second"),
        ]
    )


def data():
    rng = np.random.default_rng(0)
    return rng.normal(size=(16, 4)).astype("float32"), rng.normal(size=(16, 2)).astype("float32")


def fitted_then_frozen():
    """A model compiled with SGD, fitted once, then its first layer frozen (no recompile)."""
    model = small_model()
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    x, y = data()
    model.fit(x, y, epochs=1, verbose=0)
    freeze(model, "first")
    return model, x, y


def test_not_compiled_is_not_a_trap():
    status = compile_status(small_model())
    assert not status.compiled and not status.needs_recompile


def test_change_after_fit_is_detected_and_really_ignored_by_keras():
    model, x, y = fitted_then_frozen()
    status = compile_status(model)
    assert status.needs_recompile
    assert status.changed_layers == ["first"]
    assert status.train_function_built
    # The trap is real: the frozen layer keeps moving without a recompile.
    before = model.get_layer("first").kernel.numpy().copy()
    model.fit(x, y, epochs=1, verbose=0)
    assert not np.allclose(model.get_layer("first").kernel.numpy(), before)
    # After recompile, the frozen layer stays exactly put.
    assert not recompile(model).needs_recompile
    before = model.get_layer("first").kernel.numpy().copy()
    model.fit(x, y, epochs=1, verbose=0)
    np.testing.assert_array_equal(model.get_layer("first").kernel.numpy(), before)


@pytest.mark.skipif(
    keras.backend.backend() != "tensorflow",
    reason="TensorFlow's half; tests/backends/test_what_differs.py states JAX's and PyTorch's",
)
def test_same_optimizer_after_freezing_keeps_the_frozen_layer_on_tensorflow():
    # Lesson 01, section 5: freezing only, then compile() with the optimizer that already
    # trained. TensorFlow accepts the smaller set: the frozen layer stays put, the other trains.
    model, x, y = fitted_then_frozen()
    optimizer = model.optimizer
    model.compile(optimizer=optimizer, loss="mse")
    first = model.get_layer("first").kernel.numpy().copy()
    second = model.get_layer("second").kernel.numpy().copy()
    model.fit(x, y, epochs=1, verbose=0)
    assert model.optimizer is optimizer
    np.testing.assert_array_equal(model.get_layer("first").kernel.numpy(), first)
    assert not np.allclose(model.get_layer("second").kernel.numpy(), second)


def test_unfreeze_after_fit_needs_fresh_optimizer():
    model = small_model()
    freeze(model, "first")
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse", metrics=["mae"])
    x, y = data()
    model.fit(x, y, epochs=1, verbose=0)
    unfreeze(model, "first")
    status = compile_status(model)
    assert status.needs_recompile and "first" in status.changed_layers
    recompile(model)
    assert isinstance(model.optimizer, keras.optimizers.Adam)
    assert float(model.optimizer.learning_rate) == pytest.approx(0.01)
    history = model.fit(x, y, epochs=1, verbose=0)
    assert "mae" in history.history
    before = model.get_layer("first").kernel.numpy().copy()
    model.fit(x, y, epochs=1, verbose=0)
    assert not np.allclose(model.get_layer("first").kernel.numpy(), before)


def test_change_before_first_fit_is_reported_but_not_yet_built():
    model = small_model()
    model.compile(optimizer="sgd", loss="mse")
    freeze(model, "second")
    status = compile_status(model)
    assert status.needs_recompile and not status.train_function_built
    assert "recompile" in status.message.lower()
    # The message says the change takes effect; Keras's first fit() agrees.
    assert status.message.startswith("Recompile advised") and "takes effect" in status.message
    kernel = np.array(model.get_layer("second").kernel)
    x, y = data()
    model.fit(x, y, verbose=0)
    np.testing.assert_array_equal(np.array(model.get_layer("second").kernel), kernel)


def test_an_optimizer_built_for_the_old_set_is_named_as_the_reason():
    model = small_model()
    model.compile(optimizer="sgd", loss="mse")
    model.optimizer.build(model.trainable_variables)
    freeze(model, "second")
    status = compile_status(model)
    assert status.fit_would_be_stale and not status.train_function_built
    assert (
        status.message.startswith("Recompile needed")
        and "optimizer was already built" in status.message
    )


def test_recompile_of_uncompiled_model_is_a_clear_error():
    with pytest.raises(ValueError, match="not compiled"):
        recompile(small_model())


def test_fresh_optimizer_copies_configuration_not_state():
    opt = keras.optimizers.Adam(learning_rate=0.003, beta_1=0.8)
    new = fresh_optimizer(opt)
    assert new is not opt and new.get_config()["beta_1"] == pytest.approx(0.8)
    with pytest.raises(ValueError, match="Received"):
        fresh_optimizer("adam")


def nested_conv_model():
    base = keras.Sequential(
        [
            keras.Input((6, 6, 1)),
            keras.layers.Conv2D(2, 3, name="conv"),
            keras.layers.MaxPooling2D(name="pool"),
        ],
        name="base",
    )
    inputs = keras.Input((6, 6, 1), name="pixels")
    x = keras.layers.Flatten(name="flat")(base(inputs))
    return keras.Model(inputs, keras.layers.Dense(2, name="out")(x))


def test_only_layers_with_weights_are_listed_after_freezing_a_nested_base():
    model = nested_conv_model()
    model.compile(optimizer="sgd", loss="mse")
    before = {id(w) for w in model.trainable_weights}
    model.get_layer("base").trainable = False
    after = {id(w) for w in model.trainable_weights}
    left = [w for w in model.weights if id(w) in before and id(w) not in after]
    # Keras's own lists: exactly the conv's kernel and bias left the trainable set.
    assert {w.path.split("/")[-2] for w in left} == {"conv"}
    status = compile_status(model)
    assert status.changed_layers == ["conv"] and status.newly_frozen == ["conv"]
    assert "pool" not in status.message and "input" not in status.message
    assert "frozen since: conv" in status.message


def test_stale_only_once_a_train_function_or_optimizer_exists():
    model = small_model()
    model.compile(optimizer="sgd", loss="mse")
    freeze(model, "first")
    assert compile_status(model).needs_recompile
    assert not compile_status(model).fit_would_be_stale  # Keras still honours it
    recompile(model)
    x, y = data()
    model.fit(x, y, verbose=0)
    unfreeze(model, "first")
    status = compile_status(model)
    assert status.fit_would_be_stale and status.newly_unfrozen == ["first"]


def test_freezing_the_whole_model_is_a_change_of_every_weighted_layer():
    model = small_model()
    model.compile(optimizer="sgd", loss="mse")
    model.trainable = False
    assert compile_status(model).newly_frozen == ["first", "second"]


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: compile_status(None), r"Received: model=None"),
        (lambda: recompile("model"), r"Received: model='model'"),
        (lambda: recompile(small_model(), optimizer=3), r"Received: optimizer=3"),
    ],
)
def test_bad_arguments_name_what_was_received(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_stale_message_suggests_plain_keras_first_then_freezelab():
    model, _, _ = fitted_then_frozen()
    message = compile_status(model).message
    plain = message.index("model.compile(..., optimizer=<a new optimizer>)")
    assert plain < message.index("freezelab.recompile(model)")


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="TensorFlow's behaviour")
def test_tensorflow_message_says_what_the_next_fit_does_and_keras_agrees():
    x, y = data()
    # Frozen after fit(): the message says it keeps training, and it does.
    model = small_model()
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    model.fit(x, y, epochs=1, verbose=0)
    freeze(model, "first")
    message = compile_status(model).message
    assert "On TensorFlow" in message and "layers frozen since keep training" in message
    assert "stay put" not in message
    before = model.get_layer("first").kernel.numpy().copy()
    model.fit(x, y, epochs=1, verbose=0)
    assert not np.allclose(model.get_layer("first").kernel.numpy(), before)
    # Unfrozen after fit(): the message says it stays put, and it does.
    model = small_model()
    freeze(model, "first")
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    model.fit(x, y, epochs=1, verbose=0)
    unfreeze(model, "first")
    message = compile_status(model).message
    assert "layers unfrozen since stay put" in message and "keep training" not in message
    before = model.get_layer("first").kernel.numpy().copy()
    model.fit(x, y, epochs=1, verbose=0)
    np.testing.assert_array_equal(model.get_layer("first").kernel.numpy(), before)


def test_stale_effect_names_each_backends_behaviour():
    frozen = CompileStatus(
        compiled=True, changed_layers=["first"], train_function_built=True, newly_frozen=["first"]
    )
    unfrozen = CompileStatus(
        compiled=True, changed_layers=["first"], train_function_built=True, newly_unfrozen=["first"]
    )
    assert "raises a ValueError" in frozen.stale_fit_effect("jax")
    # The optimizer, not fit(), holds the old set on JAX: compile() alone does not help.
    assert "even after compile() unless the optimizer is new" in frozen.stale_fit_effect("jax")
    assert "freezing takes effect" in frozen.stale_fit_effect("torch")
    assert "Unknown variable" not in frozen.stale_fit_effect("torch")
    assert "Unknown variable" in unfrozen.stale_fit_effect("torch")
    assert "silently keeps the old set" in frozen.stale_fit_effect("tensorflow")
