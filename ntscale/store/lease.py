"""The run lease: one driver at a time writes a store, and a new store is created once.

The lease lives in the store's `lease/` group as numbered claims, each a small Zarr group
`lease/gen-<generation>/zarr.json` whose attributes name its holder (host, pid, token):

- a claim is only ever created with an exclusive write, never rewritten: on local disks
  a uniquely named temporary file hard-linked into place (`link` fails if the name
  exists: atomic on POSIX filesystems, NFS included); on fsspec URLs `open(path, "xb")`
  (s3fs sends `If-None-Match: *`, atomic on S3 and compatible servers; filesystems
  without a conditional write fall back to check-then-write, see docs/store.md);
- the holder is the claim with the highest generation. A new store is leased by creating
  generation 0, so of two runs racing on one new path exactly one creates the store;
  a stale lease of generation g is taken over by creating generation g + 1, so of any
  number of runs taking it over at the same instant exactly one gets it (a compare-and-
  swap: nothing is deleted or rewritten on the way);
- the heartbeat never rewrites a claim: the holder of generation g writes its own object
  `lease/beat-<g>-<token>/zarr.json`, which no other run writes, after checking that g
  is still the highest claim; a takeover between the check and the write cannot be
  overwritten (the new claim is another object), and the old holder sees it at its
  next check;
- a holder checks its claim before every unit write and done mark (`Guard.check`, used
  by `StoreWriter`) and when its heartbeat runs; once another claim is above its own
  (or its own is gone) it raises `LeaseLost` and writes nothing more.

A lease is stale, and taken over by the next run, when its holder ran on this host and
that process is gone (pid absent, or reused: its start time differs), or when its last
heartbeat (every `heartbeat_s()`) is older than `stale_after_s()` (settings:
NTSCALE_LEASE_HEARTBEAT_S, NTSCALE_LEASE_STALE_S; defaults 60 s and 10 minutes). The
holder releases the lease in `finalize` and, on errors, at process exit (atexit): it
deletes the lease objects of its generation and below, never a newer claim.
"""

from __future__ import annotations

import atexit
import datetime as dt
import json
import logging
import os
import re
import socket
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ntscale.errors import StoreError
from ntscale.store import backend

log = logging.getLogger(__name__)

LEASE_DIR = "lease"
HEARTBEAT_S = 60.0
STALE_AFTER_S = 600.0
"""No heartbeat for this long (10 heartbeats missed) = the holder is gone."""

_CLAIM = re.compile(r"gen-(\d{12})$")
_BEAT = re.compile(r"beat-(\d{12})-([0-9a-f]+)$")


def heartbeat_s() -> float:
    """Seconds between heartbeats (NTSCALE_LEASE_HEARTBEAT_S, else HEARTBEAT_S)."""
    return float(os.environ.get("NTSCALE_LEASE_HEARTBEAT_S") or HEARTBEAT_S)


def stale_after_s() -> float:
    """Heartbeat age that makes a lease stale (NTSCALE_LEASE_STALE_S, else STALE_AFTER_S)."""
    return float(os.environ.get("NTSCALE_LEASE_STALE_S") or STALE_AFTER_S)


class LeaseLost(StoreError):
    """Another run took over this run's lease: this run must stop writing the store."""


@dataclass
class Lease:
    """A lease this process holds on one store (its claim: generation and token)."""

    url: str
    info: dict[str, Any]
    generation: int = 0
    lost: str | None = None
    released: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def guard(self) -> Guard:
        return Guard(self.url, self.generation, self.info["token"])


@dataclass(frozen=True)
class Guard:
    """A claim (store, generation, token) that writers check before each write; picklable."""

    url: str
    generation: int
    token: str

    def check(self) -> None:
        """Raise LeaseLost if a newer claim exists or this claim is gone."""
        with _lock:
            held = _held.get(_key(self.url))
        if held is not None and held.generation == self.generation and held.lost:
            raise _lost_error(self.url, held.lost)
        why = _lost_reason(self.url, self.generation, self.token)
        if why is not None:
            if held is not None and held.generation == self.generation:
                held.lost = why
            raise _lost_error(self.url, why)


_held: dict[str, Lease] = {}
_lock = threading.Lock()
_beat: threading.Thread | None = None
_stop = threading.Event()
_before_beat_write: Callable[[Lease], None] | None = None
"""Test hook: called by the heartbeat between its check and its write."""


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
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


