"""Session-end check that the test suite left no process running (a pytest plugin).

Every process the suite starts is found by one of three marks:
- it descends from the test process (its parent chain leads here);
- its environment carries this session's NTSCALE_TEST_SESSION value (set at start and
  inherited by every child, also by daemons reparented to init, such as Ray's raylet);
- its command line names a temp dir of a Ray cluster the suite started (`register_dir`),
  for the processes Ray starts with a scrubbed environment.
At the end of the session those still alive get a bounded wait (Ray workers take a moment
to exit), then are killed by pid, and the run fails naming each (pid and command line).
NTSCALE_LEAK_CHECK=0 turns the check off (e.g. while debugging with a cluster kept on).
Under pytest-xdist every worker has its own mark and checks its own processes; it hands
what it found to the controller (xdist's `workeroutput`), which reports it and fails the run.
"""

from __future__ import annotations

import os
import signal
import time
import uuid

import pytest

MARK_VAR = "NTSCALE_TEST_SESSION"
WAIT_S = float(os.environ.get("NTSCALE_LEAK_WAIT_S") or 20.0)
"""How long processes of the suite may take to exit after the last test (the leak check's
own test sets NTSCALE_LEAK_WAIT_S for its inner session: its daemon never exits)."""

_dirs: list[str] = []

# helpers of the test process itself that end with it (not started by a test's code)
_BENIGN = ("multiprocessing.resource_tracker", "multiprocessing.forkserver")


def register_dir(path: object) -> None:
    """A temp dir of a cluster the suite starts: processes naming it belong to the suite."""
    _dirs.append(str(path))


def _read(pid: int, name: str) -> bytes:
    try:
        with open(f"/proc/{pid}/{name}", "rb") as f:
            return f.read()
    except OSError:
        return b""


def _stat(pid: int) -> tuple[str, int] | None:
    """(state, ppid) of a process, None if it is gone."""
    raw = _read(pid, "stat")
    if not raw:
        return None
    fields = raw.rsplit(b")", 1)[1].split()
    return fields[0].decode(), int(fields[1])


def suite_processes(token: str, dirs: list[str], root: int | None = None) -> dict[int, str]:
    """Live processes (not zombies) started by the suite: pid -> command line."""
    root = os.getpid() if root is None else root
    table: dict[int, tuple[str, int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (st := _stat(int(entry))) is not None:
            table[int(entry)] = st
    ancestors, pid = set(), root
    while pid > 1 and pid in table:  # the test process and its parents are not the suite's
        ancestors.add(pid)
        pid = table[pid][1]
    needle = f"{MARK_VAR}={token}".encode()
    found = {}
    for pid, (state, _) in table.items():
        if pid in ancestors or state == "Z":
            continue
        cmd = _read(pid, "cmdline").replace(b"\0", b" ").decode(errors="replace").strip()
        up, descends = pid, False
        while up in table and up > 1:
            up = table[up][1]
            if up == root:
                descends = True
                break
        if descends and table[pid][1] == root and any(b in cmd for b in _BENIGN):
            continue
        marked = needle in _read(pid, "environ").split(b"\0")
        named = any(d and d in cmd for d in dirs)
        if descends or marked or named:
            found[pid] = cmd
    return found


def reap(
    token: str, dirs: list[str], wait_s: float | None = None, root: int | None = None
) -> dict[int, str]:
    """Wait up to `wait_s` for the suite's processes to end; kill those left (by pid) and
    return them (pid -> command line).

    `root` (default: this process) is whose descendants count as the suite's. A test of the
    check itself must pass a process of its own: reaping from inside a test process also
    kills that process's live session fixtures, such as the in-process Ray of `ray_session`
    (its driver then exits 60 s later: "Failed to connect to GCS"; docs/benchmarks.md,
    "the lost xdist worker")."""
    deadline = time.monotonic() + (WAIT_S if wait_s is None else wait_s)
    left = suite_processes(token, dirs, root)
    while left and time.monotonic() < deadline:
        time.sleep(0.25)
        left = suite_processes(token, dirs, root)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in suite_processes(token, dirs, root):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        end = time.monotonic() + 3.0
        while suite_processes(token, dirs, root) and time.monotonic() < end:
            time.sleep(0.1)
    return left


def pytest_configure(config: pytest.Config) -> None:
    token = uuid.uuid4().hex
    os.environ[MARK_VAR] = token
    config.stash[_TOKEN] = token


_TOKEN = pytest.StashKey[str]()


_WORKER_KEY = "ntscale_leaked_processes"
_from_workers: list[str] = []


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: object, error: object) -> None:
    """(xdist controller) Keep what a finished worker's leak check found."""
    _from_workers.extend(getattr(node, "workeroutput", {}).get(_WORKER_KEY, []))


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    if os.environ.get("NTSCALE_LEAK_CHECK") == "0" or _TOKEN not in config.stash:
        return
    left = reap(config.stash[_TOKEN], _dirs)
    found = [f"  pid {pid}: {cmd[:300]}" for pid, cmd in sorted(left.items())]
    if hasattr(config, "workeroutput"):  # an xdist worker: the controller reports it
        config.workeroutput[_WORKER_KEY] = found
        return
    found += _from_workers
    if not found:
        return
    lines = [f"the test suite left {len(found)} process(es) running (killed now):", *found]
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_sep("=", "leaked processes", red=True)
        for line in lines:
            reporter.write_line(line)
    else:
        print("\n".join(lines))
    session.exitstatus = pytest.ExitCode.TESTS_FAILED
