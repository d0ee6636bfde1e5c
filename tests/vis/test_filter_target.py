"""Only the chosen filters of a convolution: the whole layer's target and gradient, less work.

The truth each test compares against is Keras's own whole layer: a feature model to the
layer's output, each picture's own filter picked out afterwards, differentiated with the
backend's own tool.
"""

import keras
import numpy as np
import pytest
from keras import layers

from freezelab.vis import filter_target
from freezelab.vis.ascent import filter_pictures
from freezelab.vis.filter_target import FilterTarget, computes_chosen_filters_only
from freezelab.vis.gradients import input_gradient_fn

FILTERS = [5, 0, 11, 5]  # unsorted, and one filter twice
BORDER = 0.125


def small_convnet(seed=0, size=24, use_bias=True, activation="relu"):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((size, size, 3))
    x = layers.Conv2D(8, 3, padding="same", activation="relu", name="c1")(inputs)
    x = layers.MaxPooling2D(2, name="p1")(x)
    x = layers.Conv2D(12, 3, padding="same", activation=activation, use_bias=use_bias, name="c2")(x)
    model = keras.Model(inputs, x)
    if use_bias:  # non-zero biases, so that leaving them out would show
        conv = model.get_layer("c2")
        conv.bias.assign(np.linspace(-0.3, 0.3, 12).astype(np.float32))
    return model


def pictures(count=4, size=24, seed=1):  # one per entry of FILTERS
    return np.random.default_rng(seed).uniform(-1, 1, (count, size, size, 3)).astype(np.float32)


def whole_layer_truth(model, layer_name, filters, x):
    """Target and gradient through Keras's whole layer (a 12x12 map: 1 cell of border)."""
    extractor = keras.Model(model.input, model.get_layer(layer_name).output)

    def own_filter_sum(outputs, rows):
        return keras.ops.sum(keras.ops.mean(outputs[:, 1:-1, 1:-1, :], axis=(1, 2)) * rows)

    rows = np.eye(extractor.output.shape[-1], dtype=np.float32)[filters]
    loss, gradient, (outputs,) = input_gradient_fn(extractor, own_filter_sum)(x, rows)
    own = outputs[:, 1:-1, 1:-1, :].mean(axis=(1, 2))[np.arange(len(filters)), filters]
    return loss, gradient, own


def test_chosen_filters_give_the_whole_layers_gradient_and_activation():
    model = small_convnet()
    target = FilterTarget(model, "c2", BORDER)
    assert target.chosen_only
    x = pictures()
    loss, truth, own = whole_layer_truth(model, "c2", FILTERS, x)
    gradient = target.gradient(x, target.weights_for(FILTERS))
    assert np.abs(truth).max() > 1e-3  # a gradient that could be wrong
    np.testing.assert_allclose(gradient, truth, rtol=1e-5, atol=1e-6 * np.abs(truth).max())
    np.testing.assert_allclose(target.activation(x, FILTERS), own, rtol=1e-6)
    assert np.isclose(own.sum(), loss, rtol=1e-5)


@pytest.mark.parametrize("use_bias, activation", [(False, None), (True, "tanh")])
def test_a_layer_without_bias_or_with_another_activation_is_followed(use_bias, activation):
    model = small_convnet(use_bias=use_bias, activation=activation)
    target = FilterTarget(model, "c2", BORDER)
    assert target.chosen_only
    x = pictures()
    _, truth, _ = whole_layer_truth(model, "c2", FILTERS, x)
    gradient = target.gradient(x, target.weights_for(FILTERS))
    np.testing.assert_allclose(gradient, truth, rtol=1e-5, atol=1e-6 * np.abs(truth).max())


def test_weights_changed_after_building_are_read():
    model = small_convnet()
    target = FilterTarget(model, "c2", BORDER)
    x = pictures()
    before = target.gradient(x, target.weights_for(FILTERS))
    conv = model.get_layer("c2")
    rng = np.random.default_rng(7)
    conv.set_weights([rng.normal(0, 0.2, w.shape).astype(np.float32) for w in conv.get_weights()])
    first = model.get_layer("c1")
    first.set_weights([rng.normal(0, 0.2, w.shape).astype(np.float32) for w in first.get_weights()])
    _, truth, own = whole_layer_truth(model, "c2", FILTERS, x)
    after = target.gradient(x, target.weights_for(FILTERS))
    assert not np.allclose(after, before)
    np.testing.assert_allclose(after, truth, rtol=1e-5, atol=1e-6 * np.abs(truth).max())
    np.testing.assert_allclose(target.activation(x, FILTERS), own, rtol=1e-6)


class DoubledConv(layers.Conv2D):
    """A convolution whose own call differs from Keras's: it must be computed whole."""

    def call(self, inputs):
        return 2.0 * super().call(inputs)


def test_only_plain_float32_convolutions_with_one_call_site_are_cut_down():
    model = small_convnet()
    assert computes_chosen_filters_only(model.get_layer("c1"))  # right on the model's input
    assert computes_chosen_filters_only(model.get_layer("c2"))
    assert not computes_chosen_filters_only(model.get_layer("p1"))

    inputs = keras.Input((8, 8, 4))
    grouped = layers.Conv2D(4, 3, groups=2, name="grouped")
    doubled = DoubledConv(4, 3, name="doubled")
    shared = layers.Conv2D(4, 1, name="shared")
    half = layers.Conv2D(4, 3, dtype="mixed_float16", name="half")
    outputs = [grouped(inputs), doubled(inputs), shared(shared(inputs)), half(inputs)]
    keras.Model(inputs, outputs)
    for layer in (grouped, doubled, shared, half):
        assert not computes_chosen_filters_only(layer), layer.name


def test_a_layer_computed_whole_gives_the_truth_too():
    inputs = keras.Input((24, 24, 3))
    x = layers.Conv2D(8, 3, padding="same", activation="relu", name="c1")(inputs)
    doubled = DoubledConv(12, 3, strides=2, padding="same", name="c2")
    model = keras.Model(inputs, doubled(x))
    target = FilterTarget(model, "c2", BORDER)
    assert not target.chosen_only
    x = pictures()
    _, truth, own = whole_layer_truth(model, "c2", FILTERS, x)
    gradient = target.gradient(x, target.weights_for(FILTERS))
    np.testing.assert_allclose(gradient, truth, rtol=1e-5, atol=1e-6 * np.abs(truth).max())
    np.testing.assert_allclose(target.activation(x, FILTERS), own, rtol=1e-6)


def test_pictures_are_the_same_whether_the_layer_is_cut_down_or_not(monkeypatch):
    settings = dict(preprocessing=None, steps=6, octaves=2, size=24, progress=False)
    cut = filter_pictures(small_convnet(), "c2", FILTERS, **settings)
    monkeypatch.setattr(filter_target, "computes_chosen_filters_only", lambda layer: False)
    whole = filter_pictures(small_convnet(), "c2", FILTERS, **settings)
    assert np.abs(whole.pixels - 128).max() > 1  # the pictures moved from their start
    np.testing.assert_allclose(cut.pixels, whole.pixels, atol=1e-3)
    np.testing.assert_allclose(cut.final_activation, whole.final_activation, rtol=1e-5)
