"""Why a job failed: the message built from Ray's reason, the agent's errors and the log tail."""

from __future__ import annotations

import pytest
from raytest import _free_port

from ntscale.submit.agent_logs import error_lines, newest_unique, runtime_env_errors
from ntscale.submit.failure import TAIL_LINES, format_failure, log_tail, mentions_runtime_env
from ntscale.submit.jobs import JobSummary

URL = "http://10.0.0.1:8265"


def _info(message: str, status: str = "FAILED") -> JobSummary:
    return JobSummary(
        job_id="raysubmit_1",
        status=status,
        entrypoint="ntscale embed --out /o.zarr --ray auto",
        message=message,
        start_time=1.0,
        end_time=2.0,
    )


def test_the_message_has_every_part_in_order():
    logs = "".join(f"line {i}\n\n" for i in range(30))  # blank lines are not counted
    text = format_failure(
        _info("Job entrypoint command failed with exit code 3\nlast words\n"),
        logs,
        address=URL,
        agent_lines=["[10.0.0.1 runtime_env_agent.log] OSError: no package"],
    )
    assert text.splitlines() == [
        "job raysubmit_1 FAILED: Job entrypoint command failed with exit code 3",
        "  > last words",
        "entrypoint: ntscale embed --out /o.zarr --ray auto",
        "runtime-env agent log (ERROR lines):",
        "  ! [10.0.0.1 runtime_env_agent.log] OSError: no package",
        f"last {TAIL_LINES} log lines:",
        *[f"  | line {i}" for i in range(30 - TAIL_LINES, 30)],
        f"full logs: ntscale jobs logs raysubmit_1 --address {URL}",
    ]


def test_no_reason_no_logs_and_no_agent_lines():
    text = format_failure(_info("", status="STOPPED"), "\n \n", address=URL)
    assert text.splitlines() == [
        "job raysubmit_1 STOPPED: no reason given",
        "entrypoint: ntscale embed --out /o.zarr --ray auto",
        "last 0 log lines:",
        "  | (the job wrote no log lines)",
        f"full logs: ntscale jobs logs raysubmit_1 --address {URL}",
    ]


def test_a_short_log_is_shown_whole_and_n_lines_is_honoured():
    assert "last 2 log lines:\n  | a\n  | b\n" in format_failure(_info("x"), "a\nb\n", address=URL)
    text = format_failure(_info("x"), "a\nb\nc\n", address=URL, n_lines=1)
    assert "last 1 log lines:\n  | c\n" in text and "  | b" not in text


@pytest.mark.parametrize(
    ("logs", "n", "tail"),
    [
        ("a\n\nb\n  \nc", 2, ["b", "c"]),
        ("a\nb", 5, ["a", "b"]),
        ("a\nb", 0, []),
        ("", 3, []),
    ],
)
def test_log_tail(logs, n, tail):
    assert log_tail(logs, n) == tail


@pytest.mark.parametrize(
    ("message", "mentions"),
    [
        ("runtime_env setup failed: Failed to set up runtime environment.", True),
        ("Failed to set up Runtime Env for the job", True),
        ("Job entrypoint command failed with exit code 1", False),
        ("", False),
    ],
)
def test_runtime_env_failures_are_recognised(message, mentions):
    assert mentions_runtime_env(message) is mentions


AGENT_LOG = """\
2026-12-01 07:40:00,101\tINFO runtime_env_agent.py:310 -- Got request to create env
2026-12-01 07:40:00,202\tERROR runtime_env_agent.py:380 -- Runtime env creation failed.
Traceback (most recent call last):
  File "/ray/_private/runtime_env/packaging.py", line 700, in download_and_unpack_package
OSError: Failed to download runtime_env file package gcs://_ray_pkg_dead.zip
2026-12-01 07:40:01,303\tWARNING runtime_env_agent.py:390 -- retrying
2026-12-01 07:40:02,404\tCRITICAL runtime_env_agent.py:400 -- giving up
ray.exceptions.RuntimeEnvSetupError: Failed to set up runtime environment.
  raise RuntimeEnvSetupFailure: indented, so not a summary line
"""


def test_error_lines_keep_error_records_and_exception_summaries_in_order():
    assert error_lines(AGENT_LOG) == [
        "2026-12-01 07:40:00,202\tERROR runtime_env_agent.py:380 -- Runtime env creation failed.",
        "OSError: Failed to download runtime_env file package gcs://_ray_pkg_dead.zip",
        "2026-12-01 07:40:02,404\tCRITICAL runtime_env_agent.py:400 -- giving up",
        "ray.exceptions.RuntimeEnvSetupError: Failed to set up runtime environment.",
    ]


def test_newest_unique_keeps_each_line_at_its_last_place():
    lines = ["a", "b", "a", "c", "b", "d"]
    assert newest_unique(lines, 10) == ["a", "c", "b", "d"]
    assert newest_unique(lines, 2) == ["b", "d"]
    assert newest_unique(lines, 0) == []
    assert newest_unique([], 3) == []


def test_agent_errors_are_best_effort_when_the_log_api_does_not_answer():
    assert runtime_env_errors(f"http://127.0.0.1:{_free_port()}", {}, timeout_s=2.0) == []


def test_settled_logs_waits_until_the_log_stops_growing() -> None:
    from ntscale.submit.failure import settled_logs

    reads = iter(["a\n", "a\nb\n", "a\nb\nc\n", *["a\nb\nc\n"] * 4, "never read\n"])
    assert settled_logs(lambda: next(reads), wait_s=5.0, step_s=0.01) == "a\nb\nc\n"
    # a log that stays the same for fewer than `quiet_reads` reads, then grows (Ray's lag
    # on a loaded machine): the lines printed late are still in the tail
    late = iter(["entrypoint\n"] * 3 + ["entrypoint\nline 0\n"] * 5 + ["never read\n"])
    got = settled_logs(lambda: next(late), wait_s=5.0, step_s=0.01, quiet_reads=4)
    assert got == "entrypoint\nline 0\n"
    growing = iter(f"{'x' * i}\n" for i in range(10_000))
    # gives up after wait_s with the last log read
    assert settled_logs(lambda: next(growing), wait_s=0.05, step_s=0.01).startswith("x")
