"""VGG16 and the small demo models of the lessons, and where weights come from.

``load_vgg16(weights=...)`` accepts:

* ``"imagenet"``: the ImageNet weights Keras publishes. A complete copy in
  the Keras cache (``~/.keras/models``, checked against the MD5 Keras
  publishes for it) is used at once; otherwise it is downloaded once, every
  wait on the server bounded by ``timeout`` seconds and the whole download by
  `DOWNLOAD_LIMIT_S`. If that fails, a ``ConnectionError`` says why (and
  names a damaged cached file).
* a path to a weights file (``.weights.h5`` saved by Keras 3, the legacy
  ``.h5`` files Keras publishes, or a ``.keras`` file). A file Keras cannot
  read (text, truncated, another model's weights) raises ``ValueError``
  naming the file;
* ``None``: untrained (random) weights;
* ``"auto"`` (the default): ImageNet from the cache if the cached file is
  complete, else a download attempt of at most ``timeout`` seconds in all,
  else untrained weights with a visible notice that says why and after how
  long. It never hangs offline; a truncated cached file (an interrupted
  download) is reported and replaced, or falls back.

Every model it returns records which weights it holds; `weights_source`
reads it, and lessons print it.
"""

from __future__ import annotations

import os
import warnings
import weakref
from pathlib import Path

import keras
from keras import layers

from freezelab._validation import (
    ArgumentTypeError,
    check_bool,
    check_choice,
    check_int,
    check_model,
    check_str,
    check_timeout,
    describe,
    is_int,
    suggestion,
)
from freezelab.core.downloads import FetchResult, cached_file_problem, fetch
from freezelab.core.shapes import model_input_shape

VGG16_NOTOP_FILE = "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"
VGG16_TOP_FILE = "vgg16_weights_tf_dim_ordering_tf_kernels.h5"
#: Where Keras publishes VGG16's ImageNet weights and the MD5 of each file, as
#: in ``keras/src/applications/vgg16.py`` (checked on Keras 3.15.1).
VGG16_WEIGHTS_URL = "https://storage.googleapis.com/tensorflow/keras-applications/vgg16/"
VGG16_MD5 = {
    VGG16_NOTOP_FILE: "6d6bbae143d832006294945121d1f1fc",
    VGG16_TOP_FILE: "64373286793e3c8b2b4e3219cbf3544b",
}
#: Seconds an explicit ``weights="imagenet"`` download may take in all (each
#: wait on the server is bounded by ``timeout`` as well).
DOWNLOAD_LIMIT_S = 1800.0
MIN_INPUT_SIZE = 32
WEIGHTS_SUFFIXES = (".weights.h5", ".h5", ".hdf5", ".keras")
# Keras 3.15 warns (and goes on) when it loads only part of a file: that is an error here.
_PARTIAL_LOAD_MARKS = ("could not be loaded", "retain their freshly-initialized", "Skipping")
_SOURCES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_LAYER_SOURCES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
# layer -> name of the freezelab model it was first recorded in (its base, for a reused layer)
_LAYER_MODELS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def weights_source(model: keras.Model) -> str:
    """Says which weights a model built by freezelab holds.

    Args:
        model: A model returned by `load_vgg16` or another freezelab builder.

    Returns:
        ``"imagenet"``, ``"untrained"``, ``"file:<path>"`` or ``"teacher"``;
        ``"unknown"`` for a model freezelab did not build.

    Raises:
        ValueError: If ``model`` is not a Keras model.
    """
    check_model(model, "weights_source", built=False)
    return _SOURCES.get(model, "unknown")


def layer_weights_source(layer: keras.layers.Layer) -> str:
    """Which weights a layer of a freezelab-built model came with.

    Layers keep the record when they are reused in another model, e.g.
    ``keras.Model(base.input, head(base.output))``, whose own source is unknown.

    Args:
        layer: A Keras layer.

    Returns:
        As `weights_source`; ``"unknown"`` for a layer freezelab did not build.
    """
    return _LAYER_SOURCES.get(layer, "unknown")


