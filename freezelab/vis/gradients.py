"""Gradients of a model's outputs with respect to its *input*, on any Keras 3 backend.

Keras 3 has no backend-neutral ``grad``. Grad-CAM and gradient ascent need
one thing only: the gradient of a scalar, computed from a model's outputs,
with respect to the input batch. `input_gradient_fn` builds that once per
model with each backend's own tool (``tf.GradientTape`` inside a
``tf.function``, ``jax.value_and_grad`` under ``jax.jit``, torch autograd),
so TensorFlow is imported only when it is the backend in use.

The model's current weights are read at every call (never baked into a
compiled function), so pictures made after a fine-tuning step show the new
weights.
"""

from __future__ import annotations

from collections.abc import Callable

import keras
import numpy as np

from freezelab._validation import ArgumentTypeError, check_model

GradientFn = Callable[..., tuple[float, np.ndarray, list[np.ndarray]]]


def input_gradient_fn(
    model: keras.Model,
    loss_from_outputs: Callable,
) -> GradientFn:
    """Builds ``f(inputs, *extra) -> (loss, gradient, outputs)`` for ``model``.

    Args:
        model: A Keras model. It is called with ``training=False``.
        loss_from_outputs: ``loss_from_outputs(outputs, *extra)`` returns a
            scalar tensor computed with ``keras.ops`` from the model's outputs
            (a tensor, or a list for a multi-output model) and extra arrays.

    Returns:
        A function taking a float32 NumPy input batch (and the extra arrays)
        and returning the loss as a float, its gradient with respect to the
        inputs as a NumPy array of the input's shape, and the model's outputs
        as a list of NumPy arrays.

    Raises:
        ValueError: If Keras runs on a backend other than tensorflow, jax or
            torch, or ``model`` is not a built Keras model.
        TypeError: If ``loss_from_outputs`` is not callable (also a ValueError).
    """
    check_model(model, "input_gradient_fn")
    if not callable(loss_from_outputs):
        raise ArgumentTypeError(
            "loss_from_outputs must be a function of the model's outputs. "
            f"Received: loss_from_outputs={loss_from_outputs!r}"
        )
    backend = keras.backend.backend()
    builders = {"tensorflow": _tensorflow_fn, "jax": _jax_fn, "torch": _torch_fn}
    if backend not in builders:
        raise ValueError(
            "Input gradients need the tensorflow, jax or torch backend. "
            f"Received: KERAS_BACKEND={backend!r}"
        )
    return builders[backend](model, loss_from_outputs)


def forward_fn(model: keras.Model) -> Callable[[np.ndarray], list[np.ndarray]]:
    """Builds ``f(inputs) -> outputs``: ``model``'s forward pass, traced once.

    A Keras model called eagerly dispatches every layer's ops one by one
    (TensorFlow's eager convolution is several times slower than the same
    convolution inside a ``tf.function``). This traces the call once per model
    with each backend's own tool (``tf.function``, ``jax.jit``; torch runs
    eagerly without autograd), reading the model's current weights at every
    call.

    Args:
        model: A Keras model. It is called with ``training=False``.

    Returns:
        A function taking a float32 NumPy input batch and returning the
        model's outputs as a list of NumPy arrays.

    Raises:
        ValueError: If Keras runs on a backend other than tensorflow, jax or
            torch, or ``model`` is not a built Keras model.
    """
    check_model(model, "forward_fn")
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        traced = tf.function(lambda inputs: model(inputs, training=False), reduce_retracing=True)

        def call(inputs):
            outputs = traced(tf.convert_to_tensor(np.asarray(inputs, np.float32)))
            return [output.numpy() for output in _as_list(outputs)]

    elif backend == "jax":
        import jax

        def stateless(inputs, trainable, non_trainable):
            outputs, _ = model.stateless_call(trainable, non_trainable, inputs, training=False)
            return _as_list(outputs)

        traced = jax.jit(stateless)

        def call(inputs):
            trainable = [v.value for v in model.trainable_variables]
            non_trainable = [v.value for v in model.non_trainable_variables]
            outputs = traced(np.asarray(inputs, np.float32), trainable, non_trainable)
            return [np.asarray(output) for output in outputs]

    elif backend == "torch":
        import torch

        def call(inputs):
            with torch.no_grad():
                outputs = model(np.asarray(inputs, np.float32), training=False)
            return [keras.ops.convert_to_numpy(output) for output in _as_list(outputs)]

    else:
        raise ValueError(
            "Traced forward passes need the tensorflow, jax or torch backend. "
            f"Received: KERAS_BACKEND={backend!r}"
        )
    return call


def _as_list(outputs) -> list:
    return list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]


def _tensorflow_fn(model, loss_from_outputs):
    import tensorflow as tf

    @tf.function(reduce_retracing=True)
    def step(inputs, *extra):
        with tf.GradientTape() as tape:
            tape.watch(inputs)
            outputs = model(inputs, training=False)
            loss = loss_from_outputs(outputs, *extra)
        return loss, tape.gradient(loss, inputs), _as_list(outputs)

    def call(inputs, *extra):
        loss, grad, outputs = step(
            tf.convert_to_tensor(inputs, tf.float32),
            *(tf.convert_to_tensor(e, tf.float32) for e in extra),
        )
        return float(loss), grad.numpy(), [o.numpy() for o in outputs]

    return call


def _jax_fn(model, loss_from_outputs):
    import jax

    def loss_and_outputs(inputs, trainable, non_trainable, *extra):
        outputs, _ = model.stateless_call(trainable, non_trainable, inputs, training=False)
        return loss_from_outputs(outputs, *extra), _as_list(outputs)

    step = jax.jit(jax.value_and_grad(loss_and_outputs, has_aux=True))

    def call(inputs, *extra):
        trainable = [v.value for v in model.trainable_variables]
        non_trainable = [v.value for v in model.non_trainable_variables]
        extra = [np.asarray(e, np.float32) for e in extra]
        (loss, outputs), grad = step(
            np.asarray(inputs, np.float32), trainable, non_trainable, *extra
        )
        return float(loss), np.asarray(grad), [np.asarray(o) for o in outputs]

    return call


def _torch_fn(model, loss_from_outputs):  # run by tests/backends (torch in a subprocess)
    import torch

    def call(inputs, *extra):
        device = keras.backend.get_device() if hasattr(keras.backend, "get_device") else None
        x = torch.tensor(np.asarray(inputs, np.float32), device=device, requires_grad=True)
        extra_t = [torch.tensor(np.asarray(e, np.float32), device=device) for e in extra]
        outputs = model(x, training=False)
        loss = loss_from_outputs(outputs, *extra_t)
        (grad,) = torch.autograd.grad(loss, x)
        return (
            float(loss.detach().cpu()),
            grad.detach().cpu().numpy(),
            [o.detach().cpu().numpy() for o in _as_list(outputs)],
        )

    return call
