"""The graded course in deploy/nbgrader/ round-trips through nbgrader for real.

On a copy of the course folder, nbgrader's own command line generates the learners' version
of each lesson's exercises, then autogrades three submissions per lesson: (a) the untouched
learners' version gets 0 points, (b) the instructor's source version (the solutions) gets every
autograded point, (c) the solutions with one answer made wrong lose exactly that exercise's
points. Scores are read from nbgrader's gradebook, per test cell.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import pytest
from nbgrader.api import Gradebook

REPO = Path(__file__).resolve().parents[2]
COURSE = REPO / "deploy" / "nbgrader"
BIN = Path(sys.executable).parent  # nbgrader and alembic, which nbgrader runs, live here
LESSONS = ("lesson01", "lesson02", "lesson03", "lesson04", "lesson05", "lesson06")
#: lesson -> (answer cell, its right line, a wrong line, the test cell whose points it loses)
WRONG = {
    "lesson01": ("ex2_answer", "stop = 12\n", "stop = 11\n", "ex2_tests"),
    "lesson02": (
        "ex1_answer",
        "adam_mib = trainable * 2 * 4 / 2**20",
        "adam_mib = trainable * 4 / 2**20",
        "ex1_tests",
    ),
    "lesson03": (
        "ex4_answer",
        "block5_frozen.optimizer_bytes) / 2**20",
        "block5_frozen.optimizer_bytes) / 1e6",
        "ex4_tests",
    ),
    "lesson04": (
        "ex6_answer",
        "field_size += (kernel - 1) * field_stride",
        "field_size += kernel - 1",
        "ex6_tests",
    ),
    "lesson05": (
        "ex3_answer",
        "3 * 3 * c_in * c_out + c_out for",
        "3 * 3 * c_in * c_out for",
        "ex3b_tests",
    ),
    "lesson06": (
        "ex3_answer",
        "swapped.trainable = False\n",
        "swapped.trainable = True\n",
        "ex3_tests",
    ),
}
STUDENTS = {"a": "untouched", "b": "solutions", "c": "one_wrong"}


def notebook_name(lesson: str) -> str:
    return f"{lesson}_exercises"


def source_cells(lesson: str) -> list[dict]:
    path = COURSE / "source" / lesson / f"{notebook_name(lesson)}.ipynb"
    return json.loads(path.read_text())["cells"]


def autotests(lesson: str) -> dict[str, float]:
    """Test cell id -> its points, read from the source version's nbgrader metadata."""
    found = {}
    for cell in source_cells(lesson):
        meta = cell["metadata"].get("nbgrader", {})
        if meta.get("grade") and not meta.get("solution"):
            found[meta["grade_id"]] = float(meta["points"])
    return found


