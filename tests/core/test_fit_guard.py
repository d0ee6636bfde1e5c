"""The recompile guard stops a stale fit() before it trains, on TensorFlow and on JAX."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import numpy as np
import pytest

from freezelab.core.fit_guard import (
    StaleCompileError,
    StaleCompileWarning,
    guard,
    guard_mode,
)
from freezelab.core.freezing import freeze

ROOT = Path(__file__).resolve().parents[2]


def small_model():
    """A nested conv base (conv + weightless pool) under a Dense head."""
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
    return keras.Model(inputs, keras.layers.Dense(2, name="out")(x), name="guarded")


def data():
    rng = np.random.default_rng(0)
    return rng.normal(size=(8, 6, 6, 1)).astype("float32"), rng.normal(size=(8, 2)).astype(
        "float32"
    )


def trained(mode="raise"):
    model = guard(small_model(), on_stale=mode)
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    model.fit(*data(), verbose=0)
    return model


def conv_kernel(model):
    return model.get_layer("base").get_layer("conv").kernel.numpy().copy()


def test_stale_fit_is_stopped_before_any_step_and_names_only_weighted_layers():
    model = trained()
    model.get_layer("base").trainable = False  # after fit(): the trap
    before = conv_kernel(model)
    weights_before = [w.numpy().copy() for w in model.weights]
    with pytest.raises(StaleCompileError) as error:
        model.fit(*data(), verbose=0)
    message = str(error.value)
    assert "frozen since compile() but still trained by the old train step: conv" in message
    assert "compiled and trained. On TensorFlow, fit() has already built" in message
    assert "Keras would keep training the old set" not in message  # not true on JAX or PyTorch
    assert "fl.recompile(model)" in message
    for weightless in ("pool", "flat", "pixels", "input"):
        assert weightless not in message
    np.testing.assert_array_equal(conv_kernel(model), before)
    for old, new in zip(weights_before, model.weights):
        np.testing.assert_array_equal(old, new.numpy())  # nothing trained at all


def test_without_the_guard_keras_really_trains_the_frozen_layer():
    model = small_model()
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    model.fit(*data(), verbose=0)
    model.get_layer("base").trainable = False
    before = conv_kernel(model)
    model.fit(*data(), verbose=0)  # what the guard prevents
    assert not np.allclose(conv_kernel(model), before)


def test_recompile_mode_recompiles_and_the_frozen_layer_stays_put(capsys):
    model = trained("recompile")
    freeze(model, "conv")
    before = conv_kernel(model)
    model.fit(*data(), verbose=0)
    np.testing.assert_array_equal(conv_kernel(model), before)
    assert "recompiled with a fresh optimizer" in capsys.readouterr().out


def test_unfreezing_after_fit_is_stopped_too():
    model = guard(small_model())
    freeze(model, "conv")
    model.compile(optimizer="adam", loss="mse")
    model.fit(*data(), verbose=0)
    model.get_layer("base").get_layer("conv").trainable = True
    with pytest.raises(StaleCompileError, match=r"unfrozen since compile.*: conv"):
        model.fit(*data(), verbose=0)


def test_change_before_the_first_fit_passes_because_keras_honours_it():
    model = guard(small_model())
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    freeze(model, "conv")
    before = conv_kernel(model)
    model.fit(*data(), verbose=0)
    np.testing.assert_array_equal(conv_kernel(model), before)


def test_warn_mode_warns_and_off_removes_the_guard():
    model = trained("warn")
    freeze(model, "conv")
    with pytest.warns(StaleCompileWarning, match="conv"):
        model.fit(*data(), verbose=0)
    assert guard_mode(model) == "warn"
    guard(model, on_stale="off")
    assert guard_mode(model) == "off" and "fit" not in model.__dict__


def test_guard_is_installed_once_and_returns_the_model():
    model = small_model()
    assert guard(model) is model and guard(model, "recompile") is model
    assert guard_mode(model) == "recompile"
    assert model.fit.__wrapped__ is type(model).fit
    assert guard_mode(small_model()) == "off"


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: guard("model"), r"Received: model='model'"),
        (lambda: guard(small_model(), on_stale="stop"), r"Received: on_stale='stop'"),
    ],
)
def test_bad_arguments(call, match):
    with pytest.raises(ValueError, match=match):
        call()


JAX_SCRIPT = textwrap.dedent(
    """
    import json
    import keras
    import numpy as np
    import freezelab as fl

    def model():
        m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="first"),
                              keras.layers.Dense(2, name="second")])
        return fl.guard(m)

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(8, 4)).astype("float32"), rng.normal(size=(8, 2)).astype("float32")
    out = {"backend": keras.backend.backend()}
    m = model()
    m.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    m.fit(x, y, verbose=0)
    fl.freeze(m, "first")
    before = m.get_layer("first").kernel.numpy().copy()
    try:
        m.fit(x, y, verbose=0)
        out["raised"] = None
    except fl.StaleCompileError as error:
        out["raised"] = str(error)
    out["unchanged_after_stop"] = bool(np.array_equal(m.get_layer("first").kernel.numpy(), before))
    fl.guard(m, on_stale="recompile")
    m.fit(x, y, verbose=0)
    out["unchanged_after_recompile"] = bool(
        np.array_equal(m.get_layer("first").kernel.numpy(), before))
    second = m.get_layer("second").kernel.numpy()
    out["second_trained"] = bool(np.isfinite(second).all())
    print("RESULT " + json.dumps(out))
    """
)


@pytest.mark.slow
def test_guard_stops_the_stale_fit_on_jax():
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
    run = subprocess.run(
        [sys.executable, "-c", JAX_SCRIPT],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    line = next(line for line in run.stdout.splitlines() if line.startswith("RESULT "))
    result = json.loads(line.removeprefix("RESULT "))
    assert result["backend"] == "jax"
    assert result["raised"] and "still trained by the old train step: first" in result["raised"]
    assert result["unchanged_after_stop"] and result["unchanged_after_recompile"]
    assert result["second_trained"]
