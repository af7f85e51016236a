"""Run Python code in a child process whose JAX has N CPU devices.

`XLA_FLAGS=--xla_force_host_platform_device_count=N` only counts if it is set before JAX
starts, and the test session's JAX has long started with one device: multi-device tests
run their code in a child (its pid waited for), never by setting the flag for the suite.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
FORCE_FLAG = "--xla_force_host_platform_device_count"


def forced_env(n_devices: int) -> dict[str, str]:
    """This process's environment plus N forced CPU devices (and the repo on the path)."""
    env = dict(os.environ)
    flags = [f for f in env.get("XLA_FLAGS", "").split() if not f.startswith(FORCE_FLAG)]
    env["XLA_FLAGS"] = " ".join([*flags, f"{FORCE_FLAG}={n_devices}"])
    env["JAX_PLATFORMS"] = "cpu"
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p)
    return env


def run_forced(code: str, *, n_devices: int = 4, timeout_s: float = 600.0) -> dict:
    """Run `code` (which prints one JSON object as its last line) with N CPU devices.

    Returns:
        The JSON object the code printed last.
    """
    proc = subprocess.run(
        [sys.executable, "-c", code],
        env=forced_env(n_devices),
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
        cwd=REPO_ROOT,
    )
    assert proc.returncode == 0, f"child failed ({proc.returncode}):\n{proc.stderr[-4000:]}"
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run_cli_forced(
    args: list[str], *, n_devices: int = 4, timeout_s: float = 600.0
) -> subprocess.CompletedProcess:
    """`python -m ntscale ARGS` with N CPU devices; the finished process (rc not checked)."""
    return subprocess.run(
        [sys.executable, "-m", "ntscale", *args],
        env=forced_env(n_devices),
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
        cwd=REPO_ROOT,
    )
