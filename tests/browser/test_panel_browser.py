"""End to end: the freeze panel in a real JupyterLab, driven in headless Chromium.

Starts ``jupyter lab`` on 127.0.0.1 (a token, a free port) over a temporary
copy of notebooks/02 with its outputs cleared, opens it in Debian's chromium
through Playwright, runs all cells from the Run menu, ticks one named layer's
checkbox and checks that the trainable-parameter number on the page changes by
that layer's parameter count, as Keras counts it. Then it switches live timing
on, ticks the layer again while the timing runs in the background (the count
must change within a second), and cancels the timing. Last, with the file
browser open, no element of any freeze panel overflows (or passes the edge of
its output area) at 1280 px (the notebook about 848 px wide) or at 1024 px.

With ``CI=true`` this test never skips: a missing browser is a failure.
"""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

from tests.support.web import chromium, free_port, overflow_report

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[2]
NOTEBOOK = "02_freeze_vgg16_interactively.ipynb"
LAYER = "block5_conv1"
INPUT_SIZE = 32  # the size notebooks/02 uses in quick mode; the count does not depend on it


def _cleared_copy(source: Path, target: Path) -> None:
    """Copies the notebook without outputs, counts, widget state or collapsed cells.

    Collapsed (solution) cells hide their input prompt, so every prompt is shown again
    for the "every cell has run" check.
    """
    notebook = nbformat.read(source, as_version=4)
    for cell in notebook.cells:
        cell.metadata.pop("jupyter", None)
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    notebook.metadata.pop("widgets", None)
    nbformat.write(notebook, target)


@pytest.fixture
def jupyter_lab(tmp_path):
    """A running JupyterLab over a temporary copy of notebooks/02; yields its base URL and token."""
    root = tmp_path / "root"
    root.mkdir()
    _cleared_copy(REPO / "notebooks" / NOTEBOOK, root / NOTEBOOK)
    port, token = free_port(), secrets.token_hex(16)
    env = {
        **os.environ,
        "FREEZELAB_QUICK": "1",
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
    }
    jupyter = Path(sys.executable).with_name("jupyter")
    log = open(tmp_path / "jupyter.log", "w")  # noqa: SIM115 - closed after the server stops
    server = subprocess.Popen(
        [
            str(jupyter), "lab", "--no-browser", "--allow-root",
            "--ip=127.0.0.1", f"--port={port}",
            f"--IdentityProvider.token={token}",
            f"--ServerApp.root_dir={root}",
            f"--LabApp.workspaces_dir={tmp_path / 'workspaces'}",
        ],
        env=env, stdout=log, stderr=subprocess.STDOUT, cwd=root,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2)
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    log.flush()
                    pytest.fail(
                        "JupyterLab did not start:\n" + (tmp_path / "jupyter.log").read_text()
                    )
                time.sleep(0.5)
        yield base, token
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


@pytest.fixture
def browser():
    with chromium() as launched:
        yield launched


def _layer_params() -> int:
    """The layer's parameter count from Keras itself (independent of the panel)."""
    import keras

    vgg = keras.applications.VGG16(
        include_top=False, weights=None, input_shape=(INPUT_SIZE, INPUT_SIZE, 3)
    )
    return vgg.get_layer(LAYER).count_params()


def _number(text: str) -> int:
    return int(re.sub(r"[^0-9]", "", text))


def test_ticking_a_layer_changes_the_trainable_count_on_the_page(jupyter_lab, browser):
    base, token = jupyter_lab
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(60_000)
    page.goto(f"{base}/lab/tree/{NOTEBOOK}?token={token}")
    page.wait_for_selector(".jp-Notebook .jp-CodeCell")
    page.wait_for_selector("#jp-main-statusbar >> text=Idle", timeout=120_000)

    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()

    # Every code cell has run when each prompt shows a number ("[*]" while queued or running).
    page.wait_for_function(
        """() => {
            const prompts = [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')];
            return prompts.length > 0 && prompts.every(p => /\\[\\d+\\]/.test(p.textContent));
        }""",
        timeout=240_000,
    )
    errors = page.locator(
        ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr'] >> text=Traceback"
    )
    assert errors.count() == 0

    count = page.locator(".fl-trainable-count").first
    checkbox = page.locator(f".fl-layer-{LAYER} input[type='checkbox']").first
    # textContent, not innerText: JupyterLab skips rendering cells out of view.
    count.wait_for(state="attached")
    page.wait_for_function(
        "el => /[0-9]/.test(el.textContent)", arg=count.element_handle(), timeout=60_000
    )
    before = _number(count.text_content())
    was_checked = checkbox.is_checked()
    checkbox.click()
    page.wait_for_function(
        "([el, old]) => el.textContent.replace(/[^0-9]/g, '') !== old",
        arg=[count.element_handle(), str(before)],
        timeout=30_000,
    )
    after = _number(count.text_content())
    params = _layer_params()
    assert params == 3 * 3 * 512 * 512 + 512
    assert after == (before - params if was_checked else before + params)
    assert checkbox.is_checked() != was_checked

    # Live timing runs in the background: ticks still update the count within a second,
    # and Cancel stops the timing.
    live = page.locator(".fl-live-timing input[type='checkbox']").first
    status = page.locator(".fl-time-job-status").first
    live.click()
    page.wait_for_function(
        "el => /compiling|timing/.test(el.textContent)", arg=status.element_handle()
    )
    before = _number(count.text_content())
    started = time.monotonic()
    checkbox.click()
    page.wait_for_function(
        "([el, old]) => el.textContent.replace(/[^0-9]/g, '') !== old",
        arg=[count.element_handle(), str(before)],
        timeout=10_000,
    )
    tick_to_count_s = time.monotonic() - started
    assert tick_to_count_s < 1.0, f"count took {tick_to_count_s:.2f} s during a timing"
    assert _number(count.text_content()) == (before + params if was_checked else before - params)
    page.locator(".fl-time-job-cancel button, button.fl-time-job-cancel").first.click()
    page.wait_for_function(
        "el => /cancelled/.test(el.textContent)", arg=status.element_handle(), timeout=15_000
    )

    # The panels fit the notebook at 1280 px with the file browser open, and at 1024 px.
    file_browser = page.locator("#filebrowser")
    if not file_browser.is_visible():
        page.locator(".jp-SideBar li[data-id='filebrowser']").first.click()
    file_browser.wait_for(state="visible")
    panels = page.locator(".fl-freeze-panel")
    widths = {}
    for width in (1280, 1024):
        page.set_viewport_size({"width": width, "height": 800})
        for index in range(panels.count()):
            panel = panels.nth(index)
            panel.scroll_into_view_if_needed()
            page.wait_for_timeout(200)  # one layout pass
            report = overflow_report(panel)
            widths.setdefault(width, []).append((round(report["area"]), round(report["width"])))
            if report["bad"]:
                pytest.fail(f"panel {index} overflows at {width} px:\n" + "\n".join(report["bad"]))
    print(f"\noutput area / panel widths with the file browser open: {widths}")
