"""What a layer outputs for an image: feature maps, and heatmaps laid over the image.

Every function takes a *model-ready* input: for VGG16 and the teacher, a photo
passed through `freezelab.vis.images.to_caffe` first. A heatmap is upsampled to
the input's size, so it can be laid over the photo with `overlay`. Inputs with
NaN or infinite values are refused (one NaN pixel would make the whole map
NaN), as are inputs of another size than the model takes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import keras
import numpy as np

from freezelab._validation import (
    check_array,
    check_choice,
    check_float,
    check_indices,
    check_int,
    check_model,
    check_str,
    suggestion,
)
from freezelab.core.layers import iter_layers
from freezelab.core.shapes import model_input_shape

if TYPE_CHECKING:
    from freezelab.core.layers import LayerRef


def conv_layer_names(model: keras.Model) -> list[str]:
    """Names of the 2D convolution layers of ``model``, early to late, nested models opened.

    Raises:
        ValueError: If ``model`` is not a Keras model.
    """
    check_model(model, "conv_layer_names", built=False)
    return [ref.name for ref in iter_layers(model) if isinstance(ref.layer, keras.layers.Conv2D)]


def find_layer(model: keras.Model, layer_name: str) -> LayerRef:
    """The `LayerRef` of a computing layer of ``model`` by name.

    Raises:
        ValueError: If ``model`` is not a built Keras model, ``layer_name`` is
            not a string, or no layer has that name (close names suggested).
    """
    check_model(model, "find_layer")
    check_str(layer_name, "layer_name")
    refs = iter_layers(model)
    for ref in refs:
        if ref.name == layer_name:
            return ref
    names = [ref.name for ref in refs]
    raise ValueError(
        f"Model {model.name!r} has no layer {layer_name!r}.{suggestion(str(layer_name), names)} "
        f"Received: layer_name={layer_name!r}"
    )


def feature_model(model: keras.Model, layer_name: str) -> keras.Model:
    """A model from ``model``'s input to the output of one of its layers.

    A layer inside a nested base (``base(inputs)``) is reached from that
    base's own input, which for the lessons' models is the image itself.

    Args:
        model: A built Functional or Sequential model.
        layer_name: Name of the layer whose output is wanted.

    Returns:
        A Keras model sharing ``model``'s layers and weights.

    Raises:
        ValueError: If the layer does not exist.
    """
    ref = find_layer(model, layer_name)
    owner = model
    for name in ref.path[:-1]:
        owner = owner.get_layer(name)
    return keras.Model(single_input(owner), ref.layer.output, name=f"{layer_name}_features")


def spatial_layer(model: keras.Model, layer_name: str, purpose: str) -> LayerRef:
    """The `LayerRef` of a layer whose output is a feature map ``(N, h, w, channels)``.

    Args:
        model: The model.
        layer_name: A layer of ``model``.
        purpose: What needs the feature map, for the message.

    Returns:
        The layer's `LayerRef`.

    Raises:
        ValueError: For an unknown layer, or a layer without spatial output
            (a Dense or pooled layer); the message lists the convolutions.
    """
    ref = find_layer(model, layer_name)
    try:
        shape = tuple(ref.layer.output.shape)
    except (AttributeError, ValueError):
        return ref  # Output unknown until called: checked on the result.
    if len(shape) != 4:
        convs = conv_layer_names(model)
        known = f"; the last is {convs[-1]!r}" if convs else ""
        raise ValueError(
            f"{purpose} needs a layer with spatial output (h, w, channels), such as a Conv2D. "
            f"Layer {layer_name!r} is a {type(ref.layer).__name__} layer with output {shape}. "
            f"This model has {len(convs)} Conv2D layer(s){known}. "
            f"Received: layer_name={layer_name!r}"
        )
    return ref


def check_fits(model: keras.Model, batch: np.ndarray, purpose: str) -> None:
    """Refuses a batch whose image size or channels differ from what ``model`` takes.

    Raises:
        ValueError: If a known size of the model's input differs from the batch's.
    """
    expected = model_input_shape(model, purpose)
    got = tuple(batch.shape[1:])
    if len(expected) != len(got) or any(e is not None and e != g for e, g in zip(expected, got)):
        wanted = "(" + ", ".join("any" if e is None else str(e) for e in expected) + ")"
        raise ValueError(
            f"{purpose}: model {model.name!r} takes inputs of shape {wanted} per image. "
            f"Received: inputs of shape {got}"
        )


def single_input(model: keras.Model) -> keras.KerasTensor | list[keras.KerasTensor]:
    """``model``'s input tensor, unwrapped from its list when there is one input."""
    return model.inputs[0] if len(model.inputs) == 1 else model.inputs


