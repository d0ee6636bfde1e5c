"""Benchmark: how soon after a tick does the panel show a measured step time?

Builds VGG16 with a small head (untrained weights: the arithmetic is the same),
then "ticks" several masks one after another, as a learner would, and times
the live timer (`freezelab.speed.live`) from each tick to its first measured
step time (the first tick also measures the fully trainable reference). Then
it times the same masks carefully (`time_interleaved`, many rounds) and
prints how far the quick figures were from the careful ones.

    python benchmarks/live_timing.py                  # 96x96, batch 8
    python benchmarks/live_timing.py --input-size 224 --batch-size 32

Target on the project's 2-core CPU: a first measured figure within 10 s of a
tick at 96 px, batch 8.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Reads the command line (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input-size", type=int, default=96)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--first-steps", type=int, default=3, help="steps before a figure shows")
    parser.add_argument("--careful-repeats", type=int, default=10, help="rounds of the long timing")
    parser.add_argument(
        "--masks",
        default="T:all;F:block1-3 T:block4-5,head;F:block1-5 T:head;F:block3 T:block1-2,block4-5,head",
        help="semicolon-separated mask texts, ticked in this order",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Runs the benchmark and prints its figures.

    Args:
        argv: Command-line arguments (None: ``sys.argv[1:]``).

    Returns:
        The exit code.
    """
    args = parse_args(argv)
    import freezelab as fl  # noqa: I001 - first: it loads TensorFlow without its start-up notices
    import keras
    from freezelab.progress import Progress
    from freezelab.speed.live import LiveTimer, follow_mask
    from freezelab.speed.timing import time_interleaved

    base = fl.load_vgg16(weights=None, input_size=args.input_size, verbose=False)
    model = fl.with_head(base, head_units=(128, 10))
    masks = [fl.mask_from_text(text.strip(), model) for text in args.masks.split(";")]
    timer = LiveTimer(model, batch_size=args.batch_size)
    print(
        f"live_timing: VGG16 + head at {args.input_size}x{args.input_size}, batch "
        f"{args.batch_size}, Keras {keras.__version__} ({keras.backend.backend()}), "
        f"{timer.device}\n"
    )
    print(f"{'tick':<40}{'to first figure':>16}{'setup':>9}{'median':>11}")
    waits = []
    for mask in masks:
        start = time.perf_counter()
        follow_mask(timer, lambda mask=mask: mask, Progress(), args.first_steps, args.first_steps)
        wait_s = time.perf_counter() - start
        waits.append(wait_s)
        measured = timer.measurements[fl.mask_to_text(mask)]
        print(
            f"{fl.mask_to_text(mask):<40}{wait_s:>14.1f} s{measured.setup_ms / 1000:>7.1f} s"
            f"{measured.median_ms:>8.1f} ms"
        )
    print(
        f"\nmedian tick -> first measured figure: {statistics.median(waits):.1f} s "
        f"(first tick includes the copy and the fully trainable reference: {waits[0]:.1f} s)"
    )
    careful = time_interleaved(model, masks, args.batch_size, args.careful_repeats, warmup=2)
    reference_quick = timer.reference.median_ms
    reference_careful = careful[0].median_ms
    print(f"\n{'mask':<40}{'quick fraction':>15}{'careful fraction':>18}{'difference':>12}")
    for mask, slow in zip(masks, careful):
        quick = timer.measurements[fl.mask_to_text(mask)].median_ms / reference_quick
        steady = slow.median_ms / reference_careful
        print(
            f"{fl.mask_to_text(mask):<40}{quick:>15.2f}{steady:>18.2f}{quick / steady - 1:>+11.0%}"
        )
    print(
        "\nquick: the live timer's first figure (median of "
        f"{args.first_steps} steps); careful: {args.careful_repeats} interleaved rounds."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
