"""How alike two pictures are, allowing for a shift: the best normalised cross-correlation.

Gradient-ascent pictures of the same filter, drawn with another seed, show
the same pattern at another place: jitter and start noise move it around.
A pixel-aligned correlation then scores the same pattern as unrelated.
`shifted_correlation` slides one picture over the other by up to
``max_shift`` pixels each way and keeps the best Pearson correlation of the
overlapping grey pixels.
"""

from __future__ import annotations

import numpy as np

from freezelab._validation import check_array, check_int


def shifted_correlation(first: np.ndarray, second: np.ndarray, max_shift: int) -> float:
    """The largest correlation of two pictures' grey values over shifts of up to ``max_shift``.

    For every shift ``(dy, dx)`` with ``|dy|, |dx| <= max_shift`` the
    overlapping parts of the two grey pictures (mean over colour channels)
    are compared with Pearson's correlation; the largest is returned. With
    ``max_shift=0`` it is the plain, pixel-aligned correlation.

    Args:
        first: ``(S, S, 3)`` or ``(S, S)`` picture.
        second: A picture of the same shape.
        max_shift: Most pixels to shift along each axis, at most a quarter
            of the side (so every overlap keeps at least half the picture).

    Returns:
        A correlation in -1..1 (0.0 where an overlap is flat).

    Raises:
        ValueError: For pictures of other shapes or of different shapes,
            NaN or infinite values, or a ``max_shift`` out of range.
    """
    first = _grey(check_array(first, "first", ndim=(2, 3), shape_hint="(S, S, 3) or (S, S)"))
    second = _grey(check_array(second, "second", ndim=(2, 3), shape_hint="(S, S, 3) or (S, S)"))
    if first.shape != second.shape:
        raise ValueError(
            "Both pictures must have the same shape. "
            f"Received: first of shape {first.shape}, second of shape {second.shape}"
        )
    max_shift = check_int(max_shift, "max_shift", minimum=0)
    height, width = first.shape
    if max_shift > min(height, width) // 4:
        raise ValueError(
            f"max_shift must be at most a quarter of the side ({min(height, width) // 4}). "
            f"Received: max_shift={max_shift}"
        )
    best = -1.0
    for dy in range(-max_shift, max_shift + 1):
        for dx in range(-max_shift, max_shift + 1):
            a = first[max(dy, 0) : height + min(dy, 0), max(dx, 0) : width + min(dx, 0)]
            b = second[max(-dy, 0) : height + min(-dy, 0), max(-dx, 0) : width + min(-dx, 0)]
            best = max(best, _pearson(a, b))
    return best


def _grey(picture: np.ndarray) -> np.ndarray:
    picture = picture.astype(np.float64)
    return picture.mean(axis=-1) if picture.ndim == 3 else picture


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.ravel() - a.mean(), b.ravel() - b.mean()
    norm = np.sqrt((a @ a) * (b @ b))
    return float(a @ b / norm) if norm > 0 else 0.0


__all__ = ["shifted_correlation"]
