"""The Ray cluster's token authentication: which header to send, and what a refusal means."""

from __future__ import annotations

import os

from ntscale.errors import ClusterError

TOKEN_FILE = "~/.ray/auth_token"
"""Where Ray's own CLI keeps this machine's token when RAY_AUTH_TOKEN_PATH is not set."""


def auth_headers() -> dict[str, str]:
    """The Ray auth token header, when this machine has a token for the cluster.

    Ray 2.60 clusters may require a token (RAY_AUTH_MODE=token). Like Ray's own CLI, the
    token comes from RAY_AUTH_TOKEN, else the file RAY_AUTH_TOKEN_PATH, else
    ~/.ray/auth_token; RAY_AUTH_MODE=disabled sends none. A cluster without token auth
    ignores the header.
    """
    if os.environ.get("RAY_AUTH_MODE", "").lower() == "disabled":
        return {}
    token = os.environ.get("RAY_AUTH_TOKEN", "").strip()
    if not token:
        path = os.environ.get("RAY_AUTH_TOKEN_PATH") or os.path.expanduser(TOKEN_FILE)
        try:
            with open(path, encoding="utf-8") as fh:
                token = fh.read().strip()
        except OSError:
            token = ""
    return {"Authorization": f"Bearer {token}"} if token else {}


def auth_error(address: str, err: BaseException) -> ClusterError | None:
    """A ClusterError saying how to get the token, when `err` is a refusal of credentials.

    Returns:
        None when `err` is anything else (the caller handles it).
    """
    text = str(err).splitlines()[0] if str(err) else type(err).__name__
    refused = type(err).__name__ == "AuthenticationError"
    if refused or "status code 401" in text or "status code 403" in text:
        return ClusterError(
            f"the Ray cluster at {address} refused this machine's credentials ({text.strip()}"
            "). It uses token authentication: copy its token (`ray get-auth-token` on the "
            "head) into RAY_AUTH_TOKEN or a file named by RAY_AUTH_TOKEN_PATH "
            "(default ~/.ray/auth_token)"
        )
    return None
