"""The job skeleton (runner/job_base.py): units, store creation, resume, attributes, refusal."""

from __future__ import annotations

import math

import numpy as np
import pytest
import xarray as xr

from ntscale.config import TrackConfig, build_config
from ntscale.errors import StoreError
from ntscale.runner.embed_job import EmbedJob
from ntscale.runner.track_job import TrackJob
from ntscale.store import finalize


def test_units_tile_the_rows(small_config):
    job = EmbedJob.plan_from_config(small_config(unit_windows=4))
    n, u = job.plan.n_windows, job.config.unit_windows
    assert job.n_units() == math.ceil(n / u) and n % u  # 9 windows: the last unit is short
    spans = [job.unit_range(k) for k in range(job.n_units())]
    # consecutive, disjoint, u rows each but the last, covering every row once
    assert spans[0][0] == 0 and spans[-1][1] == n
    assert all(b == c for (_, b), (c, _) in zip(spans, spans[1:], strict=False))
    assert [job.unit_rows(k) for k in range(job.n_units())] == [u] * (n // u) + [n % u]
    a, b = spans[-1]
    assert job.unit_bp(job.n_units() - 1) == int((job.plan.end[a:b] - job.plan.start[a:b]).sum())


def test_track_units_count_bases(example, tmp_path):
    bed = tmp_path / "r.bed"
    bed.write_text("20\t1000000\t1000150\n20\t1000300\t1000400\n")  # 150 + 100 bases
    cfg = build_config(
        TrackConfig,
        {
            "fasta": str(example["fasta"]),
            "model": str(example["model"]),
            "out": str(tmp_path / "t.zarr"),
            "regions": str(bed),
            "tracks": str(tmp_path / "t"),
            "window_bp": 600,
            "unit_bases": 100,
            "dtype": "fp32",
        },
    )
    job = TrackJob.plan_from_config(cfg)
    assert (job.n_rows, job.n_units()) == (250, 3)
    assert job.unit_range(2) == (200, 250) and job.unit_bp(2) == job.unit_rows(2) == 50
    fp = job.fingerprint()
    assert (fp["job"], fp["window_bp"], fp["dtype"], fp["fasta"]) == (
        "tracks",
        600,
        "fp32",
        example["fasta"].name,
    )
    assert job.attrs()["regions"] == {"name": "r.bed", "n": 2, "bp": 250}


def test_store_attrs_come_from_the_run_plan(small_config):
    job = EmbedJob.plan_from_config(small_config(layers=[2, 1], dtype="auto"))
    todo = job.prepare()
    job.finish([], seconds=0.0)
    assert todo.tolist() == list(range(job.n_units()))
    ds = xr.open_zarr(job.store_url)
    assert ds["layer"].values.tolist() == [1, 2]  # sorted once, at resolve time
    attrs = ds.attrs
    assert attrs["job"] == "embed" and attrs["fingerprint"]["layers"] == [1, 2]
    # "auto" is stored as the dtype that ran, in the model record, fingerprint and config
    dtype = job.run.dtype
    assert dtype in ("bf16", "fp32")
    assert attrs["model"]["dtype"] == attrs["fingerprint"]["dtype"] == dtype
    assert attrs["config"]["execution"]["dtype"] == dtype
    assert attrs["model"]["hyperparameters"]["num_layers"] == 2  # the tiny checkpoint's
    assert attrs["windows"]["window_bp"] == attrs["fingerprint"]["window_bp"] == 600
    assert attrs["windows"]["stride_bp"] == 600 and attrs["windows"]["max_tokens"] == 2048
    assert ds.sizes["window"] == job.plan.n_windows


def test_a_different_run_is_refused_naming_the_key(small_config):
    first = EmbedJob.plan_from_config(small_config())
    first.prepare()
    finalize(first.store_url)
    other = EmbedJob.plan_from_config(small_config(window_bp=1200))
    with pytest.raises(StoreError) as e:
        other.prepare()
    msg = str(e.value)
    assert "made by a different run" in msg
    assert "window_bp: store has 600, this run has 1200" in msg
    assert "layers:" not in msg  # only differing keys are named
    again = EmbedJob.plan_from_config(small_config(layers=[1]))
    with pytest.raises(StoreError, match=r"layers: store has \[1, 2\], this run has \[1\]"):
        again.prepare()


def test_resume_runs_only_the_units_not_done(small_config):
    job = EmbedJob.plan_from_config(small_config())
    assert job.prepare().tolist() == list(range(job.n_units()))
    result = job.open_worker()(1)
    assert result.unit == 1 and result.n_rows == job.unit_rows(1)
    summary = job.finish([result], seconds=1.0)
    assert summary["run"]["units_run"] == 1 and summary["run"]["windows_run"] == result.n_rows
    assert job.n_done() == 1
    again = EmbedJob.plan_from_config(small_config())
    todo = again.prepare()
    assert todo.tolist() == [k for k in range(job.n_units()) if k != 1]
    finalize(again.store_url)
    ds = xr.open_zarr(job.store_url)
    a, b = job.unit_range(1)
    status, mean = ds["status"].values, ds["embedding_mean"].values
    assert (status[a:b] != "PENDING").all()
    assert (np.delete(status, np.s_[a:b]) == "PENDING").all()  # the others still to do
    ok = np.flatnonzero(status == "OK")
    assert len(ok) and np.isfinite(mean[:, ok]).all()
    assert np.isnan(np.delete(mean, np.s_[a:b], axis=1)).all()
