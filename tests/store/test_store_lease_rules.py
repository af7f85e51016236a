"""The run lease's rules, one by one: when a holder counts as gone, re-entry, release, and
what an unreadable lease means (store/lease.py), on real lease files and real processes."""

from __future__ import annotations

import datetime as dt
import logging
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from ntscale.store import lease

HOST = socket.gethostname()


def _ago(seconds: float) -> str:
    return (dt.datetime.now(dt.UTC) - dt.timedelta(seconds=seconds)).isoformat(timespec="seconds")


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait(timeout=60)
    return proc.pid


def test_unreadable_or_undated_leases_are_stale() -> None:
    assert lease.stale_reason({}) == "the lease is unreadable"
    remote = {"host": "elsewhere", "pid": 7, "heartbeat": "yesterday-ish"}
    assert lease.stale_reason(remote) == "the lease has no valid heartbeat"


def test_another_hosts_lease_is_judged_by_its_heartbeat_only() -> None:
    remote = {"host": "elsewhere", "pid": 7, "heartbeat": _ago(30)}
    assert lease.stale_reason(remote) is None
    old = {**remote, "heartbeat": _ago(20 * 60)}
    assert lease.stale_reason(old) == "no heartbeat for 20 minutes"
    two = {**remote, "heartbeat": _ago(125)}
    assert lease.stale_reason(two) is None
    assert lease.stale_reason(two, stale_after_s=60) == "no heartbeat for 2 minutes"


def test_a_gone_or_reused_pid_on_this_host_is_stale_at_once() -> None:
    pid = _dead_pid()
    fresh = _ago(0)
    gone = {"host": HOST, "pid": pid, "pid_start": "1", "heartbeat": fresh}
    assert lease.stale_reason(gone) == f"process {pid} on this host is gone"
    parent = os.getppid()  # alive, but its start time is not the recorded one
    reused = {"host": HOST, "pid": parent, "pid_start": "-5", "heartbeat": fresh}
    assert lease.stale_reason(reused) == f"pid {parent} on this host now belongs to another process"
    alive = {**reused, "pid_start": lease._proc_start(parent)}
    assert lease.stale_reason(alive) is None
    mine = {"host": HOST, "pid": os.getpid(), "pid_start": lease._proc_start(os.getpid()),
            "heartbeat": _ago(3600)}  # fmt: skip
    assert lease.stale_reason(mine) is None  # this process: never stale


def test_read_lease_absent_garbage_and_present(tmp_path: Path) -> None:
    url = str(tmp_path / "s.zarr")
    assert lease.read_lease(url) is None
    claim = tmp_path / "s.zarr" / "lease" / "gen-000000000000"
    claim.mkdir(parents=True)
    (claim / "zarr.json").write_text('{"zarr_format": 3}')
    assert lease.read_lease(url) == {}
    info = {"host": "h", "pid": 3, "started": "s", "heartbeat": "b", "token": "t"}
    assert lease._write_claim(url, 1, info)
    assert lease.read_lease(url) == {**info, "generation": 1}
    assert lease.describe(info) == "host h, pid 3, started s, last heartbeat b"


def test_acquire_is_reentrant_and_release_removes_the_lease(tmp_path: Path) -> None:
    url = str(tmp_path / "r.zarr")
    first = lease.acquire(url)
    try:
        assert lease.holds(url) and lease.holds(str(tmp_path / "." / "r.zarr"))
        assert lease.acquire(url) is first  # the same process resumes: no new token
        held = lease.read_lease(url)
        assert held["token"] == first.info["token"] and held["host"] == HOST
        assert held["pid"] == os.getpid() and held["pid_start"] == lease._proc_start(os.getpid())
    finally:
        lease.release(url)
    assert not lease.holds(url) and lease.read_lease(url) is None
    assert not (tmp_path / "r.zarr" / "lease").exists()
    lease.release(url)  # releasing a lease not held is a no-op


def test_a_lease_taken_over_meanwhile_is_left_to_its_new_holder(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = str(tmp_path / "t.zarr")
    lease.acquire(url)
    other = {"host": "elsewhere", "pid": 9, "started": _ago(5), "heartbeat": _ago(0),
             "token": "theirs"}  # fmt: skip
    assert lease._write_claim(url, 1, other)  # a takeover
    with caplog.at_level(logging.WARNING, logger="ntscale.store.lease"):
        lease.release(url)
    assert "was taken over by another run (host elsewhere, pid 9" in caplog.text
    assert "before this run ended" in caplog.text
    assert lease.read_lease(url)["token"] == "theirs"


def test_a_lease_of_this_process_not_in_memory_is_taken_over(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # e.g. written by this process before the store folder was copied back in place
    url = str(tmp_path / "m.zarr")
    mine = {"host": HOST, "pid": os.getpid(), "pid_start": lease._proc_start(os.getpid()),
            "started": _ago(9), "heartbeat": _ago(9), "token": "old"}  # fmt: skip
    assert lease._write_claim(url, 0, mine)
    with caplog.at_level(logging.WARNING, logger="ntscale.store.lease"):
        taken = lease.acquire(url)
    try:
        assert "held by this process" in caplog.text
        assert lease.read_lease(url)["token"] == taken.info["token"] != "old"
    finally:
        lease.release(url)


def test_a_deleted_store_is_leased_afresh(tmp_path: Path) -> None:
    url = str(tmp_path / "gone.zarr")
    first = lease.acquire(url)
    shutil.rmtree(tmp_path / "gone.zarr" / "lease")  # the user deleted the store
    second = lease.acquire(url)
    try:
        assert second.info["token"] != first.info["token"]
        assert lease.read_lease(url)["token"] == second.info["token"]
    finally:
        lease.release(url)
