"""Progress: what the plain lines say (rates, ETA, percent), the interval setting, the
summary the CLI prints, and resumed runs counted out (a fake clock makes rates exact)."""

from __future__ import annotations

import logging
import re

import pytest
from toyjob import ToyJob, unit_bp, unit_rows

import ntscale.runner.progress as progress
from ntscale.runner.job import UnitResult
from ntscale.runner.progress import Progress, line_interval_s, start_progress


class Clock:
    """perf_counter stand-in: seconds advance only when the test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch) -> Clock:
    c = Clock()
    monkeypatch.setattr(progress.time, "perf_counter", c)
    return c


def test_line_shows_rates_percent_and_eta(clock, capsys, monkeypatch):
    monkeypatch.setenv("NTSCALE_PROGRESS_SECONDS", "0")
    p = Progress(total_rows=10, total_bp=10_000_000, label="windows", enabled=True)
    clock.now += 8.0
    p.update(UnitResult(unit=0, n_rows=4, bp=4_000_000))
    # 4 rows in 8 s = 0.5 rows/s; 4 Mbp in 8 s = 0.5 Mbp/s; 6 rows left at 0.5/s = 12 s
    assert capsys.readouterr().err == (
        "[ntscale] windows 4/10 (40.0%), 1 units, 0.50 windows/s, 0.500 Mbp/s, "
        "elapsed 0:00:08, ETA 0:00:12\n"
    )
    clock.now += 3592.0
    p.update(UnitResult(unit=1, n_rows=6, bp=6_000_000))
    p.close()
    err = capsys.readouterr().err.splitlines()
    # 10 rows in 3,600 s: the unit's line, and no second copy of it at close (issue 23.8)
    assert err == [
        "[ntscale] windows 10/10 (100.0%), 2 units, 0.00 windows/s, 0.003 Mbp/s, "
        "elapsed 1:00:00, ETA 0:00:00"
    ]


def test_lines_thinned_by_the_interval(clock, capsys, monkeypatch):
    monkeypatch.setenv("NTSCALE_PROGRESS_SECONDS", "30")
    p = Progress(total_rows=100, total_bp=0, label="variants", enabled=True)
    for unit in range(4):
        clock.now += 10.0  # a unit every 10 s: one line at 30 s, then the final one
        p.update(UnitResult(unit=unit, n_rows=0 if unit == 0 else 5))
    p.close()
    lines = capsys.readouterr().err.splitlines()
    assert [re.search(r"variants (\d+)/", x).group(1) for x in lines] == ["10", "15"]
    # 10 rows in 30 s: 1/3 row/s, 90 rows left: 270 s
    assert lines[0].endswith("0.33 variants/s, 0.000 Mbp/s, elapsed 0:00:30, ETA 0:04:30")
    assert lines[1].endswith("elapsed 0:00:40, ETA 0:03:47")  # 85 left at 15/40 per s: 226.7 s


def test_eta_unknown_while_no_row_is_done(clock, capsys, monkeypatch):
    monkeypatch.setenv("NTSCALE_PROGRESS_SECONDS", "0")
    p = Progress(total_rows=7, total_bp=70, label="bases", enabled=True)
    clock.now += 5.0
    p.update(UnitResult(unit=0, n_rows=0))
    p.close()
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and all(x.endswith("elapsed 0:00:05, ETA unknown") for x in lines)
    assert lines[0].startswith("[ntscale] bases 0/7 (0.0%), 1 units, 0.00 bases/s")


def test_disabled_progress_prints_nothing_but_still_sums_up(clock, capsys):
    p = Progress(total_rows=5, total_bp=500, label="windows", enabled=False)
    clock.now += 4.0
    p.update(
        UnitResult(
            unit=0, n_rows=2, bp=200, status_counts={"OK": 2}, model_seconds=1.5, bytes_written=64
        )
    )
    p.update(
        UnitResult(
            unit=1, n_rows=3, bp=2_000_200, status_counts={"OK": 1, "SKIPPED": 2}, bytes_written=36
        )
    )
    p.close()
    assert capsys.readouterr().err == ""
    assert p.summary() == {
        "rows_done": 5,
        "units_done": 2,
        "bp_done": 2_000_400,
        "seconds": 4.0,
        "rows_per_second": 1.25,
        "mbp_per_second": 0.5001,  # 2,000,400 bp in 4 s
        "model_seconds": 1.5,
        "bytes_written": 100,
        "status_counts": {"OK": 3, "SKIPPED": 2},
    }  # fmt: skip


@pytest.mark.parametrize(
    ("value", "seconds"), [(None, 30.0), ("", 30.0), ("2.5", 2.5), ("-4", 0.0)]
)
def test_line_interval_setting(monkeypatch, value, seconds):
    if value is None:
        monkeypatch.delenv("NTSCALE_PROGRESS_SECONDS", raising=False)
    else:
        monkeypatch.setenv("NTSCALE_PROGRESS_SECONDS", value)
    assert line_interval_s() == seconds


def test_a_bad_line_interval_is_named_and_the_default_used(monkeypatch, caplog):
    monkeypatch.setenv("NTSCALE_PROGRESS_SECONDS", "often")
    with caplog.at_level(logging.WARNING, logger="ntscale.runner.progress"):
        assert line_interval_s() == 30.0
    assert "NTSCALE_PROGRESS_SECONDS='often' is not a number; using 30.0" in caplog.text


def test_resumed_run_counts_only_the_units_left(clock, capsys, monkeypatch):
    monkeypatch.setenv("NTSCALE_PROGRESS_SECONDS", "0")
    job = ToyJob(5)
    tracker = start_progress(job, [1, 4], enabled=True, label="windows")
    assert tracker.total_rows == unit_rows(1) + unit_rows(4) == 7
    assert tracker.total_bp == unit_bp(1) + unit_bp(4)
    clock.now += 2.0
    tracker.update(UnitResult(unit=1, n_rows=2, bp=unit_bp(1)))
    assert "windows 2/7 (28.6%)" in capsys.readouterr().err
