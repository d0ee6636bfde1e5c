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

A graded class (nbgrader, the course in deploy/nbgrader/): every server is set up for nbgrader's
exchange, course ``freezelab``; each user's ``~/.jupyter/nbgrader_config.py`` is written at each
start of their server.

* ``FREEZELAB_HUB_INSTRUCTORS``: comma-separated user names of the instructors. Each gets their
  own copy of the graded course in ``~/freezelab-grading`` (``CourseDirectory.root``; copied like
  the lessons, never overwritten) and JupyterLab's Formgrader; everyone else is a learner and gets
  the Assignments tab only.
* ``FREEZELAB_NBGRADER_EXCHANGE`` [/srv/nbgrader/exchange; in ``test`` mode
  ``$FREEZELAB_HUB_STATE/nbgrader-exchange``]: the exchange root (``Exchange.root``), created
  world-writable with the sticky bit (like /tmp) when missing, as nbgrader needs.

nbgrader names a submission after the OS user its command runs as (``nbgrader.utils.get_username``
reads ``pwd``, not ``USER``). In ``class`` mode that is the learner; in ``test`` mode every server
runs as the hub's user, so each learner's config names them (``CourseDirectory.student_id``), and
their nbgrader cache lies in their own home.
"""

import ipaddress
import json
import os
import pwd
import shutil
import stat
import sys
from pathlib import Path

c = get_config()

REPO = Path(__file__).resolve().parents[2]
COURSE = REPO / "notebooks"
COURSE_FOLDER = "freezelab-course"
GRADED_COURSE = REPO / "deploy" / "nbgrader"
GRADING_FOLDER = "freezelab-grading"
NBGRADER_COURSE_ID = "freezelab"
#: What nbgrader writes into a course folder: never copied from the repository's course.
NBGRADER_OUTPUTS = (
    "release",
    "submitted",
    "autograded",
    "feedback",
    "gradebook.db",
    ".nbgrader.log",
)
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
instructors = {name.strip() for name in os.environ.get("FREEZELAB_HUB_INSTRUCTORS", "").split(",")}
instructors -= {""}
exchange_root = Path(
    os.environ.get("FREEZELAB_NBGRADER_EXCHANGE")
    or (state / "nbgrader-exchange" if mode == "test" else "/srv/nbgrader/exchange")
)

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
    # The environment's commands first (nbgrader, and alembic that it runs), activated or not.
    "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
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
    copied = _copy_new_files(COURSE, target, _system_user(spawner))
    spawner.log.info("freezelab course for %s: %d file(s) copied to %s", spawner.user.name,
                     copied, target)  # fmt: skip


def _copy_new_files(source_root: Path, target: Path, owner, skip=()) -> int:
    """Copies into ``target`` the files of ``source_root`` it lacks; returns how many."""
    target.mkdir(parents=True, exist_ok=True)
    copied = []
    for source in sorted(source_root.rglob("*")):
        relative = source.relative_to(source_root)
        if {".ipynb_checkpoints", "__pycache__", *skip} & set(relative.parts):
            continue
        destination = target / relative
        if source.is_dir():
            destination.mkdir(exist_ok=True)
        elif not destination.exists():
            shutil.copy2(source, destination)
            copied.append(destination)
    if owner is not None and os.geteuid() == 0:
        for path in [target, *copied, *(p for p in target.rglob("*") if p.is_dir())]:
            os.chown(path, owner.pw_uid, owner.pw_gid)
    return len(copied)


def _system_user(spawner):
    if getattr(spawner, "home_dir", ""):
        return None  # test mode: the server runs as the hub's own user
    try:
        return pwd.getpwnam(spawner.user.name)
    except KeyError:
        return None


#: nbgrader's JupyterLab plugins and server extensions that instructors have and learners have not.
INSTRUCTOR_LAB_PLUGINS = ("formgrader", "course-list", "create-assignment")
INSTRUCTOR_SERVER_EXTENSIONS = ("formgrader", "course_list")
NBGRADER_SETTINGS_NOTE = (
    "# Written by the freezelab hub at every start of this server: edits are lost.\n"
)


def ensure_exchange(spawner) -> None:
    """Creates nbgrader's exchange root, world-writable and sticky like /tmp, if it is missing."""
    if not exchange_root.exists():
        exchange_root.mkdir(parents=True)
        exchange_root.chmod(0o1777)  # mkdir's mode is cut by the umask
        spawner.log.info("nbgrader exchange created: %s", exchange_root)
    elif stat.S_IMODE(exchange_root.stat().st_mode) & 0o003 != 0o003:
        spawner.log.warning("nbgrader exchange %s is not writable by every learner (chmod 1777 it)",
                            exchange_root)  # fmt: skip


