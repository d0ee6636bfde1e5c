"""A target task for the ViT teacher: stripes at eight orientations, four of them new.

The ViT teacher (`freezelab.sources.vit`) learned coloured gratings at four
orientations (0°, 45°, 90°, 135°, each within ±8°) and four colours. This
task asks for the **orientation alone**, at eight angles 22.5° apart: the
teacher's four, and four halfway between them (22.5°, 67.5°, 112.5°,
157.5°) that its source task never shows. Each image's colour is drawn from
the source task's four whatever its class, so colour never gives the class
away; frequency, phase, contrast, background and noise vary as in the
source task, with a smaller angle jitter (±4°) so that neighbouring classes
do not overlap.

Training and validation images come from two independent random streams of
the same seed. Images are float32 RGB in 0..255; preprocess them with
VGG16's caffe preprocessing, as the teacher was trained.

NumPy only: no TensorFlow, no Keras.
"""

from __future__ import annotations

import numpy as np

from freezelab._validation import check_int
from freezelab.sources.data import TargetDataset
from freezelab.sources.source_task import (
    COLOURS,
    ORIENTATIONS_DEG,
    add_noise_and_scale,
    dead_leaves,
)

#: The eight orientations, in label order, in degrees.
STRIPE_ANGLES_DEG = tuple(22.5 * index for index in range(8))
STRIPE_CLASSES = tuple(f"stripes_{angle:g}deg" for angle in STRIPE_ANGLES_DEG)
#: Largest random deviation from a class's angle, in degrees.
ANGLE_JITTER_DEG = 4.0
MIN_IMAGE_SIZE = 8


def load_stripe_dataset(
    image_size: int = 32,
    seed: int = 0,
    train_per_class: int = 24,
    val_per_class: int = 30,
) -> TargetDataset:
    """Draws the stripe task's training and validation images for one seed.

    Args:
        image_size: Side of the square images, at least 8.
        seed: Seed of both random streams; another seed is another split.
        train_per_class: Training images per class, at least 1.
        val_per_class: Validation images per class, at least 1.

    Returns:
        A `freezelab.sources.data.TargetDataset` with the eight classes of
        `STRIPE_CLASSES`; its provenance says which orientations the
        teacher's source task shows.

    Raises:
        ValueError: For an ``image_size`` below 8 or counts below 1.
    """
    image_size = check_int(image_size, "image_size", minimum=MIN_IMAGE_SIZE)
    train_per_class = check_int(train_per_class, "train_per_class", minimum=1)
    val_per_class = check_int(val_per_class, "val_per_class", minimum=1)
    seed = check_int(seed, "seed", minimum=0)
    x_train, y_train = draw_stripe_images(
        train_per_class, image_size, np.random.default_rng([seed, 0])
    )
    x_val, y_val = draw_stripe_images(val_per_class, image_size, np.random.default_rng([seed, 1]))
    provenance = {
        name: "procedural; orientation in the teacher's source task"
        if angle in ORIENTATIONS_DEG
        else "procedural; orientation new to the teacher"
        for name, angle in zip(STRIPE_CLASSES, STRIPE_ANGLES_DEG)
    }
    return TargetDataset(x_train, y_train, x_val, y_val, STRIPE_CLASSES, provenance=provenance)


def draw_stripe_images(
    per_class: int, image_size: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Draws ``per_class`` striped images of each orientation, shuffled.

    Args:
        per_class: Images per class.
        image_size: Side of the square images.
        rng: Random generator.

    Returns:
        ``(images, labels)``: float32 RGB in 0..255 and int64 labels into
        `STRIPE_CLASSES`.
    """
    labels = np.arange(per_class * len(STRIPE_CLASSES)) % len(STRIPE_CLASSES)
    rng.shuffle(labels)
    count = len(labels)
    background = dead_leaves(count, image_size, rng)
    coords = np.arange(image_size, dtype=np.float32) + 0.5
    yy, xx = np.meshgrid(coords, coords, indexing="ij")
    angles = np.asarray(STRIPE_ANGLES_DEG)[labels]
    theta = np.deg2rad(angles + rng.uniform(-ANGLE_JITTER_DEG, ANGLE_JITTER_DEG, size=count))
    cycles = rng.uniform(2.5, 6.0, size=count) * image_size / 32.0
    phase = rng.uniform(0, 2 * np.pi, size=count)
    # As the source task: stripes run along theta, the pattern changes across theta + 90°.
    across = -np.sin(theta)[:, None, None] * xx + np.cos(theta)[:, None, None] * yy
    wave = np.sin(2 * np.pi * cycles[:, None, None] * across / image_size + phase[:, None, None])
    stripes = (wave > 0).astype(np.float32)[..., None]
    palette = np.asarray(list(COLOURS.values()), dtype=np.float32)
    colours = palette[rng.integers(0, len(palette), size=count)]
    colours = np.clip(colours + rng.uniform(-0.1, 0.1, size=colours.shape), 0, 1)
    dark = rng.uniform(0.0, 0.25, size=(count, 1, 1, 1))
    pattern = stripes * colours[:, None, None, :] + (1 - stripes) * dark
    opacity = rng.uniform(0.55, 0.9, size=(count, 1, 1, 1))
    images = ((1 - opacity) * background + opacity * pattern).astype(np.float32)
    return add_noise_and_scale(images, rng).astype(np.float32), labels.astype(np.int64)
