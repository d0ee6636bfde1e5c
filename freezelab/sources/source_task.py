"""The source task the teacher learns from: procedural images, made without downloads.

ImageNet teaches VGG16's first layers to detect oriented edges and colours
because photos are full of both. This module draws images that are full of
both too, so a small network trained on them learns the same kind of early
filters. There are 20 classes:

* 16 **coloured gratings**: stripes at one of 4 orientations (0°, 45°, 90°,
  135°) in one of 4 colours (red, green, blue, yellow), over a "dead leaves"
  background of overlapping discs. Telling them apart needs oriented edge
  detectors *and* colour detectors.
* 4 **shapes**: a disc, a square, a triangle or a ring, in a random colour,
  size, position and rotation, over the same kind of background.

Frequency, phase, contrast, colour shade, background and noise vary at
random, so no single pixel gives the class away. Images are float32 RGB in
0..255, like decoded photos; preprocess them with VGG16's caffe
preprocessing before feeding the teacher.

NumPy only: no TensorFlow, no Keras.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

ORIENTATIONS_DEG = (0, 45, 90, 135)
COLOURS = {
    "red": (0.90, 0.15, 0.12),
    "green": (0.15, 0.75, 0.20),
    "blue": (0.15, 0.30, 0.95),
    "yellow": (0.95, 0.85, 0.10),
}
SHAPES = ("disc", "square", "triangle", "ring")
#: Shapes the source task never shows (used by `freezelab.sources.scenes`).
EXTRA_SHAPES = ("cross", "bar")
GRATING_CLASSES = tuple(
    f"{colour}_stripes_{angle}deg" for angle in ORIENTATIONS_DEG for colour in COLOURS
)
CLASS_NAMES = GRATING_CLASSES + SHAPES
NUM_CLASSES = len(CLASS_NAMES)
MIN_IMAGE_SIZE = 8
#: The held-out seed: no training epoch of either teacher draws from it
#: (tools/train_teacher.py and tools/train_bn_teacher.py hold it out).
HELD_OUT_SEED = 987_654
_CHUNK = 1024


@dataclass(frozen=True)
class SourceTaskData:
    """A batch of source-task images with their labels.

    Attributes:
        images: float32 array ``(n, size, size, 3)``, RGB in 0..255.
        labels: int64 array ``(n,)`` of class indices into ``class_names``.
        class_names: The 20 class names.
        seed: The seed the batch was drawn from.
    """

    images: np.ndarray
    labels: np.ndarray
    class_names: tuple[str, ...]
    seed: int


def make_source_images(num_images: int, image_size: int = 32, seed: int = 0) -> SourceTaskData:
    """Draws procedural source-task images with balanced labels.

    The same ``(num_images, image_size, seed)`` always gives the same images,
    so a held-out set is simply another seed.

    Args:
        num_images: How many images to draw (labels cycle through the classes,
            then are shuffled).
        image_size: Side of the square images in pixels, at least 8.
        seed: Seed of the random generator.

    Returns:
        A `SourceTaskData` with float32 RGB images in 0..255.

    Raises:
        ValueError: If ``num_images`` is not a positive int or ``image_size``
            is below 8.
    """
    if isinstance(num_images, bool) or not isinstance(num_images, int) or num_images < 1:
        raise ValueError(f"num_images must be a positive int. Received: num_images={num_images!r}")
    if isinstance(image_size, bool) or not isinstance(image_size, int):
        raise ValueError(f"image_size must be an int. Received: image_size={image_size!r}")
    if image_size < MIN_IMAGE_SIZE:
        raise ValueError(
            f"image_size must be at least {MIN_IMAGE_SIZE}. Received: image_size={image_size}"
        )
    rng = np.random.default_rng(seed)
    labels = np.arange(num_images) % NUM_CLASSES
    rng.shuffle(labels)
    images = np.empty((num_images, image_size, image_size, 3), dtype=np.float32)
    # Chunks keep the temporary arrays small (and fast) for large batches.
    for start in range(0, num_images, _CHUNK):
        chunk = slice(start, start + _CHUNK)
        images[chunk] = _draw(labels[chunk], image_size, rng)
    return SourceTaskData(
        images=images,
        labels=labels.astype(np.int64),
        class_names=CLASS_NAMES,
        seed=seed,
    )


def _draw(labels, image_size, rng):
    images = dead_leaves(len(labels), image_size, rng)
    is_grating = labels < len(GRATING_CLASSES)
    if is_grating.any():
        images[is_grating] = _paint_gratings(images[is_grating], labels[is_grating], rng)
    if (~is_grating).any():
        shape_ids = labels[~is_grating] - len(GRATING_CLASSES)
        images[~is_grating] = _paint_shapes(images[~is_grating], shape_ids, rng)
    return add_noise_and_scale(images, rng)


def add_noise_and_scale(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Adds the source task's pixel noise and scales 0..1 images to 0..255.

    Args:
        images: float32 ``(n, size, size, 3)`` in 0..1 (changed in place).
        rng: Random generator.

    Returns:
        The images with Gaussian noise (standard deviation 0.03), clipped to
        0..1 and multiplied by 255.
    """
    images += rng.normal(0.0, 0.03, size=images.shape).astype(np.float32)
    return np.clip(images, 0.0, 1.0) * 255.0


