"""A short text form of a freeze mask, to print and paste back.

A mask (layer name to True = trains, as `freezelab.get_mask` returns it) is
written as two lists, ``F:`` for frozen and ``T:`` for trainable::

    F:block1-3 T:block4-5,head
    F:block1-4,block5_conv1 T:block5_conv2,block5_conv3,head
    T:all

Whole VGG blocks are written by name, runs of whole blocks as ``block1-3``,
and a block that is partly frozen by its layer names. Layers of a model
without VGG block names are always written by name. `mask_from_text` reads
any mix of these (and ``all``) back into a full mask for a given model.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING

import keras
import numpy as np

from freezelab._validation import ArgumentTypeError, check_model, describe, suggestion
from freezelab.core.freezing import weighted_layers
from freezelab.core.layers import block_labels

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

_BLOCK_RANGE = re.compile(r"^block(\d+)-(\d+)$")
_BLOCK_NUMBER = re.compile(r"^block(\d+)$")


def layer_blocks(layer_names: Iterable[str]) -> dict[str, str]:
    """Assigns each layer name its group, the way the text form writes it.

    Args:
        layer_names: Names of the layers with weights, in model order.

    Returns:
        Layer name to ``"blockN"``, ``"head"`` (after a VGG block) or ``""``
        (a model without VGG block names), in order.
    """
    names = list(layer_names)
    return dict(zip(names, block_labels(names)))


def mask_to_text(mask: Mapping[str, bool]) -> str:
    """Writes a mask in its short text form.

    Args:
        mask: Layer name to trainable flag (numpy bools accepted), in model
            order, as `get_mask` returns it.

    Returns:
        The text form, e.g. ``"F:block1-3 T:block4-5,head"``; ``"T:all"`` or
        ``"F:all"`` when every layer agrees, ``""`` for an empty mask (a model
        without weights; `mask_from_text` reads it back).

    Raises:
        ValueError: If ``mask`` is not a mapping of names to bools.
    """
    _check_mask(mask)
    mask = {name: bool(flag) for name, flag in mask.items()}
    if not mask:
        return ""
    values = set(mask.values())
    if len(values) == 1:
        return "T:all" if values.pop() else "F:all"
    items: dict[bool, list[str]] = {False: [], True: []}
    for group, names in _groups(layer_blocks(mask)).items():
        flags = {mask[name] for name in names}
        if group and len(flags) == 1:
            items[flags.pop()].append(group)
        else:
            for name in names:
                items[mask[name]].append(name)
    parts = []
    for flag, letter in ((False, "F"), (True, "T")):
        if items[flag]:
            parts.append(f"{letter}:" + ",".join(_join_block_runs(items[flag])))
    return " ".join(parts)


def mask_from_text(
    text: str, layer_names: Sequence[str] | Mapping[str, bool] | keras.Model
) -> dict[str, bool]:
    """Reads a text form back into a full mask.

    Args:
        text: A text form as `mask_to_text` writes it. Items may be ``all``,
            a block (``block2``, ``head``), a run of blocks (``block1-3``) or
            a layer name; whitespace separates the ``F:`` and ``T:`` parts.
            ``all`` sets every layer the text does not name otherwise, so
            ``"T:all F:block1"`` freezes block1 only.
        layer_names: The weighted layers of the model the mask is for, in
            order: a list of names, a mask dict, or a Keras model.

    Returns:
        Layer name to trainable flag for every layer, in model order.

    Raises:
        ValueError: If the text is not of the form ``F:... T:...``, names a
            layer or block the model lacks, names a layer twice with
            different flags, or leaves layers out.
    """
    names = _names_of(layer_names)
    if not isinstance(text, str):
        raise ArgumentTypeError(
            f"The mask text must be a string such as 'F:block1-3 T:block4-5,head'. "
            f"Received: {text!r} of type {type(text).__name__}"
        )
    blocks = layer_blocks(names)
    groups = _groups(blocks)
    mask: dict[str, bool] = {}
    default: bool | None = None  # from 'all': the flag of every layer not named
    for part in text.split():
        letter, sep, items = part.partition(":")
        if not sep or letter.upper() not in ("F", "T"):
            raise ValueError(
                "Each part of a mask text starts with 'F:' (frozen) or 'T:' (trainable) "
                f"followed by comma-separated layers or blocks. Received: part {part!r} "
                f"in {text!r}"
            )
        flag = letter.upper() == "T"
        for item in filter(None, items.split(",")):
            if item == "all":
                if default is not None and default != flag:
                    raise ValueError(
                        f"The mask text says both 'T:all' and 'F:all'. Received: {text!r}"
                    )
                default = flag
                continue
            for name in _expand(item, names, groups):
                if name in mask and mask[name] != flag:
                    raise ValueError(
                        f"The mask text sets {name!r} both frozen and trainable. Received: {text!r}"
                    )
                mask[name] = flag
    if default is not None:
        mask = {name: mask.get(name, default) for name in names}
    missing = [name for name in names if name not in mask]
    if missing:
        shown = ", ".join(repr(name) for name in missing[:5])
        more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        raise ValueError(
            f"The mask text must give every layer with weights a flag; it leaves out "
            f"{shown}{more}. Use 'all' or block names to cover many at once. "
            f"Received: {text!r}"
        )
    return {name: mask[name] for name in names}


def _expand(item: str, names: list[str], groups: dict[str, list[str]]) -> list[str]:
    if item in groups and item:
        return groups[item]
    if item in names:
        return [item]
    block_run = _BLOCK_RANGE.match(item)
    if block_run:
        first, last = int(block_run.group(1)), int(block_run.group(2))
        wanted = [f"block{n}" for n in range(first, last + 1)]
        absent = [block for block in wanted if block not in groups]
        if first > last or absent:
            raise ValueError(
                f"The block run {item!r} names blocks the model lacks "
                f"({', '.join(absent) or 'empty run'}). Blocks: "
                f"{', '.join(g for g in groups if g) or 'none'}. Received: {item!r}"
            )
        return [name for block in wanted for name in groups[block]]
    valid = ["all", *(g for g in groups if g), *names]
    raise ValueError(
        f"Unknown layer or block {item!r} in the mask text.{suggestion(item, valid)} "
        f"Accepted: 'all', a block, a run such as 'block1-3', or a layer name. "
        f"Received: {item!r}"
    )


def _groups(blocks: Mapping[str, str]) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    for name, block in blocks.items():
        groups.setdefault(block, []).append(name)
    return groups


def _join_block_runs(items: list[str]) -> list[str]:
    """Writes consecutive whole blocks (block1, block2, block3) as block1-3."""
    joined: list[str] = []
    run: list[int] = []

    def close_run():
        if len(run) == 1:
            joined.append(f"block{run[0]}")
        elif run:
            joined.append(f"block{run[0]}-{run[-1]}")
        run.clear()

    for item in items:
        number = _BLOCK_NUMBER.match(item)
        if number and (not run or int(number.group(1)) == run[-1] + 1):
            run.append(int(number.group(1)))
            continue
        close_run()
        if number:
            run.append(int(number.group(1)))
        else:
            joined.append(item)
    close_run()
    return joined


def _names_of(layer_names) -> list[str]:
    if isinstance(layer_names, Mapping):
        _check_mask(layer_names)
        return list(layer_names)
    if isinstance(layer_names, keras.Model):
        check_model(layer_names, "mask_from_text")
        return [ref.name for ref in weighted_layers(layer_names)]
    if isinstance(layer_names, (list, tuple)) and all(isinstance(n, str) for n in layer_names):
        return list(layer_names)
    raise ArgumentTypeError(
        "layer_names takes the model's weighted layer names (a list), a mask dict, "
        f"or a Keras model. Received: layer_names={describe(layer_names)} of type "
        f"{type(layer_names).__name__}"
    )


def _check_mask(mask) -> None:
    if not isinstance(mask, Mapping) or not all(
        isinstance(name, str) and isinstance(flag, (bool, np.bool_)) for name, flag in mask.items()
    ):
        raise ArgumentTypeError(
            "A mask is a dict from layer name to True (trains) or False (frozen), as "
            f"freezelab.get_mask returns it. Received: mask={describe(mask)}"
        )
