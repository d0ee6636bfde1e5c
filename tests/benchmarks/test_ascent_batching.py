"""Tests for benchmarks/ascent_batching.py: it runs at tiny sizes and prints every arm's figures."""

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "ascent_batching.py"
HAS_TF_KERAS_VIS = importlib.util.find_spec("tf_keras_vis") is not None
NO_TF_KERAS_VIS = "tf-keras-vis is not installed (pip install -e .[bench])"


def run_benchmark(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "KERAS_BACKEND": "tensorflow"}
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, env=env, timeout=600
    )


def load_script():
    spec = importlib.util.spec_from_file_location("ascent_batching", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def rate(pattern: str, out: str) -> float:
    return float(re.search(pattern + r":\s+([\d.]+) filters/s", out).group(1))


@pytest.mark.slow
def test_benchmark_prints_every_arm_and_the_ratios():
    done = run_benchmark("--size", "32", "--filters", "2", "--steps", "2", "--repeats", "1")
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    batched = rate("all filters batched", out)
    keras_io = rate("keras-io recipe, one filter at a time", out)
    ratio = float(re.search(r"batched / keras-io recipe: ([\d.]+)x", out).group(1))
    assert rate("one filter at a time", out) > 0
    assert ratio == pytest.approx(batched / keras_io, rel=0.02, abs=0.01)
    assert "load average (1 min) before and after" in out
    assert "freezelab computes block3_conv1 for the drawn filters only: 2 of 256" in out
    if HAS_TF_KERAS_VIS:
        theirs = rate("tf-keras-vis ActivationMaximization, batched", out)
        ratio = float(re.search(r"batched / tf-keras-vis: ([\d.]+)x", out).group(1))
        assert ratio == pytest.approx(batched / theirs, rel=0.02, abs=0.01)
    else:
        assert "tf-keras-vis ActivationMaximization: not installed: pip install" in out


@pytest.mark.skipif(not HAS_TF_KERAS_VIS, reason=NO_TF_KERAS_VIS)
def test_the_tf_keras_vis_arm_raises_each_chosen_filter():
    script = load_script()
    inputs = keras.Input((16, 16, 3))
    conv = keras.layers.Conv2D(4, 3, padding="same", name="conv")(inputs)
    model = keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(conv))
    filters = [0, 2]
    assert script.tf_keras_vis_missing() is None

    pictures = script.tf_keras_vis_pictures(model, "conv", filters, steps=5, size=16)

    assert pictures.shape == (2, 16, 16, 3) and pictures.dtype == np.float32
    assert pictures.min() >= 0 and pictures.max() <= 255
    maps = keras.Model(inputs, conv)
    start = np.full((2, 16, 16, 3), 128.0, np.float32)  # the seed's mean (128 +- 20)
    before = keras.ops.convert_to_numpy(maps(start)).mean(axis=(1, 2))
    after = keras.ops.convert_to_numpy(maps(pictures)).mean(axis=(1, 2))
    for row, f in enumerate(filters):
        assert after[row, f] > before[row, f]
    assert script.tf_keras_vis_seconds(model, "conv", filters, steps=1, size=16) > 0


def test_without_tf_keras_vis_the_arm_says_how_to_install_it(monkeypatch):
    script = load_script()
    monkeypatch.setitem(sys.modules, "tf_keras_vis", None)  # import then fails
    monkeypatch.setitem(sys.modules, "tf_keras_vis.activation_maximization", None)
    missing = script.tf_keras_vis_missing()
    assert missing.startswith("not installed: pip install -e .[bench]")
