"""Grad-CAM of models built to look at one quadrant."""

import keras
import numpy as np
import pytest
from keras import layers

from freezelab.core.models import load_vgg16, with_head
from freezelab.vis.activations import peak_location
from freezelab.vis.gradcam import grad_cam


def quadrant_model(quadrant):
    """Colour channels (red, green), then the class score reads only one 8x8 quadrant.

    The score is the mean squared response there, so it depends on what the
    quadrant contains; "top_right" sees the red square, "bottom_left" the green one.
    """
    inputs = keras.Input((16, 16, 3))
    conv = layers.Conv2D(2, 1, activation="relu", name="colours")
    features = conv(inputs)
    crop = {"top_right": ((0, 8), (8, 0)), "bottom_left": ((8, 0), (0, 8))}[quadrant]
    x = layers.Cropping2D(crop, name="quadrant")(features)
    x = layers.Multiply(name="square")([x, x])
    x = layers.GlobalAveragePooling2D(name="mean")(x)
    dense = layers.Dense(2, name="scores")
    model = keras.Model(inputs, dense(x))
    kernel = np.array([[1.0, -0.5, -0.5], [-0.5, 1.0, -0.5]], np.float32).T
    conv.set_weights([kernel.reshape(1, 1, 3, 2), np.zeros(2, np.float32)])
    dense.set_weights([np.array([[1.0, 0.0], [1.0, 0.0]], np.float32), np.zeros(2, np.float32)])
    return model


def scene():
    image = np.full((16, 16, 3), 100.0, np.float32)
    image[2:6, 10:14] = (220.0, 30.0, 30.0)  # red, top right
    image[10:14, 2:6] = (30.0, 220.0, 30.0)  # green, bottom left
    return image


@pytest.mark.parametrize(
    ("quadrant", "rows", "columns"),
    [("top_right", range(2, 6), range(10, 14)), ("bottom_left", range(10, 14), range(2, 6))],
)
def test_grad_cam_peaks_in_the_quadrant_the_model_looks_at(quadrant, rows, columns):
    result = grad_cam(quadrant_model(quadrant), scene(), class_index=0)
    row, column = peak_location(result.heatmap)
    assert row in rows and column in columns
    assert result.layer_name == "colours"
    # The object in the ignored quadrant gets no weight at all.
    other = (12, 4) if quadrant == "top_right" else (4, 12)
    assert result.heatmap[other] == 0.0


def test_channel_weights_equal_hand_derived_gradients():
    # score = mean over the 8x8 quadrant of red^2 + green^2; d score / d red = 2 red / 64
    # inside the quadrant, so alpha_red = sum(2 red / 64) / 256 over the whole 16x16 map.
    result = grad_cam(quadrant_model("top_right"), scene(), class_index=0)
    red_response = 220.0 - 0.5 * (30.0 + 30.0)
    expected_alpha_red = 16 * (2 * red_response / 64) / 256
    assert result.channel_weights[0] == pytest.approx(expected_alpha_red, rel=1e-4)
    assert result.channel_weights[1] == pytest.approx(0.0, abs=1e-6)
    assert result.score == pytest.approx(16 * red_response**2 / 64, rel=1e-4)


def test_default_class_is_the_predicted_one_and_layer_the_last_conv():
    base = load_vgg16(weights=None, input_size=32, verbose=False)
    model = with_head(base, head_units=(3,), pooling="avg")
    image = np.random.default_rng(1).uniform(-60, 60, (32, 32, 3)).astype(np.float32)
    result = grad_cam(model, image)
    assert result.layer_name == "block5_conv3"
    assert result.class_index == int(np.argmax(model.predict(image[None], verbose=0)[0]))
    assert result.heatmap.shape == (32, 32) and result.coarse.shape == (2, 2)


def test_bad_input_raises_clear_errors():
    model = quadrant_model("top_right")
    with pytest.raises(ValueError, match=r"class_index must be in 0..1"):
        grad_cam(model, scene(), class_index=2)
    with pytest.raises(ValueError, match="one input"):
        grad_cam(model, scene()[None])
    base = load_vgg16(weights=None, input_size=32, verbose=False)
    nested = with_head(base, head_units=(3,), nested=True, pooling="avg")
    with pytest.raises(ValueError, match="nested=False"):
        grad_cam(nested, np.zeros((32, 32, 3), np.float32))


def test_layers_without_a_feature_map_and_diverged_models_are_refused():
    model = quadrant_model("top_right")
    with pytest.raises(ValueError, match=r"'scores' is a Dense layer.*the last is 'colours'"):
        grad_cam(model, scene(), layer_name="scores")
    image = scene()
    image[3, 9, 2] = np.nan
    with pytest.raises(ValueError, match=r"1 NaN .*index \(3, 9, 2\).*Received: inputs="):
        grad_cam(model, image)
    dense = model.get_layer("scores")
    dense.set_weights([np.full((2, 2), np.nan, np.float32), np.zeros(2, np.float32)])
    with pytest.raises(ValueError, match="non-finite scores"):
        grad_cam(model, scene())


def test_a_softmax_classifier_is_explained_by_its_logit():
    # The same quadrant model with a softmax on top: Grad-CAM must weigh the
    # channels by the logit's gradient (the hand-derived one of the plain
    # model), not the saturated softmax's, which would be ~p(1-p) times smaller.
    plain = quadrant_model("top_right")
    outputs = layers.Activation("linear")(plain.output)
    with_softmax = keras.Model(
        plain.input, layers.Dense(2, activation="softmax", name="p")(outputs)
    )
    with_softmax.get_layer("p").set_weights([np.eye(2, dtype=np.float32), np.zeros(2, np.float32)])
    logit_map = grad_cam(plain, scene(), class_index=0)
    softmax_map = grad_cam(with_softmax, scene(), class_index=0)
    assert softmax_map.explains == "logit" and logit_map.explains == "output"
    np.testing.assert_allclose(softmax_map.channel_weights, logit_map.channel_weights, rtol=1e-5)
    np.testing.assert_allclose(softmax_map.coarse, logit_map.coarse, rtol=1e-5)
    # The reported score is still the model's own output: a probability.
    assert 0.0 < softmax_map.score <= 1.0


def test_a_second_call_sees_weights_changed_since_the_first():
    # Parts are built once per model and layer; the maps must still follow training.
    plain = quadrant_model("top_right")
    model = keras.Model(plain.input, layers.Dense(2, activation="softmax", name="p")(plain.output))
    model.get_layer("p").set_weights([np.eye(2, dtype=np.float32), np.zeros(2, np.float32)])
    grad_cam(model, scene(), class_index=0)
    # Class 0's logit now reads the scores with the opposite sign: the map changes.
    model.get_layer("p").set_weights([-np.eye(2, dtype=np.float32), np.zeros(2, np.float32)])
    model.get_layer("colours").set_weights(
        [w * 2 for w in model.get_layer("colours").get_weights()]
    )
    again = grad_cam(model, scene(), class_index=0)
    fresh = keras.models.clone_model(model)
    fresh.set_weights(model.get_weights())
    expected = grad_cam(fresh, scene(), class_index=0)
    np.testing.assert_allclose(again.channel_weights, expected.channel_weights, rtol=1e-5)
    np.testing.assert_allclose(again.coarse, expected.coarse, rtol=1e-5, atol=1e-6)
    assert again.score == pytest.approx(expected.score, rel=1e-5)
