"""Every use of Keras's private API in freezelab, in one place.

Keras keeps some facts the course needs behind private attributes: which
variables an optimizer updates, the trainable flags recorded at
``compile()``, the arguments ``compile()`` was given, every layer inside
a nested model, and how many times a layer was called in a model's graph. Nothing else in freezelab touches a private Keras name; it
calls the functions here. Each function names the Keras version it was
checked on, and ``tests/core/test_keras_adapter.py`` fails loudly if a Keras
release renames or changes one of them.

Checked on Keras 3.15.1 (TensorFlow, JAX and PyTorch backends).
"""

from __future__ import annotations

from typing import Any

import keras

CHECKED_ON = "3.15.1"


def inner_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """Every layer inside ``model`` at any depth, nested models included, not ``model``.

    Keras 3.15.1: ``Layer._flatten_layers(include_self=False)``; the public
    ``model.layers`` lists only the top level.

    Args:
        model: A Keras model (or layer).

    Returns:
        The layers, depth-first, each once.
    """
    return list(model._flatten_layers(include_self=False))


def compiled_trainable_state(model: keras.Model) -> dict[keras.layers.Layer, bool] | None:
    """The per-layer ``trainable`` flags Keras recorded at ``compile()``.

    Keras 3.15.1: ``Trainer._compiled_trainable_state``, a dict from layer to
    flag set by ``compile()`` (absent before).

    Args:
        model: A Keras model.

    Returns:
        Layer to flag, or None when the model was never compiled.
    """
    return getattr(model, "_compiled_trainable_state", None)


def optimizer_variables(optimizer: keras.optimizers.Optimizer) -> list[keras.Variable] | None:
    """The model variables a built optimizer updates (its fixed set).

    Keras 3.15.1: ``Optimizer._trainable_variables``, filled by
    ``optimizer.build(variables)`` at the first training step.

    Args:
        optimizer: A Keras optimizer.

    Returns:
        The variables, or None when the optimizer is not built yet.
    """
    if not getattr(optimizer, "built", False):
        return None
    return list(optimizer._trainable_variables)


def compile_arguments(model: keras.Model) -> dict[str, Any] | None:
    """The keyword arguments the model was last compiled with (loss, metrics, ...).

    Keras 3.15.1: ``Trainer._compile_config.config``, the serialisable record
    of ``compile()``'s arguments.

    Args:
        model: A Keras model.

    Returns:
        A new dict of the arguments (the optimizer entry as recorded), or
        None when the model was never compiled.
    """
    if not getattr(model, "compiled", False):
        return None
    record = getattr(model, "_compile_config", None)
    if record is None:
        return None
    return dict(record.config)


def trainable_capable(layer: keras.layers.Layer, variable: keras.Variable) -> bool:
    """Whether ``variable`` trains when its layer is trainable.

    Setting ``layer.trainable = False`` flips each variable's own flag, so
    the flag alone cannot tell a frozen kernel from a BatchNorm moving
    statistic that never trains. Keras 3.15.1 keeps the layer's trainable
    variables in ``Layer._trainable_variables`` whatever its flag.

    Args:
        layer: The layer that owns ``variable``.
        variable: One of ``layer.weights``.

    Returns:
        True for a weight that trains when unfrozen, False for a statistic.
    """
    capable = getattr(layer, "_trainable_variables", None)
    if capable is None:
        return bool(variable.trainable)
    return any(variable is v for v in capable)


def call_count(layer: keras.layers.Layer) -> int:
    """How many times ``layer`` was called on symbolic inputs (its call sites in model graphs).

    Keras 3.15.1: ``Operation._inbound_nodes``, one node per call; the public
    ``layer.input`` and ``layer.output`` give the first call's tensors only.

    Args:
        layer: A Keras layer.

    Returns:
        0 for a layer never called, 2 for one shared by two calls, and so on.
    """
    return len(getattr(layer, "_inbound_nodes", []))
