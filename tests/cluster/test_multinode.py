"""Two Ray nodes on one machine (a head and a joined node, 1 CPU each, on 127.0.0.2):
units run on both nodes, a node added mid-run gets an actor (elastic scale-up), losing a
node mid-run (actors writing to S3) still completes with the bytes of a local run, and
the driver and the actors connect over loopback only. (In multi-node mode Ray 2.60's gRPC
servers listen on the wildcard address whatever --node-ip-address says; no Ray setting changes
that, so the test allows wildcard listeners but no listener or connection on a non-loopback
address.)

The driver is the real CLI (`ntscale -v embed ... --ray HEAD:PORT`) in its own process; its
INFO log says which node each actor runs on and how many units each node ran.
"""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from raytest import REPO_ROOT, VENV_BIN, RayHead, RayNode, start_head, start_node

sys.path.insert(0, str(Path(__file__).parents[1] / "runner"))
from s3server import running_s3  # noqa: E402
from storecmp import VOLATILE_ROOT, assert_same_bytes, store_files  # noqa: E402

from ntscale.config import EmbedConfig, build_config
from ntscale.runner.embed_job import EmbedJob
from ntscale.runner.local import run_local
from ntscale.runner.ray import SCALE_CHECK_ENV

pytestmark = [pytest.mark.ray, pytest.mark.slow]

FASTA = REPO_ROOT / "examples" / "data" / "chr20_2mb.fa.gz"
MODEL = REPO_ROOT / "examples" / "checkpoints" / "nt-v2-tiny"
# Ray in multi-node mode rewrites 127.0.0.1 to the machine's network address; 127.0.0.2 is
# loopback too and is kept as given.
NODE_IP = "127.0.0.2"
# =1: allow more than one node (=0, what ntscale's private local Ray uses, refuses a second
# node); every node is still started with --node-ip-address 127.0.0.1. Faster failure
# detection than Ray's defaults, so a lost node costs seconds in the test.
CLUSTER_ENV = {
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "1",
    "RAY_health_check_initial_delay_ms": "0",
    "RAY_health_check_period_ms": "1000",
    "RAY_health_check_failure_threshold": "3",
}
READY = re.compile(r"actor (\d+) ready on node (\w+) \(pid (\d+)\)")
PER_NODE = re.compile(r"units per node: (\{.*\})")


@pytest.fixture(scope="module")
def s3_server():
    """An S3 API on 127.0.0.1 that every node of the cluster is configured to use."""
    with running_s3() as server:
        yield server


@pytest.fixture(scope="module")
def cluster(s3_server):
    head = start_head(num_cpus=1, extra_env={**CLUSTER_ENV, **s3_server.env}, node_ip=NODE_IP)
    nodes: list[RayNode] = []
    try:
        yield head, nodes
    finally:
        head.stop()
        for node in nodes:
            node.kill()
            shutil.rmtree(node.temp_dir, ignore_errors=True)


def _args(out: Path | str, bed: Path) -> list[str]:
    return [
        "--fasta", str(FASTA), "--model", str(MODEL), "--out", str(out),
        "--regions", str(bed), "--window", "600", "--layers", "1,2",
        "--unit-windows", "2", "--batch-size", "2", "--dtype", "fp32", "--no-progress",
    ]  # fmt: skip


def _local_reference(out: Path, bed: Path) -> None:
    values = {
        "fasta": str(FASTA), "model": str(MODEL), "out": str(out), "regions": str(bed),
        "window_bp": 600, "layers": [1, 2], "unit_windows": 2, "batch_size": 2,
        "dtype": "fp32", "progress": False,
    }  # fmt: skip
    run_local(EmbedJob.plan_from_config(build_config(EmbedConfig, values)))


def _driver(
    head: RayHead, out: Path | str, bed: Path, log: Path, delay_s: float, hold: Path | None = None
):
    # Look for new nodes every 2 s instead of 10 s: a shorter test.
    env = {**head.env, "NTSCALE_FAULT_UNIT_DELAY": str(delay_s), SCALE_CHECK_ENV: "2"}
    if hold is not None:  # units wait while this file exists (ntscale/runner/faults.py)
        env["NTSCALE_FAULT_HOLD"] = str(hold)
    cmd = [str(VENV_BIN / "ntscale"), "-v", "embed", *_args(out, bed)]
    cmd += ["--ray", head.gcs_address]
    return subprocess.Popen(cmd, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)


