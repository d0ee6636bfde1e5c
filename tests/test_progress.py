"""Tests for freezelab.progress: reports, estimates and cancelling."""

import threading

import pytest

from freezelab.progress import Cancelled, Progress, ProgressReport


def test_reports_reach_the_callback_with_fraction_and_estimate():
    seen = []
    progress = Progress(on_report=seen.append)
    progress.report(1, 4, "timing block1")
    assert seen[-1].fraction == 0.25 and seen[-1].what == "timing block1"
    assert progress.last is seen[-1]
    report = ProgressReport(done=1, total=4, what="x", elapsed_s=2.0)
    assert report.remaining_s == pytest.approx(6.0)  # 2 s per quarter, three quarters left
    assert report.text() == "x (1/4) · about 6 s left"
    assert ProgressReport(0, None, "warming up", 1.0).text() == "warming up"
    assert ProgressReport(3, None, "steps", 1.0).fraction is None


def test_cancel_makes_the_next_report_raise_from_another_thread():
    progress = Progress()
    worker_saw = []

    def work():
        try:
            for step in range(1000):
                progress.report(step, 1000, "work")
                started.set()
                stop.wait(0.01)
        except Cancelled:
            worker_saw.append(step)

    started, stop = threading.Event(), threading.Event()
    thread = threading.Thread(target=work)
    thread.start()
    assert started.wait(5)
    progress.cancel()
    thread.join(5)
    assert progress.cancelled and len(worker_saw) == 1 and worker_saw[0] < 999
    with pytest.raises(Cancelled):
        progress.check()


def test_steps_callback_reports_counted_steps():
    progress = Progress()
    callback = progress.steps("ascent")
    callback(3, 12)
    assert (progress.last.done, progress.last.total, progress.last.what) == (3, 12, "ascent")
    progress.cancel()
    with pytest.raises(Cancelled):
        callback(4, 12)
