"""A cluster's jobs: status, list, logs (whole or followed), stop.

Every function takes the dashboard address (None: RAY_ADDRESS or the default) and opens
its own client, so the CLI commands stay one call each.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ntscale.submit.client import call, connect

logger = logging.getLogger(__name__)

TERMINAL = frozenset({"SUCCEEDED", "FAILED", "STOPPED"})
"""Job statuses after which nothing changes."""


@dataclass(frozen=True, kw_only=True, slots=True)
class JobSummary:
    """One row of `ntscale jobs list` / the answer of `job_status` (plain, printable).

    Times are Unix seconds (Ray reports milliseconds); None while not started/ended.
    """

    job_id: str
    status: str
    entrypoint: str
    message: str
    start_time: float | None
    end_time: float | None


def summarize(details: Any) -> JobSummary:
    """A `JobSummary` of the SDK's `JobDetails` (its status enum as its name)."""
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
    return summarize(call(client, job_id, lambda: client.get_job_info(job_id)))


def list_jobs(address: str | None) -> list[JobSummary]:
    """Return every job the cluster knows of, oldest first (not started yet: first)."""
    client = connect(address)
    rows = [summarize(d) for d in call(client, None, client.list_jobs)]
    return sorted(rows, key=lambda r: r.start_time or 0.0)


def job_logs(address: str | None, job_id: str) -> str:
    """Return a job's whole log so far (its driver's stdout and stderr)."""
    client = connect(address)
    return call(client, job_id, lambda: client.get_job_logs(job_id))


def stop_job(address: str | None, job_id: str, *, wait_s: float = 30.0) -> str:
    """Ask Ray to stop a job and wait (up to `wait_s`) until it is no longer running.

    Returns:
        The job's status afterwards (STOPPED, or the terminal status it had already).
    """
    client = connect(address)
    call(client, job_id, lambda: client.stop_job(job_id))
    return wait_until_done(client, job_id, timeout_s=wait_s)


def wait_until_done(client: Any, job_id: str, *, timeout_s: float | None = None) -> str:
    """Poll a job until its status is terminal (or `timeout_s` passes); return the status."""
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    delay = 0.2
    while True:
        status = call(client, job_id, lambda: client.get_job_status(job_id))
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
    call(client, job_id, lambda: client.get_job_status(job_id))
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
