"""Tests for freezelab.speed.live: quick timing on a private copy, cached per mask."""

import keras
import pytest

from freezelab.core.freezing import get_mask
from freezelab.core.mask_text import mask_to_text
from freezelab.progress import Cancelled, Progress
from freezelab.speed.cost import step_cost
from freezelab.speed.live import (
    UNPAIRED_NOTE,
    LiveMeasurement,
    LiveReadout,
    LiveTimer,
    follow_mask,
    live_readout,
)


@pytest.fixture
def tiny():
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", name="conv")(inputs)
    x = keras.layers.Flatten(name="flat")(x)
    return keras.Model(inputs, keras.layers.Dense(2, name="dense")(x))


def test_measure_times_a_copy_and_refines_the_cached_mask(tiny):
    timer = LiveTimer(tiny, batch_size=2)
    frozen_conv = {"conv": False, "dense": True}
    first = timer.measure(frozen_conv, steps=2)
    assert first.steps == 2 and first.median_ms > 0 and first.setup_ms > 0
    again = timer.measure(frozen_conv, steps=3)
    assert again is first and again.steps == 5  # refined, not restarted
    assert get_mask(tiny) == {"conv": True, "dense": True}  # the model itself is untouched
    assert timer.measurements.keys() == {mask_to_text(frozen_conv)}


def test_predictions_are_the_cost_models(tiny):
    timer = LiveTimer(tiny, batch_size=2)
    mask = {"conv": False, "dense": True}
    assert timer.predicted_fraction(mask) == step_cost(tiny, mask, 2).relative_cost
    assert timer.predicted_ms(mask) is None and timer.measured_fraction(mask) is None
    timer.measure(timer.full_mask, steps=2)
    reference = timer.reference.median_ms
    assert timer.predicted_ms(mask) == pytest.approx(reference * timer.predicted_fraction(mask))
    timer.measure(mask, steps=2)
    measured = timer.measurements[mask_to_text(mask)].median_ms
    assert timer.measured_fraction(mask) == pytest.approx(measured / reference)
    readout = live_readout(timer, mask)
    assert {p[0] for p in readout.points} == {"T:all", mask_to_text(mask)}
    assert "measured:" in readout.text() and "predicted:" in readout.text()


def test_follow_mask_measures_the_reference_then_follows_a_tick(tiny):
    timer = LiveTimer(tiny, batch_size=2)
    wanted = [{"conv": False, "dense": True}]
    updates = []

    def on_update():
        updates.append(mask_to_text(wanted[0]))
        if len(updates) == 2:  # the learner ticks while the timing runs
            wanted[0] = {"conv": True, "dense": False}

    follow_mask(
        timer, lambda: wanted[0], Progress(), first_steps=2, max_steps=4, on_update=on_update
    )
    steps = {text: m.steps for text, m in timer.measurements.items()}
    assert steps["T:all"] == 4  # the reference levelled with the mask at the end
    assert steps[mask_to_text(wanted[0])] == 4  # the new mask was followed to the end
    assert steps[mask_to_text({"conv": False, "dense": True})] == 2  # the old one was left


def test_cancel_stops_at_the_next_step_and_keeps_the_steps_so_far(tiny):
    timer = LiveTimer(tiny, batch_size=2)
    progress = Progress()
    reports = []

    def cancel_after_two(report):
        reports.append(report)
        if report.what.startswith("timing") and report.done == 2:
            progress.cancel()

    progress = Progress(on_report=cancel_after_two)
    with pytest.raises(Cancelled):
        timer.measure(timer.full_mask, steps=50, progress=progress)
    assert timer.measurements["T:all"].steps == 3  # the step in flight finished, no more
    assert get_mask(tiny) == {"conv": True, "dense": True}


