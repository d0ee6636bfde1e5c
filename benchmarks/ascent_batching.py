"""Gradient-ascent throughput: many filters as one batch against one filter at a time.

The common Keras example draws filters one by one in a Python loop. freezelab
optimises all chosen filters together as one batch (each picture's loss
depends only on its own pixels, so the result is the same). This script
measures filters per second both ways, with the same settings, side by side
in one run, and prints the ratio.

What to expect: batching pays where a single picture leaves the hardware
idle, i.e. where per-step overhead dominates (a narrow model such as the
teacher, small pictures, and accelerators generally); on a small CPU that one
full-width VGG16 picture already saturates, it gains little. The second
saving holds everywhere: where the layer is a plain ``Conv2D``, freezelab
computes only the filters being drawn in it (``freezelab/vis/filter_target``;
16 of ``block3_conv1``'s 256), forward and backward, where the baselines
compute the whole layer. Both ways of freezelab in this script
(batched, one at a time) use it.

Baseline: the keras-io recipe ("Visualizing what convnets learn",
keras-io ``examples/vision/visualizing_what_convnets_learn.py``): a kept
feature model, one filter at a time, ``tf.GradientTape`` in a
``tf.function``, the loss the mean activation of the filter away from a
2-pixel border, L2-normalised gradient steps, with the same number of steps
(TensorFlow backend only; it has no jitter or blur, so it does less work per
step than freezelab's ascent).

Second baseline, when installed (``pip install -e .[bench]``): tf-keras-vis's
``ActivationMaximization`` (0.8.7, TensorFlow backend only) the way its docs
picture conv filters: ``ExtractIntermediateLayer(layer)`` as the model
modifier, a ``CategoricalScore`` over the filters (each picture's score is
its filter's mean activation) and one seed batch with a picture per filter,
so it optimises all filters together as freezelab does. Same steps, its own
optimizer (RMSprop, its default); ``Jitter(jitter=4)`` as freezelab's jitter,
no rotation and no regularizers (freezelab's blur has no counterpart there),
so it does no more work per step than freezelab's ascent.

Usage:
    .venv/bin/python benchmarks/ascent_batching.py [--model vgg16|teacher] [--size 64]
        [--layer block3_conv1] [--filters 16] [--steps 10] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import keras
import numpy as np

from freezelab.speed.timing import describe_device
from freezelab.vis.ascent import filter_pictures
from freezelab.vis.filter_target import computes_chosen_filters_only


def build_model(name: str, size: int) -> keras.Model:
    """VGG16 (untrained weights: speed does not depend on them) or the teacher."""
    if name == "vgg16":
        from freezelab.core.models import load_vgg16

        return load_vgg16(weights=None, input_size=size, verbose=False)
    from freezelab.sources.teacher import load_teacher

    return load_teacher(input_size=size, verbose=False)


def seconds_for(model, layer, filters, batch_size, settings) -> float:
    """Wall time of one `filter_pictures` call."""
    start = time.perf_counter()
    filter_pictures(model, layer, filters, batch_size=batch_size, progress=False, **settings)
    return time.perf_counter() - start


def keras_io_seconds(model, layer, filters, steps, size) -> float:
    """Wall time of the keras-io recipe drawing ``filters`` one at a time (TensorFlow only)."""
    import tensorflow as tf

    feature_extractor = _keras_io_extractor(model, layer)

    @tf.function
    def gradient_ascent_step(img, filter_index, learning_rate):
        with tf.GradientTape() as tape:
            tape.watch(img)
            activation = feature_extractor(img)
            loss = tf.reduce_mean(activation[:, 2:-2, 2:-2, filter_index])
        grads = tf.math.l2_normalize(tape.gradient(loss, img))
        return loss, img + learning_rate * grads

    start = time.perf_counter()
    for filter_index in filters:
        img = (tf.random.uniform((1, size, size, 3)) - 0.5) * 0.25
        for _ in range(steps):
            _, img = gradient_ascent_step(img, tf.constant(filter_index), tf.constant(10.0))
        img.numpy()
    return time.perf_counter() - start


_EXTRACTORS: dict = {}


def _keras_io_extractor(model, layer):
    key = (id(model), layer)
    if key not in _EXTRACTORS:
        _EXTRACTORS[key] = keras.Model(model.inputs, model.get_layer(layer).output)
    return _EXTRACTORS[key]


TF_KERAS_VIS_INSTALL = "pip install -e .[bench]  (tf-keras-vis==0.8.7)"


def tf_keras_vis_missing() -> str | None:
    """Why the tf-keras-vis arm cannot run here, or None when it can."""
    if keras.backend.backend() != "tensorflow":
        return "not run (it needs the TensorFlow backend)"
    try:
        import tf_keras_vis.activation_maximization  # noqa: F401
    except ImportError:
        return f"not installed: {TF_KERAS_VIS_INSTALL}"
    return None


def tf_keras_vis_pictures(model, layer, filters, steps, size) -> np.ndarray:
    """tf-keras-vis's ``ActivationMaximization`` for ``filters`` of ``layer``, all in one batch.

    Its docs' way for conv filters: the intermediate layer as the output, a
    ``CategoricalScore`` (each picture's filter's mean activation). The same
    start as freezelab (grey 128 +- 20 RGB pixels 0..255, fed to the model as
    they are), ``Jitter(jitter=4)`` and no rotation or regularizers (see the
    module docstring).

    Returns:
        ``(len(filters), size, size, 3)`` float32 pixels.
    """
    import tensorflow as tf
    from tf_keras_vis.activation_maximization.input_modifiers import Jitter
    from tf_keras_vis.utils.scores import CategoricalScore

    seed = tf.random.uniform((len(filters), size, size, 3), 108.0, 148.0)
    pictures = _tf_keras_vis_visualizer(model, layer)(
        CategoricalScore(list(filters)),
        seed_input=seed,
        input_range=(0, 255),
        input_modifiers=[Jitter(jitter=4)],
        regularizers=[],
        steps=steps,
    )
    return np.asarray(pictures, np.float32)


def tf_keras_vis_seconds(model, layer, filters, steps, size) -> float:
    """Wall time of `tf_keras_vis_pictures`."""
    start = time.perf_counter()
    tf_keras_vis_pictures(model, layer, filters, steps, size)
    return time.perf_counter() - start


_VISUALIZERS: dict = {}


def _tf_keras_vis_visualizer(model, layer):
    """One ``ActivationMaximization`` per model and layer, kept as the keras-io extractor is."""
    from tf_keras_vis.activation_maximization import ActivationMaximization
    from tf_keras_vis.utils.model_modifiers import ExtractIntermediateLayer

    key = (id(model), layer)
    if key not in _VISUALIZERS:
        # No ReplaceToLinear: the score stays the mean activation after the ReLU, as
        # freezelab's. clone=False is safe: ExtractIntermediateLayer only builds a new
        # model on the same layers.
        _VISUALIZERS[key] = ActivationMaximization(
            model, model_modifier=ExtractIntermediateLayer(layer), clone=False
        )
    return _VISUALIZERS[key]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=["vgg16", "teacher"], default="vgg16")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--layer", default="block3_conv1")
    parser.add_argument("--filters", type=int, default=16)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    model = build_model(args.model, args.size)
    filters = list(range(args.filters))
    settings = dict(steps=args.steps, octaves=1, scale_jitter=0.0)
    for batch_size in (None, 1):  # trace each input shape once, outside the timing
        seconds_for(model, args.layer, filters, batch_size, dict(steps=1, octaves=1))

    recipe = keras.backend.backend() == "tensorflow"
    if recipe:  # trace it once, outside the timing
        keras_io_seconds(model, args.layer, filters[:1], 1, args.size)
    tkv_missing = tf_keras_vis_missing()
    if tkv_missing is None:  # build its model and run a first step outside the timing
        tf_keras_vis_seconds(model, args.layer, filters, 1, args.size)

    load_before = round(os.getloadavg()[0], 2)
    batched, single, keras_io, tkv = [], [], [], []
    for _ in range(args.repeats):  # interleaved, so load changes hit all alike
        batched.append(seconds_for(model, args.layer, filters, None, settings))
        single.append(seconds_for(model, args.layer, filters, 1, settings))
        if recipe:
            keras_io.append(keras_io_seconds(model, args.layer, filters, args.steps, args.size))
        if tkv_missing is None:
            tkv.append(tf_keras_vis_seconds(model, args.layer, filters, args.steps, args.size))
    load_after = round(os.getloadavg()[0], 2)
    batched_rate = args.filters / statistics.median(batched)
    single_rate = args.filters / statistics.median(single)

    print(f"backend: {keras.backend.backend()}, keras {keras.__version__}, {describe_device()}")
    print(
        f"model: {args.model} at {args.size}x{args.size}, layer {args.layer}, "
        f"{args.filters} filters, {args.steps} steps, jitter + blur, 1 octave, "
        f"median of {args.repeats}"
    )
    print(f"load average (1 min) before and after: {load_before} / {load_after}")
    layer = model.get_layer(args.layer)
    if computes_chosen_filters_only(layer):
        print(
            f"freezelab computes {args.layer} for the drawn filters only: {args.filters} of "
            f"{layer.filters} (the baselines compute all {layer.filters})"
        )
    else:
        print(f"freezelab computes {args.layer} whole, as the baselines do")
    print(f"one filter at a time: {single_rate:7.2f} filters/s")
    print(f"all filters batched:  {batched_rate:7.2f} filters/s")
    print(f"speed-up (batched / one at a time): {batched_rate / single_rate:.2f}x")
    if keras_io:
        keras_io_rate = args.filters / statistics.median(keras_io)
        print(f"keras-io recipe, one filter at a time: {keras_io_rate:7.2f} filters/s")
        print(f"batched / keras-io recipe: {batched_rate / keras_io_rate:.2f}x")
    else:
        print("keras-io recipe: not run (it needs the TensorFlow backend)")
    if tkv:
        tkv_rate = args.filters / statistics.median(tkv)
        print(f"tf-keras-vis ActivationMaximization, batched: {tkv_rate:7.2f} filters/s")
        print(f"batched / tf-keras-vis: {batched_rate / tkv_rate:.2f}x")
    else:
        print(f"tf-keras-vis ActivationMaximization: {tkv_missing}")


if __name__ == "__main__":
    main()
