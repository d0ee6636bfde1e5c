"""Tests for freezelab.vis.kernels against hand-designed kernels."""

import numpy as np
import pytest

from freezelab.vis.kernels import kernel_pictures


def test_kernel_pictures_draws_a_hand_designed_red_filter():
    kernel = np.zeros((3, 3, 3, 2))
    kernel[:, :, 2, 0] = 1.0  # BGR input: channel 2 reads red
    kernel[1, 1, 0, 1] = -1.0  # filter 1: negative blue at the centre
    pictures = kernel_pictures(kernel, count=2)
    assert pictures.shape == (2, 3, 3, 3)
    np.testing.assert_allclose(pictures[0, :, :, 0], 1.0)  # red full on
    np.testing.assert_allclose(pictures[0, :, :, 1:], 0.5)  # green, blue neutral
    assert pictures[1, 1, 1, 2] == 0.0  # blue fully negative
    same_scale = kernel_pictures(kernel, count=1, scale=2.0)
    assert same_scale[0, 0, 0, 0] == 0.75


def test_kernel_pictures_rejects_kernels_that_do_not_read_rgb():
    with pytest.raises(ValueError, match="Received: shape"):
        kernel_pictures(np.zeros((3, 3, 4, 8)))
    with pytest.raises(ValueError, match="count"):
        kernel_pictures(np.zeros((3, 3, 3, 8)), count=9)
