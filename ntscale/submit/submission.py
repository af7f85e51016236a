"""One submission, resolved once: what is sent to the cluster is what the user is shown.

`plan_submission` turns the settings and the words after `--` into a frozen `Submission`
(dashboard URL, entrypoint, runtime environment, resources); the CLI prints its
entrypoint and `submit_job` sends that very object, so the two can never differ.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ntscale.errors import ClusterError
from ntscale.submit.address import resolve_address
from ntscale.submit.auth import auth_error
from ntscale.submit.client import connect
from ntscale.submit.entrypoint import build_entrypoint
from ntscale.submit.retry import retry_transient
from ntscale.submit.runtime_env import build_runtime_env
from ntscale.submit.settings import SubmitConfig

logger = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class Submission:
    """Everything `submit_job` sends, decided before anything is sent.

    Attributes:
        address: the dashboard URL (resolved: scheme added, no trailing slash).
        entrypoint: the job's shell command (`ntscale embed ... --ray auto`).
        runtime_env: the job's Ray runtime environment.
        job_id: a job id of the user's choice (`--job-id`, must be new; Ray's
            `submission_id`, the id every `ntscale jobs` command takes); None: Ray makes one.
        entrypoint_num_cpus: CPUs reserved for the driver (0 lets it share the head).
        entrypoint_num_gpus: GPUs reserved for the driver (keep 0: actors hold the GPUs).
        metadata: string labels stored with the job.
    """

    address: str
    entrypoint: str
    runtime_env: Mapping[str, Any] = field(default_factory=dict)
    job_id: str | None = None
    entrypoint_num_cpus: float | None = None
    entrypoint_num_gpus: float | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)


def plan_submission(
    args: Sequence[str],
    config: SubmitConfig,
    *,
    raw: bool = False,
    job_id: str | None = None,
) -> Submission:
    """Resolve a submission from its settings and the words after `--`; send nothing.

    Args:
        args: ntscale arguments (`["embed", "--fasta", ...]`), see `build_entrypoint`.
        config: the submit settings (file overlaid by flags, `load_submit_config`).
        raw: `args` is a whole shell command, not ntscale arguments.
        job_id: a job id of the user's choice.

    Raises:
        ConfigError: a bad address, working dir or command line.
    """
    address = resolve_address(config.address)
    return Submission(
        address=address,
        entrypoint=build_entrypoint(args, raw=raw),
        runtime_env=build_runtime_env(
            working_dir=config.working_dir,
            env_vars=config.env_vars,
            pip=config.pip,
            base=config.runtime_env,
            address=address,
        ),
        job_id=job_id,
        entrypoint_num_cpus=config.entrypoint_num_cpus,
        entrypoint_num_gpus=config.entrypoint_num_gpus,
        metadata=dict(config.metadata or {}),
    )


def submit_job(submission: Submission) -> str:
    """Send one planned submission to its cluster and return the job's id.

    Raises:
        ClusterError: the cluster is unreachable or refuses the job.
    """
    client = connect(submission.address)
    try:
        # A head that is still starting has no job agent yet: retry with a bounded back-off.
        job_id = retry_transient(
            lambda: client.submit_job(
                entrypoint=submission.entrypoint,
                runtime_env=dict(submission.runtime_env),
                submission_id=submission.job_id,  # the SDK's name for it
                entrypoint_num_cpus=submission.entrypoint_num_cpus,
                entrypoint_num_gpus=submission.entrypoint_num_gpus,
                metadata=dict(submission.metadata),
            )
        )
    except Exception as err:
        refused = auth_error(client.get_address(), err)
        if refused is None and not isinstance(err, RuntimeError | ValueError | ConnectionError):
            raise
        raise refused or ClusterError(
            f"the cluster at {client.get_address()} refused the job "
            f"{submission.entrypoint!r}: {err}"
        ) from err
    logger.info("submitted job %s: %s", job_id, submission.entrypoint)
    return job_id