def set_weights_source(model: keras.Model, source: str) -> None:
    """Records which weights ``model`` (and each of its layers) holds; see `weights_source`."""
    _SOURCES[model] = source
    for layer in [model, *_all_layers(model)]:
        _LAYER_SOURCES[layer] = source
        _LAYER_MODELS.setdefault(layer, model.name)


def _all_layers(model) -> list:
    found = []
    for layer in getattr(model, "layers", []):
        found.append(layer)
        if isinstance(layer, keras.Model):
            found.extend(_all_layers(layer))
    return found


def imagenet_cache_path(include_top: bool = False) -> Path:
    """Where Keras keeps the downloaded VGG16 ImageNet weights."""
    keras_home = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras"))
    return keras_home / "models" / (VGG16_TOP_FILE if include_top else VGG16_NOTOP_FILE)


def validate_input_size(input_size: int | tuple[int, ...] | list[int]) -> int:
    """Checks an image side length that VGG16 can take.

    Args:
        input_size: Height and width in pixels (an int, numpy integers
            accepted, or an ``(h, w)`` or ``(h, w, 3)`` tuple with equal sides).

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
    if not is_int(size):
        raise ArgumentTypeError(
            "input_size must be an int number of pixels. "
            f"Received: input_size={describe(input_size)} of type {type(input_size).__name__}"
        )
    size = int(size)
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
        timeout: Seconds. With ``"auto"``: the most the whole attempt to get
            ImageNet weights may take. With ``"imagenet"``: the most any single
            wait on the server may take (the download as a whole is bounded by
            `DOWNLOAD_LIMIT_S`). A finite number above 0.
        verbose: Print which weights the model holds (and the notice when
            ``"auto"`` falls back to untrained weights).

    Returns:
        The model; `weights_source` tells which weights it holds.

    Raises:
        ValueError: For an input size VGG16 cannot take, an unknown
            ``weights`` value, a weights file that does not exist or that
            Keras cannot read (the message names the file), or an argument of
            the wrong type.
        ConnectionError: For ``weights="imagenet"`` when the weights are not
            cached completely and cannot be downloaded in time; the message
            gives the reason and the elapsed time.
    """
    size = validate_input_size(input_size)
    include_top = check_bool(include_top, "include_top")
    classes = check_int(classes, "classes", minimum=1)
    timeout = check_timeout(timeout)
    verbose = check_bool(verbose, "verbose")
    source, path = _resolve_weights(weights, include_top, timeout, verbose)
    if include_top and source == "imagenet" and size != 224:
        raise ValueError(
            "The ImageNet classifier top needs 224x224 inputs; use include_top=False "
            f"for other sizes. Received: input_size={size}"
        )
    model = keras.applications.VGG16(
        include_top=include_top,
        weights=None,
        input_shape=(size, size, 3),
        classes=1000 if source == "imagenet" else classes,
    )
    if path is not None:
        load_weights_file(model, path, "weights")
    set_weights_source(model, source)
    if verbose:
        print(describe_weights(model))
    return model


def load_weights_file(model: keras.Model, path: str | os.PathLike, name: str = "weights") -> None:
    """Loads a weights file into ``model``, naming the file in any error.

    Args:
        model: The model to fill.
        path: A ``.weights.h5``, legacy ``.h5`` / ``.hdf5`` or ``.keras`` file.
        name: The argument the path came from, for the message.

    Raises:
        ValueError: If the file has another extension, is not an HDF5 (or
            ``.keras``) file at all (text, an HTML error page, truncated), or
            does not fit the model (another model's weights).
    """
    path = check_weights_file(path, name)
    shown = f"Received: {name}={str(path)!r}"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            model.load_weights(path)
            error = None
        except Exception as raised:
            error = raised
    partial = [w for w in caught if any(m in str(w.message) for m in _PARTIAL_LOAD_MARKS)]
    for warning in caught:
        if warning not in partial:
            warnings.warn_explicit(
                warning.message, warning.category, warning.filename, warning.lineno
            )
    if error is not None or partial:
        reason = error if error is not None else partial[0].message
        detail = " ".join(str(reason).split())
        detail = detail if len(detail) <= 300 else detail[:297] + "..."
        raise ValueError(
            f"The weights file {path} does not fit model {model.name!r} "
            f"({type(reason).__name__}: {detail}). It may hold another model's weights "
            f"(other layers or shapes) or be damaged. {shown}"
        ) from None


