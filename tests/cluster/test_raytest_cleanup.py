"""The test-cluster helper stops every process of its cluster, also those that lost the tag.

Ray may start a process with a scrubbed environment; it still names the head's temp dir on
its command line or the head's token file in its environment, and `stop()` must find it by
either. A process of another cluster (another temp dir, no tag) must survive.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
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
