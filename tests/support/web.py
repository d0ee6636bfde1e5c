"""Servers and a browser for end-to-end tests: free ports, waiting for a server, stopping it,
and headless Chromium through Playwright.

The same flags and rules as tests/browser/test_panel_browser.py: Debian's chromium (or
``FREEZELAB_CHROMIUM``), waits on the page's text rather than sleeps, and with ``CI=true`` a
missing browser is a failure, never a skip.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest

from freezelab.settings import in_ci

CHROMIUM = os.environ.get("FREEZELAB_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_http(url: str, server: subprocess.Popen, log: Path, timeout: float = 90) -> None:
    """Waits until ``url`` answers with any HTTP status; fails the test with the log otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except urllib.error.HTTPError:
            return  # The server answers (a redirect to a login page, a 403): it is up.
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"The server at {url} did not start:\n{log.read_text()[-6000:]}")
            time.sleep(0.3)


def stop(server: subprocess.Popen, timeout: float = 20) -> None:
    """Stops a server started with ``start_new_session=True``, and everything it started."""
    if server.poll() is not None:
        return
    try:
        os.killpg(server.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        server.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=10)
    # Children that outlived their parent (kernels, the proxy) in the same session.
    with suppress(ProcessLookupError):
        os.killpg(server.pid, signal.SIGKILL)


@contextmanager
def chromium():
    """Headless Chromium (a Playwright browser); skips or, in CI, fails when it is missing."""
    if not Path(CHROMIUM).exists():
        if in_ci():
            pytest.fail(f"CI=true: the browser test must run, but {CHROMIUM} is missing.")
        pytest.skip(f"{CHROMIUM} is not installed (set CI=true to make this a failure)")
    if in_ci():
        from playwright import sync_api
    else:
        sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield browser
        finally:
            browser.close()


def digits(text: str) -> int:
    """The number written in ``text`` with its thousands separators ("14,781,642")."""
    return int("".join(ch for ch in text if ch.isdigit()))


# Every drawn element inside ``root``: its scroll width must not pass its client width, and it
# must not reach past the right edge of the output area that holds ``root`` (where JupyterLab
# and Voilà clip). Text inputs and menus scroll their own text; SVG parts have no box of their own; a slider's
# handles reach past its track by design.
_OVERFLOW_JS = """root => {
    const area = root.closest('.jp-OutputArea-output') || root.parentElement;
    const edge = area.getBoundingClientRect();
    const bad = [];
    for (const el of [root, ...root.querySelectorAll('*')]) {
        const tag = el.tagName.toLowerCase();
        if (['input', 'textarea', 'select', 'option'].includes(tag)) continue;
        if (el.closest('svg') && tag !== 'svg') continue;
        if (el.closest('.noUi-target')) continue;  // a slider's handles reach past its track
        const box = el.getBoundingClientRect();
        if (box.width === 0 && box.height === 0) continue;
        const name = tag + '.' + [...el.classList].join('.');
        if (el.clientWidth > 0 && el.scrollWidth > el.clientWidth + 1)
            bad.push(`${name}: scrollWidth ${el.scrollWidth} > clientWidth ${el.clientWidth}`);
        if (box.right > edge.right + 1)
            bad.push(`${name}: right edge ${box.right.toFixed(0)} > ${edge.right.toFixed(0)}`);
    }
    return {area: edge.width, width: root.getBoundingClientRect().width, bad: bad.slice(0, 12)};
}"""


def overflow_report(locator) -> dict:
    """What of a widget overflows: ``{"area": px, "width": px, "bad": [descriptions]}``.

    Args:
        locator: A Playwright locator of the widget's root element (it must be rendered:
            JupyterLab skips cells out of view, so scroll it into view first).

    Returns:
        The width of the output area holding it, its own width, and up to 12 elements that
        overflow (empty when none does).
    """
    return locator.evaluate(_OVERFLOW_JS)
