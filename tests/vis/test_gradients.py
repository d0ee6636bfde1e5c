"""Tests for freezelab.vis.gradients against gradients known in closed form."""

import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

from freezelab.vis.gradients import forward_fn, input_gradient_fn

W = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], np.float32)
B = np.array([0.5, -1.0], np.float32)
X = np.array([[1.0, 0.0, -1.0], [2.0, 1.0, 0.5]], np.float32)


def dense_model(kernel=W, bias=B):
    inputs = keras.Input((3,))
    outputs = keras.layers.Dense(2, name="dense")(inputs)
    model = keras.Model(inputs, outputs)
    model.get_layer("dense").set_weights([kernel, bias])
    return model


def second_unit(outputs):
    return keras.ops.sum(outputs[:, 1])


def test_dense_gradient_is_the_weight_column():
    gradient_fn = input_gradient_fn(dense_model(), second_unit)
    loss, gradient, outputs = gradient_fn(X)
    # d/dx sum_n (x_n . W[:, 1] + b_1) = W[:, 1] for every example.
    np.testing.assert_allclose(gradient, np.tile(W[:, 1], (2, 1)))
    assert gradient.shape == X.shape and isinstance(gradient, np.ndarray)
    expected_outputs = X @ W + B
    assert isinstance(loss, float)
    assert loss == pytest.approx(expected_outputs[:, 1].sum())
    assert len(outputs) == 1
    np.testing.assert_allclose(outputs[0], expected_outputs, rtol=1e-6)


def test_extra_arrays_reach_the_loss():
    def weighted(outputs, weights):
        return keras.ops.sum(outputs * weights)

    gradient_fn = input_gradient_fn(dense_model(), weighted)
    weights = np.array([[1.0, 0.0], [2.0, -1.0]], np.float32)
    loss, gradient, _ = gradient_fn(X, weights)
    # loss = sum(weights * (X W + b)), so d loss / d X = weights W^T.
    np.testing.assert_allclose(gradient, weights @ W.T)
    assert loss == pytest.approx(float((weights * (X @ W + B)).sum()))


def test_square_has_gradient_twice_the_input():
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Multiply()([inputs, inputs]))
    gradient_fn = input_gradient_fn(model, lambda outputs: keras.ops.sum(outputs))
    x = np.array([[1.0, -2.0, 0.5, 3.0]], np.float32)
    loss, gradient, _ = gradient_fn(x)
    np.testing.assert_allclose(gradient, 2 * x)
    assert loss == pytest.approx(1 + 4 + 0.25 + 9)


def test_image_input_through_a_one_by_one_convolution():
    inputs = keras.Input((8, 8, 3))
    model = keras.Model(inputs, keras.layers.Conv2D(1, 1, name="conv")(inputs))
    kernel = np.array([0.25, -1.0, 2.0], np.float32).reshape(1, 1, 3, 1)
    model.get_layer("conv").set_weights([kernel, np.array([3.0], np.float32)])
    gradient_fn = input_gradient_fn(model, lambda outputs: keras.ops.sum(outputs))
    x = np.random.default_rng(0).normal(size=(2, 8, 8, 3)).astype(np.float32)
    loss, gradient, outputs = gradient_fn(x)
    assert gradient.shape == (2, 8, 8, 3)
    np.testing.assert_allclose(gradient, np.broadcast_to(kernel.reshape(3), x.shape))
    assert loss == pytest.approx(float((x @ kernel.reshape(3)).sum() + 2 * 8 * 8 * 3.0), rel=1e-5)
    assert outputs[0].shape == (2, 8, 8, 1)


def test_multi_output_model_gets_a_list_of_outputs():
    inputs = keras.Input((3,))
    first = keras.layers.Dense(2, name="first")(inputs)
    second = keras.layers.Dense(1, name="second")(inputs)
    model = keras.Model(inputs, [first, second])
    other = np.array([[1.0], [-2.0], [0.5]], np.float32)
    model.get_layer("first").set_weights([W, B])
    model.get_layer("second").set_weights([other, np.zeros(1, np.float32)])

    def combined(outputs):
        return keras.ops.sum(outputs[0]) + 2.0 * keras.ops.sum(outputs[1])

    loss, gradient, outputs = input_gradient_fn(model, combined)(X)
    expected_row = W.sum(axis=1) + 2.0 * other[:, 0]
    np.testing.assert_allclose(gradient, np.tile(expected_row, (2, 1)))
    assert len(outputs) == 2
    np.testing.assert_allclose(outputs[0], X @ W + B, rtol=1e-6)
    np.testing.assert_allclose(outputs[1], X @ other, rtol=1e-6)
    assert loss == pytest.approx(float((X @ W + B).sum() + 2 * (X @ other).sum()))


