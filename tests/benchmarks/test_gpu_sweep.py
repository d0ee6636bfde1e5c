"""Tests for benchmarks/gpu_sweep.py: the GPU recipe, run on the CPU at small size.

The record it writes comes from benchmarks/step_timing.py's ``--record``, the
code path a GPU run takes; only the sizes and the device differ.
"""

import datetime
import importlib.metadata
import importlib.util
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

from freezelab.core.models import load_vgg16, with_head
from freezelab.speed.cost import step_cost
from freezelab.speed.sweep import standard_cases

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "gpu_sweep.py"
LABELS = "nothing frozen,blocks 1-5"


def run_recipe(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "JAX_PLATFORMS": "cpu"}
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, env=env, timeout=600
    )


@pytest.mark.slow
def test_recipe_writes_a_labelled_record_per_backend(tmp_path):
    if importlib.util.find_spec("torch") is None:
        pytest.skip("torch is not installed (the test extra installs it)")
    done = run_recipe(
        "--backends", "torch", "--input-size", "32", "--batch-size", "2", "--repeats", "2",
        "--warmup", "1", "--only", LABELS, "--out-dir", str(tmp_path),
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    records = list(tmp_path.glob("*.json"))
    assert len(records) == 1
    record = json.loads(records[0].read_text())
    today = datetime.datetime.now(datetime.timezone.utc).date().isoformat()
    assert records[0].name.startswith(today) and records[0].name.endswith("_torch_32px_b2.json")
    assert record["date"].startswith(today)
    assert record["backend"] == "torch"
    assert record["device"].startswith("CPU (") and record["peak_memory_bytes"] is None
    assert record["input_size"] == 32 and record["batch_size"] == 2
    assert record["versions"]["torch"] == importlib.metadata.version("torch")
    assert record["versions"]["keras"] == importlib.metadata.version("keras")
    assert "tensorflow" not in record["versions"]
    masks = record["masks"]
    assert [mask["label"] for mask in masks] == LABELS.split(",")
    # Predictions equal the cost model's, computed here independently; measurements are real.
    model = with_head(load_vgg16(weights=None, input_size=32, verbose=False), (128, 10))
    cases = {case.label: case for case in standard_cases(model)}
    for mask in masks:
        predicted = step_cost(model, cases[mask["label"]].mask, batch_size=2).relative_cost
        assert mask["predicted_fraction"] == pytest.approx(predicted)
        assert len(mask["times_ms"]) == 2 and mask["ms_per_step"] > 0
        # Masks timed side by side: the fraction is the median of same-round ratios.
        ratios = [t / ref for t, ref in zip(mask["times_ms"], masks[0]["times_ms"])]
        assert mask["measured_fraction"] == pytest.approx(statistics.median(ratios))
    assert masks[0]["trainable_params"] == model.count_params()
    # The whole base frozen: the head trains, Dense(128) on 1x1x512 features and Dense(10).
    assert masks[1]["trainable_params"] == (512 * 128 + 128) + (128 * 10 + 10)


def test_recipe_rejects_an_unknown_backend():
    done = run_recipe("--backends", "jax,numpy")
    assert done.returncode != 0
    assert "Received: --backends 'jax,numpy'" in done.stderr


def load_recipe():
    spec = importlib.util.spec_from_file_location("gpu_sweep", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_recipe_defaults_to_224_px_batch_32_through_step_timing():
    recipe = load_recipe()
    command = recipe.sweep_command("jax", recipe.parse_args(["--only", LABELS]))
    assert Path(command[1]).name == "step_timing.py"
    assert command[command.index("--backend") + 1] == "jax"
    assert command[command.index("--input-size") + 1] == "224"
    assert command[command.index("--batch-size") + 1] == "32"
    assert command[command.index("--record") + 1] == str(ROOT / "benchmarks" / "records")
    assert command[-2:] == ["--only", LABELS]


def test_carried_wheels_folder_must_hold_wheels(tmp_path, monkeypatch):
    recipe = load_recipe()
    monkeypatch.setattr(recipe.importlib.util, "find_spec", lambda name: None)  # no Keras
    with pytest.raises(SystemExit, match=f"Received: --wheels {str(tmp_path)!r}"):
        recipe.install_wheels(str(tmp_path))
