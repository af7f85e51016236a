"""The session-end leak check (tests/leakcheck.py) finds what a test left running, and only
that: children, daemons carrying the session's mark, processes naming a suite cluster dir."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import leakcheck
import pytest

SLEEP = "import time; time.sleep(120)"


def _daemon(env: dict[str, str], *args: str) -> int:
    """Start a sleeper reparented away from this process (as `ray start` daemons are)."""
    code = (
        "import subprocess, sys; p = subprocess.Popen([sys.executable, '-c', "
        f"{SLEEP!r}, *sys.argv[1:]], start_new_session=True, stdout=subprocess.DEVNULL, "
        "stderr=subprocess.DEVNULL); print(p.pid)"
    )
    out = subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True,
                         text=True, check=True, timeout=60)  # fmt: skip
    return int(out.stdout)


def _gone(pid: int) -> bool:
    """Ended (a zombie not yet reaped by its new parent counts as ended)."""
    st = leakcheck._stat(pid)
    return st is None or st[0] == "Z"


def _kill(*pids: int) -> None:
    for pid in pids:
        if not _gone(pid):
            os.kill(pid, 9)


def _stand_in(child_code: str) -> tuple[subprocess.Popen, int]:
    """A stand-in for a test process: it starts one child running `child_code`, prints its
    pid, waits for it, then sleeps. The check runs with it as `root`, never with this
    process: reaping here would also kill this process's live session fixtures (the
    in-process Ray of `ray_session`, whose driver then ends this worker 60 s later)."""
    code = (
        "import subprocess, sys, time; "
        f"c = subprocess.Popen([sys.executable, '-c', {child_code!r}]); "
        "print(c.pid, flush=True); c.wait(); time.sleep(120)"
    )
    root = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    return root, int(root.stdout.readline())


def test_children_marked_daemons_and_named_dirs_are_the_suites_others_not() -> None:
    token = "t" + os.urandom(6).hex()
    cluster_dir = tempfile.mkdtemp(prefix="ntlk", dir="/tmp")
    clean = {k: v for k, v in os.environ.items() if k != leakcheck.MARK_VAR}
    root, child = _stand_in(SLEEP)
    mine = subprocess.Popen([sys.executable, "-c", SLEEP])  # this process's, as a fixture's
    marked = _daemon({**clean, leakcheck.MARK_VAR: token})
    named = _daemon(clean, f"--temp-dir={cluster_dir}/session_1")
    bystander = _daemon(clean, "--temp-dir=/tmp/elsewhere")
    try:
        found = leakcheck.suite_processes(token, [cluster_dir], root.pid)
        assert {child, marked, named} <= set(found)
        assert not {bystander, mine.pid, root.pid, os.getpid()} & set(found)
        assert SLEEP in found[child]
        left = leakcheck.reap(token, [cluster_dir], wait_s=0.5, root=root.pid)
        assert {child, marked, named} <= set(left)
        deadline = time.monotonic() + 10
        while not (_gone(child) and _gone(marked) and _gone(named)) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _gone(child) and _gone(marked) and _gone(named)
        assert not _gone(bystander) and root.poll() is None and mine.poll() is None
    finally:
        for proc in (root, mine):
            proc.kill()
            proc.wait()
        _kill(child, marked, named, bystander)
        os.rmdir(cluster_dir)


def test_a_process_that_ends_within_the_wait_is_not_reported() -> None:
    token = "t" + os.urandom(6).hex()
    root, _ = _stand_in("import time; time.sleep(1)")
    try:
        assert leakcheck.reap(token, [], wait_s=15, root=root.pid) == {}
        assert root.poll() is None  # the root itself is never the suite's
    finally:
        root.kill()
        root.wait()


@pytest.mark.slow
@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_a_session_that_leaks_a_process_fails_naming_it(tmp_path: Path, workers: list) -> None:
    """Also under pytest-xdist: a worker's leak is handed to the controller, which fails."""
    (tmp_path / "test_leaky.py").write_text(
        textwrap.dedent(f"""
        import os, subprocess, sys
        from pathlib import Path

        def test_leaves_a_daemon():
            p = subprocess.Popen([sys.executable, "-c", {SLEEP!r}, "leaked-by-test"],
                                 start_new_session=True, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
            Path(os.environ["LEAKY_PID_FILE"]).write_text(str(p.pid))

        def test_passes():
            assert True
    """)
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_XDIST")}
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).parent), *sys.path])
    env["NTSCALE_LEAK_WAIT_S"] = "1"  # its daemon never ends: waiting longer proves nothing
    env["LEAKY_PID_FILE"] = str(tmp_path / "pid")
    r = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "leakcheck", "-q", "-p", "no:cacheprovider",
         *workers, f"--basetemp={tmp_path / 'bt'}", str(tmp_path / "test_leaky.py")],
        capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path,
    )  # fmt: skip
    pid = int((tmp_path / "pid").read_text())
    try:
        assert r.returncode == 1, r.stdout + r.stderr
        assert "2 passed" in r.stdout
        assert "the test suite left 1 process(es) running (killed now):" in r.stdout
        assert f"pid {pid}: " in r.stdout and "leaked-by-test" in r.stdout
        assert _gone(pid)
    finally:
        _kill(pid)
