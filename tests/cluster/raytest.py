"""A real single-node Ray head on 127.0.0.1 for tests: own ports, own temp dir, own processes.

Every process of the cluster inherits a unique tag in its environment; `stop()` kills only
the processes that carry that tag, or whose command line names the head's own temp dir, or
whose environment names its own token file (a process that Ray started with a scrubbed
environment still has one of the last two); never `ray stop`, which would kill every Ray on
the machine.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
# The environment running the tests (not necessarily REPO_ROOT/.venv: .ci/run tests a clone
# with the checkout's environment). Not resolved: the venv's python is a symlink out of it.
VENV_BIN = Path(sys.executable).parent
TAG_VAR = "NTSCALE_TEST_RAY_TAG"


def _register(temp_dir: Path) -> None:
    """Tell the session-end leak check (tests/leakcheck.py) that this dir is the suite's."""
    leakcheck = sys.modules.get("leakcheck")
    if leakcheck is not None:
        leakcheck.register_dir(temp_dir)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _port_picker(reserved: range):
    """A function giving distinct free ports outside `reserved` (e.g. the worker ports):
    free ports picked one by one may otherwise collide with a range chosen before."""
    used: set[int] = set()

    def pick() -> int:
        while True:
            port = _free_port()
            if port not in reserved and port not in used:
                used.add(port)
                return port

    return pick


def _free_range(n: int) -> int:
    """A base port with `n` consecutive free ports after it (for Ray's worker ports)."""
    for _ in range(200):
        base = _free_port()
        if base + n >= 65000:
            continue
        ok = True
        for p in range(base, base + n):
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", p))
                except OSError:
                    ok = False
                    break
        if ok:
            return base
    raise RuntimeError(f"no {n} consecutive free ports found")


def _tagged_pids(
    tag: str, *, temp_dir: Path | None = None, token_path: Path | None = None
) -> list[int]:
    """Pids of processes that belong to one test cluster (never this test process)."""
    pids = []
    env_needles = {f"{TAG_VAR}={tag}".encode()}
    if token_path is not None:
        env_needles.add(f"RAY_AUTH_TOKEN_PATH={token_path}".encode())
    cmd_needle = None if temp_dir is None else str(temp_dir).encode()
    mine = {os.getpid(), os.getppid()}
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) in mine:
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as fh:
                if env_needles & set(fh.read().split(b"\0")):
                    pids.append(int(entry))
                    continue
            if cmd_needle is not None:
                with open(f"/proc/{entry}/cmdline", "rb") as fh:
                    if cmd_needle in fh.read():
                        pids.append(int(entry))
        except OSError:
            continue
    return pids


def kill_pids(find, grace_s: float = 5.0, kill_s: float = 10.0, settle_s: float = 1.0) -> None:
    """SIGTERM what `find()` lists, wait up to `grace_s`, then SIGKILL what is left, again
    and again until none is found for `settle_s` (up to `kill_s`): a raylet dying may still
    start an agent after the SIGKILL that ends it."""
    for pid in find():
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + grace_s
    while find() and time.monotonic() < deadline:
        time.sleep(0.1)
    deadline = time.monotonic() + kill_s
    quiet_since = time.monotonic()
    while time.monotonic() < deadline:
        left = find()
        if not left and time.monotonic() - quiet_since >= settle_s:
            return
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if left:
            quiet_since = time.monotonic()
        time.sleep(0.1)


@dataclass
class RayHead:
    """A started head: `dashboard_url` is what `ntscale submit --address` takes."""

    tag: str
    temp_dir: Path
    dashboard_url: str
    gcs_address: str
    env: dict[str, str] = field(repr=False)

    def pids(self) -> list[int]:
        """Every live process of this cluster (all its nodes)."""
        return _tagged_pids(
            self.tag, temp_dir=self.temp_dir, token_path=self.temp_dir / "auth_token"
        )

    def stop(self, grace_s: float = 5.0) -> None:
        kill_pids(self.pids, grace_s)
        shutil.rmtree(self.temp_dir, ignore_errors=True)