def test_bad_arguments_are_refused(tiny):
    with pytest.raises(ValueError, match="Received: batch_size=0"):
        LiveTimer(tiny, batch_size=0)
    with pytest.raises(ValueError, match="Received: steps=0"):
        LiveTimer(tiny).measure({"conv": True, "dense": True}, steps=0)
    unbuilt = keras.Sequential([keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="known input"):
        LiveTimer(unbuilt)


def test_out_of_memory_names_the_batch_and_leaves_the_model_alone(tiny, monkeypatch):
    from freezelab.speed.timing import StepOutOfMemoryError

    timer = LiveTimer(tiny, batch_size=64)
    copy, _, _ = timer._ready_copy()

    def out_of_memory(*args, **kwargs):
        raise RuntimeError("ResourceExhaustedError: OOM when allocating tensor")

    monkeypatch.setattr(copy, "train_on_batch", out_of_memory)
    with pytest.raises(StepOutOfMemoryError, match=r"batch_size=64 .*batch_size=32"):
        timer.measure(timer.full_mask, steps=1)
    assert get_mask(tiny) == {"conv": True, "dense": True}


def test_follow_mask_reports_the_whole_run_forward_in_short_lines(tiny):
    timer = LiveTimer(tiny, batch_size=2)
    mask = {"conv": False, "dense": True}
    reports = []
    follow_mask(timer, lambda: mask, Progress(on_report=reports.append), 2, 4)
    # 2 reference steps, 4 of the mask, then 2 more of the reference so that both have 4:
    # 8 steps, counted across the measure() calls.
    assert reports[-1].done == reports[-1].total == 8
    fractions = [r.fraction for r in reports]
    assert fractions == sorted(fractions)  # the plan did not change: never backwards
    assert {r.total for r in reports} == {8}
    assert {m.steps for m in timer.measurements.values()} == {4}
    whats = {r.what for r in reports}
    assert "compiling the fully trainable step" in whats and "timing this mask" in whats
    assert all(mask_to_text(mask) not in what for what in whats)  # no mask text in the line
    # The last line names both masks timed, not only the reference (issue 25).
    assert reports[-1].what == "timed this mask and the fully trainable step, 4 steps each"


def test_the_readout_shows_the_reference_and_what_it_waits_for(tiny):
    timer = LiveTimer(tiny, batch_size=2)
    mask = {"conv": False, "dense": True}
    before = live_readout(timer, mask)
    assert before.reference is None
    assert "measured: not yet (time it, or switch live timing on)" in before.text()
    assert "measured: not yet (stopped)" in before.text(waiting="stopped")
    timer.measure(timer.full_mask, steps=2)
    after = live_readout(timer, mask)
    reference = timer.measurements["T:all"]
    assert after.reference is reference
    first = after.text().splitlines()[0]
    assert first.startswith(f"fully trainable step: {reference.text()}")


def hand_readout(mine_ms, reference_ms, same=False):
    reference = LiveMeasurement("T:all", 1.0, times_ms=list(reference_ms))
    mine = reference if same else LiveMeasurement("F:conv T:dense", 0.99, times_ms=list(mine_ms))
    fraction = mine.median_ms / reference.median_ms
    return LiveReadout(
        mine.mask_text,
        mine.predicted_fraction,
        0.99 * reference.median_ms,
        mine,
        fraction,
        (),
        "CPU",
        reference,
    )


def test_the_measured_line_says_the_timing_is_rough_and_when_no_difference_is_shown():
    # The case: 77.3 ms (IQR 18.4) against 80.9 ms (IQR 9.1) printed "96 %"
    # with nothing to tell noise from effect.
    close = hand_readout([60, 70, 77.3, 85, 95], [75, 78, 80.9, 83, 86]).text()
    measured = close.splitlines()[2:]
    assert measured[0].startswith("measured: 77.3 ms/step")
    assert measured[1].startswith("  within the spread: no difference shown (medians 3.6 ms apart")
    assert measured[2] == f"  {UNPAIRED_NOTE}"
    assert "lesson 03" in UNPAIRED_NOTE and "interleaved" in UNPAIRED_NOTE
    far = hand_readout([40, 41, 42, 43, 44], [78, 80, 81, 82, 84]).text()
    assert "  shorter than the fully trainable step by 39.0 ms, beyond both IQRs" in far
    assert "no difference shown" not in far and UNPAIRED_NOTE in far
    # The fully trainable mask is the reference itself: nothing to compare.
    alone = hand_readout([], [78, 80, 81], same=True).text()
    assert "spread" not in alone and UNPAIRED_NOTE not in alone
