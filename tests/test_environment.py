"""The install recipe: pyproject.toml, environment.yml, run.py and the CI entry point."""

import importlib.util
import json
import re
import subprocess
import sys

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib
from pathlib import Path

import pytest
import yaml
from packaging.specifiers import SpecifierSet

ROOT = Path(__file__).resolve().parent.parent


def split(requirement):
    name = re.match(r"[A-Za-z0-9_.\-\[\]]+", requirement).group(0)
    return name.split("[")[0].lower().replace("_", "-"), requirement[len(name) :].replace(" ", "")


def pyproject():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def load_run_script():
    """run.py as a module (it is a script, not part of the package)."""
    spec = importlib.util.spec_from_file_location("freezelab_run_script", ROOT / "run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_environment_yml_matches_pyproject_dependencies_and_the_default_backend():
    project = pyproject()["project"]
    declared = dict(split(r) for r in project["dependencies"])
    declared.update(split(r) for r in project["optional-dependencies"]["tensorflow"])
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda = [d for d in env["dependencies"] if isinstance(d, str)]
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    listed = dict(split(r) for r in conda + pip if not r.startswith("-e"))
    listed.pop("python")
    listed.pop("pip")
    assert listed == declared
    assert "-e .[tensorflow]" in pip
    assert "conda-forge" in env["channels"]


def test_tensorflow_is_an_extra_not_a_dependency():
    project = pyproject()["project"]
    names = [split(r)[0] for r in project["dependencies"]]
    assert "keras" in names
    assert not {"tensorflow", "jax", "jaxlib", "torch"} & set(names)
    extras = project["optional-dependencies"]
    assert [split(r)[0] for r in extras["tensorflow"]] == ["tensorflow"]
    assert [split(r)[0] for r in extras["jax"]] == ["jax"]
    assert [split(r)[0] for r in extras["torch"]] == ["torch"]


def test_license_is_an_spdx_expression_with_a_setuptools_that_reads_it():
    data = pyproject()
    assert data["project"]["license"] == "MIT"
    # SPDX strings need setuptools 77; older ones want the deprecated table.
    assert "setuptools>=77" in data["build-system"]["requires"]


def test_run_script_extras_exist_and_test_includes_what_run_py_says():
    run = load_run_script()
    extras = pyproject()["project"]["optional-dependencies"]
    named = {*run.CPU_EXTRAS.values(), *run.GPU_EXTRAS.values(), *run.INCLUDES}
    assert named <= set(extras)
    assert set(run.CPU_EXTRAS) == set(run.GPU_EXTRAS) == set(run.BACKENDS)
    # `test` covers the extras run.py says it does: by naming them (freezelab[...])
    # or by a requirement that satisfies theirs.
    test = extras["test"]
    self_named = set()
    for requirement in test:
        match = re.fullmatch(r"freezelab\[([\w,-]+)\]", requirement.replace(" ", ""))
        if match:
            self_named.update(match.group(1).split(","))
    for extra in run.INCLUDES["test"]:
        if extra in self_named:
            continue
        for requirement in extras[extra]:
            name, wanted = split(requirement)
            pinned = [split(r)[1] for r in test if split(r)[0] == name]
            assert pinned, f"test does not include {extra}'s {name}"
            version = pinned[0].removeprefix("==")
            assert pinned[0].startswith("==") and SpecifierSet(wanted).contains(version)


def test_test_extra_pins_torch_exactly():
    # A range would let pip take a newer, several-GB CUDA build on Linux.
    pins = [
        r for r in pyproject()["project"]["optional-dependencies"]["test"] if r.startswith("torch")
    ]
    assert len(pins) == 1 and re.fullmatch(r"torch==\d+\.\d+\.\d+", pins[0])


def test_chromium_is_installed_without_recommended_packages():
    run = load_run_script()
    assert run.CHROMIUM_INSTALL[:2] == ["apt-get", "install"]
    assert "--no-install-recommends" in run.CHROMIUM_INSTALL
    assert run.CHROMIUM_INSTALL[-1] == "chromium"


def test_backend_option_is_checked_and_taken_out_of_the_arguments(monkeypatch):
    run = load_run_script()
    monkeypatch.delenv("KERAS_BACKEND", raising=False)
    assert run.parse_options(["-x", "tests/core"]) == ("tensorflow", False, ["-x", "tests/core"])
    assert run.parse_options(["--backend", "jax", "-q"]) == ("jax", False, ["-q"])
    assert run.parse_options(["--gpu", "--backend=torch"]) == ("torch", True, [])
    monkeypatch.setenv("KERAS_BACKEND", "jax")
    assert run.parse_options([])[0] == "jax"
    with pytest.raises(SystemExit, match="Received: 'numpy'"):
        run.parse_options(["--backend", "numpy"])
    with pytest.raises(SystemExit, match="Received: ''"):
        run.parse_options(["--backend"])


def test_run_test_sets_the_backend_for_pytest(monkeypatch):
    run = load_run_script()
    seen = {}
    monkeypatch.setattr(run, "ensure_environment", lambda extras: seen.setdefault("extras", extras))
    monkeypatch.setattr(run, "ensure_chromium", lambda: None)
    monkeypatch.setattr(
        run.subprocess, "call", lambda command, **kw: seen.update(command=command, env=kw["env"])
    )
    run.main(["test", "--backend", "torch", "tests/core", "-x"])
    assert seen["extras"] == ["test"]
    assert seen["env"]["KERAS_BACKEND"] == "torch"
    assert seen["command"][-3:] == ["pytest", "tests/core", "-x"]
    with pytest.raises(SystemExit, match="Received: --gpu"):
        run.main(["test", "--gpu"])


def test_the_whole_suite_runs_in_parallel_then_the_wall_clock_tests_alone(monkeypatch):
    run = load_run_script()
    monkeypatch.setattr(run, "ensure_environment", lambda extras: None)
    monkeypatch.setattr(run, "ensure_chromium", lambda: None)
    monkeypatch.setattr(run, "ensure_proxy", lambda: None)
    monkeypatch.setattr(run, "worker_count", lambda: 2)
    calls = []
    statuses = iter([1, 0])  # the parallel part fails: the serial part still runs
    monkeypatch.setattr(
        run.subprocess, "call", lambda command, **kw: calls.append(command) or next(statuses)
    )
    assert run.main(["test"]) == 1
    parallel, serial = calls
    assert parallel[parallel.index("-n") + 1] == "2" and "loadfile" in parallel
    serial_paths = serial[serial.index("pytest") + 1 :]
    assert serial_paths and set(serial_paths) == set(run.SERIAL_TESTS)
    assert {a.removeprefix("--ignore=") for a in parallel if a.startswith("--ignore=")} == set(
        serial_paths
    )
    for path in serial_paths:  # a renamed file would otherwise run twice
        assert (ROOT / path).exists(), path
    browser_files = {  # every browser test (it times what a learner sees) is among them
        str(p.relative_to(ROOT))
        for p in (ROOT / "tests").rglob("test_*.py")
        if re.search(r"^pytestmark = .*pytest\.mark\.browser", p.read_text(), re.M)
    }
    assert browser_files and all(
        any(f == s or f.startswith(s + "/") for s in serial_paths) for f in browser_files
    )


def test_worker_count_is_one_per_core_within_bounds():
    run = load_run_script()
    assert [run.worker_count(c) for c in (None, 0, 1, 2, 16)][1:] == [1, 1, 2, run.MAX_TEST_WORKERS]
    assert run.pytest_commands([], 1) == [[str(run.venv_python()), "-m", "pytest"]]
    assert run.pytest_commands(["tests/core"], 4)[0][-1] == "tests/core"


def test_the_stamp_records_what_each_install_covers(tmp_path):
    run = load_run_script()
    stamp = tmp_path / "stamp.json"
    assert run.install_reason(stamp, "r1", ["jax"]) == "first set-up of this environment"
    run.record_install(stamp, "r1", ["jax"])
    assert json.loads(stamp.read_text()) == {"recipe": "r1", "extras": ["jax"]}
    run.record_install(stamp, "r1", ["test"])  # kept: same pyproject
    assert json.loads(stamp.read_text())["extras"] == sorted({"jax", "test", *run.INCLUDES["test"]})
    run.record_install(stamp, "r2", ["torch"])  # dropped: pyproject changed
    assert json.loads(stamp.read_text()) == {"recipe": "r2", "extras": ["torch"]}
    stamp.write_text("not json")
    assert run.install_reason(stamp, "r2", ["torch"]) == "first set-up of this environment"


def test_run_script_rejects_unknown_command():
    result = subprocess.run(
        [sys.executable, str(ROOT / "run.py"), "serve"], capture_output=True, text=True
    )
    assert result.returncode == 2
    assert "Received: ['serve']" in result.stdout


def test_ci_calls_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "python3 run.py test" in readme
    assert "python3 run.py course" in readme
    assert "python3 run.py test" in ci


LINTED = ["freezelab", "tests", "benchmarks", "tools", "run.py"]


def test_package_is_lint_clean():
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "check", *LINTED],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_package_is_formatted():
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--check", *LINTED],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_ci_sets_ci_itself_so_required_tests_cannot_skip():
    ci = (ROOT / ".ci" / "run").read_text()
    assert "export CI=true" in ci
    assert ci.index("export CI=true") < ci.index("run.py test")
