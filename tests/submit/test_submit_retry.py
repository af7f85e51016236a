"""A starting head's "No available agent" is retried with a bounded back-off; nothing else is."""

from __future__ import annotations

import pytest

from ntscale.submit.retry import SUBMIT_RETRY_S, is_transient, retry_transient

NO_AGENT = (
    "Request failed with status code 500: No available agent to submit job, please try again later."
)


def test_no_available_agent_is_retried_with_a_bounded_backoff():
    calls, sleeps = [], []

    def flaky():
        calls.append(1)
        if len(calls) < 4:
            raise RuntimeError(NO_AGENT)
        return "raysubmit_1"

    assert retry_transient(flaky, sleep=sleeps.append, first_delay_s=0.5) == "raysubmit_1"
    assert sleeps == [0.5, 1.0, 2.0]


def test_the_retry_gives_up_when_the_budget_is_spent_and_never_retries_other_errors():
    sleeps = []

    def always():
        raise RuntimeError(NO_AGENT)

    with pytest.raises(RuntimeError, match="No available agent"):
        retry_transient(always, budget_s=10.0, sleep=sleeps.append, first_delay_s=1.0)
    assert sleeps == [1.0, 2.0, 4.0] and sum(sleeps) <= 10.0

    def refused():
        raise RuntimeError("Request failed with status code 400: bad runtime_env")

    with pytest.raises(RuntimeError, match="bad runtime_env"):
        retry_transient(refused, sleep=sleeps.append)
    assert len(sleeps) == 3
    assert is_transient(RuntimeError(NO_AGENT)) and not is_transient(ValueError("x"))


def test_delays_are_capped_and_the_default_budget_bounds_the_total_wait():
    sleeps = []

    def always():
        raise RuntimeError(NO_AGENT)

    with pytest.raises(RuntimeError, match="No available agent"):
        retry_transient(always, sleep=sleeps.append)
    assert sleeps == [0.5, 1.0, 2.0, 4.0] + [8.0] * 6  # doubling, then at most 8 s each
    assert sum(sleeps) <= SUBMIT_RETRY_S < sum(sleeps) + 8.0


def test_a_success_at_once_never_waits():
    sleeps = []
    assert retry_transient(lambda: 42, sleep=sleeps.append) == 42
    assert sleeps == []