def dead_leaves(num_images: int, image_size: int, rng: np.random.Generator) -> np.ndarray:
    """Paints "dead leaves" backgrounds: overlapping discs of muted random colours.

    Args:
        num_images: How many backgrounds.
        image_size: Side in pixels.
        rng: Random generator.

    Returns:
        float32 array ``(num_images, image_size, image_size, 3)`` in 0..1.
    """
    yy, xx = _grid(image_size)
    base = rng.uniform(0.3, 0.7, size=(num_images, 1, 1, 1))
    images = np.broadcast_to(base, (num_images, image_size, image_size, 3)).copy()
    for _ in range(12):
        centre = rng.uniform(0, image_size, size=(num_images, 2, 1, 1))
        radius = image_size * rng.uniform(0.08, 0.35, size=(num_images, 1, 1))
        grey = rng.uniform(0.25, 0.75, size=(num_images, 1, 1, 1))
        tint = rng.uniform(-0.12, 0.12, size=(num_images, 1, 1, 3))
        inside = (yy - centre[:, 0]) ** 2 + (xx - centre[:, 1]) ** 2 < radius**2
        images = np.where(inside[..., None], grey + tint, images)
    return images.astype(np.float32)


def _paint_gratings(background, labels, rng):
    n, size = background.shape[0], background.shape[1]
    yy, xx = _grid(size)
    angle_index = labels // len(COLOURS)
    colour_index = labels % len(COLOURS)
    theta = np.deg2rad(np.asarray(ORIENTATIONS_DEG)[angle_index] + rng.uniform(-8, 8, size=n))
    cycles = rng.uniform(2.5, 6.0, size=n) * size / 32.0
    phase = rng.uniform(0, 2 * np.pi, size=n)
    # Stripes run along theta: the pattern changes across the direction theta + 90°.
    across = -np.sin(theta)[:, None, None] * xx + np.cos(theta)[:, None, None] * yy
    wave = np.sin(2 * np.pi * cycles[:, None, None] * across / size + phase[:, None, None])
    stripes = (wave > 0).astype(np.float32)[..., None]
    colours = np.asarray(list(COLOURS.values()), dtype=np.float32)[colour_index]
    colours = np.clip(colours + rng.uniform(-0.1, 0.1, size=colours.shape), 0, 1)
    dark = rng.uniform(0.0, 0.25, size=(n, 1, 1, 1))
    pattern = stripes * colours[:, None, None, :] + (1 - stripes) * dark
    opacity = rng.uniform(0.55, 0.9, size=(n, 1, 1, 1))
    return (1 - opacity) * background + opacity * pattern


def _paint_shapes(background, shape_ids, rng):
    return paint_centred_shapes(background, np.asarray(SHAPES)[shape_ids], rng)


