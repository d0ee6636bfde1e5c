"""Committed timing records: what a full-size run measured, to show beside a learner's run.

`benchmarks/step_timing.py --record benchmarks/records` writes one JSON file
per run (device, load, date, versions, every mask); this module finds and
summarises them. In an editable install (the course's), the records folder
sits beside the package; elsewhere there may be none, and the functions say so.
"""

from __future__ import annotations

import importlib.metadata
import json
import platform
import statistics
from collections.abc import Sequence
from pathlib import Path

from freezelab.verdicts import PairedVerdict, paired_verdict

RECORDS = Path(__file__).resolve().parents[2] / "benchmarks" / "records"


def timing_records(device: str = "CPU", folder: str | Path | None = None) -> list[dict]:
    """The committed step-timing records for one kind of device, oldest first.

    Args:
        device: ``"CPU"`` or ``"GPU"``: the start of the record's device name.
        folder: Where the records are; None uses ``benchmarks/records``
            beside the package.

    Returns:
        The records (dicts, as `benchmarks/step_timing.py` writes them) whose
        device starts with ``device``, sorted by date; empty when there are none.

    Raises:
        ValueError: For a device other than ``"CPU"`` or ``"GPU"``.
    """
    if device not in ("CPU", "GPU"):
        raise ValueError(f"device must be 'CPU' or 'GPU'. Received: device={device!r}")
    folder = RECORDS if folder is None else Path(folder)
    records = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        record = json.loads(path.read_text())
        if str(record.get("device", "")).startswith(device) and record.get("schema", 1) >= 2:
            records.append({**record, "path": f"benchmarks/records/{path.name}"})
    return sorted(records, key=lambda record: record["date"])


def matching_record(setup: dict, folder: str | Path | None = None) -> dict | None:
    """The latest committed record made with a timing run's settings, if any.

    A record matches when its device, backend, input size, batch size and
    ``jit_compile`` equal the run's; the number of rounds, the date, the load
    and the versions may differ (print them beside it).

    Args:
        setup: A `SweepResult.setup` (``device``, ``backend``, ``input_shape``,
            ``batch_size``, ``jit_compile``).
        folder: Where the records are; None uses ``benchmarks/records``.

    Returns:
        The newest matching record (as `timing_records` returns it), or None.

    Raises:
        ValueError: If ``setup`` lacks one of those keys.
    """
    keys = ("device", "backend", "input_shape", "batch_size", "jit_compile")
    if not isinstance(setup, dict) or not set(keys) <= set(setup):
        raise ValueError(
            f"matching_record needs a sweep's setup dict with {', '.join(keys)}. "
            f"Received: {type(setup).__name__} with keys {sorted(setup) if isinstance(setup, dict) else None}"
        )
    wanted = {
        "device": setup["device"],
        "backend": setup["backend"],
        "input_size": int(setup["input_shape"][0]),
        "batch_size": setup["batch_size"],
        "jit_compile": setup["jit_compile"],
    }
    kind = "GPU" if str(setup["device"]).startswith("GPU") else "CPU"
    found = [
        record
        for record in timing_records(kind, folder)
        if all(record.get(key) == value for key, value in wanted.items())
    ]
    return found[-1] if found else None


