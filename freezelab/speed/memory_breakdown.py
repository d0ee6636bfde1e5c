"""Where a training step's memory goes, per fine-tuning strategy: predicted, and measured on JAX.

Four parts, predicted from the model alone:

* **weights**: every variable, at its own dtype;
* **gradients**: one float32 number per trainable weight;
* **optimizer state**: `freezelab.speed.cost.optimizer_state_bytes` (Adam:
  two moments per trainable weight);
* **activations kept for the backward pass**: only the layers the gradient
  must pass through, from the lowest layer with a trainable weight (a LoRA
  factor counts) up to the output, keep what their backward needs (rules
  below), float32, for the whole batch. Layers below the lowest trainable one
  keep nothing: no gradient reaches them.

What each layer keeps is `activation_rule`'s: a weight gradient needs the
layer's input, so a layer keeps its input only where a weight that is not
simply added (a bias, a position table) trains (a frozen layer above a trainable one passes the gradient down
with its weights alone); nonlinearities (an activation function, a
LayerNormalization, attention's softmax and its products of queries, keys
and values) keep what their own backward needs whether or not they train.

On JAX, `measured_memory` compiles one real training step (forward,
gradients of the trainable variables only, the optimizer's update) with XLA
and reads its memory analysis: the arguments (weights, optimizer state, the
batch), the outputs, and the temporary buffers (gradients, kept activations
and XLA's working space). It works on a CPU. Other backends have no such
analysis: it raises. Measured with Keras 3.15.1 and JAX 0.10.2 on a CPU
(``tests/speed/test_memory_breakdown.py``): the step's arguments equal the
predicted weights, optimizer state and batch to within 8 bytes (Adam's step
counter and learning rate); its temporaries were 1.4-2.7 times the predicted
gradients and kept activations for every strategy that trains inside the
blocks, so the prediction is an estimate that ran low there, not an exact figure (nor a
strict bound: it adds every gradient to every kept activation); with only the
head training, the forward pass's own working space dominates (5-14 times).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import keras
import numpy as np

from freezelab._validation import check_int, check_model
from freezelab.core.layers import iter_layers
from freezelab.speed.cost import FLOAT32_BYTES, optimizer_state_bytes

MIB = 2**20
# Weights whose gradient needs no float input: added to it (biases, LayerNormalization's
# offset, a position table) or, for Embedding's table, looked up by integer ids.
_BIAS_NAMES = ("bias", "beta", "embeddings")
_FREE_LAYERS = (
    keras.layers.InputLayer,
    keras.layers.Reshape,
    keras.layers.Flatten,
    keras.layers.Rescaling,
    keras.layers.Add,
    keras.layers.GlobalAveragePooling1D,
    keras.layers.GlobalAveragePooling2D,
    keras.layers.Dropout,
)


@dataclass(frozen=True)
class MemoryBreakdown:
    """Predicted bytes of one training step, by part.

    Attributes:
        weights: Bytes of all the model's variables.
        gradients: Bytes of the trainable variables' gradients.
        optimizer_state: Bytes of the optimizer's per-weight state.
        activations: Bytes of the tensors kept for the backward pass.
        batch_size: The batch the activations are counted for.
        lowest_trainable: Name of the lowest layer with a trainable weight,
            or None when nothing trains.
    """

    weights: int
    gradients: int
    optimizer_state: int
    activations: int
    batch_size: int
    lowest_trainable: str | None

    @property
    def total(self) -> int:
        """All four parts together."""
        return self.weights + self.gradients + self.optimizer_state + self.activations

    def as_mib(self) -> dict[str, float]:
        """The parts and the total in MiB."""
        parts = {
            "weights": self.weights,
            "gradients": self.gradients,
            "optimizer_state": self.optimizer_state,
            "activations": self.activations,
            "total": self.total,
        }
        return {name: value / MIB for name, value in parts.items()}


@dataclass(frozen=True)
class MeasuredMemory:
    """XLA's memory analysis of one compiled training step (JAX).

    Attributes:
        arguments: Bytes of the step's inputs: weights, optimizer state, batch.
        outputs: Bytes of its outputs: the loss, new weights and optimizer state.
        temporaries: Bytes of buffers XLA allocates inside the step at its
            peak: gradients, kept activations, working space.
        batch_bytes: Bytes of the batch (images and labels) among the arguments.
        batch_size: The batch size compiled for.
    """

    arguments: int
    outputs: int
    temporaries: int
    batch_bytes: int
    batch_size: int


def activation_rule(layer: keras.layers.Layer) -> int:
    """Float32 numbers one example keeps in ``layer`` for the backward pass.

    Called for the layers the gradient passes through. A weight gradient
    needs the layer's input, so a layer keeps its input only when a weight
    other than an added one (``bias``, ``beta``, ``embeddings``) trains in it; the gradient with
    respect to the input needs only the weights, except through a
    nonlinearity, whose input is always kept.

    Args:
        layer: A built layer of a Functional or Sequential model, with its
            trainable flags (and LoRA factors) as they will train.

    Returns:
        The count per example (multiply by the batch size and 4 bytes):
        MultiHeadAttention keeps the query, key and value projections, the
        attention probabilities and, when their weights train, its input and
        the heads' output before the output projection; LayerNormalization
        its input; a layer with a nonlinear activation its pre-activation
        output; parameter-free reshaping, pooling, scaling and additions
        nothing.
    """
    if isinstance(layer, _FREE_LAYERS):
        return 0
    if isinstance(layer, keras.layers.MultiHeadAttention):
        return _attention_rule(layer)
    inputs = _per_example(layer.input)
    if isinstance(layer, keras.layers.LayerNormalization):
        return inputs
    kept = inputs if _trains_a_kernel(layer) else 0
    activation = getattr(layer, "activation", None)
    if activation is not None and activation is not keras.activations.linear:
        kept += _per_example(layer.output)
    if not layer.weights and activation is None:
        kept = _per_example(layer.output)  # an unknown parameter-free layer: its output
    return kept


def _trains_a_kernel(layer: keras.layers.Layer) -> bool:
    return any(v.name not in _BIAS_NAMES for v in layer.trainable_weights)


def _attention_rule(layer: keras.layers.MultiHeadAttention) -> int:
    # Called as attention(query, value[, key]); self-attention passes one tensor twice.
    distinct = []
    for tensor in layer.input:
        if all(tensor is not seen for seen in distinct):
            distinct.append(tensor)
    query, value = layer.input[0], layer.input[1]
    query_tokens, value_tokens = int(query.shape[1]), int(value.shape[1])
    heads, key_dim = (int(d) for d in layer.query_dense.kernel.shape[-2:])
    value_dim = int(layer.value_dense.kernel.shape[-1])
    kept = heads * (query_tokens * key_dim + value_tokens * (key_dim + value_dim))
    kept += heads * query_tokens * value_tokens  # the softmax's output
    projections = (layer.query_dense, layer.key_dense, layer.value_dense)
    if any(_trains_a_kernel(dense) for dense in projections):
        kept += _per_example(distinct)
    if _trains_a_kernel(layer.output_dense):
        kept += heads * query_tokens * value_dim
    return kept


def memory_breakdown(
    model: keras.Model, batch_size: int = 32, optimizer: str | keras.optimizers.Optimizer = "adam"
) -> MemoryBreakdown:
    """Predicts the memory of one training step of ``model`` as it is set to train now.

    Args:
        model: A built Functional or Sequential model; its trainable flags
            (and any LoRA factors) decide what trains.
        batch_size: Examples per step.
        optimizer: An optimizer name or instance, as in
            `freezelab.speed.cost.optimizer_slots`.

    Returns:
        A `MemoryBreakdown`.

    Raises:
        ValueError: For a model that is not built, a batch size below 1, or
            an optimizer the state table does not know.
    """
    check_model(model, "memory_breakdown")
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    trainable = sum(math.prod(v.shape) for v in model.trainable_weights)
    weights = sum(math.prod(v.shape) * np.dtype(v.dtype).itemsize for v in model.weights)
    by_layer = kept_activations_by_layer(model, batch_size)
    return MemoryBreakdown(
        weights=int(weights),
        gradients=int(trainable) * FLOAT32_BYTES,
        optimizer_state=optimizer_state_bytes(int(trainable), optimizer),
        activations=sum(by_layer.values()),
        batch_size=batch_size,
        lowest_trainable=next(iter(by_layer), None),
    )


def kept_activations_by_layer(model: keras.Model, batch_size: int = 32) -> dict[str, int]:
    """Bytes each layer keeps for the backward pass, from the lowest trainable layer up.

    The per-layer view of `memory_breakdown`'s activations: its values sum to
    that figure, and its first key is the lowest layer with a trainable
    weight. Layers below it keep nothing and are left out.

    Args:
        model: A built Functional or Sequential model; its trainable flags
            (and any LoRA factors) decide what trains.
        batch_size: Examples per step.

    Returns:
        Layer name -> bytes kept (float32, whole batch), in the model's
        layer order; empty when nothing trains.

    Raises:
        ValueError: For a model that is not built or a batch size below 1.
    """
    check_model(model, "kept_activations_by_layer")
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    trainable_ids = {id(v) for v in model.trainable_weights}
    refs = iter_layers(model)
    lowest = next(
        (
            index
            for index, ref in enumerate(refs)
            if any(id(v) in trainable_ids for v in ref.layer.weights)
        ),
        None,
    )
    if lowest is None:
        return {}
    return {
        ref.name: activation_rule(ref.layer) * batch_size * FLOAT32_BYTES for ref in refs[lowest:]
    }


def measured_memory(
    model: keras.Model, batch_size: int = 32, optimizer: str = "adam"
) -> MeasuredMemory:
    """Compiles one training step of ``model`` with XLA (JAX) and reads its memory analysis.

    The step is what ``fit()`` runs: a forward pass in training mode, the
    sparse categorical cross-entropy, gradients of the trainable variables
    only, and the optimizer's update. ``model`` and its weights are left
    unchanged; a fresh optimizer is built for the step.

    Args:
        model: A built model from images to class probabilities.
        batch_size: Examples per step.
        optimizer: An optimizer name Keras knows (``"adam"``, ``"sgd"``…).

    Returns:
        A `MeasuredMemory`.

    Raises:
        ValueError: On any backend but JAX (only XLA's compiled step reports
            its memory on a CPU), for a model that is not built, or a batch
            size below 1.
    """
    if keras.backend.backend() != "jax":
        raise ValueError(
            "measured_memory reads XLA's memory analysis of a compiled JAX step: start "
            "Python with KERAS_BACKEND=jax. Received: backend="
            f"{keras.backend.backend()!r}"
        )
    import jax  # imported here: only the JAX backend has it for sure

    check_model(model, "measured_memory")
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    step_optimizer = keras.optimizers.get(optimizer)
    step_optimizer.build(model.trainable_variables)
    images = np.zeros((batch_size, *model.input.shape[1:]), dtype="float32")
    labels = np.zeros((batch_size,), dtype="int32")

    def step(trainable, non_trainable, optimizer_state, images, labels):
        def loss_of(trainable):
            predictions, new_non_trainable = model.stateless_call(
                trainable, non_trainable, images, training=True
            )
            # The loss function, not the Loss object: its __call__ needs TensorFlow (Keras 3.15.1).
            loss = keras.losses.sparse_categorical_crossentropy(labels, predictions)
            return keras.ops.mean(loss), new_non_trainable

        (loss, new_non_trainable), grads = jax.value_and_grad(loss_of, has_aux=True)(trainable)
        new_trainable, new_state = step_optimizer.stateless_apply(optimizer_state, grads, trainable)
        return loss, new_trainable, new_non_trainable, new_state

    arguments = (
        [v.value for v in model.trainable_variables],
        [v.value for v in model.non_trainable_variables],
        [v.value for v in step_optimizer.variables],
        images,
        labels,
    )
    analysis = jax.jit(step).lower(*arguments).compile().memory_analysis()
    return MeasuredMemory(
        arguments=int(analysis.argument_size_in_bytes),
        outputs=int(analysis.output_size_in_bytes),
        temporaries=int(analysis.temp_size_in_bytes),
        batch_bytes=images.nbytes + labels.nbytes,
        batch_size=batch_size,
    )


def _per_example(tensor) -> int:
    tensors = tensor if isinstance(tensor, (list, tuple)) else [tensor]
    return sum(math.prod(int(d) for d in t.shape[1:]) for t in tensors)
