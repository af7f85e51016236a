"""Retrying what a Ray head that is still starting refuses for a few seconds.

A head that has just started answers "No available agent to submit job, please try again
later" until its job agent is up; a submission retries that with a bounded back-off
instead of failing at once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

logger = logging.getLogger(__name__)

T = TypeVar("T")

TRANSIENT_MARKERS: tuple[str, ...] = ("No available agent",)
"""Substrings of SDK errors that mean "the head is still starting": retried, not fatal."""

SUBMIT_RETRY_S = 60.0
"""Longest total wait for a starting head before a submission gives up."""


def is_transient(err: BaseException) -> bool:
    """True for SDK errors that a head still starting gives (retry them)."""
    return any(marker in str(err) for marker in TRANSIENT_MARKERS)


def retry_transient(
    call: Callable[[], T],
    *,
    budget_s: float = SUBMIT_RETRY_S,
    first_delay_s: float = 0.5,
    max_delay_s: float = 8.0,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Run `call`; while it fails with a transient error, retry with doubling delays.

    Args:
        call: the SDK call (e.g. a job submission).
        budget_s: total seconds of waiting before the last error is raised.
        first_delay_s: the first delay; each next one doubles, up to `max_delay_s`.
        sleep: the waiting function (tests pass a recorder).

    Returns:
        What `call` returns.

    Raises:
        Whatever `call` raises that is not transient, or the transient error once the
        waiting budget is spent.
    """
    delay, waited = first_delay_s, 0.0
    while True:
        try:
            return call()
        except Exception as err:
            if not is_transient(err) or waited + delay > budget_s:
                raise
            logger.warning("the Ray head is not ready (%s); retrying in %.1fs", err, delay)
            sleep(delay)
            waited += delay
            delay = min(delay * 2, max_delay_s)
