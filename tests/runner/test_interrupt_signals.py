"""catch_signals: the first SIGINT/SIGTERM only sets the flag, the handlers are restored,
a second signal stops at once with 128 + signal, and the resume message names the units."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import threading

import pytest

from ntscale.errors import Interrupted, NtscaleError
from ntscale.runner.interrupt import StopFlag, catch_signals, interrupted_error


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_first_signal_sets_the_flag_and_the_error_says_how_to_resume(signum, code, caplog):
    before = signal.getsignal(signum)
    with catch_signals() as stop:
        assert not stop and stop.signum is None
        signal.raise_signal(signum)  # the process keeps running
        assert stop and stop.signum == signum
        err = stop.interrupted(done=3, total=8)
    assert signal.getsignal(signum) is before
    assert isinstance(err, Interrupted) and isinstance(err, NtscaleError)
    assert err.exit_code == code
    assert str(err) == "interrupted: 3 of 8 units done; run the same command to resume"
    assert f"{signal.Signals(signum).name} received: dispatching no more units" in caplog.text


def test_an_unset_flag_reports_an_interrupt_as_sigint():
    assert StopFlag().interrupted(done=0, total=1).exit_code == 130
    assert interrupted_error(signal.SIGTERM, done=1, total=2).exit_code == 143


def test_outside_the_main_thread_signals_keep_their_meaning():
    seen = {}

    def body() -> None:
        with catch_signals() as stop:
            seen["handler"] = signal.getsignal(signal.SIGINT)
            seen["flag"] = bool(stop)

    before = signal.getsignal(signal.SIGINT)
    t = threading.Thread(target=body)
    t.start()
    t.join(10)
    assert seen == {"handler": before, "flag": False}


SECOND_SIGNAL = textwrap.dedent("""
    import os, signal
    from ntscale.runner.interrupt import catch_signals
    with catch_signals() as stop:
        os.kill(os.getpid(), signal.SIGTERM)
        print("first", stop.signum, flush=True)
        os.kill(os.getpid(), signal.SIGTERM)
        print("not reached", flush=True)
""")


def test_a_second_signal_stops_the_process_at_once():
    r = subprocess.run(
        [sys.executable, "-c", SECOND_SIGNAL], capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 128 + signal.SIGTERM == 143
    assert r.stdout == f"first {int(signal.SIGTERM)}\n"
    assert r.stderr.endswith(
        "interrupted again: stopping now; units in flight will be redone; "
        "run the same command to resume\n"
    )
