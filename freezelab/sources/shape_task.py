"""A target task in the teacher's world: six shapes, two of which it never saw.

Transfer learning pays when the source task taught features the target task
needs. The offline teacher (`freezelab.sources.teacher`) learned coloured
gratings and four shapes (disc, square, triangle, ring) over "dead leaves"
backgrounds. This task asks for six shapes drawn the same way: those four,
now to be told apart from a **cross** and a **bar**, which the source task
never shows (`freezelab.sources.source_task.EXTRA_SHAPES`). Each image holds
one large shape near its centre, in a random colour, size and rotation, over a
fresh background, with the source task's pixel noise; the colour never gives
the class away.

Training and validation images come from two independent random streams of
the same seed, so no validation image repeats a training one. Images are
float32 RGB in 0..255; preprocess them with VGG16's caffe preprocessing.

NumPy only: no TensorFlow, no Keras.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from freezelab._validation import check_int
from freezelab.sources.data import TargetDataset
from freezelab.sources.source_task import (
    EXTRA_SHAPES,
    SHAPES,
    add_noise_and_scale,
    centred_shape_masks,
    check_shape_names,
    dead_leaves,
    paint_masks,
)

#: The six classes, in label order: the source task's four shapes, then two new ones.
TARGET_SHAPES = SHAPES + EXTRA_SHAPES
MIN_IMAGE_SIZE = 16


def load_shape_dataset(
    image_size: int = 64,
    seed: int = 0,
    train_per_class: int = 48,
    val_per_class: int = 40,
    classes: Sequence[str] = TARGET_SHAPES,
) -> TargetDataset:
    """Draws the shape task's training and validation images for one seed.

    Args:
        image_size: Side of the square images, at least 16.
        seed: Seed of both random streams; another seed is another split.
        train_per_class: Training images per class, at least 1.
        val_per_class: Validation images per class, at least 1.
        classes: Shape names, each from ``SHAPES`` or ``EXTRA_SHAPES`` of
            `freezelab.sources.source_task`, at least two, no repeats.

    Returns:
        A `freezelab.sources.data.TargetDataset` (no boxes; its provenance
        says which classes the teacher's source task shows).

    Raises:
        ValueError: For an ``image_size`` below 16, non-positive counts, or
            ``classes`` that are unknown, repeated or fewer than two.
    """
    image_size = check_int(image_size, "image_size", minimum=MIN_IMAGE_SIZE)
    train_per_class = check_int(train_per_class, "train_per_class", minimum=1)
    val_per_class = check_int(val_per_class, "val_per_class", minimum=1)
    classes = check_shape_names(classes)
    x_train, y_train, _ = draw_shape_images(
        classes, train_per_class, image_size, np.random.default_rng([seed, 0])
    )
    x_val, y_val, _ = draw_shape_images(
        classes, val_per_class, image_size, np.random.default_rng([seed, 1])
    )
    provenance = {
        name: "procedural; in the teacher's source task"
        if name in SHAPES
        else "procedural; new to the teacher"
        for name in classes
    }
    return TargetDataset(x_train, y_train, x_val, y_val, classes, provenance=provenance)


def draw_shape_images(
    classes: Sequence[str], per_class: int, image_size: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Draws ``per_class`` images of each shape, shuffled.

    Args:
        classes: Shape names (checked by `load_shape_dataset`).
        per_class: Images per class.
        image_size: Side of the square images.
        rng: Random generator.

    Returns:
        ``(images, labels, masks)``: float32 RGB in 0..255, int64 labels into
        ``classes``, and bool masks of where each image's shape is.
    """
    labels = np.arange(per_class * len(classes)) % len(classes)
    rng.shuffle(labels)
    images = dead_leaves(len(labels), image_size, rng)
    masks = centred_shape_masks(np.asarray(classes)[labels], image_size, rng)
    images = add_noise_and_scale(paint_masks(images, masks, rng), rng)
    return images.astype(np.float32), labels.astype(np.int64), masks