def start_head(
    num_cpus: int = 2,
    timeout_s: float = 60.0,
    extra_env: dict[str, str] | None = None,
    node_ip: str = "127.0.0.1",
    resources: dict[str, float] | None = None,
) -> RayHead:
    """Start a Ray head bound to 127.0.0.1 with the dashboard (job API) on a free port.

    `extra_env` goes into the environment of every process of the cluster (and of the
    clients that use `head.env`), e.g. an S3 endpoint or Ray system settings. `node_ip`:
    a multi-node cluster needs another loopback address such as 127.0.0.2, because Ray in
    multi-node mode rewrites 127.0.0.1 (and localhost) to the machine's network address.
    `resources`: custom resources the head advertises (`--resources`), e.g. {"TPU": 4}.
    """
    tag = uuid.uuid4().hex[:12]
    # Ray's socket paths must stay under ~107 bytes: keep the temp dir short.
    temp_dir = Path(tempfile.mkdtemp(prefix="ntr", dir="/tmp"))
    _register(temp_dir)
    env = dict(os.environ)
    env.update(
        {
            TAG_VAR: tag,
            "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
            "RAY_USAGE_STATS_ENABLED": "0",
            "PATH": f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}",
            "JAX_PLATFORMS": "cpu",
            **(extra_env or {}),
        }
    )
    env.pop("RAY_ADDRESS", None)
    # Token auth on, with this cluster's own token (never ~/.ray/auth_token): the default
    # of recent Ray, and what `ntscale submit` must handle.
    token_path = temp_dir / "auth_token"
    token_path.write_text(secrets.token_hex(32))
    env.update({"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(token_path)})
    env.pop("RAY_AUTH_TOKEN", None)
    workers = _free_range(24)
    _free = _port_picker(range(workers, workers + 24))
    gcs_port, dash_port = _free(), _free()
    cmd = [
        str(VENV_BIN / "ray"), "start", "--head",
        "--node-ip-address", node_ip,
        "--port", str(gcs_port),
        "--dashboard-host", "127.0.0.1",
        "--dashboard-port", str(dash_port),
        "--include-dashboard", "true",
        "--temp-dir", str(temp_dir),
        "--num-cpus", str(num_cpus),
        "--num-gpus", "0",
        "--object-store-memory", str(200 * 1024**2),
        "--ray-client-server-port", str(_free()),
        "--dashboard-agent-listen-port", str(_free()),
        "--dashboard-agent-grpc-port", str(_free()),
        "--runtime-env-agent-port", str(_free()),
        "--metrics-export-port", str(_free()),
        "--node-manager-port", str(_free()),
        "--object-manager-port", str(_free()),
        "--min-worker-port", str(workers),
        "--max-worker-port", str(workers + 23),
        "--disable-usage-stats",
    ]  # fmt: skip
    if resources:
        cmd += ["--resources", json.dumps(resources)]
    head = RayHead(
        tag=tag,
        temp_dir=temp_dir,
        dashboard_url=f"http://127.0.0.1:{dash_port}",
        gcs_address=f"{node_ip}:{gcs_port}",
        env=env,
    )
    try:
        proc = subprocess.run(
            cmd, env=env, capture_output=True, text=True, timeout=timeout_s, check=False
        )
        if proc.returncode != 0:
            raise RuntimeError(f"ray start failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
        _wait_for_jobs_api(head.dashboard_url, token_path.read_text(), timeout_s)
    except BaseException:
        head.stop()
        raise
    return head


def _wait_for_jobs_api(url: str, token: str, timeout_s: float) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout_s
    last: object = None
    request = urllib.request.Request(
        f"{url}/api/version", headers={"Authorization": f"Bearer {token}"}
    )
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(request, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError as err:
            last = err
        time.sleep(0.3)
    raise RuntimeError(f"the dashboard at {url} did not answer in {timeout_s}s: {last}")


NODE_TAG_VAR = "NTSCALE_TEST_RAY_NODE"


@dataclass
class RayNode:
    """A worker node joined to a test head: its own tag, ports and temp dir."""

    tag: str
    temp_dir: Path

    def pids(self) -> list[int]:
        """This node's processes only (its raylet, agents and workers)."""
        pids = []
        needle = f"{NODE_TAG_VAR}={self.tag}".encode()
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/environ", "rb") as fh:
                    if needle in fh.read().split(b"\0"):
                        pids.append(int(entry))
            except OSError:
                continue
        return pids

    def kill(self) -> None:
        """Node loss: SIGKILL every process of this node at once, no clean shutdown."""
        for pid in self.pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 10
        while self.pids() and time.monotonic() < deadline:
            time.sleep(0.1)


def start_node(head: RayHead, num_cpus: int = 1, timeout_s: float = 60.0) -> RayNode:
    """Join one more node (own resources, ports and temp dir) to `head`, on its loopback IP.

    Its processes carry the head's tag too, so `head.stop()` also stops them.
    """
    tag = uuid.uuid4().hex[:12]
    temp_dir = Path(tempfile.mkdtemp(prefix="ntn", dir="/tmp"))
    _register(temp_dir)
    env = {**head.env, NODE_TAG_VAR: tag}
    workers = _free_range(16)
    _free = _port_picker(range(workers, workers + 16))
    cmd = [
        str(VENV_BIN / "ray"), "start",
        "--address", head.gcs_address,
        "--node-ip-address", head.gcs_address.rsplit(":", 1)[0],
        "--temp-dir", str(temp_dir),
        "--num-cpus", str(num_cpus),
        "--num-gpus", "0",
        "--object-store-memory", str(100 * 1024**2),
        "--dashboard-agent-listen-port", str(_free()),
        "--dashboard-agent-grpc-port", str(_free()),
        "--runtime-env-agent-port", str(_free()),
        "--metrics-export-port", str(_free()),
        "--node-manager-port", str(_free()),
        "--object-manager-port", str(_free()),
        "--min-worker-port", str(workers),
        "--max-worker-port", str(workers + 15),
        "--disable-usage-stats",
    ]  # fmt: skip
    node = RayNode(tag=tag, temp_dir=temp_dir)
    proc = subprocess.run(
        cmd, env=env, capture_output=True, text=True, timeout=timeout_s, check=False
    )
    if proc.returncode != 0:
        node.kill()
        shutil.rmtree(temp_dir, ignore_errors=True)
        raise RuntimeError(f"ray start (node) failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return node
