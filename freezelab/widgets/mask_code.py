"""The plain Keras a learner writes for a freeze mask, as text the panel shows.

`mask_code` turns a mask (layer name to True = trains) into the lines that
set those flags on ``model`` and compile it again, so the panel always shows
the code behind its ticks::

    print(mask_code({"block1_conv1": False, "dense": True}))
    # model.trainable = True  # if False, no layer trains, whatever the loop sets
    # trains = {"dense"}
    # for layer in model.layers:
    #     layer.trainable = layer.name in trains
    # # a fresh optimizer after every change to trainable
    # model.compile(...)
"""

from __future__ import annotations

# The comment sits on its own line: trailing the call, it wrapped mid-phrase in a narrow panel.
COMPILE_LINE = (
    "# a fresh optimizer after every change to trainable\n"
    "model.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-4), "
    'loss="sparse_categorical_crossentropy")'
)
_WIDTH = 88
# Says why the model's own flag is set: a model-level False freezes every layer, whatever
# the layers' flags. 75 characters: one line in the code box at 1024 px (about 80 fit).
_OWN_FLAG = "model.trainable = True  # if False, no layer trains, whatever the loop sets"


def mask_code(mask: dict[str, bool], compile_line: str = COMPILE_LINE) -> str:
    """The Keras code that gives ``model`` exactly this mask, then recompiles.

    Whatever the flags were before, running the code leaves every layer of
    the mask trainable or frozen as the mask says. It names the smaller of
    the two sets (the layers that train, or the frozen ones) in one loop
    over ``model.layers`` that sets every layer's flag, after
    ``model.trainable = True`` (a model whose own flag is False trains
    nothing, whatever its layers' flags say). The loop is kept even when
    every layer trains: on TensorFlow, setting ``model.trainable = True`` on
    a model whose flag is already True does not reach its layers. The
    compile line uses a fresh ``Adam(learning_rate=1e-4)``, the rate the
    lessons use, so the code needs ``import keras``. A mask where every layer
    is frozen is one line, ``model.trainable = False``.

    Args:
        mask: Layer name to True (trains) or False (frozen), in model order,
            as `freezelab.get_mask` or ``panel.mask`` give it.
        compile_line: The last lines (a comment, then the compile call).

    Returns:
        Python source, lines separated by newlines.

    Raises:
        ValueError: If ``mask`` is not a non-empty dict from str to bool.
    """
    if not isinstance(mask, dict) or not mask:
        raise ValueError(
            "mask_code takes a non-empty dict from layer name to True/False. "
            f"Received: mask={mask!r}"
        )
    bad = {k: v for k, v in mask.items() if not isinstance(k, str) or not isinstance(v, bool)}
    if bad:
        raise ValueError(
            f"mask_code needs str layer names and True/False values. Received: {bad!r}"
        )
    trains = [name for name, flag in mask.items() if flag]
    frozen = [name for name, flag in mask.items() if not flag]
    if not trains:
        return "\n".join(["model.trainable = False  # every layer is frozen", compile_line])
    lines = [_OWN_FLAG]
    if not frozen:
        lines += ["for layer in model.layers:", "    layer.trainable = True  # every layer trains"]
    elif len(trains) <= len(frozen):
        lines += [
            *_name_set("trains", trains),
            "for layer in model.layers:",
            "    layer.trainable = layer.name in trains",
        ]
    else:
        lines += [
            *_name_set("frozen", frozen),
            "for layer in model.layers:",
            "    layer.trainable = layer.name not in frozen",
        ]
    return "\n".join([*lines, compile_line])


def _name_set(variable: str, names: list[str]) -> list[str]:
    """``variable = {"a", "b"}`` on one line, or one name a line when it is too long."""
    quoted = [f'"{name}"' for name in names]
    one_line = f"{variable} = {{{', '.join(quoted)}}}"
    if len(one_line) <= _WIDTH:
        return [one_line]
    return [f"{variable} = {{", *(f"    {name}," for name in quoted), "}"]
