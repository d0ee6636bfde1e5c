"""Models timed beside the freeze masks, for the parts of a step that FLOPs miss.

A training step is more than its FLOPs. Three parts are measured directly,
in the same interleaved rounds as the masks (`freezelab.speed.sweep.run_sweep`):

* the **floor**: the same model with every layer frozen, run by the same
  compiled train function. It computes the forward pass and the loss, and
  pays the fixed cost of a step; no mask can go below it (`floor_mask`).
* the **update**: what each trainable parameter costs beyond its FLOPs:
  writing its gradient and applying the optimizer (Adam reads and writes
  four numbers per weight). `update_probe` holds that many weights but
  computes almost nothing with them; its step minus the one-weight probe's
  step is the update's time.
* the **cached-features step**: the head alone on the base's outputs
  (`features_model`), which is what a step costs once a frozen base's outputs
  have been computed once and stored.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import keras
from keras import ops

from freezelab.core.freezing import get_mask, set_mask
from freezelab.core.layers import iter_layers


@keras.saving.register_keras_serializable(package="freezelab")
class ParameterBank(keras.layers.Layer):
    """A layer holding weights of given shapes; its forward pass reads one number of each.

    Its gradients are still full arrays of those shapes (zero but one
    number), so a training step writes every gradient and the optimizer
    updates every weight: the per-parameter cost of a step, with almost no
    arithmetic around it. Giving it the shapes of a model's own variables
    makes the optimizer do exactly the work it does for that model.

    Args:
        shapes: One shape per weight variable.
        **kwargs: Passed to `keras.layers.Layer`.
    """

    def __init__(self, shapes: Sequence[Sequence[int]], **kwargs):
        super().__init__(**kwargs)
        self.shapes = [tuple(int(d) for d in shape) for shape in shapes]

    def build(self, input_shape):
        self.bank = [
            self.add_weight(shape=shape, initializer="zeros", name=f"weight_{index}")
            for index, shape in enumerate(self.shapes)
        ]

    def call(self, inputs):
        first = [ops.reshape(weight, (-1,))[:1] for weight in self.bank]
        return inputs + ops.sum(ops.concatenate(first))

    def get_config(self) -> dict:
        return {**super().get_config(), "shapes": [list(shape) for shape in self.shapes]}


def update_probe(shapes: Sequence[Sequence[int]]) -> keras.Model:
    """A model whose trainable weights have the given shapes and which computes almost nothing.

    Args:
        shapes: One shape per weight variable (e.g. a model's trainable
            variables' shapes; ``[(1,)]`` for the one-weight probe).

    Returns:
        An uncompiled model from a ``(1,)`` input to a ``(1,)`` output.

    Raises:
        ValueError: For no shapes or a shape with a dimension below 1.
    """
    shapes = [tuple(shape) for shape in shapes]
    if not shapes or any(int(d) < 1 for shape in shapes for d in shape):
        raise ValueError(
            "update_probe needs at least one weight shape, every dimension at least 1. "
            f"Received: shapes={shapes!r}"
        )
    inputs = keras.Input(shape=(1,), name="probe_input")
    outputs = ParameterBank(shapes, name="bank")(inputs)
    params = sum(math.prod(shape) for shape in shapes)
    return keras.Model(inputs, outputs, name=f"update_probe_{params}")


def trainable_shapes(
    model: keras.Model, prefixes: Sequence[str] | None = None
) -> list[tuple[int, ...]]:
    """Shapes of the variables that train when every layer of ``model`` trains.

    Read from Keras's own ``trainable_weights`` with every layer switched to
    trainable for the moment (the flags are put back), so variables that
    never train (BatchNormalization's moving statistics) are left out
    whatever the layers' flags are now.

    Args:
        model: A Keras model.
        prefixes: Only the layers whose names start with one of these (e.g.
            ``["block4_"]``); None for the whole model.

    Returns:
        One shape per variable, in Keras's order (layer by layer).

    Raises:
        ValueError: For prefixes that name no layer with weights.
    """
    saved = get_mask(model)
    try:
        set_mask(model, dict.fromkeys(saved, True))
        if prefixes is None:
            variables = list(model.trainable_weights)
        else:
            chosen = tuple(prefixes)
            variables = [
                variable
                for ref in iter_layers(model)
                if chosen and ref.layer.name.startswith(chosen)
                for variable in ref.layer.trainable_weights
            ]
            if not variables:
                raise ValueError(
                    "prefixes must name at least one layer with trainable weights, e.g. "
                    f"['block4_']. Received: prefixes={list(prefixes)!r}"
                )
        return [tuple(int(d) for d in variable.shape) for variable in variables]
    finally:
        set_mask(model, saved)


def floor_mask(model: keras.Model) -> dict[str, bool]:
    """The mask that freezes every layer with weights: what remains is the floor.

    Args:
        model: A Keras model.

    Returns:
        Layer name to ``False`` for every layer `get_mask` lists.
    """
    return {name: False for name in get_mask(model)}


def features_model(model: keras.Model) -> keras.Model:
    """The model's head alone, taking the base's outputs ("cached features") as input.

    The head is the chain of top-level layers labelled ``"head"`` (those
    after the last ``blockN_`` layer, as `freezelab.core.layers.iter_layers`
    labels them). Each is rebuilt from its config and given the same weights.

    Args:
        model: A built Functional model whose head is a simple chain.

    Returns:
        An uncompiled model from the base's output shape to the model's output.

    Raises:
        ValueError: If the model has no head layers or its head is not a chain.
    """
    head = [
        ref.layer
        for ref in iter_layers(model)
        if ref.block == "head"
        and len(ref.path) == 1
        and not isinstance(ref.layer, keras.layers.InputLayer)
    ]
    if not head:
        raise ValueError(
            "features_model needs a model whose last layers form a head after the "
            f"blockN_ layers. Received: model {model.name!r} with no head layers"
        )
    for below, above in itertools.pairwise(head):
        if above.input is not below.output:
            raise ValueError(
                "features_model needs a head that is a simple chain of layers. "
                f"Received: {above.name!r} does not take {below.name!r}'s output"
            )
    inputs = keras.Input(shape=tuple(head[0].input.shape[1:]), name="cached_features")
    x = inputs
    for layer in head:
        clone = layer.__class__.from_config(layer.get_config())
        x = clone(x)
        clone.set_weights(layer.get_weights())
    return keras.Model(inputs, x, name=f"{model.name}_head_on_features")