def _document(info: dict[str, Any] | None) -> bytes:
    attrs = {} if info is None else {"ntscale_lease": info}
    return json.dumps({"zarr_format": 3, "node_type": "group", "attributes": attrs}).encode()


def _claim_name(generation: int) -> str:
    return f"gen-{generation:012d}"


def _beat_name(generation: int, token: str) -> str:
    return f"beat-{generation:012d}-{token}"


# -- the lease objects, on a local disk or an fsspec filesystem ------------------------------


def _names(url: str) -> list[str]:
    """Names of the objects (sub-groups) of the lease group, fresh (no listing cache)."""
    path = backend.local_path(url)
    if path is not None:
        try:
            return os.listdir(path / LEASE_DIR)
        except (FileNotFoundError, NotADirectoryError):
            return []
    fs, root = backend.filesystem(url)
    where = f"{root.rstrip('/')}/{LEASE_DIR}"
    fs.invalidate_cache(where)
    try:
        return [p.rstrip("/").rsplit("/", 1)[-1] for p in fs.ls(where, detail=False)]
    except FileNotFoundError:
        return []


def _read(url: str, name: str) -> dict[str, Any] | None:
    """The holder info of one lease object; None if absent, {} if unreadable."""
    raw = backend.read_bytes(url, f"{LEASE_DIR}/{name}/zarr.json")
    if raw is None:
        return None
    try:
        return dict(json.loads(raw)["attributes"]["ntscale_lease"])
    except (ValueError, KeyError, TypeError):
        return {}


def _create(url: str, name: str, data: bytes) -> bool:
    """Create `lease/<name>/zarr.json` if absent; False if it exists."""
    path = backend.local_path(url)
    if path is not None:
        target = path / LEASE_DIR / name / "zarr.json"
        for _ in range(5):  # a run releasing the lease may remove the folders meanwhile
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = path / LEASE_DIR / f".tmp-{uuid.uuid4().hex}"
            try:
                tmp.write_bytes(data)
                os.link(tmp, target)  # atomic: fails if the claim exists
                return True
            except FileExistsError:
                return False
            except FileNotFoundError:
                continue
            finally:
                tmp.unlink(missing_ok=True)
        raise OSError(f"cannot create {target}: its folder keeps disappearing")
    fs, root = backend.filesystem(url)
    key = f"{root.rstrip('/')}/{LEASE_DIR}/{name}/zarr.json"
    try:
        with fs.open(key, "xb") as f:  # s3fs: PutObject with If-None-Match: *
            f.write(data)
        return True
    except FileExistsError:
        return False
    except (ValueError, NotImplementedError):
        # no exclusive mode on this filesystem: check, then write (a short race window)
        if fs.exists(key):
            return False
        fs.pipe_file(key, data)
        return True
    except OSError:
        fs.invalidate_cache(key)
        if fs.exists(key):  # a server that answers 412 without naming the condition
            return False
        raise


def _put(url: str, name: str, data: bytes) -> None:
    """Write `lease/<name>/zarr.json` (a heartbeat: only its owner writes this name)."""
    path = backend.local_path(url)
    if path is not None:
        target = path / LEASE_DIR / name / "zarr.json"
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".tmp-{uuid.uuid4().hex}")
        tmp.write_bytes(data)
        os.replace(tmp, target)
        return
    fs, root = backend.filesystem(url)
    fs.pipe_file(f"{root.rstrip('/')}/{LEASE_DIR}/{name}/zarr.json", data)


def _delete(url: str, name: str) -> None:
    path = backend.local_path(url)
    if path is not None:
        (path / LEASE_DIR / name / "zarr.json").unlink(missing_ok=True)
        try:
            (path / LEASE_DIR / name).rmdir()
        except OSError:
            pass
        return
    fs, root = backend.filesystem(url)
    try:
        fs.rm_file(f"{root.rstrip('/')}/{LEASE_DIR}/{name}/zarr.json")
    except FileNotFoundError:
        pass


def _delete_group_if_empty(url: str) -> None:
    if any(_CLAIM.match(n) or _BEAT.match(n) for n in _names(url)):
        return
    path = backend.local_path(url)
    if path is not None:
        (path / LEASE_DIR / "zarr.json").unlink(missing_ok=True)
        try:
            (path / LEASE_DIR).rmdir()
        except OSError:
            pass
        return
    fs, root = backend.filesystem(url)
    try:
        fs.rm_file(f"{root.rstrip('/')}/{LEASE_DIR}/zarr.json")
    except FileNotFoundError:
        pass


