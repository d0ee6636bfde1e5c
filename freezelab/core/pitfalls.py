"""Mistakes a transfer-learning model shows on inspection.

`check_pitfalls` looks at a model (no data, no training) and reports:

* ``spatial_head``: the classifier's output still has spatial axes, e.g.
  ``(None, 7, 7, 10)``: Dense applied to a feature map without Flatten or
  pooling acts on every position separately.
* ``nested_layers_slice``: the flags read like ``for layer in
  model.layers[:-N]: layer.trainable = False`` on a model where
  ``model.layers`` counts a nested model as one entry, so the slice stopped
  somewhere else than the last N computing layers. The report says which
  layers the slice froze, where it stopped, which layers with weights still
  train, and what to write instead. It fires only when the flags look like
  such a slice with a nested model among the entries it left trainable, not
  for every model that holds a nested model.
* ``unfrozen_base_untrained_head``: the base trains while the head has never
  been trained (flattened, or a nested model such as a Sequential head), so
  the base is rewritten from the first step; how far depends on the
  learning rate (lesson 01 compares two rates under Adam); in lesson 05's
  committed run (Adam at 1e-3, 12 seeds) the base moved further, and read worse
  to a probe, under an untrained head than under a trained one. Train the head
  first, base frozen. For an untrained base the message says there is
  nothing to damage yet.
* ``recompile_needed``: trainable flags changed since ``compile()``.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field

import keras

from freezelab._validation import check_model
from freezelab.core.compile_guard import compile_status, name_list
from freezelab.core.layers import LayerRef, block_of, is_nested_model, iter_layers
from freezelab.core.models import layer_weights_source, weights_source
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
        ValueError: If ``model`` is not a Keras model or is not built.
    """
    check_model(model, "check_pitfalls")
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


def inferred_slice(model: keras.Model) -> int | None:
    """``k`` when the top-level flags read like ``for layer in model.layers[:k]: trainable = False``.

    Entries with weights decide: all frozen up to some entry, all trainable
    after it. Weightless entries (input, pooling) right after the last frozen
    one that are frozen too belong to the slice. A model whose flags were not
    set by a slice (nothing frozen, a frozen middle, a partly frozen nested
    model) gives None.

    Args:
        model: A Keras model.

    Returns:
        The slice's stop ``k`` (``0 < k < len(model.layers)``), or None.
    """
    entries = list(model.layers)
    if not model.trainable or len(entries) < 2:
        return None
    states = [_entry_state(layer) for layer in entries]
    if "mixed" in states:
        return None
    weighted = [i for i, layer in enumerate(entries) if layer.weights]
    frozen = [i for i in weighted if states[i] == "frozen"]
    trains = [i for i in weighted if states[i] == "trains"]
    if not trains:
        return None
    if frozen and max(frozen) > min(trains):
        return None
    k = max(frozen) + 1 if frozen else 0
    while k < len(entries) and not entries[k].weights and states[k] == "frozen":
        k += 1
    return k if 0 < k < len(entries) else None


def _entry_state(layer) -> str:
    """``"frozen"``, ``"trains"`` or ``"mixed"`` (a nested model partly frozen)."""
    if not is_nested_model(layer) or not layer.trainable:
        return "trains" if layer.trainable else "frozen"
    inner = [ref.layer.trainable for ref in iter_layers(layer) if ref.layer.weights]
    if all(inner):
        return "trains"
    return "frozen" if not any(inner) else "mixed"


def _nested_layers_slice(model: keras.Model) -> Pitfall | None:
    k = inferred_slice(model)
    if k is None:
        return None
    entries = list(model.layers)
    count = len(entries)
    tail = count - k
    nested = [i for i in range(k, count) if is_nested_model(entries[i]) and entries[i].weights]
    others = [i for i in range(k, count) if entries[i].weights and i not in nested]
    if tail < 2 or not nested or not others:
        return None
    refs = iter_layers(model)
    weighted = [ref for ref in refs if ref.layer.weights]
    frozen = [ref.name for ref in weighted if ref.top_index < k]
    training = [ref for ref in weighted if ref.top_index >= k]
    holds = "; ".join(
        f"{entries[i].name!r} (index {i}) holds {len(entries[i].layers)} layers but counts "
        "as one entry"
        for i in nested
    )
    outside = [ref.name for ref in training if ref.top_index not in nested]
    inside = {entries[i].name: [ref.name for ref in training if ref.top_index == i] for i in nested}
    still = [name_list(outside)] if outside else []
    still += [
        f"the {len(names)} with weights inside {name!r}" for name, names in inside.items() if names
    ]
    plain, helper = [], []
    last = nested[-1]
    nested_head = last == count - 1
    # The layers the slice most likely left training by surprise: the base's.
    surprising = outside if nested_head else [n for names in inside.values() for n in names]
    if nested_head:
        plain.append(
            f"to train only {entries[last].name!r}, base.trainable = False, or freeze every "
            f"entry before it: for layer in model.layers[:-1]: layer.trainable = False"
        )
        helper.append(f"fl.freeze(model, slice(0, {last}))")
    else:
        plain.append(
            f"to freeze the nested model {entries[nested[0]].name!r} whole, "
            f"model.get_layer({entries[nested[0]].name!r}).trainable = False"
        )
        helper.append(f"fl.freeze(model, {entries[nested[0]].name!r})")
    if len(refs) > tail:
        up_to = refs[-tail - 1].name
        later = [ref for ref in refs[len(refs) - tail :] if ref.layer.weights]
        same = nested_head and later and all(ref.top_index == last for ref in later)
        if not same:  # else it freezes the whole base: the first alternative again
            plain.append(
                f"to keep the last {tail} computing layers trainable, set trainable = False by "
                f"name on every layer up to and including {up_to!r}"
            )
            helper.append(f"fl.freeze(model, up_to={up_to!r})")
    froze_text = (
        f"{len(frozen)} layers with weights ({name_list(frozen, with_count=False)})"
        if frozen
        else "no weights"
    )
    return Pitfall(
        "nested_layers_slice",
        f"The flags read like `for layer in model.layers[:-{tail}]: layer.trainable = False` "
        f"(model.layers[:{k}] of {count} entries). {holds}. So the slice stopped at "
        f"{entries[k - 1].name!r} (index {k - 1}) and froze {froze_text}. Still trainable: "
        f"{' and '.join(still)}. Instead write, in plain Keras:"
        + "".join(f"\n  - {alternative}" for alternative in plain)
        + f"\n  With freezelab: {' or '.join(helper)}.",
        surprising,
    )


