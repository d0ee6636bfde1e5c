"""deploy/jupyterhub/jupyterhub_config.py, loaded as JupyterHub loads it, without a hub."""

from __future__ import annotations

import logging
import os
import pwd
from pathlib import Path
from types import SimpleNamespace

import pytest
from traitlets.config import Config

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "deploy" / "jupyterhub" / "jupyterhub_config.py"
HUB_VARIABLES = [
    "FREEZELAB_HUB_MODE", "FREEZELAB_HUB_IP", "FREEZELAB_HUB_PORT", "FREEZELAB_HUB_USERS",
    "FREEZELAB_HUB_HOMES", "FREEZELAB_HUB_MEM_LIMIT", "FREEZELAB_HUB_CPU_LIMIT",
    "FREEZELAB_HUB_ADMINS", "FREEZELAB_HUB_API_TOKEN", "FREEZELAB_HUB_CULL_IDLE",
    "FREEZELAB_HUB_INSTRUCTORS", "FREEZELAB_NBGRADER_EXCHANGE",
]  # fmt: skip


def load(monkeypatch, tmp_path, **env) -> tuple[Config, dict]:
    """Runs the config file with ``get_config`` as JupyterHub does; returns config, namespace."""
    for name in HUB_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("FREEZELAB_HUB_STATE", str(tmp_path / "state"))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    config = Config()
    namespace = {"get_config": lambda: config, "__file__": str(CONFIG)}
    exec(compile(CONFIG.read_text(), str(CONFIG), "exec"), namespace)
    return config, namespace


def fake_spawner(home: Path, name: str = "alice"):
    return SimpleNamespace(home_dir=str(home), user=SimpleNamespace(name=name), log=logging)


def test_test_mode_uses_jupyterhubs_test_authenticator_and_local_spawner(monkeypatch, tmp_path):
    config, _ = load(
        monkeypatch, tmp_path, FREEZELAB_HUB_MODE="test", FREEZELAB_HUB_HOMES="/x/{username}"
    )
    from jupyterhub.app import JupyterHub
    from jupyterhub.auth import DummyAuthenticator
    from jupyterhub.spawner import SimpleLocalProcessSpawner

    hub = JupyterHub(config=config)
    assert hub.authenticator_class is DummyAuthenticator
    assert hub.spawner_class is SimpleLocalProcessSpawner
    assert hub.bind_url.rstrip("/") == "http://127.0.0.1:8000"
    assert config.SimpleLocalProcessSpawner.home_dir_template == "/x/{username}"
    assert ("--allow-root" in config.Spawner.args) == (os.geteuid() == 0)


def test_limits_are_spawner_settings_jupyterhub_understands(monkeypatch, tmp_path):
    config, _ = load(monkeypatch, tmp_path, FREEZELAB_HUB_MODE="test")
    from jupyterhub.spawner import Spawner

    spawner = Spawner(config=config)
    assert spawner.mem_limit == 3 * 1024**3
    assert spawner.cpu_limit == 2.0
    config, _ = load(
        monkeypatch, tmp_path, FREEZELAB_HUB_MEM_LIMIT="2G", FREEZELAB_HUB_CPU_LIMIT="0.5"
    )
    spawner = Spawner(config=config)
    assert (spawner.mem_limit, spawner.cpu_limit) == (2 * 1024**3, 0.5)
    assert spawner.cmd[0].endswith("jupyterhub-singleuser")
    assert Path(spawner.cmd[0]).exists()  # the hub's own environment serves the learners
    assert "--MappingKernelManager.cull_idle_timeout=3600" in spawner.args


def test_class_mode_logs_in_system_users_from_the_class_list(monkeypatch, tmp_path):
    class_list = tmp_path / "class.txt"
    class_list.write_text("ada\ngrace\n# a comment\nalan\n")
    config, _ = load(
        monkeypatch, tmp_path, FREEZELAB_HUB_USERS=str(class_list), FREEZELAB_HUB_ADMINS="ada, ,x"
    )
    from jupyterhub.app import JupyterHub
    from jupyterhub.auth import PAMAuthenticator

    hub = JupyterHub(config=config)
    assert hub.authenticator_class is PAMAuthenticator
    assert config.JupyterHub.spawner_class in ("localprocess", "systemdspawner.SystemdSpawner")
    assert config.Authenticator.allowed_users == {"ada", "grace", "alan"}
    assert config.Authenticator.admin_users == {"ada", "x"}
    assert "--allow-root" not in config.Spawner.args


def test_bad_settings_are_refused_with_what_is_accepted(monkeypatch, tmp_path):
    with pytest.raises(ValueError, match=r"one of \('class', 'test'\). Received: 'prod'"):
        load(monkeypatch, tmp_path, FREEZELAB_HUB_MODE="prod")
    with pytest.raises(ValueError, match=r"loopback .* Received: FREEZELAB_HUB_IP='0.0.0.0'"):
        load(monkeypatch, tmp_path, FREEZELAB_HUB_MODE="test", FREEZELAB_HUB_IP="0.0.0.0")


