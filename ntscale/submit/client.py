"""A Job Submission client on the cluster's dashboard, and its errors in ntscale's words.

The only module of the package that imports Ray (its Job Submission SDK, lazily): every
other one works on URLs, strings and plain records.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from ntscale.errors import ClusterError
from ntscale.submit.address import probe, resolve_address, unreachable
from ntscale.submit.auth import auth_error, auth_headers

T = TypeVar("T")


def connect(address: str | None = None) -> Any:
    """Open a `JobSubmissionClient` on the cluster's dashboard.

    Args:
        address: dashboard URL (`http://HEAD:8265`); None means RAY_ADDRESS or the default.

    Returns:
        A connected `ray.job_submission.JobSubmissionClient`.

    Raises:
        ClusterError: nothing answers at the address, it is not a Ray dashboard, or it
            refuses this machine's credentials.
    """
    url = resolve_address(address)
    probe(url)
    from ray.job_submission import JobSubmissionClient

    try:
        return JobSubmissionClient(url, headers=auth_headers())
    except Exception as err:
        refused = auth_error(url, err)
        if refused is None and not isinstance(err, ConnectionError | RuntimeError | OSError):
            raise
        raise (refused or unreachable(url, err)) from err


def call(client: Any, job_id: str | None, action: Callable[[], T]) -> T:
    """Run one SDK call about a job; turn its failures into ClusterErrors that say what to do.

    Raises:
        ClusterError: credentials refused, no such job, or another SDK RuntimeError.
    """
    try:
        return action()
    except Exception as err:
        refused = auth_error(client.get_address(), err)
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
