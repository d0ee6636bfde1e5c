"""Tests for benchmarks/step_timing.py: it runs, prints its figures and writes a record."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from freezelab.core.models import load_vgg16, with_head
from freezelab.speed.cost import step_cost
from freezelab.speed.sweep import standard_cases

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "step_timing.py"


def run_benchmark(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, env=env, timeout=600
    )


@pytest.mark.slow
def test_benchmark_prints_and_records_the_cost_models_predictions(tmp_path):
    record = tmp_path / "sweep.json"
    labels = "nothing frozen,blocks 1-5"
    done = run_benchmark(
        "--input-size", "32", "--batch-size", "2", "--repeats", "1", "--warmup", "1",
        "--only", labels, "--json", str(record), "--update-probes", "block4",
        "--record", str(tmp_path / "records"), "--seed", "3", "--eager",
        "--variable-count-probe",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    (dated,) = (tmp_path / "records").glob("*.json")
    extras = json.loads(dated.read_text())["extras"]
    assert json.loads(dated.read_text())["seed"] == 3
    assert "update probe: block4" in extras and "update probe: block3" not in extras
    # --eager: the two masks and the floor eagerly; the variable-count probe, one run each
    eager = ["eager: nothing frozen", "eager: blocks 1-5", "eager: floor (everything frozen)"]
    assert all(len(extras[label]["times_ms"]) == 1 for label in [*eager, "variable-count probe"])
    assert any(
        line.split()[:4] == ["floor", "(everything", "frozen)", "eager"]
        for line in done.stdout.splitlines()
    )
    assert "worst prefix error" in done.stdout and "floor (every layer frozen" in done.stdout
    assert "load average" in done.stdout and "update probe" in done.stdout
    rows = json.loads(record.read_text())["rows"]
    assert [row["label"] for row in rows] == labels.split(",")
    # The predictions equal the cost model's, computed here independently.
    model = with_head(load_vgg16(weights=None, input_size=32, verbose=False), (128, 10))
    cases = {case.label: case for case in standard_cases(model)}
    for row in rows:
        predicted = step_cost(model, cases[row["label"]].mask, batch_size=2).relative_cost
        assert row["predicted_fraction"] == pytest.approx(predicted)
        assert row["median_ms"] > 0


def test_benchmark_rejects_an_unknown_mask_label():
    done = run_benchmark("--input-size", "32", "--only", "blocks 1-9")
    assert done.returncode != 0
    assert "Received: --only 'blocks 1-9'" in done.stderr
