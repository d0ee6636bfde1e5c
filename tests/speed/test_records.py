"""Tests for freezelab.speed.records: finding and summarising committed timing records."""

import json

import pytest

from freezelab.speed.records import RECORDS, record_summary, timing_records


def record(device, date, schema=2):
    return {
        "schema": schema,
        "device": device,
        "backend": "tensorflow",
        "date": date,
        "input_size": 96,
        "batch_size": 8,
        "repeats": 15,
        "load_average_before": [0.1, 0.2, 0.3],
        "floor_share": 0.3,
        "update_share": 0.07,
        "worst_terms_prefix_error": 0.04,
        "worst_prefix_error": 0.09,
        "masks": [
            {
                "label": "nothing frozen",
                "ms_per_step": 500.0,
                "measured_fraction": 1.0,
                "terms_fraction": 1.0,
                "terms_error": 0.0,
                "times_ms": [480, 500, 520, 500, 600],
            },
            {
                "label": "blocks 1-5",
                "ms_per_step": 150.0,
                "measured_fraction": 0.3,
                "terms_fraction": 0.31,
                "terms_error": 0.0333,
            },
        ],
    }


def test_records_are_filtered_by_device_and_schema_and_sorted(tmp_path):
    for name, content in {
        "b.json": record("CPU (2 threads)", "2026-12-06T10:00:00"),
        "a.json": record("CPU (2 threads)", "2026-12-05T10:00:00"),
        "g.json": record("GPU: H100", "2026-12-06T11:00:00"),
        "old.json": record("CPU (2 threads)", "2026-12-07T10:00:00", schema=1),
    }.items():
        (tmp_path / name).write_text(json.dumps(content))
    cpu = timing_records("CPU", tmp_path)
    assert [r["date"][:10] for r in cpu] == ["2026-12-05", "2026-12-06"]
    assert [r["device"] for r in timing_records("GPU", tmp_path)] == ["GPU: H100"]
    assert timing_records("CPU", tmp_path / "missing") == []


def test_summary_names_source_and_every_mask():
    text = record_summary({**record("CPU (2 threads)", "2026-12-06T10:00:00"), "path": "x.json"})
    assert "record x.json" in text and "2026-12-06" in text and "load average before 0.1" in text
    assert "blocks 1-5" in text and "30.0%" in text and "+3.3%" in text
    # Inclusive quartiles of the full step's rounds, over its median: (520 - 500) / 500.
    assert "IQR 4.0% of its median" in text and "FLOPs 9.0%, terms 4.0%" in text


def test_bad_device_is_refused():
    with pytest.raises(ValueError, match="Received: device='TPU'"):
        timing_records("TPU")


def test_the_committed_records_folder_is_beside_the_package():
    assert RECORDS.name == "records" and RECORDS.parent.name == "benchmarks"
