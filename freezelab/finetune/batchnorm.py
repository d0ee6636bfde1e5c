"""BatchNormalization in transfer learning: what it stores and which mode it runs in.

A ``BatchNormalization`` layer holds four vectors per channel: ``gamma`` and
``beta`` (a scale and an offset the optimizer trains) and ``moving_mean`` and
``moving_variance`` (statistics of the inputs it has seen, which the optimizer
never touches: the layer itself updates them when it runs in training mode,
``moving = momentum * moving + (1 - momentum) * batch statistic``).

Two switches decide what it does:

* **training mode** (``training=True``, as inside ``fit()``): normalise with
  the current batch's mean and variance and update the moving statistics;
  **inference mode** (``training=False``, as in ``predict()``/``evaluate()``):
  normalise with the moving statistics, update nothing.
* ``layer.trainable``: in Keras 3, ``trainable=False`` on a BN layer both
  freezes gamma and beta *and* makes it run in inference mode, whatever
  ``training`` says (``if training and self.trainable`` in its ``call``).

This module reads those facts off a model (`bn_layers`, `bn_counts`,
`bn_snapshot`, `bn_change`), measures the mode a model runs in
(`training_inference_gap`) and how far new images are from the stored
statistics (`bn_input_shift`), re-estimates the stored statistics on new
images without any weight update (`reestimate_bn_statistics`), and freezes
every BN layer by type (`freeze_bn`).
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np

from freezelab._validation import check_int, check_model
from freezelab.core.layers import is_nested_model

BN_VARIABLES = ("gamma", "beta", "moving_mean", "moving_variance")


@dataclass(frozen=True)
class BNCounts:
    """Parameter counts of a model's BatchNormalization layers.

    Attributes:
        layers: How many BN layers (nested models opened).
        frozen_layers: Of those, how many have ``trainable=False``: in Keras 3
            they run in inference mode whatever ``training`` says.
        affine: Parameters of ``gamma`` and ``beta`` over all BN layers.
        affine_trainable: Of those, how many the optimizer updates now.
        moving: Parameters of ``moving_mean`` and ``moving_variance``.
        moving_trainable: Of those, how many are trainable variables (Keras
            creates them with ``trainable=False``: always 0).
    """

    layers: int
    frozen_layers: int
    affine: int
    affine_trainable: int
    moving: int
    moving_trainable: int

    def __str__(self) -> str:
        return (
            f"{self.layers} BN layers ({self.frozen_layers} frozen): gamma+beta "
            f"{self.affine:,} parameters ({self.affine_trainable:,} trainable), "
            f"moving mean+variance {self.moving:,} ({self.moving_trainable:,} trainable)"
        )


def bn_layers(model: keras.Model) -> list[keras.layers.BatchNormalization]:
    """Every BatchNormalization layer of a model, nested models opened, in order.

    Args:
        model: A Keras model.

    Returns:
        The BN layers, each once.

    Raises:
        ValueError: If ``model`` is not a Keras model.
    """
    check_model(model, "bn_layers")
    found: list[keras.layers.BatchNormalization] = []
    seen: set[int] = set()

    def visit(layer):
        if id(layer) in seen:
            return
        seen.add(id(layer))
        if is_nested_model(layer):
            for inner in layer.layers:
                visit(inner)
        elif isinstance(layer, keras.layers.BatchNormalization):
            found.append(layer)

    for layer in model.layers:
        visit(layer)
    return found


def bn_counts(model: keras.Model) -> BNCounts:
    """Counts gamma/beta and moving-statistics parameters, and which of them train.

    Read from the flags Keras 3 keeps: a variable trains when the model is
    trainable and the variable's own ``trainable`` flag is set (setting
    ``layer.trainable`` sets it on the layer's variables and its sublayers').
    Keras's ``model.trainable_weights`` lists are not used, so the two can be
    checked against each other.

    Args:
        model: A Keras model.

    Returns:
        A `BNCounts`.

    Raises:
        ValueError: If ``model`` is not a Keras model.
    """
    affine = affine_trainable = moving = moving_trainable = 0
    found = bn_layers(model)
    for layer in found:
        for kind, variable in _bn_variables(layer).items():
            size = int(np.prod(variable.shape))
            if kind in ("gamma", "beta"):
                affine += size
                affine_trainable += size if model.trainable and variable.trainable else 0
            else:
                moving += size
                moving_trainable += size if variable.trainable else 0
    frozen = sum(not layer.trainable for layer in found)
    return BNCounts(len(found), frozen, affine, affine_trainable, moving, moving_trainable)


def bn_snapshot(model: keras.Model) -> dict[str, dict[str, np.ndarray]]:
    """Copies every BN layer's gamma, beta, moving mean and moving variance.

    Args:
        model: A Keras model.

    Returns:
        BN layer name to ``{"gamma": …, "beta": …, "moving_mean": …,
        "moving_variance": …}`` (NumPy copies; a layer built with
        ``scale=False`` or ``center=False`` lacks that entry).

    Raises:
        ValueError: If ``model`` is not a Keras model.
    """
    return {
        layer.name: {
            kind: np.array(keras.ops.convert_to_numpy(v), copy=True)
            for kind, v in _bn_variables(layer).items()
        }
        for layer in bn_layers(model)
    }


def bn_change(
    before: dict[str, dict[str, np.ndarray]],
    after: dict[str, dict[str, np.ndarray]] | keras.Model,
) -> dict[str, float]:
    """The largest absolute change of each BN variable kind between two snapshots.

    Args:
        before: A `bn_snapshot`.
        after: A later `bn_snapshot` of the same model, or the model itself.

    Returns:
        ``{"gamma": …, "beta": …, "moving_mean": …, "moving_variance": …}``:
        the largest ``|after - before|`` over all layers and channels; exactly
        0.0 for a variable that did not move.

    Raises:
        ValueError: If the snapshots are not of the same BN layers and shapes.
    """
    if isinstance(after, keras.Model):
        after = bn_snapshot(after)
    if not isinstance(before, dict) or not isinstance(after, dict):
        raise ValueError(
            "bn_change compares two bn_snapshot(model) results. "
            f"Received: {type(before).__name__} and {type(after).__name__}"
        )
    if set(before) != set(after):
        raise ValueError(
            "The snapshots hold different BN layers: "
            f"{sorted(set(before) ^ set(after))}. Received: snapshots of two different models"
        )
    change: dict[str, float] = {}
    for name, old in before.items():
        for kind, value in old.items():
            new = after[name].get(kind)
            if new is None or new.shape != value.shape:
                raise ValueError(
                    f"{name}/{kind} differs in shape between the snapshots. "
                    f"Received: {value.shape} and {None if new is None else new.shape}"
                )
            diff = float(np.max(np.abs(new.astype(np.float64) - value))) if value.size else 0.0
            change[kind] = max(change.get(kind, 0.0), diff)
    return change


def training_inference_gap(layer_or_model: keras.layers.Layer, x: np.ndarray) -> float:
    """How different the output is in training mode and in inference mode.

    Calls ``layer_or_model(x, training=True)`` and ``(x, training=False)`` and
    returns the largest absolute difference. 0.0 means the training-mode call
    ran in inference mode (e.g. every BN layer frozen). A training-mode call
    updates BN moving statistics as a side effect: they are put back, so the
    model is left exactly as it was.

    Args:
        layer_or_model: A built Keras layer or model.
        x: A batch of inputs (more than one sample, so batch statistics exist).

    Returns:
        ``max |f(x, training=True) - f(x, training=False)|``.

    Raises:
        ValueError: If ``layer_or_model`` is not a Keras layer or ``x`` has a
            single sample.
    """
    if not isinstance(layer_or_model, keras.layers.Layer):
        raise ValueError(
            "Expected a Keras layer or model. "
            f"Received: {layer_or_model!r} of type {type(layer_or_model).__name__}"
        )
    x = np.asarray(x, dtype=np.float32)
    if x.ndim < 2 or x.shape[0] < 2:
        raise ValueError(
            "x must be a batch of at least 2 samples (batch statistics need them). "
            f"Received: shape {x.shape}"
        )
    saved = [
        np.array(keras.ops.convert_to_numpy(v)) for v in layer_or_model.non_trainable_variables
    ]
    try:
        trained = keras.ops.convert_to_numpy(layer_or_model(x, training=True))
    finally:
        for variable, value in zip(layer_or_model.non_trainable_variables, saved):
            variable.assign(value)
    inferred = keras.ops.convert_to_numpy(layer_or_model(x, training=False))
    return float(np.max(np.abs(trained.astype(np.float64) - inferred)))


def bn_input_shift(model: keras.Model, x: np.ndarray, batch_size: int = 64) -> dict[str, float]:
    """How far new inputs' statistics are from what each BN layer has stored.

    Runs ``x`` through the model in inference mode and, for each BN layer,
    takes the per-channel mean of what reaches it. The shift is the distance
    of that mean from the stored moving mean in units of the stored standard
    deviation, ``|mean(x) - moving_mean| / sqrt(moving_variance + epsilon)``,
    averaged over channels: about 0 for images like those the statistics came
    from, large for images of another kind.

    Args:
        model: A Keras model whose BN layers are in its own graph (a flat
            model, or the nested base itself).
        x: Preprocessed inputs.
        batch_size: Images per inference batch.

    Returns:
        BN layer name to its mean shift, in model order.

    Raises:
        ValueError: If the model has no BN layer, or one of them sits inside
            a nested model (pass that base instead).
    """
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    found = bn_layers(model)
    top = {id(layer) for layer in model.layers}
    if not found or any(id(layer) not in top for layer in found):
        raise ValueError(
            "bn_input_shift needs a model whose BN layers are its own layers; for a "
            "nested base, pass the base. Received: "
            f"{model.name!r} with {len(found)} BN layers, "
            f"{sum(id(layer) not in top for layer in found)} of them nested"
        )
    inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs
    probe = keras.Model(inputs, [layer.input for layer in found])
    x = np.asarray(x, dtype=np.float32)
    # Direct calls, not predict(): a new probe model per call would retrace predict's function.
    batches = []
    for start in range(0, len(x), batch_size):
        batch = probe(x[start : start + batch_size], training=False)
        batches.append(batch if isinstance(batch, list | tuple) else [batch])
    outputs = [
        np.concatenate([keras.ops.convert_to_numpy(batch[index]) for batch in batches])
        for index in range(len(found))
    ]
    shifts = {}
    for layer, values in zip(found, outputs):
        axes = tuple(axis for axis in range(values.ndim) if axis != values.ndim - 1)
        mean = values.astype(np.float64).mean(axis=axes)
        moving_mean = keras.ops.convert_to_numpy(layer.moving_mean).astype(np.float64)
        std = np.sqrt(keras.ops.convert_to_numpy(layer.moving_variance) + layer.epsilon)
        shifts[layer.name] = float(np.mean(np.abs(mean - moving_mean) / std))
    return shifts


def reestimate_bn_statistics(model: keras.Model, x: np.ndarray) -> list[str]:
    """Replaces each BN layer's moving statistics with those of ``x``; no weight is trained.

    The recipe the BatchNorm lesson shows in plain Keras: set every BN layer's
    ``momentum`` to 0, call the model once in training mode on all of ``x`` as
    one batch, and put the momentum back. With momentum 0 the update rule
    ``moving = momentum * moving + (1 - momentum) * batch statistic`` stores
    the batch's statistics exactly; and since each layer normalised with the
    statistics of the whole of ``x``, every later layer saw what it will see in
    inference mode, so after the call inference mode on ``x`` reproduces the
    training-mode call. Only BN layers that run in training mode are
    re-estimated: a layer with ``trainable=False`` (or one whose ``call``
    always uses its stored statistics) keeps them. The model must be free of
    other layers that act differently in training mode (Dropout).

    Args:
        model: A Keras model.
        x: Preprocessed inputs, all in one batch (a few hundred small images).

    Returns:
        The names of the BN layers whose statistics changed, in model order.

    Raises:
        ValueError: If ``model`` is not a Keras model or ``x`` holds fewer
            than 2 samples.
    """
    found = bn_layers(model)
    x = np.asarray(x, dtype=np.float32)
    if x.ndim < 2 or x.shape[0] < 2:
        raise ValueError(
            "x must be a batch of at least 2 samples (batch statistics need them). "
            f"Received: shape {x.shape}"
        )
    before = bn_snapshot(model)
    momenta = [layer.momentum for layer in found]
    try:
        for layer in found:
            layer.momentum = 0.0
        model(x, training=True)
    finally:
        for layer, momentum in zip(found, momenta):
            layer.momentum = momentum
    after = bn_snapshot(model)
    return [
        layer.name
        for layer in found
        if any(
            not np.array_equal(before[layer.name][kind], after[layer.name][kind])
            for kind in ("moving_mean", "moving_variance")
        )
    ]


def freeze_bn(model: keras.Model) -> list[str]:
    """Sets ``trainable = False`` on every BatchNormalization layer, nested ones included.

    In Keras 3 this freezes gamma and beta and puts each layer in inference
    mode (moving statistics used and kept). Like any change to ``trainable``,
    it counts from the next ``compile()``. Setting ``trainable = True`` on a
    model around them later unfreezes them again: call this after that.

    Args:
        model: A Keras model.

    Returns:
        The names of the BN layers frozen, in model order.

    Raises:
        ValueError: If ``model`` is not a Keras model.
    """
    frozen = bn_layers(model)
    for layer in frozen:
        layer.trainable = False
    return [layer.name for layer in frozen]


def _bn_variables(layer: keras.layers.BatchNormalization) -> dict[str, keras.Variable]:
    return {
        kind: getattr(layer, kind)
        for kind in BN_VARIABLES
        if getattr(layer, kind, None) is not None
    }
