"""Exclusive store creation and the run lease, with real concurrent processes."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import zarr

import ntscale.store as st
from ntscale.errors import StoreError
from ntscale.store import lease

WORKER = Path(__file__).with_name("lease_worker.py")
LAYOUT = st.StoreLayout(n_windows=8, unit_windows=2, layers=(1,), embed_dim=4)


def _start(url: Path, dtype: str, tmp: Path, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.Popen(
        [sys.executable, str(WORKER), str(url), dtype, str(tmp / "go"), str(tmp / "stop"), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _line(proc: subprocess.Popen) -> dict:
    line = proc.stdout.readline()
    assert line, proc.stderr.read()
    return json.loads(line)


def test_racing_runs_on_a_new_path_exactly_one_creates(tmp_path: Path) -> None:
    url = tmp_path / "race.zarr"
    procs = [_start(url, dtype, tmp_path) for dtype in ("fp32", "bf16", "fp16")]
    try:
        pids = [_line(p)["ready"] for p in procs]
        (tmp_path / "go").touch()  # all three try to create the store at once
        results = [_line(p) for p in procs]
        winners = [r for r in results if r["ok"]]
        assert len(winners) == 1, results
        winner = winners[0]["pid"]
        for r in results:
            if not r["ok"]:  # refused, naming the run that holds the store
                assert "is in use by another run (host " in r["error"], r
                assert f"pid {winner}, started 20" in r["error"]
                assert "\n" not in r["error"]
        (tmp_path / "stop").touch()
        codes = [p.wait(timeout=60) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    assert sorted(codes) == [0, 2, 2]
    dtype = ["fp32", "bf16", "fp16"][pids.index(winner)]
    attrs = dict(zarr.open_group(str(url), mode="r").attrs)
    assert attrs["fingerprint"] == {"dtype": dtype} and attrs["run"] == dtype
    assert not (url / "lease").exists()  # released by the winner's finalize


def test_lease_of_a_killed_run_is_taken_over_on_the_same_host(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = tmp_path / "killed.zarr"
    proc = _start(url, "fp32", tmp_path)
    try:
        _line(proc)
        (tmp_path / "go").touch()
        assert _line(proc)["ok"]
        held = lease.read_lease(str(url))
        assert held["pid"] == proc.pid and held["host"] == socket.gethostname()
        with pytest.raises(StoreError, match=rf"in use by another run \(.*pid {proc.pid},"):
            st.create_or_open(str(url), LAYOUT, fingerprint={"dtype": "fp32"}, attrs={},
                              contigs=[("chr1", 5_000)])  # fmt: skip
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    with caplog.at_level(logging.WARNING, logger="ntscale.store.lease"):
        writer = st.create_or_open(
            str(url), LAYOUT, fingerprint={"dtype": "fp32"}, attrs={}, contigs=[("chr1", 5_000)]
        )
    assert f"process {proc.pid} on this host is gone" in caplog.text
    assert lease.read_lease(str(url))["pid"] == os.getpid()
    assert writer.done_units().shape == (4,)
    st.finalize(str(url))
    assert lease.read_lease(str(url)) is None


def test_a_failed_run_releases_its_lease_at_exit(tmp_path: Path) -> None:
    url = tmp_path / "failed.zarr"
    proc = _start(url, "fp32", tmp_path, "crash")
    _line(proc)
    (tmp_path / "go").touch()
    assert _line(proc)["ok"]
    (tmp_path / "stop").touch()
    assert proc.wait(timeout=60) == 1
    assert "the run failed" in proc.stderr.read()
    assert not (url / "lease").exists()


def _plant(url: Path, *, host: str, pid: int, beat_age_s: float) -> None:
    now = dt.datetime.now(dt.UTC)
    info = {
        "host": host,
        "pid": pid,
        "started": (now - dt.timedelta(hours=1)).isoformat(timespec="seconds"),
        "heartbeat": (now - dt.timedelta(seconds=beat_age_s)).isoformat(timespec="seconds"),
        "token": "other",
    }
    assert lease._write_claim(str(url), 0, info)


def test_lease_of_another_host_is_live_until_its_heartbeat_is_stale(tmp_path: Path) -> None:
    url = tmp_path / "remote.zarr"
    _plant(url, host="gpu-node-7", pid=4242, beat_age_s=30)
    args = dict(fingerprint={}, attrs={}, contigs=[("chr1", 5_000)])
    with pytest.raises(StoreError) as err:
        st.create_or_open(str(url), LAYOUT, **args)
    assert re.search(
        r"output store '.*remote.zarr' is in use by another run \(host gpu-node-7, pid 4242, "
        r"started \S+, last heartbeat \S+\); wait for that run to finish",
        str(err.value),
    ), err.value
    assert not (url / "zarr.json").exists()  # nothing created while refused
    shutil.rmtree(url / "lease")
    _plant(url, host="gpu-node-7", pid=4242, beat_age_s=lease.STALE_AFTER_S + 60)
    st.create_or_open(str(url), LAYOUT, **args)  # stale: taken over
    assert lease.read_lease(str(url))["pid"] == os.getpid()
    st.finalize(str(url))


def test_heartbeat_renews_the_lease(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = str(tmp_path / "beat.zarr")
    monkeypatch.setattr(lease, "HEARTBEAT_S", 0.05)
    lease._stop.set()  # restart the beat thread with the short interval
    if lease._beat is not None:
        lease._beat.join()
    lease._stop.clear()
    st.create_or_open(url, LAYOUT, fingerprint={}, attrs={}, contigs=[("chr1", 5_000)])
    first = lease.read_lease(url)
    claim = Path(url) / "lease" / "gen-000000000000" / "zarr.json"
    claimed = claim.read_bytes()
    deadline = time.monotonic() + 10
    while lease.read_lease(url)["heartbeat"] == first["heartbeat"] and time.monotonic() < deadline:
        time.sleep(0.02)
    assert lease.read_lease(url)["heartbeat"] > first["heartbeat"]
    assert claim.read_bytes() == claimed  # the claim itself is never rewritten
    beats = [p.name for p in (Path(url) / "lease").iterdir() if p.name.startswith("beat-")]
    assert beats == [f"beat-000000000000-{first['token']}"]
    st.finalize(url)
    assert not (Path(url) / "lease").exists()


def test_fsspec_store_uses_the_same_lease(tmp_path: Path) -> None:
    """The object-store code path (fsspec open 'xb'), on fsspec's in-memory filesystem."""
    import fsspec

    url = f"memory://ntscale-lease-test/{tmp_path.name}/s.zarr"
    fs = fsspec.filesystem("memory")
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    other = {"host": "node-9", "pid": 7, "started": now, "heartbeat": now, "token": "t"}
    assert lease._write_claim(url, 0, other)
    args = dict(fingerprint={}, attrs={}, contigs=[("chr1", 5_000)])
    with pytest.raises(StoreError, match=r"in use by another run \(host node-9, pid 7, "):
        st.create_or_open(url, LAYOUT, **args)
    fs.rm(url.removeprefix("memory://") + "/lease", recursive=True)
    st.create_or_open(url, LAYOUT, **args)
    assert lease.read_lease(url)["pid"] == os.getpid()
    st.finalize(url)
    assert lease.read_lease(url) is None
    assert st.open(url).sizes["window"] == 8
