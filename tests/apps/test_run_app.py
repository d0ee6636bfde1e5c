"""`python3 run.py app`: Voilà on the app notebook, on 127.0.0.1, a free port and a token."""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def load_run_script():
    spec = importlib.util.spec_from_file_location("freezelab_run_script_app", ROOT / "run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_app_serves_the_app_notebook_locally_with_a_token(monkeypatch, capsys):
    run = load_run_script()
    seen = {}
    monkeypatch.setattr(run, "ensure_environment", lambda extras: seen.setdefault("extras", extras))
    monkeypatch.setattr(
        run.subprocess, "call", lambda command, **kw: seen.update(command=command, env=kw["env"])
    )
    run.main(["app", "--backend", "jax", "--theme=dark"])
    assert seen["extras"] == ["jax", "app"]
    assert seen["env"]["KERAS_BACKEND"] == "jax"
    command = seen["command"]
    assert command[0].endswith("voila")
    assert Path(command[1]) == ROOT / "apps" / "freeze_lab.ipynb" and Path(command[1]).exists()
    assert "--Voila.ip=127.0.0.1" in command and "--no-browser" in command
    assert command[-1] == "--theme=dark"  # other arguments go to Voilà
    (port,) = [int(a.split("=")[1]) for a in command if a.startswith("--port=")]
    (token,) = [a.split("=")[1] for a in command if a.startswith("--token=")]
    assert len(token) >= 32
    with socket.socket() as sock:  # the port was free: nothing listens there
        assert sock.connect_ex(("127.0.0.1", port)) != 0
    assert f"http://127.0.0.1:{port}/?token={token}" in capsys.readouterr().out


def test_the_app_notebook_hides_no_logic_and_uses_the_one_import():
    notebook = json.loads((ROOT / "apps" / "freeze_lab.ipynb").read_text())
    code = [c for c in notebook["cells"] if c["cell_type"] == "code"]
    assert len(code) == 1
    source = "".join(code[0]["source"])
    assert source.startswith("import freezelab as fl\n")
    assert "fl.freeze_lab_app(model, features)" in source
    assert "fl.pick(224, 32)" in source  # quick mode sizes the page for CI
    assert notebook["metadata"]["kernelspec"]["name"] == "python3"  # no kernel dialog
    assert all(not c.get("outputs") for c in code)  # Voilà runs it; nothing stale is saved


def test_app_help_prints_freezelabs_options_and_starts_nothing(monkeypatch, capsys):
    run = load_run_script()

    def must_not_run(*args, **kwargs):
        raise AssertionError("--help must start nothing")

    monkeypatch.setattr(run, "ensure_environment", must_not_run)
    monkeypatch.setattr(run.subprocess, "call", must_not_run)
    for flag in ("--help", "-h"):
        assert run.main(["app", "--backend", "jax", flag]) == 0
        out = capsys.readouterr().out
        assert "--backend jax|torch|tensorflow" in out and "--gpu" in out
        assert "deploy/voila/voila.json" in out
        assert "http://" not in out and "token=" not in out  # no address of a server


def test_the_app_server_reads_the_voila_config_that_culls_idle_kernels(tmp_path):
    run = load_run_script()
    config = json.loads((ROOT / "deploy" / "voila" / "voila.json").read_text())
    culling = config["MappingKernelManager"]
    assert culling == {"cull_idle_timeout": 300, "cull_interval": 60, "cull_connected": False}
    # The names are jupyter_server's kernel manager traits (a typo would be ignored silently).
    from jupyter_server.services.kernels.kernelmanager import MappingKernelManager

    assert set(culling) <= set(MappingKernelManager.class_trait_names(config=True))

    env = run.app_environment("jax", {"JUPYTER_CONFIG_PATH": "/elsewhere"})
    assert env["KERAS_BACKEND"] == "jax"
    assert env["JUPYTER_CONFIG_PATH"].split(os.pathsep) == [
        str(ROOT / "deploy" / "voila"),
        "/elsewhere",
    ]
    # Voilà itself, started in that environment, reads the culling settings (no server starts).
    script = (
        "from voila.app import Voila; app = Voila(); "
        f"app.initialize([{str(ROOT / 'apps' / 'freeze_lab.ipynb')!r}]); "
        "import json; print(json.dumps(dict(app.config.MappingKernelManager)))"
    )
    python = Path(sys.executable)
    out = subprocess.run(
        [str(python), "-c", script], env=env, cwd=tmp_path, capture_output=True, text=True,
        timeout=120, check=True,
    ).stdout  # fmt: skip
    assert json.loads(out.strip().splitlines()[-1]) == culling
