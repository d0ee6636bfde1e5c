"""Prediction coverage: hand-made rows with known placements."""

import pytest

from freezelab.speed.coverage import placement, prediction_coverage
from freezelab.speed.sweep import SweepRow


def row(label, predicted, adjusted, measured, quartiles):
    return SweepRow(
        label,
        "prefix",
        (),
        predicted_fraction=predicted,
        measured_fraction=measured,
        adjusted_fraction=adjusted,
        fraction_quartiles=quartiles,
    )


ROWS = (
    row("nothing frozen", 1.0, 1.0, 1.0, (1.0, 1.0)),
    row("a", 0.80, 0.85, 0.84, (0.82, 0.86)),  # FLOPs below, terms inside
    row("b", 0.60, 0.58, 0.66, (0.64, 0.68)),  # both below
    row("c", 0.95, 0.93, 0.90, (0.88, 0.92)),  # both above
    row("blocks 1-5", 0.33, 0.305, 0.30, (0.29, 0.31)),  # FLOPs above; terms fitted
)


class Result:
    rows = ROWS


def test_placement_by_hand():
    a, _, c = ROWS[1:4]
    assert placement(a, "predicted_fraction") == "below"
    assert placement(a, "adjusted_fraction") == "inside"
    assert placement(c, "adjusted_fraction") == "above"
    untimed = SweepRow("x", "prefix", (), predicted_fraction=0.5)
    with pytest.raises(ValueError, match="Received"):
        placement(untimed, "predicted_fraction")


def test_coverage_counts_and_leaves_the_fitted_mask_out_of_the_terms_model():
    flops, terms, both = prediction_coverage(Result())
    # FLOPs: inside on none of 4 (a, b below; c, blocks 1-5 above); worst error on a, b, c:
    # b: 0.60 / 0.66 - 1 = -9.1 %.
    assert "error at most 9.1% on the 3 masks" in flops
    assert (
        "inside the measured middle half on 0 of 4 (above it: c, blocks 1-5; below it: a, b)"
        in flops
    )
    assert f"{0.33 / 0.30 - 1:+.1%} on blocks 1-5" in flops
    # Terms: a inside, b below, c above; blocks 1-5 left out.
    assert "on 1 of 3 (blocks 1-5 left out: fitted, not predicted)" in terms
    assert "(above it: c; below it: b)" in terms
    assert both == "below the measured middle half for both models: b"
    with pytest.raises(ValueError, match="Received"):
        prediction_coverage(Result(), fitted=("blocks 1-9",))
