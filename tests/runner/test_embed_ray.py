"""Ray runs on a real local cluster: same bytes as the local run, survives a killed actor."""

from __future__ import annotations

import numpy as np
import pytest
from storecmp import assert_same_bytes

from ntscale.runner.embed_job import EmbedJob
from ntscale.runner.local import run_local
from ntscale.runner.ray import run_ray

pytestmark = [pytest.mark.ray, pytest.mark.slow]


def test_ray_store_equals_local_store(small_config, ray_session, tmp_path):
    local_cfg = small_config(out=str(tmp_path / "local.zarr"))
    ray_cfg = small_config(out=str(tmp_path / "ray.zarr"))
    run_local(EmbedJob.plan_from_config(local_cfg))
    summary = run_ray(EmbedJob.plan_from_config(ray_cfg), max_actors=2)
    assert summary["store"]["windows"]["units_done"] == summary["store"]["windows"]["units_total"]
    assert_same_bytes(tmp_path / "local.zarr", tmp_path / "ray.zarr")


def test_killed_actor_unit_is_retried(small_config, ray_session, tmp_path, monkeypatch):
    marker = tmp_path / "crashed"
    monkeypatch.setenv("NTSCALE_FAULT_EXIT_ONCE", str(marker))
    cfg = small_config(out=str(tmp_path / "crash.zarr"))
    summary = run_ray(EmbedJob.plan_from_config(cfg), max_actors=2)
    assert marker.exists(), "the fault hook never fired: the test did not kill an actor"
    assert "pid" in marker.read_text()
    assert summary["store"]["windows"]["units_done"] == summary["store"]["windows"]["units_total"]
    monkeypatch.delenv("NTSCALE_FAULT_EXIT_ONCE")
    ref = small_config(out=str(tmp_path / "ref.zarr"))
    run_local(EmbedJob.plan_from_config(ref))
    assert_same_bytes(tmp_path / "ref.zarr", tmp_path / "crash.zarr")
    from ntscale.store import open as open_store

    assert np.isfinite(open_store(cfg.out)["start"].values).all()


def test_worker_setup_error_reaches_the_driver_unwrapped(small_config, ray_session, tmp_path):
    """A corrupt checkpoint plans fine (only hyperparameters are read) but cannot load:
    the actors' CheckpointError comes back as itself, not as an opaque dead actor."""
    import shutil

    from ntscale.errors import CheckpointError

    model = tmp_path / "corrupt"
    shutil.copytree(small_config().model, model)
    (model / "jax_model" / "pytree_ckpt.joblib").write_bytes(b"not a joblib pickle")
    cfg = small_config(model=str(model), out=str(tmp_path / "bad.zarr"))
    job = EmbedJob.plan_from_config(cfg)
    with pytest.raises(CheckpointError) as e:
        run_ray(job, max_actors=2, max_unit_retries=0)
    assert "pytree_ckpt.joblib" in str(e.value)


def test_ray_cohort_store_equals_local_store(example, small_config, ray_session, tmp_path):
    """A cohort run (VCF, both strands, 2 samples) on Ray actors writes the bytes of the
    local run: sequence slots and their order depend on a unit's windows alone."""
    common = {"vcf": str(example["vcf"]), "samples": ["HG00096", "HG00097"]}
    common |= {"strands": "both", "unit_windows": 2, "cls": True}
    local_cfg = small_config(out=str(tmp_path / "local.zarr"), **common)
    ray_cfg = small_config(out=str(tmp_path / "ray.zarr"), **common)
    run_local(EmbedJob.plan_from_config(local_cfg))
    summary = run_ray(EmbedJob.plan_from_config(ray_cfg), max_actors=2)
    assert summary["store"]["windows"]["units_done"] == summary["store"]["windows"]["units_total"]
    assert summary["store"]["windows"]["haplotypes"] == 4
    assert_same_bytes(tmp_path / "local.zarr", tmp_path / "ray.zarr")
