"""Tests for freezelab.widgets.background: a worker thread with progress and Cancel."""

import threading

import pytest

from freezelab.progress import Cancelled
from freezelab.widgets.background import BackgroundJob


def test_result_progress_and_done_callback():
    job = BackgroundJob("fl-test")
    results = []

    def work(progress):
        for step in range(4):
            progress.report(step + 1, 4, "counting")
        return 42

    assert job.start(work, on_done=results.append)
    assert job.wait(10)
    assert results == [42]
    assert job.bar.value == 1.0 and job.bar.bar_style == "success"
    assert job.cancel_button.disabled
    # The label ends with the work instead of saying "counting" for ever.
    assert job.status.value.startswith("done: counting (") and job.status.value.endswith(" s)")
    assert "fl-test-progress" in job.bar._dom_classes


def test_cancel_stops_the_work_and_says_so():
    job = BackgroundJob()
    started, cancelled = threading.Event(), []

    def work(progress):
        while True:
            progress.report(1, None, "waiting")
            started.set()
            threading.Event().wait(0.01)

    job.start(work, on_cancel=lambda: cancelled.append(True))
    assert started.wait(5)
    job.cancel()
    assert job.wait(5)
    assert cancelled == [True] and job.status.value == "cancelled"


def test_an_error_is_shown_with_its_message():
    job = BackgroundJob()
    errors = []

    def work(progress):
        raise ValueError("batch_size must be a positive int. Received: batch_size=0")

    job.start(work, on_error=errors.append)
    assert job.wait(5)
    assert isinstance(errors[0], ValueError) and job.last_error is errors[0]
    assert "Received: batch_size=0" in job.status.value and job.bar.bar_style == "danger"


def test_a_second_start_while_busy_is_refused():
    job = BackgroundJob()
    release = threading.Event()
    job.start(lambda progress: release.wait(5))
    assert not job.start(lambda progress: None)
    assert "Busy" in job.status.value
    release.set()
    assert job.wait(5)
    assert job.start(lambda progress: None) and job.wait(5)


def test_cancelled_is_not_reported_as_an_error():
    job = BackgroundJob()

    def work(progress):
        raise Cancelled("cancelled by the learner")

    job.start(work)
    assert job.wait(5) and job.last_error is None


def test_the_bar_never_goes_back_and_the_estimate_never_grows():
    from freezelab.progress import ProgressReport

    job = BackgroundJob()
    job.start(lambda progress: None)
    assert job.wait(5)
    job._shown_fraction, job._shown_left = 0.0, None
    # What the issue saw: 0 -> 67 -> 50 -> 50 -> 100 % while the plan grew, and the pace
    # estimate rising from 2 s to 5 s.
    reports = [
        ProgressReport(0, 3, "timing", 0.5),
        ProgressReport(2, 3, "timing", 4.0),
        ProgressReport(3, 6, "timing", 5.0),
        ProgressReport(3, 6, "timing", 9.0),
        ProgressReport(6, 6, "timing", 12.0),
    ]
    bars, lines = [], []
    for report in reports:
        job._show(report)
        bars.append(job.bar.value)
        lines.append(job.status.value)
    assert bars == [0.0, 2 / 3, 2 / 3, 2 / 3, 1.0]
    # The pace alone would say 2 s, then 5 s, then 9 s left: the label keeps the lowest.
    assert [reports[i].remaining_s for i in (1, 2, 3)] == pytest.approx([2.0, 5.0, 9.0])
    assert lines[0] == "timing (0/3)"
    assert lines[1:4] == ["timing (2/3) · about 2 s left"] + ["timing (3/6) · about 2 s left"] * 2
    assert lines[4] == "timing (6/6) · almost done"


def test_a_new_run_starts_its_bar_and_estimate_afresh():
    job = BackgroundJob()
    job.start(lambda progress: progress.report(3, 3, "first"))
    assert job.wait(5)
    seen = []
    job.bar.observe(lambda change: seen.append(change["new"]), names="value")
    job.start(lambda progress: progress.report(1, 4, "second"))
    assert job.wait(5)
    assert seen[:2] == [0.0, 0.25]


def test_a_job_can_stay_hidden_until_its_first_run_and_stays_shown_after():
    # Issue 25: an empty bar and a disabled Cancel were clutter before any timing.
    job = BackgroundJob("fl-test", hidden_until_started=True)
    assert job.widget.layout.display == "none"
    assert job.start(lambda progress: progress.report(1, 1, "counting"))
    assert job.widget.layout.display is None  # shown while it runs ...
    assert job.wait(10)
    assert job.widget.layout.display is None  # ... and after, with its "done" line
    assert BackgroundJob("fl-test").widget.layout.display is None  # shown by default
