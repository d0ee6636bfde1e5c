"""Progress and cancellation for long work, without any widget.

Long computations (timing, filter pictures, training) take a `Progress` and
call ``progress.report(done, total, what)`` as they go. The report raises
`Cancelled` once `Progress.cancel` was called, so the work stops at its next
step and its ``finally`` blocks put the model back. A widget shows the
reports (`freezelab.widgets.background`); tests and scripts can read them
directly.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


class Cancelled(Exception):
    """The work was cancelled by the learner (raised from `Progress.report`)."""


@dataclass(frozen=True)
class ProgressReport:
    """One report: how far the work is and what it is doing.

    Attributes:
        done: Units finished (steps, images, epochs).
        total: Units in all, or None when unknown.
        what: What is being done, for a label.
        elapsed_s: Seconds since the work started.
    """

    done: float
    total: float | None
    what: str
    elapsed_s: float

    @property
    def fraction(self) -> float | None:
        """``done / total`` in 0..1, or None when the total is unknown."""
        if not self.total:
            return None
        return min(max(self.done / self.total, 0.0), 1.0)

    @property
    def remaining_s(self) -> float | None:
        """Estimated seconds left, from the pace so far; None before any progress."""
        fraction = self.fraction
        if fraction is None or fraction <= 0.0:
            return None
        return self.elapsed_s * (1.0 - fraction) / fraction

    def text(self) -> str:
        """A short line such as ``"timing block1 (3/5 steps) · about 2 s left"``."""
        if self.total:
            count = f" ({self.done:g}/{self.total:g})"
        else:
            count = f" ({self.done:g})" if self.done else ""
        left = self.remaining_s
        estimate = f" · about {left:.0f} s left" if left is not None else ""
        return f"{self.what}{count}{estimate}"


class Progress:
    """A cancellation flag plus a place to send progress reports; thread-safe.

    Args:
        on_report: Called with each `ProgressReport` (from the working
            thread); None to only record the last one.
    """

    def __init__(self, on_report: Callable[[ProgressReport], None] | None = None):
        self._cancel = threading.Event()
        self._on_report = on_report
        self._start = time.perf_counter()
        self.last: ProgressReport | None = None

    @property
    def cancelled(self) -> bool:
        """Whether `cancel` was called."""
        return self._cancel.is_set()

    def cancel(self) -> None:
        """Asks the work to stop at its next report (from any thread)."""
        self._cancel.set()

    def report(self, done: float, total: float | None = None, what: str = "") -> None:
        """Records how far the work is; raises `Cancelled` if it was cancelled.

        Args:
            done: Units finished.
            total: Units in all, or None.
            what: What is being done.

        Raises:
            Cancelled: When `cancel` was called.
        """
        if self._cancel.is_set():
            raise Cancelled("cancelled by the learner")
        self.last = ProgressReport(done, total, what, time.perf_counter() - self._start)
        if self._on_report is not None:
            self._on_report(self.last)

    def check(self) -> None:
        """Raises `Cancelled` if the work was cancelled, without reporting.

        Raises:
            Cancelled: When `cancel` was called.
        """
        if self._cancel.is_set():
            raise Cancelled("cancelled by the learner")

    def steps(self, what: str) -> Callable[[int, int], None]:
        """A ``callback(done, total)`` for code that counts steps (e.g. filter pictures).

        Args:
            what: What the steps are, for the label.

        Returns:
            The callback; it raises `Cancelled` once cancelled.
        """
        return lambda done, total: self.report(done, total, what)
