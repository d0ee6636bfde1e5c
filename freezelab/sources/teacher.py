"""freezelab's own pretrained teacher: a narrow VGG16 trained offline.

Without ImageNet weights, lessons on what layers learn and on fine-tuning
would show untrained filters. The teacher fills that gap: VGG16's exact
block structure and layer names (``block1_conv1`` … ``block5_pool``) with
narrower convolutions (16, 32, 64, 128, 128 filters instead of 64 … 512),
pretrained by ``tools/train_teacher.py`` on the procedural source task of
`freezelab.sources.source_task`. Its weights ship in ``data/teacher.weights.h5``.

Like Keras's VGG16, the teacher expects inputs preprocessed with
``keras.applications.vgg16.preprocess_input`` (RGB→BGR, ImageNet channel
means subtracted, no scaling), so code written for one works for the other.

`pretrained_base` is what lessons call: ImageNet VGG16 when its weights can
be had in bounded time, the teacher otherwise, and it prints which.
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
from keras import layers

from freezelab._quiet import expected_retracing
from freezelab._validation import (
    check_bool,
    check_choice,
    check_int,
    check_model,
    check_str,
    check_timeout,
    is_int,
)
from freezelab.core.models import (
    describe_weights,
    imagenet_available,
    load_vgg16,
    load_weights_file,
    set_weights_source,
    validate_input_size,
)
from freezelab.sources.source_task import HELD_OUT_SEED, NUM_CLASSES, make_source_images
from freezelab.vis.images import to_caffe

TEACHER_WIDTHS = (16, 32, 64, 128, 128)
VGG16_CONVS_PER_BLOCK = (2, 2, 3, 3, 3)
TEACHER_WEIGHTS_FILE = "teacher.weights.h5"
SOURCE_HEAD_NAME = "source_predictions"
CAFFE_PIXEL_SCALE = 64.0
_PREFER_CHOICES = ("auto", "imagenet", "teacher")


def teacher_weights_path() -> Path:
    """Where the shipped teacher weights live (``data/teacher.weights.h5``)."""
    return Path(__file__).resolve().parents[2] / "data" / TEACHER_WEIGHTS_FILE


def build_teacher(
    input_size: int = 64,
    widths: tuple[int, ...] = TEACHER_WIDTHS,
    name: str = "teacher_vgg16",
) -> keras.Model:
    """Builds the teacher's architecture, untrained: VGG16's layout at reduced width.

    Args:
        input_size: Side of the square RGB input, at least 32.
        widths: Filters of the convolutions in each of the five blocks.
        name: Name of the model.

    Returns:
        An include_top=False-style conv base with layers ``block1_conv1`` …
        ``block5_pool``, exactly as named in Keras's VGG16.

    Raises:
        ValueError: For an input size below 32 or ``widths`` that are not
            five positive ints.
    """
    size = validate_input_size(input_size)
    if (
        not isinstance(widths, (tuple, list))
        or len(widths) != len(VGG16_CONVS_PER_BLOCK)
        or not all(is_int(w) and w > 0 for w in widths)
    ):
        raise ValueError(
            f"widths needs five positive ints, one per VGG16 block. Received: widths={widths!r}"
        )
    widths = tuple(int(w) for w in widths)
    check_str(name, "name")
    inputs = keras.Input(shape=(size, size, 3), name="input_layer")
    x = inputs
    for block, (convs, filters) in enumerate(zip(VGG16_CONVS_PER_BLOCK, widths), start=1):
        for conv in range(1, convs + 1):
            x = layers.Conv2D(
                filters,
                3,
                padding="same",
                activation="relu",
                kernel_initializer=_initializer(first=block == 1 and conv == 1),
                name=f"block{block}_conv{conv}",
            )(x)
        x = layers.MaxPooling2D(2, strides=2, name=f"block{block}_pool")(x)
    return keras.Model(inputs, x, name=name)


def _initializer(first: bool) -> keras.initializers.Initializer:
    # He initialisation assumes unit-scale inputs; caffe-preprocessed pixels
    # spread about 64 times wider, so the first convolution starts 64 times smaller.
    scale = 2.0 / CAFFE_PIXEL_SCALE**2 if first else 2.0
    return keras.initializers.VarianceScaling(scale=scale, mode="fan_in")


def source_classifier(base: keras.Model) -> keras.Model:
    """Puts the source-task head on a teacher base (used to pretrain and to test it).

    The head is global average pooling and one softmax layer over the 20
    source classes, so the same weights fit any input size.

    Args:
        base: A model from `build_teacher`.

    Returns:
        A model from images to source-class probabilities sharing ``base``'s layers.
    """
    x = layers.GlobalAveragePooling2D(name="source_pool")(base.output)
    outputs = layers.Dense(NUM_CLASSES, activation="softmax", name=SOURCE_HEAD_NAME)(x)
    return keras.Model(base.input, outputs, name="teacher_source_classifier")


def load_teacher(
    input_size: int = 64,
    verbose: bool = True,
    with_source_head: bool = False,
) -> keras.Model:
    """Loads freezelab's pretrained teacher from ``data/teacher.weights.h5``.

    Args:
        input_size: Side of the square RGB input, at least 32. The weights
            are convolutions, so any size works; the teacher was trained at 32.
        verbose: Print which weights the model holds.
        with_source_head: Return the source-task classifier (base plus its
            20-class head) instead of the bare conv base.

    Returns:
        The conv base (``block1_conv1`` … ``block5_pool``), or the source
        classifier; `freezelab.weights_source` gives ``"teacher"``.

    Raises:
        ValueError: For an input size below 32, or a weights file that is
            damaged or does not fit (the message names the file).
        FileNotFoundError: If the weights file is missing (run
            ``tools/train_teacher.py`` to make it).
    """
    verbose = check_bool(verbose, "verbose")
    with_source_head = check_bool(with_source_head, "with_source_head")
    path = teacher_weights_path()
    if not path.exists():
        raise FileNotFoundError(
            f"The teacher weights are missing: expected {path}. "
            "Recreate them with `python tools/train_teacher.py`."
        )
    base = build_teacher(input_size)
    classifier = source_classifier(base)
    load_weights_file(classifier, path, "teacher weights")
    model = classifier if with_source_head else base
    set_weights_source(model, "teacher")
    if verbose:
        print(describe_weights(model))
    return model


def source_accuracy(
    classifier: keras.Model,
    num_images: int = 2000,
    seed: int = HELD_OUT_SEED,
    batch_size: int = 256,
) -> float:
    """Accuracy of a source-task classifier on source images it never trained on.

    Args:
        classifier: A model from images (caffe-preprocessed) to the 20
            source-class probabilities, e.g. ``load_teacher(with_source_head=True)`` or
            ``load_bn_teacher(with_source_head=True)``.
        num_images: How many images to draw (balanced over the 20 classes).
        seed: Seed of the draw; the default is the held-out seed no training
            epoch used.
        batch_size: Images per inference batch.

    Returns:
        The share of images classified correctly, in inference mode.

    Raises:
        ValueError: If ``num_images`` or ``batch_size`` is not a positive
            int, or the model does not output 20 classes.
    """
    check_model(classifier, "source_accuracy")
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    outputs = classifier.output.shape[-1]
    if outputs != NUM_CLASSES:
        raise ValueError(
            f"classifier must output the {NUM_CLASSES} source classes. "
            f"Received: a model with {outputs} outputs"
        )
    size = int(classifier.input.shape[1])
    data = make_source_images(
        check_int(num_images, "num_images", minimum=1),
        size,
        seed=check_int(seed, "seed", minimum=0),
    )
    # A lesson measures many freshly trained copies, each traced once: not a mistake.
    with expected_retracing():
        probabilities = classifier.predict(to_caffe(data.images), batch_size=batch_size, verbose=0)
    return float(np.mean(np.argmax(probabilities, axis=-1) == data.labels))


def pretrained_base(
    input_size: int = 64,
    prefer: str = "auto",
    verbose: bool = True,
    timeout: float = 10.0,
) -> keras.Model:
    """Returns trained conv features: ImageNet VGG16 if available, else the teacher.

    Args:
        input_size: Side of the square RGB input, at least 32.
        prefer: ``"auto"`` (ImageNet when cached or downloadable within
            ``timeout``, else the teacher), ``"imagenet"`` (ImageNet or an
            error) or ``"teacher"`` (always the teacher, no network).
        verbose: Print which weights the model holds.
        timeout: Seconds ``"auto"`` may spend getting ImageNet weights in all;
            with ``"imagenet"``, the most any single wait on the server may take.

    Returns:
        A conv base with VGG16's layer names; `freezelab.weights_source`
        gives ``"imagenet"`` or ``"teacher"``. Both expect
        ``keras.applications.vgg16.preprocess_input``-style inputs.

    Raises:
        ValueError: For an unknown ``prefer``, an input size below 32, or a
            timeout that is not a positive finite number.
        ConnectionError: For ``prefer="imagenet"`` when the weights cannot be
            had in time (see `freezelab.load_vgg16`).
    """
    check_choice(prefer, "prefer", _PREFER_CHOICES)
    validate_input_size(input_size)
    verbose = check_bool(verbose, "verbose")
    timeout = check_timeout(timeout)
    if prefer == "teacher":
        return load_teacher(input_size, verbose=verbose)
    if prefer == "imagenet":
        return load_vgg16("imagenet", input_size=input_size, verbose=verbose, timeout=timeout)
    if imagenet_available(timeout=timeout):
        # The complete file is cached now: loading it needs no network.
        return load_vgg16("imagenet", input_size=input_size, verbose=verbose)
    if verbose:
        print("ImageNet weights are not available here: using freezelab's offline teacher.")
    return load_teacher(input_size, verbose=verbose)
