"""A driver killed mid-run leaves a store that the same command resumes, byte-identical."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from storecmp import assert_same_bytes

pytestmark = pytest.mark.slow


def embed_cmd(example, out, bed):
    return [
        sys.executable, "-m", "ntscale", "embed",
        "--fasta", str(example["fasta"]), "--model", str(example["model"]),
        "--out", str(out), "--regions", str(bed), "--window", "600",
        "--layers", "1,2", "--unit-windows", "2", "--batch-size", "2", "--dtype", "fp32",
        "--no-progress",
    ]  # fmt: skip


def done_count(store) -> int:
    from ntscale.errors import StoreError
    from ntscale.store import open_writer

    if not (store / "zarr.json").exists():
        return 0
    try:
        return int(np.asarray(open_writer(str(store)).done_units()).sum())
    except (StoreError, KeyError, FileNotFoundError):  # metadata still being created
        return 0


def test_killed_driver_resumes_to_identical_bytes(example, tmp_path):
    bed = tmp_path / "r.bed"
    bed.write_text("20\t1000000\t1006000\n")
    env = dict(os.environ, NTSCALE_FAULT_UNIT_DELAY="0.4")
    out = tmp_path / "killed.zarr"
    proc = subprocess.Popen(embed_cmd(example, out, bed), env=env, start_new_session=True)
    deadline = time.monotonic() + 120
    while done_count(out) < 1 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.1)
    assert proc.poll() is None, "the run finished before it could be interrupted"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    partial = done_count(out)
    assert 1 <= partial < 5
    r = subprocess.run(embed_cmd(example, out, bed), capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert done_count(out) == 5
    ref = tmp_path / "ref.zarr"
    r = subprocess.run(embed_cmd(example, ref, bed), capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert_same_bytes(ref, out)


def test_killed_cohort_run_resumes_to_identical_bytes(example, tmp_path):
    """A cohort run (VCF haplotypes, sequence axis) killed after its first unit resumes to
    the bytes of an uninterrupted run: a unit's sequence slots depend on its windows only."""
    bed = tmp_path / "r.bed"
    bed.write_text("20\t1000000\t1003000\n")
    extra = ["--vcf", str(example["vcf"])]

    def cohort_cmd(store):
        cmd = embed_cmd(example, store, bed) + extra
        cmd[cmd.index("--unit-windows") + 1] = "1"  # one genomic window per unit
        return cmd

    env = dict(os.environ, NTSCALE_FAULT_UNIT_DELAY="0.4")
    out = tmp_path / "killed.zarr"
    proc = subprocess.Popen(cohort_cmd(out), env=env, start_new_session=True)
    deadline = time.monotonic() + 120
    while done_count(out) < 1 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.1)
    assert proc.poll() is None, "the run finished before it could be interrupted"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert 1 <= done_count(out) < 5
    r = subprocess.run(cohort_cmd(out), capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert done_count(out) == 5
    ref = tmp_path / "ref.zarr"
    r = subprocess.run(cohort_cmd(ref), capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert_same_bytes(ref, out)
    from ntscale.store import verify

    assert verify(str(out))["ok"]
