"""The target of gradient ascent: each picture's own filter, and only the filters asked for.

Gradient ascent raises, for picture ``i`` of a batch, the interior mean of
filter ``filters[i]`` of one layer. A convolution computes all its filters,
though only the chosen ones enter the target. Where the layer is a plain
``Conv2D`` (channels last, one group, float32), `FilterTarget` runs the model
up to the layer's *input* and the convolution with the chosen filters' kernel
columns only: the same sums for those filters, with a share of the layer's
work (16 of VGG16's 256 ``block3_conv1`` filters: a sixteenth), forward and
backward. Any other layer is computed whole, as the model computes it.

The reported activations (before and after the ascent) come from a forward
pass of the whole feature model, so they are what `filter_activation` and
the model itself give.
"""

from __future__ import annotations

from typing import Any, TypeVar

import keras
import numpy as np

from freezelab.core.keras_adapter import call_count
from freezelab.vis.activations import feature_model, find_layer
from freezelab.vis.gradients import forward_fn, input_gradient_fn

_Maps = TypeVar("_Maps")


def interior(feature_maps: _Maps, border: float) -> _Maps:
    """``(N, h, w, C)`` maps without ``border`` of each side (never below one pixel).

    Ascent targets the interior: at the edges, zero padding and the wrap-around
    of jitter would otherwise draw stripes along the border.
    """
    height, width = feature_maps.shape[1], feature_maps.shape[2]
    top = min(int(height * border), (height - 1) // 2)
    left = min(int(width * border), (width - 1) // 2)
    return feature_maps[:, top : height - top, left : width - left, :]


def one_hot(filters: list[int], channels: int) -> np.ndarray:
    """``(len(filters), channels)`` float32 rows, a 1 at each picture's own filter."""
    return np.eye(channels, dtype=np.float32)[list(filters)]


def selected_means(outputs: np.ndarray, filters: list[int], border: float) -> np.ndarray:
    """Interior mean of filter ``filters[i]`` in ``outputs[i]``, as float32 ``(N,)``."""
    means = interior(outputs, border).mean(axis=(1, 2))
    return (means * one_hot(filters, outputs.shape[-1])).sum(axis=-1).astype(np.float32)


def computes_chosen_filters_only(layer: keras.layers.Layer) -> bool:
    """Whether `FilterTarget` can compute ``layer``'s chosen filters alone.

    True for a plain ``Conv2D``: Keras's own ``call`` and convolution, channels
    last, one group, a float32 policy (neither mixed precision nor quantized)
    and one call site in the model. Anything else is computed whole.
    """
    conv = keras.layers.Conv2D
    if not (
        isinstance(layer, conv)
        and type(layer).call is conv.call
        and type(layer).convolution_op is conv.convolution_op
        and layer.groups == 1
        and layer.data_format == "channels_last"
        and layer.dtype_policy.name == "float32"
    ):
        return False
    return call_count(layer) == 1


class FilterTarget:
    """Gradient and activation of each picture's own filter of one layer.

    Build one per model, layer and border (building traces compiled functions);
    it reads the model's weights whenever it runs, so it stays right after the
    model is trained.

    Attributes:
        extractor: The feature model from the image to the layer's output.
        channels: The layer's number of filters.
        chosen_only: True where only the chosen filters are computed (see
            `computes_chosen_filters_only`).
    """

    def __init__(self, model: keras.Model, layer_name: str, border: float):
        self.extractor = feature_model(model, layer_name)
        self.channels = int(self.extractor.output.shape[-1])
        self.border = border
        layer = find_layer(model, layer_name).layer
        self.chosen_only = computes_chosen_filters_only(layer)
        self._forward = forward_fn(self.extractor)
        if self.chosen_only:
            self._conv = layer
            below = keras.Model(self.extractor.input, layer.input, name=f"{layer_name}_input")
            self._gradient = input_gradient_fn(below, _chosen_filters_objective(layer, border))
        else:
            self._gradient = input_gradient_fn(self.extractor, _whole_layer_objective(border))

    def weights_for(self, filters: list[int]) -> tuple[np.ndarray, ...]:
        """What the gradient needs besides the pictures, read from the current weights.

        Args:
            filters: One filter index per picture of the batch.

        Returns:
            For a layer computed whole, the one-hot rows of ``filters``; else the
            chosen filters' kernel columns, their biases and the identity that
            picks picture ``i``'s own filter ``i``.
        """
        if not self.chosen_only:
            return (one_hot(filters, self.channels),)
        kernel = keras.ops.convert_to_numpy(self._conv.kernel)[..., list(filters)]
        if self._conv.use_bias:
            bias = keras.ops.convert_to_numpy(self._conv.bias)[list(filters)]
        else:
            bias = np.zeros(len(filters), np.float32)
        return kernel, bias, np.eye(len(filters), dtype=np.float32)

    def gradient(self, model_pixels: np.ndarray, weights: tuple[np.ndarray, ...]) -> np.ndarray:
        """Gradient of the summed target with respect to the model-ready pixels.

        Args:
            model_pixels: ``(N, S, S, 3)`` float32, as the model takes them.
            weights: `weights_for` the batch's filters.

        Returns:
            An array of ``model_pixels``'s shape.
        """
        _, gradient, _ = self._gradient(model_pixels, *weights)
        return gradient

    def activation(self, model_pixels: np.ndarray, filters: list[int]) -> np.ndarray:
        """Each picture's own filter's interior mean activation, float32 ``(N,)``."""
        (outputs,) = self._forward(model_pixels)
        return selected_means(outputs, filters, self.border)


def _whole_layer_objective(border):
    def selected_mean_activation(outputs: Any, rows: Any) -> Any:
        """Sum over the batch of each picture's own filter's interior mean activation."""
        outputs = outputs[0] if isinstance(outputs, (list, tuple)) else outputs
        return keras.ops.sum(keras.ops.mean(interior(outputs, border), axis=(1, 2)) * rows)

    return selected_mean_activation


def _chosen_filters_objective(conv, border):
    def chosen_filters_mean_activation(inputs: Any, kernel: Any, bias: Any, own: Any) -> Any:
        """The same sum, from the layer's input through the chosen filters only."""
        inputs = inputs[0] if isinstance(inputs, (list, tuple)) else inputs
        maps = conv.convolution_op(inputs, kernel)
        maps = conv.activation(keras.ops.add(maps, keras.ops.reshape(bias, (1, 1, 1, -1))))
        return keras.ops.sum(keras.ops.mean(interior(maps, border), axis=(1, 2)) * own)

    return chosen_filters_mean_activation
