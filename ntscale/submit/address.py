"""Where the cluster's Job Submission API listens: the dashboard URL, resolved and probed.

`ntscale submit` talks to the dashboard (HTTP, port 8265 by default), not to the GCS
(`HOST:6379`) or the Ray client server (`ray://`), which is what `--ray` of a run names.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from urllib.parse import urlparse

from ntscale.errors import ClusterError, ConfigError

DEFAULT_ADDRESS = "http://127.0.0.1:8265"
"""Dashboard address used when neither `--address` nor RAY_ADDRESS is given."""

CONNECT_TIMEOUT_S = 5.0
"""How long a probe waits for the dashboard's port before the cluster counts as down."""


def resolve_address(address: str | None) -> str:
    """Return the dashboard URL to use: the argument, else RAY_ADDRESS, else the default.

    A bare `HOST:PORT` gets an `http://` scheme. Addresses meant for `ray.init` (`auto`,
    `ray://...`) are not dashboard addresses; they are refused with a message that says
    which address the Job Submission API needs.

    Raises:
        ConfigError: the address is not an http(s) dashboard address.
    """
    chosen = (address or os.environ.get("RAY_ADDRESS") or DEFAULT_ADDRESS).strip()
    if chosen == "auto" or chosen.startswith("ray://"):
        raise ConfigError(
            f"address {chosen!r} is a Ray client/driver address; `ntscale submit` needs the "
            "cluster's dashboard URL, e.g. --address http://HEAD_IP:8265"
        )
    if "://" not in chosen:
        chosen = f"http://{chosen}"
    parsed = urlparse(chosen)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ConfigError(
            f"address {chosen!r} is not a dashboard URL; use --address http://HEAD_IP:8265"
        )
    return chosen.rstrip("/")


def is_loopback(address: str) -> bool:
    """True when a dashboard URL points at this machine's loopback interface."""
    host = urlparse(resolve_address(address)).hostname or ""
    try:
        return ipaddress.ip_address(host).is_loopback  # 127.0.0.0/8 and ::1
    except ValueError:  # a name: only "localhost" is known to be this machine
        return host == "localhost"


def unreachable(address: str, reason: object) -> ClusterError:
    """The error for a dashboard that does not answer, with the ways to bring one up."""
    return ClusterError(
        f"cannot reach the Ray dashboard at {address} ({reason}). Is the cluster up? Start a "
        "head with `ray start --head --dashboard-host 0.0.0.0 --dashboard-port 8265` (or "
        "`ray up cluster/aws-gpu.yaml`), forward port 8265 if it is remote "
        "(`ray dashboard cluster/aws-gpu.yaml`), and pass --address http://HEAD_IP:8265 "
        "or set RAY_ADDRESS"
    )


def probe(address: str, *, timeout_s: float = CONNECT_TIMEOUT_S) -> None:
    """Fail fast (seconds, not the HTTP library's minutes) when nothing listens there.

    Raises:
        ClusterError: no TCP connection to the URL's host and port within `timeout_s`.
    """
    parsed = urlparse(address)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        with socket.create_connection((parsed.hostname, port), timeout=timeout_s):
            pass
    except OSError as err:
        raise unreachable(address, err) from err
