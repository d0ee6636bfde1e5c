"""The Kubernetes values, the learners' image and the one-server hub agree with each other,
and the course-copy hook of the Kubernetes values does what it says when run."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import yaml
from traitlets.config import Config

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
VALUES = yaml.safe_load((DEPLOY / "kubernetes" / "values.yaml").read_text())
DOCKERFILE = (DEPLOY / "docker" / "Dockerfile").read_text()
IMAGE_HOME = VALUES["singleuser"]["storage"]["homeMountPath"]


def hub_config(monkeypatch, tmp_path) -> Config:
    for name in ("FREEZELAB_HUB_MODE", "FREEZELAB_HUB_MEM_LIMIT", "FREEZELAB_HUB_CULL_IDLE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("FREEZELAB_HUB_STATE", str(tmp_path))
    config = Config()
    path = DEPLOY / "jupyterhub" / "jupyterhub_config.py"
    exec(
        compile(path.read_text(), str(path), "exec"),
        {"get_config": lambda: config, "__file__": str(path)},
    )
    return config


def test_each_learner_has_storage_limits_and_idle_culling():
    user = VALUES["singleuser"]
    assert user["storage"]["type"] == "dynamic"  # one persistent volume per learner
    assert re.fullmatch(r"\d+Gi", user["storage"]["capacity"])
    assert user["memory"]["limit"] and user["cpu"]["limit"]
    assert VALUES["cull"]["enabled"] is True
    assert VALUES["hub"]["config"]["JupyterHub"]["authenticator_class"] != "dummy"


def test_kubernetes_and_the_one_server_hub_give_the_same_course(monkeypatch, tmp_path):
    config = hub_config(monkeypatch, tmp_path)
    user = VALUES["singleuser"]
    assert user["defaultUrl"] == config.Spawner.default_url
    assert user["memory"]["limit"] == config.Spawner.mem_limit
    assert user["cpu"]["limit"] == config.Spawner.cpu_limit
    assert VALUES["cull"]["timeout"] == 3600
    assert "--MappingKernelManager.cull_idle_timeout=3600" in config.Spawner.args
    folder = config.Spawner.default_url.rsplit("/", 1)[-1]
    assert f"{IMAGE_HOME}/{folder}" in " ".join(
        user["lifecycleHooks"]["postStart"]["exec"]["command"]
    )


def test_the_image_is_built_from_environment_yml_with_the_course_where_the_hook_reads_it():
    assert "mamba env update --name base --file environment.yml" in DOCKERFILE
    assert re.search(r"^COPY .* \. /srv/freezelab$", DOCKERFILE, re.M)
    assert "WORKDIR /srv/freezelab" in DOCKERFILE
    assert (REPO / "environment.yml").exists() and (REPO / "notebooks").is_dir()
    hook = " ".join(VALUES["singleuser"]["lifecycleHooks"]["postStart"]["exec"]["command"])
    assert "/srv/freezelab/notebooks/." in hook
    image = VALUES["singleuser"]["image"]
    assert image["name"] and str(image["tag"])


def test_the_post_start_hook_copies_once_and_keeps_a_learners_edits(tmp_path):
    course, home = tmp_path / "course", tmp_path / "home"
    course.mkdir()
    home.mkdir()
    (course / "01.ipynb").write_text("lesson one")
    command = VALUES["singleuser"]["lifecycleHooks"]["postStart"]["exec"]["command"]
    script = command[-1].replace("/srv/freezelab/notebooks", str(course))
    script = script.replace(IMAGE_HOME, str(home))
    shell = command[:-1]

    assert subprocess.run([*shell, script]).returncode == 0
    copied = home / "freezelab-course" / "01.ipynb"
    assert copied.read_text() == "lesson one"
    copied.write_text("my notes")
    (course / "02.ipynb").write_text("lesson two")
    assert subprocess.run([*shell, script]).returncode == 0  # skipping a file never fails
    assert copied.read_text() == "my notes"
    assert (copied.parent / "02.ipynb").read_text() == "lesson two"
