"""Scenes with a localised object: a task whose Grad-CAM can be checked.

Grad-CAM claims to show *where* a decision rests. To check that claim the
images need an object whose place is known. This module paints one small
shape per image, anywhere on a cluttered "dead leaves" background (the
source task's, `freezelab.sources.source_task.dead_leaves`), and keeps the
shape's mask. `make_pair_scene` puts two objects of different classes side by
side in one image, so each class's heatmap can be checked against its own
object.

The classes default to `SCENE_CLASSES`: a cross and a bar, which the
teacher's source task never shows, and a ring and a triangle, which it shows
large and centred (here they are small and anywhere). Shapes are drawn by
`freezelab.sources.source_task.shape_masks`, the one drawing rule.

No model code: NumPy arrays in, NumPy arrays out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from freezelab._validation import check_int
from freezelab.sources.source_task import (
    check_shape_names,
    dead_leaves,
    paint_masks,
    shape_masks,
)

SCENE_CLASSES = ("cross", "bar", "ring", "triangle")
#: Object radius as a share of the image side: small enough to be localised.
RADIUS_RANGE = (0.16, 0.24)
MIN_SCENE_SIZE = 32
#: How much of the dead-leaves background's contrast is kept.
BACKGROUND_CONTRAST = 0.5


@dataclass(frozen=True)
class SceneData:
    """Scenes with their objects' labels and masks.

    Attributes:
        images: float32 ``(n, size, size, 3)``, RGB in 0..255.
        labels: int64 ``(n,)`` class indices into ``class_names`` (for a pair
            scene: the class of each of its two objects).
        masks: bool ``(n, size, size)``: where each labelled object is.
        class_names: The class names, in label order.
    """

    images: np.ndarray
    labels: np.ndarray
    masks: np.ndarray
    class_names: tuple[str, ...]

    @property
    def num_classes(self) -> int:
        """How many classes."""
        return len(self.class_names)


def make_scenes(
    num_images: int,
    image_size: int = 64,
    seed: int = 0,
    classes: Sequence[str] = SCENE_CLASSES,
) -> SceneData:
    """Draws scenes of one small object each, at a random place, with balanced labels.

    Args:
        num_images: How many scenes.
        image_size: Side of the square images, at least 32.
        seed: Seed of the random generator; another seed is another set.
        classes: Shape names, each from ``SHAPES`` or ``EXTRA_SHAPES`` of
            `freezelab.sources.source_task`, at least two, no repeats.

    Returns:
        A `SceneData` (``masks`` marks each scene's object).

    Raises:
        ValueError: For a non-positive ``num_images``, an ``image_size``
            below 32, or ``classes`` that are unknown, repeated or fewer than two.
    """
    num_images = check_int(num_images, "num_images", minimum=1)
    image_size = check_int(image_size, "image_size", minimum=MIN_SCENE_SIZE)
    classes = check_shape_names(classes)
    rng = np.random.default_rng(seed)
    labels = np.arange(num_images) % len(classes)
    rng.shuffle(labels)
    radius = image_size * rng.uniform(*RADIUS_RANGE, size=num_images)
    # Anywhere, but wholly inside the image.
    centres = radius[:, None] + rng.uniform(0, 1, size=(num_images, 2)) * (
        image_size - 2 * radius[:, None]
    )
    masks = shape_masks(
        np.asarray(classes)[labels],
        image_size,
        centres,
        radius,
        rng.uniform(0, 2 * np.pi, size=num_images),
    )
    images = paint_masks(_background(num_images, image_size, rng), masks, rng)
    return SceneData(_finish(images, rng), labels.astype(np.int64), masks, classes)


def make_pair_scene(
    first: str,
    second: str,
    image_size: int = 64,
    seed: int = 0,
    classes: Sequence[str] = SCENE_CLASSES,
) -> tuple[np.ndarray, SceneData]:
    """One scene with two objects of different classes, one in each half.

    Args:
        first: The class of the object in the left half.
        second: The class of the object in the right half.
        image_size: Side of the square image, at least 32.
        seed: Seed of the random generator.
        classes: The class list the labels index into.

    Returns:
        ``(image, objects)``: the float32 ``(size, size, 3)`` RGB image in
        0..255, and a `SceneData` of two entries whose ``labels`` and
        ``masks`` describe the left and the right object (its ``images`` hold
        the scene twice).

    Raises:
        ValueError: If ``first`` or ``second`` is not in ``classes``, or
            they are the same class.
    """
    image_size = check_int(image_size, "image_size", minimum=MIN_SCENE_SIZE)
    classes = check_shape_names(classes)
    for name, value in (("first", first), ("second", second)):
        if value not in classes:
            raise ValueError(f"{name} must be one of {classes}. Received: {name}={value!r}")
    if first == second:
        raise ValueError(
            f"A pair scene needs two different classes. Received: first={first!r}, second={second!r}"
        )
    rng = np.random.default_rng(seed)
    radius = image_size * np.full(2, RADIUS_RANGE[1])
    half = image_size / 2
    rows = rng.uniform(radius, image_size - radius)
    columns = np.array([half / 2, half + half / 2]) + rng.uniform(-0.1, 0.1, 2) * half
    masks = shape_masks(
        np.asarray([first, second]),
        image_size,
        np.stack([rows, columns], axis=1),
        radius,
        rng.uniform(0, 2 * np.pi, size=2),
    )
    scene = _background(1, image_size, rng)
    for mask in masks:
        scene = paint_masks(scene, mask[None], rng)
    image = _finish(scene, rng)[0]
    labels = np.array([classes.index(first), classes.index(second)], dtype=np.int64)
    return image, SceneData(np.stack([image, image]), labels, masks, classes)


def heat_on_mask(heat: np.ndarray, mask: np.ndarray) -> float:
    """The share of a heatmap's total that falls on a mask.

    Args:
        heat: ``(H, W)`` non-negative map.
        mask: ``(H, W)`` bool mask of the same shape.

    Returns:
        ``sum(heat[mask]) / sum(heat)``; 0.0 for an all-zero map.

    Raises:
        ValueError: If the shapes differ.
    """
    heat, mask = np.asarray(heat, dtype=np.float64), np.asarray(mask, dtype=bool)
    if heat.shape != mask.shape:
        raise ValueError(
            f"heat and mask need the same shape. Received: heat {heat.shape}, mask {mask.shape}"
        )
    total = float(np.clip(heat, 0, None).sum())
    return float(np.clip(heat, 0, None)[mask].sum() / total) if total > 0 else 0.0


def nearest_object(point: tuple[int, int], masks: np.ndarray) -> int:
    """Which mask lies nearest to a pixel (0 distance if the pixel is on it).

    Args:
        point: ``(row, column)``.
        masks: bool ``(k, H, W)``, each with at least one pixel set.

    Returns:
        The index of the nearest mask (the first on ties).

    Raises:
        ValueError: For an empty mask.
    """
    masks = np.asarray(masks, dtype=bool)
    distances = []
    for index, mask in enumerate(masks):
        rows, columns = np.nonzero(mask)
        if len(rows) == 0:
            raise ValueError(f"Mask {index} is empty. Received: masks of shape {masks.shape}")
        distances.append(np.min((rows - point[0]) ** 2 + (columns - point[1]) ** 2))
    return int(np.argmin(distances))


@dataclass(frozen=True)
class ObjectCheck:
    """Does one heatmap point at its own object, and how would chance have done?

    Attributes:
        peak: ``(row, column)`` pixel of the map's largest value (the first on
            ties); with a coarse map, the centre of its largest cell.
        peak_nearest_own: The peak lies nearer the map's own object than any other.
        nearest_chance: The share of the possible peaks (pixels, or cell
            centres with a coarse map) that lie nearer the own object than any
            other: how often a peak placed at random would pass
            ``peak_nearest_own`` (about 0.5 with one object in each half).
        peak_in_own: The peak lies on the own object's mask (stricter).
        peak_in_others: The peak lies on another object's mask: a map that
            finds objects but not its class's would hit the other object as
            often as its own (a paired, class-agnostic baseline).
        in_own_chance: The share of the possible peaks on the own object's
            mask: how often a peak placed at random would pass ``peak_in_own``.
        area_share: The own object's share of the image's area: the heat
            share a map spread evenly over the image would give it.
        heat_share: The share of the map's total heat on the own object.
        heat_share_others: The share on the other objects together.
    """

    peak: tuple[int, int]
    peak_nearest_own: bool
    nearest_chance: float
    peak_in_own: bool
    peak_in_others: bool
    in_own_chance: float
    area_share: float
    heat_share: float
    heat_share_others: float


def object_check(
    heat: np.ndarray, masks: np.ndarray, index: int, coarse: np.ndarray | None = None
) -> ObjectCheck:
    """Checks a heatmap against the object it should explain, beside chance baselines.

    Args:
        heat: ``(H, W)`` non-negative map over the image (e.g. ``GradCam.heatmap``).
        masks: bool ``(k, H, W)``: every object of the scene, each non-empty.
        index: Which of ``masks`` is the map's own object.
        coarse: Optional ``(h, w)`` map the heatmap was upsampled from (e.g.
            ``GradCam.coarse``), with ``H`` and ``W`` multiples of ``h`` and
            ``w``. When given, the peak is the centre of the coarse map's
            largest cell, ``((i + 0.5) * H / h, (j + 0.5) * W / w)``, and the
            chance rates of the peak checks count cell centres, not pixels:
            upsampling cannot move a peak and chance matches where peaks can lie.
            The heat shares are then taken on ``coarse`` resized bilinearly
            without min-max scaling: scaling to 0..1 zeroes the coolest cell
            and would move heat between objects and background.

    Returns:
        An `ObjectCheck`.

    Raises:
        ValueError: For shapes that differ, an empty mask, an ``index``
            outside ``0..k-1``, or a ``coarse`` map that does not tile ``heat``.
    """
    heat = np.asarray(heat, dtype=np.float64)
    masks = np.asarray(masks, dtype=bool)
    if masks.ndim != 3 or heat.shape != masks.shape[1:]:
        raise ValueError(
            "heat must be (H, W) and masks (k, H, W) of the same size. "
            f"Received: heat {heat.shape}, masks {masks.shape}"
        )
    index = check_int(index, "index", minimum=0)
    if index >= len(masks):
        raise ValueError(f"index must be below {len(masks)}. Received: index={index}")
    nearest = nearest_mask_map(masks)
    if coarse is None:
        row, column = np.unravel_index(int(np.argmax(heat)), heat.shape)
        candidates = (slice(None), slice(None))
    else:
        coarse = np.asarray(coarse, dtype=np.float64)
        if coarse.ndim != 2 or any(big % small for big, small in zip(heat.shape, coarse.shape)):
            raise ValueError(
                "coarse must be (h, w) with the heatmap's sides multiples of h and w. "
                f"Received: coarse {coarse.shape}, heat {heat.shape}"
            )
        cell_rows, cell_columns = (big // small for big, small in zip(heat.shape, coarse.shape))
        i, j = np.unravel_index(int(np.argmax(coarse)), coarse.shape)
        row, column = int((i + 0.5) * cell_rows), int((j + 0.5) * cell_columns)
        candidates = (
            slice(cell_rows // 2, None, cell_rows),
            slice(cell_columns // 2, None, cell_columns),
        )
    peak = (int(row), int(column))
    others = np.delete(masks, index, axis=0).any(axis=0)
    if coarse is not None:
        from skimage.transform import resize

        heat = resize(coarse, heat.shape, order=1, mode="edge", anti_aliasing=False)
    return ObjectCheck(
        peak=peak,
        peak_nearest_own=bool(nearest[peak] == index),
        nearest_chance=float(np.mean(nearest[candidates] == index)),
        peak_in_own=bool(masks[index][peak]),
        peak_in_others=bool(others[peak]),
        in_own_chance=float(masks[index][candidates].mean()),
        area_share=float(masks[index].mean()),
        heat_share=heat_on_mask(heat, masks[index]),
        heat_share_others=heat_on_mask(heat, others),
    )


def hits_beyond_chance(hits: int, chances: Sequence[float]) -> float:
    """One-sided P-value of a hit count against per-trial chance rates.

    Under chance, trial ``i`` hits with probability ``chances[i]``,
    independently; the number of hits then follows a Poisson-binomial
    distribution, computed exactly by dynamic programming over the trials.

    Args:
        hits: The number of trials that hit, ``0..len(chances)``.
        chances: Each trial's chance of a hit, each in ``[0, 1]``.

    Returns:
        ``P(X >= hits)`` under chance: small when this many hits would be
        rare by chance alone.

    Raises:
        ValueError: For ``hits`` outside ``0..len(chances)`` or a chance
            outside ``[0, 1]``.
    """
    chances = np.asarray(chances, dtype=np.float64).ravel()
    if chances.size and (
        not np.all(np.isfinite(chances)) or chances.min() < 0 or chances.max() > 1
    ):
        raise ValueError(f"chances must lie in [0, 1]. Received: chances={chances.tolist()}")
    hits = check_int(hits, "hits", minimum=0)
    if hits > chances.size:
        raise ValueError(
            f"hits can be at most the number of trials, {chances.size}. Received: hits={hits}"
        )
    counts = np.zeros(chances.size + 1)  # counts[k] = P(k hits so far)
    counts[0] = 1.0
    for p in chances:
        counts[1:] = counts[1:] * (1 - p) + counts[:-1] * p
        counts[0] *= 1 - p
    return float(min(1.0, counts[hits:].sum()))


def nearest_mask_map(masks: np.ndarray) -> np.ndarray:
    """For every pixel, the index of the nearest mask (as `nearest_object`, first on ties).

    Args:
        masks: bool ``(k, H, W)``, each with at least one pixel set.

    Returns:
        int ``(H, W)`` array of mask indices.

    Raises:
        ValueError: For an empty mask.
    """
    from scipy.ndimage import distance_transform_edt

    masks = np.asarray(masks, dtype=bool)
    for k, mask in enumerate(masks):
        if not mask.any():
            raise ValueError(f"Mask {k} is empty. Received: masks of shape {masks.shape}")
    distances = np.stack([distance_transform_edt(~mask) for mask in masks])
    return np.argmin(distances, axis=0)


def _background(num_images: int, image_size: int, rng: np.random.Generator) -> np.ndarray:
    # The source task's dead leaves at reduced contrast: clutter, but quieter than the object.
    leaves = dead_leaves(num_images, image_size, rng)
    mean = leaves.mean(axis=(1, 2, 3), keepdims=True)
    return (mean + BACKGROUND_CONTRAST * (leaves - mean)).astype(np.float32)


def _finish(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    images = images + rng.normal(0.0, 0.03, size=images.shape).astype(np.float32)
    return (np.clip(images, 0.0, 1.0) * 255.0).astype(np.float32)


__all__ = [
    "SCENE_CLASSES",
    "ObjectCheck",
    "SceneData",
    "heat_on_mask",
    "hits_beyond_chance",
    "make_pair_scene",
    "make_scenes",
    "nearest_mask_map",
    "nearest_object",
    "object_check",
]
