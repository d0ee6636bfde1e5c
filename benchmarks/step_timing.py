"""Benchmark: does freezing make a training step faster, as the cost model says?

Runs the standard sweep (`freezelab.speed.sweep.standard_cases`) on VGG16 with a
small dense head and prints, per mask, the measured ms/step, the measured
speed-up, the cost model's predicted speed-up and its error on the step-time
fraction. Target: within 20 % for every prefix mask.

Usage::

    python benchmarks/step_timing.py                       # 96x96, batch 8, TensorFlow
    python benchmarks/step_timing.py --backend jax --input-size 224 --batch-size 32
    python benchmarks/step_timing.py --json sweep.json     # also write the record

Weights do not change the arithmetic, so the model is built untrained (no
download). Keep the machine otherwise idle while it runs.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

BACKENDS = ("tensorflow", "jax", "torch")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Reads the command line (see the module docstring)."""
    parser = argparse.ArgumentParser(
        prog="python benchmarks/step_timing.py",
        description="Time VGG16 training steps under freeze masks against the cost model.",
    )
    parser.add_argument("--input-size", type=int, default=96, help="image side (>= 32)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=10, help="timed steps per mask")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps per mask")
    parser.add_argument("--backend", choices=BACKENDS, help="Keras backend (default: current)")
    parser.add_argument("--jit", choices=("auto", "on", "off"), default="auto", help="XLA")
    parser.add_argument(
        "--one-by-one",
        action="store_true",
        help="time masks one after another instead of side by side (less memory)",
    )
    parser.add_argument("--eager", action="store_true", help="also time with run_eagerly=True")
    parser.add_argument("--json", metavar="PATH", help="write the sweep record as JSON")
    parser.add_argument(
        "--only",
        metavar="LABELS",
        help="comma-separated mask labels to time, e.g. 'nothing frozen,blocks 1-5' "
        "(default: the whole standard sweep)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Runs the benchmark and prints the table.

    Args:
        argv: Command-line arguments (None: ``sys.argv[1:]``).

    Returns:
        The process exit code (0 on success).
    """
    args = parse_args(argv)
    current = os.environ.get("KERAS_BACKEND", "tensorflow")
    if args.backend and args.backend != current and "keras" in sys.modules:
        # Keras picks its backend once, at import: start again under the one asked for.
        argv = sys.argv[1:] if argv is None else argv
        env = {**os.environ, "KERAS_BACKEND": args.backend}
        return subprocess.call([sys.executable, __file__, *argv], env=env)
    if args.backend:
        os.environ["KERAS_BACKEND"] = args.backend
    return _run(args)


def _run(args: argparse.Namespace) -> int:
    import keras

    from freezelab.core.models import load_vgg16, with_head
    from freezelab.speed.cost import step_cost
    from freezelab.speed.sweep import run_sweep, standard_cases
    from freezelab.speed.timing import describe_device, time_train_step

    jit = {"auto": "auto", "on": True, "off": False}[args.jit]
    base = load_vgg16(weights=None, input_size=args.input_size, verbose=False)
    model = with_head(base, head_units=(128, 10), pooling="flatten")
    print(
        f"step_timing: VGG16 + dense head at {args.input_size}x{args.input_size}, "
        f"batch {args.batch_size}, Adam, {args.repeats} timed steps per mask after "
        f"{args.warmup} warm-up steps\nKeras {keras.__version__}, backend "
        f"{keras.backend.backend()}, device {describe_device()}\n"
    )
    result = run_sweep(
        model,
        _chosen_cases(standard_cases(model), args.only),
        batch_size=args.batch_size,
        repeats=args.repeats,
        warmup=args.warmup,
        jit_compile=jit,
        interleave=not args.one_by_one,
    )
    print()
    print(result.table())
    print(
        f"\nworst prefix error, FLOPs model: {result.worst_prefix_error:.0%}; with the forward "
        f"pass at its measured share: {result.worst_adjusted_prefix_error:.0%} (target: 20%)."
        "\nerror = predicted step-time fraction / measured fraction - 1."
    )
    whole_base = ([r for r in result.rows if r.kind == "prefix"] or result.rows)[-1]
    full = step_cost(model, standard_cases(model)[0].mask, args.batch_size)
    print(
        f"forward pass alone: {result.setup['forward_ms']:.1f} ms = "
        f"{result.setup['forward_share']:.0%} of the fully trainable step (FLOPs say "
        f"{full.forward_flops / full.full_total_flops:.0%}): the floor for freezing without "
        f"cached features ({whole_base.label}: {whole_base.measured_fraction:.0%})."
    )
    if not result.timings[0].is_gpu:
        print("No GPU was used: these are CPU figures.")
    if args.eager:
        print("\nrun_eagerly=True (no graph, frozen layers' gradients may not be pruned):")
        cases = standard_cases(model)
        whole_base = [case for case in cases if case.kind == "prefix"][-1]
        for case in (cases[0], whole_base):
            timing = time_train_step(
                model, case.mask, args.batch_size, args.repeats, args.warmup, run_eagerly=True
            )
            compiled = next(r for r in result.rows if r.label == case.label)
            print(
                f"  {case.label:<16} eager {timing.median_ms:8.1f} ms/step"
                f"  compiled {compiled.median_ms:8.1f} ms/step"
            )
    if args.json:
        path = result.save_json(args.json)
        print(f"\nrecord written to {path}")
    return 0


def _chosen_cases(cases: list, only: str | None) -> list:
    """The standard cases whose labels ``only`` lists (all of them for None)."""
    if only is None:
        return cases
    labels = [label.strip() for label in only.split(",") if label.strip()]
    known = [case.label for case in cases]
    unknown = [label for label in labels if label not in known]
    if unknown or not labels:
        raise SystemExit(
            f"--only takes mask labels of the standard sweep: {', '.join(known)}. "
            f"Received: --only {only!r}"
        )
    return [case for case in cases if case.label in labels]


if __name__ == "__main__":
    sys.exit(main())
