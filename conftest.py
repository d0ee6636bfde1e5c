"""Shared pytest set-up for the unit tests and for nbval over notebooks/.

Quick mode (``FREEZELAB_QUICK=1``) is switched on for every test run, so the
notebooks run through the same code as the full lessons, on small inputs.
Progress and warnings on stderr (TensorFlow prints many) are left out of
nbval's comparison: only marked cells are compared at all (``--nbval-lax``),
and of those only what they print to stdout and display.
"""

import os

os.environ.setdefault("FREEZELAB_QUICK", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("MPLBACKEND", "Agg")


def pytest_collectstart(collector):
    if collector.fspath and collector.fspath.ext == ".ipynb":
        collector.skip_compare = (*collector.skip_compare, "stderr")
