"""The Ray runtime environment of a submitted job: env vars, shipped code, pip packages."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from ntscale.errors import ConfigError
from ntscale.submit.address import is_loopback

JOB_ENV_VARS: dict[str, str] = {
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_OVERRIDE_JOB_RUNTIME_ENV": "1",
    "NTSCALE_LOG_LEVEL": "INFO",
}
"""Environment every job gets.

NTSCALE_LOG_LEVEL=INFO: the job's log (what `ntscale jobs logs` shows) carries the run's
progress, actor and summary lines, which a terminal run only shows with -v.

No usage telemetry. RAY_OVERRIDE_JOB_RUNTIME_ENV=1: the job's driver is a plain ntscale
command whose `ray.init(runtime_env=...)` may name some of the same env vars as the job;
without it Ray refuses to merge the two ("Failed to merge the Job's runtime env").
"""

LOOPBACK_ENV_VARS: dict[str, str] = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
"""Added for a cluster on 127.0.0.1: keeps every Ray process of the job on loopback.

Not set for a real multi-node cluster: there the variable's purpose (disable multi-node
Ray, use 127.0.0.1 as this node's address) is the opposite of what the job needs.
"""

DEFAULT_EXCLUDES: tuple[str, ...] = (
    ".git",
    ".venv",
    "**/__pycache__",
    "*.zarr",
    ".pytest_cache",
    ".ruff_cache",
)
"""Paths never uploaded with `--working-dir` (environments, caches, output stores)."""


def build_runtime_env(
    *,
    working_dir: str | None = None,
    env_vars: Mapping[str, str] | None = None,
    pip: Sequence[str] | None = None,
    base: Mapping[str, Any] | None = None,
    address: str | None = None,
) -> dict[str, Any]:
    """Assemble the job's Ray runtime environment.

    Args:
        working_dir: a local folder (or a remote zip URL) to ship to every node; the job
            runs in it and its Python packages shadow the installed ones.
        env_vars: extra environment variables (override the defaults and `base`'s).
        pip: packages to pip-install for the job (e.g. `ntscale[gpu]==0.1.0`); usually the
            cluster image already has ntscale and this stays empty.
        base: a runtime_env mapping from a `--config` file, merged under the arguments.
        address: the dashboard URL the job goes to; a loopback one adds LOOPBACK_ENV_VARS.

    Returns:
        A dict for `JobSubmissionClient.submit_job(runtime_env=...)`.

    Raises:
        ConfigError: `working_dir` is neither a local folder nor a URL.
    """
    env: dict[str, Any] = dict(base or {})
    defaults = dict(JOB_ENV_VARS)
    if address is not None and is_loopback(address):
        defaults.update(LOOPBACK_ENV_VARS)
    merged_vars = {**defaults, **dict(env.get("env_vars") or {}), **dict(env_vars or {})}
    env["env_vars"] = {str(k): str(v) for k, v in merged_vars.items()}
    if working_dir is not None:
        remote = "://" in working_dir
        if not remote and not os.path.isdir(working_dir):
            raise ConfigError(f"--working-dir {working_dir!r} is not a folder")
        env["working_dir"] = working_dir if remote else os.path.abspath(working_dir)
        env.setdefault("excludes", list(DEFAULT_EXCLUDES))
    if pip:
        env["pip"] = list(pip)
    return env