def check_weights_file(path: str | os.PathLike, name: str = "weights") -> Path:
    """Checks, before any model is built, that a file can hold Keras weights.

    Args:
        path: The file.
        name: The argument the path came from, for the message.

    Returns:
        The path.

    Raises:
        ValueError: If the file has an extension Keras does not read, or is
            not an HDF5 (or ``.keras``) file at all; the message names it.
    """
    path = Path(path)
    shown = f"Received: {name}={str(path)!r}"
    if not path.name.endswith(WEIGHTS_SUFFIXES):
        raise ValueError(
            f"Keras reads weights from {', '.join(WEIGHTS_SUFFIXES)} files; {path} is none of "
            f"these. {shown}"
        )
    problem = _not_a_weights_file(path)
    if problem:
        raise ValueError(
            f"The weights file {path} cannot be read: {problem}. It may be a text file, an "
            f"error page saved by a failed download, or a truncated copy. {shown}"
        )
    return path


def _not_a_weights_file(path: Path) -> str:
    with path.open("rb") as handle:
        start = handle.read(8)
    if path.name.endswith(".keras"):
        return "" if start.startswith(b"PK") else f"it is not a .keras zip file (starts {start!r})"
    if start != b"\x89HDF\r\n\x1a\n":
        size = path.stat().st_size
        return f"it is not an HDF5 file ({size:,} bytes, starting {start!r})"
    return ""


def describe_weights(model: keras.Model) -> str:
    """One line saying which weights ``model`` holds, for lessons to print.

    A model freezelab did not build itself, e.g. ``keras.Model(base.input,
    head(base.output))`` on a freezelab base, is described by its layers:
    the freezelab model they came from (the base) and its weights, and how
    many were added outside freezelab's builders (initialised by Keras).

    Args:
        model: A Keras model.

    Returns:
        The line, e.g. ``"Weights in use for 'vgg16': ImageNet (pretrained)."``.

    Raises:
        ValueError: If ``model`` is not a Keras model.
    """
    source = weights_source(model)
    if source == "unknown":
        return _describe_by_layers(model)
    name, note = _SOURCE_WORDS.get(source, (source, ""))
    return f"Weights in use for {model.name!r}: {name}{note}."


#: source -> (what the weights are, a note for the whole model's line)
_SOURCE_WORDS = {
    "imagenet": ("ImageNet (pretrained)", ""),
    "untrained": (
        "UNTRAINED (random)",
        ". Parameter and FLOP counts do not depend on the weights' values; "
        "pictures of what layers learned are not meaningful",
    ),
    "teacher": (
        "freezelab's offline teacher, pretrained by tools/train_teacher.py on its 20-class "
        "source task (not ImageNet)",
        "",
    ),
}


def _describe_by_layers(model: keras.Model) -> str:
    """`describe_weights` for a model freezelab did not build: described by its layers.

    Layers from a freezelab model are named by that model (the base) and its
    weights; layers added outside freezelab are counted, and called the head
    when they all come after the base's layers.
    """
    with_weights = [
        layer
        for layer in _all_layers(model)
        if layer.weights and not isinstance(layer, keras.Model)
    ]
    bases: dict[tuple[str, str], int] = {}  # (freezelab model, source) -> its last index
    added = []
    for index, layer in enumerate(with_weights):
        found = layer_weights_source(layer)
        if found == "unknown":
            added.append(index)
        else:
            bases[(_LAYER_MODELS.get(layer, "a freezelab model"), found)] = index
    if not bases:
        return f"Weights in use for {model.name!r}: unknown (a model freezelab did not build)."
    label = "base" if len(bases) == 1 else "layers from"
    parts = [
        f"{label} {name!r}: {_LAYER_WORDS.get(found, _SOURCE_WORDS.get(found, (found, ''))[0])}"
        for name, found in bases
    ]
    if added:
        where = "head: " if min(added) > max(bases.values()) else ""
        parts.append(
            f"{where}{len(added)} layer{'s' if len(added) != 1 else ''} added outside "
            "freezelab, initialised by Keras unless trained since"
        )
    notes = dict.fromkeys(_SOURCE_WORDS.get(found, ("", ""))[1] for _, found in bases)
    return f"Weights in use for {model.name!r}: " + "; ".join(parts) + "".join(notes) + "."


