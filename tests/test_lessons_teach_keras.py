"""Every lesson writes the Keras a learner will write: it sets ``trainable`` on a layer or model
itself (``layer.trainable = False``), and calls ``compile()`` and ``fit()`` itself, in plain Keras,
not only through freezelab's helpers.

The notebooks' code cells are parsed (not run): an assignment to a ``.trainable`` attribute and
calls of ``.compile(...)`` and ``.fit(...)`` on anything that is not freezelab (``fl.``) count.
"""

import ast
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
FREEZELAB_NAMES = {"fl", "freezelab"}


def code_of(notebook: dict) -> str:
    """The notebook's code cells joined, IPython magics and shell lines dropped."""
    lines = []
    for cell in notebook["cells"]:
        if cell["cell_type"] != "code":
            continue
        source = "".join(cell["source"])
        lines += [line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))]
        lines.append("")
    return "\n".join(lines)


def receiver_root(node: ast.expr) -> str | None:
    """The name an attribute chain starts from: ``a`` for ``a.b.c``, None for calls and literals."""
    while isinstance(node, ast.Attribute):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def plain_keras_actions(source: str) -> set[str]:
    """Which of "trainable", "compile" and "fit" the code does itself, outside freezelab.

    Args:
        source: Python source of a lesson's code cells.

    Returns:
        The subset of {"trainable", "compile", "fit"} found: "trainable" for an assignment
        ``something.trainable = ...``; "compile"/"fit" for a call ``something.compile(...)`` or
        ``something.fit(...)`` whose receiver is not the freezelab module.
    """
    found = set()
    for node in ast.walk(ast.parse(source)):
        targets = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
            targets = [node.target]
        for target in targets:
            writes_flag = isinstance(target, ast.Attribute) and target.attr == "trainable"
            if writes_flag and receiver_root(target.value) not in FREEZELAB_NAMES:
                found.add("trainable")
        calls_method = isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
        if (
            calls_method
            and node.func.attr in ("compile", "fit")
            and receiver_root(node.func.value) not in FREEZELAB_NAMES
        ):
            found.add(node.func.attr)
    return found


def test_the_reader_finds_plain_keras_and_ignores_freezelab_helpers():
    plain = "for layer in base.layers[:10]:\n    layer.trainable = False\nmodel.compile('adam')\nh = model.fit(x, y)\n"
    assert plain_keras_actions(plain) == {"trainable", "compile", "fit"}
    helpers_only = "fl.freeze(model, 'block1')\nfl.recompile(model)\nfl.run_strategy.fit(x)\n"
    assert plain_keras_actions(helpers_only) == set()
    a_flag_read_is_not_a_write = "print(layer.trainable)\nok = model.trainable == False\n"
    assert plain_keras_actions(a_flag_read_is_not_a_write) == set()


def test_magics_do_not_break_the_reader():
    notebook = {
        "cells": [
            {"cell_type": "code", "source": ["%matplotlib inline\n", "base.trainable = False\n"]},
            {"cell_type": "markdown", "source": ["model.fit(x) in prose does not count"]},
        ]
    }
    assert plain_keras_actions(code_of(notebook)) == {"trainable"}


def test_there_are_lessons_to_check():
    assert len(NOTEBOOKS) >= 6, [p.name for p in NOTEBOOKS]


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_every_lesson_freezes_compiles_and_fits_in_plain_keras(notebook):
    source = code_of(json.loads(notebook.read_text()))
    assert plain_keras_actions(source) == {"trainable", "compile", "fit"}, notebook.name
