"""The pure parts of deploy/jupyterhub/measure_class.py: reading /proc and sizing a class."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "deploy" / "jupyterhub" / "measure_class.py"


@pytest.fixture(scope="module")
def measure():
    spec = importlib.util.spec_from_file_location("measure_class", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["measure_class"] = module
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop("measure_class", None)


def test_pss_and_peak_are_read_from_procs_own_files(measure):
    rollup = Path("/proc/self/smaps_rollup")
    if not rollup.exists():
        pytest.skip("no /proc/self/smaps_rollup on this system")
    pss = measure.pss_kib(rollup.read_text())
    status = Path("/proc/self/status").read_text()
    rss = int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:")))
    assert 0 < pss <= rss  # a share of what is resident, never more
    assert measure.peak_rss_kib(status) >= rss  # the peak is at least what is resident now
    with pytest.raises(ValueError, match="no 'Pss:' line"):
        measure.pss_kib("Rss: 12 kB\n")


def test_cpu_seconds_match_what_the_os_reports(measure):
    sum(i * i for i in range(300_000))  # spend a little CPU
    times = os.times()
    stat = Path("/proc/self/stat").read_text()
    seconds = measure.cpu_seconds(stat, os.sysconf("SC_CLK_TCK"))
    assert seconds == pytest.approx(times.user + times.system, abs=0.05)
    # A process name with spaces and a parenthesis does not shift the fields.
    fake = "42 (a b) c) S" + " 0" * 10 + " 150 50" + " 0" * 30
    assert measure.cpu_seconds(fake, 100) == 2.0


def test_class_needs_adds_headroom_and_the_hub(measure):
    need = measure.class_needs(1024, 512, cpu_s_per_start=20, learners=30, start_within_s=120)
    assert need["memory_gib"] == pytest.approx((30 * 1024 * 1.25 + 512) / 1024)
    assert need["cpu_s"] == 600
    assert need["cores"] == 5
    with pytest.raises(ValueError, match="Received: per_learner_mib=0"):
        measure.class_needs(0, 512, 20)


def test_the_lesson_code_stops_at_the_panel_or_at_the_timing(measure):
    lesson = REPO / "notebooks" / "02_freeze_vgg16_interactively.ipynb"
    ready = measure._lesson_code(lesson, with_timing=False)
    assert ready.startswith("import freezelab as fl")
    last_line = ready.rstrip().splitlines()[-1]
    assert "panel = fl.freeze_panel(model)" in ready
    # the cell ends by showing the panel
    assert last_line.split("#")[0].strip() == "panel", last_line
    timed = measure._lesson_code(lesson, with_timing=True)
    assert timed.startswith(ready)
    last_cell = timed[len(ready) :]
    assert "fl.run_sweep(" in last_cell and "fl.run_sweep(" not in ready
