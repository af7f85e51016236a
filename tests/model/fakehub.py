"""A tiny Hugging Face hub on 127.0.0.1 for download tests: real HTTP, files from a folder.

It answers what `huggingface_hub.hf_hub_download` asks (HEAD/GET of
/{owner}/{repo}/resolve/{revision}/{path}, with commit and ETag headers, byte ranges for
resumed downloads, optionally a connection dropped half-way) and records each request, so
tests can check what went over the wire.
"""

from __future__ import annotations

import hashlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

COMMIT = "fedcba9876543210fedcba9876543210fedcba98"


class FakeHub:
    """Serve `repos` ({repo id: folder}) until `close()`; `url` is the endpoint."""

    def __init__(self, repos: dict[str, Path], *, drop_once: tuple[str, ...] = ()) -> None:
        self.repos = repos
        # files (path in the repo) whose first GET stops half-way: a dropped connection
        self.drop_once = set(drop_once)
        self.requests: list[tuple[str, str, str | None]] = []  # (method, path, Range)
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def do_HEAD(self) -> None:  # noqa: N802 (http.server's naming)
                hub._answer(self, body=False)

            def do_GET(self) -> None:  # noqa: N802
                hub._answer(self, body=True)

            def log_message(self, *args: object) -> None:  # keep test output clean
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()

    def _file(self, path: str) -> Path | None:
        parts = path.split("?")[0].strip("/").split("/")
        if len(parts) < 5 or parts[2] != "resolve":
            return None
        folder = self.repos.get("/".join(parts[:2]))
        f = folder / "/".join(parts[4:]) if folder else None
        return f if f is not None and f.is_file() else None

    def _answer(self, h: BaseHTTPRequestHandler, *, body: bool) -> None:
        rng = h.headers.get("Range")
        self.requests.append((h.command, h.path, rng))
        f = self._file(h.path)
        if f is None:
            h.send_response(404)
            h.send_header("X-Error-Code", "EntryNotFound")
            h.send_header("Content-Length", "0")
            h.end_headers()
            return
        data = f.read_bytes()
        start = int(rng.removeprefix("bytes=").split("-")[0]) if rng else 0
        h.send_response(206 if start else 200)
        h.send_header("X-Repo-Commit", COMMIT)
        h.send_header("ETag", '"' + hashlib.sha256(data).hexdigest() + '"')
        h.send_header("Content-Length", str(len(data) - start))
        if start:
            h.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        h.end_headers()
        if not body:
            return
        name = h.path.split("/resolve/", 1)[1].split("/", 1)[1]
        if name in self.drop_once:
            self.drop_once.discard(name)
            h.wfile.write(data[start : start + (len(data) - start) // 2])
            h.wfile.flush()
            h.close_connection = True
            return
        h.wfile.write(data[start:])