def _write_claim(url: str, generation: int, info: dict[str, Any]) -> bool:
    """Create the claim of `generation` (and the lease group) exclusively; False if taken."""
    if LEASE_DIR not in _names_parent(url):
        _put_group(url)
    return _create(url, _claim_name(generation), _document({**info, "generation": generation}))


def _names_parent(url: str) -> list[str]:
    path = backend.local_path(url)
    if path is not None:
        return [LEASE_DIR] if (path / LEASE_DIR / "zarr.json").exists() else []
    return [LEASE_DIR] if backend.read_bytes(url, f"{LEASE_DIR}/zarr.json") is not None else []


def _put_group(url: str) -> None:
    """The `lease/` group node itself (so Zarr readers see a valid hierarchy)."""
    path = backend.local_path(url)
    if path is not None:
        (path / LEASE_DIR).mkdir(parents=True, exist_ok=True)
        tmp = path / LEASE_DIR / f".tmp-{uuid.uuid4().hex}"
        tmp.write_bytes(_document(None))
        os.replace(tmp, path / LEASE_DIR / "zarr.json")
        return
    fs, root = backend.filesystem(url)
    fs.pipe_file(f"{root.rstrip('/')}/{LEASE_DIR}/zarr.json", _document(None))


def _claims(names: list[str]) -> list[int]:
    return sorted(int(m.group(1)) for n in names if (m := _CLAIM.match(n)))


def current(url: str) -> tuple[int, dict[str, Any]] | None:
    """(generation, holder info with its latest heartbeat) of the highest claim, or None."""
    for _ in range(5):
        names = _names(url)
        gens = _claims(names)
        if not gens:
            return None
        gen = gens[-1]
        info = _read(url, _claim_name(gen))
        if info is None:
            continue  # released meanwhile: look again
        if info and info.get("token"):
            beat = _read(url, _beat_name(gen, str(info["token"])))
            if beat and str(beat.get("heartbeat", "")) > str(info.get("heartbeat", "")):
                info["heartbeat"] = beat["heartbeat"]
        if info:
            info["generation"] = gen
        return gen, info
    return None


def read_lease(url: str) -> dict[str, Any] | None:
    """The holder of a store's lease ({host, pid, started, heartbeat, token, generation}),
    {} if its claim is unreadable, or None if no run holds it."""
    cur = current(url)
    return None if cur is None else cur[1]


def _lost_reason(url: str, generation: int, token: str) -> str | None:
    """Why the claim (generation, token) no longer holds the lease of `url`, or None."""
    gens = _claims(_names(url))
    if generation not in gens:
        newer = [g for g in gens if g > generation]
        if newer:
            info = _read(url, _claim_name(newer[-1])) or {}
            return f"taken over by another run ({describe(info)})"
        return "its lease was removed (released by a run that took it over, or deleted)"
    if gens[-1] != generation:
        info = _read(url, _claim_name(gens[-1])) or {}
        return f"taken over by another run ({describe(info)})"
    mine = _read(url, _claim_name(generation))
    if mine is not None and mine.get("token") != token:
        return f"taken over by another run ({describe(mine)})"
    return None


def _lost_error(url: str, why: str) -> LeaseLost:
    return LeaseLost(
        f"this run lost the lease of output store {url!r}: {why}; it stopped writing the "
        "store (the other run owns it now; run this command again after it ends to resume)"
    )


def stale_reason(info: dict[str, Any], *, stale_after_s: float | None = None) -> str | None:
    """Why a lease is stale (its holder is gone), or None if it may still be live."""
    limit = globals()["stale_after_s"]() if stale_after_s is None else stale_after_s
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
    if age > limit:
        return f"no heartbeat for {_age(age)}"
    return None


def _age(seconds: float) -> str:
    return f"{seconds / 60:.0f} minutes" if seconds >= 120 else f"{seconds:.0f} s"


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


