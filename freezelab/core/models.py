"""VGG16 and the small demo models of the lessons, and where weights come from.

``load_vgg16(weights=...)`` accepts:

* ``"imagenet"``: Keras's own loader. Online it downloads once into the Keras
  cache (``~/.keras/models``); offline it fails with Keras's error.
* a path to a weights file (``.weights.h5`` saved by Keras 3, or the legacy
  ``.h5`` files Keras publishes);
* ``None``: untrained (random) weights;
* ``"auto"`` (the default): ImageNet from the cache if it is there, else a
  download attempt bounded in time, else untrained weights with a visible
  notice. It never hangs offline.

Every model it returns records which weights it holds; `weights_source`
reads it, and lessons print it.
"""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path

import keras
from keras import layers

VGG16_NOTOP_FILE = "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"
VGG16_TOP_FILE = "vgg16_weights_tf_dim_ordering_tf_kernels.h5"
_WEIGHTS_HOST = ("storage.googleapis.com", 443)
MIN_INPUT_SIZE = 32
_SOURCES: dict[int, str] = {}


def weights_source(model: keras.Model) -> str:
    """Says which weights a model built by freezelab holds.

    Args:
        model: A model returned by `load_vgg16` or another freezelab builder.

    Returns:
        ``"imagenet"``, ``"untrained"``, ``"file:<path>"`` or ``"teacher"``;
        ``"unknown"`` for a model freezelab did not build.
    """
    return _SOURCES.get(id(model), "unknown")


def set_weights_source(model: keras.Model, source: str) -> None:
    """Records which weights ``model`` holds (see `weights_source`)."""
    _SOURCES[id(model)] = source


def imagenet_cache_path(include_top: bool = False) -> Path:
    """Where Keras keeps the downloaded VGG16 ImageNet weights."""
    keras_home = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras"))
    return keras_home / "models" / (VGG16_TOP_FILE if include_top else VGG16_NOTOP_FILE)


def validate_input_size(input_size: int | tuple[int, ...] | list[int]) -> int:
    """Checks an image side length that VGG16 can take.

    Args:
        input_size: Height and width in pixels (an int, or an ``(h, w)`` or
            ``(h, w, 3)`` tuple with equal sides).

    Returns:
        The side length as an int.

    Raises:
        ValueError: If the size is below 32, not an int, or has a channel
            count other than 3.
    """
    size = input_size
    if isinstance(input_size, (tuple, list)):
        if len(input_size) == 3 and input_size[2] != 3:
            raise ValueError(
                f"VGG16 takes RGB images with 3 channels. Received: input_shape={tuple(input_size)}"
            )
        if len(input_size) not in (2, 3) or input_size[0] != input_size[1]:
            raise ValueError(
                "input_size takes one side length, (size, size) or (size, size, 3). "
                f"Received: input_size={tuple(input_size)}"
            )
        size = input_size[0]
    if isinstance(size, bool) or not isinstance(size, int):
        raise ValueError(
            f"input_size must be an int number of pixels. Received: input_size={input_size!r}"
        )
    if size < MIN_INPUT_SIZE:
        raise ValueError(
            f"VGG16 needs inputs of at least {MIN_INPUT_SIZE}x{MIN_INPUT_SIZE}: its five "
            f"poolings halve the size five times. Received: input_size={size}"
        )
    return size


def load_vgg16(
    weights: str | os.PathLike | None = "auto",
    include_top: bool = False,
    input_size: int = 224,
    classes: int = 1000,
    timeout: float = 10.0,
    verbose: bool = True,
) -> keras.Model:
    """Builds Keras's VGG16 with weights from ImageNet, a file, or none.

    Args:
        weights: ``"auto"``, ``"imagenet"``, a path to a weights file, or None
            for untrained weights.
        include_top: Keep the three dense layers of the ImageNet classifier.
        input_size: Side of the square RGB input, at least 32 (224 for the
            ImageNet classifier with ``include_top=True``).
        classes: Outputs of the top when ``include_top`` and not ImageNet.
        timeout: Seconds ``"auto"`` may spend reaching the weights server.
        verbose: Print which weights the model holds (and the notice when
            ``"auto"`` falls back to untrained weights).

    Returns:
        The model; `weights_source` tells which weights it holds.

    Raises:
        ValueError: For an input size VGG16 cannot take, an unknown
            ``weights`` value, or a weights file that does not exist.
    """
    size = validate_input_size(input_size)
    source, keras_weights = _resolve_weights(weights, include_top, timeout, verbose)
    if include_top and source == "imagenet" and size != 224:
        raise ValueError(
            "The ImageNet classifier top needs 224x224 inputs; use include_top=False "
            f"for other sizes. Received: input_size={size}"
        )
    model = keras.applications.VGG16(
        include_top=include_top,
        weights=keras_weights if not str(source).startswith("file:") else None,
        input_shape=(size, size, 3),
        classes=1000 if source == "imagenet" else classes,
    )
    if source.startswith("file:"):
        model.load_weights(source.removeprefix("file:"))
    set_weights_source(model, source)
    if verbose:
        print(describe_weights(model))
    return model


def describe_weights(model: keras.Model) -> str:
    """One line saying which weights ``model`` holds, for lessons to print."""
    source = weights_source(model)
    if source == "imagenet":
        return f"Weights in use for {model.name!r}: ImageNet (pretrained)."
    if source == "untrained":
        return (
            f"Weights in use for {model.name!r}: UNTRAINED (random). Parameter counts "
            "and timings are exact; pictures of what layers learned are not meaningful."
        )
    if source == "teacher":
        return f"Weights in use for {model.name!r}: freezelab's offline teacher (pretrained here)."
    return f"Weights in use for {model.name!r}: {source}."


