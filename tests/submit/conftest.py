"""Fixtures for the Ray Jobs client tests: one real Ray head on 127.0.0.1 per test module.

The head comes from tests/cluster/raytest.py, the one helper that starts (and stops, by pid)
test clusters.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "cluster"))

from raytest import VENV_BIN, RayHead, start_head  # noqa: E402


@pytest.fixture(scope="module")
def ray_head() -> Iterator[RayHead]:
    """A Ray head with the job API on loopback; only its own processes are stopped after."""
    head = start_head(num_cpus=2)
    try:
        yield head
    finally:
        head.stop()


@pytest.fixture()
def head_env(ray_head: RayHead, monkeypatch) -> RayHead:
    """In-process library calls authenticate like the CLI processes (the head's token)."""
    for key in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN_PATH"):
        monkeypatch.setenv(key, ray_head.env[key])
    monkeypatch.delenv("RAY_AUTH_TOKEN", raising=False)
    return ray_head


@pytest.fixture()
def run_cli(ray_head: RayHead):
    """Run the installed `ntscale` console script (a real client process) against the head."""

    def run(*args: str, timeout: float = 120.0, env: dict[str, str] | None = None):
        full_env = {**ray_head.env, **(env or {})}
        return subprocess.run(
            [str(VENV_BIN / "ntscale"), *args],
            env=full_env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            cwd=os.getcwd(),
        )

    return run