def record_summary(record: dict, comparisons: Sequence[tuple[str, str]] = ()) -> str:
    """A record as a few lines: where and when it ran, every mask's figures, paired verdicts.

    Args:
        record: One record from `timing_records`.
        comparisons: ``(faster, slower)`` mask labels; for each, a line with
            the paired verdict (`freezelab.verdicts.paired_verdict`) on the
            record's own per-round step times.

    Returns:
        Text: the source line (path, device, backend, date, load), the size,
        then per mask the measured fraction of the fully trainable step, the
        prediction with measured terms and its error, then the verdicts.

    Raises:
        ValueError: For a comparison naming a mask the record lacks.
    """
    load = record.get("load_average_before")
    lines = [
        f"record {record.get('path', '?')}",
        f"  {record['device']}, Keras backend {record['backend']}, {record['date'][:10]}, "
        f"load average before {load[0] if load else '?'}",
        f"  VGG16 + head at {record['input_size']}x{record['input_size']}, batch "
        f"{record['batch_size']}, {record['repeats']} interleaved rounds",
        f"  {'frozen':<16}{'ms/step':>9}{'measured':>10}{'terms':>8}{'error':>7}",
    ]
    for mask in record["masks"]:
        lines.append(
            f"  {mask['label']:<16}{mask['ms_per_step']:>9.1f}{mask['measured_fraction']:>10.1%}"
            f"{mask['terms_fraction']:>8.1%}{mask['terms_error']:>+7.1%}"
        )
    full_times = record["masks"][0].get("times_ms") or [record["masks"][0]["ms_per_step"]]
    if len(full_times) > 1:
        low, _, high = statistics.quantiles(full_times, n=4, method="inclusive")
        spread = f"{(high - low) / statistics.median(full_times):.1%}"
    else:
        spread = "?"
    lines.append(
        f"  floor {record['floor_share']:.1%}, update {record['update_share']:.1%} of the full step; "
        f"worst prefix error: FLOPs {record['worst_prefix_error']:.1%}, terms "
        f"{record['worst_terms_prefix_error']:.1%}"
    )
    lines.append(f"  spread of the fully trainable step: IQR {spread} of its median")
    times = {mask["label"]: mask["times_ms"] for mask in record["masks"] if "times_ms" in mask}
    for faster, slower in comparisons:
        missing = [label for label in (faster, slower) if label not in times]
        if missing:
            raise ValueError(
                f"The record has no per-round times for {missing}. Accepted: {sorted(times)}. "
                f"Received: comparison={(faster, slower)!r}"
            )
        verdict = paired_verdict(
            times[faster], times[slower], claim=f"{faster} faster than {slower}"
        )
        status = "shown" if verdict.shown else "not shown"
        lines.append(f"  {verdict.claim}: {status} in the record's run ({verdict.numbers})")
    return "\n".join(lines)


def record_times(record: dict) -> dict[str, list[float]]:
    """The record's per-round step times of every mask and extra arm, by label.

    Args:
        record: One record from `timing_records`.

    Returns:
        Label (``"blocks 1-2"``, ``"floor (everything frozen)"``, ``"eager:
        nothing frozen"``...) to step times in ms, item ``i`` from round ``i``:
        the same pairing as `SweepResult.times` on a learner's run.
    """
    arms = {mask["label"]: mask.get("times_ms") for mask in record["masks"]}
    arms.update({label: arm.get("times_ms") for label, arm in record.get("extras", {}).items()})
    return {label: list(times) for label, times in arms.items() if times}


def agreement_table(rows: Sequence[tuple[str, PairedVerdict, PairedVerdict]]) -> str:
    """One line per claim: this run's verdict, the record's, and whether they agree.

    Args:
        rows: ``(claim, this run's verdict, the record's verdict)`` per claim,
            both verdicts from the same rule (`freezelab.verdicts.paired_verdict`).

    Returns:
        Text: a column per run with the verdict, its agreeing pairs and
        "marginal" where `PairedVerdict.marginal` says so, an "agree" column,
        and a last line naming the claims the two runs do not agree on.
    """

    def cell(verdict: PairedVerdict) -> str:
        status = "shown" if verdict.shown else "not shown"
        marginal = ", marginal" if verdict.marginal else ""
        return f"{status} {verdict.favouring}/{verdict.pairs}{marginal}"

    width = max([len("claim")] + [len(claim) for claim, _, _ in rows]) + 2
    header = f"{'claim':<{width}}{'this run':<24}{'record':<24}agree"
    lines = [header, "-" * len(header)]
    for claim, ours, theirs in rows:
        agree = "yes" if ours.shown == theirs.shown else "no"
        lines.append(f"{claim:<{width}}{cell(ours):<24}{cell(theirs):<24}{agree}")
    differ = [claim for claim, ours, theirs in rows if ours.shown != theirs.shown]
    lines.append(
        "not reproduced (one run shows it, the other does not): " + "; ".join(differ)
        if differ
        else "every claim reads the same in both runs"
    )
    return "\n".join(lines)


def library_versions(names: Sequence[str]) -> dict[str, str]:
    """Python, freezelab and the named libraries, as a benchmark record lists them.

    Args:
        names: Distribution names to look up (``"keras"``, ``"jax"``, ...).

    Returns:
        ``{"python": ..., "freezelab": ..., name: version, ...}``; a library
        that is not installed is left out.
    """
    import freezelab

    found = {"python": platform.python_version(), "freezelab": freezelab.__version__}
    for name in names:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return found
