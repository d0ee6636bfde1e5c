"""Gradient ascent against pictures whose answer is known by construction."""

import keras
import numpy as np
import pytest
from keras import layers

from freezelab.vis.ascent import (
    chroma_share,
    colourfulness,
    filter_activation,
    filter_pictures,
    high_frequency_share,
    make_settings,
    start_pictures,
    stretch_contrast,
)
from freezelab.vis.images import CAFFE_MEANS_BGR

SOBEL_X = np.array([[1, 0, -1], [2, 0, -2], [1, 0, -1]], np.float32)


def edge_model(size=32):
    """Filter 0 sees vertical edges (Sobel-x), filter 1 horizontal ones (Sobel-y)."""
    inputs = keras.Input((size, size, 3))
    conv = layers.Conv2D(2, 3, activation="relu", name="edges")
    model = keras.Model(inputs, conv(inputs))
    kernel = np.zeros((3, 3, 3, 2), np.float32)
    kernel[:, :, :, 0] = SOBEL_X[:, :, None] / 3
    kernel[:, :, :, 1] = SOBEL_X.T[:, :, None] / 3
    conv.set_weights([kernel, np.zeros(2, np.float32)])
    return model


def horizontal_frequency_share(picture):
    """Share of the spectral energy whose horizontal frequency beats the vertical one."""
    grey = picture.mean(axis=-1)
    energy = np.abs(np.fft.fft2(grey - grey.mean())) ** 2
    fy = np.abs(np.fft.fftfreq(grey.shape[0]))[:, None]
    fx = np.abs(np.fft.fftfreq(grey.shape[1]))[None, :]
    return energy[fx > fy].sum() / energy.sum()


@pytest.fixture(scope="module")
def edge_pictures():
    return filter_pictures(
        edge_model(), "edges", [0, 1], preprocessing=None, steps=20, progress=False
    )


def test_vertical_edge_filter_draws_vertical_stripes(edge_pictures):
    # Vertical stripes vary along x: their energy lies in horizontal frequencies.
    assert horizontal_frequency_share(edge_pictures.pixels[0]) > 0.8
    # The control, a horizontal-edge filter, puts it in vertical frequencies.
    assert horizontal_frequency_share(edge_pictures.pixels[1]) < 0.2


def test_ascent_raises_each_target_activation_at_least_tenfold(edge_pictures):
    assert np.all(edge_pictures.start_activation > 0)
    assert np.all(edge_pictures.final_activation > 10 * edge_pictures.start_activation)


def test_reported_activation_matches_a_fresh_forward_pass(edge_pictures):
    model = edge_model()
    # 30x30 maps; the default border 0.125 leaves out 3 rows/columns on each side.
    direct = model.predict(edge_pictures.pixels, verbose=0)[:, 3:27, 3:27].mean(axis=(1, 2))
    expected = direct[[0, 1], [0, 1]]
    np.testing.assert_allclose(edge_pictures.final_activation, expected, rtol=1e-4)
    np.testing.assert_allclose(
        filter_activation(model, "edges", [0, 1], edge_pictures.pixels, preprocessing=None),
        expected,
        rtol=1e-4,
    )


def test_same_seed_same_pictures_and_batch_does_not_change_a_filter():
    model = edge_model(16)
    settings = dict(preprocessing=None, steps=4, octaves=1, scale_jitter=0.0, progress=False)
    first = filter_pictures(model, "edges", [0, 1], seed=3, **settings)
    again = filter_pictures(model, "edges", [0, 1], seed=3, **settings)
    alone = filter_pictures(model, "edges", [1], seed=3, **settings)
    other_seed = filter_pictures(model, "edges", [0, 1], seed=4, **settings)
    np.testing.assert_array_equal(first.pixels, again.pixels)
    np.testing.assert_allclose(first.pixels[1], alone.pixels[0], atol=1e-3)
    assert np.abs(first.pixels - other_seed.pixels).max() > 1.0


def test_with_the_default_zoom_a_filter_does_not_depend_on_its_batch():
    model = edge_model(16)
    settings = dict(preprocessing=None, steps=4, octaves=2, progress=False)  # scale_jitter 0.1
    first = filter_pictures(model, "edges", [0, 1], seed=3, **settings)
    alone = filter_pictures(model, "edges", [1], seed=3, **settings)
    one_at_a_time = filter_pictures(model, "edges", [0, 1], seed=3, batch_size=1, **settings)
    np.testing.assert_allclose(first.pixels[1], alone.pixels[0], atol=1e-3)
    np.testing.assert_allclose(first.pixels, one_at_a_time.pixels, atol=1e-3)
    without_zoom = filter_pictures(model, "edges", [1], seed=3, scale_jitter=0.0, **settings)
    assert np.abs(alone.pixels - without_zoom.pixels).max() > 1e-2  # the zoom was drawn