def imagenet_available(timeout: float = 10.0, include_top: bool = False) -> bool:
    """Makes sure the ImageNet weights are in the Keras cache, within ``timeout``.

    Returns True at once when the file is cached. Otherwise it first checks,
    in a background thread, that the weights server answers, then downloads
    with Keras's own ``get_file``; it gives up when ``timeout`` runs out.

    Args:
        timeout: Seconds to wait in all.
        include_top: Whether the weights with the classifier top are wanted.

    Returns:
        Whether the weights file is now in the cache.
    """
    if imagenet_cache_path(include_top).exists():
        return True
    result: dict[str, bool] = {}

    def attempt():
        try:
            with socket.create_connection(_WEIGHTS_HOST, timeout=timeout):
                pass
            from keras.src.applications import vgg16

            origin = vgg16.WEIGHTS_PATH if include_top else vgg16.WEIGHTS_PATH_NO_TOP
            keras.utils.get_file(
                VGG16_TOP_FILE if include_top else VGG16_NOTOP_FILE,
                origin,
                cache_subdir="models",
            )
            result["ok"] = True
        except Exception:
            result["ok"] = False

    worker = threading.Thread(target=attempt, daemon=True)
    worker.start()
    worker.join(timeout)
    return bool(result.get("ok")) and imagenet_cache_path(include_top).exists()


def _resolve_weights(weights, include_top, timeout, verbose):
    if weights is None:
        return "untrained", None
    if isinstance(weights, os.PathLike) or (
        isinstance(weights, str) and weights not in ("auto", "imagenet")
    ):
        path = Path(weights)
        if not path.exists():
            raise ValueError(
                "weights must be 'auto', 'imagenet', None, or the path of an existing "
                f"weights file. Received: weights={str(weights)!r} (no such file)"
            )
        return f"file:{path}", None
    if weights == "imagenet":
        return "imagenet", "imagenet"
    if weights == "auto":
        if imagenet_available(timeout=timeout, include_top=include_top):
            return "imagenet", "imagenet"
        if verbose:
            print(
                f"freezelab notice: ImageNet weights could not be reached within {timeout:g} s "
                "(offline?). Falling back to UNTRAINED weights."
            )
        return "untrained", None
    raise ValueError(
        "weights must be 'auto', 'imagenet', None, or a path to a weights file. "
        f"Received: weights={weights!r}"
    )


def demo_sequential(input_dim: int = 100) -> keras.Sequential:
    """The classic Sequential example: Dense(64) → Dense(32) → Dense(10).

    Args:
        input_dim: Number of input features.

    Returns:
        A built Sequential model with layers ``dense_64``, ``dense_32``,
        ``dense_10``.
    """
    return keras.Sequential(
        [
            keras.Input(shape=(input_dim,)),
            layers.Dense(64, activation="relu", name="dense_64"),
            layers.Dense(32, activation="relu", name="dense_32"),
            layers.Dense(10, activation="softmax", name="dense_10"),
        ],
        name="sequential_demo",
    )


def demo_functional(input_dim: int = 100) -> keras.Model:
    """The same Dense(64) → Dense(32) → Dense(10) network in the functional API."""
    inputs = keras.Input(shape=(input_dim,), name="features")
    x = layers.Dense(64, activation="relu", name="dense_64")(inputs)
    x = layers.Dense(32, activation="relu", name="dense_32")(x)
    outputs = layers.Dense(10, activation="softmax", name="dense_10")(x)
    return keras.Model(inputs, outputs, name="functional_demo")


def with_head(
    base: keras.Model,
    head_units: tuple[int, ...] = (128, 10),
    nested: bool = False,
    pooling: str = "flatten",
    name: str | None = None,
) -> keras.Model:
    """Puts a new classifier head on a convolutional base.

    Args:
        base: A convolutional model such as VGG16 without its top.
        head_units: Units of the dense layers; the last one gets softmax.
        nested: If True, call the base as one layer (``base(inputs)``); if
            False, continue from ``base.output`` so its layers are flattened
            into the new model.
        pooling: ``"flatten"``, ``"avg"`` (global average pooling) or
            ``"none"`` (no reduction: the head then keeps spatial axes, the
            pitfall lesson 01 shows).
        name: Name of the new model.

    Returns:
        The new model.

    Raises:
        ValueError: For an unknown ``pooling`` or empty ``head_units``.
    """
    if not head_units:
        raise ValueError(f"head_units needs at least one layer. Received: {head_units!r}")
    reducers = {
        "flatten": lambda: layers.Flatten(name="flatten"),
        "avg": lambda: layers.GlobalAveragePooling2D(name="avg_pool"),
        "none": None,
    }
    if pooling not in reducers:
        raise ValueError(
            f"pooling must be one of {sorted(reducers)}. Received: pooling={pooling!r}"
        )
    if nested:
        inputs = keras.Input(shape=base.input.shape[1:], name="image")
        x = base(inputs)
    else:
        inputs = base.input
        x = base.output
    if reducers[pooling] is not None:
        x = reducers[pooling]()(x)
    for i, units in enumerate(head_units):
        last = i == len(head_units) - 1
        x = layers.Dense(
            units,
            activation="softmax" if last else "relu",
            name="predictions" if last else f"head_dense_{i + 1}",
        )(x)
    model = keras.Model(inputs, x, name=name or f"{base.name}_with_head")
    source = weights_source(base)
    if source != "unknown":
        set_weights_source(model, source)
    return model
