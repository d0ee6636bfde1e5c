# ruff: noqa: F821 - JupyterHub runs this file with `c = get_config()` available.
"""JupyterHub for a class taking the freezelab course, on one server.

Start it from the environment that has freezelab installed (its packages are shared by every
learner's server and kernel)::

    .venv/bin/jupyterhub -f deploy/jupyterhub/jupyterhub_config.py

Every learner logs in, gets their own JupyterLab server, and on first login their own copy of
the course's ``notebooks/`` in ``~/freezelab-course`` (notebooks added to the course later are
copied in at the next start; a learner's edited copy is never overwritten).

Two modes, chosen by ``FREEZELAB_HUB_MODE``:

* ``class`` (the default): system users log in with their password (PAM); each server runs as
  its user with ``SystemdSpawner`` when ``jupyterhub-systemdspawner`` is installed (memory and
  CPU limits enforced by systemd), else ``LocalProcessSpawner`` (limits announced, not
  enforced). Name the class in a file, one user name a line, ``#`` for comments
  (``FREEZELAB_HUB_USERS``).
* ``test``: any user name and password log in (``DummyAuthenticator``) and servers run as the
  hub's own user with homes under ``FREEZELAB_HUB_HOMES`` (``SimpleLocalProcessSpawner``). For
  tests and trying the hub on a laptop only: it refuses to listen beyond 127.0.0.1.

Other settings, by environment variable (defaults in brackets):

* ``FREEZELAB_HUB_IP`` [127.0.0.1], ``FREEZELAB_HUB_PORT`` [8000]: where learners connect; the
  hub's own API port ``FREEZELAB_HUB_INTERNAL_PORT`` [8081] and the proxy's API port
  ``FREEZELAB_HUB_PROXY_API_PORT`` [8001] listen on 127.0.0.1.
* ``FREEZELAB_HUB_MEM_LIMIT`` [3G], ``FREEZELAB_HUB_CPU_LIMIT`` [2]: per learner (see
  deploy/README.md for the measured figures behind them).
* ``FREEZELAB_HUB_CULL_IDLE`` [3600]: seconds after which an idle kernel is shut down; an idle
  server stops after twice that.
* ``FREEZELAB_HUB_STATE`` [the current folder]: the hub's database, cookie secret, proxy pid.
* ``FREEZELAB_HUB_ADMINS``: comma-separated admin user names.
* ``FREEZELAB_HUB_API_TOKEN``: a token for a service allowed to start and use servers (the
  measuring script deploy/jupyterhub/measure_class.py uses it).
* ``KERAS_BACKEND`` [tensorflow] and ``FREEZELAB_QUICK`` are passed on to the learners.
"""

import ipaddress
import os
import pwd
import shutil
import sys
from pathlib import Path

c = get_config()

REPO = Path(__file__).resolve().parents[2]
COURSE = REPO / "notebooks"
COURSE_FOLDER = "freezelab-course"
MODES = ("class", "test")

mode = os.environ.get("FREEZELAB_HUB_MODE", "class")
if mode not in MODES:
    raise ValueError(f"FREEZELAB_HUB_MODE takes one of {MODES}. Received: {mode!r}")
ip = os.environ.get("FREEZELAB_HUB_IP", "127.0.0.1")
if mode == "test" and not ipaddress.ip_address(ip).is_loopback:
    raise ValueError(
        "FREEZELAB_HUB_MODE=test lets anyone log in with any password: it only listens on "
        f"a loopback address such as 127.0.0.1. Received: FREEZELAB_HUB_IP={ip!r}"
    )
state = Path(os.environ.get("FREEZELAB_HUB_STATE", ".")).resolve()
state.mkdir(parents=True, exist_ok=True)
cull_idle = int(os.environ.get("FREEZELAB_HUB_CULL_IDLE", "3600"))
server_args = []

# -- where the hub listens, and its state -----------------------------------------------
c.JupyterHub.bind_url = f"http://{ip}:{int(os.environ.get('FREEZELAB_HUB_PORT', '8000'))}"
c.JupyterHub.hub_bind_url = (
    f"http://127.0.0.1:{int(os.environ.get('FREEZELAB_HUB_INTERNAL_PORT', '8081'))}"
)
c.ConfigurableHTTPProxy.api_url = (
    f"http://127.0.0.1:{int(os.environ.get('FREEZELAB_HUB_PROXY_API_PORT', '8001'))}"
)
c.JupyterHub.db_url = f"sqlite:///{state / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(state / "jupyterhub_cookie_secret")
c.ConfigurableHTTPProxy.pid_file = str(state / "jupyterhub-proxy.pid")
# configurable-http-proxy comes from npm: `python3 run.py test` installs it into .cache/npm.
local_proxy = REPO / ".cache" / "npm" / "node_modules" / ".bin" / "configurable-http-proxy"
if local_proxy.exists():
    c.ConfigurableHTTPProxy.command = [str(local_proxy)]