def acquire(url: str, *, stale_after_s: float | None = None) -> Lease:
    """Take the run lease of `url` (creating `lease/` first); StoreError if another run holds it."""
    limit = globals()["stale_after_s"]() if stale_after_s is None else stale_after_s
    key = _key(url)
    with _lock:
        held = _held.get(key)
    if held is not None:
        if not held.lost and _lost_reason(url, held.generation, held.info["token"]) is None:
            return held  # this process holds it already (a resume in the same process)
        with _lock:  # lost, or the store or its lease was removed meanwhile: take it afresh
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
    for _ in range(5):
        cur = current(url)
        reason = None
        if cur is None:
            generation = 0
        else:
            other_gen, other = cur
            reason = stale_reason(other, stale_after_s=limit)
            if reason is None and other.get("host") == info["host"] and other.get("pid") == pid:
                reason = "held by this process"
            if reason is None:
                raise StoreError(
                    f"output store {url!r} is in use by another run ({describe(other)}); "
                    "wait for that run to finish, or, if it is dead, run again after "
                    f"{_age(limit)} without a heartbeat (at once on the same host) or "
                    f"delete {url.rstrip('/')}/{LEASE_DIR}/"
                )
            generation = other_gen + 1
        try:
            created = _write_claim(url, generation, info)
        except OSError as e:
            raise backend.write_error(url, e) from e
        if not created:
            continue  # another run claimed this generation first: judge its claim
        if cur is not None:
            log.warning("took over the stale lease of %s (%s): %s", url, describe(cur[1]), reason)
        lease = Lease(url, info, generation)
        with _lock:
            _held[key] = lease
        _start_heartbeat()
        return lease
    raise StoreError(f"could not take the lease of output store {url!r}: other runs keep taking it")


def guard(url: str) -> Guard | None:
    """The claim a writer of `url` checks: this process's lease, else the store's current
    holder (a worker process of the run that holds it), else None (no lease: unchecked)."""
    with _lock:
        held = _held.get(_key(url))
    if held is not None:
        return held.guard()
    cur = current(url)
    if cur is None or not cur[1].get("token"):
        return None
    return Guard(url, cur[0], str(cur[1]["token"]))


def check(url: str) -> None:
    """Raise LeaseLost if this process held the lease of `url` and another run took it."""
    with _lock:
        held = _held.get(_key(url))
    if held is not None:
        held.guard().check()


def release(url: str, *, strict: bool = False) -> bool | None:
    """Give up this process's lease of `url`: None if it held none, False if another run
    had taken it over (nothing deleted; LeaseLost instead when `strict`), True if released."""
    key = _key(url)
    with _lock:
        lease = _held.pop(key, None)
    if lease is None:
        return None
    with lease.lock:
        lease.released = True
        why = lease.lost or _lost_reason(url, lease.generation, lease.info["token"])
        if why is not None:
            lease.lost = why
            _delete(url, _beat_name(lease.generation, lease.info["token"]))
            if strict:
                raise _lost_error(url, why)
            if "taken over" in why:
                log.warning("the lease of %s was %s before this run ended", url, why)
            return False
        names = _names(url)
        # older claims and heartbeats first, this run's claim last: a newer claim (a takeover
        # racing with this release) is never deleted
        for name in sorted(names):
            m = _CLAIM.match(name) or _BEAT.match(name)
            if m and int(m.group(1)) < lease.generation:
                _delete(url, name)
        _delete(url, _beat_name(lease.generation, lease.info["token"]))
        _delete(url, _claim_name(lease.generation))
        _delete_group_if_empty(url)
    return True


def holds(url: str) -> bool:
    """True if this process holds the lease of `url` (and has not seen it taken over)."""
    with _lock:
        held = _held.get(_key(url))
    return held is not None and not held.lost


def _beat_once(lease: Lease) -> None:
    """Renew one lease: check the claim is still the newest, then write this run's beat."""
    with lease.lock:
        if lease.released or lease.lost:
            return
        why = _lost_reason(lease.url, lease.generation, lease.info["token"])
        if why is not None:
            lease.lost = why
            log.error("lost the lease of %s: %s; this run stops writing", lease.url, why)
            return
        if _before_beat_write is not None:
            _before_beat_write(lease)
        beat = {"token": lease.info["token"], "heartbeat": _now()}
        _put(lease.url, _beat_name(lease.generation, lease.info["token"]), _document(beat))


def _beat_all() -> None:
    while not _stop.wait(heartbeat_s()):
        with _lock:
            leases = list(_held.values())
        for lease in leases:
            try:
                _beat_once(lease)
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
