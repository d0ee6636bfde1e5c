"""Course-wide settings read from the environment.

One switch, ``FREEZELAB_QUICK``, makes every lesson run small: smaller
images, fewer steps, fewer repeats. CI sets it (``CI=true`` implies it) so
that nbval runs each notebook in seconds, through exactly the same code paths
a learner runs at full size.
"""

from __future__ import annotations

import os
from typing import TypeVar

T = TypeVar("T")

_TRUE_WORDS = {"1", "true", "yes", "on"}


def quick_mode() -> bool:
    """Tells whether lessons should run in their small, fast form.

    Returns:
        True when ``FREEZELAB_QUICK`` is set to a true word (1, true, yes,
        on), or when it is unset and ``CI`` is true. ``FREEZELAB_QUICK=0``
        turns quick mode off even in CI.
    """
    explicit = os.environ.get("FREEZELAB_QUICK")
    if explicit is not None:
        return explicit.strip().lower() in _TRUE_WORDS
    return in_ci()


def in_ci() -> bool:
    """Whether this runs in continuous integration: ``CI`` set to a true word (1, true, yes, on)."""
    return os.environ.get("CI", "").strip().lower() in _TRUE_WORDS


def pick(full: T, quick: T) -> T:
    """Returns ``quick`` in quick mode and ``full`` otherwise.

    Args:
        full: The value a learner's full lesson uses.
        quick: The smaller value used in CI.

    Returns:
        One of the two values.
    """
    return quick if quick_mode() else full
