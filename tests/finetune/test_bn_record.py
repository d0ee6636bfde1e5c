"""Lesson 06's record reader: hand-made records give known medians, counts and verdict lines."""

import json

import matplotlib

matplotlib.use("Agg")

import pytest

from freezelab.finetune.bn_record import (
    LAST_STEP_VERDICTS,
    bn_record_report,
    load_bn_record,
)
from freezelab.plotting.bn_arms import plot_bn_record
from freezelab.speed.records import RECORDS


def fake_record(load=0.2):
    # Two evaluations, three seeds. At 40 steps: kept - updating = (0.1, 0.2, -0.1) -> median
    # +0.100, 2 of 3 above zero; re-estimated - updating = (0.3, 0.3, 0.3) -> +0.300, 3 of 3.
    epochs = [
        {"steps": 40, "updating": [0.5, 0.5, 0.5], "kept": [0.6, 0.7, 0.4],
         "updating_reestimated": [0.8, 0.8, 0.8], "kept_vs_updating": "k beats u: shown in this run"},
        {"steps": 80, "updating": [0.7, 0.7, 0.7], "kept": [0.7, 0.7, 0.7],
         "updating_reestimated": [0.75, 0.7, 0.65], "kept_vs_updating": "later"},
    ]  # fmt: skip
    return {
        "date": "2026-12-07T08:21:00+00:00",
        "device": "CPU (2 threads, test)",
        "backend": "tensorflow",
        "versions": {"keras": "3.15.1"},
        "load_average_before": [load, load, load],
        "load_average_after": [load, load, load],
        "complete": True,
        "settings": {"seeds": [1, 2, 3], "train_per_class": 4, "learning_rate": 1e-3, "steps": 80},
        "part_d": {
            "by_epoch": epochs,
            "fit_seconds": {"a": [1.0, 2.0], "b": [3.5]},
            "verdicts": {key: f"{key}: shown in this run" for key in LAST_STEP_VERDICTS},
        },
        "test_2": {"verdicts": {"momentum_helps": "0.9 beats 0.99: not shown in this run"}},
    }


def test_report_medians_counts_and_verdicts_worked_by_hand():
    text = bn_record_report(fake_record(), question_steps=40)
    row_40 = next(line for line in text.splitlines() if line.lstrip().startswith("40 "))
    assert "+0.100 (2 of 3 > 0)" in row_40 and "+0.300 (3 of 3 > 0)" in row_40
    assert "+0.200 (3 of 3 > 0)" in row_40  # re-estimated - kept: (0.2, 0.1, 0.4)
    assert f"{0.99**40:.3f}" in row_40
    assert "took 6 s" in text and "quiet by the course's rule" in text
    assert "k beats u: shown in the record" in text and "in this run" not in text
    assert text.index("kept_vs_updating:") < text.index("reestimated_vs_frozen:")
    assert "NOT quiet" in bn_record_report(fake_record(load=3.0), question_steps=40)
    with pytest.raises(ValueError, match="Received: question_steps=50"):
        bn_record_report(fake_record(), question_steps=50)


def test_load_and_plot(tmp_path):
    (tmp_path / "r_bn_lesson06_full.json").write_text(json.dumps(fake_record()))
    record = load_bn_record("r_bn_lesson06_full.json", folder=tmp_path)
    assert record["path"] == "benchmarks/records/r_bn_lesson06_full.json"
    figure = plot_bn_record(record, steps=(40, 80))
    assert "Record (background): 3 seeds" in figure.axes[0].get_title()
    ticks = [label.get_text() for label in figure.axes[0].get_xticklabels()]
    assert ticks == [f"40\n{0.99**40:.3f}", f"80\n{0.99**80:.3f}"]
    with pytest.raises(ValueError, match="Received: steps"):
        plot_bn_record(record, steps=(40, 120))
    with pytest.raises(ValueError, match=r"r_bn_lesson06_full\.json"):  # lists what is there
        load_bn_record("missing.json", folder=tmp_path)
    (tmp_path / "other.json").write_text("{}")
    with pytest.raises(ValueError, match="Not a lesson-06 record"):
        load_bn_record("other.json", folder=tmp_path)


def test_the_committed_record_reads():
    name = "2026-12-07_cpu-2-threads-intel-r-xeon-r-processor-x86-64_bn_lesson06_full.json"
    record = load_bn_record(name)
    raw = json.loads((RECORDS / name).read_text())
    text = bn_record_report(record, question_steps=40)
    assert f"seeds {raw['settings']['seeds']}" in text
    assert len([line for line in text.splitlines() if " of 8 > 0)" in line]) == len(
        raw["part_d"]["by_epoch"]
    )
