"""The machine beside a timing: the course's one quiet rule, and which kind of step ran.

Both timing lessons (02 and 03) print the same two lines beside their figures:
whether the machine was quiet by one rule, with the numbers it read, and
whether the timed step was compiled (graph or XLA) or eager, which depends on
the backend as well as on ``jit_compile``.

The rule: a timing run counts as **quiet** when the 1-minute load average
before it, divided by the number of cores, is at most 0.5. The load after a
run includes the run's own threads, so it is printed but not judged.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

QUIET_LOAD_PER_CORE = 0.5
RULE = "1-minute load per core before the timing at most 0.5"


@dataclass(frozen=True)
class QuietCheck:
    """The course's quiet rule applied to one timing run.

    Attributes:
        quiet: True or False by the rule; None where the system gives no load.
        load_before: The 1-, 5- and 15-minute load averages before the run.
        cores: The number of cores the load is divided by.
        load_after: The same averages after the run (printed, not judged).
    """

    quiet: bool | None
    load_before: tuple[float, ...] | None
    cores: int
    load_after: tuple[float, ...] | None = None

    @property
    def load_per_core(self) -> float | None:
        """The 1-minute load average before the run, per core (what the rule reads)."""
        return None if self.load_before is None else self.load_before[0] / self.cores

    @property
    def line(self) -> str:
        """One line: the verdict, the numbers it read and the rule."""
        if self.quiet is None:
            return "load average not available on this system: quietness not checked"
        one, five = (value / self.cores for value in self.load_before[:2])
        verdict = "quiet" if self.quiet else "NOT quiet"
        after = (
            f"; after: {self.load_after[0] / self.cores:.2f} (includes the run's own threads)"
            if self.load_after
            else ""
        )
        recent = (
            "; the 5-minute load was above the bar: other work ran in the minutes before"
            if five > QUIET_LOAD_PER_CORE
            else ""
        )
        return (
            f"load per core before: {one:.2f} (1 min), {five:.2f} (5 min) on {self.cores} cores"
            f"{after}: {verdict} by the course's rule ({RULE}){recent}"
        )

    def __str__(self) -> str:
        return self.line


def quiet_check(setup: object, cores: int | None = None) -> QuietCheck:
    """Applies the course's quiet rule to a timing run.

    Args:
        setup: A `SweepResult` (its ``setup``) or the setup dict itself,
            holding ``load_average_before`` (and optionally
            ``load_average_after``) as `run_sweep` records them.
        cores: Cores to divide the load by; None reads them from the setup's
            ``device`` line ("CPU (2 threads, ...)", as a committed record
            holds it) and otherwise uses ``os.cpu_count()``.

    Returns:
        A `QuietCheck`; print its ``line``.

    Raises:
        ValueError: If ``setup`` holds no ``load_average_before`` entry, or
            ``cores`` is not a positive int.
    """
    setup = getattr(setup, "setup", setup)
    if not isinstance(setup, dict) or "load_average_before" not in setup:
        raise ValueError(
            "quiet_check needs a SweepResult or its setup dict with 'load_average_before'. "
            f"Received: setup of type {type(setup).__name__}"
        )
    if cores is None:
        found = re.search(r"\((\d+) threads", str(setup.get("device", "")))
        cores = int(found.group(1)) if found else (os.cpu_count() or 1)
    if isinstance(cores, bool) or not isinstance(cores, int) or cores < 1:
        raise ValueError(f"cores must be a positive int. Received: cores={cores!r}")
    before = setup["load_average_before"]
    after = setup.get("load_average_after")
    if not before:
        return QuietCheck(None, None, cores, tuple(after) if after else None)
    before = tuple(float(value) for value in before)
    quiet = before[0] / cores <= QUIET_LOAD_PER_CORE
    return QuietCheck(quiet, before, cores, tuple(after) if after else None)


def step_mode(setup: dict) -> str:
    """What kind of train step a timing ran: compiled (graph or XLA) or eager.

    Under Keras 3's default ``jit_compile="auto"``, TensorFlow builds a graph
    (XLA only on a GPU), JAX compiles with XLA even on a CPU, and PyTorch
    stays eager unless ``jit_compile=True`` (``torch.compile``).

    Args:
        setup: A `SweepResult.setup` (or `StepTiming` fields) holding
            ``backend``, ``jit_compile`` and ``run_eagerly``.

    Returns:
        A short label, e.g. ``"compiled graph, no XLA"`` or
        ``"eager (PyTorch with jit_compile=False)"``.

    Raises:
        ValueError: If ``setup`` lacks ``backend`` or ``jit_compile``.
    """
    if not isinstance(setup, dict) or not {"backend", "jit_compile"} <= set(setup):
        raise ValueError(
            f"step_mode needs a setup dict with 'backend' and 'jit_compile'. Received: {setup!r}"
        )
    backend, jit = setup["backend"], bool(setup["jit_compile"])
    if setup.get("run_eagerly"):
        return "eager (run_eagerly=True)"
    if backend == "torch":
        return "torch.compile" if jit else "eager (PyTorch with jit_compile=False)"
    if backend == "jax":
        return "XLA (JAX)" if jit else "eager (JAX with jit_compile=False)"
    if backend == "tensorflow":
        return "XLA" if jit else "compiled graph, no XLA"
    return f"backend {backend}, jit_compile={jit}"
