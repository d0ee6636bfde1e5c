"""Grad-CAM speed: `freezelab.grad_cam` against the keras-io recipe, on a kept model.

The baseline is the recipe of the Keras Grad-CAM example
(keras-io ``examples/vision/grad_cam.py``): the softmax removed from the last
layer, one gradient model ``inputs -> [conv maps, predictions]`` built once
and kept, ``tf.GradientTape`` for the class score's gradient with respect to
the maps, channel weights by averaging, and the positive part of the weighted
sum; here the whole step is wrapped in ``tf.function`` so it is traced once.
The recipe removes the softmax in place; to leave the model freezelab explains
untouched, the recipe runs on a clone with the same weights.

Both run on the same model (VGG16 without weights + a small dense head), the
same image, in interleaved rounds (one call of each per round, the order
alternating), after untimed warm-up calls that build and trace everything.
The script prints the median ms per call of each, the ratio
(freezelab / recipe), the correlation of the two coarse heatmaps (they
should agree: 1.0 up to float error), the 1-minute load average before and
after, and the machine.

TensorFlow backend only (the recipe uses ``tf.GradientTape``).

Usage:
    .venv/bin/python benchmarks/gradcam_speed.py [--size 96] [--rounds 30] [--warmup 3]
        [--head 128,10] [--layer block5_conv3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import keras
import numpy as np


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Reads the command line (see the module docstring)."""
    parser = argparse.ArgumentParser(
        prog="python benchmarks/gradcam_speed.py",
        description="Time fl.grad_cam against the keras-io Grad-CAM recipe on a kept model.",
    )
    parser.add_argument("--size", type=int, default=96, help="image side (>= 32)")
    parser.add_argument("--rounds", type=int, default=30, help="timed rounds (calls of each)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed calls of each first")
    parser.add_argument("--head", default="128,10", help="dense units of the head, comma-separated")
    parser.add_argument("--layer", default="block5_conv3", help="convolution whose maps are used")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.size < 32:
        parser.error(f"--size must be at least 32 (VGG16's smallest input). Received: {args.size}")
    if args.rounds < 1 or args.warmup < 1:
        parser.error(
            f"--rounds and --warmup must be at least 1. Received: {args.rounds}, {args.warmup}"
        )
    try:
        args.head = tuple(int(units) for units in args.head.split(","))
    except ValueError:
        parser.error(f"--head takes comma-separated ints. Received: {args.head!r}")
    return args


def keras_io_recipe(model: keras.Model, layer_name: str):
    """The keras-io Grad-CAM recipe, with its gradient model kept and its step traced once.

    Args:
        model: The classifier (a softmax Dense layer last). It is cloned, so the
            recipe's removal of the softmax does not change it.
        layer_name: The convolution whose maps are used.

    Returns:
        ``heatmap(image, class_index) -> (h, w) NumPy array``, scaled to 0..1 as
        in the example.
    """
    import tensorflow as tf

    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    clone.layers[-1].activation = None  # "Remove last layer's softmax", as the example does
    grad_model = keras.Model(clone.inputs, [clone.get_layer(layer_name).output, clone.output])

    @tf.function
    def make_heatmap(img_array, pred_index):
        with tf.GradientTape() as tape:
            last_conv_layer_output, preds = grad_model(img_array)
            class_channel = preds[:, pred_index]
        grads = tape.gradient(class_channel, last_conv_layer_output)
        pooled_grads = tf.reduce_mean(grads, axis=(0, 1, 2))
        heatmap = last_conv_layer_output[0] @ pooled_grads[..., tf.newaxis]
        heatmap = tf.squeeze(heatmap)
        return tf.maximum(heatmap, 0) / tf.math.reduce_max(heatmap)

    def heatmap(image: np.ndarray, class_index: int) -> np.ndarray:
        return make_heatmap(image[None], tf.constant(class_index)).numpy()

    return heatmap


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two maps (NaN when either is flat)."""
    a, b = np.ravel(a).astype(np.float64), np.ravel(b).astype(np.float64)
    if a.std() == 0 or b.std() == 0:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def load_1min() -> float:
    """The 1-minute load average."""
    return round(os.getloadavg()[0], 2)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if keras.backend.backend() != "tensorflow":
        raise SystemExit(
            "The keras-io recipe uses tf.GradientTape: run with KERAS_BACKEND=tensorflow. "
            f"Received: KERAS_BACKEND={keras.backend.backend()!r}"
        )
    import freezelab as fl
    from freezelab.speed.timing import describe_device

    keras.utils.set_random_seed(args.seed)
    base = fl.load_vgg16(weights=None, input_size=args.size, verbose=False)
    model = fl.with_head(base, args.head)
    image = np.random.default_rng(args.seed).normal(0, 60, (args.size, args.size, 3))
    image = image.astype(np.float32)
    class_index = int(np.argmax(model.predict(image[None], verbose=0)[0]))
    recipe = keras_io_recipe(model, args.layer)

    def freezelab_call() -> np.ndarray:
        return fl.grad_cam(model, image, class_index=class_index, layer_name=args.layer).coarse

    def recipe_call() -> np.ndarray:
        return recipe(image, class_index)

    arms = {"fl.grad_cam": freezelab_call, "keras-io recipe": recipe_call}
    for _ in range(args.warmup):  # builds the cached models, traces both functions
        for call in arms.values():
            call()
    load_before = load_1min()
    times: dict[str, list[float]] = {name: [] for name in arms}
    for round_index in range(args.rounds):  # interleaved, the order alternating
        names = list(arms) if round_index % 2 == 0 else list(arms)[::-1]
        for name in names:
            start = time.perf_counter()
            arms[name]()
            times[name].append((time.perf_counter() - start) * 1000)
    load_after = load_1min()

    ours = freezelab_call()
    theirs = recipe_call()
    medians = {name: statistics.median(values) for name, values in times.items()}
    spreads = {
        name: (np.percentile(values, 25), np.percentile(values, 75))
        for name, values in times.items()
    }
    ratio = medians["fl.grad_cam"] / medians["keras-io recipe"]

    print(f"machine: {describe_device()}; Keras {keras.__version__} ({keras.backend.backend()})")
    print(
        f"model: VGG16 (no weights) + head {args.head} at {args.size}x{args.size}, "
        f"layer {args.layer}, one image, {args.rounds} interleaved rounds after "
        f"{args.warmup} warm-up calls each"
    )
    print(f"load average (1 min) before and after: {load_before} / {load_after}")
    for name in arms:
        low, high = spreads[name]
        print(
            f"{name + ':':17s} {medians[name]:8.1f} ms per call "
            f"(middle half {low:.1f}-{high:.1f} ms)"
        )
    print(f"ratio (fl.grad_cam / keras-io recipe): {ratio:.2f}x (goal: at most 1.2x)")
    print(
        f"heatmaps agree: correlation {correlation(ours, theirs):.4f} "
        f"(coarse maps, {ours.shape[0]}x{ours.shape[1]})"
    )


if __name__ == "__main__":
    main()
