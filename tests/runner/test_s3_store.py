"""Embed and score runs writing `s3://` stores to a real S3 API (moto's server on 127.0.0.1,
reached through zarr -> fsspec -> s3fs -> HTTP): same bytes as a local store, resume works.

The endpoint is set the way a MinIO/Ceph user sets it: AWS_ENDPOINT_URL in the environment.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pysam
import pytest
from s3server import running_s3
from storecmp import VOLATILE_ROOT, store_files

from ntscale.config import EmbedConfig, ScoreConfig, build_config
from ntscale.runner.embed_job import EmbedJob
from ntscale.runner.local import run_local
from ntscale.runner.score_job import ScoreJob

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def s3_server():
    with running_s3() as server:
        yield server


@pytest.fixture
def s3(s3_server, monkeypatch):
    for key, value in s3_server.env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    return s3_server


def _same_objects(s3, key: str, local: Path) -> None:
    remote = {k: v for k, v in s3.objects(key).items() if k != VOLATILE_ROOT}
    files = store_files(local)
    assert sorted(remote) == sorted(files)
    differ = [k for k in files if files[k] != remote[k]]
    assert not differ, f"{len(differ)} objects differ from the local store, e.g. {differ[:5]}"


def _done(url: str) -> int:
    from ntscale.errors import StoreError
    from ntscale.store import open_writer

    try:
        return int(np.asarray(open_writer(url).done_units()).sum())
    except (StoreError, KeyError, FileNotFoundError):  # not created yet
        return 0


def test_embed_to_s3_equals_local_and_a_rerun_skips_every_unit(s3, small_config, tmp_path):
    from ntscale.store import open as open_store

    url = s3.url("embed.zarr")
    job = EmbedJob.plan_from_config(small_config(out=url))
    n_units = job.n_units()  # 3: the region's all-N part gets no window (gap-aware plan)
    assert n_units >= 3
    first = run_local(job)
    run_local(EmbedJob.plan_from_config(small_config(out=str(tmp_path / "local.zarr"))))
    windows = first["store"]["windows"]
    assert windows["units_done"] == windows["units_total"] == n_units
    _same_objects(s3, "embed.zarr", tmp_path / "local.zarr")
    # The store opens lazily from S3 like any other (xarray + dask).
    ds = open_store(url)
    assert ds.sizes["window"] == job.plan.n_windows and np.isfinite(ds["start"].values).all()

    before = s3.objects("embed.zarr")
    again = run_local(EmbedJob.plan_from_config(small_config(out=url)))
    assert again["store"]["windows"]["units_done"] == n_units
    assert again["progress"]["units_done"] == 0  # every unit was already done on S3
    after = s3.objects("embed.zarr")
    changed = [k for k in before if k != VOLATILE_ROOT and before[k] != after.get(k)]
    assert not changed, f"a rerun rewrote {changed[:5]}"


def _values(example, out: str, bed: Path) -> dict:
    return {
        "fasta": str(example["fasta"]), "model": str(example["model"]), "out": out,
        "regions": str(bed), "window_bp": 600, "layers": [1, 2], "unit_windows": 2,
        "batch_size": 2, "dtype": "fp32", "progress": False,
    }  # fmt: skip


def _embed_cmd(example, out: str, bed: Path) -> list[str]:
    return [
        sys.executable, "-m", "ntscale", "embed",
        "--fasta", str(example["fasta"]), "--model", str(example["model"]),
        "--out", out, "--regions", str(bed), "--window", "600",
        "--layers", "1,2", "--unit-windows", "2", "--batch-size", "2", "--dtype", "fp32",
        "--no-progress",
    ]  # fmt: skip


def test_killed_driver_resumes_an_s3_store_to_identical_bytes(s3, example, tmp_path):
    bed = tmp_path / "r.bed"
    bed.write_text("20\t1000000\t1006000\n")  # 10 windows, 5 units
    url = s3.url("killed.zarr")
    env = dict(os.environ, NTSCALE_FAULT_UNIT_DELAY="0.5")
    proc = subprocess.Popen(_embed_cmd(example, url, bed), env=env, start_new_session=True)
    deadline = time.monotonic() + 120
    while _done(url) < 1 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
    assert proc.poll() is None, "the run finished before it could be interrupted"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    partial = _done(url)
    assert 1 <= partial < 5
    res = subprocess.run(
        _embed_cmd(example, url, bed), capture_output=True, text=True, timeout=300, env=os.environ
    )
    assert res.returncode == 0, res.stderr[-3000:]
    assert _done(url) == 5
    ref = tmp_path / "ref.zarr"  # the same job, uninterrupted, on a local disk
    run_local(EmbedJob.plan_from_config(build_config(EmbedConfig, _values(example, str(ref), bed))))
    _same_objects(s3, "killed.zarr", ref)


@pytest.fixture
def small_vcf(example, tmp_path) -> Path:
    """Every 50th site of the bundled chr20 VCF (no samples), bgzipped and indexed."""
    src = pysam.VariantFile(str(example["vcf"]))
    src.subset_samples([])
    path = tmp_path / "sites.vcf"
    with pysam.VariantFile(str(path), "w", header=src.header) as out:
        for i, rec in enumerate(src):
            if i % 50 == 0:
                out.write(rec)
            if i >= 50 * 24:
                break
    return Path(pysam.tabix_index(str(path), preset="vcf", force=True))


def test_score_to_s3_equals_local(s3, example, small_vcf, tmp_path):
    def cfg(out: str) -> ScoreConfig:
        values = {
            "fasta": str(example["fasta"]), "vcf": str(small_vcf),
            "model": str(example["model"]), "out": out, "window_bp": 300,
            "unit_variants": 8, "batch_size": 8, "dtype": "fp32",
            "scores": ["llr_wt", "cosine"], "progress": False,
        }  # fmt: skip
        return build_config(ScoreConfig, values)

    summary = run_local(ScoreJob.plan_from_config(cfg(s3.url("score.zarr"))))
    run_local(ScoreJob.plan_from_config(cfg(str(tmp_path / "score.zarr"))))
    assert summary["store"]["variants"]["units_done"] == summary["store"]["variants"]["units_total"]
    assert summary["store"]["variants"]["rows"] >= 20
    _same_objects(s3, "score.zarr", tmp_path / "score.zarr")


def test_s3_lease_claims_are_conditional_writes(s3):
    """moto answers If-None-Match: * like S3: of racing claims of one generation exactly one
    is created; a stale lease is taken over as generation 1 and its old holder is locked out."""
    import datetime as dt
    from concurrent.futures import ThreadPoolExecutor

    from ntscale.store import lease

    for trial in range(10):
        url = s3.url(f"lease-race/{trial}.zarr")
        with ThreadPoolExecutor(8) as pool:
            made = list(pool.map(lambda i, u=url: lease._create(u, "gen-000000000001",
                                                                lease._document({"i": i})),
                                 range(8)))  # fmt: skip
        assert made.count(True) == 1, made

    url = s3.url("lease-takeover.zarr")
    old = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    stale = {"host": "gone-node", "pid": 5, "started": old.isoformat(),
             "heartbeat": old.isoformat(), "token": "0ld"}  # fmt: skip
    assert lease._write_claim(url, 0, stale)
    old_holder = lease.Guard(url, 0, "0ld")
    old_holder.check()  # still the newest claim
    taken = lease.acquire(url)
    try:
        assert taken.generation == 1 and lease.read_lease(url)["token"] == taken.info["token"]
        with pytest.raises(lease.LeaseLost, match="taken over by another run"):
            old_holder.check()
        lease._beat_once(taken)
        assert lease.read_lease(url)["heartbeat"] >= taken.info["heartbeat"]
    finally:
        assert lease.release(url) is True
    assert lease.read_lease(url) is None
    assert not [k for k in s3.objects("lease-takeover.zarr") if k.startswith("lease/")]


def test_a_bucket_root_holding_other_objects_is_refused(s3):
    import ntscale.store as st
    from ntscale.errors import StoreError

    s3.filesystem().pipe_file(f"{s3.bucket}/someone-elses/data.csv", b"1,2,3")
    layout = st.StoreLayout(n_windows=4, unit_windows=2)
    with pytest.raises(StoreError, match=rf"'s3://{s3.bucket}' already holds other objects \("):
        st.create_or_open(f"s3://{s3.bucket}", layout, fingerprint={}, attrs={},
                          contigs=[("chr1", 100)])  # fmt: skip
    assert not s3.filesystem().exists(f"{s3.bucket}/zarr.json")
    assert not s3.filesystem().exists(f"{s3.bucket}/lease")


def test_cohort_embed_to_s3_equals_local(s3, example, small_config, tmp_path):
    """A cohort store (VCF haplotypes, sequence axis) on S3: the local run's objects."""
    from ntscale.store import haplotype_embeddings
    from ntscale.store import open as open_store

    common = {"vcf": str(example["vcf"]), "samples": ["HG00096", "HG00097"], "unit_windows": 2}
    url = s3.url("cohort.zarr")
    run_local(EmbedJob.plan_from_config(small_config(out=url, **common)))
    run_local(EmbedJob.plan_from_config(small_config(out=str(tmp_path / "c.zarr"), **common)))
    _same_objects(s3, "cohort.zarr", tmp_path / "c.zarr")
    remote = haplotype_embeddings(open_store(url)).values
    local = haplotype_embeddings(open_store(str(tmp_path / "c.zarr"))).values
    np.testing.assert_array_equal(remote, local)
    assert remote.shape[2] == 4  # (layer, window, haplotype, dim)
