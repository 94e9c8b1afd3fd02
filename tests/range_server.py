"""A static file server on 127.0.0.1 that honours HTTP Range requests and counts the bytes it sends.

Python's ``http.server`` answers every GET with the whole file; GDAL's ``/vsicurl/`` reads a COG by byte
ranges (``Range: bytes=START-END``), so remote reading can only be tested, and its cost measured,
against a server that serves them. One range per request (GDAL sends one per request by default); a
request for several ranges gets the whole file, as RFC 9110 allows.
"""

import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class RangeServer:
    """Serves the files of `root` at ``url/<name>``; `sent` counts body bytes, `requests` the GETs."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.sent = 0
        self.requests = 0
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def count(self, sent: int) -> None:
        with self._lock:
            self.sent += sent
            self.requests += 1

    def reset(self) -> None:
        with self._lock:
            self.sent = self.requests = 0

    def __enter__(self) -> "RangeServer":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def _handler_for(server: RangeServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def _file(self) -> Path | None:
            path = (server.root / self.path.split("?")[0].lstrip("/")).resolve()
            return path if path.is_file() and server.root.resolve() in path.parents else None

        def do_HEAD(self) -> None:
            path = self._file()
            if path is None:
                self._missing()
                return
            self.send_response(200)
            self.send_header("Content-Length", str(path.stat().st_size))
            self.send_header("Accept-Ranges", "bytes")
            self.end_headers()

        def do_GET(self) -> None:
            path = self._file()
            if path is None:
                self._missing()
                return
            data = path.read_bytes()
            match = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
            if match:
                start = int(match.group(1))
                end = min(int(match.group(2)) if match.group(2) else len(data) - 1, len(data) - 1)
                if start >= len(data):
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(data)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body = data[start : end + 1]
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
            else:
                body = data
                self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Accept-Ranges", "bytes")
            self.end_headers()
            self.wfile.write(body)
            server.count(len(body))

        def _missing(self) -> None:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()

    return Handler