#: source -> what a base's weights are, where `_SOURCE_WORDS` reads badly after "base 'x':"
_LAYER_WORDS = {
    "imagenet": "ImageNet (pretrained weights)",
    "untrained": "UNTRAINED (random weights)",
}


def fetch_imagenet(
    timeout: float = 10.0,
    include_top: bool = False,
    total_timeout: float | None = None,
) -> FetchResult:
    """Makes sure complete ImageNet weights are in the Keras cache, within a time bound.

    A cached file is used when its MD5 is the one Keras publishes; a
    truncated or damaged one (an interrupted download) is downloaded again.

    Args:
        timeout: Seconds any single wait on the server may take.
        include_top: Whether the weights with the classifier top are wanted.
        total_timeout: Seconds the whole attempt may take; ``timeout`` when None.

    Returns:
        A `FetchResult`: ``ok`` when the cache now holds the complete file,
        else the reason (naming a damaged cached file) and the elapsed time.

    Raises:
        ValueError: For a timeout that is not a positive finite number.
    """
    timeout = check_timeout(timeout)
    total_timeout = (
        timeout if total_timeout is None else check_timeout(total_timeout, "total_timeout")
    )
    path = imagenet_cache_path(include_top)
    md5 = VGG16_MD5[path.name]
    problem = cached_file_problem(path, md5)
    if not problem:
        return FetchResult(True, path, "", 0.0)
    result = fetch(
        VGG16_WEIGHTS_URL + path.name, path, timeout=timeout, total_timeout=total_timeout, md5=md5
    )
    if result.ok or not path.exists():
        return result
    return FetchResult(False, path, f"{problem}, and {result.reason}", result.elapsed_s)


def imagenet_available(timeout: float = 10.0, include_top: bool = False) -> bool:
    """Makes sure the ImageNet weights are in the Keras cache, within ``timeout`` seconds in all.

    Returns True at once when a complete file is cached (checked against
    Keras's published MD5). Otherwise it tries to download it; it gives up
    when ``timeout`` runs out. See `fetch_imagenet` for the reason of a failure.

    Args:
        timeout: Seconds to wait in all.
        include_top: Whether the weights with the classifier top are wanted.

    Returns:
        Whether the complete weights file is now in the cache.
    """
    return fetch_imagenet(timeout, include_top).ok


def _resolve_weights(weights, include_top, timeout, verbose) -> tuple[str, Path | None]:
    if weights is None:
        return "untrained", None
    if not isinstance(weights, (str, os.PathLike)):
        raise ArgumentTypeError(
            "weights must be 'auto', 'imagenet', None, or a path to a weights file. "
            f"Received: weights={describe(weights)} of type {type(weights).__name__}"
        )
    if weights == "imagenet":
        result = fetch_imagenet(timeout, include_top, total_timeout=DOWNLOAD_LIMIT_S)
        if not result.ok:
            raise ConnectionError(
                f"ImageNet weights are not available: {result.reason} (gave up after "
                f"{result.elapsed_s:.1f} s). Online, try again; offline, use weights='auto' "
                "(falls back to untrained weights) or fl.pretrained_base() (the offline "
                f"teacher). Received: weights='imagenet', timeout={timeout:g}"
            )
        return "imagenet", result.path
    if weights == "auto":
        result = fetch_imagenet(timeout, include_top)
        if result.ok:
            return "imagenet", result.path
        if verbose:
            print(
                f"freezelab notice: ImageNet weights are not available ({result.reason}; gave "
                f"up after {result.elapsed_s:.1f} s). Falling back to UNTRAINED weights."
            )
        return "untrained", None
    check_str(os.fspath(weights), "weights")
    path = Path(weights)
    if not path.exists():
        hint = suggestion(str(weights), ["auto", "imagenet"]) if isinstance(weights, str) else ""
        raise ValueError(
            "weights must be 'auto', 'imagenet', None, or the path of an existing "
            f"weights file.{hint} Received: weights={str(weights)!r} (no such file)"
        )
    if not path.is_file():
        raise ValueError(
            f"weights must be a weights file, not a folder. Received: weights={str(weights)!r}"
        )
    return f"file:{path}", check_weights_file(path)


