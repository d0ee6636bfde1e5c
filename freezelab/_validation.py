"""Argument checks shared by every public function: one place, one style of error.

Each check returns the value in its plain form (an ``int`` for a numpy
integer, a float for a number, an array for an image) or raises an error in
Keras's style: what is accepted, the closest valid choices where there are
names, and ``Received: name=<value>``.

* A value of the wrong **type** raises `ArgumentTypeError`: a ``TypeError``
  that is also a ``ValueError``, so ``except ValueError`` (Keras's usual
  argument error, and what freezelab raised before) still catches it.
* A value of the right type outside what is accepted raises ``ValueError``.

What is accepted everywhere:

* numpy integers wherever an int is (``np.argmax`` returns one), numpy
  bools wherever a bool is;
* never ``True``/``False`` where a count or an index is meant, and never a
  float where an int is meant (``2.0``: write 2).

Empty input, one rule: an explicitly empty list passed to a function that
*changes* flags (``freeze(model, [])``, ``set_mask(model, {})``) changes
nothing and returns an empty list, as documented; a selection that comes out
empty although it was not written empty (a slice such as ``slice(5, 5)``)
does the same with an `EmptySelectionWarning`; a function that must *make*
something from its input (a sweep from cases, feature maps from channels,
pictures from filters) raises ``ValueError`` for an empty one.
"""

from __future__ import annotations

import difflib
import math
import warnings
from collections.abc import Iterable

import keras
import numpy as np


class ArgumentTypeError(TypeError, ValueError):
    """An argument of the wrong type (both a ``TypeError`` and a ``ValueError``)."""


class EmptySelectionWarning(UserWarning):
    """A selection that is legal but selects nothing, so nothing changes."""


def closest(received: str, choices: Iterable[str], limit: int = 3) -> list[str]:
    """Returns up to ``limit`` valid choices that look most like ``received``."""
    choices = list(choices)
    matches = difflib.get_close_matches(received, choices, n=limit, cutoff=0.5)
    if not matches:
        prefix = received.split("_")[0]
        matches = [c for c in choices if c.startswith(prefix)][:limit]
    return matches


def suggestion(received: str, choices: Iterable[str]) -> str:
    """A "Did you mean ...?" phrase, or an empty string when nothing is close."""
    matches = closest(received, choices)
    if not matches:
        return ""
    return " Did you mean: " + ", ".join(repr(m) for m in matches) + "?"


def describe(value: object, limit: int = 160) -> str:
    """A short text naming ``value`` for an error message.

    Arrays are described by shape and dtype (their numbers would flood the
    message); other values by ``repr``, cut at ``limit`` characters.
    """
    if isinstance(value, np.ndarray):
        return f"array of shape {value.shape} and dtype {value.dtype}"
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def received(name: str, value: object) -> str:
    """``"Received: name=<value>"``, the closing phrase of every error."""
    return f"Received: {name}={describe(value)}"