# -- who logs in, and how their servers run ---------------------------------------------
if mode == "test":
    c.JupyterHub.authenticator_class = "dummy"
    c.JupyterHub.spawner_class = "simple"
    c.SimpleLocalProcessSpawner.home_dir_template = os.environ.get(
        "FREEZELAB_HUB_HOMES", "/tmp/freezelab-hub/{username}"
    )
    if os.geteuid() == 0:  # Every server runs as the hub's user, root in CI.
        server_args.append("--allow-root")
else:
    c.JupyterHub.authenticator_class = "pam"
    try:
        import systemdspawner  # noqa: F401 - jupyterhub-systemdspawner enforces the limits
    except ImportError:
        c.JupyterHub.spawner_class = "localprocess"
    else:
        c.JupyterHub.spawner_class = "systemdspawner.SystemdSpawner"
        c.SystemdSpawner.isolate_tmp = True
        c.SystemdSpawner.isolate_devices = True
    class_list = os.environ.get("FREEZELAB_HUB_USERS")
    if class_list:
        lines = (line.split("#")[0].strip() for line in Path(class_list).read_text().splitlines())
        c.Authenticator.allowed_users = {line for line in lines if line}
admins = {name.strip() for name in os.environ.get("FREEZELAB_HUB_ADMINS", "").split(",")}
c.Authenticator.admin_users = admins - {""}

# -- every learner's server ---------------------------------------------------------------
# The hub's own environment is the learners' environment: freezelab installed once, shared.
c.Spawner.cmd = [str(Path(sys.executable).with_name("jupyterhub-singleuser"))]
c.Spawner.default_url = f"/lab/tree/{COURSE_FOLDER}"
c.Spawner.mem_limit = os.environ.get("FREEZELAB_HUB_MEM_LIMIT", "3G")
c.Spawner.cpu_limit = float(os.environ.get("FREEZELAB_HUB_CPU_LIMIT", "2"))
c.Spawner.start_timeout = 120  # A class logging in at once on a small server.
c.Spawner.http_timeout = 90
c.Spawner.environment = {
    "KERAS_BACKEND": os.environ.get("KERAS_BACKEND", "tensorflow"),
    "TF_CPP_MIN_LOG_LEVEL": "2",
}
c.Spawner.env_keep = [
    "CONDA_DEFAULT_ENV", "CONDA_ROOT", "LANG", "LC_ALL", "LD_LIBRARY_PATH", "PATH",
    "PYTHONPATH", "VIRTUAL_ENV", "FREEZELAB_QUICK", "CI", "KERAS_HOME",
]  # fmt: skip
# Idle kernels hold a TensorFlow runtime and a VGG16 each: shut them down, then idle servers.
c.Spawner.args = [
    *server_args,
    f"--MappingKernelManager.cull_idle_timeout={cull_idle}",
    "--MappingKernelManager.cull_interval=300",
    f"--ServerApp.shutdown_no_activity_timeout={2 * cull_idle}",
]


def course_home(spawner) -> Path:
    """The learner's home folder: the spawner's own (test mode) or the system user's."""
    home = getattr(spawner, "home_dir", "")
    if home:
        return Path(home)
    return Path(pwd.getpwnam(spawner.user.name).pw_dir)


def copy_course(spawner) -> None:
    """Gives the learner their own copy of the course, before their server starts.

    On first login ``notebooks/`` is copied whole to ``~/freezelab-course``; later, lessons
    added to the course are copied in, and nothing the learner has is overwritten.
    """
    target = course_home(spawner) / COURSE_FOLDER
    target.mkdir(parents=True, exist_ok=True)
    copied = []
    for source in sorted(COURSE.rglob("*")):
        relative = source.relative_to(COURSE)
        if ".ipynb_checkpoints" in relative.parts or "__pycache__" in relative.parts:
            continue
        destination = target / relative
        if source.is_dir():
            destination.mkdir(exist_ok=True)
        elif not destination.exists():
            shutil.copy2(source, destination)
            copied.append(destination)
    owner = _system_user(spawner)
    if owner is not None and os.geteuid() == 0:
        for path in [target, *copied, *(p for p in target.rglob("*") if p.is_dir())]:
            os.chown(path, owner.pw_uid, owner.pw_gid)
    spawner.log.info("freezelab course for %s: %d file(s) copied to %s", spawner.user.name,
                     len(copied), target)  # fmt: skip


def _system_user(spawner):
    if getattr(spawner, "home_dir", ""):
        return None  # test mode: the server runs as the hub's own user
    try:
        return pwd.getpwnam(spawner.user.name)
    except KeyError:
        return None


c.Spawner.pre_spawn_hook = copy_course

# -- a service that may start and use servers (for the measuring script) -----------------
api_token = os.environ.get("FREEZELAB_HUB_API_TOKEN")
if api_token:
    c.JupyterHub.services = [{"name": "freezelab-measure", "api_token": api_token}]
    c.JupyterHub.load_roles = [
        {
            "name": "freezelab-measure",
            "scopes": ["admin:users", "admin:servers", "access:servers", "read:users"],
            "services": ["freezelab-measure"],
        }
    ]
