"""Importing TensorFlow without its start-up log lines in the learner's notebook.

TensorFlow's C++ libraries print notices while they load, before its own log
settings apply (``TF_CPP_MIN_LOG_LEVEL`` cannot silence them): oneDNN and
CPU-instruction notices, "could not find cuda drivers", and on a machine
without a GPU "failed call to cuInit ... (303)". In a notebook they show as
pink boxes on every run. `import_tensorflow_quietly` loads TensorFlow and
looks for devices with the process's stderr caught, drops those known
start-up notices and writes every other line back, so a real warning or
error still shows. After that, ``TF_CPP_MIN_LOG_LEVEL`` (default 2 here:
warnings and errors) governs TensorFlow's logging as usual.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

#: Start-up lines that say nothing to a learner (checked on TensorFlow 2.21).
STARTUP_NOISE = (
    re.compile(r"^WARNING: All log messages before absl::InitializeLog\(\) is called"),
    re.compile(r"^I\d{4} [\d:. ]+\d+ \S+\] "),  # informational notices (oneDNN, CPU features)
    re.compile(r"^To enable the following instructions: "),  # continues a CPU-feature notice
    re.compile(r"^E\d{4} [\d:. ]+\d+ \S+\] failed call to cuInit"),  # no GPU on this machine
)


def startup_noise(line: str) -> bool:
    """Whether ``line`` is one of TensorFlow's known start-up notices."""
    return any(pattern.search(line) for pattern in STARTUP_NOISE)


def import_tensorflow_quietly() -> bool:
    """Imports TensorFlow (when it is the Keras backend) without its start-up notices.

    Does nothing when TensorFlow is already imported, when another backend is
    chosen, or when TensorFlow is not installed.

    Returns:
        True when TensorFlow was imported here.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    if backend != "tensorflow" or "tensorflow" in sys.modules:
        return False
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # No real stderr (some embedded interpreters).
        return False
    with tempfile.TemporaryFile(mode="w+b") as sink:
        os.dup2(sink.fileno(), 2)
        try:
            import tensorflow as tf

            tf.config.list_physical_devices("GPU")  # Device start-up logs here, caught too.
        except ImportError:
            return False
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            kept = [
                line
                for line in sink.read().decode(errors="replace").splitlines()
                if not startup_noise(line)
            ]
            if kept:
                sys.stderr.write("\n".join(kept) + "\n")
    return True


@contextmanager
def expected_retracing() -> Iterator[None]:
    """Hides TensorFlow's "triggered tf.function retracing" warning while copies compile.

    Used where tracing one function per model is the point: one compiled copy
    per mask when timing interleaved, one gradient function per Grad-CAM call.
    TensorFlow warns about that as if it were a mistake. Other warnings of the
    ``tensorflow`` logger still show.
    """
    logger = logging.getLogger("tensorflow")
    retracing = _MessageFilter("triggered tf.function retracing")
    logger.addFilter(retracing)
    try:
        yield
    finally:
        logger.removeFilter(retracing)


class _MessageFilter(logging.Filter):
    def __init__(self, text: str):
        super().__init__()
        self.text = text

    def filter(self, record: logging.LogRecord) -> bool:
        return self.text not in record.getMessage()