def demo_sequential(input_dim: int = 100) -> keras.Sequential:
    """The classic Sequential example: Dense(64) → Dense(32) → Dense(10).

    Args:
        input_dim: Number of input features (an int of at least 1).

    Returns:
        A built Sequential model with layers ``dense_64``, ``dense_32``,
        ``dense_10``.

    Raises:
        ValueError: If ``input_dim`` is not a positive int.
    """
    input_dim = check_int(input_dim, "input_dim", minimum=1)
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
    """The same Dense(64) → Dense(32) → Dense(10) network in the functional API.

    Args:
        input_dim: Number of input features (an int of at least 1).

    Returns:
        A Functional model with input ``features`` and layers ``dense_64``,
        ``dense_32``, ``dense_10``.

    Raises:
        ValueError: If ``input_dim`` is not a positive int.
    """
    input_dim = check_int(input_dim, "input_dim", minimum=1)
    inputs = keras.Input(shape=(input_dim,), name="features")
    x = layers.Dense(64, activation="relu", name="dense_64")(inputs)
    x = layers.Dense(32, activation="relu", name="dense_32")(x)
    outputs = layers.Dense(10, activation="softmax", name="dense_10")(x)
    return keras.Model(inputs, outputs, name="functional_demo")


def with_head(
    base: keras.Model,
    head_units: int | tuple[int, ...] = (128, 10),
    nested: bool = False,
    pooling: str = "flatten",
    name: str | None = None,
) -> keras.Model:
    """Puts a new classifier head on a convolutional base.

    Args:
        base: A convolutional model such as VGG16 without its top.
        head_units: Units of the dense layers; the last one gets softmax. One
            int means one layer (``10`` is ``(10,)``).
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
        ValueError: For a ``base`` that is not a built single-input model, an
            unknown ``pooling``, empty ``head_units`` or a unit count below 1,
            ``pooling="flatten"`` on a base without a fixed output size, or an
            argument of the wrong type.
    """
    check_model(base, "with_head")
    model_input_shape(base, "with_head")
    if is_int(head_units):
        head_units = (int(head_units),)
    if not isinstance(head_units, (tuple, list)):
        raise ArgumentTypeError(
            "head_units takes the units of each dense layer, e.g. (128, 10). "
            f"Received: head_units={describe(head_units)} of type {type(head_units).__name__}"
        )
    if not head_units:
        raise ValueError(f"head_units needs at least one layer. Received: {head_units!r}")
    head_units = tuple(check_int(units, "head_units", minimum=1) for units in head_units)
    nested = check_bool(nested, "nested")
    if name is not None:
        check_str(name, "name")
    reducers = {
        "flatten": lambda: layers.Flatten(name="flatten"),
        "avg": lambda: layers.GlobalAveragePooling2D(name="avg_pool"),
        "none": None,
    }
    check_choice(pooling, "pooling", sorted(reducers))
    if pooling == "flatten" and any(d is None for d in base.output.shape[1:]):
        raise ValueError(
            "pooling='flatten' needs a base with a fixed output size; this base takes any "
            "input size. Build it for one size (e.g. input_size=96) or use pooling='avg'. "
            f"Received: base output shape {tuple(base.output.shape)}"
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
