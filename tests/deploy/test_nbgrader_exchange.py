"""nbgrader's exchange on the class hub: one instructor and two learners, in the hub's test mode.

deploy/jupyterhub/jupyterhub_config.py is loaded as JupyterHub loads it; each user's server is
the spawner JupyterHub would make from it, its pre-spawn hook run (their home, their nbgrader
settings). Every step then runs nbgrader's own command line in that user's home with exactly the
environment their server gets (``Spawner.get_env()``), as a terminal in their JupyterLab would:
the instructor generates and releases lesson01; alice and bob fetch it; alice submits the
solutions, bob the untouched notebook; the instructor collects, autogrades, generates and
releases feedback; each learner fetches their feedback. All servers run as one OS user here, so
only the hub's settings tell nbgrader who is who.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import pytest
from nbgrader.api import Gradebook

from tests.deploy.test_jupyterhub_config import load
from tests.deploy.test_nbgrader import autotests, notebook_name, source_cells

LESSON = "lesson01"
INSTRUCTOR = "ada"
LEARNERS = ("alice", "bob")
NOTEBOOK = f"{notebook_name(LESSON)}.ipynb"
#: In nbgrader's feedback page: "<a href="#ex1_tests">Test cell</a> (Score: 2.0 / 2.0)".
TEST_CELL_SCORE = re.compile(r'href="#(\w+)">Test cell</a> \(Score: ([\d.]+) / ([\d.]+)\)')
#: A submission in ``nbgrader list``'s log: "[ListApp | INFO] freezelab alice lesson01 2026-...".
SUBMISSION = re.compile(r"^\[ListApp \| INFO\] (\S+) (\S+) (\S+) \d{4}-\d\d-\d\d ", re.M)


@dataclass
class Server:
    """One user's server as the hub would start it: their home and their environment."""

    name: str
    home: Path
    env: dict[str, str]
    args: list[str]

    def nbgrader(self, *args: str) -> subprocess.CompletedProcess:
        """Runs ``nbgrader <args>`` in the user's home, as their server's terminal would."""
        result = subprocess.run(
            ["nbgrader", *args],  # found on the PATH the hub gives
            cwd=self.home,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        output = result.stdout + result.stderr
        assert result.returncode == 0, f"{self.name}: nbgrader {' '.join(args)}\n{output[-3000:]}"
        return result

    def listed(self, *flags: str) -> list[tuple[str, str, str]]:
        """``nbgrader list <flags>``: (course, learner, assignment) of each submission it logs."""
        return SUBMISSION.findall(self.nbgrader("list", *flags).stderr)


def start_server(config, name: str) -> Server:
    """The spawner the hub makes for ``name``, after its pre-spawn hook, and its environment."""
    from jupyterhub.app import JupyterHub
    from jupyterhub.objects import Hub

    user = SimpleNamespace(name=name, escaped_name=name, url=f"/user/{name}/")
    spawner = JupyterHub(config=config).spawner_class(
        config=config, user=user, hub=Hub(), api_token="unused", oauth_client_id=f"user-{name}"
    )
    spawner.run_pre_spawn_hook()
    return Server(name, Path(spawner.home_dir), spawner.get_env(), spawner.get_args())


def solved(released: dict) -> dict:
    """The released notebook with each answer cell holding the source's solution."""
    solutions = {
        cell["metadata"]["nbgrader"]["grade_id"]: "".join(cell["source"])
        for cell in source_cells(LESSON)
        if cell["metadata"].get("nbgrader", {}).get("solution")
    }
    notebook = json.loads(json.dumps(released))
    for cell in notebook["cells"]:
        grade_id = cell["metadata"].get("nbgrader", {}).get("grade_id")
        if grade_id in solutions:
            lines = solutions[grade_id].splitlines(keepends=True)
            cell["source"] = "".join(line for line in lines if "## BEGIN SOLUTION" not in line
                                     and "## END SOLUTION" not in line)  # fmt: skip
    return notebook


@pytest.fixture(scope="module")
def graded_class(tmp_path_factory):
    """The whole class round trip; returns the servers and what each learner saw."""
    base = tmp_path_factory.mktemp("hub")
    with pytest.MonkeyPatch.context() as monkeypatch:
        config, _ = load(
            monkeypatch,
            base,
            FREEZELAB_HUB_MODE="test",
            FREEZELAB_HUB_HOMES=f"{base}/homes/{{username}}",
            FREEZELAB_HUB_INSTRUCTORS=INSTRUCTOR,
            FREEZELAB_NBGRADER_EXCHANGE=str(base / "exchange"),
        )
    start = time.perf_counter()
    instructor = start_server(config, INSTRUCTOR)
    learners = {name: start_server(config, name) for name in LEARNERS}
    instructor.nbgrader("generate_assignment", LESSON)
    instructor.nbgrader("release_assignment", LESSON)
    for learner in learners.values():
        learner.nbgrader("fetch_assignment", LESSON)
    fetched = learners["alice"].home / LESSON / NOTEBOOK
    fetched.write_text(json.dumps(solved(json.loads(fetched.read_text()))))
    for learner in learners.values():  # bob submits the notebook as fetched
        learner.nbgrader("submit", LESSON)
    instructor.nbgrader("collect", LESSON)
    instructor.nbgrader("autograde", LESSON)
    instructor.nbgrader("generate_feedback", LESSON)
    instructor.nbgrader("release_feedback", LESSON)
    seen = {}
    for name, learner in learners.items():
        learner.nbgrader("fetch_feedback", LESSON)
        pages = sorted((learner.home / LESSON / "feedback").glob(f"*/{notebook_name(LESSON)}.html"))
        seen[name] = {
            "inbound": learner.listed("--inbound"),
            "cached": learner.listed("--cached"),
            "feedback": [page.read_text() for page in pages],
        }
    print(f"hub exchange round trip: {time.perf_counter() - start:.1f} s")
    return instructor, learners, base, seen


def test_the_exchange_is_shared_and_sticky_like_tmp(graded_class):
    _, _, base, _ = graded_class
    assert (base / "exchange").stat().st_mode & 0o7777 == 0o1777


def test_only_the_instructor_has_the_course_and_the_formgrader(graded_class):
    instructor, learners, _, _ = graded_class
    assert (instructor.home / "freezelab-grading" / "gradebook.db").exists()
    assert "--ServerApp.jpserver_extensions=nbgrader.server_extensions.formgrader=True" in (
        instructor.args
    )
    for learner in learners.values():
        assert not (learner.home / "freezelab-grading").exists()
        assert "--ServerApp.jpserver_extensions=nbgrader.server_extensions.formgrader=False" in (
            learner.args
        )
        page_config = learner.home / ".jupyter/labconfig/page_config.d/freezelab-nbgrader.json"
        assert json.loads(page_config.read_text())["disabledExtensions"] == {
            "@jupyter/nbgrader:formgrader": True,
            "@jupyter/nbgrader:course-list": True,
            "@jupyter/nbgrader:create-assignment": True,
        }


def test_every_learner_fetched_the_released_lesson_into_their_own_home(graded_class):
    instructor, learners, _, _ = graded_class
    released = instructor.home / "freezelab-grading" / "release" / LESSON / NOTEBOOK
    assert "BEGIN SOLUTION" not in released.read_text()
    bob = learners["bob"].home / LESSON / NOTEBOOK
    assert json.loads(bob.read_text())["cells"] == json.loads(released.read_text())["cells"]
    assert (learners["alice"].home / LESSON / NOTEBOOK).exists()


def test_submissions_carry_the_hub_users_names_though_one_os_user_ran_them(graded_class):
    instructor, _, _, _ = graded_class
    submitted = instructor.home / "freezelab-grading" / "submitted"
    assert sorted(p.name for p in submitted.iterdir()) == sorted(LEARNERS)


def test_each_learner_lists_only_their_own_submission(graded_class):
    _, _, _, seen = graded_class
    for name in LEARNERS:
        for listing in ("inbound", "cached"):
            assert set(seen[name][listing]) == {("freezelab", name, LESSON)}, (name, listing)


def test_autograding_gives_alice_every_point_and_bob_none(graded_class):
    instructor, _, _, _ = graded_class
    points = autotests(LESSON)
    course = instructor.home / "freezelab-grading"
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        scores = {
            name: {
                grade.name: grade.score
                for grade in gradebook.find_submission_notebook(
                    notebook_name(LESSON), LESSON, name
                ).grades
                if grade.name in points
            }
            for name in LEARNERS
        }
    print(f"{LESSON} autograded points of {sum(points.values()):g}:",
          {name: sum(score.values()) for name, score in scores.items()})  # fmt: skip
    assert scores["alice"] == points
    assert scores["bob"] == dict.fromkeys(points, 0.0)


def test_each_learners_feedback_shows_their_own_grade_only(graded_class):
    _, _, _, seen = graded_class
    points = autotests(LESSON)
    expected = {"alice": points, "bob": dict.fromkeys(points, 0.0)}
    for name in LEARNERS:
        (page,) = seen[name]["feedback"]
        shown = {cell: float(score) for cell, score, _ in TEST_CELL_SCORE.findall(page)}
        assert shown == expected[name], name
        (other,) = set(LEARNERS) - {name}
        assert other not in page
