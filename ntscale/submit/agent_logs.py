"""The runtime-env agent's ERROR lines, read through the dashboard's log API.

When a job's runtime environment could not be set up (a code package never uploaded, a pip
requirement that does not install), Ray's job message may carry only "Failed to set up
runtime environment"; the reason is in the runtime-env agent's log on the node. This reads
the ERROR lines of that log over the same HTTP port and token as the Jobs API, so a user
sees the reason without a shell on the head.
"""

from __future__ import annotations

import json
import logging
import re
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence

logger = logging.getLogger(__name__)

AGENT_LOG_GLOB = "runtime_env*"
AGENT_LOG_TAIL = 400
_LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+\s+(ERROR|CRITICAL)\b")
_EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Failure): ")


def _get(address: str, path: str, headers: Mapping[str, str], timeout_s: float) -> str:
    request = urllib.request.Request(f"{address}{path}", headers=dict(headers))
    with urllib.request.urlopen(request, timeout=timeout_s) as response:
        return response.read().decode("utf-8", errors="replace")


def error_lines(text: str) -> list[str]:
    """The ERROR/CRITICAL records and exception summary lines of a Ray log, in order."""
    return [
        line.rstrip()
        for line in text.splitlines()
        if _LOG_LINE.match(line) or _EXCEPTION_LINE.match(line)
    ]


def newest_unique(lines: Sequence[str], max_lines: int) -> list[str]:
    """The last `max_lines` distinct lines, each at the place of its last occurrence.

    The agent logs the same exception once per retry: a repeat says nothing new.
    """
    unique = list(dict.fromkeys(reversed(lines)))[::-1]
    return unique[-max_lines:] if max_lines > 0 else []


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
            found += [f"[{ip} {name}] {line}" for line in error_lines(text)]
    return newest_unique(found, max_lines)
