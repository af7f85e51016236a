"""Submit ntscale runs to a Ray cluster as Ray jobs, and follow, query or stop them.

A submitted job's driver is the very same `ntscale embed ...` / `ntscale score ...` command
line a user would run locally, executed by Ray's job supervisor on the head node with
`--ray auto` (connect to the cluster the job runs in). This module only talks to the
cluster's dashboard through Ray's Job Submission SDK (HTTP, port 8265 by default); it
never starts Ray itself.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shlex
import socket
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from ntscale.errors import ClusterError, ConfigError
from ntscale.runner.submit_support import retry_transient, runtime_env_errors

logger = logging.getLogger(__name__)

DEFAULT_ADDRESS = "http://127.0.0.1:8265"
"""Dashboard address used when neither `--address` nor RAY_ADDRESS is given."""

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

RAY_COMMANDS = frozenset({"embed", "score", "example"})
"""ntscale sub-commands that run through the Ray executor and take `--ray ADDRESS`."""

TERMINAL = frozenset({"SUCCEEDED", "FAILED", "STOPPED"})
"""Job statuses after which nothing changes."""

TAIL_LINES = 20
"""How many of a failed job's last log lines an error message shows."""

_CONNECT_TIMEOUT_S = 5.0


@dataclass(frozen=True, kw_only=True, slots=True)
class JobSummary:
    """One row of `ntscale jobs list` / the answer of `job_status` (plain, printable)."""

    job_id: str
    status: str
    entrypoint: str
    message: str
    start_time: float | None
    end_time: float | None


@dataclass(frozen=True, kw_only=True, slots=True)
class SubmitConfig:
    """Settings of `ntscale submit` that a team keeps in a YAML file (`--config`).

    Command-line options override these. Example: cluster/submit.yaml.
    """

    address: str | None = None
    working_dir: str | None = None
    env_vars: Mapping[str, str] | None = None
    pip: Sequence[str] | None = None
    runtime_env: Mapping[str, Any] | None = None
    entrypoint_num_cpus: float | None = None
    entrypoint_num_gpus: float | None = None
    metadata: Mapping[str, str] | None = None


def load_submit_config(path: str | os.PathLike[str]) -> SubmitConfig:
    """Read a submission YAML; unknown keys are errors (a typo must not be ignored).

    Raises:
        ConfigError: the file is missing, is not a YAML mapping, or has unknown/bad keys.
    """
    import yaml

    try:
        with open(path, encoding="utf-8") as fh:
            data = yaml.safe_load(fh)
    except FileNotFoundError as err:
        raise ConfigError(f"{path}: submission config not found") from err
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from err
    data = {} if data is None else data
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of settings, got {type(data).__name__}")
    allowed = set(SubmitConfig.__dataclass_fields__)
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ConfigError(f"{path}: unknown key(s) {unknown}; valid keys: {sorted(allowed)}")
    for key in ("env_vars", "runtime_env", "metadata"):
        if data.get(key) is not None and not isinstance(data[key], dict):
            raise ConfigError(f"{path}: {key!r} must be a mapping, got {data[key]!r}")
    if data.get("pip") is not None and not isinstance(data["pip"], list):
        raise ConfigError(f"{path}: 'pip' must be a list of requirements, got {data['pip']!r}")
    return SubmitConfig(**data)


def resolve_address(address: str | None) -> str:
    """Return the dashboard URL to use: the argument, else RAY_ADDRESS, else the default.

    A bare `HOST:PORT` gets an `http://` scheme. Addresses meant for `ray.init` (`auto`,
    `ray://...`, a GCS `HOST:6379`) are not dashboard addresses; they are refused with a
    message that says which address the Job Submission API needs.

    Raises:
        ConfigError: the address is not an http(s) dashboard address.
    """
    chosen = address or os.environ.get("RAY_ADDRESS") or DEFAULT_ADDRESS
    chosen = chosen.strip()
    if chosen == "auto" or chosen.startswith("ray://"):
        raise ConfigError(
            f"address {chosen!r} is a Ray client/driver address; `ntscale submit` needs the "
            "cluster's dashboard URL, e.g. --address http://HEAD_IP:8265"
        )
    if "://" not in chosen:
        chosen = f"http://{chosen}"
    parsed = urlparse(chosen)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ConfigError(
            f"address {chosen!r} is not a dashboard URL; use --address http://HEAD_IP:8265"
        )
    return chosen.rstrip("/")


def is_loopback(address: str) -> bool:
    """True when a dashboard URL points at this machine's loopback interface."""
    host = urlparse(resolve_address(address)).hostname or ""
    return host == "localhost" or host == "::1" or host.startswith("127.")


