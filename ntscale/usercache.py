"""The user cache folder for ntscale's small caches (no heavy imports: the CLI reads it
before JAX is imported)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path


def cache_dir(environ: Mapping[str, str] | None = None) -> Path:
    """``$NTSCALE_CACHE_DIR``, else ``$XDG_CACHE_HOME/ntscale``, else ``~/.cache/ntscale``
    (read from `environ`, default this process's environment)."""
    env = os.environ if environ is None else environ
    if env.get("NTSCALE_CACHE_DIR"):
        return Path(env["NTSCALE_CACHE_DIR"])
    base = env.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "ntscale"