def layer_output(model: keras.Model, inputs: np.ndarray, layer_name: str) -> np.ndarray:
    """The output of ``layer_name`` for one input or a batch.

    Args:
        model: The model.
        inputs: One model-ready input ``(H, W, C)`` or a batch ``(N, H, W, C)``.
        layer_name: A layer of ``model``.

    Returns:
        A NumPy array; for one input the batch axis is dropped.

    Raises:
        ValueError: For an unknown layer or an input of the wrong rank.
    """
    batch, single = _as_batch(inputs)
    check_model(model, "layer_output")
    check_fits(model, batch, "layer_output")
    output = keras.ops.convert_to_numpy(feature_model(model, layer_name)(batch, training=False))
    return output[0] if single else output


def feature_maps(
    model: keras.Model,
    inputs: np.ndarray,
    layer_name: str,
    channels: range | list[int] | None = None,
) -> np.ndarray:
    """The feature maps of one input at a convolutional layer.

    Args:
        model: The model.
        inputs: One model-ready input ``(H, W, C)``, finite numbers.
        layer_name: A layer whose output has spatial axes ``(h, w, channels)``.
        channels: Which channels to keep (ints, numpy integers accepted); all
            when None.

    Returns:
        A float32 array ``(h, w, len(channels))``.

    Raises:
        ValueError: For a batch input, NaN or infinite values, a layer
            without spatial output, or a channel index out of range (an empty
            list included).
        TypeError: For channels that are not ints (also a ValueError).
    """
    check_model(model, "feature_maps")
    inputs = check_array(inputs, "inputs")
    spatial_layer(model, layer_name, "feature_maps")
    if inputs.ndim != 3:
        raise ValueError(
            "feature_maps takes one input (H, W, C); index a batch first. "
            f"Received: inputs of shape {inputs.shape}"
        )
    maps = layer_output(model, inputs, layer_name)
    if maps.ndim != 3:
        raise ValueError(
            f"Layer {layer_name!r} has no spatial output (h, w, channels). "
            f"Received: layer output of shape {maps.shape}"
        )
    selected = _check_channels(channels, maps.shape[-1], layer_name)
    return maps[..., selected].astype(np.float32)


def heatmap(
    model: keras.Model,
    inputs: np.ndarray,
    layer_name: str,
    channel: int | None = None,
) -> np.ndarray:
    """Where a layer responds in an image, upsampled to the image's size.

    Args:
        model: The model.
        inputs: One model-ready input ``(H, W, C)``.
        layer_name: A layer with spatial output.
        channel: One channel (an int) to show; None takes the mean over all
            channels.

    Returns:
        A float32 ``(H, W)`` array scaled to 0..1 (min to max; all zeros when
        the response is flat).

    Raises:
        ValueError: As `feature_maps`, or for a channel that is not an int.
    """
    if channel is not None:
        check_int(channel, "channel")  # range: checked with the layer's channels below
    channels = None if channel is None else [channel]
    maps = feature_maps(model, inputs, layer_name, channels)
    return upsample(maps.mean(axis=-1), np.asarray(inputs).shape[:2])


