"""`ntscale submit -- embed ...` on the bundled example: the job succeeds on a real Ray head,
its logs come back, and its store equals a local run of the same command."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
from raytest import REPO_ROOT, VENV_BIN

pytestmark = [pytest.mark.ray, pytest.mark.slow]

FASTA = REPO_ROOT / "examples" / "data" / "chr20_2mb.fa.gz"
MODEL = REPO_ROOT / "examples" / "checkpoints" / "nt-v2-tiny"


def _embed_args(out: Path, bed: Path) -> list[str]:
    return [
        "embed", "--fasta", str(FASTA), "--model", str(MODEL), "--out", str(out),
        "--regions", str(bed), "--window", "600", "--layers", "1,2",
        "--unit-windows", "2", "--batch-size", "2", "--dtype", "fp32", "--no-progress",
    ]  # fmt: skip


def test_submitted_embed_equals_local_run(run_cli, ray_head, tmp_path):
    if not (FASTA.exists() and MODEL.is_dir()):
        pytest.skip("the bundled example (examples/data, examples/checkpoints) is missing")
    from ntscale.store import open as open_store

    bed = tmp_path / "r.bed"
    bed.write_text("20\t1000000\t1003600\n")  # 6 windows of 600 bp, 3 units
    remote, local = tmp_path / "submitted.zarr", tmp_path / "local.zarr"

    res = run_cli("submit", "--address", ray_head.dashboard_url, "--", *_embed_args(remote, bed),
                  timeout=300)  # fmt: skip
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert "--ray auto" in res.stderr  # the entrypoint joined the job's own cluster
    assert "SUCCEEDED" in res.stdout
    # The job's log carries the runner's INFO lines (NTSCALE_LOG_LEVEL=INFO in every job).
    assert "3 of 3 units to run (0 already done)" in res.stdout

    loc = subprocess.run(
        [str(VENV_BIN / "ntscale"), *_embed_args(local, bed)],
        env=ray_head.env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert loc.returncode == 0, loc.stderr[-3000:]

    a, b = open_store(str(remote)), open_store(str(local))
    assert sorted(a.data_vars) == sorted(b.data_vars)
    assert a.sizes == b.sizes and a.sizes["window"] == 6
    for name in a.data_vars:
        np.testing.assert_array_equal(a[name].values, b[name].values, err_msg=name)
    for name in a.coords:
        np.testing.assert_array_equal(a[name].values, b[name].values, err_msg=name)
