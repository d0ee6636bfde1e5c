"""Reading a model's input shape and a layer's output shape, with clear errors."""

from __future__ import annotations

import keras


def model_input_shape(
    model: keras.Model, purpose: str = "this", fixed: bool = False
) -> tuple[int | None, ...]:
    """The shape of ``model``'s single input, without the batch axis.

    Args:
        model: A built Keras model.
        purpose: What needs the shape, for the error message (e.g.
            ``"time_train_step"``).
        fixed: Also require every size to be known (no ``None``).

    Returns:
        The shape, e.g. ``(96, 96, 3)``; unknown sizes are None unless
        ``fixed``.

    Raises:
        ValueError: If the model has no known input, more than one input,
            or (with ``fixed``) an input of unknown size.
    """
    inputs = getattr(model, "inputs", None) if isinstance(model, keras.Model) else None
    if not inputs:
        name = getattr(model, "name", model)
        raise ValueError(
            f"{purpose} needs a built model with a known input, such as a Functional "
            f"or Sequential model built with keras.Input. Received: model {name!r}"
        )
    if len(inputs) != 1:
        raise ValueError(f"{purpose} works on single-input models. Received: {len(inputs)} inputs")
    dims = tuple(None if d is None else int(d) for d in inputs[0].shape[1:])
    if fixed and any(d is None for d in dims):
        raise ValueError(
            f"{purpose} needs a fixed input size, e.g. load_vgg16(input_size=96). "
            f"Received: input shape {tuple(inputs[0].shape)}"
        )
    return dims


def square_input_side(model: keras.Model, purpose: str = "this", fixed: bool = False) -> int | None:
    """The side of the square image ``model`` takes, or None for any size.

    Args:
        model: A built image model with inputs ``(height, width, channels)``.
        purpose: What needs the size, for the error message.
        fixed: Require a fixed size (never return None).

    Returns:
        The side in pixels, or None when the model accepts any size.

    Raises:
        ValueError: If the input is not an image, is not square, or (with
            ``fixed``) has no fixed size.
    """
    shape = model_input_shape(model, purpose, fixed=fixed)
    if len(shape) != 3:
        raise ValueError(
            f"{purpose} needs an image model with inputs (height, width, channels). "
            f"Received: input shape {(None, *shape)}"
        )
    height, width = shape[:2]
    if height is None or width is None:
        return None
    if height != width:
        raise ValueError(f"{purpose} needs a square input. Received: {height}x{width}")
    return height


def output_shape(layer: keras.layers.Layer) -> tuple | None:
    """A layer's output shape with None for the batch, or None when unknown."""
    try:
        shape = layer.output.shape
    except (AttributeError, ValueError):
        try:
            shape = layer.compute_output_shape(layer.input.shape)
        except Exception:
            return None
    return tuple(shape) if shape is not None else None
