"""environment.yml (conda, Binder) installs what pyproject.toml declares."""

import re
import subprocess
import sys

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def split(requirement):
    name = re.match(r"[A-Za-z0-9_.\-\[\]]+", requirement).group(0)
    return name.split("[")[0].lower().replace("_", "-"), requirement[len(name) :].replace(" ", "")


def test_environment_yml_matches_pyproject_dependencies():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = dict(split(r) for r in project["dependencies"])
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda = [d for d in env["dependencies"] if isinstance(d, str)]
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    listed = dict(split(r) for r in conda + pip if not r.startswith("-e"))
    listed.pop("python")
    listed.pop("pip")
    assert listed == declared
    assert "-e ." in pip
    assert "conda-forge" in env["channels"]


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


def test_package_is_lint_clean():
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "freezelab", "tests", "run.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_import_freezelab_does_not_import_tensorflow():
    code = "import sys, freezelab; print('tensorflow' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={"KERAS_BACKEND": "jax", "PATH": "", "HOME": str(Path.home())},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"
