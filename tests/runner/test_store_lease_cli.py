"""Real `ntscale embed` processes on one store: a run in use refuses a second one; a store
damaged on disk is found by `ntscale verify`, repaired and resumed to the same bytes."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
from storecmp import assert_same_bytes

pytestmark = pytest.mark.slow


def embed_cmd(example, out, bed):
    return [
        sys.executable, "-m", "ntscale", "embed",
        "--fasta", str(example["fasta"]), "--model", str(example["model"]),
        "--out", str(out), "--regions", str(bed), "--window", "600",
        "--layers", "1,2", "--unit-windows", "2", "--batch-size", "2", "--dtype", "fp32",
        "--cls", "--no-progress",
    ]  # fmt: skip


def test_second_run_is_refused_then_damage_is_verified_repaired_and_resumed(example, tmp_path):
    bed = tmp_path / "r.bed"
    bed.write_text("20\t1000000\t1006000\n")  # 10 windows, 5 units
    out = tmp_path / "busy.zarr"
    # every unit of the first run waits 30 s: it holds the store while the second one starts
    env = dict(os.environ, NTSCALE_FAULT_UNIT_DELAY="30")
    first = subprocess.Popen(embed_cmd(example, out, bed), env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        lease = out / "lease" / "zarr.json"
        while not lease.exists() and time.monotonic() < deadline and first.poll() is None:
            time.sleep(0.1)
        assert first.poll() is None, "the first run finished before the second one started"
        second = subprocess.run(
            embed_cmd(example, out, bed), capture_output=True, text=True, timeout=300
        )
        assert second.returncode == 2
        lines = second.stderr.strip().splitlines()
        assert len(lines) == 1, second.stderr
        assert (
            f"is in use by another run (host {os.uname().nodename}, pid {first.pid}, " in lines[0]
        )
    finally:
        os.killpg(first.pid, signal.SIGKILL)  # kill -9: the lease stays behind, stale
        first.wait()

    # the same command resumes: the dead run's lease is taken over
    resumed = subprocess.run(embed_cmd(example, out, bed), capture_output=True, text=True,
                             timeout=300)  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    assert not (out / "lease").exists()
    verify = [sys.executable, "-m", "ntscale", "verify"]
    ok = subprocess.run([*verify, str(out)], capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    intact = tmp_path / "intact.zarr"
    shutil.copytree(out, intact)

    (out / "embedding_cls" / "c" / "0" / "3" / "0").write_bytes(b"\x28\xb5\x2f\xfd broken")
    bad = subprocess.run([*verify, str(out), "--json", "--repair"], capture_output=True,
                         text=True, timeout=120)  # fmt: skip
    assert bad.returncode == 1
    report = json.loads(bad.stdout)
    assert [d["unit"] for d in report["windows"]["damaged"]] == [3] and report["repaired"] == 1
    redo = subprocess.run(embed_cmd(example, out, bed), capture_output=True, text=True,
                          timeout=300)  # fmt: skip
    assert redo.returncode == 0, redo.stderr
    assert_same_bytes(intact, out)
    assert subprocess.run([*verify, str(out)], timeout=120).returncode == 0


def _stamps(root):
    return {str(p.relative_to(root)): p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()}


def test_a_suspended_run_that_lost_its_lease_stops_and_the_new_run_finishes(example, tmp_path):
    """Ctrl-Z past the heartbeat limit: a new run takes the store over; after `fg` the old
    run writes no unit more and exits non-zero, naming the lost lease."""
    bed = tmp_path / "r.bed"
    bed.write_text("20\t1000000\t1006000\n")  # 10 windows, 5 units
    out = tmp_path / "taken.zarr"
    short = dict(os.environ, NTSCALE_LEASE_HEARTBEAT_S="0.2", NTSCALE_LEASE_STALE_S="3")
    slow = dict(short, NTSCALE_FAULT_UNIT_DELAY="3")  # units still running when suspended
    first = subprocess.Popen(embed_cmd(example, out, bed), env=slow, start_new_session=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not (out / "lease" / "gen-000000000000").exists() and time.monotonic() < deadline:
            assert first.poll() is None, first.communicate()
            time.sleep(0.05)
        time.sleep(1.0)
        os.killpg(first.pid, signal.SIGSTOP)  # Ctrl-Z: the whole job stops
        time.sleep(4.0)  # past the (shortened) heartbeat limit
        second = subprocess.run(embed_cmd(example, out, bed), env=short, capture_output=True,
                                text=True, timeout=300)  # fmt: skip
        assert second.returncode == 0, second.stderr
        assert "took over the stale lease" in second.stderr and "no heartbeat for" in second.stderr
        before = _stamps(out)
        os.killpg(first.pid, signal.SIGCONT)  # fg
        _, err = first.communicate(timeout=120)
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
            first.wait()
    assert first.returncode == 2, err
    assert "this run lost the lease of output store" in err, err
    assert "taken over by another run" in err or "removed" in err, err
    assert "unexpected" not in err
    assert _stamps(out) == before  # not one chunk or mark written after `fg`
    assert not (out / "lease").exists()  # the old run deleted nothing of the new one's
    verify = [sys.executable, "-m", "ntscale", "verify", str(out)]
    assert subprocess.run(verify, capture_output=True, timeout=120).returncode == 0
