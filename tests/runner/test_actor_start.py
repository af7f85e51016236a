"""Ray actors that crash at start-up stop the run after a few tries, showing their log."""

from __future__ import annotations

import os
import subprocess
import time

import pytest
from test_resume import embed_cmd

pytestmark = [pytest.mark.ray, pytest.mark.slow]


def test_actors_crashing_at_start_stop_the_run_with_their_log_lines(example, tmp_path):
    bed = tmp_path / "r.bed"
    bed.write_text("20\t1000000\t1002400\n")
    cmd = [*embed_cmd(example, tmp_path / "o.zarr", bed), "--ray", "local", "--max-actors", "1"]
    # A real start-up crash: XLA aborts the actor process on an unknown flag.
    env = dict(os.environ, XLA_FLAGS="--xla_no_such_flag=1", RAY_USAGE_STATS_ENABLED="0")
    t0 = time.monotonic()
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert r.returncode == 2, r.stderr[-3000:]
    err = r.stderr[r.stderr.index("error: ") :]
    assert "Ray actors died before they were ready 3 times in a row" in err
    assert "last " in err and "lines of its log:" in err
    assert "Unknown flag in XLA_FLAGS: --xla_no_such_flag=1" in err
    assert "Traceback" not in r.stderr
    assert time.monotonic() - t0 < 200  # not the 900 s start timeout
