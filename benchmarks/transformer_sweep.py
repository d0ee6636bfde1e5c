"""Benchmark: what each fine-tuning strategy of the ViT teacher costs, predicted and measured.

Per strategy (head only, the top block, BitFit, LoRA at ranks 2, 4 and 8 on
the attention query/value projections, full fine-tuning), applied by
`freezelab.core.peft.apply_strategy` to a fresh copy of the ViT teacher:

* trainable parameters and Hugging Face PEFT's ``trainable%`` line;
* optimizer state bytes (Adam: two float32 moments per trainable weight);
* predicted activations kept for the backward pass
  (`freezelab.speed.memory_breakdown.memory_breakdown`);
* the cost model's step FLOPs as a fraction of full fine-tuning
  (`freezelab.speed.cost.step_cost`) beside the measured step time, all
  strategies timed in ONE interleaved run (`freezelab.speed.strategy_timing.time_strategies`);
* on JAX, XLA's memory analysis of one compiled training step
  (`freezelab.speed.memory_breakdown.measured_memory`) beside the prediction:
  its arguments against weights + optimizer state + batch, its temporaries
  against gradients + kept activations (a lower bound, see that module).

The 1-minute load average is printed before and after the timed rounds.

Usage::

    python benchmarks/transformer_sweep.py                 # ViT teacher, batch 32, 15 rounds, JAX
    python benchmarks/transformer_sweep.py --quick         # CI size: a smaller ViT, 3 rounds
    python benchmarks/transformer_sweep.py --record benchmarks/records   # also write a JSON record
    python benchmarks/transformer_sweep.py --backend tensorflow   # timing only, no measured memory

Keep the machine otherwise idle while it runs.
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
STRATEGIES = (
    "head",
    ("top_blocks", {"top_blocks": 1}),
    "bitfit",
    ("lora", {"rank": 2}),
    ("lora", {"rank": 4}),
    ("lora", {"rank": 8}),
    "full",
)
MIB = 2**20


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Reads the command line (see the module docstring)."""
    parser = argparse.ArgumentParser(
        prog="python benchmarks/transformer_sweep.py",
        description="Predicted vs measured step time and memory per fine-tuning strategy (ViT).",
    )
    parser.add_argument("--batch-size", type=int, default=None, help="default 32 (quick: 4)")
    parser.add_argument("--rounds", type=int, default=None, help="default 15 (quick: 3)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps per strategy")
    parser.add_argument("--seed", type=int, default=0, help="batch and round-order seed")
    parser.add_argument("--quick", action="store_true", help="CI size: a smaller untrained ViT")
    parser.add_argument("--backend", choices=BACKENDS, default="jax", help="Keras backend")
    parser.add_argument("--record", metavar="DIR", default=None, help="write a JSON record")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Runs the benchmark, prints its table and, with ``--record``, writes a record.

    Args:
        argv: Command-line arguments (None: ``sys.argv[1:]``).

    Returns:
        The process exit code (0 on success).
    """
    args = parse_args(argv)
    if "keras" in sys.modules and os.environ.get("KERAS_BACKEND") != args.backend:
        # Keras picks its backend once, at import: start again under the one asked for.
        argv = sys.argv[1:] if argv is None else argv
        env = {**os.environ, "KERAS_BACKEND": args.backend}
        return subprocess.call([sys.executable, __file__, *argv], env=env)
    os.environ["KERAS_BACKEND"] = args.backend
    return _run(args)


def builder(quick: bool):
    """The model factory: the ViT teacher, or (quick) a smaller untrained ViT."""
    from freezelab.sources.vit import load_vit_teacher, tiny_vit

    if quick:
        return lambda: tiny_vit(image_size=16, width=32, depth=2, num_heads=2, mlp_width=64)
    return lambda: load_vit_teacher(verbose=False)


def _run(args: argparse.Namespace) -> int:
    import keras

    from freezelab.speed.memory_breakdown import measured_memory, memory_breakdown
    from freezelab.speed.strategy_timing import prepare_strategy, time_strategies

    batch_size = args.batch_size or (4 if args.quick else 32)
    rounds = args.rounds or (3 if args.quick else 15)
    build = builder(args.quick)
    backend = keras.backend.backend()
    memory = {}
    for spec in STRATEGIES:
        label, model, _, _ = prepare_strategy(build, spec)
        predicted = memory_breakdown(model, batch_size)
        row = {
            "weights_bytes": predicted.weights,
            "gradients_bytes": predicted.gradients,
            "optimizer_bytes": predicted.optimizer_state,
            "activations_bytes": predicted.activations,
            "lowest_trainable": predicted.lowest_trainable,
        }
        if backend == "jax":
            measured = measured_memory(model, batch_size)
            row.update(
                measured_arguments_bytes=measured.arguments,
                measured_temporaries_bytes=measured.temporaries,
                batch_bytes=measured.batch_bytes,
            )
        memory[label] = row
    timings = time_strategies(
        build, STRATEGIES, batch_size=batch_size, rounds=rounds, seed=args.seed, warmup=args.warmup
    )
    print(_table(timings, memory, backend, args.quick))
    if args.record:
        path = save_record(build_record(timings, memory, args), args.record)
        print(f"record written: {path}")
    return 0


def _table(timings, memory: dict, backend: str, quick: bool) -> str:
    model = "smaller untrained ViT (quick)" if quick else "ViT teacher"
    lines = [f"{model}: {timings.rows[0].all_params:,} parameters without adapters", ""]
    for row in timings.rows:
        lines.append(f"{row.label:<14}{row.peft_line}")
    lines.append("")
    header = (
        f"{'strategy':<14}{'optim MiB':>10}{'kept act MiB':>13}{'pred':>7}{'meas':>7}"
        f"{'ms/step':>9}{'IQR ms':>13}"
    )
    if backend == "jax":
        header += f"{'args MiB pred/XLA':>20}{'temp MiB pred/XLA':>20}"
    lines.append(header)
    for row in timings.rows:
        mem = memory[row.label]
        line = (
            f"{row.label:<14}{mem['optimizer_bytes'] / MIB:>10.3f}"
            f"{mem['activations_bytes'] / MIB:>13.2f}{row.predicted_fraction:>7.2f}"
            f"{timings.measured_fraction(row.label):>7.2f}{row.median_ms:>9.1f}"
            f"{f'{row.q1_ms:.1f}-{row.q3_ms:.1f}':>13}"
        )
        if backend == "jax":
            arguments = mem["weights_bytes"] + mem["optimizer_bytes"] + mem["batch_bytes"]
            temporaries = mem["gradients_bytes"] + mem["activations_bytes"]
            xla_arguments = mem["measured_arguments_bytes"] / MIB
            xla_temporaries = mem["measured_temporaries_bytes"] / MIB
            line += f"{f'{arguments / MIB:.2f}/{xla_arguments:.2f}':>20}"
            line += f"{f'{temporaries / MIB:.2f}/{xla_temporaries:.2f}':>20}"
        lines.append(line)
    before = "n/a" if timings.load_before is None else f"{timings.load_before[0]:.2f}"
    after = "n/a" if timings.load_after is None else f"{timings.load_after[0]:.2f}"
    lines += [
        "",
        f"{timings.rounds} interleaved rounds, batch {timings.batch_size}, {timings.device}, "
        f"Keras backend {timings.backend}",
        f"load average (1 min): {before} before the timed rounds, {after} after",
        "pred: step FLOPs / full fine-tuning's (cost model); meas: median step time / full's",
    ]
    if backend == "jax":
        lines.append(
            "args: weights + optimizer state + batch, predicted / XLA's compiled step; temp: "
            "gradients + kept activations, predicted (a lower bound) / XLA's temporaries"
        )
    return "\n".join(lines)


def build_record(timings, memory: dict, args, now: datetime.datetime | None = None) -> dict:
    """The run as a JSON record: where, what, the timings and the memory per strategy."""
    now = now or datetime.datetime.now(datetime.UTC)
    return {
        "record": "freezelab transformer sweep (benchmarks/transformer_sweep.py)",
        "date": now.isoformat(timespec="seconds"),
        "device": timings.device,
        "backend": timings.backend,
        "versions": _versions(),
        "model": "smaller untrained ViT (quick)" if args.quick else "ViT teacher (data/)",
        "command": shlex.join(["python", "benchmarks/transformer_sweep.py", *sys.argv[1:]]),
        "optimizer": "adam",
        "timing": timings.to_json(),
        "memory": memory,
    }


def save_record(record: dict, folder: str | os.PathLike) -> Path:
    """Writes ``record`` into ``folder`` as ``<date>_<device>_<backend>_transformer_sweep.json``."""
    device = re.sub(r"[^a-z0-9]+", "-", record["device"].lower()).strip("-")
    name = f"{record['date'][:10]}_{device}_{record['backend']}_transformer_sweep.json"
    path = Path(folder) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2) + "\n")
    return path


def _versions() -> dict[str, str]:
    from freezelab.speed.records import library_versions

    return library_versions(("keras", "numpy", "jax", "jaxlib", "tensorflow", "torch"))


if __name__ == "__main__":
    sys.exit(main())
