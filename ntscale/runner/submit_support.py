"""Helpers of `runner/submit.py` that talk to a Ray head beyond the Job SDK.

- `retry_transient`: a head that is still starting answers "No available agent to submit
  job, please try again later" for a few seconds; a submission retries that with a bounded
  back-off instead of failing at once.
- `runtime_env_errors`: when a job's runtime environment could not be set up (a code package
  never uploaded, a pip requirement that does not install), Ray's job message may carry only
  "Failed to set up runtime environment"; the reason is in the runtime-env agent's log on the
  node. This reads the ERROR lines of that log through the dashboard's log API (the same HTTP
  port and token as the Jobs API), so a user sees the reason without a shell on the head.
"""

from __future__ import annotations

import json
import logging
import re
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from typing import TypeVar

logger = logging.getLogger(__name__)

T = TypeVar("T")

TRANSIENT_MARKERS: tuple[str, ...] = ("No available agent",)
"""Substrings of SDK errors that mean "the head is still starting": retried, not fatal."""

SUBMIT_RETRY_S = 60.0
"""Longest total wait for a starting head before a submission gives up."""

AGENT_LOG_GLOB = "runtime_env*"
AGENT_LOG_TAIL = 400
_LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+\s+(ERROR|CRITICAL)\b")
_EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Failure): ")


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


def _get(address: str, path: str, headers: Mapping[str, str], timeout_s: float) -> str:
    request = urllib.request.Request(f"{address}{path}", headers=dict(headers))
    with urllib.request.urlopen(request, timeout=timeout_s) as response:
        return response.read().decode("utf-8", errors="replace")


def _select(text: str) -> list[str]:
    """The ERROR records and exception summary lines of a Ray log, in order."""
    return [
        line.rstrip()
        for line in text.splitlines()
        if _LOG_LINE.match(line) or _EXCEPTION_LINE.match(line)
    ]


def runtime_env_errors(
    address: str,
    headers: Mapping[str, str],
    *,
    max_lines: int = 12,
    timeout_s: float = 10.0,
) -> list[str]:
    """ERROR lines of every alive node's runtime-env agent logs, newest last.

    Each line is prefixed with the node's IP and the log file's name. Best effort: a head
    whose log API does not answer gives an empty list (the caller still has Ray's message).
    """
    try:
        nodes = json.loads(_get(address, "/api/v0/nodes?limit=1000", headers, timeout_s))
        rows = nodes["data"]["result"]["result"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        logger.info("cannot list the cluster's nodes at %s: %s", address, err)
        return []
    found: list[str] = []
    for node in sorted(rows, key=lambda n: not n.get("is_head_node")):
        if node.get("state") != "ALIVE":
            continue
        node_id, ip = node["node_id"], node.get("node_ip", "?")
        query = urllib.parse.urlencode({"node_id": node_id, "glob": AGENT_LOG_GLOB})
        try:
            listing = json.loads(_get(address, f"/api/v0/logs?{query}", headers, timeout_s))
            files = [f for group in listing["data"]["result"].values() for f in group]
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
            logger.info("cannot list the logs of node %s: %s", ip, err)
            continue
        for name in sorted(f for f in files if f.endswith(".log")):
            query = urllib.parse.urlencode(
                {"node_id": node_id, "filename": name, "lines": AGENT_LOG_TAIL}
            )
            try:
                text = _get(address, f"/api/v0/logs/file?{query}", headers, timeout_s)
            except OSError as err:
                logger.info("cannot read %s on node %s: %s", name, ip, err)
                continue
            found += [f"[{ip} {name}] {line}" for line in _select(text)]
    # The same exception is often logged once per retry: keep the last of each.
    unique = list(dict.fromkeys(reversed(found)))[::-1]
    return unique[-max_lines:]
