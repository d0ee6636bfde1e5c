"""Follow changes made in code: a background check that calls back when a value changes.

The freeze panel shows a model's flags; a learner may change them in another
cell (``model.trainable = False``, ``freezelab.freeze(...)``) while the panel
is on screen. `Follower` reads a cheap value (the model's mask) every
``interval`` seconds on a daemon thread and calls ``on_change`` when it
differs from what the owner shows. It holds its owner weakly, so a panel
that is dropped stops its follower, and `Follower.stop` stops it at once.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from typing import Any


class Follower:
    """Calls ``changed(owner)`` and then ``on_change(owner)`` on a thread, every ``interval``.

    Args:
        owner: The object followed (held weakly: the thread ends when it is
            garbage-collected).
        changed: ``changed(owner) -> bool``: whether the owner is out of date.
            Called on the follower's thread; must be cheap and must not raise.
        on_change: ``on_change(owner)``: brings the owner up to date.
        interval: Seconds between checks.

    Raises:
        ValueError: If ``interval`` is not a positive number.
    """

    def __init__(
        self,
        owner: Any,
        changed: Callable[[Any], bool],
        on_change: Callable[[Any], None],
        interval: float = 0.25,
    ):
        if not isinstance(interval, (int, float)) or isinstance(interval, bool) or interval <= 0:
            raise ValueError(
                f"interval must be a positive number of seconds. Received: interval={interval!r}"
            )
        self.interval = float(interval)
        self._owner = weakref.ref(owner)
        self._changed = changed
        self._on_change = on_change
        self._stop = threading.Event()
        self.errors: list[BaseException] = []
        self._thread = threading.Thread(target=self._run, name="freezelab-follow", daemon=True)
        self._thread.start()

    @property
    def running(self) -> bool:
        """Whether the thread is still checking."""
        return self._thread.is_alive()

    def stop(self, timeout: float = 2.0) -> None:
        """Stops the checks and waits (up to ``timeout`` seconds) for the thread to end."""
        self._stop.set()
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            owner = self._owner()
            if owner is None:
                return
            try:
                if self._changed(owner):
                    self._on_change(owner)
            except Exception as error:  # a broken model must not kill the kernel's thread noisily
                self.errors.append(error)
                if len(self.errors) >= 3:
                    return
            finally:
                del owner
