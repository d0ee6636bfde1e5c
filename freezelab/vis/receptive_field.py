"""What a unit of a layer sees: its receptive field and its stride, told apart.

Two different numbers describe a deep layer's grid of units:

* the **stride** (or jump): how many input pixels apart two neighbouring
  units sit. For VGG16's ``block5_conv1`` it is 16: its maps are 1/16 of the
  input's side.
* the **receptive field**: how many input pixels (along one side) can affect
  one unit. For ``block5_conv1`` it is 132: each unit sees a 132x132 patch,
  far more than the 16x16 cell between units (and, at 64 px, more than the
  whole image, padding included).

Both follow from the layers' kernel sizes and strides (Araujo et al., 2019,
"Computing Receptive Fields of Convolutional Neural Networks", Distill): along
a chain, each layer adds ``(kernel - 1) * dilation * jump`` to the field and
multiplies the jump by its stride. Where the first unit's field is centred
follows from the padding: each layer moves it by
``((kernel - 1) * dilation / 2 - padding_before) * jump``. Unit ``i`` along a
side is centred ``stride`` pixels further per step, so whether a unit's field
covers the whole image is ``centre + i * stride -/+ size / 2`` against the
image's edges.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras

from freezelab.core.layers import iter_layers
from freezelab.vis.activations import find_layer

#: Layers that do not change where a unit looks.
_POINTWISE = (
    keras.layers.InputLayer,
    keras.layers.Activation,
    keras.layers.ReLU,
    keras.layers.BatchNormalization,
    keras.layers.Dropout,
    keras.layers.Rescaling,
    keras.layers.Normalization,
)
_POOLING = (keras.layers.MaxPooling2D, keras.layers.AveragePooling2D)


@dataclass(frozen=True)
class ReceptiveField:
    """Receptive field and stride of one layer's units, in input pixels.

    Attributes:
        layer_name: The layer.
        size: Input pixels along one side that can affect one unit.
        stride: Input pixels between two neighbouring units.
        centre: Centre of the first unit's field (row 0 or column 0), in
            pixels from the image's edge (pixel ``k`` spans ``k..k+1``), so
            that unit's field spans ``centre - size / 2 .. centre + size / 2``.
    """

    layer_name: str
    size: int
    stride: int
    centre: float = 0.5


def receptive_field(model: keras.Model, layer_name: str) -> ReceptiveField:
    """The receptive field and the stride of a layer's units, from the layers' shapes.

    Args:
        model: A chain of layers (VGG16, the teacher): 2D convolutions,
            2D max or average pooling and layers that act pixel by pixel.
        layer_name: A layer of ``model`` (nested models opened).

    Returns:
        A `ReceptiveField`.

    Raises:
        ValueError: For an unknown layer, or a layer before it that this
            rule does not cover (a merge, a reshape, a global pooling).
    """
    find_layer(model, layer_name)
    size, stride, centre = 1, 1, 0.5
    for ref in iter_layers(model):
        layer = ref.layer
        if isinstance(layer, keras.layers.Conv2D):
            kernel, step, dilation = layer.kernel_size[0], layer.strides[0], layer.dilation_rate[0]
        elif isinstance(layer, _POOLING):
            kernel, step, dilation = layer.pool_size[0], layer.strides[0], 1
        elif isinstance(layer, _POINTWISE):
            kernel, step, dilation = 1, 1, 1
        else:
            raise ValueError(
                "receptive_field covers chains of Conv2D, MaxPooling2D, AveragePooling2D and "
                f"pixel-wise layers; layer {ref.name!r} is a {type(layer).__name__}. "
                f"Received: layer_name={layer_name!r}"
            )
        span = (kernel - 1) * dilation
        centre += (span / 2 - _padding_before(layer, span + 1, step)) * stride
        size += span * stride
        stride *= step
        if ref.name == layer_name:
            return ReceptiveField(layer_name, int(size), int(stride), float(centre))
    raise ValueError(  # find_layer found it, so only a layer iter_layers skips ends here
        f"Layer {layer_name!r} is not on the model's chain of layers. "
        f"Received: layer_name={layer_name!r}"
    )


def _padding_before(layer: keras.layers.Layer, kernel: int, step: int) -> int:
    """Zeros padded before the first row by ``padding="same"`` (as TensorFlow and Keras pad)."""
    if getattr(layer, "padding", "valid") != "same":
        return 0
    try:  # the input's side, where the layer has been called on a known shape
        side = layer.input.shape[1]
    except (AttributeError, ValueError, IndexError, TypeError):
        side = None
    remainder = step if side is None or side % step == 0 else side % step
    return max(kernel - remainder, 0) // 2


__all__ = ["ReceptiveField", "receptive_field"]
