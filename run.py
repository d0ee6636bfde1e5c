#!/usr/bin/env python3
"""Sets up freezelab and opens the course, or runs the whole test suite.

    python3 run.py course   # set up, then JupyterLab on notebooks/ (localhost, token)
    python3 run.py test     # set up, then lint + unit tests + notebooks (nbval) + browser test

Both create ``.venv`` beside this file on first use and install freezelab into
it (editable). They are idempotent: when ``pyproject.toml`` has not changed
since the last install, setting up takes about a second. Needs Python 3.10+
and nothing else; ``test`` also needs Chromium for the browser test and
installs Debian's ``chromium`` when run as root on a Debian-like machine.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
CHROMIUM = Path(os.environ.get("FREEZELAB_CHROMIUM", "/usr/bin/chromium"))


def venv_python() -> Path:
    """Path of the virtual environment's Python."""
    if os.name == "nt":
        return VENV / "Scripts" / "python.exe"
    return VENV / "bin" / "python"


def venv_tool(name: str) -> str:
    """Path of a console script installed in the virtual environment."""
    folder = "Scripts" if os.name == "nt" else "bin"
    return str(VENV / folder / name)


def ensure_environment(extras: str) -> None:
    """Creates .venv and installs freezelab[extras] unless already up to date."""
    if sys.version_info < (3, 10):  # noqa: UP036 - run.py runs on any system Python
        sys.exit(f"freezelab needs Python 3.10 or newer. Received: {sys.version.split()[0]}")
    if not venv_python().exists():
        print(f"Creating virtual environment in {VENV} ...", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    recipe = (ROOT / "pyproject.toml").read_bytes() + extras.encode()
    wanted = hashlib.sha256(recipe).hexdigest()
    stamp = VENV / f".freezelab-installed-{extras or 'base'}"
    if stamp.exists() and stamp.read_text() == wanted:
        return
    print(
        f"Installing freezelab{f'[{extras}]' if extras else ''} and its dependencies ...",
        flush=True,
    )
    pip = [str(venv_python()), "-m", "pip", "--disable-pip-version-check"]
    subprocess.run([*pip, "install", "--quiet", "--upgrade", "pip"], check=True)
    target = f".[{extras}]" if extras else "."
    subprocess.run([*pip, "install", "--quiet", "-e", target], check=True, cwd=ROOT)
    stamp.write_text(wanted)


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
    print("Installing Debian's chromium for the browser test ...", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", "chromium"], check=True, env=env)


def course(extra_args: list[str]) -> int:
    """Sets up and opens JupyterLab on notebooks/, bound to localhost with a token."""
    ensure_environment("")
    args = [
        venv_tool("jupyter"),
        "lab",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.root_dir={ROOT / 'notebooks'}",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        args.append("--allow-root")
    return subprocess.call([*args, *extra_args], cwd=ROOT)


def test(extra_args: list[str]) -> int:
    """Sets up and runs the whole test suite in quick mode."""
    ensure_environment("test")
    ensure_chromium()
    env = {**os.environ, "FREEZELAB_QUICK": os.environ.get("FREEZELAB_QUICK", "1")}
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    command = [str(venv_python()), "-m", "pytest", *extra_args]
    print("Running:", " ".join(command), flush=True)
    return subprocess.call(command, cwd=ROOT, env=env)


def main(argv: list[str]) -> int:
    commands = {"course": course, "test": test}
    if not argv or argv[0] not in commands:
        print(__doc__)
        print(f"Expected one of: {', '.join(commands)}. Received: {argv[:1] or 'nothing'}")
        return 2
    return commands[argv[0]](argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
