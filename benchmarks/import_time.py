"""Import time: ``import freezelab`` against ``import keras``, each in a fresh process.

Runs ``python -c "import keras"`` and ``python -c "import freezelab"``
alternately (so load changes hit both alike), each a fresh interpreter,
and prints the median wall time of each, what freezelab adds beyond Keras
(goal: at most 0.5 s), and the 1-minute load average before and after.
The backend is whatever ``KERAS_BACKEND`` says (TensorFlow by default, whose
import is most of Keras's).

Usage:
    .venv/bin/python benchmarks/import_time.py [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time

STATEMENTS = {"keras": "import keras", "freezelab": "import freezelab"}


def seconds_to_import(statement: str) -> float:
    """Wall time of a fresh interpreter running ``statement``.

    Raises:
        RuntimeError: If the import fails (its stderr is shown).
    """
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", statement], capture_output=True, text=True, env=env
    )
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{statement!r} failed. Received: {done.stderr[-1000:]}")
    return seconds


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="fresh processes of each")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error(f"--runs must be at least 1. Received: {args.runs}")
    load_before = round(os.getloadavg()[0], 2)
    times: dict[str, list[float]] = {name: [] for name in STATEMENTS}
    for run in range(args.runs):  # interleaved, the order alternating
        names = list(STATEMENTS) if run % 2 == 0 else list(STATEMENTS)[::-1]
        for name in names:
            times[name].append(seconds_to_import(STATEMENTS[name]))
    load_after = round(os.getloadavg()[0], 2)
    medians = {name: statistics.median(values) for name, values in times.items()}
    print(
        f"machine: {os.cpu_count()} CPUs, {platform.machine()}, Python {platform.python_version()}, "
        f"KERAS_BACKEND={os.environ.get('KERAS_BACKEND', 'tensorflow (default)')}"
    )
    print(f"load average (1 min) before and after: {load_before} / {load_after}")
    for name, values in times.items():
        runs = ", ".join(f"{value:.2f}" for value in values)
        print(
            f"import {name + ':':10s} median {medians[name]:.2f} s over {args.runs} runs ({runs})"
        )
    added = medians["freezelab"] - medians["keras"]
    print(f"freezelab adds: {added:+.2f} s beyond Keras's own import (goal: at most 0.5 s)")


if __name__ == "__main__":
    main()
