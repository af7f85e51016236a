"""Object-store set-up errors are the user's to fix: one line naming the endpoint or the
credential sources, rc 2 (not an "unexpected ... please report it")."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

from ntscale.store.backend import CREDENTIAL_SOURCES, cloud_setup_error


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens once it is closed


def _info(url: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    return subprocess.run(
        [sys.executable, "-m", "ntscale", "info", url],
        capture_output=True, text=True, timeout=300, env={**base, **env},
    )  # fmt: skip


@pytest.mark.slow
def test_an_unreachable_endpoint_is_one_line_naming_it() -> None:
    endpoint = f"http://127.0.0.1:{_closed_port()}"
    # one botocore attempt: the same error, without ~6 s of retries against a closed port
    r = _info("s3://bucket/run.zarr", {"AWS_ENDPOINT_URL": endpoint, "AWS_MAX_ATTEMPTS": "1",
              "AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s"})  # fmt: skip
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith(
        f"error: cannot reach the object store endpoint {endpoint} (AWS_ENDPOINT_URL): "
    )
    assert "unexpected" not in r.stderr


@pytest.mark.slow
def test_no_credentials_is_one_line_naming_the_sources(tmp_path) -> None:
    env = {
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{_closed_port()}",
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "HOME": str(tmp_path),
    }
    r = _info("s3://bucket/run.zarr", env)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("error: no credentials for the object store (")
    assert lines[0].endswith(f"looked in: {CREDENTIAL_SOURCES}")


def test_setup_errors_are_found_anywhere_in_the_chain(monkeypatch) -> None:
    class EndpointConnectionError(Exception):
        def __init__(self, url: str) -> None:
            super().__init__(f"Could not connect to {url}")
            self.kwargs = {"endpoint_url": url}

    class NoCredentialsError(Exception):
        pass

    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://minio.lan:9000")
    try:
        try:
            raise EndpointConnectionError("http://minio.lan:9000/b/k/zarr.json")
        except EndpointConnectionError as inner:
            raise OSError("wrapped") from inner
    except OSError as outer:
        got = cloud_setup_error(outer)
    assert got is not None and got.exit_code == 2
    assert str(got).startswith("cannot reach the object store endpoint http://minio.lan:9000 "
                               "(AWS_ENDPOINT_URL): ")  # fmt: skip
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    assert "endpoint https://s3.example:443: " in str(
        cloud_setup_error(EndpointConnectionError("https://s3.example:443/b/k"))
    )
    assert "looked in: AWS_ACCESS_KEY_ID" in str(cloud_setup_error(NoCredentialsError("none")))
    assert cloud_setup_error(ValueError("something else")) is None
