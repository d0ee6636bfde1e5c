"""README.md, tested: every Python block runs and prints what it shows, and each claim holds.

A Python block shows what it prints in comments of the form ``# -> text``;
each such text must be a line of the block's output when it runs as a script,
in quick mode, with every network connection refused. The other tests take
README's claims one at a time: what ``import freezelab`` imports, which
backends work without TensorFlow, what happens offline, how long a set-up
that is already done takes, and the commands it gives.
"""

from __future__ import annotations

import importlib.util
import inspect
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest

import freezelab as fl
from freezelab.settings import in_ci
from tests.backends.test_other_backends import BACKEND_CHECKS, PORTABLE, QUICK_XLA
from tests.backends.test_what_differs import JAX_REFITS_CHANGED_SET

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
SHOWN = re.compile(r"#\s*->\s*(.+?)\s*$")

# Refuses every connection and name lookup, as a machine without a network does.
NO_NETWORK = textwrap.dedent(
    """
    import socket

    def _refused(*args, **kwargs):
        raise ConnectionRefusedError("network connections are refused in this test")

    def _no_lookup(*args, **kwargs):
        raise socket.gaierror("name lookups are refused in this test")

    socket.socket.connect = _refused
    socket.socket.connect_ex = _refused
    socket.create_connection = _refused
    socket.getaddrinfo = _no_lookup
    """
)
HIDE_TENSORFLOW = "import tests.backends.without_tensorflow\n"


def python_blocks() -> list[str]:
    """The code of every ```python block in README.md, in order."""
    return re.findall(r"^```python\n(.*?)^```", README, re.M | re.S)


def section(title: str) -> str:
    """The text of README's section whose heading starts with ``title``."""
    match = re.search(rf"^## {re.escape(title)}.*?(?=^## |\Z)", README, re.M | re.S)
    assert match, f"README has no section {title!r}"
    return match.group(0)


def run_python(code: str, backend: str = "tensorflow", tmp_path: Path | None = None, **env):
    """Runs ``code`` as a script in a fresh interpreter, from the repository root."""
    environment = {
        **os.environ,
        "KERAS_BACKEND": backend,
        "FREEZELAB_QUICK": "1",
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "MPLBACKEND": "Agg",
        "JAX_PLATFORMS": "cpu",
        "PYTHONPATH": str(ROOT),
        **env,
    }
    if backend == "jax":  # quick compiles, as in tests/backends
        environment["XLA_FLAGS"] = QUICK_XLA
    if tmp_path is not None:  # an empty Keras cache: no weights already downloaded
        environment["KERAS_HOME"] = str(tmp_path / "keras")
    script = Path(tempfile.mkdtemp()) / "readme_check.py"
    script.write_text(code)
    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
    )
    shutil.rmtree(script.parent)
    return done


