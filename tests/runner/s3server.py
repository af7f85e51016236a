"""A real S3-compatible HTTP server on 127.0.0.1 for tests: moto in server mode.

The store code talks to it through its real client path (zarr -> fsspec -> s3fs ->
aiobotocore -> HTTP), configured the way a MinIO or Ceph user configures it: the
AWS_ENDPOINT_URL environment variable. The server runs as a subprocess stopped by its pid.

Two things differ from `python -m moto.server`, both so that tests in parallel (pytest-xdist
workers, racing threads) see what a real S3 gives them:
- the server binds port 0 itself and prints the port it got: a port picked free beforehand
  could be taken by another worker's server before this one binds it;
- requests are applied one at a time (a lock around moto's app; connections are still
  served by threads). S3 applies a conditional write (`If-None-Match: *`) atomically; moto
  checks the condition and then writes, so two racing claims could both be created.
"""

from __future__ import annotations

import select
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

BUCKET = "ntscale-test"


@dataclass(frozen=True)
class S3Server:
    endpoint: str
    bucket: str
    env: dict[str, str]  # what a client (or a Ray node) needs to reach it

    def url(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def filesystem(self):
        import s3fs

        return s3fs.S3FileSystem(
            endpoint_url=self.endpoint, key="testing", secret="testing", skip_instance_cache=True
        )

    def objects(self, key: str) -> dict[str, bytes]:
        """Every object under `s3://bucket/key/`, by path relative to it."""
        fs = self.filesystem()
        root = f"{self.bucket}/{key}"
        return {p[len(root) + 1 :]: fs.cat_file(p) for p in sorted(fs.find(root))}


# moto's own server (moto.server.main) with the two changes above
_LAUNCH = """
import os, threading
from werkzeug.serving import make_server
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication, MotoRequestHandler, create_backend_app)
app = DomainDispatcherApplication(create_backend_app)
app.debug = True
lock = threading.Lock()
def one_at_a_time(environ, start_response):
    with lock:
        return list(app(environ, start_response))
server = make_server("127.0.0.1", 0, one_at_a_time, threaded=True,
                     request_handler=MotoRequestHandler)
os.environ["MOTO_PORT"] = str(server.port)
print(server.port, flush=True)
server.serve_forever()
"""


def _read_port(proc: subprocess.Popen, timeout_s: float) -> int:
    """The port the server printed, or RuntimeError if it ended or said nothing in time."""
    ready, _, _ = select.select([proc.stdout], [], [], timeout_s)
    line = proc.stdout.readline() if ready else ""
    if not line.strip().isdigit():
        raise RuntimeError(f"moto S3 server did not start (rc {proc.poll()}, said {line!r})")
    return int(line)


@contextmanager
def running_s3(timeout_s: float = 60.0) -> Iterator[S3Server]:
    """Start moto's S3 server on a free loopback port, create the bucket, stop it after."""
    import s3fs

    # s3fs keeps one filesystem per constructor arguments; the endpoint comes from the
    # environment, so an instance made for an earlier server (another test's, now
    # stopped) would be reused: start and end with none cached
    s3fs.S3FileSystem.clear_instance_cache()
    proc = subprocess.Popen(
        [sys.executable, "-c", _LAUNCH, "ntscale-test-moto-s3"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        deadline = time.monotonic() + timeout_s
        endpoint = f"http://127.0.0.1:{_read_port(proc, timeout_s)}"
        while True:
            try:
                with urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=2):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"moto S3 server did not start on {endpoint}") from None
                time.sleep(0.2)
        env = {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
        server = S3Server(endpoint=endpoint, bucket=BUCKET, env=env)
        server.filesystem().mkdir(BUCKET)
        yield server
    finally:
        s3fs.S3FileSystem.clear_instance_cache()
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
