"""Helpers that turn bad input into clear, Keras-style errors."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def closest(received: str, choices: Iterable[str], limit: int = 3) -> list[str]:
    """Returns up to ``limit`` valid choices that look most like ``received``."""
    choices = list(choices)
    matches = difflib.get_close_matches(received, choices, n=limit, cutoff=0.5)
    if not matches:
        prefix = received.split("_")[0]
        matches = [c for c in choices if c.startswith(prefix)][:limit]
    return matches


def suggestion(received: str, choices: Iterable[str]) -> str:
    """A "Did you mean ...?" phrase, or an empty string when nothing is close."""
    matches = closest(received, choices)
    if not matches:
        return ""
    return " Did you mean: " + ", ".join(repr(m) for m in matches) + "?"