def upsample(coarse: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinearly resizes a 2D map to ``size`` and scales it to 0..1.

    Args:
        coarse: A 2D array.
        size: ``(height, width)`` of the result.

    Returns:
        A float32 array of shape ``size``, min-max scaled to 0..1 (zeros when
        the map is flat).

    Raises:
        ValueError: For a map that is not 2D or not finite, or a size that is
            not two positive ints.
    """
    from skimage.transform import resize

    coarse = check_array(coarse, "coarse", ndim=2, shape_hint="(h, w)")
    if not isinstance(size, (tuple, list)) or len(size) != 2:
        raise ValueError(f"size takes (height, width). Received: size={size!r}")
    size = tuple(check_int(side, "size", minimum=1) for side in size)

    fine = resize(np.asarray(coarse, np.float64), size, order=1, mode="edge", anti_aliasing=False)
    return normalize(fine)


def normalize(values: np.ndarray) -> np.ndarray:
    """Min-max scales an array to 0..1; a flat array becomes zeros.

    Raises:
        ValueError: For an empty array or one with NaN or infinite values.
    """
    values = check_array(values, "values").astype(np.float64)
    span = values.max() - values.min()
    if span <= 0:
        return np.zeros(values.shape, np.float32)
    return ((values - values.min()) / span).astype(np.float32)


def overlay(
    image: np.ndarray, heat: np.ndarray, alpha: float = 0.45, colormap: str = "jet"
) -> np.ndarray:
    """Lays a 0..1 heatmap, coloured with a colormap, over an RGB photo.

    Args:
        image: ``(H, W, 3)`` RGB photo, uint8 or floats 0..255.
        heat: ``(H, W)`` heatmap in 0..1.
        alpha: Weight of the heatmap, 0 (photo only) to 1 (heatmap only).
        colormap: A matplotlib colormap name.

    Returns:
        A uint8 ``(H, W, 3)`` RGB picture.

    Raises:
        ValueError: If the sizes differ, alpha is outside 0..1, the colormap
            is unknown (close names suggested), or the image or heatmap holds
            NaN or infinite values.
    """
    from matplotlib import colormaps

    image = check_array(image, "image").astype(np.float32)
    heat = check_array(heat, "heat").astype(np.float32)
    if image.shape[:2] != heat.shape or image.shape[-1] != 3:
        raise ValueError(
            "overlay needs an (H, W, 3) image and an (H, W) heatmap of the same size. "
            f"Received: image {image.shape}, heatmap {heat.shape}"
        )
    check_float(alpha, "alpha", minimum=0.0, maximum=1.0)
    check_choice(check_str(colormap, "colormap"), "colormap", list(colormaps))
    colours = colormaps[colormap](np.clip(heat, 0, 1))[..., :3] * 255.0
    blended = (1 - alpha) * image + alpha * colours
    return np.clip(np.round(blended), 0, 255).astype(np.uint8)


def peak_location(heat: np.ndarray) -> tuple[int, int]:
    """``(row, column)`` of a heatmap's largest value (the first one on ties).

    Raises:
        ValueError: For a map that is not 2D, empty, or holds NaN.
    """
    heat = check_array(heat, "heat", ndim=2, shape_hint="(H, W)")
    row, column = np.unravel_index(int(np.argmax(heat)), np.asarray(heat).shape)
    return int(row), int(column)


def _as_batch(inputs) -> tuple[np.ndarray, bool]:
    array = check_array(inputs, "inputs").astype(np.float32, copy=False)
    if array.ndim == 3:
        return array[None], True
    if array.ndim == 4:
        return array, False
    raise ValueError(
        "Expected one input (H, W, C) or a batch (N, H, W, C). "
        f"Received: inputs of shape {array.shape}"
    )


def _check_channels(channels, count: int, layer_name: str) -> list[int]:
    if channels is None:
        return list(range(count))
    return check_indices(channels, "channels", count, f"Layer {layer_name!r}")
