"""End to end: the freeze lab app page (apps/freeze_lab.ipynb under Voilà) in headless Chromium.

Starts Voilà as ``python3 run.py app`` does (127.0.0.1, a free port, a token) in quick mode,
and opens the page twice:

1. with a malformed mask in its link: the page says why and shows the default mask (all
   layers train; the count equals VGG16's own parameter count plus the head's, by hand); no
   code is shown and the page states its weights. Ticking a layer changes the count by that
   layer's parameters, and the page's link follows the tick.
2. at the link the page showed (no token in it): the mask is applied, the count is the one
   after the tick.

Two page loads, so two kernels start (about 10-20 s each on 2 cores).
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.web import chromium, digits, free_port, stop, wait_for_http

pytestmark = [pytest.mark.browser, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
APP = REPO / "apps" / "freeze_lab.ipynb"
LAYER = "block5_conv1"
CONV_512 = 3 * 3 * 512 * 512 + 512  # a 3x3 convolution from 512 to 512 channels
VGG16_BASE = 14_714_688  # VGG16 without its top, as Keras documents it
HEAD = (512 * 128 + 128) + (128 * 10 + 10)  # Dense(128) after average pooling, Dense(10)


@pytest.fixture
def voila(tmp_path):
    """The app page served by Voilà; yields its base URL and token."""
    port, token = free_port(), secrets.token_hex(16)
    env = {
        **os.environ,
        "FREEZELAB_QUICK": "1",
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
    }
    log_path = tmp_path / "voila.log"
    voila_exe = Path(sys.executable).with_name("voila")
    with open(log_path, "w") as log:
        server = subprocess.Popen(
            [
                str(voila_exe), str(APP), "--no-browser", "--Voila.ip=127.0.0.1",
                f"--port={port}", f"--token={token}", "--show_tracebacks=True",
            ],
            env=env, stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path,
            start_new_session=True,
        )  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        try:
            wait_for_http(f"{base}/", server, log_path)
            yield base, token, log_path
        finally:
            stop(server)


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


def test_app_page_reads_the_link_mask_and_shares_the_ticked_one(voila):
    base, token, log_path = voila
    import keras

    vgg = keras.applications.VGG16(include_top=False, weights=None, input_shape=(32, 32, 3))
    assert vgg.count_params() == VGG16_BASE
    assert vgg.get_layer(LAYER).count_params() == CONV_512

    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
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
        link = page.locator(".fl-share-link").first
        assert link.get_attribute("href").endswith("?mask=T:all")

        checkbox = page.locator(f".fl-layer-{LAYER} input[type='checkbox']").first
        assert checkbox.is_checked()
        checkbox.click()
        page.wait_for_function(
            "([el, old]) => el.textContent.replace(/[^0-9]/g, '') !== old",
            arg=[count.element_handle(), str(VGG16_BASE + HEAD)],
            timeout=30_000,
        )
        assert digits(count.text_content()) == VGG16_BASE + HEAD - CONV_512
        page.wait_for_function(
            "el => el.getAttribute('href').includes('block5_conv1')", arg=link.element_handle()
        )
        shared = link.get_attribute("href")
        assert shared == (
            f"{base}/?mask=F:block5_conv1%20T:block1-4,block5_conv2,block5_conv3,head"
        )
        assert "token" not in shared

        # 2. The shared link opens the page at the ticked mask (the cookie stands in for the token).
        page.goto(shared)
        count = _wait_for_count(page, log_path)
        assert digits(count.text_content()) == VGG16_BASE + HEAD - CONV_512
        checkbox = page.locator(f".fl-layer-{LAYER} input[type='checkbox']").first
        assert not checkbox.is_checked()
        assert page.locator(".fl-layer-block5_conv2 input[type='checkbox']").first.is_checked()
        notice = page.locator(".fl-app-notice").first.text_content()
        assert (
            "Mask from the link: F:block5_conv1 T:block1-4,block5_conv2,block5_conv3,head" in notice
        )
