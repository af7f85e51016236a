"""The run lease: one driver at a time writes a store, and a new store is created once.

The lease is the object `lease/zarr.json` inside the store (a Zarr group whose attributes
name the holder, so Zarr and xarray readers see a valid hierarchy). It is created with an
exclusive write before anything else of the store, so of two runs racing on one new path
exactly one creates the store and the other is refused, naming the holder:

- local disks: the lease is written to a temporary file and hard-linked into place
  (`link` fails if the name exists: atomic on POSIX filesystems, NFS included);
- fsspec URLs: `open(path, "xb")`: s3fs sends `If-None-Match: *` (atomic on S3 and
  compatible servers); filesystems without a conditional write fall back to
  check-then-write, which leaves a small race window (documented in docs/store.md).

A lease is stale, and taken over by the next run, when its holder ran on this host and
that process is gone (pid absent, or reused by another process: its start time differs),
or when its heartbeat (rewritten every HEARTBEAT_S by the holder) is older than
STALE_AFTER_S. The holder releases it in `finalize` at the end of the run and, on errors,
when the process exits (atexit); after `kill -9` the stale rule lets a resume proceed.
A process that already holds a store's lease may acquire it again (resume in-process).
"""

from __future__ import annotations

import atexit
import datetime as dt
import json
import logging
import os
import socket
import threading
import uuid
from dataclasses import dataclass
from typing import Any

from ntscale.errors import StoreError
from ntscale.store import backend

log = logging.getLogger(__name__)

LEASE_KEY = "lease/zarr.json"
HEARTBEAT_S = 60.0
STALE_AFTER_S = 600.0
"""No heartbeat for this long (10 heartbeats missed) = the holder is gone."""


@dataclass
class Lease:
    """A lease this process holds on one store."""

    url: str
    info: dict[str, Any]


_held: dict[str, Lease] = {}
_lock = threading.Lock()
_beat: threading.Thread | None = None
_stop = threading.Event()


def _key(url: str) -> str:
    path = backend.local_path(url)
    return str(path.resolve()) if path is not None else url.rstrip("/")


def _proc_start(pid: int) -> str | None:
    """Start time of a process (Linux /proc ticks since boot) to tell reused pids apart."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _document(info: dict[str, Any]) -> bytes:
    return json.dumps(
        {"zarr_format": 3, "node_type": "group", "attributes": {"ntscale_lease": info}},
        indent=1,
    ).encode()


def _write_exclusive(url: str, data: bytes) -> bool:
    """Create the lease object if absent; False if it exists."""
    path = backend.local_path(url)
    if path is not None:
        target = path / LEASE_KEY
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".lease-{uuid.uuid4().hex}")
        tmp.write_bytes(data)
        try:
            os.link(tmp, target)  # atomic: fails if the lease exists
            return True
        except FileExistsError:
            return False
        finally:
            tmp.unlink(missing_ok=True)
    fs, root = backend.filesystem(url)
    path = f"{root.rstrip('/')}/{LEASE_KEY}"
    try:
        with fs.open(path, "xb") as f:  # s3fs: PutObject with If-None-Match: *
            f.write(data)
        return True
    except FileExistsError:
        return False
    except (ValueError, NotImplementedError):
        # no exclusive mode on this filesystem: check, then write (a short race window)
        if fs.exists(path):
            return False
        fs.pipe_file(path, data)
        return True
    except OSError:
        if fs.exists(path):  # a server that answers 412 without naming the condition
            return False
        raise


def _overwrite(url: str, data: bytes) -> None:
    path = backend.local_path(url)
    if path is not None:
        target = path / LEASE_KEY
        tmp = target.with_name(f".lease-{uuid.uuid4().hex}")
        tmp.write_bytes(data)
        os.replace(tmp, target)
        return
    fs, root = backend.filesystem(url)
    fs.pipe_file(f"{root.rstrip('/')}/{LEASE_KEY}", data)


def _remove(url: str) -> None:
    path = backend.local_path(url)
    if path is not None:
        (path / LEASE_KEY).unlink(missing_ok=True)
        try:
            (path / LEASE_KEY).parent.rmdir()
        except OSError:
            pass
        return
    fs, root = backend.filesystem(url)
    try:
        fs.rm_file(f"{root.rstrip('/')}/{LEASE_KEY}")
    except FileNotFoundError:
        pass


def read_lease(url: str) -> dict[str, Any] | None:
    """The holder of a store's lease ({host, pid, started, heartbeat, ...}), or None."""
    raw = backend.read_bytes(url, LEASE_KEY)
    if raw is None:
        return None
    try:
        return dict(json.loads(raw)["attributes"]["ntscale_lease"])
    except (ValueError, KeyError, TypeError):
        return {}  # unreadable: treated as stale


