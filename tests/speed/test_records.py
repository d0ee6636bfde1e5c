"""Tests for freezelab.speed.records: finding and summarising committed timing records."""

import json

import pytest

from freezelab.speed.records import (
    RECORDS,
    agreement_table,
    record_summary,
    record_times,
    timing_records,
)
from freezelab.verdicts import paired_verdict


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


def test_summary_verdicts_say_they_are_the_records_run():
    data = record("CPU (2 threads)", "2026-12-06T10:00:00")
    data["masks"][1]["times_ms"] = [150, 150, 160, 150, 170]
    text = record_summary(data, comparisons=[("blocks 1-5", "nothing frozen")])
    # Ratios 150/480 ... all below 1: 5 of 5 pairs.
    assert "blocks 1-5 faster than nothing frozen: shown in the record's run (median ratio" in text
    assert "5 of 5 pairs agree" in text and "in this run" not in text


def test_record_times_hold_masks_and_extras_in_round_order():
    data = record("CPU (2 threads)", "2026-12-06T10:00:00")
    data["extras"] = {"floor (everything frozen)": {"times_ms": [140, 141, 142, 143, 144]}}
    times = record_times(data)
    assert times == {
        "nothing frozen": [480, 500, 520, 500, 600],
        "floor (everything frozen)": [140, 141, 142, 143, 144],
    }  # "blocks 1-5" has no per-round times in this record: left out


def test_agreement_table_marks_claims_the_runs_disagree_on():
    shown = paired_verdict([1] * 12, [2] * 12, claim="")
    marginal = paired_verdict([1] * 10 + [4] * 2, [2] * 12, claim="")
    not_shown = paired_verdict([1] * 10 + [4] * 5, [2] * 15, claim="")  # 10 of 15 < 11
    text = agreement_table(
        [("prefix faster", shown, shown), ("block4 faster", marginal, not_shown)]
    )
    lines = text.splitlines()
    assert lines[2].split() == ["prefix", "faster", "shown", "12/12", "shown", "12/12", "yes"]
    assert "shown 10/12, marginal" in lines[3] and "not shown 10/15" in lines[3]
    assert lines[3].endswith("no")
    assert lines[-1] == "not reproduced (one run shows it, the other does not): block4 faster"
    assert agreement_table([("x", shown, shown)]).endswith(
        "every claim reads the same in both runs"
    )


def test_matching_record_takes_the_newest_with_the_same_settings(tmp_path):
    from freezelab.speed.records import matching_record

    older = {**record("CPU (2 threads)", "2026-01-01"), "jit_compile": False}
    newer = {**older, "date": "2026-02-01"}
    other_size = {**older, "date": "2026-03-01", "input_size": 224}
    for index, found in enumerate([older, newer, other_size]):
        (tmp_path / f"{index}.json").write_text(json.dumps(found))
    setup = {
        "device": "CPU (2 threads)",
        "backend": "tensorflow",
        "input_shape": [96, 96, 3],
        "batch_size": 8,
        "jit_compile": False,
    }
    assert matching_record(setup, tmp_path)["date"] == "2026-02-01"
    assert matching_record({**setup, "batch_size": 4}, tmp_path) is None
    with pytest.raises(ValueError, match="Received"):
        matching_record({"device": "CPU"}, tmp_path)


def test_library_versions_name_installed_libraries_and_leave_out_missing_ones():
    import platform

    import keras
    import numpy as np

    import freezelab as fl
    from freezelab.speed.records import library_versions

    found = library_versions(("keras", "numpy", "no-such-distribution-freezelab"))
    assert found == {
        "python": platform.python_version(),
        "freezelab": fl.__version__,
        "keras": keras.__version__,
        "numpy": np.__version__,
    }
