"""Progress without a terminal: plain lines on stderr every N seconds, and one at the end."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from ntscale.runner.job import UnitResult
from ntscale.runner.progress import Progress

LINE = re.compile(
    r"^\[ntscale\] windows (?P<done>[\d,]+)/(?P<total>[\d,]+) \((?P<pct>[\d.]+)%\), "
    r"(?P<units>\d+) units, [\d.]+ windows/s, [\d.]+ Mbp/s, elapsed \d+:\d\d:\d\d, "
    r"ETA (\d+:\d\d:\d\d|unknown)$"
)


def _lines(err: str) -> list[re.Match]:
    return [m for m in map(LINE.match, err.splitlines()) if m]


def test_lines_come_by_the_clock_even_while_a_unit_runs(capsys, monkeypatch):
    """Issue 23.8: a line every interval with no unit finishing (a long unit is not silent),
    and the final count once."""
    import time

    monkeypatch.setenv("NTSCALE_PROGRESS_SECONDS", "0.2")
    p = Progress(total_rows=10, total_bp=6000, label="windows", enabled=True)
    time.sleep(0.75)  # a long first unit: nothing finishes
    silent = [(m["done"], m["units"]) for m in _lines(capsys.readouterr().err)]
    assert len(silent) >= 2 and set(silent) == {("0", "0")}
    p.update(UnitResult(unit=0, n_rows=4, bp=2400))
    p.update(UnitResult(unit=1, n_rows=6, bp=3600))
    p.close()
    got = [(m["done"], m["units"]) for m in _lines(capsys.readouterr().err)]
    assert got[-1] == ("10", "2") and got.count(("10", "2")) == 1  # the last line once
    time.sleep(0.3)
    assert capsys.readouterr().err == ""  # the clock stopped with close()


def test_the_final_line_is_not_repeated_after_the_clock_said_it(capsys, monkeypatch):
    import time

    monkeypatch.setenv("NTSCALE_PROGRESS_SECONDS", "0.1")
    p = Progress(total_rows=3, total_bp=30, label="windows", enabled=True)
    p.update(UnitResult(unit=0, n_rows=3, bp=30))
    time.sleep(0.35)  # the clock prints 3/3 (more than once, as time passes)
    p.close()
    got = [m["done"] for m in _lines(capsys.readouterr().err)]
    assert got and set(got) == {"3"}


def test_long_interval_gives_only_the_final_line_and_off_gives_none(capsys, monkeypatch):
    monkeypatch.setenv("NTSCALE_PROGRESS_SECONDS", "3600")
    p = Progress(total_rows=3, total_bp=30, label="windows", enabled=True)
    p.update(UnitResult(unit=0, n_rows=3, bp=30))
    p.close()
    assert [m["done"] for m in _lines(capsys.readouterr().err)] == ["3"]
    quiet = Progress(total_rows=3, total_bp=30, label="windows", enabled=False)
    quiet.update(UnitResult(unit=0, n_rows=3, bp=30))
    quiet.close()
    assert capsys.readouterr().err == ""


def test_cli_embed_with_stderr_to_a_pipe_logs_progress(example, tmp_path: Path, repo_root):
    bed = tmp_path / "r.bed"
    bed.write_text("20\t1000000\t1004800\n")
    path = os.environ.get("PYTHONPATH")
    env = {
        **os.environ,
        "NTSCALE_PROGRESS_SECONDS": "0",
        "PYTHONPATH": f"{repo_root}{os.pathsep}{path}" if path else str(repo_root),
    }
    r = subprocess.run(
        [
            sys.executable, "-m", "ntscale", "embed",
            "--fasta", str(example["fasta"]), "--model", str(example["model"]),
            "--regions", str(bed), "--window", "600", "--unit-windows", "2",
            "--batch-size", "2", "--dtype", "fp32", "--out", str(tmp_path / "o.zarr"),
        ],
        env=env, capture_output=True, text=True, timeout=300,  # stderr: a pipe, not a terminal
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    lines = _lines(r.stderr)
    assert len(lines) >= 4  # 8 windows in 4 units: a line per unit, and the final one
    assert (lines[-1]["done"], lines[-1]["total"], lines[-1]["units"]) == ("8", "8", "4")
    assert "\r" not in r.stderr and "━" not in r.stderr  # no bar drawn into the pipe
