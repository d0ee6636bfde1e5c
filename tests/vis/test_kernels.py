"""Tests for freezelab.vis.kernels against hand-designed kernels."""

import numpy as np
import pytest

from freezelab.vis.kernels import kernel_pictures, kernel_stats


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


SOBEL_X = np.array([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])


def grey(pattern):
    """A (3, 3, 3, 1) kernel applying ``pattern`` equally to R, G and B."""
    return np.repeat(pattern[:, :, None], 3, axis=2)[..., None]


def test_sobel_is_oriented_and_colour_blind():
    stats = kernel_stats(grey(SOBEL_X))
    # Sobel . ramp = 8, |Sobel|^2 = 12, |ramp|^2 = 6: share 64 / 72 = 8 / 9 (by hand).
    assert stats.orientedness[0] == pytest.approx(8 / 9)
    assert stats.colour_selectivity[0] == pytest.approx(0.0)
    assert stats.oriented[0] and not stats.colour_selective[0]


def test_diagonal_edge_is_fully_oriented():
    diagonal = np.array([[0.0, 1.0, 2.0], [-1.0, 0.0, 1.0], [-2.0, -1.0, 0.0]])
    assert kernel_stats(grey(diagonal)).orientedness[0] == pytest.approx(1.0)


def test_centre_surround_is_not_oriented():
    laplacian = np.array([[0.0, -1.0, 0.0], [-1.0, 4.0, -1.0], [0.0, -1.0, 0.0]])
    stats = kernel_stats(grey(laplacian))
    assert stats.orientedness[0] == pytest.approx(0.0)
    assert stats.selective_share == 0.0


def test_flat_red_minus_green_is_maximally_colour_selective():
    kernel = np.zeros((3, 3, 3, 1))
    kernel[:, :, 0, 0] = 1.0
    kernel[:, :, 1, 0] = -1.0
    # Channel sums (9, -9, 0), mean 0: |chromatic| = 9 sqrt(2); |kernel| = sqrt(18) -> 3.
    assert kernel_stats(kernel).colour_selectivity[0] == pytest.approx(3.0)
    assert kernel_stats(kernel).colour_selective[0]


def test_random_kernels_are_rarely_selective():
    rng = np.random.default_rng(0)
    stats = kernel_stats(rng.normal(size=(3, 3, 3, 2000)))
    assert stats.orientedness.mean() == pytest.approx(0.25, abs=0.02)
    assert stats.selective_share < 0.15


def test_rejects_non_3x3_kernels():
    with pytest.raises(ValueError, match="Received: shape=\\(5, 5, 3, 4\\)"):
        kernel_stats(np.zeros((5, 5, 3, 4)))
