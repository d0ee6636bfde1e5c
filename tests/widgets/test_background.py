"""Tests for freezelab.widgets.background: a worker thread with progress and Cancel."""

import threading

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
