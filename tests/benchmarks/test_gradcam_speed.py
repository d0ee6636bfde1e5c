"""Tests for benchmarks/gradcam_speed.py: it runs and prints both figures and the agreement."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gradcam_speed.py"


def run_benchmark(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "KERAS_BACKEND": "tensorflow"}
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, env=env, timeout=600
    )


@pytest.mark.slow
def test_benchmark_prints_both_timings_the_ratio_and_the_agreement():
    done = run_benchmark("--size", "32", "--rounds", "2", "--warmup", "1")
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    ours = float(re.search(r"fl\.grad_cam:\s+([\d.]+) ms per call", out).group(1))
    theirs = float(re.search(r"keras-io recipe:\s+([\d.]+) ms per call", out).group(1))
    ratio = float(re.search(r"ratio \(fl\.grad_cam / keras-io recipe\): ([\d.]+)x", out).group(1))
    assert ours > 0 and theirs > 0
    assert ratio == pytest.approx(ours / theirs, rel=0.02, abs=0.01)
    assert "load average (1 min)" in out and "machine:" in out
    # Both compute the same Grad-CAM: the coarse maps agree.
    agreement = re.search(r"heatmaps agree: correlation (\S+)", out).group(1)
    assert float(agreement) > 0.999


def test_benchmark_rejects_a_too_small_image():
    done = run_benchmark("--size", "16")
    assert done.returncode != 0
    assert "Received: 16" in done.stderr