def test_one_at_a_time_equals_batched():
    model = edge_model(16)
    settings = dict(preprocessing=None, steps=3, octaves=1, scale_jitter=0.0, progress=False)
    batched = filter_pictures(model, "edges", [0, 1], **settings)
    single = filter_pictures(model, "edges", [0, 1], batch_size=1, **settings)
    np.testing.assert_allclose(batched.pixels, single.pixels, atol=1e-3)


def test_caffe_gradient_is_taken_in_rgb_order():
    # A detector of the *red* input channel; in caffe space red is the last (BGR) channel.
    inputs = keras.Input((16, 16, 3))
    conv = layers.Conv2D(1, 1, name="red", use_bias=False)
    model = keras.Model(inputs, conv(inputs))
    conv.set_weights([np.array([0.0, 0.0, 1.0], np.float32).reshape(1, 1, 3, 1)])
    result = filter_pictures(model, "red", 0, steps=30, octaves=1, progress=False)
    red, green, blue = result.pixels[0].mean(axis=(0, 1))
    assert red > 200
    assert abs(green - 128) < 10 and abs(blue - 128) < 10
    # The model saw BGR minus means: its activation is red minus the red mean.
    expected = result.pixels[0, 2:14, 2:14, 0].mean() - CAFFE_MEANS_BGR[2]
    assert result.final_activation[0] == pytest.approx(expected, rel=1e-4)


@pytest.mark.parametrize("regularization", ["tv", "blur"])
def test_regularisation_smooths_pictures(regularization):
    model = edge_model(16)
    settings = dict(preprocessing=None, steps=12, octaves=1, scale_jitter=0.0, progress=False)
    plain = filter_pictures(model, "edges", [0], regularization=None, **settings)
    smooth = filter_pictures(
        model, "edges", [0], regularization=regularization, tv_weight=1.0, **settings
    )

    def roughness(p):
        return np.abs(np.diff(p, axis=0)).mean() + np.abs(np.diff(p, axis=1)).mean()

    assert roughness(smooth.pixels[0]) < roughness(plain.pixels[0])


def test_stretch_contrast_centres_and_spreads():
    rng = np.random.default_rng(0)
    pixels = 128 + rng.normal(0, 2, (2, 8, 8, 3)).astype(np.float32)
    stretched = stretch_contrast(pixels).astype(np.float32)
    assert stretched.mean() == pytest.approx(127.5, abs=1.5)
    assert stretched[0].std() == pytest.approx(0.15 * 255, rel=0.05)


def test_bad_input_raises_clear_errors():
    model = edge_model(16)
    with pytest.raises(ValueError, match=r"filters 0..1. Received"):
        filter_pictures(model, "edges", [2], progress=False)
    with pytest.raises(ValueError, match="regularization must be one of"):
        make_settings(regularization="l2")
    with pytest.raises(ValueError, match="Unknown gradient-ascent settings"):
        filter_pictures(model, "edges", 0, stepz=3, progress=False)
    with pytest.raises(ValueError, match="takes 16x16 inputs only"):
        filter_pictures(model, "edges", 0, size=32, progress=False)
    with pytest.raises(ValueError, match="no layer 'edge'"):
        filter_pictures(model, "edge", 0, progress=False)


def test_high_frequency_share_separates_fine_from_coarse_stripes():
    columns = np.arange(32)
    fine = np.broadcast_to(np.cos(2 * np.pi * 0.25 * columns)[None, :, None], (32, 32, 3))
    coarse = np.broadcast_to(np.cos(2 * np.pi * columns / 32)[None, :, None], (32, 32, 3))
    assert high_frequency_share(fine) == pytest.approx(1.0)
    assert high_frequency_share(coarse) == pytest.approx(0.0, abs=1e-9)
    np.testing.assert_allclose(
        high_frequency_share(np.stack([fine, coarse])), [1.0, 0.0], atol=1e-9
    )


def test_colourfulness_is_zero_for_grey_and_grows_with_saturation():
    grey = np.full((4, 4, 3), 90.0)
    red = np.zeros((4, 4, 3))
    red[..., 0] = 255.0
    assert colourfulness(grey) == 0.0
    # Pure red: mean 85, distances 170, 85, 85 -> 113.33.
    assert colourfulness(red) == pytest.approx(340 / 3)


