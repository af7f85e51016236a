"""Fault injection for the fault-tolerance tests (off unless the variables below are set).

  NTSCALE_FAULT_EXIT_ONCE=PATH   the first unit that starts in any process creates PATH and
                                 kills its process (os._exit), as a crashed GPU node would;
                                 later units run normally because PATH exists.
  NTSCALE_FAULT_UNIT_DELAY=SECS  every unit sleeps this long first, so a test can kill the
                                 driver while units are still running.
  NTSCALE_FAULT_HOLD=PATH        every unit waits while PATH exists, so a test decides when
                                 units may go on (e.g. after a node joined), however slow
                                 the machine is.

The Ray executor forwards every NTSCALE_* variable of the driver to its actors.
"""

from __future__ import annotations

import os
import time

EXIT_ONCE = "NTSCALE_FAULT_EXIT_ONCE"
UNIT_DELAY = "NTSCALE_FAULT_UNIT_DELAY"
HOLD = "NTSCALE_FAULT_HOLD"


def before_unit(unit: int) -> None:
    """Apply the configured faults at the start of a unit."""
    hold = os.environ.get(HOLD)
    while hold and os.path.exists(hold):
        time.sleep(0.1)
    delay = os.environ.get(UNIT_DELAY)
    if delay:
        time.sleep(float(delay))
    marker = os.environ.get(EXIT_ONCE)
    if marker:
        try:
            fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return
        os.write(fd, f"unit {unit} pid {os.getpid()}\n".encode())
        os.close(fd)
        os._exit(17)


def forwarded_env() -> dict[str, str]:
    """The NTSCALE_* variables a driver passes on to its Ray actors."""
    return {k: v for k, v in os.environ.items() if k.startswith("NTSCALE_")}
