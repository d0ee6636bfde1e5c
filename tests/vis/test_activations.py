"""Feature maps and heatmaps against hand-set filters whose answer is known."""

import keras
import numpy as np
import pytest
from keras import layers

from freezelab.core.models import load_vgg16, with_head
from freezelab.vis.activations import (
    conv_layer_names,
    feature_maps,
    heatmap,
    layer_output,
    normalize,
    overlay,
    peak_location,
)


def red_detector():
    """Channel 0 fires on red (R - (G + B) / 2), channel 1 on green; then a 2x2 pooling."""
    inputs = keras.Input((32, 32, 3))
    conv = layers.Conv2D(2, 1, activation="relu", name="colours")
    x = conv(inputs)
    x = layers.MaxPooling2D(2, name="pool")(x)
    model = keras.Model(inputs, x)
    kernel = np.array([[1.0, -0.5, -0.5], [-0.5, 1.0, -0.5]], np.float32).T
    conv.set_weights([kernel.reshape(1, 1, 3, 2), np.zeros(2, np.float32)])
    return model


def scene():
    """Grey background, a red square at rows 4..11, columns 20..27, a green one lower left."""
    image = np.full((32, 32, 3), 100.0, np.float32)
    image[4:12, 20:28] = (220.0, 30.0, 30.0)
    image[22:30, 2:10] = (30.0, 220.0, 30.0)
    return image


def test_red_detector_heatmap_peaks_on_the_red_square():
    heat = heatmap(red_detector(), scene(), "pool", channel=0)
    assert heat.shape == (32, 32)
    row, column = peak_location(heat)
    assert 4 <= row < 12 and 20 <= column < 28
    # Far from the square (and on the green one) the red channel is silent.
    assert heat[26, 6] == 0.0 and heat[16, 4] == 0.0


def test_channel_choice_moves_the_heatmap_and_mean_covers_both():
    model = red_detector()
    row, column = peak_location(heatmap(model, scene(), "colours", channel=1))
    assert 22 <= row < 30 and 2 <= column < 10
    mean_heat = heatmap(model, scene(), "colours")
    assert mean_heat[8, 24] > 0.9 and mean_heat[26, 6] > 0.9 and mean_heat[0, 0] == 0.0


def test_feature_maps_equal_the_hand_computed_response():
    maps = feature_maps(red_detector(), scene(), "colours")
    image = scene()
    red = np.maximum(image[..., 0] - 0.5 * (image[..., 1] + image[..., 2]), 0)
    assert maps.shape == (32, 32, 2)
    np.testing.assert_allclose(maps[..., 0], red, rtol=1e-5)
    np.testing.assert_allclose(
        feature_maps(red_detector(), scene(), "pool", [1]).shape, (16, 16, 1)
    )


def test_layer_output_reaches_inside_a_nested_base():
    base = load_vgg16(weights=None, input_size=32, verbose=False)
    nested = with_head(base, head_units=(3,), nested=True, pooling="avg")
    image = np.random.default_rng(0).uniform(-50, 50, (32, 32, 3)).astype(np.float32)
    from_nested = layer_output(nested, image, "block1_conv1")
    from_base = keras.Model(base.input, base.get_layer("block1_conv1").output)(image[None])
    np.testing.assert_allclose(from_nested, np.asarray(from_base)[0], rtol=1e-5)
    assert conv_layer_names(nested)[:2] == ["block1_conv1", "block1_conv2"]
    assert len(conv_layer_names(nested)) == 13


def test_overlay_blends_photo_and_colour_map():
    photo = np.zeros((4, 4, 3), np.uint8)
    heat = np.zeros((4, 4), np.float32)
    heat[0, 0] = 1.0
    blended = overlay(photo, heat, alpha=1.0, colormap="gray")
    assert blended[0, 0].tolist() == [255, 255, 255] and blended[1, 1].tolist() == [0, 0, 0]
    np.testing.assert_array_equal(overlay(photo, heat, alpha=0.0), photo)


def test_normalize_flat_map_is_zero():
    assert normalize(np.full((3, 3), 7.0)).max() == 0.0
    np.testing.assert_allclose(normalize(np.array([2.0, 4.0, 3.0])), [0.0, 1.0, 0.5])


def test_bad_input_raises_clear_errors():
    model = red_detector()
    with pytest.raises(ValueError, match=r"no layer 'colour'.*Did you mean.*'colours'"):
        heatmap(model, scene(), "colour")
    with pytest.raises(ValueError, match=r"channels 0..1. Received: channels=\[5\]"):
        heatmap(model, scene(), "colours", channel=5)
    with pytest.raises(ValueError, match="takes one input"):
        feature_maps(model, scene()[None], "colours")
    with pytest.raises(ValueError, match="same size"):
        overlay(np.zeros((4, 4, 3)), np.zeros((5, 5)))


def test_one_nan_pixel_is_refused_instead_of_a_nan_heatmap():
    image = scene()
    image[5, 7, 0] = np.nan
    with pytest.raises(
        ValueError, match=r"1 NaN and 0 infinite values \(the first at index \(5, 7, 0\)\)"
    ):
        heatmap(red_detector(), image, "pool", channel=0)
    with pytest.raises(ValueError, match=r"takes inputs of shape \(32, 32, 3\)"):
        heatmap(red_detector(), np.zeros((16, 16, 3)), "pool")
