"""Real HTTP servers on 127.0.0.1 for the download tests: a plain file server and a minimal Hugging Face Hub.

Both run ``http.server.ThreadingHTTPServer`` in a thread and record every request, so a test can tell "served from
the cache" (no new request) from "downloaded again". Nothing is mocked: the clients under test (torch.hub's urllib,
huggingface_hub's HTTP client) talk to these over real sockets.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

COMMIT = "0123456789abcdef0123456789abcdef01234567"  # the Hub's X-Repo-Commit for every file served


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
        pass

    def do_HEAD(self) -> None:
        self._answer(body=False)

    def do_GET(self) -> None:
        self._answer(body=True)

    def _answer(self, body: bool) -> None:
        self.server.requests.append((self.command, self.path))
        if self.path in self.server.redirects:  # as GitHub release links answer: 302 to the storage host
            self.send_response(302)
            self.send_header("Location", self.server.redirects[self.path])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        found = self.server.lookup(self.path)
        if found is None:
            self.send_response(404)
            if self.server.hub:  # how the Hub says "repo exists, file does not"
                self.send_header("X-Error-Code", "EntryNotFound")
                self.send_header("X-Repo-Commit", COMMIT)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        key, data = found
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(data)))
        if self.server.hub:
            self.send_header("X-Repo-Commit", COMMIT)
            self.send_header("ETag", f'"{hashlib.sha256(data).hexdigest()}"')
        self.end_headers()
        if not body:
            return
        if key in self.server.cut:  # announce the whole file, send half, hang up
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(data)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, files: dict[str, bytes], cut: set[str], hub: bool, redirects: dict[str, str]) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.files, self.cut, self.hub, self.redirects = files, cut, hub, redirects
        self.requests: list[tuple[str, str]] = []

    def lookup(self, path: str) -> tuple[str, bytes] | None:
        path = path.split("?", 1)[0]
        if self.hub:  # /{org}/{name}/resolve/{revision}/{file} -> "{org}/{name}/{file}"
            parts = path.lstrip("/").split("/")
            if len(parts) < 5 or parts[2] != "resolve":
                return None
            path = "/".join(parts[:2] + parts[4:])
        return (path, self.files[path]) if path in self.files else None


class FileServer:
    """``with FileServer({"/w.bin": data}) as s: s.url("/w.bin")``; ``hub=True`` answers like the Hub's
    ``/{repo}/resolve/{rev}/{file}`` with keys ``"org/name/file"``; paths in ``cut`` are sent half and closed;
    ``redirects`` maps a path to the URL a 302 sends the client to."""

    def __init__(
        self,
        files: dict[str, bytes],
        *,
        cut: Iterable[str] = (),
        hub: bool = False,
        redirects: dict[str, str] | None = None,
    ) -> None:
        self._server = _Server(dict(files), set(cut), hub, dict(redirects or {}))
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def requests(self) -> list[tuple[str, str]]:
        return self._server.requests

    @property
    def cut(self) -> set[str]:
        return self._server.cut

    @property
    def base(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def url(self, path: str) -> str:
        return self.base + path

    def __enter__(self) -> FileServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)
