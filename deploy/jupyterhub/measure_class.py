#!/usr/bin/env python3
"""Measures what a class costs on one server: memory per learner and time to a ready course.

Starts JupyterHub with jupyterhub_config.py in its test mode (temporary homes, 127.0.0.1),
then for N learners at once, as a class logging in together would: starts the learner's
server, starts a kernel, and runs their own copy of lesson 02 up to the freeze panel (VGG16
with its head and the panel built: the course is ready to tick). It prints, per learner, the
time from asking for the server to that point, the memory their server and kernel take
(PSS: shared libraries counted once across learners, so the figures add up), the CPU
seconds that start cost, and a sizing for a class of 30::

    .venv/bin/python deploy/jupyterhub/measure_class.py --learners 2 4 8
    .venv/bin/python deploy/jupyterhub/measure_class.py --learners 2 --with-timing

``--with-timing`` also runs the lesson's step timing (the panel's live timer at the lesson's
image size) and reports each kernel's peak memory after it. Lessons run at full size
(224 px) unless ``--quick``. Needs configurable-http-proxy (``python3 run.py test`` installs
it into .cache/npm). Linux only (reads /proc).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
CONFIG = HERE / "jupyterhub_config.py"
LESSON = "02_freeze_vgg16_interactively.ipynb"
COURSE_FOLDER = "freezelab-course"
CLASS_SIZE = 30
HEADROOM = 1.25  # on top of the measured memory: learners do more than the lesson's start


@dataclass
class Learner:
    """What one learner's start measured."""

    name: str
    server_s: float = 0.0
    ready_s: float = 0.0
    pss_mib: float = 0.0
    peak_kernel_mib: float = 0.0
    cpu_s: float = 0.0
    error: str = ""


def pss_kib(smaps_rollup: str) -> int:
    """The ``Pss:`` figure (KiB) of a /proc/<pid>/smaps_rollup text.

    Raises:
        ValueError: If the text has no ``Pss:`` line.
    """
    for line in smaps_rollup.splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1])
    raise ValueError(f"smaps_rollup has no 'Pss:' line. Received: {smaps_rollup[:200]!r}")


def peak_rss_kib(status: str) -> int:
    """The ``VmHWM:`` figure (peak resident memory, KiB) of a /proc/<pid>/status text."""
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise ValueError(f"status has no 'VmHWM:' line. Received: {status[:200]!r}")


def cpu_seconds(stat: str, ticks_per_second: int) -> float:
    """User plus system CPU seconds of a /proc/<pid>/stat line (fields 14 and 15)."""
    fields = stat[stat.rindex(")") + 2 :].split()  # the name in parentheses may hold spaces
    return (int(fields[11]) + int(fields[12])) / ticks_per_second


def class_needs(per_learner_mib: float, hub_mib: float, cpu_s_per_start: float,
                learners: int = CLASS_SIZE, start_within_s: float = 120.0) -> dict[str, float]:  # fmt: skip
    """Sizes a server for a class from measured per-learner figures.

    Args:
        per_learner_mib: Memory one learner's server and kernel take.
        hub_mib: Memory of the hub and its proxy.
        cpu_s_per_start: CPU seconds one learner's start costs (server, kernel, lesson).
        learners: Class size.
        start_within_s: How long the whole class may wait when everyone starts at once.

    Returns:
        ``memory_gib`` (with `HEADROOM`), ``cores`` (for the class start to finish within
        ``start_within_s``), and ``cpu_s`` (CPU seconds of the whole class's start).
    """
    if per_learner_mib <= 0 or learners < 1 or start_within_s <= 0:
        raise ValueError(
            "class_needs takes a positive memory per learner, class size and start time. "
            f"Received: per_learner_mib={per_learner_mib}, learners={learners}, "
            f"start_within_s={start_within_s}"
        )
    memory_gib = (learners * per_learner_mib * HEADROOM + hub_mib) / 1024
    cpu_s = learners * cpu_s_per_start
    return {"memory_gib": memory_gib, "cores": cpu_s / start_within_s, "cpu_s": cpu_s}


