"""Offline sample photos and the caffe preprocessing round trip."""

import keras
import numpy as np
import pytest

from freezelab.vis.images import (
    center_crop_square,
    from_caffe,
    sample_image,
    sample_names,
    to_caffe,
)


def test_every_sample_is_a_square_rgb_uint8_photo():
    assert sample_names() == ["astronaut", "chelsea", "coffee", "rocket"]
    for name in sample_names():
        photo = sample_image(name, size=32)
        assert photo.shape == (32, 32, 3) and photo.dtype == np.uint8
        assert photo.std() > 10  # a photo, not a blank


def test_sample_is_the_center_crop_of_the_skimage_photo():
    from skimage import data

    original = data.chelsea()  # 300 x 451: the crop keeps columns 75..374
    photo = sample_image("chelsea", size=300)
    np.testing.assert_array_equal(photo, original[:, 75:375])
    assert center_crop_square(np.zeros((4, 6))).shape == (4, 4)


def test_to_caffe_matches_keras_vgg16_preprocessing():
    rng = np.random.default_rng(0)
    photo = rng.integers(0, 256, (2, 5, 5, 3)).astype(np.float32)
    expected = keras.applications.vgg16.preprocess_input(photo.copy())
    np.testing.assert_allclose(to_caffe(photo), np.asarray(expected), rtol=1e-6, atol=1e-4)


def test_from_caffe_inverts_to_caffe_exactly():
    photo = sample_image("coffee", size=16)
    np.testing.assert_array_equal(from_caffe(to_caffe(photo)), photo)
    # Red is the last caffe channel: a pure-red pixel comes back red.
    red = np.array([[[255, 0, 0]]], np.uint8)
    assert from_caffe(to_caffe(red))[0, 0].tolist() == [255, 0, 0]


def test_bad_input_raises_clear_errors():
    with pytest.raises(ValueError, match=r"Accepted names.*Received: name='dog'"):
        sample_image("dog")
    with pytest.raises(ValueError, match="Received: size=4"):
        sample_image("chelsea", size=4)
    with pytest.raises(ValueError, match="3 channels"):
        to_caffe(np.zeros((4, 4, 4)))
