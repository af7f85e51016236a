"""Taking over a stale lease is atomic, a holder that lost its lease writes nothing more,
and the heartbeat cannot overwrite a takeover (store/lease.py, store/writer.py)."""

from __future__ import annotations

import datetime as dt
import logging
import multiprocessing as mp
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from lease_race import race
from store_workers import (
    ATTRS,
    CONTIGS,
    FINGERPRINT,
    LAYOUT,
    unit_embeddings,
    unit_windows,
    write_window_units,
)

import ntscale.store as st
from ntscale.store import lease

TRIALS = 500
RACERS = 6


def _ago(seconds: float) -> str:
    return (dt.datetime.now(dt.UTC) - dt.timedelta(seconds=seconds)).isoformat(timespec="seconds")


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait(timeout=60)
    return proc.pid


def _stale_info(pid: int) -> dict:
    """A lease of a process of this host that is gone: stale at once."""
    return {"host": socket.gethostname(), "pid": pid, "pid_start": "1", "started": _ago(60),
            "heartbeat": _ago(1), "token": "dead0"}  # fmt: skip


def _other_info(token: str = "beef") -> dict:
    """A live lease of a run on another host (fresh heartbeat)."""
    return {"host": "gpu-node-3", "pid": 77, "started": _ago(1), "heartbeat": _ago(0),
            "token": token}  # fmt: skip


@pytest.mark.slow
def test_racing_takeovers_of_a_stale_lease_leave_exactly_one_holder(tmp_path: Path) -> None:
    dead = _dead_pid()
    for trial in range(TRIALS):
        assert lease._write_claim(str(tmp_path / f"t{trial}"), 0, _stale_info(dead))
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(RACERS)
    results = ctx.Queue()
    procs = [ctx.Process(target=race, args=(str(tmp_path), TRIALS, barrier, results))
             for _ in range(RACERS)]  # fmt: skip
    t0 = time.monotonic()
    for p in procs:
        p.start()
    try:
        got = [results.get(timeout=120) for _ in range(TRIALS * RACERS)]
        for p in procs:
            p.join(timeout=60)
            assert p.exitcode == 0
    finally:
        for p in procs:
            if p.is_alive():
                p.kill()
                p.join()
    seconds = time.monotonic() - t0
    winners: dict[int, list[tuple[int, str]]] = {t: [] for t in range(TRIALS)}
    for trial, pid, token in got:
        if token is not None:
            winners[trial].append((pid, token))
    counts = {t: len(w) for t, w in winners.items()}
    assert set(counts.values()) == {1}, {t: n for t, n in counts.items() if n != 1}
    for trial, [(pid, token)] in winners.items():
        holder = lease.read_lease(str(tmp_path / f"t{trial}"))
        assert (holder["pid"], holder["token"], holder["generation"]) == (pid, token, 1)
    assert seconds < 60, f"{TRIALS} trials took {seconds:.0f} s"


def test_a_takeover_between_the_heartbeats_check_and_write_survives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    url = str(tmp_path / "beat.zarr")
    held = lease.acquire(url)
    claim = tmp_path / "beat.zarr" / "lease" / "gen-000000000001" / "zarr.json"

    written: list[bytes] = []

    def take_over(_: lease.Lease) -> None:  # another run claims the next generation right here
        assert lease._write_claim(url, 1, _other_info())
        written.append(claim.read_bytes())

    monkeypatch.setattr(lease, "_before_beat_write", take_over)
    lease._beat_once(held)  # checked (still the holder), then the takeover, then the write
    monkeypatch.setattr(lease, "_before_beat_write", None)
    taken = claim.read_bytes()
    assert taken == written[0]  # the old holder's beat went to its own object
    assert (claim.parent.parent / f"beat-000000000000-{held.info['token']}").is_dir()
    holder = lease.read_lease(url)
    assert (holder["host"], holder["token"], holder["generation"]) == ("gpu-node-3", "beef", 1)
    with caplog.at_level(logging.ERROR, logger="ntscale.store.lease"):
        lease._beat_once(held)  # the next beat sees the takeover and stops
    assert "lost the lease of" in caplog.text and "gpu-node-3" in caplog.text
    with pytest.raises(lease.LeaseLost, match="taken over by another run \\(host gpu-node-3"):
        lease.check(url)
    assert lease.release(url) is False  # nothing of the new holder is deleted
    assert claim.read_bytes() == taken
    assert lease.read_lease(url)["token"] == "beef"