def _unreachable(address: str, reason: object) -> ClusterError:
    return ClusterError(
        f"cannot reach the Ray dashboard at {address} ({reason}). Is the cluster up? Start a "
        "head with `ray start --head --dashboard-host 0.0.0.0 --dashboard-port 8265` (or "
        "`ray up cluster/aws-gpu.yaml`), forward port 8265 if it is remote "
        "(`ray dashboard cluster/aws-gpu.yaml`), and pass --address http://HEAD_IP:8265 "
        "or set RAY_ADDRESS"
    )


def _probe(address: str) -> None:
    """Fail fast (seconds, not the HTTP library's minutes) when nothing listens there."""
    parsed = urlparse(address)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        with socket.create_connection((parsed.hostname, port), timeout=_CONNECT_TIMEOUT_S):
            pass
    except OSError as err:
        raise _unreachable(address, err) from err


def auth_headers() -> dict[str, str]:
    """The Ray auth token header, when this machine has a token for the cluster.

    Ray 2.60 clusters may require a token (RAY_AUTH_MODE=token). Like Ray's own CLI, the
    token comes from RAY_AUTH_TOKEN, else the file RAY_AUTH_TOKEN_PATH, else
    ~/.ray/auth_token; RAY_AUTH_MODE=disabled sends none. A cluster without token auth
    ignores the header.
    """
    if os.environ.get("RAY_AUTH_MODE", "").lower() == "disabled":
        return {}
    token = os.environ.get("RAY_AUTH_TOKEN", "").strip()
    if not token:
        path = os.environ.get("RAY_AUTH_TOKEN_PATH") or os.path.expanduser("~/.ray/auth_token")
        try:
            with open(path, encoding="utf-8") as fh:
                token = fh.read().strip()
        except OSError:
            token = ""
    return {"Authorization": f"Bearer {token}"} if token else {}


def _auth_error(address: str, err: BaseException) -> ClusterError | None:
    text = str(err).splitlines()[0] if str(err) else type(err).__name__
    auth = type(err).__name__ == "AuthenticationError"
    if auth or "status code 401" in text or "status code 403" in text:
        return ClusterError(
            f"the Ray cluster at {address} refused this machine's credentials ({text.strip()}"
            "). It uses token authentication: copy its token (`ray get-auth-token` on the "
            "head) into RAY_AUTH_TOKEN or a file named by RAY_AUTH_TOKEN_PATH "
            "(default ~/.ray/auth_token)"
        )
    return None


def connect(address: str | None = None) -> Any:
    """Open a `JobSubmissionClient` on the cluster's dashboard.

    Args:
        address: dashboard URL (`http://HEAD:8265`); None means RAY_ADDRESS or the default.

    Returns:
        A connected `ray.job_submission.JobSubmissionClient`.

    Raises:
        ClusterError: nothing answers at the address, or it is not a Ray dashboard.
    """
    url = resolve_address(address)
    _probe(url)
    from ray.job_submission import JobSubmissionClient

    try:
        return JobSubmissionClient(url, headers=auth_headers())
    except Exception as err:
        refused = _auth_error(url, err)
        if refused is None and not isinstance(err, ConnectionError | RuntimeError | OSError):
            raise
        raise (refused or _unreachable(url, err)) from err


