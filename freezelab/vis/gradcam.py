"""Grad-CAM: which parts of an image a classifier's decision for one class rests on.

Grad-CAM (Selvaraju et al., 2017) takes a convolutional layer's feature maps
``A_k``, weighs each channel by the average gradient of the class score with
respect to it, ``alpha_k = mean(d score / d A_k)``, and keeps the positive
part of ``sum_k alpha_k A_k``. The map is as coarse as the layer (7x7 for
VGG16's last block at 224) and is upsampled over the image.

The score explained is the class's **logit** when the classifier ends in a
softmax Dense layer (as the Keras Grad-CAM example does by removing the
softmax): a softmax output that is already near 0 or 1 has almost no
gradient, so its map would be near zero everywhere and only the stretching to
0..1 would make it look decisive. `GradCam.coarse` keeps the raw, unstretched map.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import keras
import numpy as np

from freezelab._quiet import expected_retracing
from freezelab._validation import check_array, check_int, check_model, check_str
from freezelab.vis.activations import (
    check_fits,
    conv_layer_names,
    single_input,
    spatial_layer,
    upsample,
)
from freezelab.vis.gradients import forward_fn, input_gradient_fn

#: Per model and layer: the sub-models and the traced gradient, built once (see `_parts`).
_PARTS_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class GradCam:
    """A Grad-CAM result for one input.

    Attributes:
        heatmap: ``(H, W)`` float32 map over the input, scaled to 0..1.
        coarse: The map at the layer's own resolution, before scaling.
        class_index: The class explained.
        score: The model's output for that class.
        layer_name: The convolutional layer used.
        channel_weights: ``alpha_k``, one per channel of the layer.
        explains: ``"logit"`` (the softmax layer's input for the class) or
            ``"output"`` (the model's output, for a model without a final softmax).
    """

    heatmap: np.ndarray
    coarse: np.ndarray
    class_index: int
    score: float
    layer_name: str
    channel_weights: np.ndarray
    explains: str = "output"


def grad_cam(
    model: keras.Model,
    inputs: np.ndarray,
    class_index: int | None = None,
    layer_name: str | None = None,
) -> GradCam:
    """Grad-CAM heatmap of ``model``'s decision for one class on one input.

    Args:
        model: A classifier: a Functional model whose output is ``(N,
            classes)``. Its base must be flattened into it (the default of
            `freezelab.core.models.with_head`), not nested as one layer.
        inputs: One model-ready input ``(H, W, C)`` of the size the model
            takes, finite numbers.
        class_index: The class to explain (an int, numpy integers accepted);
            the predicted class when None.
        layer_name: The layer whose feature maps to use (spatial output, e.g.
            a convolution); the last convolution when None.

    Returns:
        A `GradCam`.

    Raises:
        ValueError: For a model without convolutions, a layer without
            spatial output (a Dense layer such as ``"predictions"``), a layer
            inside a nested base, an output that is not ``(N, classes)``, a
            class index out of range, an input that is not one ``(H, W, C)``
            image of the model's size, NaN or infinite inputs, or a model
            whose output is not finite for this input.
    """
    check_model(model, "grad_cam")
    inputs = check_array(inputs, "inputs").astype(np.float32, copy=False)
    if inputs.ndim != 3:
        raise ValueError(
            f"grad_cam takes one input (H, W, C). Received: inputs of shape {inputs.shape}"
        )
    check_fits(model, inputs[None], "grad_cam")
    if class_index is not None:
        class_index = check_int(class_index, "class_index", minimum=0)
    layer_name = _last_conv(model) if layer_name is None else check_str(layer_name, "layer_name")
    output_shape = tuple(model.outputs[0].shape)
    if len(model.outputs) != 1 or len(output_shape) != 2:
        raise ValueError(
            "grad_cam needs a classifier with one output (N, classes). "
            f"Received: output of shape {output_shape}"
        )
    ref = spatial_layer(model, layer_name, "grad_cam")
    if ref.nested_in is not None:
        raise ValueError(
            f"Layer {layer_name!r} sits inside the nested model {ref.nested_in!r}; Grad-CAM "
            "needs it in the classifier's own graph. Build the classifier with "
            "with_head(base, nested=False). "
            f"Received: layer_name={layer_name!r}"
        )
    forward, score_model, explains, gradient_fn = _parts(model, ref.layer)
    maps, scores = forward(inputs[None])
    if not np.all(np.isfinite(scores)):
        raise ValueError(
            f"Model {model.name!r} outputs non-finite scores for this input (its weights may "
            "have diverged), so there is no decision to explain. "
            f"Received: scores {np.round(scores[0], 4).tolist()}"
        )
    if class_index is None:
        class_index = int(np.argmax(scores[0]))
    if not 0 <= class_index < scores.shape[1]:
        raise ValueError(
            f"class_index must be in 0..{scores.shape[1] - 1}. Received: class_index={class_index}"
        )
    one_hot = np.eye(scores.shape[1], dtype=np.float32)[[class_index]]
    if explains == "logit":  # the logit layer holds a copy: bring it up to date with training
        score_model.layers[-1].set_weights(model.layers[-1].get_weights())
    with expected_retracing():  # one gradient function per model and layer, traced once
        _, gradients, _ = gradient_fn(maps, one_hot)
    channel_weights = gradients[0].mean(axis=(0, 1))
    coarse = np.maximum((maps[0] * channel_weights).sum(axis=-1), 0.0)
    return GradCam(
        heatmap=upsample(coarse, inputs.shape[:2]),
        coarse=coarse.astype(np.float32),
        class_index=class_index,
        score=float(scores[0, class_index]),
        layer_name=layer_name,
        channel_weights=channel_weights.astype(np.float32),
        explains=explains,
    )


def _parts(model: keras.Model, layer: keras.layers.Layer):
    """Traced forward pass, score model, what it explains and its gradient, built once.

    Rebuilding them at every call would trace new functions each time, and
    calling the model eagerly costs several times its traced forward pass
    (benchmarks/gradcam_speed.py). The forward pass returns the layer's maps
    and the model's output in one traced call; the gradient runs from the
    maps through the head only. They call the model's own layers, so they
    see weights changed later by training; only the logit layer is a copy,
    refreshed at every call.
    """
    cache = _PARTS_CACHE.setdefault(model, {})
    if layer.name not in cache:
        forward = forward_fn(keras.Model(single_input(model), [layer.output, model.outputs[0]]))
        head = keras.Model(layer.output, model.outputs[0])
        score_model, explains = _logit_model(model, layer.output, head)
        gradient_fn = input_gradient_fn(score_model, _class_score)
        cache[layer.name] = (forward, score_model, explains, gradient_fn)
    return cache[layer.name]


def _logit_model(model: keras.Model, maps, head: keras.Model) -> tuple[keras.Model, str]:
    """From the feature maps to the class logits when the model ends in a softmax Dense."""
    last = model.layers[-1]
    activation = getattr(getattr(last, "activation", None), "__name__", "")
    if not isinstance(last, keras.layers.Dense) or activation != "softmax":
        return head, "output"
    # The same kernel and bias without the softmax: a new layer, the weights copied.
    logits = keras.layers.Dense(last.units, activation=None, name=f"{last.name}_logits")
    hidden = keras.Model(maps, last.input)
    outputs = logits(hidden.output)
    logits.set_weights(last.get_weights())
    return keras.Model(hidden.input, outputs), "logit"


def _class_score(outputs, one_hot):
    outputs = outputs[0] if isinstance(outputs, (list, tuple)) else outputs
    return keras.ops.sum(outputs * one_hot)


def _last_conv(model: keras.Model) -> str:
    names = conv_layer_names(model)
    if not names:
        raise ValueError(
            "Grad-CAM needs a model with at least one Conv2D layer. "
            f"Received: model {model.name!r} without one"
        )
    return names[-1]