def paint_centred_shapes(
    background: np.ndarray, names: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Paints one large shape per image near its centre, as the source task draws them.

    Args:
        background: float32 ``(n, size, size, 3)`` in 0..1.
        names: ``(n,)`` shape names, each one of `SHAPES` or `EXTRA_SHAPES`.
        rng: Random generator (centre, radius, rotation, then colour).

    Returns:
        A new float32 array like ``background``.

    Raises:
        ValueError: For a name that is not a known shape.
    """
    mask = centred_shape_masks(names, background.shape[1], rng)
    return paint_masks(background, mask, rng)


def centred_shape_masks(names: np.ndarray, image_size: int, rng: np.random.Generator) -> np.ndarray:
    """Masks of large shapes near the image centre, at random size and rotation.

    Args:
        names: ``(n,)`` shape names, each one of `SHAPES` or `EXTRA_SHAPES`.
        image_size: Side of the square images in pixels.
        rng: Random generator (centre, radius, then rotation).

    Returns:
        bool array ``(n, image_size, image_size)``.

    Raises:
        ValueError: For a name that is not a known shape.
    """
    n, size = len(names), image_size
    centre = size * rng.uniform(0.35, 0.65, size=(n, 2))
    radius = size * rng.uniform(0.2, 0.33, size=n)
    rotation = rng.uniform(0, 2 * np.pi, size=n)
    return shape_masks(np.asarray(names), size, centre, radius, rotation)


def shape_masks(
    names: np.ndarray,
    image_size: int,
    centres: np.ndarray,
    radii: np.ndarray,
    rotations: np.ndarray,
) -> np.ndarray:
    """Where each named shape covers the image: the one drawing rule for every shape.

    Args:
        names: ``(n,)`` shape names, each one of `SHAPES` or `EXTRA_SHAPES`.
        image_size: Side of the square images in pixels.
        centres: ``(n, 2)`` centres as ``(row, column)`` in pixels.
        radii: ``(n,)`` radii in pixels (the shape's outer size).
        rotations: ``(n,)`` rotations in radians.

    Returns:
        bool array ``(n, image_size, image_size)``.

    Raises:
        ValueError: For a name that is not a known shape.
    """
    names = np.asarray(names)
    unknown = sorted(set(names.tolist()) - set(SHAPES + EXTRA_SHAPES))
    if unknown:
        raise ValueError(
            f"Unknown shape names; known: {SHAPES + EXTRA_SHAPES}. Received: {unknown}"
        )
    yy, xx = _grid(image_size)
    centres = np.asarray(centres, dtype=np.float64).reshape(-1, 2, 1, 1)
    radius = np.asarray(radii, dtype=np.float64).reshape(-1, 1, 1)
    rotation = np.asarray(rotations, dtype=np.float64).reshape(-1, 1, 1)
    dy, dx = yy - centres[:, 0], xx - centres[:, 1]
    u = np.cos(rotation) * dx + np.sin(rotation) * dy
    v = -np.sin(rotation) * dx + np.cos(rotation) * dy
    distance = np.sqrt(u**2 + v**2)
    rules = {
        "disc": lambda: distance < radius,
        "square": lambda: np.maximum(np.abs(u), np.abs(v)) < radius * 0.8,
        "triangle": lambda: _triangle_mask(u, v, radius),
        "ring": lambda: (distance < radius) & (distance > radius * 0.6),
        "cross": lambda: (
            (np.maximum(np.abs(u), np.abs(v)) < radius * 0.9)
            & (np.minimum(np.abs(u), np.abs(v)) < radius * 0.28)
        ),
        "bar": lambda: (np.abs(u) < radius) & (np.abs(v) < radius * 0.3),
    }
    mask = np.zeros((len(names), image_size, image_size), dtype=bool)
    for name in set(names.tolist()):
        chosen = names == name
        mask[chosen] = rules[name]()[chosen]
    return mask


def paint_masks(background: np.ndarray, mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Paints each image's mask in one random colour that stands out from its background.

    Args:
        background: float32 ``(n, size, size, 3)`` in 0..1.
        mask: bool ``(n, size, size)``: where to paint.
        rng: Random generator.

    Returns:
        A new float32 array like ``background``.
    """
    n = background.shape[0]
    colour = rng.uniform(0, 1, size=(n, 1, 1, 3))
    # Keep the shape visible: push its colour away from the background's mean.
    mean = background.mean(axis=(1, 2, 3), keepdims=True)
    colour = np.where(np.abs(colour - mean) < 0.3, 1 - colour, colour)
    return np.where(mask[..., None], colour, background).astype(np.float32)


def check_shape_names(classes: Sequence[str]) -> tuple[str, ...]:
    """Checks a choice of shape classes: two or more different names of known shapes.

    Args:
        classes: A list or tuple of names from `SHAPES` and `EXTRA_SHAPES`.

    Returns:
        The names as a tuple.

    Raises:
        ValueError: For anything else (a string, fewer than two, repeats, unknown names).
    """
    known = SHAPES + EXTRA_SHAPES
    names = tuple(classes) if isinstance(classes, (list, tuple)) else None
    if (
        names is None
        or len(names) < 2
        or len(set(names)) != len(names)
        or any(name not in known for name in names)
    ):
        raise ValueError(
            f"classes must be two or more different names from {known}. Received: classes={classes!r}"
        )
    return names


def _triangle_mask(u, v, radius):
    # An equilateral triangle: inside all three half-planes at 120° steps.
    inside = np.ones(u.shape, dtype=bool)
    for k in range(3):
        angle = 2 * np.pi * k / 3
        inside &= np.cos(angle) * u + np.sin(angle) * v < radius * 0.5
    return inside


def _grid(size):
    coords = np.arange(size, dtype=np.float32) + 0.5
    return np.meshgrid(coords, coords, indexing="ij")
