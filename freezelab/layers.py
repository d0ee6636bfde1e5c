"""Walking a Keras model's layers the way a learner thinks of them.

Keras shows two views of a model. ``model.layers`` lists the top-level
layers, so a base model called as ``base(inputs)`` appears there as *one*
layer. The flattened view used throughout freezelab opens every nested model
and lists the layers that actually compute, in order, each with its block
(``block1`` … ``block5`` for VGG-style names, ``head`` for what follows a
base, ``input`` for input layers).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import keras

_BLOCK_PATTERN = re.compile(r"^(block\d+)_")


@dataclass(frozen=True)
class LayerRef:
    """A computing layer together with where it sits in the model.

    Attributes:
        layer: The Keras layer itself.
        path: Names from the top-level model down, e.g. ``("vgg16",
            "block1_conv1")`` for a layer inside a nested base.
        block: ``"blockN"`` for VGG-style names, ``"input"`` for input
            layers, ``"head"`` for layers after a VGG block, and ``""`` for
            the layers of a model without VGG block names.
        top_index: Index in ``model.layers`` of the top-level layer that holds
            this one (the nested base for its inner layers).
    """

    layer: keras.layers.Layer
    path: tuple[str, ...]
    block: str
    top_index: int

    @property
    def name(self) -> str:
        """The layer's own name."""
        return self.layer.name

    @property
    def nested_in(self) -> str | None:
        """Name of the nested model that holds the layer, or None."""
        return self.path[-2] if len(self.path) > 1 else None


def is_nested_model(layer: keras.layers.Layer) -> bool:
    """Tells whether a layer is itself a model whose layers should be opened."""
    return isinstance(layer, keras.Model) and bool(getattr(layer, "layers", []))


def block_of(layer_name: str) -> str | None:
    """Returns ``"blockN"`` for a VGG-style layer name, else None."""
    match = _BLOCK_PATTERN.match(layer_name)
    return match.group(1) if match else None


def iter_layers(model: keras.Model) -> list[LayerRef]:
    """Lists every computing layer of ``model``, nested models opened.

    Args:
        model: A built Keras model (Sequential, Functional or subclassed).

    Returns:
        The layers in order, each as a `LayerRef`. Nested models are replaced
        by their own layers; a layer reused in several places is listed once.

    Raises:
        ValueError: If ``model`` is not a Keras model.
    """
    if not isinstance(model, keras.Model):
        raise ValueError(
            "Expected a Keras model (keras.Model, Sequential or Functional). "
            f"Received: model={model!r} of type {type(model).__name__}"
        )
    refs: list[LayerRef] = []
    seen: set[int] = set()
    seen_block = False

    def visit(layer, path, top_index):
        nonlocal seen_block
        if id(layer) in seen:
            return
        seen.add(id(layer))
        if is_nested_model(layer):
            for inner in layer.layers:
                visit(inner, (*path, layer.name), top_index)
            return
        block = block_of(layer.name)
        if block is not None:
            seen_block = True
        elif isinstance(layer, keras.layers.InputLayer):
            block = "input"
        else:
            block = "head" if seen_block else ""
        refs.append(LayerRef(layer, (*path, layer.name), block, top_index))

    for index, layer in enumerate(model.layers):
        visit(layer, (), index)
    return refs


def has_vgg_blocks(model: keras.Model) -> bool:
    """Tells whether any layer of ``model`` carries a ``blockN_`` name."""
    return any(block_of(ref.name) for ref in iter_layers(model))


def layer_weight_count(layer: keras.layers.Layer) -> int:
    """Number of scalar parameters held by ``layer`` (all its weights)."""
    return sum(_size(w.shape) for w in layer.weights)


def _size(shape) -> int:
    size = 1
    for dim in shape:
        size *= int(dim)
    return size
