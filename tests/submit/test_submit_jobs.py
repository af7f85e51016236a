"""Job summaries from the SDK's own JobDetails records (no cluster needed)."""

from __future__ import annotations

import dataclasses

import pytest
from ray.job_submission import JobDetails, JobStatus, JobType

from ntscale.submit.jobs import TERMINAL, JobSummary, summarize


def _details(**kw) -> JobDetails:
    fields = {
        "type": JobType.SUBMISSION,
        "job_id": "02000000",
        "submission_id": "raysubmit_abc",
        "entrypoint": "ntscale embed --ray auto",
        "status": JobStatus.RUNNING,
        "message": "Job is currently running.",
        "start_time": 1_700_000_000_123,
        "end_time": None,
    }
    return JobDetails(**(fields | kw))


def test_a_running_job():
    assert summarize(_details()) == JobSummary(
        job_id="raysubmit_abc",
        status="RUNNING",
        entrypoint="ntscale embed --ray auto",
        message="Job is currently running.",
        start_time=1_700_000_000.123,  # Ray's milliseconds as seconds
        end_time=None,
    )


def test_a_finished_job_has_both_times():
    got = summarize(_details(status=JobStatus.FAILED, end_time=1_700_000_060_500))
    assert got.status == "FAILED"
    assert got.end_time - got.start_time == pytest.approx(60.377)


def test_a_job_without_submission_id_is_named_by_its_job_id():
    """Jobs started by a plain driver (not the Jobs API) have no submission id."""
    got = summarize(_details(type=JobType.DRIVER, submission_id=None))
    assert got.job_id == "02000000"
    assert summarize(_details(submission_id=None, job_id=None)).job_id == "?"


def test_a_pending_job_has_no_times_and_empty_strings_for_missing_text():
    got = summarize(
        _details(
            status=JobStatus.PENDING, start_time=None, entrypoint="", message=None, end_time=None
        )
    )
    assert (got.status, got.start_time, got.end_time, got.message) == ("PENDING", None, None, "")


@pytest.mark.parametrize("status", list(JobStatus))
def test_every_sdk_status_maps_to_its_name_and_terminal_ones_are_known(status):
    got = summarize(_details(status=status))
    assert got.status == status.value
    assert (got.status in TERMINAL) == status.is_terminal()


def test_a_summary_is_plain_and_frozen():
    row = summarize(_details())
    assert all(isinstance(v, str | float | type(None)) for v in dataclasses.astuple(row))
    with pytest.raises(dataclasses.FrozenInstanceError):
        row.status = "STOPPED"  # type: ignore[misc]