def test_chroma_share_is_scale_free_and_matches_hand_counts():
    red = np.zeros((4, 4, 3))
    red[..., 0] = 1.0  # grey level 1/3 on every channel, chroma (2/3, -1/3, -1/3)
    assert chroma_share(red) == pytest.approx(2 / 3)
    assert chroma_share(40.0 * red) == pytest.approx(2 / 3)  # larger, not more colourful
    assert chroma_share(np.full((4, 4, 3), -7.0)) == 0.0  # grey, darker
    opposed = np.zeros((4, 4, 3))
    opposed[..., 0], opposed[..., 1] = 5.0, -5.0  # channels sum to zero: all chroma
    assert chroma_share(opposed) == pytest.approx(1.0)
    assert chroma_share(np.zeros((4, 4, 3))) == 0.0
    np.testing.assert_allclose(chroma_share(np.stack([red, 3.0 * opposed])), [2 / 3, 1.0])
    with pytest.raises(ValueError, match="pixels"):
        chroma_share(np.zeros((4, 4)))


def test_start_pictures_are_what_a_silent_filter_draws():
    # A ReLU filter with a huge negative bias never fires: no gradient, so its picture is
    # the start noise put through the schedule alone.
    inputs = keras.Input((16, 16, 3))
    conv = layers.Conv2D(2, 3, activation="relu", name="silent")
    model = keras.Model(inputs, conv(inputs))
    conv.set_weights([np.zeros((3, 3, 3, 2), np.float32), np.full(2, -1e6, np.float32)])
    settings = dict(steps=4, octaves=2, blur_every=2, preprocessing=None, seed=3)
    drawn = filter_pictures(model, "silent", [0, 1], progress=False, **settings)
    assert np.all(drawn.gain == 0)
    start = start_pictures([0, 1], 16, **settings)
    np.testing.assert_array_equal(start, drawn.pixels)
    # The schedule smooths: blurred noise has less fine pattern than the same noise unblurred.
    raw = start_pictures([0, 1], 16, **{**settings, "regularization": None})
    assert np.all(high_frequency_share(start) < high_frequency_share(raw))


@pytest.mark.parametrize("side", [24, 48])
def test_resize_agrees_with_scikit_image_away_from_the_edges(side):
    from skimage.transform import resize

    from freezelab.vis.ascent import _resize

    # A smooth picture (a plane plus a slow wave): bilinear resizes of it are
    # known up to the filter's edge handling.
    y, x = np.mgrid[0:32, 0:32].astype(np.float32)
    grey = 100 + 2 * x + y + 20 * np.sin(x / 5.0)
    batch = np.stack([grey, grey.T, 255 - grey], axis=-1)[None].repeat(2, axis=0)
    ours = _resize(batch, side)
    theirs = resize(batch, (2, side, side, 3), order=1, mode="reflect", anti_aliasing=side < 32)
    assert ours.shape == (2, side, side, 3) and ours.dtype == np.float32
    inner = slice(3, side - 3)
    np.testing.assert_allclose(ours[:, inner, inner], theirs[:, inner, inner], atol=2.5)
    assert _resize(batch, 32) is batch


def test_pictures_match_those_of_the_scikit_image_resize(monkeypatch, edge_pictures):
    # The same ascent with the former scikit-image resize draws the same stripes
    # and reaches a similar activation: the backend resize changes no picture's meaning.
    from skimage.transform import resize

    import freezelab.vis.ascent as ascent

    def skimage_resize(batch, side):
        if batch.shape[1] == side:
            return batch
        shape = (batch.shape[0], side, side, batch.shape[3])
        return resize(batch, shape, order=1, mode="reflect", anti_aliasing=side < batch.shape[1])

    monkeypatch.setattr(ascent, "_resize", lambda b, s: skimage_resize(b, s).astype(np.float32))
    before = filter_pictures(
        edge_model(), "edges", [0, 1], preprocessing=None, steps=20, progress=False
    )
    for index, vertical in ((0, True), (1, False)):
        share = horizontal_frequency_share(edge_pictures.pixels[index])
        assert (share > 0.8) if vertical else (share < 0.2)
        assert abs(share - horizontal_frequency_share(before.pixels[index])) < 0.1
    np.testing.assert_allclose(edge_pictures.final_activation, before.final_activation, rtol=0.25)
