"""Tests for freezelab.core.keras_adapter: fail loudly if Keras changes its private API.

Each test checks one private attribute against what Keras's public API says
it must hold, so a Keras release that renames or changes one breaks here,
not silently inside the course.
"""

import keras
import numpy as np

from freezelab.core import keras_adapter


def compiled_and_trained(model):
    model.compile(optimizer="adam", loss="mse", metrics=["mae"])
    x = np.zeros((2, *model.input_shape[1:]), "float32")
    y = np.zeros((2, *model.output_shape[1:]), "float32")
    model.fit(x, y, epochs=1, verbose=0)
    return model


def test_inner_layers_reach_inside_a_nested_model(vgg_nested):
    base = vgg_nested.layers[1]
    inner = keras_adapter.inner_layers(vgg_nested)
    assert base in inner and vgg_nested not in inner
    assert all(layer in inner for layer in base.layers)


def test_compiled_trainable_state_records_the_flags_at_compile(sequential):
    assert keras_adapter.compiled_trainable_state(sequential) is None
    sequential.layers[0].trainable = False
    sequential.compile(optimizer="adam", loss="mse")
    state = keras_adapter.compiled_trainable_state(sequential)
    assert state[sequential.layers[0]] is False and state[sequential.layers[1]] is True


def test_optimizer_variables_are_the_compiled_trainable_weights(sequential):
    sequential.layers[0].trainable = False
    assert keras_adapter.optimizer_variables(keras.optimizers.Adam()) is None
    compiled_and_trained(sequential)
    updated = keras_adapter.optimizer_variables(sequential.optimizer)
    assert {id(v) for v in updated} == {id(v) for v in sequential.trainable_weights}


def test_compile_arguments_give_back_loss_and_metrics(sequential):
    assert keras_adapter.compile_arguments(sequential) is None
    compiled_and_trained(sequential)
    arguments = keras_adapter.compile_arguments(sequential)
    assert arguments["loss"] == "mse" and arguments["metrics"] == ["mae"]
    sequential.compile(**{**arguments, "optimizer": "sgd"})  # accepted by compile() as is


def test_trainable_capable_tells_statistics_from_frozen_weights():
    inputs = keras.Input((4, 4, 3))
    outputs = keras.layers.BatchNormalization(name="bn")(inputs)
    bn = keras.Model(inputs, outputs).get_layer("bn")
    bn.trainable = False  # every variable's own flag is now False
    assert not any(v.trainable for v in bn.weights)
    capable = {v.name: keras_adapter.trainable_capable(bn, v) for v in bn.weights}
    assert capable == {"gamma": True, "beta": True, "moving_mean": False, "moving_variance": False}


def test_call_count_counts_the_calls_made_here():
    shared, once, never = (keras.layers.Dense(3) for _ in range(3))
    inputs = keras.Input((3,))
    keras.Model(inputs, once(shared(shared(inputs))))
    assert keras_adapter.call_count(shared) == 2
    assert keras_adapter.call_count(once) == 1
    assert keras_adapter.call_count(never) == 0


def test_adapter_names_the_keras_version_it_was_checked_on():
    checked = tuple(int(part) for part in keras_adapter.CHECKED_ON.split("."))
    assert checked[0] == int(keras.__version__.split(".")[0]) == 3
