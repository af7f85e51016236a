"""A killed NTv3 score run resumes to the bytes of an uninterrupted run (the embed case is
in test_ntv3_embed.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from ntv3_helpers import FASTA, POST, chr20_vcf
from storecmp import assert_same_bytes

from ntscale.store import open_writer

pytestmark = pytest.mark.slow


def _cmd(vcf: Path, out: Path) -> list[str]:
    return [
        sys.executable, "-m", "ntscale", "score", "--fasta", str(FASTA), "--vcf", str(vcf),
        "--model", str(POST), "--out", str(out), "--window-bp", "128", "--species", "human",
        "--scores", "llr_masked,track_delta", "--unit-variants", "2", "--batch-size", "2",
        "--dtype", "fp32", "--no-progress",
    ]  # fmt: skip


def _done(store: Path) -> int:
    try:
        return int(np.asarray(open_writer(str(store)).done_units("variants")).sum())
    except Exception:  # noqa: BLE001 -- not created yet
        return 0


def test_killed_score_run_resumes_to_identical_bytes(tmp_path):
    vcf, out = chr20_vcf(tmp_path), tmp_path / "killed.zarr"
    env = dict(os.environ, NTSCALE_FAULT_UNIT_DELAY="0.5")
    proc = subprocess.Popen(_cmd(vcf, out), env=env, start_new_session=True)
    deadline = time.monotonic() + 120
    while _done(out) < 1 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.1)
    assert proc.poll() is None, "the run finished before it could be interrupted"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert 1 <= _done(out) < 6  # 12 rows in units of 2
    r = subprocess.run(_cmd(vcf, out), capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert _done(out) == 6
    ref = tmp_path / "ref.zarr"
    r = subprocess.run(_cmd(vcf, ref), capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert_same_bytes(ref, out)
