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
multiplies the jump by its stride.
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
    """

    layer_name: str
    size: int
    stride: int


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
    size, stride = 1, 1
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
        size += (kernel - 1) * dilation * stride
        stride *= step
        if ref.name == layer_name:
            return ReceptiveField(layer_name, int(size), int(stride))
    raise ValueError(  # find_layer found it, so only a layer iter_layers skips ends here
        f"Layer {layer_name!r} is not on the model's chain of layers. "
        f"Received: layer_name={layer_name!r}"
    )


__all__ = ["ReceptiveField", "receptive_field"]
