"""A process of the racing-takeover test: in each trial, wait at a barrier with the others,
then try to take over the same stale lease; report whether this process got it.

Importable by spawned processes (multiprocessing passes the test's sys.path along).
"""

from __future__ import annotations

import os
from typing import Any

from ntscale.errors import StoreError
from ntscale.store import lease


def race(root: str, trials: int, barrier: Any, results: Any) -> None:
    """Take part in `trials` trials on the stores root/t<i>; put (trial, pid, token|None)."""
    lease._held.clear()
    for trial in range(trials):
        url = os.path.join(root, f"t{trial}")
        barrier.wait()  # everyone sees the same stale lease, then claims at once
        try:
            token = lease.acquire(url).info["token"]
        except StoreError:
            token = None
        results.put((trial, os.getpid(), token))
        barrier.wait()  # nobody starts the next trial (or looks again) before all are done
        lease._held.clear()  # keep the claim on disk: the test reads who holds it
    lease._stop.set()
