"""How often a cost model's prediction falls inside the measured spread of a timing run.

A prediction is **inside** when the predicted step-time fraction lies within
the mask's measured middle half (the 25th to 75th percentile of its
same-round ratios); **above** means it predicted too little saving, **below**
too much. The terms model takes the floor and the update from the same run,
so its prediction for the whole base frozen is the measured floor plus the
head: fitted, not predicted. `prediction_coverage` leaves that mask out of
the terms model's count and says so.
"""

from __future__ import annotations

from collections.abc import Sequence

MODELS = (
    ("FLOPs alone", "predicted_fraction", "error"),
    ("with the two measured terms", "adjusted_fraction", "adjusted_error"),
)


def placement(row: object, attribute: str) -> str:
    """``"inside"``, ``"above"`` or ``"below"`` the row's measured middle half.

    Args:
        row: A timed `SweepRow` (``fraction_quartiles`` set).
        attribute: ``"predicted_fraction"`` or ``"adjusted_fraction"``.

    Returns:
        Where that prediction lies.

    Raises:
        ValueError: If the row was not timed.
    """
    quartiles = getattr(row, "fraction_quartiles", None)
    if quartiles is None:
        raise ValueError(
            f"placement needs a timed row (fraction_quartiles). Received: {getattr(row, 'label', row)!r}"
        )
    value = getattr(row, attribute)
    if value < quartiles[0]:
        return "below"
    if value > quartiles[1]:
        return "above"
    return "inside"


def prediction_coverage(result: object, fitted: Sequence[str] = ("blocks 1-5",)) -> list[str]:
    """Each model's error and where its predictions fall, mask by mask.

    Args:
        result: A timed `SweepResult`; its first row is the fully trainable step
            (left out: both models predict it as 1 by definition).
        fitted: Masks whose terms-model prediction is fitted from the run (the
            whole base: the measured floor plus the head), left out of the
            terms model's count.

    Returns:
        One line per model, then the masks below the middle half for both.

    Raises:
        ValueError: If a row was not timed, or ``fitted`` names no row.
    """
    rows = list(result.rows[1:])
    labels = [row.label for row in rows]
    unknown = [label for label in fitted if label not in labels]
    if unknown:
        raise ValueError(f"fitted must name timed masks {labels}. Received: {unknown}")
    part = [row for row in rows if row.label not in fitted]
    lines, below = [], {}
    for name, attribute, error in MODELS:
        counted = part if attribute == "adjusted_fraction" else rows
        where = {row.label: placement(row, attribute) for row in counted}
        below[name] = {label for label, place in where.items() if place == "below"}
        listed = {
            place: ", ".join(label for label, p in where.items() if p == place) or "none"
            for place in ("above", "below")
        }
        hits = sum(place == "inside" for place in where.values())
        whole = ", ".join(
            f"{getattr(row, error):+.1%} on {row.label}" for row in rows if row.label in fitted
        )
        left_out = (
            f" ({', '.join(fitted)} left out: fitted, not predicted)"
            if attribute == "adjusted_fraction"
            else ""
        )
        lines.append(
            f"{name}: error at most {max(abs(getattr(row, error)) for row in part):.1%} on the "
            f"{len(part)} masks that freeze part of the base, {whole}; inside the measured middle "
            f"half on {hits} of {len(counted)}{left_out} (above it: {listed['above']}; below it: "
            f"{listed['below']})"
        )
    both = [label for label in labels if all(label in masks for masks in below.values())]
    lines.append(f"below the measured middle half for both models: {', '.join(both) or 'none'}")
    return lines
