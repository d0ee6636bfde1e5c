"""Gradient-ascent throughput: many filters as one batch against one filter at a time.

The common Keras example draws filters one by one in a Python loop. freezelab
optimises all chosen filters together as one batch (each picture's loss
depends only on its own pixels, so the result is the same). This script
measures filters per second both ways, with the same settings, side by side
in one run, and prints the ratio.

What to expect: batching pays where a single picture leaves the hardware
idle, i.e. where per-step overhead dominates (a narrow model such as the
teacher, small pictures, and accelerators generally). On a small CPU that one
full-width VGG16 picture already saturates, it gains nothing.

Usage:
    .venv/bin/python benchmarks/ascent_batching.py [--model vgg16|teacher] [--size 64]
        [--layer block3_conv1] [--filters 16] [--steps 10] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import time

import keras

from freezelab.speed.timing import describe_device
from freezelab.vis.ascent import filter_pictures


def build_model(name: str, size: int) -> keras.Model:
    """VGG16 (untrained weights: speed does not depend on them) or the teacher."""
    if name == "vgg16":
        from freezelab.core.models import load_vgg16

        return load_vgg16(weights=None, input_size=size, verbose=False)
    from freezelab.finetune.teacher import load_teacher

    return load_teacher(input_size=size, verbose=False)


def seconds_for(model, layer, filters, batch_size, settings) -> float:
    """Wall time of one `filter_pictures` call."""
    start = time.perf_counter()
    filter_pictures(model, layer, filters, batch_size=batch_size, progress=False, **settings)
    return time.perf_counter() - start


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

    batched, single = [], []
    for _ in range(args.repeats):  # interleaved, so load changes hit both alike
        batched.append(seconds_for(model, args.layer, filters, None, settings))
        single.append(seconds_for(model, args.layer, filters, 1, settings))
    batched_rate = args.filters / statistics.median(batched)
    single_rate = args.filters / statistics.median(single)

    print(f"backend: {keras.backend.backend()}, keras {keras.__version__}, {describe_device()}")
    print(
        f"model: {args.model} at {args.size}x{args.size}, layer {args.layer}, "
        f"{args.filters} filters, {args.steps} steps, jitter + blur, 1 octave, "
        f"median of {args.repeats}"
    )
    print(f"one filter at a time: {single_rate:7.2f} filters/s")
    print(f"all filters batched:  {batched_rate:7.2f} filters/s")
    print(f"speed-up (batched / one at a time): {batched_rate / single_rate:.1f}x")


if __name__ == "__main__":
    main()
