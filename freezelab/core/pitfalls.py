"""Mistakes a transfer-learning model shows on inspection.

`check_pitfalls` looks at a model (no data, no training) and reports:

* ``spatial_head``: the classifier's output still has spatial axes, e.g.
  ``(None, 7, 7, 10)``: Dense applied to a feature map without Flatten or
  pooling acts on every position separately.
* ``nested_layers_slice``: a nested model is one entry of ``model.layers``,
  so ``model.layers[:-N]`` counts it as one layer. The report says what
  ``model.layers`` holds so the learner sees what a slice would select.
* ``unfrozen_base_untrained_head``: the pretrained base trains while the head
  has never been trained; the head's large early gradients flow into the
  base and wreck its features. Train the head first, base frozen.
* ``recompile_needed``: trainable flags changed since ``compile()``.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field

import keras

from freezelab.core.compile_guard import compile_status
from freezelab.core.layers import block_of, is_nested_model, iter_layers
from freezelab.core.shapes import output_shape


@dataclass(frozen=True)
class Pitfall:
    """One mistake found in a model.

    Attributes:
        code: Short identifier, e.g. ``"spatial_head"``.
        message: What is wrong, why it matters, and what to do.
        layers: Names of the layers involved.
    """

    code: str
    message: str
    layers: list[str] = field(default_factory=list)


class PitfallReport(list):
    """A list of `Pitfall` that prints readably and renders as HTML."""

    def __str__(self) -> str:
        if not self:
            return "No pitfalls found."
        return "\n".join(f"[{p.code}] {p.message}" for p in self)

    def _repr_html_(self) -> str:
        if not self:
            return '<p style="color:#2a7">No pitfalls found.</p>'
        items = "".join(f"<li><b>{p.code}</b>: {html.escape(p.message)}</li>" for p in self)
        return f'<ul style="color:#b30">{items}</ul>'


def check_pitfalls(model: keras.Model) -> PitfallReport:
    """Inspects a transfer-learning model and reports the mistakes it can see.

    Args:
        model: A built Keras model, compiled or not.

    Returns:
        A `PitfallReport` (a list of `Pitfall`), empty when nothing is wrong.

    Raises:
        ValueError: If ``model`` is not a Keras model.
    """
    if not isinstance(model, keras.Model):
        raise ValueError(
            f"check_pitfalls expects a Keras model. Received: {model!r} "
            f"of type {type(model).__name__}"
        )
    found = PitfallReport()
    for check in (_spatial_head, _nested_layers_slice, _unfrozen_base_untrained_head):
        pitfall = check(model)
        if pitfall is not None:
            found.append(pitfall)
    status = compile_status(model)
    if status.needs_recompile:
        found.append(Pitfall("recompile_needed", status.message, list(status.changed_layers)))
    return found


def _spatial_head(model: keras.Model) -> Pitfall | None:
    refs = iter_layers(model)
    if not refs:
        return None
    last = refs[-1].layer
    if not isinstance(last, keras.layers.Dense):
        return None
    shape = output_shape(last)
    if shape is None or len(shape) <= 2:
        return None
    return Pitfall(
        "spatial_head",
        f"The output has shape {shape}: the Dense head sees a feature map, not one "
        "vector per image. Put Flatten() or GlobalAveragePooling2D() between the base "
        "and the Dense layers.",
        [last.name],
    )


def _nested_layers_slice(model: keras.Model) -> Pitfall | None:
    nested = [(i, layer) for i, layer in enumerate(model.layers) if is_nested_model(layer)]
    if not nested:
        return None
    count = len(model.layers)
    tail = range(max(0, count - 3), count)
    listing = ", ".join(f"[{i}] {model.layers[i].name}" for i in tail)
    inner = "; ".join(
        f"{layer.name!r} (index {i}) holds {len(layer.layers)} layers" for i, layer in nested
    )
    return Pitfall(
        "nested_layers_slice",
        f"model.layers has {count} entries, ending {listing}; {inner}. "
        "A slice such as model.layers[:-N] counts each nested model as one layer. "
        "Select by name or block instead (freezelab.freeze(model, 'block1')).",
        [layer.name for _, layer in nested],
    )


def _unfrozen_base_untrained_head(model: keras.Model) -> Pitfall | None:
    refs = [ref for ref in iter_layers(model) if ref.layer.weights]
    base = [ref for ref in refs if block_of(ref.name) or ref.nested_in]
    head = [ref for ref in refs if ref not in base]
    if not base or not head:
        return None
    trainable_base = [ref.name for ref in base if _trains(model, ref.layer)]
    if not trainable_base:
        return None
    optimizer = getattr(model, "optimizer", None)
    steps = 0
    if optimizer is not None and getattr(optimizer, "built", False):
        steps = int(keras.ops.convert_to_numpy(optimizer.iterations))
    if steps > 0:
        return None
    return Pitfall(
        "unfrozen_base_untrained_head",
        f"{len(trainable_base)} base layers are trainable under a head that has not been "
        "trained yet. The new head's large early gradients would flow into the pretrained "
        "base and damage its features. Freeze the base, train the head, then unfreeze "
        "with a low learning rate (two-phase fine-tuning).",
        trainable_base,
    )


def _trains(model: keras.Model, layer) -> bool:
    return bool(model.trainable) and any(w.trainable for w in layer.weights) and layer.trainable