def build_entrypoint(args: Sequence[str], *, raw: bool = False, ray_address: str = "auto") -> str:
    """Turn `ntscale` arguments into the job's shell entrypoint.

    `embed` / `score` / `example` runs get `--ray auto` appended unless they already name a
    `--ray` address, so the job's driver uses the cluster it runs in instead of running
    everything on the head node.

    Args:
        args: the words after `--` (`embed --fasta ...`), or a whole command if `raw`.
        raw: run `args` as a shell command as is (e.g. `nvidia-smi`), not as ntscale.
        ray_address: the `--ray` value added to Ray-capable commands.

    Raises:
        ConfigError: no arguments, or a command that makes no sense inside a job.
    """
    words = [str(a) for a in args]
    if not words:
        raise ConfigError(
            "nothing to submit: give the ntscale command after `--`, "
            "e.g. `ntscale submit -- embed --fasta GENOME.fa --model NAME --out s3://...`"
        )
    if raw:
        return shlex.join(words)
    command = next((w for w in words if not w.startswith("-")), None)
    if command in ("submit", "jobs"):
        raise ConfigError(
            f"`ntscale {command}` cannot run inside a Ray job; submit `embed` or `score`"
        )
    ray_values = [
        w.split("=", 1)[1] if w.startswith("--ray=") else (words[i + 1 : i + 2] or [""])[0]
        for i, w in enumerate(words)
        if w == "--ray" or w.startswith("--ray=")
    ]
    if "local" in ray_values:
        raise ConfigError(
            "`--ray local` in a submitted job would start a private Ray on the head node and "
            "leave the cluster's GPUs idle; leave --ray out (`ntscale submit` adds --ray auto)"
        )
    if command in RAY_COMMANDS and not ray_values:
        words += ["--ray", ray_address]
    return shlex.join(["ntscale", *words])


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
        env_vars: extra environment variables (override the defaults).
        pip: packages to pip-install for the job (e.g. `ntscale[gpu]==0.1.0`); usually the
            cluster image already has ntscale and this stays empty.
        base: a runtime_env mapping from a `--config` file, merged under the arguments.
        address: the dashboard URL the job goes to; a loopback one adds LOOPBACK_ENV_VARS.

    Returns:
        A dict for `JobSubmissionClient.submit_job(runtime_env=...)`.
    """
    env: dict[str, Any] = dict(base or {})
    defaults = dict(JOB_ENV_VARS)
    if address is not None and is_loopback(address):
        defaults.update(LOOPBACK_ENV_VARS)
    merged_vars = {**defaults, **dict(env.get("env_vars") or {}), **dict(env_vars or {})}
    env["env_vars"] = {str(k): str(v) for k, v in merged_vars.items()}
    if working_dir is not None:
        if "://" not in working_dir and not os.path.isdir(working_dir):
            raise ConfigError(f"--working-dir {working_dir!r} is not a folder")
        env["working_dir"] = working_dir if "://" in working_dir else os.path.abspath(working_dir)
        env.setdefault("excludes", list(DEFAULT_EXCLUDES))
    if pip:
        env["pip"] = list(pip)
    return env


def submit_job(
    address: str | None,
    entrypoint_args: list[str],
    *,
    runtime_env: dict[str, Any],
    submission_id: str | None = None,
    raw: bool = False,
    entrypoint_num_cpus: float | None = None,
    entrypoint_num_gpus: float | None = None,
    metadata: Mapping[str, str] | None = None,
) -> str:
    """Submit one ntscale command as a Ray job and return its id.

    Args:
        address: dashboard URL; None means RAY_ADDRESS or http://127.0.0.1:8265.
        entrypoint_args: ntscale arguments (`["embed", "--fasta", ...]`), see `build_entrypoint`.
        runtime_env: from `build_runtime_env`.
        submission_id: a job id of your choice (must be new); Ray makes one otherwise.
        raw: `entrypoint_args` is a whole shell command, not ntscale arguments.
        entrypoint_num_cpus: CPUs reserved for the driver (0 lets it share the head).
        entrypoint_num_gpus: GPUs reserved for the driver (keep 0: actors hold the GPUs).
        metadata: string labels stored with the job.

    Raises:
        ClusterError: the cluster is unreachable or refuses the job.
    """
    entrypoint = build_entrypoint(entrypoint_args, raw=raw)
    client = connect(address)
    try:
        # A head that is still starting has no job agent yet: retry with a bounded back-off.
        job_id = retry_transient(
            lambda: client.submit_job(
                entrypoint=entrypoint,
                runtime_env=runtime_env,
                submission_id=submission_id,
                entrypoint_num_cpus=entrypoint_num_cpus,
                entrypoint_num_gpus=entrypoint_num_gpus,
                metadata=dict(metadata or {}),
            )
        )
    except Exception as err:
        refused = _auth_error(client.get_address(), err)
        if refused is None and not isinstance(err, RuntimeError | ValueError | ConnectionError):
            raise
        raise refused or ClusterError(
            f"the cluster at {client.get_address()} refused the job {entrypoint!r}: {err}"
        ) from err
    logger.info("submitted job %s: %s", job_id, entrypoint)
    return job_id


def _known(client: Any, job_id: str | None, action: Callable[[], Any]) -> Any:
    """Run one SDK call; turn its failures into ClusterErrors that say what to do."""
    try:
        return action()
    except Exception as err:
        refused = _auth_error(client.get_address(), err)
        if refused is not None:
            raise refused from err
        if not isinstance(err, RuntimeError):
            raise
        if "does not exist" in str(err) or "404" in str(err):
            raise ClusterError(
                f"no job {job_id!r} on the cluster at {client.get_address()}; "
                "list the jobs with `ntscale jobs list`"
            ) from err
        raise ClusterError(f"job {job_id!r}: {err}") from err


def _summary(details: Any) -> JobSummary:
    status = getattr(details.status, "value", str(details.status))
    return JobSummary(
        job_id=details.submission_id or details.job_id or "?",
        status=str(status),
        entrypoint=details.entrypoint or "",
        message=details.message or "",
        start_time=None if details.start_time is None else details.start_time / 1000.0,
        end_time=None if details.end_time is None else details.end_time / 1000.0,
    )


def job_status(address: str | None, job_id: str) -> JobSummary:
    """Return a job's status (PENDING, RUNNING, SUCCEEDED, FAILED, STOPPED) and details.

    Raises:
        ClusterError: the cluster is unreachable or has no such job.
    """
    client = connect(address)
    return _summary(_known(client, job_id, lambda: client.get_job_info(job_id)))


def list_jobs(address: str | None) -> list[JobSummary]:
    """Return every job the cluster knows of, oldest first."""
    client = connect(address)
    rows = [_summary(d) for d in _known(client, None, client.list_jobs)]
    return sorted(rows, key=lambda r: r.start_time or 0.0)


def job_logs(address: str | None, job_id: str) -> str:
    """Return a job's whole log so far (its driver's stdout and stderr)."""
    client = connect(address)
    return _known(client, job_id, lambda: client.get_job_logs(job_id))


def stop_job(address: str | None, job_id: str, *, wait_s: float = 30.0) -> str:
    """Ask Ray to stop a job and wait (up to `wait_s`) until it is no longer running.

    Returns:
        The job's status afterwards (STOPPED, or the terminal status it had already).
    """
    client = connect(address)
    _known(client, job_id, lambda: client.stop_job(job_id))
    return wait_until_done(client, job_id, timeout_s=wait_s)


def wait_until_done(client: Any, job_id: str, *, timeout_s: float | None = None) -> str:
    """Poll a job until its status is terminal (or `timeout_s` passes); return the status."""
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    delay = 0.2
    while True:
        status = _known(client, job_id, lambda: client.get_job_status(job_id))
        status = str(getattr(status, "value", status))
        if status in TERMINAL or (deadline is not None and time.monotonic() >= deadline):
            return status
        time.sleep(delay)
        delay = min(delay * 1.5, 2.0)


async def _tail(client: Any, job_id: str, emit: Callable[[str], None]) -> None:
    async for chunk in client.tail_job_logs(job_id):
        emit(chunk)


def follow_logs(
    address: str | None, job_id: str, emit: Callable[[str], None], *, poll_s: float = 1.0
) -> str:
    """Stream a job's logs to `emit` until the job ends; return its final status.

    Uses the SDK's websocket tail (`tail_job_logs`); if that is unavailable (a proxy that
    drops websockets), falls back to polling `get_job_logs` and emitting what is new.
    """
    client = connect(address)
    _known(client, job_id, lambda: client.get_job_status(job_id))
    emitted = [0]

    def counted(text: str) -> None:
        emitted[0] += len(text)
        emit(text)

    try:
        asyncio.run(_tail(client, job_id, counted))
    except Exception as err:  # the websocket path failed: poll instead
        logger.info("log tail for %s failed (%s); polling the logs", job_id, err)
        seen = emitted[0]
        while True:
            status = wait_until_done(client, job_id, timeout_s=0)
            text = client.get_job_logs(job_id)
            if len(text) > seen:
                emit(text[seen:])
                seen = len(text)
            if status in TERMINAL:
                break
            time.sleep(poll_s)
    return wait_until_done(client, job_id, timeout_s=60.0)


def failure_message(address: str | None, job_id: str, *, n_lines: int = TAIL_LINES) -> str:
    """Describe a job that did not succeed: its status, Ray's whole message, its last log
    lines and, when its runtime environment failed, the runtime-env agent's ERROR lines."""
    client = connect(address)
    info = _summary(_known(client, job_id, lambda: client.get_job_info(job_id)))
    logs = _known(client, job_id, lambda: client.get_job_logs(job_id))
    tail = [line for line in logs.splitlines() if line.strip()][-n_lines:]
    lines = [line for line in info.message.splitlines() if line.strip()] or ["no reason given"]
    text = f"job {job_id} {info.status}: {lines[0]}\n"
    text += "".join(f"  > {line}\n" for line in lines[1:])
    text += f"entrypoint: {info.entrypoint}\n"
    if "runtime_env" in info.message or "runtime env" in info.message.lower():
        agent = runtime_env_errors(client.get_address(), auth_headers())
        if agent:
            text += "runtime-env agent log (ERROR lines):\n"
            text += "".join(f"  ! {line}\n" for line in agent)
    body = "\n".join(f"  | {line}" for line in tail) or "  | (the job wrote no log lines)"
    return (
        f"{text}last {len(tail)} log lines:\n{body}\n"
        f"full logs: ntscale jobs logs {job_id} --address {client.get_address()}"
    )
