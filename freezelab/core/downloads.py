"""Downloads that never hang, and cached files that are checked before use.

Every download in freezelab (ImageNet weights, the flowers archive) goes
through `fetch`:

* each wait on the server (connecting, every read) is bounded by
  ``timeout`` seconds, so a server that accepts the connection and never
  answers fails after ``timeout``;
* the whole download is bounded by ``total_timeout`` seconds (and a quarter
  second of grace), enforced from outside the worker thread, so even a name
  lookup that hangs is cut off;
* the bytes go to a ``.part`` file of their own first and become the
  target only when complete (the size the server announced) and, where a
  hash is published, with that hash; an interrupted download never leaves a
  truncated target.

`fetch` reports what happened as a `FetchResult` with the reason and the
real elapsed time, so callers can say "gave up after 0.9 s: connection
refused" instead of guessing.
"""

from __future__ import annotations

import hashlib
import os
import socket
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from freezelab._validation import check_str, check_timeout

_CHUNK = 1 << 20
_GRACE_S = 0.25
_HASH_CACHE: dict[tuple[str, int, int], str] = {}


@dataclass(frozen=True)
class FetchResult:
    """What a download attempt did.

    Attributes:
        ok: Whether ``path`` now holds the complete, verified file.
        path: The target file.
        reason: Why it failed, in words (empty when ``ok``).
        elapsed_s: Seconds the attempt took.
    """

    ok: bool
    path: Path
    reason: str
    elapsed_s: float


def md5_of(path: str | os.PathLike) -> str:
    """The MD5 hex digest of a file, cached by path, size and modification time.

    Args:
        path: An existing file.

    Returns:
        32 hex digits.
    """
    path = Path(path)
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _HASH_CACHE:
        digest = hashlib.md5(usedforsecurity=False)
        with path.open("rb") as handle:
            for chunk in iter(lambda: handle.read(_CHUNK), b""):
                digest.update(chunk)
        _HASH_CACHE[key] = digest.hexdigest()
    return _HASH_CACHE[key]


def cached_file_problem(path: str | os.PathLike, md5: str | None) -> str:
    """Why a cached file cannot be used, or ``""`` when it is complete.

    Args:
        path: Where the file should be.
        md5: The published MD5 of the complete file, or None to accept any
            non-empty file.

    Returns:
        ``""`` when the file exists (and matches ``md5``); otherwise a
        sentence naming the path and what is wrong with it.
    """
    path = Path(path)
    if not path.is_file():
        return f"{path} is not there"
    size = path.stat().st_size
    if size == 0:
        return f"the cached file {path} is empty (an interrupted download?)"
    if md5 is not None and md5_of(path) != md5:
        return (
            f"the cached file {path} is incomplete or corrupt ({size:,} bytes, MD5 "
            f"{md5_of(path)} instead of the published {md5}; an interrupted download?)"
        )
    return ""


def fetch(
    url: str,
    target: str | os.PathLike,
    *,
    timeout: float,
    total_timeout: float,
    md5: str | None = None,
) -> FetchResult:
    """Downloads ``url`` to ``target`` within a time bound; never leaves a partial target.

    Args:
        url: An ``http://`` or ``https://`` address.
        target: Where the complete file goes (its folder is created).
        timeout: Seconds any single wait on the server may last (connect,
            each read).
        total_timeout: Seconds the whole download may last.
        md5: The published MD5 of the file, checked before it becomes the
            target; None to skip the check.

    Returns:
        A `FetchResult`; ``ok`` is False with a reason on any failure.

    Raises:
        ValueError: For a timeout that is not a positive finite number or a
            URL that is not a string.
    """
    check_str(url, "url")
    timeout = check_timeout(timeout, "timeout")
    total_timeout = check_timeout(total_timeout, "total_timeout")
    target = Path(target)
    start = time.perf_counter()
    outcome: dict[str, str] = {}
    cancelled = threading.Event()

    def work():
        try:
            outcome["reason"] = _download(
                url, target, timeout, start + total_timeout, md5, cancelled
            )
        except Exception as error:  # Reported, never raised from a thread.
            outcome["reason"] = _reason(error, url, timeout)

    worker = threading.Thread(target=work, name="freezelab-download", daemon=True)
    worker.start()
    worker.join(total_timeout + _GRACE_S)  # The grace lets a timed-out read report itself.
    if worker.is_alive():
        cancelled.set()
        reason = f"{_host(url)} gave no complete answer within {total_timeout:g} s"
        return FetchResult(False, target, reason, time.perf_counter() - start)
    reason = outcome.get("reason", "the download stopped for an unknown reason")
    ok = reason == "" and target.is_file()
    return FetchResult(ok, target, reason, time.perf_counter() - start)


def _download(url, target: Path, timeout, deadline, md5, cancelled) -> str:
    """Runs in the worker thread; returns ``""`` on success, else the reason."""
    target.parent.mkdir(parents=True, exist_ok=True)
    # A name of its own: an abandoned earlier attempt may still be writing its part file.
    handle, name = tempfile.mkstemp(dir=target.parent, prefix=target.name + ".", suffix=".part")
    os.close(handle)
    part = Path(name)
    request = urllib.request.Request(url, headers={"User-Agent": "freezelab"})
    received = 0
    digest = hashlib.md5(usedforsecurity=False)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response, part.open("wb") as out:
            announced = response.headers.get("Content-Length")
            expected = int(announced) if announced and announced.isdigit() else None
            while True:
                if cancelled.is_set() or time.perf_counter() > deadline:
                    return "the download ran out of time"
                chunk = response.read(_CHUNK)
                if not chunk:
                    break
                out.write(chunk)
                digest.update(chunk)
                received += len(chunk)
        if expected is not None and received != expected:
            return (
                f"the download stopped after {received:,} of {expected:,} bytes "
                "(the connection was cut)"
            )
        if received == 0:
            return f"{_host(url)} sent an empty file"
        if md5 is not None and digest.hexdigest() != md5:
            return (
                f"the downloaded file has MD5 {digest.hexdigest()}, not the published {md5} "
                f"({received:,} bytes; damaged on the way?)"
            )
        if cancelled.is_set():
            return "the download ran out of time"
        os.replace(part, target)
        return ""
    finally:
        if part.exists():
            part.unlink()


def _reason(error: BaseException, url: str, timeout: float) -> str:
    host = _host(url)
    inner = error.reason if isinstance(error, urllib.error.URLError) else error
    if isinstance(error, urllib.error.HTTPError):
        return f"{host} answered HTTP {error.code} ({error.reason})"
    if isinstance(inner, (TimeoutError, socket.timeout)):
        return f"no answer from {host} within {timeout:g} s"
    if isinstance(inner, ConnectionRefusedError):
        return f"connection refused by {host}"
    if isinstance(inner, socket.gaierror):
        return f"could not look up {host} (offline?)"
    if isinstance(inner, OSError) and getattr(inner, "strerror", None):
        return f"could not reach {host}: {inner.strerror}"
    return f"could not download from {host}: {type(inner).__name__}: {inner}"


def _host(url: str) -> str:
    parsed = urllib.parse.urlsplit(url)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    return f"{parsed.hostname}:{port}"
