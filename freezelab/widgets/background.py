"""Long work off the kernel's main thread, with a progress bar and a Cancel button.

A `BackgroundJob` runs one function at a time on a worker thread. The
function receives a `freezelab.progress.Progress`; its reports move the bar
and the label, and Cancel makes its next report raise `Cancelled`. While it
runs, the kernel keeps handling ticks and other widgets. The result, a
cancellation or an error (with its message) is handed to callbacks and shown
in the label; a finished run's label says "done: ..." (what it did). Within one run the bar never moves back and the time-left
estimate never grows, even when the work's own plan grows (a tick adds work
to the live timing): a learner reads a bar that goes back as a fault. Widget updates from the worker thread are plain trait
assignments, which ipykernel sends from any thread.
"""

from __future__ import annotations

import html
import threading
from collections.abc import Callable
from typing import Any

import ipywidgets as widgets

from freezelab.progress import Cancelled, Progress, ProgressReport

Work = Callable[[Progress], Any]


class BackgroundJob:
    """A worker thread with a progress bar, a label and a Cancel button.

    Args:
        css_prefix: Prefix of the CSS classes of the bar, label and button
            (``<prefix>-progress``, ``<prefix>-status``, ``<prefix>-cancel``).
        hidden_until_started: Whether the widget stays hidden until the first
            run starts (no empty bar and disabled Cancel while nothing ran);
            it stays shown after that run.

    Attributes:
        widget: An ``HBox`` holding the bar, the Cancel button and the label.
        last_error: The exception of the last failed run, or None.
    """

    def __init__(self, css_prefix: str = "fl-job", hidden_until_started: bool = False):
        self.bar = widgets.FloatProgress(
            value=0.0, min=0.0, max=1.0, layout=widgets.Layout(width="160px")
        )
        self.bar.add_class(f"{css_prefix}-progress")
        self.status = widgets.HTML()
        self.status.add_class(f"{css_prefix}-status")
        self.cancel_button = widgets.Button(
            description="Cancel",
            icon="stop",
            disabled=True,
            layout=widgets.Layout(width="auto", flex="0 0 auto"),
        )
        self.cancel_button.add_class(f"{css_prefix}-cancel")
        self.cancel_button.on_click(lambda _: self.cancel())
        self.widget = widgets.HBox(
            [self.bar, self.cancel_button, self.status],
            layout=widgets.Layout(
                flex_flow="row wrap",
                align_items="center",
                display="none" if hidden_until_started else None,
            ),
        )
        self.last_error: BaseException | None = None
        self._thread: threading.Thread | None = None
        self._progress: Progress | None = None
        self._shown_fraction = 0.0
        self._shown_left: float | None = None

    @property
    def running(self) -> bool:
        """Whether a run is in progress."""
        return self._thread is not None and self._thread.is_alive()

    def start(
        self,
        work: Work,
        on_done: Callable[[Any], None] | None = None,
        on_cancel: Callable[[], None] | None = None,
        on_error: Callable[[BaseException], None] | None = None,
    ) -> bool:
        """Starts ``work(progress)`` on a worker thread unless a run is in progress.

        Args:
            work: The function to run; it should call ``progress.report``.
            on_done: Called with the result (from the worker thread).
            on_cancel: Called when the run was cancelled.
            on_error: Called with the exception when the work raised.

        Returns:
            True when started, False when another run was still going (the
            label then says so).
        """
        if self.running:
            self.status.value = _escape("Busy: wait for the current run or cancel it first.")
            return False
        self.last_error = None
        self._progress = Progress(on_report=self._show)
        self.bar.value, self.bar.bar_style = 0.0, ""
        self._shown_fraction, self._shown_left = 0.0, None
        self.status.value = "starting…"
        self.cancel_button.disabled = False
        self.widget.layout.display = None  # shown from the first run on
        progress = self._progress

        def run():
            try:
                result = work(progress)
            except Cancelled:
                self._finish("cancelled", "warning")
                if on_cancel is not None:
                    on_cancel()
            except Exception as error:  # Shown in the widget, not lost in a thread.
                self.last_error = error
                self._finish(f"error: {type(error).__name__}: {error}", "danger")
                if on_error is not None:
                    on_error(error)
            else:
                self.bar.value, self.bar.bar_style = 1.0, "success"
                self.cancel_button.disabled = True
                if on_done is not None:
                    on_done(result)
                # The label ends with the work: "drawing ..." must not stay up once drawn.
                self.status.value = _escape(_done_line(progress))

        self._thread = threading.Thread(target=run, name="freezelab-job", daemon=True)
        self._thread.start()
        return True

    def cancel(self) -> None:
        """Asks the running work to stop at its next report."""
        if self._progress is not None and self.running:
            self._progress.cancel()
            self.status.value = "cancelling…"

    def wait(self, timeout: float | None = None) -> bool:
        """Blocks until the current run ends (for scripts and tests).

        Args:
            timeout: Seconds to wait at most; None waits as long as it takes.

        Returns:
            True when no run is in progress any more.
        """
        if self._thread is not None:
            self._thread.join(timeout)
        return not self.running

    def _show(self, report: ProgressReport) -> None:
        if report.fraction is not None:
            self._shown_fraction = max(self._shown_fraction, report.fraction)
            self.bar.value = self._shown_fraction
        left = None
        if self._shown_fraction > 0.0:
            left = report.elapsed_s * (1.0 - self._shown_fraction) / self._shown_fraction
            if self._shown_left is not None:
                left = min(left, self._shown_left)
            self._shown_left = left
        self.status.value = _escape(_status_line(report, left))

    def _finish(self, text: str, style: str) -> None:
        self.bar.bar_style = style
        self.cancel_button.disabled = True
        self.status.value = _escape(text)


def _status_line(report: ProgressReport, left_s: float | None) -> str:
    """``what (done/total) · about N s left``, with the job's own, never-growing estimate."""
    if report.total:
        count = f" ({report.done:g}/{report.total:g})"
    else:
        count = f" ({report.done:g})" if report.done else ""
    if left_s is None:
        return f"{report.what}{count}"
    estimate = "almost done" if left_s < 0.5 else f"about {left_s:.0f} s left"
    return f"{report.what}{count} · {estimate}"


def _done_line(progress: Progress) -> str:
    """``done: <what the last report said> (N s)``, or ``done (N s)`` without reports."""
    last = progress.last
    elapsed = f"{last.elapsed_s:.1f} s" if last is not None else ""
    if last is None or not last.what:
        return f"done ({elapsed})" if elapsed else "done"
    return f"done: {last.what} ({elapsed})"


def _escape(text: str) -> str:
    return html.escape(text)
