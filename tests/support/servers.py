"""Local network stand-ins for download tests: a server that never answers, one that does."""

from __future__ import annotations

import socket
import threading
import time
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@contextmanager
def silent_listener():
    """A TCP port that accepts connections and never sends a byte; yields its base URL."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)  # The kernel completes the handshake; nobody ever answers.
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/"
    finally:
        listener.close()


def closed_port_url() -> str:
    """A URL on a local port where nothing listens (connections are refused)."""
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    return f"http://127.0.0.1:{port}/"


@contextmanager
def serve(routes: dict[str, bytes], cut: dict[str, int] | None = None, trickle: float = 0.0):
    """An HTTP server for ``routes`` (path -> body); yields its base URL.

    Args:
        routes: Path (without the leading slash) to the bytes served there.
        cut: Path to a byte count: announce the full length, send only that
            many bytes, then close (an interrupted download).
        trickle: Seconds to wait between single bytes (a server that never
            stalls long enough to time out, yet never finishes).
    """
    cut = cut or {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            name = self.path.lstrip("/")
            if name not in routes:
                self.send_error(404, "no such file")
                return
            body = routes[name]
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if trickle:
                for value in body:
                    self.wfile.write(bytes([value]))
                    self.wfile.flush()
                    time.sleep(trickle)
                return
            self.wfile.write(body[: cut.get(name, len(body))])
            self.wfile.flush()
            if name in cut:
                self.close_connection = True

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
