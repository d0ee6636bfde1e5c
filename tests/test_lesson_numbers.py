"""Lessons say only what they compute: every number in a lesson's prose is shown by an output
of that lesson (or attributed to a committed record), as ``../shared/tools/prose_numbers.py``
reads it."""

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TOOL = ROOT.parent / "shared" / "tools" / "prose_numbers.py"
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def load_tool():
    if not TOOL.exists():
        pytest.fail(
            f"The prose-number reader is missing: expected {TOOL} (../shared beside the repo)"
        )
    spec = importlib.util.spec_from_file_location("prose_numbers", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_every_number_in_the_prose_is_shown_by_the_lesson(notebook):
    flagged = load_tool().unshown_numbers(notebook, root=ROOT)
    assert [(f["cell"], f["number"], f["line"][:80]) for f in flagged] == []