def test_first_login_copies_the_whole_course(monkeypatch, tmp_path):
    config, _ = load(monkeypatch, tmp_path, FREEZELAB_HUB_MODE="test")
    config.Spawner.pre_spawn_hook(fake_spawner(tmp_path / "alice"))
    copy = tmp_path / "alice" / "freezelab-course"
    course = sorted(p.relative_to(REPO / "notebooks") for p in (REPO / "notebooks").glob("*.ipynb"))
    assert course, "the course has notebooks"
    assert sorted(p.relative_to(copy) for p in copy.glob("*.ipynb")) == course
    for relative in course:
        assert (copy / relative).read_bytes() == (REPO / "notebooks" / relative).read_bytes()


def test_later_logins_keep_the_learners_edits_and_add_new_lessons(monkeypatch, tmp_path):
    config, namespace = load(monkeypatch, tmp_path, FREEZELAB_HUB_MODE="test")
    course = tmp_path / "course"
    course.mkdir()
    (course / "01.ipynb").write_text("lesson one")
    namespace["COURSE"] = course  # the hook reads the course folder from the config's globals
    spawner = fake_spawner(tmp_path / "bob", "bob")
    config.Spawner.pre_spawn_hook(spawner)
    mine = tmp_path / "bob" / "freezelab-course" / "01.ipynb"
    mine.write_text("my notes")
    (course / "02.ipynb").write_text("lesson two")
    (course / "01.ipynb").write_text("lesson one, revised")
    config.Spawner.pre_spawn_hook(spawner)
    assert mine.read_text() == "my notes"
    assert (mine.parent / "02.ipynb").read_text() == "lesson two"


def test_a_service_token_gets_only_what_the_measuring_script_needs(monkeypatch, tmp_path):
    config, _ = load(monkeypatch, tmp_path, FREEZELAB_HUB_MODE="test")
    assert "services" not in config.JupyterHub
    config, _ = load(
        monkeypatch, tmp_path, FREEZELAB_HUB_MODE="test", FREEZELAB_HUB_API_TOKEN="t" * 32
    )
    (service,) = config.JupyterHub.services
    assert service == {"name": "freezelab-measure", "api_token": "t" * 32}
    (role,) = config.JupyterHub.load_roles
    assert role["services"] == ["freezelab-measure"]
    assert set(role["scopes"]) == {"admin:users", "admin:servers", "access:servers", "read:users"}


def test_class_mode_nbgrader_settings_leave_the_learners_name_to_their_os_user(
    monkeypatch, tmp_path
):
    _, namespace = load(monkeypatch, tmp_path, FREEZELAB_HUB_INSTRUCTORS="ada, root")
    assert namespace["exchange_root"] == Path("/srv/nbgrader/exchange")

    def system_user(name):  # no spawner home: the system user's, as in class mode
        return SimpleNamespace(home_dir="", user=SimpleNamespace(name=name), log=logging)

    settings = namespace["nbgrader_settings"]
    instructor, learner = settings(system_user("root")), settings(system_user("nobody"))
    grading = Path(pwd.getpwnam("root").pw_dir) / "freezelab-grading"
    assert f"c.CourseDirectory.root = '{grading}'" in instructor
    assert "CourseDirectory.root" not in learner
    for text in (instructor, learner):
        assert "c.Exchange.root = '/srv/nbgrader/exchange'" in text
        assert "c.CourseDirectory.course_id = 'freezelab'" in text
        assert "student_id" not in text  # nbgrader names a submission after the OS user


def test_test_mode_names_each_learner_for_nbgrader_in_their_own_home(monkeypatch, tmp_path):
    config, namespace = load(
        monkeypatch, tmp_path, FREEZELAB_HUB_MODE="test", FREEZELAB_HUB_INSTRUCTORS="ada"
    )
    exchange = tmp_path / "state" / "nbgrader-exchange"
    assert namespace["exchange_root"] == exchange
    for name in ("ada", "bob"):
        config.Spawner.pre_spawn_hook(fake_spawner(tmp_path / name, name))
    assert exchange.stat().st_mode & 0o7777 == 0o1777
    bob = (tmp_path / "bob" / ".jupyter" / "nbgrader_config.py").read_text()
    assert "c.CourseDirectory.student_id = 'bob'" in bob and "CourseDirectory.root" not in bob
    ada = (tmp_path / "ada" / ".jupyter" / "nbgrader_config.py").read_text()
    assert "student_id" not in ada
    assert f"c.CourseDirectory.root = '{tmp_path / 'ada' / 'freezelab-grading'}'" in ada
    course = sorted(p.name for p in (tmp_path / "ada" / "freezelab-grading").iterdir())
    assert course == ["nbgrader_config.py", "source"]
    assert not (tmp_path / "bob" / "freezelab-grading").exists()


def test_learners_servers_find_the_environments_commands(monkeypatch, tmp_path):
    config, _ = load(monkeypatch, tmp_path, FREEZELAB_HUB_MODE="test")
    first = config.Spawner.environment["PATH"].split(os.pathsep)[0]
    assert (Path(first) / "nbgrader").exists() and (Path(first) / "alembic").exists()


def test_nbgrader_settings_are_not_written_through_a_link(monkeypatch, tmp_path):
    config, _ = load(monkeypatch, tmp_path, FREEZELAB_HUB_MODE="test")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "eve").mkdir()
    (tmp_path / "eve" / ".jupyter").symlink_to(elsewhere)
    with pytest.raises(ValueError, match="is a link"):
        config.Spawner.pre_spawn_hook(fake_spawner(tmp_path / "eve", "eve"))
    assert list(elsewhere.iterdir()) == []
