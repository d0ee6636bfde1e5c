#!/usr/bin/env python3
"""Sets up freezelab and opens the course, or runs the whole test suite.

    python3 run.py course   # set up, then JupyterLab on notebooks/ (localhost, token)
    python3 run.py test     # set up, then lint + unit tests + notebooks (nbval) + browser test
                            # (on one worker per core, then the wall-clock tests alone)
    python3 run.py app      # set up, then the freeze lab app page (Voilà; localhost, token)

Options (before or among the arguments passed on to JupyterLab or pytest):

    --backend jax|torch|tensorflow   Keras backend of the course kernels / of the test run
                                     (default: $KERAS_BACKEND, else tensorflow)
    --gpu                            course only: install the backend's NVIDIA GPU build
                                     (extras jax-cuda, tensorflow-cuda; PyTorch's Linux
                                     wheels already are CUDA builds)

Both create ``.venv`` beside this file on first use and install freezelab into
it (editable) with the extra of the chosen backend; ``test`` installs the test
tools and all three backends. They are idempotent: when ``pyproject.toml`` has
not changed since the last install and what was installed covers what is asked
for (``test`` covers ``course`` on any backend's CPU build), the set-up step
only reads a small stamp file. Needs Python 3.10+ and nothing else; ``test``
also needs Chromium for the browser test and installs Debian's ``chromium``
(without recommended packages) when run as root on a Debian-like machine,
and JupyterHub's proxy (``configurable-http-proxy``, from npm) in ``.cache/npm``
for the JupyterHub test (Debian's ``nodejs`` and ``npm`` first when npm is missing).
``app`` installs Voilà (the ``app`` extra) and serves ``apps/freeze_lab.ipynb``
(``python3 run.py app --help`` lists its options).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
STAMP = VENV / ".freezelab-installed.json"
CHROMIUM = Path(os.environ.get("FREEZELAB_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_INSTALL = ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "chromium"]
BACKENDS = ("tensorflow", "jax", "torch")
# Extra to install for each backend's CPU and GPU builds (see pyproject.toml).
CPU_EXTRAS = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}
GPU_EXTRAS = {"tensorflow": "tensorflow-cuda", "jax": "jax-cuda", "torch": "torch"}
# Extras that an install of another extra brings along (tests/test_environment.py
# checks this against pyproject.toml).
INCLUDES = {"test": ("tensorflow", "jax", "torch", "app", "hub")}
# JupyterHub's proxy, from npm, for the JupyterHub test (deploy/jupyterhub/ uses it from here).
NPM_PREFIX = ROOT / ".cache" / "npm"
PROXY = NPM_PREFIX / "node_modules" / ".bin" / "configurable-http-proxy"
NODE_INSTALL = ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "nodejs", "npm"]
APP_NOTEBOOK = ROOT / "apps" / "freeze_lab.ipynb"
# The whole suite runs in two parts: first everything else on several workers at once
# (pytest-xdist, one file per worker so a notebook's cells stay together), then these
# alone. They assert wall-clock bounds that another worker's load could break: a tick
# updating the count within a second in the browser, the panel following code within a
# second, and the hang guards of the downloads (an unanswered server given up on in time).
SERIAL_TESTS = (
    "tests/browser",
    "tests/apps/test_app_page.py",
    "tests/deploy/test_hub_browser.py",
    "tests/core/test_downloads.py",
    "tests/core/test_models.py",
    "tests/sources/test_data.py",
    "tests/test_readme.py",
    "tests/widgets/test_background.py",
    "tests/widgets/test_follow.py",
    "tests/widgets/test_freeze_panel.py",
    # nbgrader runs each cell under its default 30 s timeout: graded alone, not beside other tests
    "tests/deploy/test_nbgrader.py",
    "tests/deploy/test_nbgrader_exchange.py",
)
MAX_TEST_WORKERS = 4
# Voilà's configuration for the app page (deploy/voila/voila.json): idle kernels are culled.
APP_CONFIG_DIR = ROOT / "deploy" / "voila"
APP_HELP = """python3 run.py app [--backend NAME] [--gpu] [VOILA_OPTION ...]

