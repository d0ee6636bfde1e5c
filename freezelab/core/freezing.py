"""Choosing layers and freezing or unfreezing them.

Layers can be named the ways a learner reaches for them::

    freeze(model, 3)                 # model.layers[3], as Keras counts
    freeze(model, slice(0, 10))      # model.layers[:10]
    freeze(model, "block1_conv1")    # a layer name, at any depth
    freeze(model, "block[1-3]_*")    # a glob over layer names
    freeze(model, "block2")          # a whole VGG block
    freeze(model, up_to="block3_pool")  # everything up to and including
    freeze(model, ["block1", "block2_conv1"])  # any mix of the above

Indices and slices follow ``model.layers`` exactly, so on a model with a
nested base, index 1 is the whole base. Names, globs and blocks reach inside
nested models. Indices may be numpy integers (``np.argmax`` gives one).

Out of range is an error for slices as for indices: ``slice(50, 60)`` on a
model of 20 layers raises instead of selecting nothing. A slice inside the
range that still selects nothing (``slice(5, 5)``) warns with
`freezelab._validation.EmptySelectionWarning` and changes nothing; an
explicitly empty list (``[]``) changes nothing, silently. A dict is refused:
it is a mask, applied with `set_mask`.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping

import keras
import numpy as np

from freezelab._validation import (
    ArgumentTypeError,
    check_bool,
    check_model,
    closest,
    describe,
    is_int,
    suggestion,
    warn_empty,
)
from freezelab.core.keras_adapter import inner_layers
from freezelab.core.layers import LayerRef, block_names, is_nested_model, iter_layers

_GLOB_CHARS = set("*?[")

#: What names layers: an index or slice into ``model.layers``, a layer name,
#: glob or block name, a Keras layer, or a flat list or tuple of these.
LayerSpec = int | np.integer | slice | str | keras.layers.Layer | list | tuple | None


def select_layers(
    model: keras.Model,
    spec: LayerSpec = None,
    *,
    up_to: str | None = None,
) -> list[keras.layers.Layer]:
    """Returns the layers that ``spec`` (and/or ``up_to``) names.

    Args:
        model: A Keras model.
        spec: An int or slice (into ``model.layers``), a layer name, a glob,
            a block name (``"block1"`` … ``"block5"``, ``"head"``), or a list
            or tuple of these. None selects nothing (use with ``up_to``).
        up_to: A layer or block name; selects every computing layer from the
            first one up to and including it (the whole block for a block).

    Returns:
        The selected layers, each once, in model order. A nested model chosen
        by index or by its name is returned as itself. Empty for an empty
        list; empty with an `EmptySelectionWarning` for a slice that selects
        nothing.

    Raises:
        ValueError: If nothing is asked for, or a name, block, glob, index or
            slice bound does not exist in the model. The message names what
            was received and the closest valid choices.
        TypeError: For a spec of a kind not listed (a float, a dict: apply a
            mask with `set_mask`) or a model that is not a Keras model. The
            error is also a ValueError.
    """
    check_model(model, "select_layers", built=False)
    refs = iter_layers(model)
    if spec is None and up_to is None:
        raise ValueError(
            "Pass which layers to select: an index, a slice, a name, a glob, a "
            "block, a list of these, or up_to=<layer or block name>. "
            "Received: spec=None, up_to=None"
        )
    chosen: list[keras.layers.Layer] = []
    if spec is not None:
        chosen.extend(_resolve(model, refs, spec))
    if up_to is not None:
        chosen.extend(_resolve_up_to(refs, up_to))
    unique: list[keras.layers.Layer] = []
    seen: set[int] = set()
    for layer in chosen:
        if id(layer) not in seen:
            seen.add(id(layer))
            unique.append(layer)
    written_empty = isinstance(spec, (list, tuple)) and not spec and up_to is None
    if not unique and not written_empty:
        warn_empty(
            f"The selection selects no layer, so nothing changes: model {model.name!r} has "
            f"{len(model.layers)} entries in model.layers. Received: spec={describe(spec)}"
        )
    return unique


def set_trainable(
    model: keras.Model,
    spec: LayerSpec = None,
    trainable: bool = False,
    *,
    up_to: str | None = None,
) -> list[str]:
    """Sets ``trainable`` on the selected layers.

    Unfreezing a layer inside a frozen nested model (or a frozen model)
    also marks that model trainable again while keeping its other layers as
    they were, so ``base.trainable`` never contradicts its own layers.

    Args:
        model: A Keras model.
        spec: What to select; see `select_layers`.
        trainable: The value to set.
        up_to: See `select_layers`.

    Returns:
        Names of the layers whose ``trainable`` flag actually changed.

    Raises:
        ValueError: As `select_layers`, or if ``trainable`` is not a bool
            (numpy bools are accepted).
    """
    trainable = check_bool(trainable, "trainable")
    layers = select_layers(model, spec, up_to=up_to)
    changed = [layer.name for layer in layers if layer.trainable != trainable]
    for layer in layers:
        layer.trainable = trainable
    if trainable:
        _reopen_frozen_parents(model, layers)
    return changed


def freeze(model: keras.Model, spec: LayerSpec = None, *, up_to: str | None = None) -> list[str]:
    """Freezes the selected layers (``trainable = False``).

    Args:
        model: A Keras model.
        spec: What to freeze; see `select_layers`.
        up_to: Freeze everything up to and including this layer or block.

    Returns:
        Names of the layers that were trainable and are now frozen.

    Raises:
        ValueError: If the selection names something the model lacks.
    """
    return set_trainable(model, spec, False, up_to=up_to)


def unfreeze(model: keras.Model, spec: LayerSpec = None, *, up_to: str | None = None) -> list[str]:
    """Unfreezes the selected layers (``trainable = True``).

    Args:
        model: A Keras model.
        spec: What to unfreeze; see `select_layers`.
        up_to: Unfreeze everything up to and including this layer or block.

    Returns:
        Names of the layers that were frozen and are now trainable.

    Raises:
        ValueError: If the selection names something the model lacks.
    """
    return set_trainable(model, spec, True, up_to=up_to)


def weighted_layers(model: keras.Model) -> list[LayerRef]:
    """The computing layers of ``model`` that hold weights, in order."""
    return [ref for ref in iter_layers(model) if ref.layer.weights]


def get_mask(model: keras.Model) -> dict[str, bool]:
    """Reads which weighted layers would train, as Keras decides it.

    A layer counts as trainable when its trainable weights would be in
    ``model.trainable_weights``: Keras 3 asks the top-level model's flag and
    each variable's own flag.

    Args:
        model: A Keras model.

    Returns:
        Layer name to True (trains) or False (frozen), for every layer that
        holds weights, in model order.

    Raises:
        ValueError: If ``model`` is not a built Keras model (an unbuilt one
            has no weights, so its mask would be empty).
    """
    check_model(model, "get_mask")
    top = bool(model.trainable)
    mask = {}
    for ref in weighted_layers(model):
        trainable_vars = [w for w in ref.layer.weights if w.trainable]
        mask[ref.name] = top and bool(ref.layer.trainable) and bool(trainable_vars)
    return mask


def set_mask(model: keras.Model, mask: dict[str, bool]) -> list[str]:
    """Applies a mask from `get_mask` (or a subset of one) to ``model``.

    Args:
        model: A Keras model.
        mask: Layer name to trainable flag (numpy bools accepted). Layers not
            named keep their flag; an empty mask changes nothing.

    Returns:
        Names of the layers whose flag changed.

    Raises:
        ValueError: If the mask names a layer the model lacks or holds a
            value that is not a bool.
        TypeError: If ``mask`` is not a dict (also a ValueError). A text form
            goes through `freezelab.mask_from_text` first.
    """
    check_model(model, "set_mask", built=False)
    if not isinstance(mask, Mapping):
        hint = (
            " A text form goes through fl.mask_from_text(text, model) first."
            if isinstance(mask, str)
            else ""
        )
        raise ArgumentTypeError(
            f"A mask is a dict from layer name to True/False.{hint} "
            f"Received: mask={describe(mask)} of type {type(mask).__name__}"
        )
    for name, value in mask.items():
        if not isinstance(name, str):
            raise ArgumentTypeError(
                f"Mask keys are layer names (strings). Received: key {name!r} of type "
                f"{type(name).__name__}"
            )
        if not isinstance(value, (bool, np.bool_)):
            raise ArgumentTypeError(
                f"Mask values must be True or False. Received: {name!r}: {value!r}"
            )
    mask = {name: bool(value) for name, value in mask.items()}
    frozen = [name for name, value in mask.items() if not value]
    trainable = [name for name, value in mask.items() if value]
    # Validate every name before changing anything.
    if frozen:
        select_layers(model, frozen)
    if trainable:
        select_layers(model, trainable)
    changed = []
    if frozen:
        changed += freeze(model, frozen)
    if trainable:
        changed += unfreeze(model, trainable)
    return changed


def _resolve(model, refs: list[LayerRef], spec) -> list[keras.layers.Layer]:
    if isinstance(spec, (bool, np.bool_)):
        raise ArgumentTypeError(_bad_spec(spec))
    if is_int(spec):
        count = len(model.layers)
        if not -count <= spec < count:
            raise ValueError(
                f"Layer index out of range: the model has {count} top-level "
                f"layers (model.layers), so valid indices are {-count}..{count - 1}. "
                f"Received: {spec}"
            )
        return [model.layers[int(spec)]]
    if isinstance(spec, slice):
        return list(model.layers[_checked_slice(model, spec)])
    if isinstance(spec, Mapping):
        raise ArgumentTypeError(
            "A dict is a mask, not a selection: freeze() would use its keys and ignore "
            "their True/False values. Apply a mask with fl.set_mask(model, mask), or pass "
            f"the names as a list. Received: {describe(spec)} of type {type(spec).__name__}"
        )
    if isinstance(spec, str):
        return _resolve_name(model, refs, spec)
    if isinstance(spec, keras.layers.Layer):
        known = [ref.layer for ref in refs] + list(model.layers)
        if not any(layer is spec for layer in known):
            raise ValueError(
                f"The layer {spec.name!r} is not part of this model. Received: {spec!r}"
            )
        return [spec]
    if isinstance(spec, Iterable) and not isinstance(spec, bytes):
        result = []
        for item in spec:
            if isinstance(item, (list, tuple)):
                raise ArgumentTypeError(_bad_spec(spec))
            result.extend(_resolve(model, refs, item))
        return result
    raise ArgumentTypeError(_bad_spec(spec))


def _resolve_name(model, refs: list[LayerRef], name: str) -> list[keras.layers.Layer]:
    nested = {layer.name: layer for layer in _nested_models(model)}
    if name in nested:
        return [nested[name]]
    exact = [ref.layer for ref in refs if ref.name == name]
    if exact:
        return exact
    blocks = block_names(refs, include_head=True)
    if name in blocks:
        return [ref.layer for ref in refs if ref.block == name]
    if _GLOB_CHARS & set(name):
        matched = [ref.layer for ref in refs if fnmatch.fnmatchcase(ref.name, name)]
        if matched:
            return matched
        raise ValueError(
            f"The pattern {name!r} matches no layer of the model. "
            f"Layer names look like: {', '.join(repr(r.name) for r in refs[:4])}. "
            f"Received: {name!r}"
        )
    valid = [ref.name for ref in refs] + blocks + list(nested)
    raise ValueError(
        f"No layer or block named {name!r} in model {model.name!r}.{suggestion(name, valid)} "
        f"Accepted: a layer name, a block ({', '.join(blocks) or 'none here'}), a glob "
        f"such as 'block[1-3]_*', an index or a slice. Received: {name!r}"
    )


def _checked_slice(model: keras.Model, spec: slice) -> slice:
    """The slice with numpy bounds made ints; bounds outside the model are an error, as indices."""
    count = len(model.layers)
    bounds = {}
    for part in ("start", "stop", "step"):
        value = getattr(spec, part)
        if value is not None and not is_int(value):
            raise ArgumentTypeError(
                f"Slice bounds must be ints or None. Received: {spec!r} ({part}={value!r})"
            )
        bounds[part] = None if value is None else int(value)
    if bounds["step"] == 0:
        raise ValueError(f"A slice step cannot be zero. Received: {spec!r}")
    outside = [
        f"{part}={bounds[part]}"
        for part in ("start", "stop")
        if bounds[part] is not None and not -count <= bounds[part] <= count
    ]
    if outside:
        raise ValueError(
            f"Slice out of range: the model has {count} top-level layers (model.layers), so "
            f"slice bounds go from {-count} to {count}, as indices go from {-count} to "
            f"{count - 1} ({', '.join(outside)} is outside). A nested model counts as one "
            f"layer there. Received: {spec!r}"
        )
    return slice(bounds["start"], bounds["stop"], bounds["step"])


def _resolve_up_to(refs: list[LayerRef], up_to: str) -> list[keras.layers.Layer]:
    if not isinstance(up_to, str):
        raise ArgumentTypeError(
            f"`up_to` takes a layer or block name. Received: up_to={describe(up_to)}"
        )
    names = [ref.name for ref in refs]
    blocks = block_names(refs, include_head=True)
    if up_to in names:
        last = names.index(up_to)
    elif up_to in blocks:
        last = max(i for i, ref in enumerate(refs) if ref.block == up_to)
    else:
        valid = names + blocks
        matches = closest(up_to, valid)
        hint = f" Closest: {', '.join(repr(m) for m in matches)}." if matches else ""
        raise ValueError(
            f"`up_to` must name a layer or block of the model.{hint} Received: up_to={up_to!r}"
        )
    return [ref.layer for ref in refs[: last + 1]]


def _nested_models(model: keras.Model) -> list[keras.Model]:
    found = []
    for layer in model.layers:
        if is_nested_model(layer):
            found.append(layer)
            found.extend(_nested_models(layer))
    return found


def _reopen_frozen_parents(model: keras.Model, layers: list[keras.layers.Layer]) -> None:
    """Marks the model and nested models trainable again when a layer inside is unfrozen.

    Opening a frozen container sets every layer inside it trainable (Keras's
    rule); the layers that were frozen and are not being unfrozen are frozen
    again, so only ``layers`` change. Outer containers are opened first.
    """
    wanted = {id(layer) for layer in layers}
    for container in [model, *_nested_models(model)]:
        if container.trainable:
            continue
        inner = inner_layers(container)
        if not any(id(layer) in wanted for layer in inner):
            continue
        before = {id(layer): layer.trainable for layer in inner}
        container.trainable = True
        for layer in inner:
            if id(layer) not in wanted and not before[id(layer)]:
                layer.trainable = False


def _bad_spec(spec) -> str:
    return (
        "Layers are selected by an int index, a slice, a layer name, a glob, a "
        "block name, a keras Layer, or a flat list of these. "
        f"Received: {describe(spec)} of type {type(spec).__name__}"
    )