def is_int(value: object) -> bool:
    """True for an int or numpy integer, False for bools and everything else."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def check_int(
    value: object,
    name: str,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
) -> int:
    """Checks an int argument (numpy integers accepted) and its range.

    Args:
        value: The argument.
        name: Its name, for the message.
        minimum: Smallest accepted value, or None.
        maximum: Largest accepted value, or None.

    Returns:
        The value as a Python int.

    Raises:
        ArgumentTypeError: For a value that is not an int (bools and floats
            included).
        ValueError: For an int outside ``minimum..maximum``.
    """
    accepted = f"`{name}` must be an int{_range_text(minimum, maximum)}."
    if not is_int(value):
        raise ArgumentTypeError(
            f"{accepted} {received(name, value)} of type {type(value).__name__}"
        )
    value = int(value)
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise ValueError(f"{accepted} {received(name, value)}")
    return value


def check_float(
    value: object,
    name: str,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    above: float | None = None,
) -> float:
    """Checks a finite number (int, float or numpy number) and its range.

    Args:
        value: The argument.
        name: Its name, for the message.
        minimum: Smallest accepted value (inclusive), or None.
        maximum: Largest accepted value (inclusive), or None.
        above: A bound the value must exceed (exclusive), or None.

    Returns:
        The value as a Python float.

    Raises:
        ArgumentTypeError: For a value that is not a number (bools included).
        ValueError: For NaN, infinity, or a value out of range.
    """
    parts = []
    if above is not None:
        parts.append(f"above {above:g}")
    if minimum is not None:
        parts.append(f"at least {minimum:g}")
    if maximum is not None:
        parts.append(f"at most {maximum:g}")
    accepted = f"`{name}` must be a finite number" + (" " + " and ".join(parts) if parts else "")
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)):
        raise ArgumentTypeError(
            f"{accepted}. {received(name, value)} of type {type(value).__name__}"
        )
    number = float(value)
    if (
        not math.isfinite(number)
        or (above is not None and number <= above)
        or (minimum is not None and number < minimum)
        or (maximum is not None and number > maximum)
    ):
        raise ValueError(f"{accepted}. {received(name, value)}")
    return number


def check_timeout(value: object, name: str = "timeout") -> float:
    """Checks a time bound in seconds: a finite number above 0.

    Raises:
        ArgumentTypeError: For a value that is not a number (None included:
            every wait in freezelab is bounded).
        ValueError: For 0, a negative number, NaN or infinity.
    """
    return check_float(value, name, above=0.0)


def check_bool(value: object, name: str) -> bool:
    """Checks a True/False argument (numpy bools accepted).

    Raises:
        ArgumentTypeError: For anything else, 0 and 1 included.
    """
    if not isinstance(value, (bool, np.bool_)):
        raise ArgumentTypeError(
            f"`{name}` must be True or False. {received(name, value)} of type "
            f"{type(value).__name__}"
        )
    return bool(value)


def check_str(value: object, name: str, *, allow_empty: bool = False) -> str:
    """Checks a string argument.

    Raises:
        ArgumentTypeError: For a value that is not a string.
        ValueError: For an empty string, unless ``allow_empty``.
    """
    if not isinstance(value, str):
        raise ArgumentTypeError(
            f"`{name}` must be a string. {received(name, value)} of type {type(value).__name__}"
        )
    if not value and not allow_empty:
        raise ValueError(f"`{name}` must not be empty. {received(name, value)}")
    return value


def check_choice(value: object, name: str, choices: Iterable) -> object:
    """Checks that ``value`` is one of ``choices``, suggesting close ones.

    Raises:
        ValueError: For any other value.
    """
    choices = list(choices)
    try:
        if value in choices:
            return value
    except TypeError:  # An unhashable or incomparable value is not a choice.
        pass
    hint = (
        suggestion(value, [c for c in choices if isinstance(c, str)])
        if isinstance(value, str)
        else ""
    )
    raise ValueError(
        f"`{name}` must be one of {', '.join(repr(c) for c in choices)}.{hint} "
        f"{received(name, value)}"
    )


def check_model(model: object, purpose: str, *, built: bool = True) -> keras.Model:
    """Checks that ``model`` is a Keras model, and (by default) a built one.

    An unbuilt model (a Sequential without ``keras.Input``, a subclassed
    model never called) has no weights yet: counts would be 0 and masks empty.

    Args:
        model: The argument.
        purpose: The function asking, for the message (``"param_report"``).
        built: Also require the model to be built.

    Returns:
        The model.

    Raises:
        ArgumentTypeError: If ``model`` is not a Keras model (None, a name,
            a layer).
        ValueError: If ``built`` and the model is not built.
    """
    if not isinstance(model, keras.Model):
        hint = ""
        if isinstance(model, str):
            hint = (
                " Pass the model object, not its name: e.g. base = fl.load_vgg16(...), "
                "then use base."
            )
        elif isinstance(model, keras.layers.Layer):
            hint = " A single layer is not a model: wrap it, e.g. keras.Sequential([...])."
        raise ArgumentTypeError(
            f"{purpose} expects a Keras model (keras.Model, Sequential or Functional).{hint} "
            f"{received('model', model)} of type {type(model).__name__}"
        )
    if built and not model.built:
        raise ValueError(
            f"{purpose} needs a built model, and model {model.name!r} is not built yet: its "
            "layers have no weights, so every count would be 0. Give it an input first, e.g. "
            "keras.Sequential([keras.Input(shape=(100,)), ...]), or call "
            f"model.build(input_shape). {received('model', model)}"
        )
    return model


def check_array(
    values: object,
    name: str,
    *,
    finite: bool = True,
    ndim: int | tuple[int, ...] | None = None,
    shape_hint: str = "",
) -> np.ndarray:
    """Checks a numeric array argument: numbers only, not empty, finite.

    One NaN pixel would make a whole heatmap NaN and Grad-CAM explain class 0
    with score nan; so NaN and infinity are refused where they would spread.

    Args:
        values: An array, tensor or nested list of numbers.
        name: Its name, for the message.
        finite: Refuse NaN and infinite values.
        ndim: Accepted numbers of axes, or None for any.
        shape_hint: What the axes mean, e.g. ``"(H, W, C)"``.

    Returns:
        The values as a NumPy array (not copied when already one).

    Raises:
        ArgumentTypeError: For values that are not numbers (strings, None,
            ragged lists).
        ValueError: For an empty array, a wrong number of axes, or NaN /
            infinite values.
    """
    try:
        array = np.asarray(values)
    except (TypeError, ValueError) as error:
        raise ArgumentTypeError(
            f"`{name}` must be an array of numbers. {received(name, values)} ({error})"
        ) from None
    if array.dtype.kind not in "biuf":
        raise ArgumentTypeError(
            f"`{name}` must be an array of numbers. {received(name, values)} "
            f"(an array of dtype {array.dtype})"
        )
    ndims = (ndim,) if isinstance(ndim, int) else ndim
    if ndims and array.ndim not in ndims:
        axes = " or ".join(str(n) for n in ndims)
        hint = f" {shape_hint}" if shape_hint else ""
        raise ValueError(
            f"`{name}` must have {axes} axes{hint}. Received: {name} of shape {array.shape}"
        )
    if array.size == 0:
        raise ValueError(f"`{name}` is empty. Received: {name} of shape {array.shape}")
    if finite and array.dtype.kind == "f":
        bad = ~np.isfinite(array)
        if bad.any():
            first = tuple(int(i) for i in np.argwhere(bad)[0])
            nans = int(np.isnan(array).sum())
            raise ValueError(
                f"`{name}` holds {nans} NaN and {int(bad.sum()) - nans} infinite values "
                f"(the first at index {first}); they would spread through every result "
                f"(a heatmap all NaN, a class score nan). Replace them, e.g. with "
                f"np.nan_to_num, or find where they came from. Received: {name}="
                f"{describe(array)} with {int(bad.sum())} non-finite values"
            )
    return array


def check_indices(values: object, name: str, count: int, owner: str) -> list[int]:
    """Checks indices into ``count`` items: one int, or a non-empty list, tuple or range.

    Args:
        values: An int (numpy integers accepted) or an iterable of them.
        name: The argument's name (``"channels"``, ``"filters"``).
        count: How many items there are; indices run 0..count-1.
        owner: What holds the items, for the message (``"Layer 'conv'"``).

    Returns:
        The indices as a list of ints.

    Raises:
        ArgumentTypeError: For a float, a string, a bool or a nested list.
        ValueError: For an empty selection or an index out of range.
    """
    accepted = f"{owner} has {name} 0..{count - 1}; pass one int or a list, tuple or range of ints"
    if is_int(values):
        items = [values]
    elif isinstance(values, (str, bytes, dict)) or not isinstance(values, Iterable):
        raise ArgumentTypeError(
            f"{accepted}. {received(name, values)} of type {type(values).__name__}"
        )
    else:
        items = list(values)
    wrong = [v for v in items if not is_int(v)]
    if wrong:
        raise ArgumentTypeError(
            f"{accepted}. Received: {name}={describe(values)} (not an int: {describe(wrong[0])})"
        )
    selected = [int(v) for v in items]
    shown = selected if not is_int(values) else int(values)
    if not selected or any(not 0 <= v < count for v in selected):
        raise ValueError(f"{owner} has {name} 0..{count - 1}. Received: {name}={shown}")
    return selected


def warn_empty(message: str, stacklevel: int = 3) -> None:
    """Warns with an `EmptySelectionWarning` that a selection selected nothing."""
    warnings.warn(EmptySelectionWarning(message), stacklevel=stacklevel)


def _range_text(minimum: int | None, maximum: int | None) -> str:
    if minimum is not None and maximum is not None:
        return f" from {minimum} to {maximum}"
    if minimum is not None:
        return f" of at least {minimum}"
    if maximum is not None:
        return f" of at most {maximum}"
    return ""