def _lesson_code(notebook: Path, with_timing: bool) -> str:
    """The lesson's code cells up to the panel (or, ``with_timing``, up to its step timing)."""
    last = "fl.run_sweep(" if with_timing else "fl.freeze_panel("
    code = []
    for cell in json.loads(notebook.read_text())["cells"]:
        if cell["cell_type"] == "code":
            code.append("".join(cell["source"]))
            if last in code[-1]:
                break
    return "\n".join(code)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _processes(home: Path) -> list[int]:
    """Pids whose HOME is ``home``: a learner's server and kernels."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if f"HOME={home}".encode() in (entry / "environ").read_bytes().split(b"\0"):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def _read(pid: int, name: str) -> str:
    try:
        return Path(f"/proc/{pid}/{name}").read_text()
    except OSError:
        return ""


def _pss_mib(pids: list[int]) -> float:
    return sum(pss_kib(text) for pid in pids if (text := _read(pid, "smaps_rollup"))) / 1024


class Hub:
    """JupyterHub in test mode with a service token, in a temporary folder."""

    def __init__(self, quick: bool):
        self.folder = Path(tempfile.mkdtemp(prefix="freezelab-hub-"))
        self.homes = self.folder / "homes"
        self.token = secrets.token_hex(24)
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {
            **os.environ,
            "FREEZELAB_HUB_MODE": "test",
            "FREEZELAB_HUB_HOMES": f"{self.homes}/{{username}}",
            "FREEZELAB_HUB_STATE": str(self.folder / "state"),
            "FREEZELAB_HUB_PORT": str(self.port),
            "FREEZELAB_HUB_INTERNAL_PORT": str(_free_port()),
            "FREEZELAB_HUB_PROXY_API_PORT": str(_free_port()),
            "FREEZELAB_HUB_API_TOKEN": self.token,
            "FREEZELAB_QUICK": "1" if quick else "0",
        }
        self.log = open(self.folder / "hub.log", "w")  # noqa: SIM115 - closed in stop()
        jupyterhub = Path(sys.executable).with_name("jupyterhub")
        self.process = subprocess.Popen(
            [str(jupyterhub), "-f", str(CONFIG)], env=env, cwd=self.folder,
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip

    def hub_pids(self) -> list[int]:
        """The hub and its proxy (whose pid the hub writes to its state folder)."""
        proxy = (self.folder / "state" / "jupyterhub-proxy.pid").read_text().strip()
        return [self.process.pid, int(proxy)]

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
        for home in self.homes.glob("*"):  # servers the hub could not stop: ours, by pid
            for pid in _processes(home):
                os.kill(pid, signal.SIGKILL)
        self.log.close()
        shutil.rmtree(self.folder, ignore_errors=True)


async def _call(hub: Hub, method: str, path: str, body: dict | None = None) -> dict:
    from tornado.httpclient import AsyncHTTPClient, HTTPClientError

    client = AsyncHTTPClient()
    try:
        response = await client.fetch(
            hub.url + path, method=method, headers={"Authorization": f"token {hub.token}"},
            body=None if body is None and method == "GET" else json.dumps(body or {}),
            request_timeout=300,
        )  # fmt: skip
    except HTTPClientError as error:
        if error.code == 409:  # already exists / already running
            return {}
        raise
    return json.loads(response.body) if response.body else {}


async def _execute(hub: Hub, name: str, kernel_id: str, code: str) -> None:
    from tornado.httpclient import HTTPRequest
    from tornado.websocket import websocket_connect

    ws_url = hub.url.replace("http", "ws") + f"/user/{name}/api/kernels/{kernel_id}/channels"
    request = HTTPRequest(ws_url, headers={"Authorization": f"token {hub.token}"})
    connection = await websocket_connect(request)
    msg_id = uuid.uuid4().hex
    message = {
        "header": {"msg_id": msg_id, "msg_type": "execute_request", "username": name,
                   "session": uuid.uuid4().hex, "date": "", "version": "5.3"},
        "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
        "content": {"code": code, "silent": False, "store_history": True,
                    "user_expressions": {}, "allow_stdin": False, "stop_on_error": True},
    }  # fmt: skip
    await connection.write_message(json.dumps(message))
    try:
        while True:
            text = await connection.read_message()
            if text is None:
                raise RuntimeError(f"{name}: the kernel's connection closed")
            if isinstance(text, bytes):
                continue  # binary frames carry widget buffers
            reply = json.loads(text)
            if reply.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            if reply["msg_type"] == "execute_reply":
                content = reply["content"]
                if content["status"] != "ok":
                    raise RuntimeError(f"{name}: {content.get('ename')}: {content.get('evalue')}")
                return
    finally:
        connection.close()


async def _start_learner(hub: Hub, learner: Learner, with_timing: bool) -> None:
    started = time.monotonic()
    try:
        await _call(hub, "POST", f"/hub/api/users/{learner.name}")
        await _call(hub, "POST", f"/hub/api/users/{learner.name}/server")
        while (
            not (await _call(hub, "GET", f"/hub/api/users/{learner.name}"))
            .get("servers", {})
            .get("", {})
            .get("ready")
        ):
            await asyncio.sleep(0.5)
        learner.server_s = time.monotonic() - started
        lesson = hub.homes / learner.name / COURSE_FOLDER / LESSON  # the learner's own copy
        kernel = await _call(hub, "POST", f"/user/{learner.name}/api/kernels", {"name": "python3"})
        await _execute(hub, learner.name, kernel["id"], _lesson_code(lesson, with_timing))
        learner.ready_s = time.monotonic() - started
    except Exception as error:  # reported per learner; the others go on
        learner.error = f"{type(error).__name__}: {error}"


async def _measure(hub: Hub, learners: int, with_timing: bool) -> list[Learner]:
    from tornado.httpclient import AsyncHTTPClient

    AsyncHTTPClient.configure(None, max_clients=4 * learners + 10)
    class_ = [Learner(f"learner{i + 1}") for i in range(learners)]
    await asyncio.gather(*(_start_learner(hub, one, with_timing) for one in class_))
    ticks = os.sysconf("SC_CLK_TCK")
    for one in class_:
        pids = _processes(hub.homes / one.name)
        one.pss_mib = _pss_mib(pids)
        one.cpu_s = sum(cpu_seconds(text, ticks) for p in pids if (text := _read(p, "stat")))
        peaks = [
            peak_rss_kib(_read(p, "status")) for p in pids if "ipykernel" in _read(p, "cmdline")
        ]
        one.peak_kernel_mib = max(peaks, default=0) / 1024
    return class_


def _wait_until_up(hub: Hub, timeout: float = 120) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(f"{hub.url}/hub/health", timeout=2)
            return
        except OSError:
            if hub.process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(
                    f"JupyterHub did not start; see {hub.folder / 'hub.log'}"
                ) from None
            time.sleep(0.3)


def run(learners: int, quick: bool, with_timing: bool) -> dict:
    """Starts a hub, ``learners`` learners at once, prints and returns the figures."""
    hub = Hub(quick)
    try:
        _wait_until_up(hub)
        class_ = asyncio.run(_measure(hub, learners, with_timing))
        hub_mib = _pss_mib(hub.hub_pids())
    finally:
        hub.stop()
    failed = [one for one in class_ if one.error]
    for one in failed:
        print(f"  {one.name} FAILED: {one.error}")
    done = [one for one in class_ if not one.error]
    if not done:
        raise SystemExit("No learner got a ready course.")
    figures = {
        "learners": learners,
        "ready_s_median": statistics.median(o.ready_s for o in done),
        "ready_s_max": max(o.ready_s for o in done),
        "server_s_median": statistics.median(o.server_s for o in done),
        "pss_mib_median": statistics.median(o.pss_mib for o in done),
        "peak_kernel_mib_max": max(o.peak_kernel_mib for o in done),
        "cpu_s_median": statistics.median(o.cpu_s for o in done),
        "hub_mib": hub_mib,
        "failed": len(failed),
    }
    print(
        f"{learners:>3} learners: ready in {figures['ready_s_median']:.0f} s (median; last "
        f"{figures['ready_s_max']:.0f} s; server up in {figures['server_s_median']:.1f} s) · "
        f"{figures['pss_mib_median']:.0f} MiB per learner (PSS, server + kernel; kernel peak "
        f"RSS {figures['peak_kernel_mib_max']:.0f} MiB) · {figures['cpu_s_median']:.0f} CPU s "
        f"per start · hub + proxy {hub_mib:.0f} MiB",
        flush=True,
    )
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--learners", type=int, nargs="+", default=[2, 4, 8])
    parser.add_argument("--quick", action="store_true", help="lessons at quick-mode size")
    parser.add_argument("--with-timing", action="store_true", help="also time steps")
    args = parser.parse_args(argv)
    size = "quick mode (32 px)" if args.quick else "full size (224 px)"
    timing = ", with the step timing" if args.with_timing else ""
    print(f"Lesson 02 up to the panel, {size}{timing}; {os.cpu_count()} CPU cores here.")
    results = [run(n, args.quick, args.with_timing) for n in args.learners]
    worst = max(results, key=lambda r: r["pss_mib_median"])
    mib = max(worst["pss_mib_median"], worst["peak_kernel_mib_max"] if args.with_timing else 0)
    need = class_needs(mib, worst["hub_mib"], max(r["cpu_s_median"] for r in results))
    upto = "its step timing" if args.with_timing else "the panel"
    print(
        f"A class of {CLASS_SIZE}: about {need['memory_gib']:.0f} GiB of memory "
        f"({CLASS_SIZE} × {mib:.0f} MiB × {HEADROOM} headroom + the hub); "
        f"{need['cpu_s']:.0f} CPU seconds for everyone to run lesson 02 up to {upto} at "
        f"once: {need['cores']:.0f} cores do it within 2 minutes."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
