"""The test-cluster helper stops every process of its cluster, also those that lost the tag.

Ray may start a process with a scrubbed environment; it still names the head's temp dir on
its command line or the head's token file in its environment, and `stop()` must find it by
either. A process of another cluster (another temp dir, no tag) must survive.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from raytest import RayHead

SLEEP = "import time; time.sleep(120)"


def _spawn(*extra_args: str, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", SLEEP, *extra_args], env=env)


def test_stop_kills_tagged_temp_dir_and_token_processes_only():
    temp_dir = Path(tempfile.mkdtemp(prefix="ntr", dir="/tmp"))
    other_dir = Path(tempfile.mkdtemp(prefix="ntr", dir="/tmp"))
    head = RayHead(
        tag=uuid.uuid4().hex[:12],
        temp_dir=temp_dir,
        dashboard_url="http://127.0.0.1:1",
        gcs_address="127.0.0.1:1",
        env={},
    )
    by_tag = _spawn(env={"NTSCALE_TEST_RAY_TAG": head.tag})
    by_cmdline = _spawn(f"--session-dir={temp_dir}/session_x", env={})
    by_token = _spawn(env={"RAY_AUTH_TOKEN_PATH": str(temp_dir / "auth_token")})
    bystander = _spawn(f"--temp-dir={other_dir}", env={})
    try:
        owned = {by_tag.pid, by_cmdline.pid, by_token.pid}
        assert set(head.pids()) == owned
        head.stop(grace_s=5.0)
        for proc in (by_tag, by_cmdline, by_token):
            assert proc.wait(timeout=10) != 0  # killed by a signal, not finished
        assert bystander.poll() is None  # another cluster's process is left alone
        assert not temp_dir.exists()
    finally:
        for proc in (by_tag, by_cmdline, by_token, bystander):
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        other_dir.rmdir()


# P ignores SIGTERM; on it, starts H with a scrubbed environment (no tag, as Ray may), which
# waits for P to die and then starts S with the tag (a dying raylet's last agent). S
# appears after the SIGKILL that ends P: stop() must find and kill it too.
RESPAWNER = """
import os, signal, subprocess, sys, time
tag_env = dict(os.environ)
helper = '''
import os, subprocess, sys, time
parent = int(sys.argv[1])
def alive():
    try:
        return open(f"/proc/{parent}/stat").read().split(")")[1].split()[0] != "Z"
    except OSError:
        return False
while alive():
    time.sleep(0.05)
time.sleep(0.3)
subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", "late-agent"],
                 env=eval(sys.argv[2]), start_new_session=True)
'''
def on_term(*_):
    subprocess.Popen([sys.executable, "-c", helper, str(os.getpid()), repr(tag_env)],
                     env={"PATH": os.environ.get("PATH", "")}, start_new_session=True)
signal.signal(signal.SIGTERM, on_term)
print("ready", flush=True)
time.sleep(120)
"""


def test_stop_kills_a_process_started_after_its_sigkill_round():
    temp_dir = Path(tempfile.mkdtemp(prefix="ntr", dir="/tmp"))
    head = RayHead(
        tag=uuid.uuid4().hex[:12],
        temp_dir=temp_dir,
        dashboard_url="http://127.0.0.1:1",
        gcs_address="127.0.0.1:1",
        env={},
    )
    env = {**os.environ, "NTSCALE_TEST_RAY_TAG": head.tag}
    raylet = subprocess.Popen([sys.executable, "-c", RESPAWNER], env=env, stdout=subprocess.PIPE,
                              text=True)  # fmt: skip
    try:
        assert raylet.stdout.readline().strip() == "ready"
        head.stop(grace_s=1.0)
        raylet.wait(timeout=10)
        time.sleep(1.0)  # nothing of the cluster may appear afterwards either
        assert head.pids() == []
    finally:
        for pid in head.pids():
            os.kill(pid, 9)
        if raylet.poll() is None:
            raylet.kill()
            raylet.wait()
