"""End to end: the freeze lab app page (apps/freeze_lab.ipynb under Voilà) in headless Chromium.

Starts Voilà with `run.py app`'s own command line and environment (127.0.0.1, a free port, a
token, deploy/voila/voila.json on Jupyter's config path) in quick mode, with the idle-culling
times shortened on the command line, and opens the page twice:

1. at 1024 px with a malformed mask in its link: the page says why and shows the default mask
   (all layers train; the count equals VGG16's own parameter count plus the head's, by hand);
   no code is shown and the page states its weights. No element of the app overflows (scroll
   width within client width, nothing past the app's right edge) at 1024 px, at 780 px (a
   panel about 750 px wide, as in JupyterLab at 1280 px with the file browser open) and 1280 px.
   Ticking a layer changes the count by that layer's parameters, the "frozen leading blocks"
   menu reads "custom", the link, the address bar and the copy button's clipboard follow.
2. at the shared link, in a fresh browser without the token's cookie: the login page asks for
   the token and sends the visitor back; the mask survives the redirect.

Then both pages are closed without their unload beacon (a crashed tab, a laptop lid) and the
kernels are culled by Voilà's idle culler. Two page loads, so two kernels start (about 10-20 s
each on 2 cores).
"""

from __future__ import annotations

import importlib.util
import os
import secrets
import subprocess
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.support.web import chromium, digits, free_port, overflow_report, stop, wait_for_http