Sets up .venv (freezelab with the backend's extra and Voilà) and serves the freeze lab app
page (apps/freeze_lab.ipynb) with Voilà on 127.0.0.1, a free port and a new token; it prints
the address to open. Nothing starts with --help.

Options:
  --backend jax|torch|tensorflow   Keras backend of the page's kernels
                                   (default: $KERAS_BACKEND, else tensorflow)
  --gpu                            install the backend's NVIDIA GPU build
  -h, --help                       print this and exit

Every other argument goes to Voilà (e.g. --theme=dark); `.venv/bin/voila --help-all` lists
Voilà's own options. Each page load starts a kernel; deploy/voila/voila.json culls a kernel
whose page was closed after 300 s idle (checked every 60 s); an open page's kernel stays.
"""


def venv_python() -> Path:
    """Path of the virtual environment's Python."""
    if os.name == "nt":
        return VENV / "Scripts" / "python.exe"
    return VENV / "bin" / "python"


def venv_tool(name: str) -> str:
    """Path of a console script installed in the virtual environment."""
    folder = "Scripts" if os.name == "nt" else "bin"
    return str(VENV / folder / name)


def covered(extras: set[str] | list[str] | tuple[str, ...]) -> set[str]:
    """The extras that installing ``extras`` provides, with those they include."""
    result = set(extras)
    for extra in extras:
        result.update(INCLUDES.get(extra, ()))
    return result


def recipe_hash() -> str:
    """Fingerprint of what an install depends on: pyproject.toml."""
    return hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()


def install_reason(stamp: Path, recipe: str, extras: list[str]) -> str | None:
    """Why ``extras`` must be installed now, or None when the last install covers them.

    Args:
        stamp: The stamp file the last install wrote.
        recipe: `recipe_hash` of the current pyproject.toml.
        extras: The extras asked for.

    Returns:
        A short reason for the message, or None.
    """
    try:
        record = json.loads(stamp.read_text())
    except (OSError, ValueError):
        return "first set-up of this environment"
    if record.get("recipe") != recipe:
        return "pyproject.toml changed since the last install"
    missing = sorted(set(extras) - set(record.get("extras", ())))
    if missing:
        return f"not installed yet: {', '.join(missing)}"
    return None


def record_install(stamp: Path, recipe: str, extras: list[str]) -> None:
    """Writes the stamp after a successful install of ``extras``."""
    try:
        record = json.loads(stamp.read_text())
    except (OSError, ValueError):
        record = {}
    kept = set(record.get("extras", ())) if record.get("recipe") == recipe else set()
    stamp.write_text(json.dumps({"recipe": recipe, "extras": sorted(kept | covered(extras))}))


def ensure_environment(extras: list[str]) -> None:
    """Creates .venv and installs freezelab[extras] unless the last install covers them."""
    if sys.version_info < (3, 10):  # noqa: UP036 - run.py runs on any system Python
        sys.exit(f"freezelab needs Python 3.10 or newer. Received: {sys.version.split()[0]}")
    recipe = recipe_hash()
    reason = install_reason(STAMP, recipe, extras) if venv_python().exists() else "no .venv yet"
    if reason is None:
        return
    started = time.monotonic()
    if not venv_python().exists():
        print(f"Creating virtual environment in {VENV} ...", flush=True)
        try:
            venv.EnvBuilder(with_pip=True).create(VENV)
        except (OSError, subprocess.CalledProcessError) as error:
            sys.exit(
                f"Could not create the virtual environment in {VENV}: {error}. On Debian or "
                "Ubuntu install the venv module (apt-get install python3-venv), remove the "
                "half-made .venv folder and run this command again."
            )
    target = f".[{','.join(extras)}]"
    print(f"Installing freezelab{target[1:]} and its dependencies ({reason}) ...", flush=True)
    pip = [str(venv_python()), "-m", "pip", "--disable-pip-version-check"]
    for step in (["install", "--quiet", "--upgrade", "pip"], ["install", "--quiet", "-e", target]):
        if subprocess.run([*pip, *step], cwd=ROOT).returncode != 0:
            sys.exit(
                f"Installing failed: `pip {' '.join(step)}` (see pip's message above). Check the "
                "connection to the package index (or its proxy settings) and run this command again."
            )
    record_install(STAMP, recipe, extras)
    print(f"Installed in {time.monotonic() - started:.0f} s.", flush=True)


def ensure_chromium() -> None:
    """Installs Debian's chromium for the browser test when it is missing and we can."""
    if CHROMIUM.exists():
        return
    can_install = shutil.which("apt-get") and hasattr(os, "geteuid") and os.geteuid() == 0
    if not can_install:
        print(
            f"Chromium not found at {CHROMIUM}: the browser test will be skipped "
            "(it is required when CI=true). Install chromium or set FREEZELAB_CHROMIUM.",
            flush=True,
        )
        return
    print("Installing Debian's chromium (no recommended packages) for the browser test ...")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(CHROMIUM_INSTALL, check=True, env=env)


def proxy_package(node_version: str) -> str:
    """The configurable-http-proxy release for a Node.js version ("v20.1.0"): 5 needs Node 20+."""
    major = int(node_version.strip().lstrip("v").split(".")[0] or 0)
    return "configurable-http-proxy@5" if major >= 20 else "configurable-http-proxy@4"


def ensure_proxy() -> None:
    """Installs configurable-http-proxy into .cache/npm for the JupyterHub test when missing."""
    if PROXY.exists():
        return
    if not shutil.which("npm"):
        can_install = shutil.which("apt-get") and hasattr(os, "geteuid") and os.geteuid() == 0
        if not can_install:
            print("npm not found: the JupyterHub test will be skipped (required when CI=true). "
                  "Install Node.js and npm.", flush=True)  # fmt: skip
            return
        print("Installing Debian's nodejs and npm for JupyterHub's proxy ...", flush=True)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
        subprocess.run(NODE_INSTALL, check=True, env=env)
    node = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout
    package = proxy_package(node)
    print(f"Installing {package} (npm) into {NPM_PREFIX} ...", flush=True)
    NPM_PREFIX.mkdir(parents=True, exist_ok=True)
    npm = ["npm", "install", "--prefix", str(NPM_PREFIX), "--no-audit", "--no-fund"]
    if subprocess.run([*npm, "--loglevel=error", package]).returncode != 0:
        print("npm could not install the proxy: the JupyterHub test will fail.", flush=True)


def parse_options(args: list[str]) -> tuple[str, bool, list[str]]:
    """Takes ``--backend NAME`` / ``--backend=NAME`` and ``--gpu`` out of ``args``.

    Args:
        args: The arguments after the command.

    Returns:
        The backend, whether ``--gpu`` was given, and the other arguments.

    Raises:
        SystemExit: For a backend that is not one of `BACKENDS`, or ``--backend``
            without a value.
    """
    backend = os.environ.get("KERAS_BACKEND") or "tensorflow"
    gpu = False
    rest: list[str] = []
    items = iter(args)
    for arg in items:
        if arg == "--gpu":
            gpu = True
        elif arg == "--backend":
            backend = next(items, "")
        elif arg.startswith("--backend="):
            backend = arg.split("=", 1)[1]
        else:
            rest.append(arg)
    if backend not in BACKENDS:
        raise SystemExit(
            f"--backend takes one of {', '.join(BACKENDS)} (or set KERAS_BACKEND). "
            f"Received: {backend!r}"
        )
    return backend, gpu, rest


def course_command(extra_args: list[str]) -> list[str]:
    """The JupyterLab command line: notebooks/, bound to 127.0.0.1, token authentication."""
    args = [
        venv_tool("jupyter"),
        "lab",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.root_dir={ROOT / 'notebooks'}",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        args.append("--allow-root")
    return [*args, *extra_args]


def course(args: list[str]) -> int:
    """Sets up and opens JupyterLab on notebooks/, its kernels on the chosen backend."""
    backend, gpu, extra_args = parse_options(args)
    ensure_environment([(GPU_EXTRAS if gpu else CPU_EXTRAS)[backend]])
    env = {**os.environ, "KERAS_BACKEND": backend}
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    print(f"Course kernels use the Keras backend {backend!r}.", flush=True)
    return subprocess.call(course_command(extra_args), cwd=ROOT, env=env)


def app_command(port: int, token: str, extra_args: list[str]) -> list[str]:
    """The Voilà command line for the app page: 127.0.0.1, ``port``, token authentication."""
    return [
        venv_tool("voila"),
        str(APP_NOTEBOOK),
        "--no-browser",
        "--Voila.ip=127.0.0.1",
        f"--port={port}",
        f"--token={token}",
        *extra_args,
    ]


def app_environment(backend: str, environ: dict[str, str] | None = None) -> dict[str, str]:
    """The app server's environment: the backend, and deploy/voila on Jupyter's config path.

    Voilà reads ``voila.json`` from the working directory and every directory of
    ``jupyter_config_path()``; ``JUPYTER_CONFIG_PATH`` adds deploy/voila (idle culling) to
    those. A ``voila.json`` in the working directory and options on the command line
    override it.
    """
    env = {**(os.environ if environ is None else environ), "KERAS_BACKEND": backend}
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env["JUPYTER_CONFIG_PATH"] = os.pathsep.join(
        [str(APP_CONFIG_DIR), *filter(None, [env.get("JUPYTER_CONFIG_PATH")])]
    )
    return env


def app(args: list[str]) -> int:
    """Sets up and serves the freeze lab app page (Voilà) on a free local port with a token."""
    import secrets
    import socket

    if "-h" in args or "--help" in args:
        print(APP_HELP)
        return 0
    backend, gpu, extra_args = parse_options(args)
    ensure_environment([(GPU_EXTRAS if gpu else CPU_EXTRAS)[backend], "app"])
    env = app_environment(backend)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    token = secrets.token_hex(24)
    print(f"The freeze lab app (Keras backend {backend!r}); open:", flush=True)
    print(f"    http://127.0.0.1:{port}/?token={token}", flush=True)
    return subprocess.call(app_command(port, token, extra_args), cwd=ROOT, env=env)


def worker_count(cpus: int | None = None) -> int:
    """How many pytest workers the whole suite gets: one per core, at most `MAX_TEST_WORKERS`."""
    cpus = os.cpu_count() if cpus is None else cpus
    return max(1, min(cpus or 1, MAX_TEST_WORKERS))


def pytest_commands(extra_args: list[str], workers: int) -> list[list[str]]:
    """The pytest runs of ``run.py test``, in order.

    Args:
        extra_args: Arguments for pytest. Any given (a file, ``-x``, ``-k``) select
            what to run, and that runs as one plain pytest run.
        workers: Parallel workers for the whole suite (see `worker_count`).

    Returns:
        One command when arguments were given or there is one worker; else two:
        every test except `SERIAL_TESTS` on ``workers`` workers, then `SERIAL_TESTS`
        alone.
    """
    pytest = [str(venv_python()), "-m", "pytest"]
    if extra_args or workers < 2:
        return [[*pytest, *extra_args]]
    ignored = [f"--ignore={path}" for path in SERIAL_TESTS]
    return [
        [*pytest, "-n", str(workers), "--dist", "loadfile", *ignored],
        [*pytest, *SERIAL_TESTS],
    ]


def test(args: list[str]) -> int:
    """Sets up and runs the whole test suite in quick mode, on the chosen backend.

    Every pytest run runs, also after one fails; the result is the first failing
    run's exit status, or 0.
    """
    backend, gpu, extra_args = parse_options(args)
    if gpu:
        raise SystemExit("--gpu is for `course`; `test` runs on the CPU builds. Received: --gpu")
    ensure_environment(["test"])
    ensure_chromium()
    ensure_proxy()
    env = {
        **os.environ,
        "FREEZELAB_QUICK": os.environ.get("FREEZELAB_QUICK", "1"),
        "KERAS_BACKEND": backend,
    }
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    status = 0
    for command in pytest_commands(extra_args, worker_count()):
        print(f"Running (KERAS_BACKEND={backend}):", " ".join(command), flush=True)
        returned = subprocess.call(command, cwd=ROOT, env=env)
        status = status or returned
    return status


def main(argv: list[str]) -> int:
    """Runs ``course``, ``test`` or ``app`` with the remaining arguments; 2 for anything else."""
    commands = {"course": course, "test": test, "app": app}
    if not argv or argv[0] not in commands:
        print(__doc__)
        print(f"Expected one of: {', '.join(commands)}. Received: {argv[:1] or 'nothing'}")
        return 2
    return commands[argv[0]](argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
