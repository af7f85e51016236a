"""`ntscale jobs ...` and `ntscale submit` without a cluster: fast, one-line errors (exit 2)
that say which address was tried and how to reach a cluster; nothing waits for minutes."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest
from cli_helpers import invoke

JOB_COMMANDS = [
    ["jobs", "status", "raysubmit_x"],
    ["jobs", "logs", "raysubmit_x"],
    ["jobs", "logs", "raysubmit_x", "--follow"],
    ["jobs", "stop", "raysubmit_x"],
    ["jobs", "list"],
]


@pytest.fixture
def closed_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("args", JOB_COMMANDS, ids=lambda a: " ".join(a[1:]))
def test_jobs_without_a_cluster_fail_fast_naming_the_address(
    args: list[str], closed_port: int
) -> None:
    url = f"http://127.0.0.1:{closed_port}"
    t0 = time.monotonic()
    r = invoke(*args, "--address", url)
    assert time.monotonic() - t0 < 15
    assert r.code == 2
    line = r.error_line()
    assert line.startswith(f"error: cannot reach the Ray dashboard at {url} (")
    assert "ray start --head" in line and "RAY_ADDRESS" in line  # how to get one
    assert r.out == ""


def test_jobs_take_the_address_from_ray_address(
    closed_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RAY_ADDRESS", f"127.0.0.1:{closed_port}")  # HOST:PORT: http:// added
    r = invoke("jobs", "list")
    assert r.code == 2
    assert f"cannot reach the Ray dashboard at http://127.0.0.1:{closed_port} (" in r.error_line()
    # the -a short form wins over the variable
    r = invoke("jobs", "list", "-a", "http://127.0.0.1:1")
    assert "at http://127.0.0.1:1 (" in r.error_line()


@pytest.mark.parametrize("address", ["auto", "ray://head:10001"])
def test_a_ray_client_address_is_refused_with_the_dashboard_form(address: str) -> None:
    r = invoke("jobs", "status", "raysubmit_x", "--address", address)
    assert r.code == 2
    line = r.error_line()
    assert f"address {address!r} is a Ray client/driver address" in line
    assert "--address http://HEAD_IP:8265" in line


def test_jobs_alone_lists_its_subcommands() -> None:
    r = invoke("jobs")
    # click's "no arguments: show the help" exits 2 (a usage error), like bare `ntscale`
    assert r.code == 2
    for sub in ("status", "logs", "stop", "list"):
        assert f"│ {sub} " in r.out
    assert invoke().code == 2


def test_jobs_status_needs_a_job_id() -> None:
    r = invoke("jobs", "status")
    assert r.code == 2 and "Missing argument" in r.err


@pytest.mark.parametrize(
    ("text", "expect"),
    [
        ("adress: http://h:8265\n", "unknown setting(s) adress"),
        ("pip: numpy\n", "'pip' must be a list of requirements"),
        ("env_vars: [A]\n", "'env_vars' must be a mapping"),
        ("a: [1\n", "not valid YAML"),
    ],
    ids=["unknown-key", "pip", "env_vars", "not-yaml"],
)
def test_submit_config_errors_name_the_file_and_key(tmp_path: Path, text: str, expect: str) -> None:
    cfg = tmp_path / "submit.yaml"
    cfg.write_text(text)
    r = invoke("submit", "--config", cfg, "--", "embed", "--fasta", "/data/g.fa")
    assert r.code == 2
    line = r.error_line()
    # the one settings loader (ntscale.config): the reason, the key and the file on one line
    assert expect in line and f"'{cfg}'" in line


def test_submit_config_that_does_not_exist(tmp_path: Path) -> None:
    r = invoke("submit", "--config", tmp_path / "none.yaml", "--", "embed")
    assert r.code == 2
    assert r.error_line() == f"error: config file '{tmp_path / 'none.yaml'}' does not exist"


def test_submit_address_from_its_config_file(tmp_path: Path, closed_port: int) -> None:
    cfg = tmp_path / "submit.yaml"
    cfg.write_text(f"address: http://127.0.0.1:{closed_port}\n")
    r = invoke("submit", "--config", cfg, "--", "embed", "--fasta", "/data/g.fa",
               "--out", "/data/o.zarr")  # fmt: skip
    assert r.code == 2
    assert f"cannot reach the Ray dashboard at http://127.0.0.1:{closed_port}" in r.error_line()