pytestmark = [pytest.mark.browser, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
LAYER = "block5_conv1"
CONV_512 = 3 * 3 * 512 * 512 + 512  # a 3x3 convolution from 512 to 512 channels
VGG16_BASE = 14_714_688  # VGG16 without its top, as Keras documents it
HEAD = (512 * 128 + 128) + (128 * 10 + 10)  # Dense(128) after average pooling, Dense(10)
CULL_IDLE_S = 15  # shortened from deploy/voila/voila.json's 300 s for the test
WIDTHS = (1024, 780, 1280)  # viewport widths checked for overflow


def _run_script():
    spec = importlib.util.spec_from_file_location("freezelab_run_script_page", REPO / "run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def voila(tmp_path):
    """The app page served as `run.py app` serves it; yields base URL, token, log, server."""
    run = _run_script()
    port, token = free_port(), secrets.token_hex(16)
    env = run.app_environment(os.environ.get("KERAS_BACKEND", "tensorflow"))
    env.update(FREEZELAB_QUICK="1", JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"))
    command = run.app_command(
        port,
        token,
        [
            "--show_tracebacks=True",
            f"--MappingKernelManager.cull_idle_timeout={CULL_IDLE_S}",
            "--MappingKernelManager.cull_interval=1",
        ],
    )
    log_path = tmp_path / "voila.log"
    with open(log_path, "w") as log:
        server = subprocess.Popen(
            command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path,
            start_new_session=True,
        )  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        try:
            wait_for_http(f"{base}/", server, log_path)
            yield base, token, log_path, server
        finally:
            stop(server)


def _kernels(server: subprocess.Popen) -> int:
    """Kernel processes the Voilà server runs now."""
    import psutil

    count = 0
    for child in psutil.Process(server.pid).children(recursive=True):
        try:
            if "ipykernel" in " ".join(child.cmdline()):
                count += 1
        except psutil.NoSuchProcess:
            continue
    return count


def _wait_for_count(page, log_path: Path):
    count = page.locator(".fl-trainable-count").first
    try:
        count.wait_for(state="attached", timeout=180_000)
        page.wait_for_function(
            "el => /[0-9]/.test(el.textContent)", arg=count.element_handle(), timeout=60_000
        )
    except Exception:
        body = page.locator("body").text_content()[-3000:]
        pytest.fail(f"The app page did not show the panel:\n{body}\n{log_path.read_text()[-4000:]}")
    return count


def _layout(page) -> dict:
    """Overflow in the app and in its panel, and whether the page scrolls sideways."""
    app = overflow_report(page.locator(".fl-freeze-lab-app").first)
    panel = overflow_report(page.locator(".fl-freeze-panel").first)
    sideways = page.evaluate("document.scrollingElement.scrollWidth - window.innerWidth")
    return {"app": app["width"], "panel": panel["width"], "bad": app["bad"], "sideways": sideways}


def test_app_page_fits_reads_and_shares_masks_through_a_login_and_culls_kernels(voila):
    base, token, log_path, server = voila
    import keras

    vgg = keras.applications.VGG16(include_top=False, weights=None, input_shape=(32, 32, 3))
    assert vgg.count_params() == VGG16_BASE
    assert vgg.get_layer(LAYER).count_params() == CONV_512
    started = time.monotonic()

    with chromium() as browser:
        context = browser.new_context(
            viewport={"width": WIDTHS[0], "height": 768},
            permissions=["clipboard-read", "clipboard-write"],
        )
        page = context.new_page()
        page.set_default_timeout(60_000)

        # 1. A malformed mask: a clear message and the default mask (everything trains).
        page.goto(f"{base}/?token={token}&mask=F:block9%20T:all")
        count = _wait_for_count(page, log_path)
        notice = page.locator(".fl-app-notice").first.text_content()
        assert "could not be read" in notice and "block9" in notice, notice
        assert "default mask (T:all)" in notice
        assert digits(count.text_content()) == VGG16_BASE + HEAD
        assert "Weights in use" in page.locator(".fl-app-weights").first.text_content()
        assert "freeze_lab_app" not in page.content()  # no code cell on the page
        # The two feature views draw pictures (PNG), not a figure's text ("<Figure size ...>").
        page.wait_for_function(
            "() => document.querySelectorAll('img[src^=\"data:image/png\"]').length >= 2",
            timeout=90_000,
        )
        assert "&lt;Figure size" not in page.content() and "<Figure size" not in page.content()
        link = page.locator(".fl-share-link").first
        assert link.get_attribute("href").endswith("?mask=T%3Aall")

        checkbox = page.locator(f".fl-layer-{LAYER} input[type='checkbox']").first
        assert checkbox.is_checked()
        checkbox.click()
        page.wait_for_function(
            "([el, old]) => el.textContent.replace(/[^0-9]/g, '') !== old",
            arg=[count.element_handle(), str(VGG16_BASE + HEAD)],
            timeout=30_000,
        )
        assert digits(count.text_content()) == VGG16_BASE + HEAD - CONV_512
        menu = page.locator(".fl-freeze-blocks select").first
        page.wait_for_function(
            "el => el.selectedIndex >= 0 && el.options[el.selectedIndex].text === 'custom'",
            arg=menu.element_handle(),
            timeout=10_000,
        )
        page.wait_for_function(
            "el => el.getAttribute('href').includes('block5_conv1')", arg=link.element_handle()
        )
        shared = link.get_attribute("href")
        assert shared == (
            f"{base}/?mask=F%3Ablock5_conv1%20T%3Ablock1-4%2Cblock5_conv2%2Cblock5_conv3%2Chead"
        )
        assert "token" not in shared
        # The address bar follows the mask (and no longer shows the token) ...
        query = "?" + urlsplit(shared).query
        page.wait_for_function("q => location.search === q", arg=query, timeout=10_000)
        # ... and the copy button puts the link on the clipboard.
        copy = page.locator(".fl-copy-link").first
        copy.click()
        page.wait_for_function("el => el.textContent === 'copied'", arg=copy.element_handle())
        assert page.evaluate("navigator.clipboard.readText()") == shared

        widths = {}
        for width in WIDTHS:
            page.set_viewport_size({"width": width, "height": 768})
            page.wait_for_timeout(300)  # one layout pass after the resize
            layout = _layout(page)
            widths[width] = (round(layout["app"]), round(layout["panel"]))
            if os.environ.get("FREEZELAB_SCREENSHOTS"):  # for a reviewer: the page as drawn
                shots = Path(os.environ["FREEZELAB_SCREENSHOTS"])
                shots.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(shots / f"app_{width}px.png"), full_page=True)
            if layout["bad"] or layout["sideways"] > 0:
                pytest.fail(f"overflow at {width} px: {layout}\n" + "\n".join(layout["bad"]))
        print(f"\napp / panel width at each viewport width: {widths}")
        assert widths[780][1] <= 760  # the narrow case is no wider than JupyterLab's

        # 2. The shared link in a fresh browser: the login page, then the page at the mask.
        visitor = browser.new_context(viewport={"width": 1280, "height": 800})
        other = visitor.new_page()
        other.set_default_timeout(60_000)
        other.goto(shared)
        assert urlsplit(other.url).path.endswith("/login"), other.url
        other.fill("#password_input", token)
        other.click("#login_submit")
        count = _wait_for_count(other, log_path)
        assert urlsplit(other.url).query == urlsplit(shared).query  # the mask came through
        assert digits(count.text_content()) == VGG16_BASE + HEAD - CONV_512
        checkbox = other.locator(f".fl-layer-{LAYER} input[type='checkbox']").first
        assert not checkbox.is_checked()
        assert other.locator(".fl-layer-block5_conv2 input[type='checkbox']").first.is_checked()
        notice = other.locator(".fl-app-notice").first.text_content()
        assert (
            "Mask from the link: F:block5_conv1 T:block1-4,block5_conv2,block5_conv3,head" in notice
        )
        assert _kernels(server) == 2  # one per page load, both pages open
        pages_s = time.monotonic() - started
        # Closed without their unload beacon, as a crashed tab or a closed laptop does.
        visitor.close()
        context.close()

    # 3. The idle culler ends both kernels within its timeout and interval.
    closed = time.monotonic()
    while _kernels(server) and time.monotonic() - closed < CULL_IDLE_S + 20:
        time.sleep(0.5)
    gone_s = time.monotonic() - closed
    print(f"pages: {pages_s:.0f} s; kernels culled {gone_s:.1f} s after the pages closed")
    assert _kernels(server) == 0, log_path.read_text()[-3000:]
    assert "Culling" in log_path.read_text()