def nbgrader(root: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    result = subprocess.run(
        [str(BIN / "nbgrader"), *args, f"--CourseDirectory.root={root}"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def submit(root: Path, student: str, lesson: str, notebook: dict) -> None:
    folder = root / "submitted" / student / lesson
    folder.mkdir(parents=True)
    (folder / f"{notebook_name(lesson)}.ipynb").write_text(json.dumps(notebook))


def made_wrong(lesson: str, notebook: dict) -> dict:
    cell_id, right, wrong, _ = WRONG[lesson]
    notebook = json.loads(json.dumps(notebook))
    (cell,) = [
        c for c in notebook["cells"] if c["metadata"].get("nbgrader", {}).get("grade_id") == cell_id
    ]
    source = "".join(cell["source"])
    assert source.count(right) == 1, source
    cell["source"] = source.replace(right, wrong)
    return notebook


def cells_seconds(path: Path) -> float:
    """Seconds from the first cell's start to the last cell's reply (nbclient's timestamps)."""
    times = [
        cell["metadata"].get("execution", {})
        for cell in json.loads(path.read_text())["cells"]
        if cell["cell_type"] == "code"
    ]
    starts = [t["iopub.execute_input"] for t in times if "iopub.execute_input" in t]
    ends = [t["shell.execute_reply"] for t in times if "shell.execute_reply" in t]
    if not starts or not ends:
        return float("nan")
    first, last = (
        datetime.fromisoformat(t.replace("Z", "+00:00")) for t in (min(starts), max(ends))
    )
    return (last - first).total_seconds()


def round_trip(root: Path, lesson: str) -> tuple[float, dict]:
    """Generates, submits (a, b, c) and autogrades one lesson in its own course copy.

    Returns:
        The autograde's seconds for the three submissions, and (lesson, learner) -> test cell
        id -> score, read from the course's gradebook.
    """
    made_here = ("release", "submitted", "autograded", "feedback", "gradebook.db", ".nbgrader.log")
    shutil.copytree(COURSE, root, ignore=shutil.ignore_patterns(*made_here))  # the course only
    nbgrader(root, "generate_assignment", lesson, "--force")
    name = f"{notebook_name(lesson)}.ipynb"
    released = json.loads((root / "release" / lesson / name).read_text())
    solutions = json.loads((root / "source" / lesson / name).read_text())
    submit(root, STUDENTS["a"], lesson, released)
    submit(root, STUDENTS["b"], lesson, solutions)
    submit(root, STUDENTS["c"], lesson, made_wrong(lesson, solutions))
    start = time.perf_counter()
    nbgrader(root, "autograde", lesson, "--force")
    seconds = time.perf_counter() - start
    scores = {}
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gradebook:
        for student in STUDENTS.values():
            submission = gradebook.find_submission_notebook(notebook_name(lesson), lesson, student)
            scores[lesson, student] = {g.name: g.score for g in submission.grades}
    return seconds, scores


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """The lessons' round trips, all six side by side (each kernel mostly waits on one core).

    On the 2-core machine the slowest cell, each notebook's set-up (importing Keras), took 15 s
    of nbgrader's 30 s this way; three at a time made the test slower (113 s against 92 s).
    """
    base = tmp_path_factory.mktemp("courses")
    roots = {lesson: base / lesson for lesson in LESSONS}
    with ThreadPoolExecutor(max_workers=len(LESSONS)) as pool:
        done = {lesson: pool.submit(round_trip, roots[lesson], lesson) for lesson in LESSONS}
        results = {lesson: future.result() for lesson, future in done.items()}
    scores = {}
    for lesson, (seconds, lesson_scores) in results.items():
        scores.update(lesson_scores)
        print(f"{lesson}: autograde of 3 submissions {seconds:.1f} s")
        for student in STUDENTS.values():
            path = (
                roots[lesson] / "autograded" / student / lesson / f"{notebook_name(lesson)}.ipynb"
            )
            print(f"    {student}: cells ran {cells_seconds(path):.1f} s")
    return roots, scores


def test_the_learners_version_has_no_solutions_and_no_hidden_tests(graded):
    roots, _ = graded
    for lesson in LESSONS:
        name = f"{notebook_name(lesson)}.ipynb"
        text = (roots[lesson] / "release" / lesson / name).read_text()
        assert "BEGIN SOLUTION" not in text and "BEGIN HIDDEN TESTS" not in text
        assert "raise NotImplementedError()" in text
        assert "YOUR ANSWER HERE" in text  # the open questions' model answers are gone
        _, right, _, _ = WRONG[lesson]
        assert right.strip() not in text
        source = (COURSE / "source" / lesson / name).read_text()
        assert right.strip() in source and "BEGIN HIDDEN TESTS" in source


@pytest.mark.parametrize("lesson", LESSONS)
def test_untouched_gets_nothing_solutions_everything_one_wrong_loses_its_points(graded, lesson):
    _, scores = graded
    points = autotests(lesson)
    assert len(points) >= 4 and sum(points.values()) >= 7

    def auto(student):
        return {cell: scores[lesson, student][cell] for cell in points}

    assert auto("untouched") == dict.fromkeys(points, 0.0)
    assert auto("solutions") == points
    lost = WRONG[lesson][3]
    assert auto("one_wrong") == {**points, lost: 0.0}


@pytest.mark.parametrize("lesson", LESSONS)
def test_the_solutions_run_without_an_error(graded, lesson):
    roots, _ = graded
    path = roots[lesson] / "autograded" / "solutions" / lesson / f"{notebook_name(lesson)}.ipynb"
    cells = json.loads(path.read_text())["cells"]
    errors = [
        output.get("ename")
        for cell in cells
        if cell["cell_type"] == "code"
        for output in cell.get("outputs", [])
        if output["output_type"] == "error"
    ]
    assert errors == []
    printed = "".join(
        "".join(output.get("text", ""))
        for cell in cells
        if cell["cell_type"] == "code"
        for output in cell.get("outputs", [])
    )
    assert "right." in printed and "not yet" not in printed
