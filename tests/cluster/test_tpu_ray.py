"""A Ray head advertising `TPU: 4` (a stand-in TPU host): one 4-device actor takes it.

The head runs on 127.0.0.1 with `--resources '{"TPU": 4}'` and every process of it (the
raylet, the actor) has 4 forced CPU devices, as a TPU host's one process has its chips. The
driver is the real CLI, joining that head: it resolves `devices_per_actor` to the host's 4
chips, places one actor asking for `TPU: 4`, and the store equals a local one-device run
(values within fp32 rounding: docs/scaling.md).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import zarr
from forced_devices import forced_env
from raytest import REPO_ROOT, RayHead, start_head

sys.path.insert(0, str(Path(__file__).parents[1] / "runner"))
from storecmp import assert_same_values  # noqa: E402

from ntscale.config import EmbedConfig, build_config
from ntscale.runner.embed_job import EmbedJob
from ntscale.runner.local import run_local

pytestmark = [pytest.mark.ray, pytest.mark.slow]

FASTA = REPO_ROOT / "examples" / "data" / "chr20_2mb.fa.gz"
MODEL = REPO_ROOT / "examples" / "checkpoints" / "nt-v2-tiny"
PLACED = re.compile(r"running (\d+) units on (\d+) TPU actors \((\d+) device\(s\) each\)")
READY = re.compile(r"actor (\d+) ready on node (\w+) \(pid (\d+)\)")


@pytest.fixture(scope="module")
def tpu_head():
    env = forced_env(4)
    extra = {k: env[k] for k in ("XLA_FLAGS", "JAX_PLATFORMS", "PYTHONPATH")}
    head = start_head(num_cpus=2, extra_env=extra, resources={"TPU": 4})
    try:
        yield head
    finally:
        head.stop()


def _settings(out: Path, bed: Path) -> dict:
    return {
        "fasta": str(FASTA), "model": str(MODEL), "out": str(out), "regions": str(bed),
        "window_bp": 600, "layers": [1, 2], "unit_windows": 3, "batch_size": 6,
        "dtype": "fp32", "progress": False,
    }  # fmt: skip


def _cli(head: RayHead, out: Path, bed: Path) -> subprocess.CompletedProcess:
    s = _settings(out, bed)
    args = [
        "-v", "embed", "--fasta", s["fasta"], "--model", s["model"], "--out", s["out"],
        "--regions", s["regions"], "--window", "600", "--layers", "1,2", "--unit-windows", "3",
        "--batch-size", "6", "--dtype", "fp32", "--no-progress", "--ray", head.gcs_address,
    ]  # fmt: skip
    return subprocess.run(
        [sys.executable, "-m", "ntscale", *args],
        env=head.env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        cwd=REPO_ROOT,
    )


def test_one_four_chip_actor_on_the_tpu_host_matches_local(tpu_head, tmp_path):
    bed = tmp_path / "r.bed"
    bed.write_text("20\t59400\t61200\n20\t1000000\t1003000\n")
    proc = _cli(tpu_head, tmp_path / "tpu.zarr", bed)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-4000:]
    placed = PLACED.search(log)
    assert placed, log[-3000:]
    assert placed.group(2, 3) == ("1", "4")  # one actor, the host's 4 chips
    assert len(set(READY.findall(log))) == 1  # and no second one was started
    execution = dict(zarr.open_group(str(tmp_path / "tpu.zarr"), mode="r").attrs)["config"][
        "execution"
    ]
    assert execution["devices_per_actor"] == 4 and execution["per_device_batch"] == 2
    run_local(
        EmbedJob.plan_from_config(build_config(EmbedConfig, _settings(tmp_path / "l.zarr", bed)))
    )
    assert_same_values(tmp_path / "l.zarr", tmp_path / "tpu.zarr")