def base_and_head(model: keras.Model) -> tuple[list[LayerRef], list[LayerRef]]:
    """The layers with weights of a model's base and of its head.

    The base is the layers with VGG block names, or else the first nested
    model holding weights; the head is every layer with weights after the
    base. When the only nested model is the end of the model (a nested
    Sequential head), it is the head and what comes before is the base.

    Args:
        model: A Keras model.

    Returns:
        ``(base, head)``, each in model order; both empty when the model has
        no recognisable base.
    """
    refs = [ref for ref in iter_layers(model) if ref.layer.weights]
    if not refs:
        return [], []
    vgg = [ref for ref in refs if block_of(ref.name)]
    if vgg:
        last = max(i for i, ref in enumerate(refs) if block_of(ref.name))
        return vgg, refs[last + 1 :]
    nested = [i for i, layer in enumerate(model.layers) if is_nested_model(layer) and layer.weights]
    if not nested:
        return [], []
    first = nested[0]
    inside = [ref for ref in refs if ref.top_index == first]
    if inside and inside[-1] is refs[-1]:
        return [ref for ref in refs if ref.top_index < first], inside
    return inside, [ref for ref in refs if ref.top_index > first]


def _unfrozen_base_untrained_head(model: keras.Model) -> Pitfall | None:
    base, head = base_and_head(model)
    if not base or not head:
        return None
    trainable_base = [ref.name for ref in base if _trains(model, ref.layer)]
    if not trainable_base:
        return None
    if _has_trained(model):
        return None
    nested_head = head[0].nested_in
    head_text = (
        f"the nested head {nested_head!r} ({len(head)} layers with weights)"
        if nested_head and all(ref.nested_in == nested_head for ref in head)
        else f"a head ({name_list([ref.name for ref in head])})"
    )
    fix = (
        "Freeze the base and train the head first; then unfreeze, compile again and "
        "fine-tune with a low learning rate (two-phase fine-tuning)."
    )
    if _source(model, base) == "untrained":
        effect = (
            "This base holds untrained (random) weights, so there are no learned features "
            "to damage yet; a pretrained base (ImageNet, or fl.pretrained_base()) trained "
            "this way from the first step can lose what it learned, above all at a high "
            "learning rate; in lesson 05's committed run (Adam at 1e-3, 12 seeds) a pretrained "
            "base unfrozen under an untrained head moved further, and read worse to a probe, "
            "than under a trained head."
        )
    else:
        effect = (
            "Training it from the first step can damage its pretrained features, above all "
            "at a high learning rate; in lesson 05's committed run (Adam at 1e-3, 12 seeds) a "
            "base unfrozen under an untrained head moved further, and read worse to a probe, "
            "than under a trained head."
        )
    layers_text = (
        f"1 base layer with weights ({trainable_base[0]}) trains"
        if len(trainable_base) == 1
        else f"{len(trainable_base)} base layers with weights "
        f"({name_list(trainable_base, with_count=False)}) train"
    )
    return Pitfall(
        "unfrozen_base_untrained_head",
        f"{layers_text} under {head_text}, which has not been trained yet. {effect} {fix}",
        trainable_base,
    )


def _has_trained(model: keras.Model) -> bool:
    """Whether ``model`` has been trained: by its current optimizer, or by an earlier fit().

    The optimizer's step count alone misses a two-phase recipe: after the head
    is trained, ``compile()`` with a fresh optimizer starts that count at 0.
    Keras keeps the last fit()'s `History` on the model across compile(), so a
    completed epoch there counts too.
    """
    optimizer = getattr(model, "optimizer", None)
    built = optimizer is not None and getattr(optimizer, "built", False)
    if built and int(keras.ops.convert_to_numpy(optimizer.iterations)) > 0:
        return True
    history = getattr(model, "history", None)
    return bool(getattr(history, "epoch", None))


def _source(model: keras.Model, base: list[LayerRef]) -> str:
    """Which weights the base came with: the model's record, else its layers' own."""
    source = weights_source(model)
    if source == "unknown":
        source = layer_weights_source(base[0].layer)
    return source


def _trains(model: keras.Model, layer) -> bool:
    return bool(model.trainable) and any(w.trainable for w in layer.weights) and layer.trainable
