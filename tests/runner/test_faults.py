"""The fault hooks of the fault-tolerance tests: off by default, the exit-once marker kills
exactly the first unit's process, the delay delays, and NTSCALE_* reaches the actors."""

from __future__ import annotations

import subprocess
import sys
import time

from ntscale.runner.faults import EXIT_ONCE, HOLD, UNIT_DELAY, before_unit, forwarded_env

UNITS = "from ntscale.runner.faults import before_unit\nfor u in (4, 5): before_unit(u); print(u)"


def _units(env_extra: dict[str, str], monkeypatch) -> subprocess.CompletedProcess:
    for key, value in env_extra.items():
        monkeypatch.setenv(key, value)
    return subprocess.run([sys.executable, "-c", UNITS], capture_output=True, text=True, timeout=60)


def test_exit_once_kills_the_first_unit_then_lets_every_later_unit_run(tmp_path, monkeypatch):
    marker = tmp_path / "crashed"
    first = _units({EXIT_ONCE: str(marker)}, monkeypatch)
    assert first.returncode == 17 and first.stdout == ""  # died at the start of unit 4
    assert marker.read_text().startswith("unit 4 pid ")
    again = _units({EXIT_ONCE: str(marker)}, monkeypatch)  # "another process": marker exists
    assert again.returncode == 0 and again.stdout == "4\n5\n"
    assert marker.read_text().startswith("unit 4 pid ")  # not overwritten


def test_no_variables_no_fault(monkeypatch):
    monkeypatch.delenv(EXIT_ONCE, raising=False)
    monkeypatch.delenv(UNIT_DELAY, raising=False)
    t0 = time.perf_counter()
    before_unit(0)
    assert time.perf_counter() - t0 < 0.05


def test_unit_delay_sleeps_first(monkeypatch):
    monkeypatch.delenv(EXIT_ONCE, raising=False)
    monkeypatch.setenv(UNIT_DELAY, "0.2")
    t0 = time.perf_counter()
    before_unit(0)
    assert time.perf_counter() - t0 >= 0.2


def test_a_unit_waits_while_the_hold_file_exists(tmp_path, monkeypatch):
    hold = tmp_path / "hold"
    hold.touch()
    for key in (EXIT_ONCE, UNIT_DELAY):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv(HOLD, str(hold))
    proc = subprocess.Popen([sys.executable, "-c", UNITS], stdout=subprocess.PIPE, text=True)
    try:
        time.sleep(2.0)
        assert proc.poll() is None  # held at unit 4
        hold.unlink()
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == 0 and out == "4\n5\n"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_only_ntscale_variables_are_forwarded(monkeypatch):
    monkeypatch.setenv("NTSCALE_PROGRESS_SECONDS", "5")
    monkeypatch.setenv(UNIT_DELAY, "0.1")
    monkeypatch.setenv("NOT_NTSCALE_X", "1")
    monkeypatch.setenv("ntscale_lower", "1")
    env = forwarded_env()
    assert env["NTSCALE_PROGRESS_SECONDS"] == "5" and env[UNIT_DELAY] == "0.1"
    assert all(k.startswith("NTSCALE_") for k in env)
    assert "NOT_NTSCALE_X" not in env and "ntscale_lower" not in env
