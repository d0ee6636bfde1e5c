import keras
import numpy as np
import pytest

from freezelab.core.compile_guard import compile_status, fresh_optimizer, recompile
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


def test_not_compiled_is_not_a_trap():
    status = compile_status(small_model())
    assert not status.compiled and not status.needs_recompile


def test_change_after_fit_is_detected_and_really_ignored_by_keras():
    model = small_model()
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    x, y = data()
    model.fit(x, y, epochs=1, verbose=0)
    freeze(model, "first")
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


def test_recompile_of_uncompiled_model_is_a_clear_error():
    with pytest.raises(ValueError, match="not compiled"):
        recompile(small_model())


def test_fresh_optimizer_copies_configuration_not_state():
    opt = keras.optimizers.Adam(learning_rate=0.003, beta_1=0.8)
    new = fresh_optimizer(opt)
    assert new is not opt and new.get_config()["beta_1"] == pytest.approx(0.8)
    with pytest.raises(ValueError, match="Received"):
        fresh_optimizer("adam")