def test_a_writer_whose_run_lost_the_lease_writes_nothing_more(tmp_path: Path) -> None:
    url = str(tmp_path / "lost.zarr")
    writer = st.create_or_open(url, LAYOUT, fingerprint=FINGERPRINT, attrs=ATTRS, contigs=CONTIGS)
    write_window_units(writer, [0])
    worker_side = st.open_writer(url)  # a worker process's writer adopts the run's claim
    assert lease._write_claim(url, 1, _other_info())  # another run takes the store over
    before = sorted(p.relative_to(tmp_path) for p in (tmp_path / "lost.zarr").rglob("*"))
    for w in (writer, worker_side):
        with pytest.raises(lease.LeaseLost, match="lost the lease of output store"):
            w.write_window_unit(1, windows=unit_windows(LAYOUT, 1),
                                embeddings=unit_embeddings(LAYOUT, 1))  # fmt: skip
        with pytest.raises(lease.LeaseLost):
            w.mark_done(0)
        with pytest.raises(lease.LeaseLost):
            w.clear_done([0])
        with pytest.raises(lease.LeaseLost):
            w.set_attrs(note="x")
    after = sorted(p.relative_to(tmp_path) for p in (tmp_path / "lost.zarr").rglob("*"))
    assert after == before  # not one chunk written
    with pytest.raises(lease.LeaseLost):
        st.finalize(url)  # no consolidated metadata written over the new holder's store
    assert lease.read_lease(url)["token"] == "beef"
    assert np.asarray(writer.done_units()).tolist() == [True, False, False, False, False]


def test_a_released_lease_does_not_let_its_old_holder_write(tmp_path: Path) -> None:
    """The new holder ended and released: the old one still sees its claim gone."""
    url = str(tmp_path / "gone.zarr")
    writer = st.create_or_open(url, LAYOUT, fingerprint=FINGERPRINT, attrs=ATTRS, contigs=CONTIGS)
    guard = lease.guard(url)
    assert lease._write_claim(url, 1, _other_info())
    for name in os.listdir(tmp_path / "gone.zarr" / "lease"):  # the other run released
        if name.startswith("gen-"):
            lease._delete(url, name)
    assert lease.read_lease(url) is None
    with pytest.raises(lease.LeaseLost, match="removed"):
        guard.check()
    with pytest.raises(lease.LeaseLost):
        write_window_units(writer, [2])


def test_claims_and_beats_form_a_valid_zarr_hierarchy(tmp_path: Path) -> None:
    import warnings

    url = str(tmp_path / "h.zarr")
    st.create_or_open(url, LAYOUT, fingerprint=FINGERPRINT, attrs=ATTRS, contigs=CONTIGS)
    lease._beat_once(lease._held[lease._key(url)])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        import zarr

        names = sorted(n for n, _ in zarr.open_group(url, mode="r").members(max_depth=None))
    assert "lease/gen-000000000000" in names
    assert any(n.startswith("lease/beat-000000000000-") for n in names)
    st.finalize(url)
    assert not (tmp_path / "h.zarr" / "lease").exists()


def test_lease_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NTSCALE_LEASE_HEARTBEAT_S", "0.25")
    monkeypatch.setenv("NTSCALE_LEASE_STALE_S", "2")
    assert (lease.heartbeat_s(), lease.stale_after_s()) == (0.25, 2.0)
    reason = lease.stale_reason(_other_info() | {"heartbeat": _ago(5)})
    assert re.fullmatch(r"no heartbeat for [5-9] s", str(reason)), reason
    assert lease.stale_reason(_other_info() | {"heartbeat": _ago(0)}) is None
    monkeypatch.delenv("NTSCALE_LEASE_HEARTBEAT_S")
    monkeypatch.delenv("NTSCALE_LEASE_STALE_S")
    assert (lease.heartbeat_s(), lease.stale_after_s()) == (lease.HEARTBEAT_S, 600.0)
