"""A small pretrained network with BatchNormalization, for the BatchNorm lesson.

VGG16 has no BatchNormalization layers, so the lesson on them needs another
model. This one is small: four blocks of ``Conv2D`` (no bias) →
``BatchNormalization`` → ``ReLU``, with 2×2 max pooling between blocks,
named ``block1_conv``, ``block1_bn``, ``block1_relu``, ``block1_pool`` …
``block4_relu``, so freezelab's block names and selectors apply. It is
pretrained by ``tools/train_bn_teacher.py`` on the same procedural source
task as the teacher (`freezelab.sources.source_task`), with the same head
(global average pooling and a 20-way softmax, `source_classifier`), and its
weights ship in ``data/bn_teacher.weights.h5``.

Inputs use VGG16's caffe preprocessing, like the teacher, so
`freezelab.finetune.strategies.preprocess_images` prepares them.
"""

from __future__ import annotations

from pathlib import Path

import keras
from keras import layers

from freezelab._validation import check_int, is_int
from freezelab.core.models import describe_weights, set_weights_source, validate_input_size
from freezelab.sources.source_task import (
    HELD_OUT_SEED as SOURCE_HELD_OUT_SEED,
)
from freezelab.sources.source_task import SourceTaskData, make_source_images
from freezelab.sources.teacher import source_classifier

BN_TEACHER_WIDTHS = (16, 32, 64, 128)
BN_TEACHER_WEIGHTS_FILE = "bn_teacher.weights.h5"
BN_TEACHER_SOURCE = (
    "freezelab's offline BN teacher, pretrained by tools/train_bn_teacher.py on its 20-class "
    "source task (not ImageNet), shipped in data/bn_teacher.weights.h5"
)


def bn_teacher_weights_path() -> Path:
    """Where the shipped BN teacher weights live (``data/bn_teacher.weights.h5``)."""
    return Path(__file__).resolve().parents[2] / "data" / BN_TEACHER_WEIGHTS_FILE


def build_bn_teacher(
    input_size: int = 32,
    widths: tuple[int, ...] = BN_TEACHER_WIDTHS,
    name: str = "bn_teacher",
) -> keras.Model:
    """Builds the BN teacher's conv base, untrained.

    Args:
        input_size: Side of the square RGB input, at least 32.
        widths: Filters of the convolution in each block (one block per entry).

    Returns:
        A conv base whose blocks are ``blockN_conv`` → ``blockN_bn`` →
        ``blockN_relu`` (→ ``blockN_pool`` except after the last block).

    Raises:
        ValueError: For an input size below 32 or ``widths`` that are not a
            non-empty tuple of positive ints.
    """
    size = validate_input_size(input_size)
    if (
        not isinstance(widths, tuple | list)
        or not widths
        or not all(is_int(w) and w > 0 for w in widths)
    ):
        raise ValueError(
            f"widths needs one positive int per block, e.g. (16, 32, 64, 128). Received: widths={widths!r}"
        )
    inputs = keras.Input(shape=(size, size, 3), name="input_layer")
    x = inputs
    for block, filters in enumerate(widths, start=1):
        # No bias: the BatchNormalization right after has its own offset (beta).
        x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"block{block}_conv")(x)
        x = layers.BatchNormalization(name=f"block{block}_bn")(x)
        x = layers.ReLU(name=f"block{block}_relu")(x)
        if block < len(widths):
            x = layers.MaxPooling2D(2, strides=2, name=f"block{block}_pool")(x)
    return keras.Model(inputs, x, name=name)


def load_bn_teacher(
    input_size: int = 32,
    with_source_head: bool = False,
    verbose: bool = True,
) -> keras.Model:
    """Loads the pretrained BN teacher from ``data/bn_teacher.weights.h5``.

    Args:
        input_size: Side of the square RGB input, at least 32; it was
            trained at 32 (the weights are convolutions, so any size loads).
        with_source_head: Return the source-task classifier (base plus its
            20-class head) instead of the bare conv base.
        verbose: Print which weights the model holds.

    Returns:
        A new model with the pretrained weights, BN moving statistics
        included; `freezelab.weights_source` gives `BN_TEACHER_SOURCE`.

    Raises:
        ValueError: For an input size below 32.
        FileNotFoundError: If the weights file is missing (run
            ``tools/train_bn_teacher.py`` to make it).
    """
    path = bn_teacher_weights_path()
    if not path.exists():
        raise FileNotFoundError(
            f"The BN teacher weights are missing: expected {path}. "
            "Recreate them with `python tools/train_bn_teacher.py`."
        )
    base = build_bn_teacher(input_size)
    classifier = source_classifier(base)
    classifier.load_weights(path)
    model = base
    if with_source_head:
        model = keras.Model(classifier.input, classifier.output, name="bn_teacher_classifier")
    set_weights_source(model, BN_TEACHER_SOURCE)
    if verbose:
        print(describe_weights(model))
    return model


def bn_source_images(
    num_images: int = 2000, image_size: int = 32, seed: int = SOURCE_HELD_OUT_SEED
) -> SourceTaskData:
    """Draws source-task images the BN teacher never trained on.

    Args:
        num_images: How many images (balanced over the 20 classes).
        image_size: Side of the square images, at least 8.
        seed: Seed of the draw; the default is the held-out seed no training
            epoch used.

    Returns:
        A `freezelab.sources.source_task.SourceTaskData`: RGB images in
        0..255 (preprocess them with `preprocess_images`) and labels.

    Raises:
        ValueError: For a non-positive ``num_images``, an ``image_size``
            below 8 or a negative seed.
    """
    seed = check_int(seed, "seed", minimum=0)
    return make_source_images(
        check_int(num_images, "num_images", minimum=1),
        check_int(image_size, "image_size", minimum=8),
        seed=seed,
    )
