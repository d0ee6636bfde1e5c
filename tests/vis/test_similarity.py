"""shifted_correlation: a shifted copy scores ~1, unrelated noise ~0, hand-computed cases."""

import numpy as np
import pytest

from freezelab.vis.similarity import shifted_correlation


def smooth_noise(seed, side=48):
    from scipy.ndimage import gaussian_filter

    noise = np.random.default_rng(seed).normal(size=(side + 16, side + 16, 3))
    return gaussian_filter(noise, sigma=(2, 2, 0))


def test_a_shifted_copy_scores_one_where_aligned_correlation_does_not():
    big = smooth_noise(0)
    picture, moved = big[8:56, 8:56], big[5:53, 12:60]  # moved by (3, -4) pixels
    aligned = shifted_correlation(picture, moved, max_shift=0)
    assert aligned < 0.5
    assert shifted_correlation(picture, moved, max_shift=4) == pytest.approx(1.0)
    assert shifted_correlation(picture, moved, max_shift=2) < 0.9  # the shift is out of reach


def test_unrelated_noise_scores_near_zero():
    scores = [
        shifted_correlation(smooth_noise(seed)[:48, :48], smooth_noise(seed + 100)[:48, :48], 4)
        for seed in range(9)
    ]
    # The best of 81 shifts of smooth noise sits a little above 0, far below a copy's 1.
    assert np.median(scores) < 0.2


def test_zero_shift_is_pearson_by_hand():
    first = np.array([[0.0, 1.0], [2.0, 3.0]])
    second = np.array([[3.0, 1.0], [2.0, 0.0]])
    # Deviations from the mean 1.5: (-1.5, -0.5, 0.5, 1.5) and (1.5, -0.5, 0.5, -1.5):
    # sum of products -2.25 + 0.25 + 0.25 - 2.25 = -4, each norm 5: r = -0.8.
    assert shifted_correlation(first, second, max_shift=0) == pytest.approx(-0.8)
    assert shifted_correlation(first, first[:, ::-1] * 0 + 1, max_shift=0) == 0.0  # flat: 0


def test_bad_input_says_what_was_received():
    with pytest.raises(ValueError, match="same shape"):
        shifted_correlation(np.zeros((8, 8)), np.zeros((9, 9)), 1)
    with pytest.raises(ValueError, match="Received: max_shift=5"):
        shifted_correlation(np.zeros((16, 16)), np.zeros((16, 16)), 5)
