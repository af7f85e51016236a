"""JAX's persistent compilation cache in ntscale's user cache folder, on by default.

Every `ntscale` process compiled its forward programs again: 4-6% of a 1 Mbp CPU run
(docs/benchmarks.md, issue 28, third round), and as much again in every Ray actor and
every job of a split run. A cached program is XLA's compiled executable itself, so
outputs are the same bit for bit; a different JAX/jaxlib, device or program misses the
cache (JAX keys entries by all of them).

Where: ``$NTSCALE_JAX_CACHE`` if it names a folder, else ``<user cache>/jax``
(`ntscale.usercache.cache_dir`). ``NTSCALE_JAX_CACHE=0`` turns it off; a
``JAX_COMPILATION_CACHE_DIR`` the user set wins. The settings go to the environment, so the
processes ntscale starts (Ray actors, local workers) share the folder, and to JAX's config
when JAX is imported already. Only programs that took at least `MIN_COMPILE_SECONDS` to
compile are written; the folder is bounded by `MAX_BYTES` (which also turns on JAX's file
lock, so two processes writing one entry never let a third read half a file).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

from ntscale.usercache import cache_dir

CACHE_ENV = "NTSCALE_JAX_CACHE"
MIN_COMPILE_SECONDS = 0.5
MAX_BYTES = 2 << 30


def compile_cache_folder(environ: Mapping[str, str] | None = None) -> Path | None:
    """The folder the cache should use, or None when it is off or the user set JAX's own."""
    env = os.environ if environ is None else environ
    setting = env.get(CACHE_ENV, "").strip()
    if setting in ("0", "false", "no", "off") or env.get("JAX_COMPILATION_CACHE_DIR"):
        return None
    return Path(setting) if setting and setting != "1" else cache_dir(env) / "jax"


def enable_compile_cache() -> Path | None:
    """Turn the persistent cache on for this process and its children; the folder used
    (None when off or left to the user's own JAX setting)."""
    folder = compile_cache_folder()
    if folder is None:
        return None
    settings = {
        "JAX_COMPILATION_CACHE_DIR": str(folder),
        "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": str(MIN_COMPILE_SECONDS),
        "JAX_COMPILATION_CACHE_MAX_SIZE": str(MAX_BYTES),
    }
    for name, value in settings.items():
        os.environ.setdefault(name, value)
    if "jax" in sys.modules:  # imported already: its config read the environment before
        import jax

        jax.config.update("jax_compilation_cache_dir", os.environ["JAX_COMPILATION_CACHE_DIR"])
        jax.config.update(
            "jax_persistent_cache_min_compile_time_secs",
            float(os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"]),
        )
        jax.config.update(
            "jax_compilation_cache_max_size", int(os.environ["JAX_COMPILATION_CACHE_MAX_SIZE"])
        )
    return folder


__all__ = ["CACHE_ENV", "compile_cache_folder", "enable_compile_cache"]
