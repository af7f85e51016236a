"""One JAX persistent compilation cache for a whole test session (a pytest plugin).

Most of the suite's time went into compiling the same small programs again: every CLI
subprocess, Ray actor and freshly built model compiles what an earlier test already
compiled. The cache lives in a new temp folder per session (nothing carries over from one
run to the next) and is removed at the end; it reaches the processes tests start through
the environment. A cached program is the compiled executable itself, so results are the
same bit for bit. `max_size` turns on JAX's file lock, so that two processes writing the
same entry at once (two Ray actors) never let a third read half a file.
NTSCALE_TEST_JAX_CACHE=0 turns it off (e.g. to time compilation).
Under pytest-xdist the workers share the controller's folder (see `start`).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

_SETTINGS = {
    "JAX_COMPILATION_CACHE_DIR": None,  # the session's folder, filled in by `start`
    "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
    "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0",
    "JAX_COMPILATION_CACHE_MAX_SIZE": str(2 << 30),
}
_folder: list[str] = []  # folders this process made (and removes)
_PREFIX = "ntscale-test-jax-cache-"


def start() -> str | None:
    """Point JAX (here and in children) at the session's cache folder: one made here, or
    in an xdist worker the controller's.

    Under pytest-xdist the workers use the controller's folder (they inherit its
    environment), so a program one worker compiled the other loads; the controller removes
    it. (Workers once had a folder each while a dying worker was blamed on the shared one;
    the cause was the leak check's own test: docs/benchmarks.md, "the lost xdist worker".)"""
    if os.environ.get("NTSCALE_TEST_JAX_CACHE") == "0":
        os.environ["NTSCALE_JAX_CACHE"] = "0"  # nor the CLI's default cache (timing tests)
        return None
    inherited = os.environ.get("JAX_COMPILATION_CACHE_DIR", "")
    if os.environ.get("PYTEST_XDIST_WORKER") and Path(inherited).name.startswith(_PREFIX):
        folder = inherited  # the controller's: it made and removes it
    else:
        folder = tempfile.mkdtemp(prefix=_PREFIX)
        _folder.append(folder)
    for name, value in _SETTINGS.items():
        os.environ[name] = value or folder
    if "jax" in sys.modules:  # imported already (a plugin): its config read the old env
        import jax

        for name, value in _SETTINGS.items():
            key = name.lower()
            jax.config.update(key, _typed(name, value or folder))
    return folder


def stop() -> None:
    """Remove the session's cache folder."""
    while _folder:
        shutil.rmtree(_folder.pop(), ignore_errors=True)


def _typed(name: str, value: str) -> object:
    if name.endswith("_SECS"):
        return float(value)
    return int(value) if value.isdigit() else value
