"""Ctrl-C / SIGTERM during a run: stop dispatching, leave nothing half-marked, say how to resume.

The executors run inside `catch_signals()`. The first SIGINT or SIGTERM only sets a flag;
the executor sees it between units, dispatches nothing more, lets (local) or kills (Ray)
the units in flight (a unit marks itself done only after its data, so a killed unit is
simply redone on resume) and raises `Interrupted`. A second signal stops at once.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from ntscale.errors import Interrupted

log = logging.getLogger(__name__)

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopFlag:
    """Set by the first SIGINT/SIGTERM; `signum` says which (None: keep running)."""

    def __init__(self) -> None:
        self.signum: int | None = None

    def __bool__(self) -> bool:
        return self.signum is not None

    def interrupted(self, *, done: int, total: int) -> Interrupted:
        """The error an executor raises once it has stopped (exit 130 for INT, 143 for TERM)."""
        return interrupted_error(self.signum or signal.SIGINT, done=done, total=total)


def interrupted_error(signum: int, *, done: int, total: int) -> Interrupted:
    err = Interrupted(f"interrupted: {done} of {total} units done; run the same command to resume")
    err.exit_code = 128 + int(signum)
    return err


@contextmanager
def catch_signals(
    *, then: str = "waiting for the units in flight (signal again to stop now)"
) -> Iterator[StopFlag]:
    """Within the block, SIGINT/SIGTERM set the returned flag instead of killing the process.

    Only the main thread can own signal handlers; elsewhere (a library caller's thread)
    the flag simply never gets set and signals keep their usual meaning.
    """
    flag = StopFlag()
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return

    def handler(signum: int, frame: object) -> None:
        if flag:
            # Second signal: the user does not want to wait. Units in flight are not marked
            # done (marks follow data), so the resume redoes them.
            sys.stderr.write(
                "interrupted again: stopping now; units in flight will be redone; "
                "run the same command to resume\n"
            )
            sys.stderr.flush()
            os._exit(128 + signum)
        flag.signum = signum
        log.warning("%s received: dispatching no more units; %s", signal.Signals(signum).name, then)

    previous = {s: signal.signal(s, handler) for s in _SIGNALS}
    try:
        yield flag
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
