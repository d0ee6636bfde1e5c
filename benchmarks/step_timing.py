"""Benchmark: does freezing make a training step faster, as the cost model says?

Runs the standard sweep (`freezelab.speed.sweep.standard_cases`) on VGG16 with a
small dense head and prints, per mask, the measured ms/step, the measured
speed-up, the cost model's predicted speed-up and its error on the step-time
fraction. Beside the masks, the same interleaved rounds time the floor (every
layer frozen), the optimizer-update probes and the head on cached features
(`freezelab.speed.probes`); the prediction "with measured terms" keeps the
floor and the update at their measured shares and scales only the backward
part by FLOPs. Target: within 5 % for every prefix mask on a quiet CPU at
96x96, batch 8 (the worst error is printed).

Usage::

    python benchmarks/step_timing.py                       # 96x96, batch 8, TensorFlow
    python benchmarks/step_timing.py --backend jax --input-size 224 --batch-size 32
    python benchmarks/step_timing.py --json sweep.json     # also write the sweep as JSON
    python benchmarks/step_timing.py --record benchmarks/records   # a dated, labelled record
    python benchmarks/step_timing.py --repeats 20 --update-probes block3 block4 --record benchmarks/records
                                                           # lesson 03's arms, for its record check

``--record DIR`` writes one JSON record (`build_record`: date, device,
backend, library versions, input size, batch, ms/step per mask, predicted
against measured, peak accelerator memory) to DIR, named by date, device,
backend, input size and batch. ``benchmarks/gpu_sweep.py`` runs this on a GPU
machine for each backend.

Weights do not change the arithmetic, so the model is built untrained (no
download). Keep the machine otherwise idle while it runs.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

BACKENDS = ("tensorflow", "jax", "torch")
# Distributions whose versions a record names, per backend (those installed).
RECORD_VERSIONS = {
    "tensorflow": ("tensorflow",),
    "jax": ("jax", "jaxlib", "jax-cuda12-plugin", "jax-cuda13-plugin"),
    "torch": ("torch",),
}
MODEL_LABEL = "VGG16 (untrained weights) + Flatten, Dense(128), Dense(10)"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Reads the command line (see the module docstring)."""
    parser = argparse.ArgumentParser(
        prog="python benchmarks/step_timing.py",
        description="Time VGG16 training steps under freeze masks against the cost model.",
    )
    parser.add_argument("--input-size", type=int, default=96, help="image side (>= 32)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=15, help="timed rounds (steps per mask)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps per mask")
    parser.add_argument("--backend", choices=BACKENDS, help="Keras backend (default: current)")
    parser.add_argument("--jit", choices=("auto", "on", "off"), default="auto", help="XLA")
    parser.add_argument(
        "--one-by-one",
        action="store_true",
        help="time masks one after another instead of side by side (less memory)",
    )
    parser.add_argument(
        "--eager",
        action="store_true",
        help="also time with run_eagerly=True (nothing frozen, the whole base, the floor)",
    )
    parser.add_argument(
        "--variable-count-probe",
        action="store_true",
        help="also time a fixed-cost probe with one single-number weight per trainable variable",
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the random batch and the round orders"
    )
    parser.add_argument(
        "--update-probes",
        nargs="+",
        metavar="BLOCK",
        default=(),
        help="also time an update probe holding only these blocks' weights, e.g. "
        "'block3 block4' (as lesson 03 does: arms 'update probe: block3', ...)",
    )
    parser.add_argument("--json", metavar="PATH", help="write the sweep as JSON")
    parser.add_argument(
        "--record",
        metavar="DIR",
        help="write a dated record (device, versions, figures) as JSON into DIR",
    )
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
    from freezelab.speed.sweep import FLOOR, run_sweep, standard_cases
    from freezelab.speed.timing import describe_device

    jit = {"auto": "auto", "on": True, "off": False}[args.jit]
    base = load_vgg16(weights=None, input_size=args.input_size, verbose=False)
    model = with_head(base, head_units=(128, 10), pooling="flatten")
    print(
        f"step_timing: VGG16 + dense head at {args.input_size}x{args.input_size}, "
        f"batch {args.batch_size}, Adam, {args.repeats} timed steps per mask after "
        f"{args.warmup} warm-up steps\nKeras {keras.__version__}, backend "
        f"{keras.backend.backend()}, device {describe_device()}\n"
    )
    cases = _chosen_cases(standard_cases(model), args.only)
    whole_base = ([c for c in cases if c.kind == "prefix"] or cases)[-1]
    eager = [cases[0].label, whole_base.label, FLOOR] if args.eager else []
    result = run_sweep(
        model,
        cases,
        batch_size=args.batch_size,
        repeats=args.repeats,
        warmup=args.warmup,
        jit_compile=jit,
        interleave=not args.one_by_one,
        eager=list(dict.fromkeys(eager)),
        update_probes={f"update probe: {block}": [f"{block}_"] for block in args.update_probes}
        or None,
        seed=args.seed,
        variable_count_probe=args.variable_count_probe,
    )
    print()
    print(result.table())
    print()
    print(result.terms_table())
    print(
        f"\nworst prefix error, FLOPs model: {result.worst_prefix_error:.1%}; with measured "
        f"terms (floor, update): {result.worst_adjusted_prefix_error:.1%} (target: 5%)."
        "\nerror = predicted step-time fraction / measured fraction - 1."
    )
    whole = next(r for r in result.rows if r.label == whole_base.label)
    full = step_cost(model, cases[0].mask, args.batch_size)
    print(
        f"floor (every layer frozen, same train function): {result.setup['floor_ms']:.1f} ms = "
        f"{result.setup['floor_share']:.1%} of the fully trainable step (forward FLOPs say "
        f"{full.forward_flops / full.full_total_flops:.1%}); {whole.label}: "
        f"{whole.measured_fraction:.1%}."
    )
    load = (result.setup["load_average_before"], result.setup["load_average_after"])
    print(f"load average (1, 5, 15 min) before and after: {load[0]} / {load[1]}")
    if not result.timings[0].is_gpu:
        print("No GPU was used: these are CPU figures.")
    if args.eager:
        print("\nrun_eagerly=True, in the same rounds:")
        for label in dict.fromkeys(eager):
            compiled = next((r for r in result.rows if r.label == label), result.extras.get(label))
            eager_ms = result.extras["eager: " + label].median_ms
            print(
                f"  {label:<26} eager {eager_ms:8.1f} ms/step  compiled {compiled.median_ms:8.1f} ms/step"
            )
    if args.json:
        path = result.save_json(args.json)
        print(f"\nsweep written to {path}")
    if args.record:
        path = save_record(build_record(result, args), args.record)
        print(f"\nrecord written to {path}")
    return 0


def build_record(result, args: argparse.Namespace, now: datetime.datetime | None = None) -> dict:
    """A self-describing JSON record of one sweep.

    Args:
        result: The `SweepResult` of `run_sweep`, with measurements.
        args: The parsed command line it ran with.
        now: The time to stamp (None: now, in UTC).

    Returns:
        A dict: ``date``, ``device``, ``backend``, ``versions``, ``input_size``,
        ``batch_size``, the timing settings, the measured terms (``floor_ms``,
        ``floor_share``, ``update_ms``, ``update_share``, ``overhead_ms``,
        ``cached_ms``), the load average before and after, every extra arm's
        times under ``extras``, ``peak_memory_bytes`` (None where the backend
        exposes none, always on a CPU) and one entry per mask under ``masks``
        (ms/step, IQR, every step time, predicted and measured fraction of
        the fully trainable step, the measured one's spread, speed-ups,
        errors).
    """
    now = now or datetime.datetime.now(datetime.timezone.utc)
    setup = result.setup
    backend = setup["backend"]
    peaks = [t.peak_memory_bytes for t in result.timings if t.peak_memory_bytes is not None]
    masks = []
    for row, timing in zip(result.rows, result.timings):
        masks.append(
            {
                "label": row.label,
                "kind": row.kind,
                "frozen": list(row.frozen),
                "trainable_params": timing.trainable_params,
                "ms_per_step": row.median_ms,
                "iqr_ms": row.iqr_ms,
                "times_ms": list(timing.times_ms),
                "predicted_fraction": row.predicted_fraction,
                "measured_fraction": row.measured_fraction,
                "measured_fraction_iqr": row.fraction_iqr,
                "predicted_speedup": row.predicted_speedup,
                "measured_speedup": row.measured_speedup,
                "error": row.error,
                "measured_fraction_quartiles": row.fraction_quartiles,
                "terms_fraction": row.adjusted_fraction,
                "terms_error": row.adjusted_error,
            }
        )
    return {
        "record": "freezelab step timing",
        "schema": 2,
        "date": now.isoformat(timespec="seconds"),
        "device": setup["device"],
        "backend": backend,
        "versions": _versions(backend),
        "model": MODEL_LABEL,
        "input_size": args.input_size,
        "batch_size": args.batch_size,
        "optimizer": setup["optimizer"],
        "jit_compile": setup["jit_compile"],
        "repeats": args.repeats,
        "warmup": args.warmup,
        "seed": args.seed,
        "interleaved": setup["interleaved"],
        "floor_ms": setup["floor_ms"],
        "floor_share": setup["floor_share"],
        "update_ms": setup["update_ms"],
        "update_share": setup["update_share"],
        "overhead_ms": setup["overhead_ms"],
        "cached_ms": setup["cached_ms"],
        "load_average_before": setup["load_average_before"],
        "load_average_after": setup["load_average_after"],
        "extras": {
            label: {"ms_per_step": t.median_ms, "iqr_ms": t.iqr_ms, "times_ms": list(t.times_ms)}
            for label, t in result.extras.items()
        },
        "peak_memory_bytes": max(peaks) if peaks else None,
        "peak_memory_scope": (
            "all masks' model copies together (timed side by side)"
            if setup["interleaved"]
            else "the largest of the masks timed one after another"
        ),
        "worst_prefix_error": result.worst_prefix_error,
        "worst_terms_prefix_error": result.worst_adjusted_prefix_error,
        "command": shlex.join(["python", "benchmarks/step_timing.py", *sys.argv[1:]]),
        "masks": masks,
    }


def record_name(record: dict) -> str:
    """File name of a record: date, device, backend, input size and batch."""
    device = re.sub(r"[^a-z0-9]+", "-", record["device"].lower()).strip("-")
    return (
        f"{record['date'][:10]}_{device}_{record['backend']}_"
        f"{record['input_size']}px_b{record['batch_size']}.json"
    )


def save_record(record: dict, folder: str | os.PathLike) -> Path:
    """Writes ``record`` into ``folder`` (created if needed) and returns its path."""
    path = Path(folder) / record_name(record)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2) + "\n")
    return path


def _versions(backend: str) -> dict[str, str]:
    """Python, Keras, NumPy, freezelab and the backend's libraries (those installed)."""
    from freezelab.speed.records import library_versions

    versions = library_versions(("keras", "numpy", *RECORD_VERSIONS.get(backend, ())))
    if backend == "torch":
        import torch

        if torch.version.cuda:
            versions["cuda (torch)"] = torch.version.cuda
    return versions


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
