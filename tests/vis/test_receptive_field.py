"""Receptive field and stride, checked against gradients and published VGG16 values."""

import keras
import numpy as np
import pytest
from keras import layers

from freezelab.core.models import load_vgg16
from freezelab.vis.gradients import input_gradient_fn
from freezelab.vis.receptive_field import receptive_field


def chain_model():
    """A linear chain with positive weights: a unit's gradient is non-zero exactly on its field."""
    inputs = keras.Input((64, 64, 1), name="input_layer")
    x = layers.Conv2D(1, 3, padding="same", name="c1")(inputs)
    x = layers.AveragePooling2D(2, name="p1")(x)
    x = layers.Conv2D(1, 5, padding="same", name="c2")(x)
    x = layers.Conv2D(1, 3, strides=2, padding="same", name="c3")(x)
    x = layers.AveragePooling2D(2, name="p2")(x)
    model = keras.Model(inputs, x)
    for layer in model.layers:
        if layer.weights:
            kernel, bias = layer.get_weights()
            layer.set_weights([np.ones_like(kernel), np.zeros_like(bias)])
    return model


def measured_field(model, layer_name):
    """Side of the input patch whose pixels change the centre unit, the units' spacing, and
    where the first unit's patch is centred (from the centre unit's, ``stride`` per unit)."""
    sub = keras.Model(model.input, model.get_layer(layer_name).output)
    side = sub.output.shape[1]
    centre = side // 2

    def centre_unit(outputs, _):
        outputs = outputs[0] if isinstance(outputs, list) else outputs
        return outputs[0, centre, centre, 0]

    _, gradient, _ = input_gradient_fn(sub, centre_unit)(
        np.ones((1, 64, 64, 1), np.float32), np.zeros(1, np.float32)
    )
    rows = np.nonzero(np.abs(gradient[0, :, :, 0]).sum(axis=1))[0]
    stride = 64 // side
    middle = (rows.min() + rows.max() + 1) / 2  # pixel k spans k..k+1
    return rows.max() - rows.min() + 1, stride, middle - centre * stride


@pytest.mark.parametrize("layer_name", ["c1", "p1", "c2", "c3", "p2"])
def test_field_matches_the_pixels_a_unit_depends_on(layer_name):
    model = chain_model()
    field = receptive_field(model, layer_name)
    assert (field.size, field.stride, field.centre) == measured_field(model, layer_name)


def test_first_unit_centre_by_hand():
    # c1 (3x3, "same": padded 1) keeps the centre at 0.5; p1 (2x2) moves it by 1/2 a pixel
    # to 1.0; c2 (5x5, padded 2) keeps it; c3 (3x3, stride 2, "same" on 32 rows: padded 0
    # before, 1 after) moves it by one step of 2 pixels to 3.0; p2 moves it by 1/2 x 4 to 5.0.
    model = chain_model()
    centres = [receptive_field(model, name).centre for name in ["c1", "p1", "c2", "c3", "p2"]]
    assert centres == [0.5, 1.0, 1.0, 3.0, 5.0]


@pytest.mark.parametrize(
    ("layer_name", "size", "stride", "centre"),
    # Published for VGG16 (e.g. Araujo et al., 2019): conv5_3 sees 196 px, pool5 212 px.
    # Centres by hand: "same" 3x3 convolutions keep it, each 2x2 pooling moves it by half
    # its input's stride: 0.5 + 0.5 + 1 = 2.0 after two poolings, + 2 + 4 = 8.0 after four.
    [
        ("block1_conv1", 3, 1, 0.5),
        ("block3_conv3", 40, 4, 2.0),
        ("block5_conv3", 196, 16, 8.0),
        ("block5_pool", 212, 32, 16.0),
    ],
)
def test_vgg16_values(layer_name, size, stride, centre):
    field = receptive_field(load_vgg16(weights=None, input_size=32, verbose=False), layer_name)
    assert (field.size, field.stride, field.centre) == (size, stride, centre)


def test_unknown_layer_and_uncovered_layer_say_what_was_received():
    with pytest.raises(ValueError, match="Received: layer_name='nope'"):
        receptive_field(chain_model(), "nope")
    inputs = keras.Input((8, 8, 3))
    x = layers.Flatten(name="flat")(inputs)
    model = keras.Model(inputs, layers.Dense(2, name="dense")(x))
    with pytest.raises(ValueError, match="Flatten"):
        receptive_field(model, "dense")