def nbgrader_settings(spawner) -> str:
    """The user's ``nbgrader_config.py``: the exchange, the course, and their role in it."""
    lines = [
        NBGRADER_SETTINGS_NOTE + "c = get_config()  # noqa: F821",
        f"c.Exchange.root = {str(exchange_root)!r}",
        f"c.CourseDirectory.course_id = {NBGRADER_COURSE_ID!r}",
    ]
    if spawner.user.name in instructors:
        grading = course_home(spawner) / GRADING_FOLDER
        lines.append(f"c.CourseDirectory.root = {str(grading)!r}")
    elif _system_user(spawner) is None:
        # One OS user runs every server: name the learner, or nbgrader names them after it.
        lines.append(f"c.CourseDirectory.student_id = {spawner.user.name!r}")
    return "\n".join(lines) + "\n"


def set_up_nbgrader(spawner) -> None:
    """Writes the user's nbgrader settings; gives an instructor the graded course to run.

    Learners get JupyterLab's Assignments tab (fetch, validate, submit, fetch feedback);
    instructors get the Formgrader as well, on their copy of deploy/nbgrader/.
    """
    ensure_exchange(spawner)
    home = course_home(spawner)
    owner = _system_user(spawner)
    instructor = spawner.user.name in instructors
    if instructor:
        _copy_new_files(
            GRADED_COURSE, home / GRADING_FOLDER, owner, skip=(*NBGRADER_OUTPUTS, ".gitignore")
        )
    labplugins = {f"@jupyter/nbgrader:{name}": not instructor for name in INSTRUCTOR_LAB_PLUGINS}
    files = {
        Path("nbgrader_config.py"): nbgrader_settings(spawner),
        Path("labconfig", "page_config.d", "freezelab-nbgrader.json"): json.dumps(
            {"disabledExtensions": labplugins}, indent=1
        ),
    }
    for relative, text in files.items():
        _write_owned(home / ".jupyter", relative, text, owner)
    # On the command line: in a virtual environment its own config outranks the user's.
    spawner.args = [
        *c.Spawner.args,
        *(
            f"--ServerApp.jpserver_extensions=nbgrader.server_extensions.{name}={instructor}"
            for name in INSTRUCTOR_SERVER_EXTENSIONS
        ),
    ]
    spawner.log.info("nbgrader for %s: %s, exchange %s", spawner.user.name,
                     "instructor" if instructor else "learner", exchange_root)  # fmt: skip


def _write_owned(base: Path, relative: Path, text: str, owner) -> None:
    """Writes ``base / relative`` for its owner, following no link the owner may have made."""
    path = base / relative
    folders = [base / parent for parent in reversed(relative.parents)]
    if any(folder.is_symlink() for folder in folders):
        raise ValueError(f"A folder on the way to {path} is a link: not written there.")
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
    with os.fdopen(descriptor, "w") as file:
        file.write(text)
    if owner is not None and os.geteuid() == 0:
        for part in [*folders, path]:
            os.chown(part, owner.pw_uid, owner.pw_gid, follow_symlinks=False)


def prepare_server(spawner) -> None:
    """Before a server starts: the learner's copy of the course, and their nbgrader settings."""
    copy_course(spawner)
    set_up_nbgrader(spawner)


c.Spawner.pre_spawn_hook = prepare_server

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
