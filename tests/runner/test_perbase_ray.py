"""A per-base run on a real local Ray cluster writes the bytes of the local run."""

from __future__ import annotations

import pytest
from perbase_helpers import perbase_config, tiny_segment_checkpoint
from storecmp import assert_same_bytes

from ntscale.runner.local import run_local
from ntscale.runner.perbase_job import PerBaseJob
from ntscale.runner.ray import run_ray

pytestmark = [pytest.mark.ray, pytest.mark.slow]


def test_ray_perbase_store_equals_local_store(ray_session, tmp_path):
    model = tiny_segment_checkpoint(tmp_path / "seg")
    bed = tmp_path / "r.bed"
    bed.write_text("20\t59000\t62000\n20\t1000000\t1002000\n")
    local = perbase_config(model, tmp_path / "local.zarr", regions=str(bed), unit_windows=2)
    remote = perbase_config(model, tmp_path / "ray.zarr", regions=str(bed), unit_windows=2)
    run_local(PerBaseJob.plan_from_config(local))
    summary = run_ray(PerBaseJob.plan_from_config(remote), max_actors=2)
    assert summary["store"]["bases"]["units_done"] == summary["store"]["bases"]["units_total"]
    assert summary["store"]["complete"]
    assert_same_bytes(tmp_path / "local.zarr", tmp_path / "ray.zarr")


def test_ray_haplotype_perbase_store_equals_local_store(ray_session, tmp_path):
    """`segment --vcf` on Ray: the same bytes (reference and every haplotype) and the same
    forward passes as the local run."""
    from perbase_helpers import write_haplotype_vcf

    model = tiny_segment_checkpoint(tmp_path / "seg")
    vcf = write_haplotype_vcf(tmp_path)
    bed = tmp_path / "r.bed"
    bed.write_text("20\t1000000\t1002000\n")
    cfgs = [
        perbase_config(
            model, tmp_path / f"{name}.zarr", regions=str(bed), vcf=str(vcf), unit_windows=2
        )  # fmt: skip
        for name in ("local", "ray")
    ]
    local = run_local(PerBaseJob.plan_from_config(cfgs[0]))
    remote = run_ray(PerBaseJob.plan_from_config(cfgs[1]), max_actors=2)
    assert remote["store"]["complete"]
    assert remote["run"]["forward_passes"] == local["run"]["forward_passes"]
    assert_same_bytes(tmp_path / "local.zarr", tmp_path / "ray.zarr")
