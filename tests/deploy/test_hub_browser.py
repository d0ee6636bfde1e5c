"""End to end: JupyterHub serving the course to two learners, in headless Chromium.

Starts JupyterHub with deploy/jupyterhub/jupyterhub_config.py in its test mode (any user name
and password on 127.0.0.1, one local server process per learner, homes in a temporary folder,
configurable-http-proxy from .cache/npm), in quick mode. Two learners, alice and bob, log in
in two browser contexts (separate cookies), each in their own copy of the course:

1. Each gets a private copy of notebooks/ (their own files, equal to the course's).
2. Each opens their copy of lesson 02 and runs it up to the freeze panel (Run All Above
   Selected Cell; the rest of the lesson times training steps, a minute of CPU per learner,
   which this test does not need), and ticks a different layer: each page shows its own count
   (Keras's count minus that layer's parameters, by hand), and one learner's tick leaves the
   other's page as it was.
3. alice's kernel is killed: her page says the kernel died and restarts it, bob's panel still
   answers.
4. alice's whole server is killed: the hub offers her its restart path (Launch Server), her
   server starts again with her edited copy kept, and bob's panel still answers.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.support.web import chromium, digits, free_port, in_ci, stop, wait_for_http

pytestmark = [pytest.mark.browser, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "deploy" / "jupyterhub" / "jupyterhub_config.py"
PROXY = REPO / ".cache" / "npm" / "node_modules" / ".bin" / "configurable-http-proxy"
COURSE = "freezelab-course"
NOTEBOOK = "02_freeze_vgg16_interactively.ipynb"
TOTAL = 14_714_688 + (512 * 128 + 128) + (128 * 10 + 10)  # VGG16 base + lesson 02's head
TICKS = {  # learner -> (layer, its parameters by hand)
    "alice": ("block5_conv1", 3 * 3 * 512 * 512 + 512),
    "bob": ("block1_conv1", 3 * 3 * 3 * 64 + 64),
}


@dataclass
class Hub:
    url: str
    homes: Path
    log: Path


def _processes(home: Path, marker: str) -> list[int]:
    """Pids whose command line has ``marker`` and whose HOME is ``home`` (a learner's)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            environ = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if marker in cmdline and f"HOME={home}".encode() in environ:
            found.append(int(entry.name))
    return found


@pytest.fixture
def hub(tmp_path):
    if not PROXY.exists():
        message = f"configurable-http-proxy is missing at {PROXY} (python3 run.py test installs it)"
        if in_ci():
            pytest.fail(f"CI=true: the JupyterHub test must run, but {message}.")
        pytest.skip(message)
    homes = tmp_path / "homes"
    port = free_port()
    env = {
        **os.environ,
        "FREEZELAB_HUB_MODE": "test",
        "FREEZELAB_HUB_HOMES": f"{homes}/{{username}}",
        "FREEZELAB_HUB_STATE": str(tmp_path / "state"),
        "FREEZELAB_HUB_PORT": str(port),
        "FREEZELAB_HUB_INTERNAL_PORT": str(free_port()),
        "FREEZELAB_HUB_PROXY_API_PORT": str(free_port()),
        "FREEZELAB_QUICK": "1",
        "TF_CPP_MIN_LOG_LEVEL": "2",
    }
    log_path = tmp_path / "hub.log"
    jupyterhub = Path(sys.executable).with_name("jupyterhub")
    with open(log_path, "w") as log:
        server = subprocess.Popen(
            [str(jupyterhub), "-f", str(CONFIG)],
            env=env, stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path, start_new_session=True,
        )  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        try:
            wait_for_http(f"{url}/hub/health", server, log_path)
            yield Hub(url, homes, log_path)
        finally:
            stop(server)
            for name in TICKS:  # Servers or kernels the hub could not stop: ours, by pid.
                for pid in _processes(homes / name, "python"):
                    os.kill(pid, signal.SIGKILL)


def _panel_cell_index() -> int:
    cells = json.loads((REPO / "notebooks" / NOTEBOOK).read_text())["cells"]
    return next(i for i, c in enumerate(cells) if "fl.freeze_panel(" in "".join(c["source"]))


def _menu(page, menu: str, item: str) -> None:
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(rf"^{menu}$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(rf"^{re.escape(item)}$")).click()


def _log_in(browser, hub: Hub, name: str):
    """Logs ``name`` in, asking the hub to open their copy of lesson 02 once their server runs."""
    page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    page.set_default_timeout(60_000)
    lesson = quote(f"/user/{name}/lab/tree/{COURSE}/{NOTEBOOK}", safe="")
    page.goto(f"{hub.url}/hub/login?next={quote(f'/hub/spawn?next={lesson}', safe='')}")
    # The second learner logs in while the first one's kernel imports TensorFlow on the same
    # 2 cores: give the login form as long as a lesson gets to open (seen to pass 60 s under load).
    page.wait_for_selector("#username_input", timeout=180_000)
    page.fill("#username_input", name)
    page.fill("#password_input", "any password works in test mode")
    page.click("#login_submit", no_wait_after=True)
    return page


def _wait_for_lesson(page, name: str) -> None:
    page.wait_for_url(re.compile(rf"/user/{name}/lab/tree/"), timeout=180_000)
    page.wait_for_selector(".jp-Notebook .jp-CodeCell", timeout=120_000)
    page.wait_for_selector("#jp-main-statusbar >> text=Idle", timeout=120_000)


def _run_up_to_the_panel(page, after_panel: int) -> None:
    # The copy keeps the lesson's saved outputs: clear them, so the prompts show this run.
    _menu(page, "Edit", "Clear Outputs of All Cells")
    page.locator(".jp-Notebook .jp-Cell").nth(after_panel).click()
    _menu(page, "Run", "Run All Above Selected Cell")


def _wait_for_panel(page, after_panel: int, hub: Hub):
    try:
        page.wait_for_function(
            """(n) => {
                const cells = [...document.querySelectorAll('.jp-Notebook .jp-Cell')].slice(0, n);
                const prompts = cells.filter(c => c.classList.contains('jp-CodeCell'))
                    .map(c => c.querySelector('.jp-InputPrompt').textContent);
                return prompts.length > 0 && prompts.every(p => /\\[\\d+\\]/.test(p));
            }""",
            arg=after_panel,
            timeout=240_000,
        )
        count = page.locator(".fl-trainable-count").first
        page.wait_for_function(
            "el => /[0-9]/.test(el.textContent)", arg=count.element_handle(), timeout=60_000
        )
    except Exception:
        pytest.fail(f"The panel did not appear:\n{hub.log.read_text()[-4000:]}")
    errors = page.locator(
        ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr'] >> text=Traceback"
    )
    assert errors.count() == 0
    return count


def _tick(page, count, layer: str) -> int:
    """Clicks ``layer``'s checkbox and returns the count once the page shows the new one."""
    before = count.text_content()
    page.locator(f".fl-layer-{layer} input[type='checkbox']").first.click()
    page.wait_for_function(
        "([el, old]) => el.textContent !== old", arg=[count.element_handle(), before],
        timeout=30_000,
    )  # fmt: skip
    return digits(count.text_content())


def test_two_learners_each_get_their_own_course_panel_and_restart(hub):
    after_panel = _panel_cell_index() + 1
    course = sorted(p.name for p in (REPO / "notebooks").glob("*.ipynb"))
    with chromium() as browser:
        pages = {name: _log_in(browser, hub, name) for name in TICKS}  # both at once
        for name, page in pages.items():
            _wait_for_lesson(page, name)

        # 1. A private copy of the course each: own files, equal to the course's notebooks.
        copies = {name: hub.homes / name / COURSE for name in TICKS}
        for name, copy in copies.items():
            assert sorted(p.name for p in copy.glob("*.ipynb")) == course, name
            assert (copy / NOTEBOOK).read_bytes() == (REPO / "notebooks" / NOTEBOOK).read_bytes()
        assert (copies["alice"] / NOTEBOOK).stat().st_ino != (
            copies["bob"] / NOTEBOOK
        ).stat().st_ino

        # 2. Both run lesson 02 up to the panel at once, then tick different layers.
        for page in pages.values():
            _run_up_to_the_panel(page, after_panel)
        counts = {name: _wait_for_panel(page, after_panel, hub) for name, page in pages.items()}
        for name, count in counts.items():
            assert digits(count.text_content()) == TOTAL, name
        for name, (layer, params) in TICKS.items():
            assert _tick(pages[name], counts[name], layer) == TOTAL - params, name
        for name, (layer, params) in TICKS.items():  # The other's tick changed nothing here.
            assert digits(counts[name].text_content()) == TOTAL - params, name
            other = next(layer for n, (layer, _) in TICKS.items() if n != name)
            assert pages[name].locator(f".fl-layer-{other} input").first.is_checked(), name

        # 3. alice's kernel dies: her page says so and the kernel restarts; bob's panel answers.
        kernels = _processes(hub.homes / "alice", "ipykernel")
        assert len(kernels) == 1, kernels
        os.kill(kernels[0], signal.SIGKILL)
        alice, bob = pages["alice"], pages["bob"]
        alice.wait_for_selector("text=appears to have died", timeout=60_000)
        alice.locator(".jp-Dialog .jp-mod-accept").click()
        alice.wait_for_selector("#jp-main-statusbar >> text=Idle", timeout=120_000)
        deadline = time.monotonic() + 60
        while not (restarted := _processes(hub.homes / "alice", "ipykernel")):
            assert time.monotonic() < deadline, "alice's kernel was not restarted"
            time.sleep(0.5)
        assert restarted != kernels
        layer, params = TICKS["bob"]
        assert _tick(bob, counts["bob"], layer) == TOTAL  # ticked back: everything trains

        # 4. alice's server dies: the hub's restart path, her edits kept; bob unaffected.
        edited = copies["alice"] / "01_what_freezing_does.ipynb"
        edited.write_text(edited.read_text().replace("What freezing does", "My notes", 1))
        (server,) = _processes(hub.homes / "alice", "jupyterhub-singleuser")
        for pid in [server, *_processes(hub.homes / "alice", "ipykernel")]:
            os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 60
        while True:  # The hub notices the dead server when the page asks for it.
            alice.goto(f"{hub.url}/user/alice/lab")
            if alice.locator("#start").count():
                break
            assert time.monotonic() < deadline, alice.content()[-2000:]
            time.sleep(1)
        assert "not running" in alice.locator("body").text_content()
        alice.locator("#start").click()
        alice.wait_for_url(re.compile(r"/user/alice/lab"), timeout=180_000, wait_until="commit")
        assert "My notes" in edited.read_text()  # the course copy is not overwritten
        assert _tick(bob, counts["bob"], layer) == TOTAL - params
