"""The Ray Jobs client: submit ntscale runs to a Ray cluster as jobs; follow, query, stop them.

A submitted job's driver is the very same `ntscale embed ...` / `ntscale score ...` command
line a user would run locally, executed by Ray's job supervisor on the head node with
`--ray auto` (the cluster the job runs in). This package only talks to the cluster's
dashboard (Ray's Job Submission SDK and log API, HTTP port 8265 by default); it never
starts Ray and runs no work units: that is `ntscale.runner`.

Modules: settings (SubmitConfig from YAML + flags), address (dashboard URL), auth (token
header), client (SDK connection and its errors), entrypoint, runtime_env, submission (one
resolved Submission, sent once), retry (a head still starting), jobs (status, list, logs,
stop, follow), failure and agent_logs (why a job failed).
"""

from ntscale.submit.address import DEFAULT_ADDRESS, is_loopback, resolve_address
from ntscale.submit.auth import auth_headers
from ntscale.submit.client import connect
from ntscale.submit.entrypoint import build_entrypoint
from ntscale.submit.failure import failure_message
from ntscale.submit.jobs import (
    TERMINAL,
    JobSummary,
    follow_logs,
    job_logs,
    job_status,
    list_jobs,
    stop_job,
    wait_until_done,
)
from ntscale.submit.runtime_env import build_runtime_env
from ntscale.submit.settings import SubmitConfig, load_submit_config
from ntscale.submit.submission import Submission, plan_submission, submit_job

__all__ = [
    "DEFAULT_ADDRESS",
    "TERMINAL",
    "JobSummary",
    "SubmitConfig",
    "Submission",
    "auth_headers",
    "build_entrypoint",
    "build_runtime_env",
    "connect",
    "failure_message",
    "follow_logs",
    "is_loopback",
    "job_logs",
    "job_status",
    "list_jobs",
    "load_submit_config",
    "plan_submission",
    "resolve_address",
    "stop_job",
    "submit_job",
    "wait_until_done",
]