def stale_reason(info: dict[str, Any], *, stale_after_s: float = STALE_AFTER_S) -> str | None:
    """Why a lease is stale (its holder is gone), or None if it may still be live."""
    if not info:
        return "the lease is unreadable"
    if info.get("host") == socket.gethostname():
        pid = int(info.get("pid", -1))
        if pid == os.getpid() and info.get("pid_start") == _proc_start(pid):
            return None  # this process: re-entrant, not stale
        start = _proc_start(pid) if pid > 0 else None
        if start is None and not _pid_alive(pid):
            return f"process {pid} on this host is gone"
        if start is not None and info.get("pid_start") not in (None, start):
            return f"pid {pid} on this host now belongs to another process"
    try:
        beat = dt.datetime.fromisoformat(str(info.get("heartbeat")))
    except ValueError:
        return "the lease has no valid heartbeat"
    age = (dt.datetime.now(dt.UTC) - beat).total_seconds()
    if age > stale_after_s:
        return f"no heartbeat for {age / 60:.0f} minutes"
    return None


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def describe(info: dict[str, Any]) -> str:
    return (
        f"host {info.get('host')!s}, pid {info.get('pid')!s}, started {info.get('started')!s}, "
        f"last heartbeat {info.get('heartbeat')!s}"
    )


def acquire(url: str, *, stale_after_s: float = STALE_AFTER_S) -> Lease:
    """Take the run lease of `url` (creating `lease/` first); StoreError if another run holds it."""
    key = _key(url)
    with _lock:
        held = _held.get(key)
    if held is not None:
        current = read_lease(url)
        if current and current.get("token") == held.info["token"]:
            return held  # this process holds it already (a resume in the same process)
        with _lock:  # the store or its lease was removed meanwhile: take it afresh
            _held.pop(key, None)
    pid = os.getpid()
    info = {
        "host": socket.gethostname(),
        "pid": pid,
        "pid_start": _proc_start(pid),
        "started": _now(),
        "heartbeat": _now(),
        "token": uuid.uuid4().hex,
    }
    for _ in range(3):
        try:
            created = _write_exclusive(url, _document(info))
        except OSError as e:
            raise backend.write_error(url, e) from e
        if created:
            lease = Lease(url, info)
            with _lock:
                _held[key] = lease
            _start_heartbeat()
            return lease
        other = read_lease(url)
        if other is None:
            continue  # released meanwhile: try again
        reason = stale_reason(other, stale_after_s=stale_after_s)
        if reason is None and other.get("host") == info["host"] and other.get("pid") == pid:
            reason = "held by this process"
        if reason is None:
            raise StoreError(
                f"output store {url!r} is in use by another run ({describe(other)}); "
                "wait for that run to finish, or, if it is dead, run again after "
                f"{stale_after_s / 60:.0f} minutes without a heartbeat (at once on the same "
                f"host) or delete {url.rstrip('/')}/lease/"
            )
        log.warning("taking over the stale lease of %s (%s): %s", url, describe(other), reason)
        _remove(url)
    raise StoreError(f"could not take the lease of output store {url!r}: other runs keep taking it")


def release(url: str) -> None:
    """Give up this process's lease of `url` (no-op if it holds none)."""
    key = _key(url)
    with _lock:
        lease = _held.pop(key, None)
    if lease is None:
        return
    current = read_lease(url)
    if current is None:
        return  # the store (or its lease) was removed meanwhile
    if current.get("token") == lease.info["token"]:
        _remove(url)
    else:
        log.warning("the lease of %s was taken over by another run before this one ended", url)


def holds(url: str) -> bool:
    """True if this process holds the lease of `url`."""
    with _lock:
        return _key(url) in _held


def _beat_all() -> None:
    while not _stop.wait(HEARTBEAT_S):
        with _lock:
            leases = list(_held.values())
        for lease in leases:
            try:
                current = read_lease(lease.url)
                if current is None:  # the store or its lease was deleted: nothing to renew
                    with _lock:
                        _held.pop(_key(lease.url), None)
                    continue
                if current.get("token") != lease.info["token"]:
                    log.error(
                        "lost the lease of %s to another run (%s)", lease.url, describe(current)
                    )
                    continue
                lease.info["heartbeat"] = _now()
                _overwrite(lease.url, _document(lease.info))
            except OSError as e:  # a transient storage error: try again next beat
                log.warning("cannot renew the lease of %s: %s", lease.url, e)


def _start_heartbeat() -> None:
    global _beat
    with _lock:
        if _beat is None or not _beat.is_alive():
            _beat = threading.Thread(target=_beat_all, name="ntscale-lease", daemon=True)
            _beat.start()


@atexit.register
def _release_all() -> None:
    _stop.set()
    for url in [lease.url for lease in list(_held.values())]:
        try:
            release(url)
        except Exception:  # noqa: BLE001 - exiting anyway; a stale lease is taken over later
            log.debug("could not release the lease of %s at exit", url, exc_info=True)
