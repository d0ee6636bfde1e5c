"""Lesson 06's full-length BatchNorm record, read for the lesson: its header, table and verdicts.

`benchmarks/bn_lesson06_full.py` runs lesson 06's parts (d) and (e) at the
full-mode sizes for 480 steps and writes a JSON record into
``benchmarks/records``. The lesson shows it as background: `load_bn_record`
reads it and `bn_record_report` prints what it holds (the machine and its
load, the median per-seed differences after every evaluation, the verdict
lines as recorded); `freezelab.plotting.bn_arms.plot_bn_record` draws the arms
by step.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from freezelab.speed.machine import quiet_check
from freezelab.speed.records import RECORDS

# The verdicts printed after the record's last step, in this order.
LAST_STEP_VERDICTS = (
    "kept_vs_updating",
    "reestimate_helps",
    "frozen_vs_kept",
    "reestimated_vs_kept",
    "reestimated_vs_frozen",
)


def load_bn_record(name: str, folder: str | Path | None = None) -> dict:
    """Reads one committed lesson-06 record.

    Args:
        name: The record's file name, e.g.
            ``"2026-12-07_cpu-..._bn_lesson06_full.json"``.
        folder: Where the records are; None uses ``benchmarks/records`` beside
            the package (a checkout of the course, ``pip install -e .``).

    Returns:
        The record as a dict, with ``"path"`` added.

    Raises:
        ValueError: If the file is missing or is not a lesson-06 record.
    """
    folder = RECORDS if folder is None else Path(folder)
    path = folder / str(name)
    if not path.is_file():
        found = sorted(p.name for p in folder.glob("*bn_lesson06*.json")) if folder.is_dir() else []
        raise ValueError(
            f"No such record in {folder} (records are read from a checkout of the course). "
            f"Lesson-06 records there: {found}. Received: name={name!r}"
        )
    record = json.loads(path.read_text())
    if not isinstance(record, dict) or "part_d" not in record or "settings" not in record:
        raise ValueError(
            "Not a lesson-06 record (benchmarks/bn_lesson06_full.py writes those: "
            f"'settings', 'part_d'). Received: {path.name}"
        )
    return {**record, "path": f"benchmarks/records/{path.name}"}


def bn_record_report(record: dict, question_steps: int) -> str:
    """What the record holds, as the lesson prints it.

    Args:
        record: From `load_bn_record`.
        question_steps: The step count the lesson's questions are asked at;
            the record's verdict after that many steps is printed first.

    Returns:
        Lines: versions and settings; part (d)'s ``fit()`` seconds with the
        machine's load and whether it was quiet by the course's rule; per
        evaluation, the median of the per-seed differences (kept − updating,
        re-estimated − updating, re-estimated − kept) with how many seeds lie
        above zero; the recorded verdict lines.

    Raises:
        ValueError: If no evaluation was made after ``question_steps`` steps.
    """
    settings, by_epoch = record["settings"], record["part_d"]["by_epoch"]
    at_question = next((e for e in by_epoch if e["steps"] == question_steps), None)
    if at_question is None:
        raise ValueError(
            f"The record evaluated after {[e['steps'] for e in by_epoch]} steps. "
            f"Received: question_steps={question_steps!r}"
        )
    seconds = sum(sum(times) for times in record["part_d"]["fit_seconds"].values())
    quiet = quiet_check(record)
    lines = [
        f"record: Keras {record['versions']['keras']} on {record['backend']}, "
        f"{record['date'][:16]} UTC, complete {record['complete']}; seeds {settings['seeds']}, "
        f"{settings['train_per_class']} training images per class, Adam "
        f"{settings['learning_rate']:g}, one phase, {settings['steps']} steps",
        f"part d's fit() calls (three arms, {len(settings['seeds'])} seeds, per-epoch evaluation "
        f"included) took {seconds:.0f} s on {record['device']}; "
        f"{'quiet' if quiet.quiet else 'NOT quiet'} by the course's rule (1-minute load "
        f"{record['load_average_before'][0]:.2f} before, {record['load_average_after'][0]:.2f} "
        "after): a duration, not a timing to compare",
        "median of the per-seed differences (seeds above zero):",
        f"{'steps':>5}  {'0.99**steps':>11}  {'kept - updating':>18}  "
        f"{'re-estimated - updating':>24}  {'re-estimated - kept':>20}",
    ]
    for epoch in by_epoch:
        cells = []
        for a, b, width in (
            ("kept", "updating", 7),
            ("updating_reestimated", "updating", 12),
            ("updating_reestimated", "kept", 8),
        ):
            difference = np.subtract(epoch[a], epoch[b])
            cells.append(
                f"{np.median(difference):>+{width}.3f} "
                f"({int(np.sum(difference > 0))} of {len(difference)} > 0)"
            )
        lines.append(f"{epoch['steps']:>5}  {0.99 ** epoch['steps']:>11.3f}  " + "  ".join(cells))
    recorded = record["part_d"]["verdicts"]
    lines += [
        f"the record's verdict lines (each comparison alone, no Holm), after {question_steps} steps:",
        "  " + _as_recorded(at_question["kept_vs_updating"]),
        f"after its last step ({settings['steps']}):",
        *("  " + _as_recorded(recorded[key]) for key in LAST_STEP_VERDICTS),
        "  test 2: " + _as_recorded(record["test_2"]["verdicts"]["momentum_helps"]),
    ]
    return "\n".join(lines)


def _as_recorded(line: str) -> str:
    return line.replace("in this run", "in the record")
