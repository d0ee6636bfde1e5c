"""Walking a Keras model's layers the way a learner thinks of them.

Keras shows two views of a model. ``model.layers`` lists the top-level
layers, so a base model called as ``base(inputs)`` appears there as *one*
layer. The flattened view used throughout freezelab opens every nested model
and lists the layers that actually compute, in order, each with its block
(``block1`` … ``block5`` for VGG-style names, ``head`` for what follows a
base, ``input`` for input layers).
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Iterable, Iterator, Sequence
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
    found: list[tuple[keras.layers.Layer, tuple[str, ...], int]] = []
    seen: set[int] = set()

    def visit(layer, path, top_index):
        if id(layer) in seen:
            return
        seen.add(id(layer))
        if is_nested_model(layer):
            for inner in layer.layers:
                visit(inner, (*path, layer.name), top_index)
            return
        found.append((layer, (*path, layer.name), top_index))

    for index, layer in enumerate(model.layers):
        visit(layer, (), index)
    blocks = block_labels(
        [layer.name for layer, _, _ in found],
        inputs={layer.name for layer, _, _ in found if isinstance(layer, keras.layers.InputLayer)},
    )
    return [
        LayerRef(layer, path, block, top_index)
        for (layer, path, top_index), block in zip(found, blocks)
    ]


def block_labels(names: Sequence[str], inputs: Collection[str] = ()) -> list[str]:
    """The block of each layer name, in order: the one labelling rule of freezelab.

    ``blockN_...`` names belong to ``blockN``; input layers (named in
    ``inputs``) to ``"input"``; any other layer that comes after a VGG block
    to ``"head"``; layers of a model without VGG names to ``""``.

    Args:
        names: Layer names in model order.
        inputs: The names among them that are input layers.

    Returns:
        One label per name, in order.
    """
    labels = []
    seen_block = False
    for name in names:
        block = block_of(name)
        if block is not None:
            seen_block = True
        elif name in inputs:
            block = "input"
        else:
            block = "head" if seen_block else ""
        labels.append(block)
    return labels


def block_names(rows: Iterable, include_head: bool = False) -> list[str]:
    """The blocks that ``rows`` fall in, each once, in order.

    Args:
        rows: Anything with a ``block`` attribute in model order: `LayerRef`
            from `iter_layers`, cost rows, panel rows.
        include_head: Also list ``"head"`` (the layers after the VGG blocks).

    Returns:
        ``["block1", ..., "block5"]`` for VGG16 (plus ``"head"`` when asked
        and present); empty for a model without VGG block names.
    """
    found: list[str] = []
    for row in rows:
        block = row.block
        wanted = block.startswith("block") or (include_head and block == "head")
        if wanted and block not in found:
            found.append(block)
    return found


def weight_size(variable: keras.Variable) -> int:
    """Number of scalars in a Keras variable."""
    return math.prod(int(dim) for dim in variable.shape)


def unique_weights(refs: Iterable[LayerRef]) -> Iterator[tuple[LayerRef, keras.Variable]]:
    """Each variable of the layers once, at the first layer that holds it.

    The one counting rule of freezelab: a variable shared by several layers
    is counted at its first layer only, as Keras's own weight lists do.

    Args:
        refs: Layers in model order, from `iter_layers`.

    Yields:
        ``(ref, variable)`` pairs, in order.
    """
    seen: set[int] = set()
    for ref in refs:
        for variable in ref.layer.weights:
            if id(variable) not in seen:
                seen.add(id(variable))
                yield ref, variable
