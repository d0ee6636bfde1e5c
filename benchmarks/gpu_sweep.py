"""GPU recipe: the step-timing sweep on JAX and PyTorch, one dated record per backend.

Runs ``benchmarks/step_timing.py --record`` once per backend, each in its own
process (Keras picks its backend at import), and writes the records into
``benchmarks/records/``: device name, backend, versions, input size, batch,
ms/step per freeze mask, the cost model's prediction beside the measurement,
peak accelerator memory. On a CPU the same code runs (tests do it at 32 px)
and the record says "CPU".

It needs no TensorFlow and no installed freezelab: it puts this checkout on
the path. A machine with JAX and PyTorch but no Keras and no package registry
(Python 3.12) needs three wheels carried to it, fetched where a registry is
reachable::

    python benchmarks/gpu_sweep.py --fetch-wheels .whl          # here: keras, namex, optree
    python benchmarks/gpu_sweep.py --wheels .whl                # there: install them, then time
    python benchmarks/gpu_sweep.py --backends jax --only "nothing frozen,blocks 1-5"

Defaults: 224x224 inputs, batch 32, 10 timed steps per mask after 3 warm-up
steps, masks timed side by side (interleaved).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STEP_TIMING = ROOT / "benchmarks" / "step_timing.py"
RECORDS = ROOT / "benchmarks" / "records"
KERAS_WHEELS = ("keras", "namex", "optree")
BACKEND_MODULES = {"jax": "jax", "torch": "torch", "tensorflow": "tensorflow"}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Reads the command line (see the module docstring)."""
    parser = argparse.ArgumentParser(
        prog="python benchmarks/gpu_sweep.py",
        description="Time the freeze sweep on each backend and write dated JSON records.",
    )
    parser.add_argument("--backends", default="jax,torch", help="comma-separated backends")
    parser.add_argument("--input-size", type=int, default=224)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=10, help="timed steps per mask")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps per mask")
    parser.add_argument("--only", metavar="LABELS", help="mask labels, as step_timing.py takes")
    parser.add_argument("--one-by-one", action="store_true", help="time masks one at a time")
    parser.add_argument("--out-dir", default=str(RECORDS), help="where the records go")
    parser.add_argument("--wheels", metavar="DIR", help="install the wheels in DIR first")
    parser.add_argument(
        "--fetch-wheels",
        metavar="DIR",
        help="download keras, namex and optree wheels for CPython 3.12 (Linux x86_64) to DIR "
        "and stop (run where a package registry is reachable)",
    )
    return parser.parse_args(argv)


def chosen_backends(text: str) -> list[str]:
    """The backends named in ``text``, checked.

    Raises:
        SystemExit: For an empty list or a name that is not a Keras backend.
    """
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in BACKEND_MODULES]
    if unknown or not names:
        raise SystemExit(
            f"--backends takes a comma-separated list of {', '.join(BACKEND_MODULES)}. "
            f"Received: --backends {text!r}"
        )
    return names


def fetch_wheels(folder: str) -> int:
    """Downloads the wheels Keras needs beyond what the GPU machines have."""
    version = _installed_version("keras")
    keras = f"keras=={version}" if version else "keras"
    command = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
        "--python-version", "3.12", "--implementation", "cp", "--abi", "cp312",
        "--platform", "manylinux_2_28_x86_64", "--platform", "manylinux2014_x86_64",
        "--dest", folder, keras, "namex", "optree",
    ]  # fmt: skip
    print("Running:", " ".join(command), flush=True)
    return subprocess.call(command)


def install_wheels(folder: str) -> None:
    """Installs the carried wheels without a registry, unless Keras is already there."""
    if importlib.util.find_spec("keras") is not None:
        print("Keras is installed already; not installing the carried wheels.", flush=True)
        return
    wheels = sorted(str(path) for path in Path(folder).glob("*.whl"))
    if not wheels:
        raise SystemExit(f"--wheels found no .whl files. Received: --wheels {folder!r}")
    command = [sys.executable, "-m", "pip", "install", "--no-index", "--no-deps", *wheels]
    subprocess.run(command, check=True)


def sweep_command(backend: str, args: argparse.Namespace) -> list[str]:
    """The step_timing.py command that times ``backend`` and records it."""
    command = [
        sys.executable, str(STEP_TIMING), "--backend", backend,
        "--input-size", str(args.input_size), "--batch-size", str(args.batch_size),
        "--repeats", str(args.repeats), "--warmup", str(args.warmup),
        "--record", args.out_dir,
    ]  # fmt: skip
    if args.only:
        command += ["--only", args.only]
    if args.one_by_one:
        command.append("--one-by-one")
    return command


def main(argv: list[str] | None = None) -> int:
    """Runs the sweep for each backend; returns 0 when every backend was recorded.

    Args:
        argv: Command-line arguments (None: ``sys.argv[1:]``).

    Returns:
        The process exit code: 0, or 1 when a backend is missing or its run failed.
    """
    args = parse_args(argv)
    if args.fetch_wheels:
        return fetch_wheels(args.fetch_wheels)
    backends = chosen_backends(args.backends)
    if args.wheels:
        install_wheels(args.wheels)
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    failed = []
    for backend in backends:
        if importlib.util.find_spec(BACKEND_MODULES[backend]) is None:
            print(f"{backend}: not installed here, skipped.", flush=True)
            failed.append(backend)
            continue
        env = {**os.environ, "KERAS_BACKEND": backend, "PYTHONPATH": path}
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        print(f"\n=== {backend} ===", flush=True)
        if subprocess.call(sweep_command(backend, args), env=env, cwd=ROOT) != 0:
            failed.append(backend)
    if failed:
        print(f"\nNo record for: {', '.join(failed)}.")
        return 1
    print(f"\nRecords are in {args.out_dir}.")
    return 0


def _installed_version(name: str) -> str | None:
    import importlib.metadata

    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


if __name__ == "__main__":
    sys.exit(main())