def test_model_runs_in_inference_mode():
    inputs = keras.Input((5,))
    x = keras.layers.Dropout(0.9, name="dropout")(inputs)
    x = keras.layers.BatchNormalization(name="bn")(x)
    model = keras.Model(inputs, x)
    gamma = np.array([1.0, 2.0, 3.0, 4.0, 5.0], np.float32)
    variance = np.array([1.0, 4.0, 0.25, 9.0, 16.0], np.float32)
    bn = model.get_layer("bn")
    bn.set_weights([gamma, np.zeros(5, np.float32), np.ones(5, np.float32), variance])
    gradient_fn = input_gradient_fn(model, lambda outputs: keras.ops.sum(outputs))
    x = np.random.default_rng(1).normal(size=(3, 5)).astype(np.float32)
    _, gradient, outputs = gradient_fn(x)
    # No dropout, and BatchNorm uses its moving statistics: y = gamma (x - 1) / sqrt(var + eps).
    scale = gamma / np.sqrt(variance + bn.epsilon)
    np.testing.assert_allclose(gradient, np.tile(scale, (3, 1)), rtol=1e-5)
    np.testing.assert_allclose(outputs[0], (x - 1.0) * scale, rtol=1e-5, atol=1e-6)


def test_new_weights_are_read_at_every_call():
    model = dense_model()
    gradient_fn = input_gradient_fn(model, second_unit)
    _, before, _ = gradient_fn(X)
    np.testing.assert_allclose(before[0], W[:, 1])
    model.get_layer("dense").set_weights([-3.0 * W, B])
    _, after, _ = gradient_fn(X)
    np.testing.assert_allclose(after[0], -3.0 * W[:, 1])


def test_float64_and_list_inputs_are_taken_as_float32():
    gradient_fn = input_gradient_fn(dense_model(), second_unit)
    _, gradient, _ = gradient_fn(X.astype(np.float64).tolist())
    assert gradient.dtype == np.float32
    np.testing.assert_allclose(gradient, np.tile(W[:, 1], (2, 1)))


def test_unsupported_backend_is_refused(monkeypatch):
    monkeypatch.setattr(keras.backend, "backend", lambda: "numpy")
    with pytest.raises(ValueError, match="Received: KERAS_BACKEND='numpy'"):
        input_gradient_fn(dense_model(), second_unit)


def test_forward_fn_gives_the_outputs_and_follows_new_weights():
    inputs = keras.Input((3,))
    hidden = keras.layers.Dense(2, name="dense")(inputs)
    model = keras.Model(inputs, [hidden, keras.layers.Activation("relu")(hidden)])
    model.get_layer("dense").set_weights([W, B])
    forward = forward_fn(model)
    first, second = forward(X)
    np.testing.assert_allclose(first, X @ W + B, rtol=1e-6)
    np.testing.assert_allclose(second, np.maximum(X @ W + B, 0), rtol=1e-6)
    assert isinstance(first, np.ndarray)
    # Weights are read at every call, not baked into the traced function.
    model.get_layer("dense").set_weights([-W, np.zeros(2, np.float32)])
    np.testing.assert_allclose(forward(X)[0], -(X @ W), rtol=1e-6)


def test_forward_fn_refuses_what_is_not_a_model():
    with pytest.raises(ValueError, match="Received"):
        forward_fn("not a model")


JAX_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import keras
    import numpy as np
    from freezelab.vis.gradients import forward_fn, input_gradient_fn

    inputs = keras.Input((3,))
    model = keras.Model(inputs, keras.layers.Dense(2, name="dense")(inputs))
    kernel = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], np.float32)
    model.get_layer("dense").set_weights([kernel, np.array([0.5, -1.0], np.float32)])
    fn = input_gradient_fn(model, lambda outputs, w: keras.ops.sum(outputs * w))
    x = np.array([[1.0, 0.0, -1.0], [2.0, 1.0, 0.5]], np.float32)
    w = np.array([[1.0, 0.0], [2.0, -1.0]], np.float32)
    loss, grad, outputs = fn(x, w)
    forward = forward_fn(model)
    forward_before = forward(x)[0]
    model.get_layer("dense").set_weights([2 * kernel, np.zeros(2, np.float32)])
    _, grad_after, _ = fn(x, w)
    print(json.dumps({
        "backend": keras.backend.backend(), "loss": loss, "grad": grad.tolist(),
        "grad_after": grad_after.tolist(), "outputs": outputs[0].tolist(),
        "forward_before": forward_before.tolist(), "forward_after": forward(x)[0].tolist(),
        "tensorflow": "tensorflow" in sys.modules,
    }))
    """
)


@pytest.mark.slow
def test_jax_backend_gives_the_same_closed_form_gradient():
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
    done = subprocess.run(
        [sys.executable, "-c", JAX_SCRIPT], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["backend"] == "jax"
    assert report["tensorflow"] is False
    weights = np.array([[1.0, 0.0], [2.0, -1.0]], np.float32)
    np.testing.assert_allclose(report["grad"], weights @ W.T)
    np.testing.assert_allclose(report["grad_after"], 2 * weights @ W.T)
    np.testing.assert_allclose(report["outputs"], X @ W + B, rtol=1e-6)
    np.testing.assert_allclose(report["forward_before"], X @ W + B, rtol=1e-6)
    np.testing.assert_allclose(report["forward_after"], 2 * X @ W, rtol=1e-6)
    assert report["loss"] == pytest.approx(float((weights * (X @ W + B)).sum()))
