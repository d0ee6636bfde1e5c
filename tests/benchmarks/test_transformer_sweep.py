"""Tests for benchmarks/transformer_sweep.py: it runs, prints its table and writes a record."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from freezelab.core.peft import apply_strategy
from freezelab.sources.vit import tiny_vit

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "transformer_sweep.py"


@pytest.mark.slow
def test_quick_sweep_prints_every_strategy_and_records_keras_counts(tmp_path):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "KERAS_BACKEND": "jax"}
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--rounds", "1", "--warmup", "1",
         "--record", str(tmp_path)],
        capture_output=True, text=True, env=env, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    for label in ("head", "top_blocks 1", "bitfit", "lora r2", "lora r4", "lora r8", "full"):
        assert f"\n{label} " in done.stdout
    assert "load average (1 min)" in done.stdout and "trainable%" in done.stdout
    (path,) = tmp_path.glob("*_transformer_sweep.json")
    record = json.loads(path.read_text())
    rows = {row["label"]: row for row in record["timing"]["rows"]}
    # Trainable counts equal Keras's own list on an independently prepared model.
    model = tiny_vit(image_size=16, width=32, depth=2, num_heads=2, mlp_width=64)
    apply_strategy(model, "lora", rank=4)
    assert rows["lora r4"]["trainable_params"] == sum(
        math.prod(v.shape) for v in model.trainable_weights
    )
    assert rows["full"]["predicted_fraction"] == 1.0
    memory = record["memory"]["full"]
    # XLA's arguments are the weights, Adam's two moments and the batch, within a few bytes.
    predicted = memory["weights_bytes"] + memory["optimizer_bytes"] + memory["batch_bytes"]
    assert abs(memory["measured_arguments_bytes"] - predicted) <= 16
