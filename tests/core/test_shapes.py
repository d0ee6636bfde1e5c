"""Tests for freezelab.core.shapes: reading input and output shapes with clear errors."""

import keras
import pytest

from freezelab.core.shapes import model_input_shape, output_shape, square_input_side


def test_input_shape_of_a_fixed_model(small_vgg_flat):
    assert model_input_shape(small_vgg_flat) == (32, 32, 3)
    assert square_input_side(small_vgg_flat) == 32


def test_any_size_model_reads_none_and_fixed_refuses_it():
    model = keras.Sequential([keras.Input((None, None, 3)), keras.layers.Conv2D(2, 3)])
    assert model_input_shape(model) == (None, None, 3)
    assert square_input_side(model) is None
    with pytest.raises(ValueError, match="fixed input size"):
        model_input_shape(model, "time_train_step", fixed=True)
    with pytest.raises(ValueError, match="fixed input size"):
        square_input_side(model, fixed=True)


def test_non_square_and_multi_input_models_are_refused():
    wide = keras.Sequential([keras.Input((8, 16, 3)), keras.layers.Conv2D(2, 3)])
    with pytest.raises(ValueError, match=r"square input\. Received: 8x16"):
        square_input_side(wide, "Gradient ascent")
    a, b = keras.Input((4,)), keras.Input((4,))
    two = keras.Model([a, b], keras.layers.Add()([a, b]))
    with pytest.raises(ValueError, match="Received: 2 inputs"):
        model_input_shape(two)


def test_an_unbuilt_model_names_what_is_missing():
    with pytest.raises(ValueError, match="built model with a known input"):
        model_input_shape(keras.Sequential([keras.layers.Dense(2)]), "run_sweep")


def test_output_shape_of_a_layer(small_vgg_flat):
    assert output_shape(small_vgg_flat.get_layer("block1_conv1")) == (None, 32, 32, 64)
    assert output_shape(small_vgg_flat.get_layer("block5_pool")) == (None, 1, 1, 512)