def _wait_for(predicate, what: str, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def _ready(log: Path) -> dict[int, tuple[str, int]]:
    text = log.read_text() if log.exists() else ""
    return {int(i): (node, int(pid)) for i, node, pid in READY.findall(text)}


def _units_per_node(log: Path) -> dict[str, int]:
    (found,) = PER_NODE.findall(log.read_text())
    return ast.literal_eval(found)  # the driver logs a dict of node id -> units


def _sockets(pids: list[int]) -> set[tuple[int, str, str, str]]:
    """(pid, local, remote, state) of every TCP socket owned by one of `pids`."""
    inodes: dict[str, int] = {}
    for pid in pids:
        try:
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                try:
                    link = fd.readlink().name
                except OSError:
                    continue
                if link.startswith("socket:["):
                    inodes[link[8:-1]] = pid
        except OSError:
            continue
    found = set()
    for table, v6 in (("/proc/net/tcp", False), ("/proc/net/tcp6", True)):
        for line in Path(table).read_text().splitlines()[1:]:
            cols = line.split()
            if cols[9] not in inodes:
                continue
            state = {"0A": "LISTEN", "01": "ESTABLISHED"}.get(cols[3], cols[3])
            found.add((inodes[cols[9]], _addr(cols[1], v6), _addr(cols[2], v6), state))
    return found


def _addr(hexaddr: str, v6: bool) -> str:
    hexip, hexport = hexaddr.split(":")
    return f"{_ip(hexip, v6)}:{int(hexport, 16)}"


def _ip(hexip: str, v6: bool) -> str:
    if not v6:
        return ".".join(str(int(hexip[i : i + 2], 16)) for i in (6, 4, 2, 0))
    if hexip == "00000000000000000000000001000000":
        return "::1"
    if hexip.startswith("0000000000000000FFFF0000"):
        return "::ffff:" + _ip(hexip[24:], False)
    return "v6:" + hexip


def _wildcard(address: str) -> bool:
    return address.rsplit(":", 1)[0] in ("0.0.0.0", "::", "v6:" + "0" * 32)


def _loopback(address: str) -> bool:
    host = address.rsplit(":", 1)[0]
    return host.startswith("127.") or host == "::1" or host.startswith("::ffff:127.")


def test_node_added_mid_run_gets_an_actor_and_units_run_on_both(cluster, tmp_path):
    head, nodes = cluster
    bed = tmp_path / "r.bed"
    bed.write_text("20\t1000000\t1012000\n")  # 20 windows, 10 units of 2
    out, log = tmp_path / "grow.zarr", tmp_path / "grow.log"
    # Units wait until the second actor is up: on a loaded machine the first actor could
    # otherwise finish every unit while the new node starts.
    hold = tmp_path / "hold"
    hold.touch()
    driver = _driver(head, out, bed, log, delay_s=2.5, hold=hold)
    try:
        _wait_for(lambda: 0 in _ready(log) or driver.poll() is not None, "the first actor")
        assert driver.poll() is None, log.read_text()[-3000:]
        assert len(_ready(log)) == 1  # one CPU in the cluster: one actor
        nodes.append(start_node(head, num_cpus=1))  # the cluster grows mid-run
        _wait_for(lambda: 1 in _ready(log) or driver.poll() is not None, "a second actor")
        hold.unlink()
        new_pid = _ready(log)[1][1]
        assert new_pid in nodes[0].pids(), "the new actor is not on the new node"
        # Every process of the cluster (Ray's daemons, the driver, both actors) connects
        # over loopback only, and listens on loopback or on the wildcard address (Ray 2.60
        # binds its gRPC servers to [::] in multi-node mode; no setting changes that).
        ours = [driver.pid] + [pid for _, pid in _ready(log).values()]
        sockets = _sockets(sorted(set(head.pids()) | set(ours)))
        assert {pid for pid, *_ in sockets} >= set(ours)
        beyond = [
            s
            for s in sockets
            if not (_loopback(s[1]) or s[3] == "LISTEN" and _wildcard(s[1]))
            or s[3] != "LISTEN"
            and not _loopback(s[2])
        ]
        assert not beyond, sorted(beyond)
        assert driver.wait(timeout=300) == 0, log.read_text()[-3000:]
    finally:
        if driver.poll() is None:
            driver.kill()
    text = log.read_text()
    assert "cluster grew: started actor 1" in text
    per_node = _units_per_node(log)
    assert len(per_node) == 2 and sum(per_node.values()) == 10, per_node
    assert _ready(log)[1][0] in per_node  # the node added mid-run ran units
    ref = tmp_path / "ref.zarr"
    _local_reference(ref, bed)
    assert_same_bytes(ref, out)


def test_losing_a_node_mid_run_still_completes_with_local_bytes(cluster, s3_server, tmp_path):
    """The actors write to S3 (the cluster's AWS_ENDPOINT_URL) while a node is lost."""
    head, nodes = cluster
    if not nodes:
        nodes.append(start_node(head, num_cpus=1))
    node = nodes[0]
    bed = tmp_path / "r.bed"
    bed.write_text("20\t1000000\t1008400\n")  # 14 windows, 7 units
    out, log = s3_server.url("lost.zarr"), tmp_path / "lost.log"
    driver = _driver(head, out, bed, log, delay_s=1.0)
    try:
        on_node = lambda: any(pid in node.pids() for _, pid in _ready(log).values())  # noqa: E731
        _wait_for(lambda: on_node() or driver.poll() is not None, "an actor on the second node")
        assert driver.poll() is None, log.read_text()[-3000:]
        time.sleep(1.0)  # let it take units
        node.kill()  # node loss: raylet, agents and the actor, all at once
        assert not node.pids()
        assert driver.wait(timeout=300) == 0, log.read_text()[-3000:]
    finally:
        if driver.poll() is None:
            driver.kill()
    text = log.read_text()
    assert re.search(r"actor \d+ died (on unit \d+|while starting)", text), text[-3000:]
    ref = tmp_path / "ref.zarr"
    _local_reference(ref, bed)
    remote = {k: v for k, v in s3_server.objects("lost.zarr").items() if k != VOLATILE_ROOT}
    local = store_files(ref)
    assert sorted(remote) == sorted(local)
    assert [k for k in local if local[k] != remote[k]] == []
