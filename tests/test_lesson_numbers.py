"""Lessons say only what they compute: every number in a lesson's prose is shown by an output
of that lesson (or attributed to a committed record), as ``tools/prose_numbers.py --strict``
reads it. The reader itself is tested on small notebooks with known answers."""

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TOOL = ROOT / "tools" / "prose_numbers.py"
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def load_tool():
    spec = importlib.util.spec_from_file_location("prose_numbers", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def notebook(tmp_path, markdown, code="x = 1", printed="", name="07_demo.ipynb"):
    cells = [
        {"cell_type": "markdown", "metadata": {}, "source": [markdown]},
        {
            "cell_type": "code",
            "metadata": {},
            "execution_count": 1,
            "source": [code],
            "outputs": [{"output_type": "stream", "name": "stdout", "text": [printed]}],
        },
    ]
    path = tmp_path / "notebooks" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5})
    )
    return path


@pytest.mark.parametrize("notebook_path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_every_number_in_the_prose_is_shown_by_the_lesson(notebook_path):
    flagged = load_tool().unshown_numbers(notebook_path, root=ROOT, strict=True)
    assert [(f["cell"], f["number"], f["line"][:80]) for f in flagged] == []


def test_glued_quantities_are_checked_whatever_their_size(tmp_path):
    tool = load_tool()
    path = notebook(tmp_path, "It ran 3.5x faster in 1.63s, 7 % of 590 ms.", printed="3.49 1.634")
    flagged = {f["number"] for f in tool.unshown_numbers(path, strict=True)}
    assert flagged == {"7%", "590ms"}  # 3.5x and 1.63s are printed (rounded to the prose)
    lax = [f["number"] for f in tool.unshown_numbers(path, strict=False)]
    assert lax == ["590"]  # without --strict only numbers above 20 count: 7 % passes unseen


def test_a_setting_in_code_does_not_show_a_measured_quantity(tmp_path):
    tool = load_tool()
    path = notebook(tmp_path, "A step took 250 ms.", code="budget_ms = 250")
    assert [f["number"] for f in tool.unshown_numbers(path, strict=True)] == ["250ms"]
    assert tool.unshown_numbers(path, strict=False) == []  # the lax reading accepts code


def test_a_named_record_shows_its_numbers_and_only_its_own(tmp_path):
    tool = load_tool()
    record = tmp_path / "benchmarks" / "records" / "run.json"
    record.parent.mkdir(parents=True)
    record.write_text(json.dumps({"ms_per_step": 212.4}))
    line = "The record measured 212.4 ms and 99.9 ms (`benchmarks/records/run.json`)."
    path = notebook(tmp_path, line)
    flagged = [f["number"] for f in tool.unshown_numbers(path, root=tmp_path, strict=True)]
    assert flagged == ["99.9ms"]


def test_the_command_line_exits_1_when_a_number_is_unshown(tmp_path, capsys):
    tool = load_tool()
    path = notebook(tmp_path, "Saved 12 % of the step.")
    assert tool.main([str(path)]) == 0  # lax: a small integer is not a claim
    assert tool.main(["--strict", str(path)]) == 1  # strict: a quantity with a unit is
    assert "12%" in capsys.readouterr().out
