"""Why a job did not succeed, in one message: Ray's reason, the agent's errors, the log tail."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from ntscale.submit.agent_logs import runtime_env_errors
from ntscale.submit.auth import auth_headers
from ntscale.submit.client import call, connect
from ntscale.submit.jobs import JobSummary, summarize

TAIL_LINES = 20
"""How many of a failed job's last log lines an error message shows."""


def log_tail(logs: str, n_lines: int = TAIL_LINES) -> list[str]:
    """The last `n_lines` non-blank lines of a job's log."""
    lines = [line for line in logs.splitlines() if line.strip()]
    return lines[-n_lines:] if n_lines > 0 else []


def mentions_runtime_env(message: str) -> bool:
    """True when Ray's job message says the runtime environment failed (agent log helps)."""
    return "runtime_env" in message or "runtime env" in message.lower()


def format_failure(
    info: JobSummary,
    logs: str,
    *,
    address: str,
    agent_lines: Sequence[str] = (),
    n_lines: int = TAIL_LINES,
) -> str:
    """The message for a job that did not succeed (pure: the caller fetched the parts).

    First line: the job, its status and the first line of Ray's message; then the rest of
    that message (`  > `), the entrypoint, the agent's ERROR lines (`  ! `), the last
    `n_lines` log lines (`  | `) and the command that shows the whole log.
    """
    reason = [line for line in info.message.splitlines() if line.strip()] or ["no reason given"]
    text = f"job {info.job_id} {info.status}: {reason[0]}\n"
    text += "".join(f"  > {line}\n" for line in reason[1:])
    text += f"entrypoint: {info.entrypoint}\n"
    if agent_lines:
        text += "runtime-env agent log (ERROR lines):\n"
        text += "".join(f"  ! {line}\n" for line in agent_lines)
    tail = log_tail(logs, n_lines)
    body = "\n".join(f"  | {line}" for line in tail) or "  | (the job wrote no log lines)"
    return (
        f"{text}last {len(tail)} log lines:\n{body}\n"
        f"full logs: ntscale jobs logs {info.job_id} --address {address}"
    )


def settled_logs(
    read: Callable[[], str], *, wait_s: float = 10.0, step_s: float = 0.5, quiet_reads: int = 4
) -> str:
    """A finished job's log once it has stopped growing for `quiet_reads` reads in a row
    (2 s at the defaults), or the last read after `wait_s`: Ray can report FAILED before the
    lines the job printed reach the log, and on a loaded 2-core machine the log stayed the
    same for one 0.5 s step and then grew (a job's 30 printed lines missing from its tail)."""
    logs = read()
    same = 0
    deadline = time.monotonic() + wait_s
    while same < quiet_reads and time.monotonic() < deadline:
        time.sleep(step_s)
        again = read()
        same = same + 1 if again == logs else 0
        logs = again
    return logs


def failure_message(address: str | None, job_id: str, *, n_lines: int = TAIL_LINES) -> str:
    """Describe a job that did not succeed: its status, Ray's whole message, its last log
    lines and, when its runtime environment failed, the runtime-env agent's ERROR lines."""
    client = connect(address)
    info = summarize(call(client, job_id, lambda: client.get_job_info(job_id)))
    logs = settled_logs(lambda: call(client, job_id, lambda: client.get_job_logs(job_id)))
    url = client.get_address()
    agent = runtime_env_errors(url, auth_headers()) if mentions_runtime_env(info.message) else []
    return format_failure(info, logs, address=url, agent_lines=agent, n_lines=n_lines)