def load_run_script():
    """run.py as a module (it is a script, not part of the package)."""
    spec = importlib.util.spec_from_file_location("freezelab_run_script", ROOT / "run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- every Python block -------------------------------------------------------------


def test_readme_has_python_blocks_that_show_their_output():
    blocks = python_blocks()
    assert len(blocks) >= 2
    assert all(any(SHOWN.search(line) for line in block.splitlines()) for block in blocks)


@pytest.mark.slow
@pytest.mark.parametrize("index", range(len(python_blocks())))
def test_python_block_runs_offline_and_prints_what_it_shows(index, tmp_path):
    block = python_blocks()[index]
    done = run_python(NO_NETWORK + block, tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    printed = [line.strip() for line in done.stdout.splitlines()]
    shown = [m.group(1) for line in block.splitlines() if (m := SHOWN.search(line))]
    for text in shown:
        assert text in printed, f"README shows {text!r}; the block printed:\n{done.stdout}"
    if "fl.param_report" in block:
        # "totals equal model.trainable_weights": blocks 4-5 of VGG16 (5,899,776 +
        # 7,079,424, the table in ../shared/DESIGN.md) and the head, Dense(128) on 7*7*512
        # inputs (3,211,392) and Dense(10) (1,290), train after freezing up to block3.
        assert f"trainable: {5_899_776 + 7_079_424 + 3_211_392 + 1_290:,}" in done.stdout


# --- what `import freezelab` imports -----------------------------------------------


IMPORTS = textwrap.dedent(
    """
    import json, sys
    import freezelab as fl

    def loaded(prefix):
        return sorted(name for name in sys.modules if name.startswith(prefix))

    tensorflow = lambda: sys.modules.get("tensorflow") is not None  # None: hidden, not imported
    report = {"at_import": loaded("freezelab."), "tensorflow": tensorflow()}
    fl.step_cost
    report["after_step_cost"] = loaded("freezelab.")
    missing = [name for name in fl.__all__ if getattr(fl, name, None) is None]
    report["missing"] = missing
    report["tensorflow_after_all"] = tensorflow()
    print(json.dumps(report))
    """
)


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_on_jax_and_torch_freezelab_needs_no_tensorflow(backend):
    if importlib.util.find_spec(backend) is None:
        if in_ci():
            pytest.fail(f"{backend} is not installed; the test extra installs it")
        pytest.skip(f"{backend} is not installed")
    done = run_python(HIDE_TENSORFLOW + IMPORTS, backend=backend)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    # The names of freezelab.core and freezelab.settings at once, the other folders on first use.
    assert "freezelab.core.freezing" in report["at_import"]
    assert "freezelab.settings" in report["at_import"]
    later = ("speed", "vis", "sources", "finetune", "widgets", "plotting")
    assert not [m for m in report["at_import"] if m.split(".")[1] in later]
    assert "freezelab.speed.cost" in report["after_step_cost"]
    assert "freezelab.widgets.freeze_panel" not in report["after_step_cost"]
    # Every exported name, widgets and plotting included, loads where TensorFlow cannot.
    assert report["missing"] == []
    assert report["tensorflow"] is False and report["tensorflow_after_all"] is False


def test_on_tensorflow_import_freezelab_imports_tensorflow_at_once():
    done = run_python("import sys, freezelab\nprint('tensorflow' in sys.modules)\n")
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split()[-1] == "True"
    assert "With `tensorflow` (the default) `import freezelab`\n  imports TensorFlow" in README


def test_without_a_backend_extra_import_keras_fails_as_readme_says():
    code = HIDE_TENSORFLOW + "import keras\n"
    done = run_python(code, backend="tensorflow")  # Keras's default, not installed here
    assert done.returncode != 0
    assert "ModuleNotFoundError" in done.stderr and "tensorflow" in done.stderr.splitlines()[-1]
    assert "`import keras`\nthen fails until one of the extras is installed" in section("Backends")


# --- which backends work, and what differs ----------------------------------------------


TOPICS = {
    "tests/core/test_freezing.py": "freezing",
    "tests/core/test_accounting.py": "parameter counts",
    "tests/core/test_compile_guard.py": "the compile guard",
    "tests/speed/test_cost.py": "the cost model",
    "tests/speed/test_timing.py": "step timing",
    "tests/vis/test_gradients.py": "input gradients",
    "tests/vis/test_ascent.py": "gradient ascent",
    "tests/vis/test_filter_target.py": "the ascent's chosen filters",
    "tests/vis/test_gradcam.py": "Grad-CAM",
    "tests/finetune/test_unfreezing.py": "staged unfreezing",
}


def backend_rows() -> dict[str, str]:
    rows = re.findall(r"^\| `(\w+)` \|(.*)\|\s*$", section("Backends"), re.M)
    return {name: text for name, text in rows}


def test_backends_table_lists_what_the_other_backends_are_tested_on():
    rows = backend_rows()
    assert set(rows) == {"tensorflow", "jax", "torch"}
    tested = rows["jax"].split("|")[-1]
    assert set(TOPICS) == set(PORTABLE)  # a module added to the runs needs its words here
    for module, topic in TOPICS.items():
        assert topic in tested, f"README's jax row does not name {topic!r} ({module})"
    assert "the same as `jax`" in rows["torch"]
    for backend in ("tensorflow", "jax", "torch"):
        assert f'pip install -e ".[{backend}]"' in rows[backend]


def test_backends_section_counts_the_tests_it_runs():
    portable = sum(len(names) for names in PORTABLE.values())
    checks = len(re.findall(r"^def test_", (ROOT / BACKEND_CHECKS).read_text(), re.M))
    text = section("Backends")
    assert f"{portable} of the suite's tests" in text
    assert f"{checks} checks of what differs" in text


def test_extras_named_in_readme_exist():
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    named = set(re.findall(r'"\.\[([\w-]+)\]"', README)) | set(
        re.findall(r"`\.\[([\w-]+)\]`", README)
    )
    assert {"tensorflow", "jax", "torch", "jax-cuda", "tensorflow-cuda"} <= named
    assert named <= set(extras)
    assert not any(
        r.startswith("tensorflow")
        for r in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    )


def test_readme_quotes_the_errors_the_backend_checks_expect():
    text = " ".join(section("Backends").split())
    assert f'fails with Keras\'s error "{JAX_REFITS_CHANGED_SET}"' in text
    checks = (ROOT / BACKEND_CHECKS).read_text()
    assert "match=rf\"backend '{BACKEND}'.*fit_in_stages\"" in checks
    assert "raises a `RuntimeError` at the start of `fit()` that names `fit_in_stages`" in text


# --- offline ------------------------------------------------------------------------------


OFFLINE = textwrap.dedent(
    """
    import json, os, socket, time
    import freezelab as fl

    fl.load_vgg16(weights=None, input_size=32, verbose=False)  # the backend's first build
    started = time.monotonic()
    refused = fl.load_vgg16(weights="auto", input_size=32, timeout=10)
    refused_s = time.monotonic() - started

    def never_answers(*args, **kwargs):
        time.sleep(3600)

    socket.socket.connect = socket.create_connection = never_answers
    started = time.monotonic()
    silent = fl.load_vgg16(weights="auto", input_size=32, timeout=2)
    silent_s = time.monotonic() - started
    print(json.dumps({
        "refused": [fl.weights_source(refused), refused_s],
        "silent": [fl.weights_source(silent), silent_s],
    }), flush=True)
    os._exit(0)  # the unanswered attempt may still wait in its thread
    """
)


@pytest.mark.slow
def test_offline_auto_weights_fall_back_at_once_or_within_the_timeout(tmp_path):
    assert inspect.signature(fl.load_vgg16).parameters["timeout"].default == 10
    done = run_python(NO_NETWORK + OFFLINE, backend="jax", tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    notices = [line for line in done.stdout.splitlines() if "untrained" in line.lower()]
    assert len(notices) >= 2, done.stdout
    source, seconds = report["refused"]
    assert source == "untrained" and seconds < 5  # at once, not after the 10 s timeout
    source, seconds = report["silent"]
    assert source == "untrained" and seconds < 2 + 3  # the timeout, plus building VGG16


# --- set-up that is already done -----------------------------------------------------------


def test_course_right_after_test_installs_nothing(tmp_path):
    run = load_run_script()
    stamp, recipe = tmp_path / "stamp.json", run.recipe_hash()
    assert run.install_reason(stamp, recipe, ["test"]) == "first set-up of this environment"
    run.record_install(stamp, recipe, ["test"])
    for backend in run.BACKENDS:
        assert run.install_reason(stamp, recipe, [run.CPU_EXTRAS[backend]]) is None
    assert run.install_reason(stamp, recipe, ["test"]) is None
    # What test does not cover is installed, and so is everything after a change.
    assert run.install_reason(stamp, recipe, ["jax-cuda"]) == "not installed yet: jax-cuda"
    assert "changed" in run.install_reason(stamp, "another pyproject", ["tensorflow"])


def test_setting_up_when_already_set_up_takes_well_under_a_second(capsys):
    run = load_run_script()
    reason = run.install_reason(run.STAMP, run.recipe_hash(), ["test"])
    if reason is not None or not run.venv_python().exists():
        if in_ci():
            pytest.fail(f"run.py test should have set up .venv; it says: {reason}")
        pytest.skip(f".venv was not set up by `python3 run.py test` ({reason})")
    for extras in (["test"], ["tensorflow"], ["jax"], ["torch"]):
        started = time.perf_counter()
        run.ensure_environment(extras)
        seconds = time.perf_counter() - started
        assert seconds < 0.5, f"{extras}: {seconds:.3f} s"
    assert "Installing" not in capsys.readouterr().out


# --- the commands README gives ----------------------------------------------------------


def test_course_serves_on_localhost_with_a_token_and_the_chosen_backend(monkeypatch):
    run = load_run_script()
    seen = {}
    monkeypatch.setattr(run, "ensure_environment", lambda extras: seen.setdefault("extras", extras))
    monkeypatch.setattr(
        run.subprocess, "call", lambda command, **kw: seen.update(command=command, env=kw["env"])
    )
    run.main(["course", "--backend", "jax", "--no-browser"])
    assert seen["extras"] == ["jax"]
    assert seen["env"]["KERAS_BACKEND"] == "jax"
    assert "--ServerApp.ip=127.0.0.1" in seen["command"] and "--no-browser" in seen["command"]
    assert not [arg for arg in seen["command"] if "token" in arg.lower()]  # Jupyter's own token
    seen.clear()
    run.main(["course", "--backend=torch", "--gpu"])
    assert seen["extras"] == ["torch"]
    seen.clear()
    run.main(["course", "--backend", "jax", "--gpu"])
    assert seen["extras"] == ["jax-cuda"]


def test_benchmark_commands_name_scripts_and_options_that_exist():
    commands = re.findall(r"python3? (benchmarks/\w+\.py)([^#\n]*)", README)
    assert len(commands) >= 5
    for script, arguments in commands:
        source = (ROOT / script).read_text()
        for option in re.findall(r"(--[\w-]+)", arguments):
            assert f'"{option}"' in source, f"{script} has no option {option}"


def test_instructor_notes_match_the_test_set_up():
    notes = section("For instructors")
    addopts = re.search(r'^addopts = "(.*)"', (ROOT / "pyproject.toml").read_text(), re.M).group(1)
    assert "--nbval-lax" in notes and "--nbval-lax" in addopts
    assert "--nbval-sanitize-with tests/nbval_sanitize.cfg" in addopts
    assert (ROOT / "tests" / "nbval_sanitize.cfg").exists()
    tool = ROOT / "tools" / "execute_notebook.sh"
    assert "tools/execute_notebook.sh" in notes and os.access(tool, os.X_OK)


def test_quick_mode_switch_as_readme_describes(monkeypatch):
    text = section("Quick mode")
    assert "`FREEZELAB_QUICK=1`" in text and "`CI=true`" in text and "`FREEZELAB_QUICK=0`" in text
    monkeypatch.delenv("FREEZELAB_QUICK", raising=False)
    monkeypatch.setenv("CI", "true")
    assert fl.quick_mode() and fl.pick(224, 32) == 32
    monkeypatch.setenv("FREEZELAB_QUICK", "0")
    assert not fl.quick_mode() and fl.pick(224, 32) == 224
    monkeypatch.delenv("CI")
    monkeypatch.setenv("FREEZELAB_QUICK", "1")
    assert fl.quick_mode()
