"""Hostile HTTP servers on 127.0.0.1: one that hangs, one that trickles, a redirect loop, an HTML page,
an endless body, an error, or a given document."""

import contextlib
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def _handler(kind: str, body: bytes) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format, *args):  # quiet
            pass

        def do_GET(self):
            self.server.hits += 1  # type: ignore[attr-defined]
            if kind == "hang":
                time.sleep(30)
                return
            if kind == "loop":
                self.send_response(302)
                self.send_header("Location", self.path)
                self.end_headers()
                return
            if kind == "error":
                self.send_error(503)
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/html" if kind == "html" else "application/json")
            self.send_header("Content-Length", str(10**9 if kind in ("trickle", "endless") else len(body)))
            self.end_headers()
            with contextlib.suppress(OSError):
                if kind == "trickle":
                    for _ in range(600):
                        self.wfile.write(b" ")
                        self.wfile.flush()
                        time.sleep(0.05)
                elif kind == "endless":
                    for _ in range(10**4):
                        self.wfile.write(b" " * 65536)
                elif kind == "html":
                    self.wfile.write(b"<html><body>Sign in</body></html>")
                else:
                    self.wfile.write(body)

    return Handler


@contextlib.contextmanager
def serve(kind: str, body: bytes = b"") -> Iterator[ThreadingHTTPServer]:
    """A server of `kind` on 127.0.0.1; its ``url(path)`` and ``hits``."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(kind, body))
    server.daemon_threads = True
    server.hits = 0  # type: ignore[attr-defined]
    server.url = lambda path="/item.json": f"http://127.0.0.1:{server.server_port}{path}"  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
