"""Haplotype embedding from a VCF Zarr store equals the run from the VCF it came from.

The input is the simulated 16-sample cohort slice (tests/data/cohort), converted with
bio2zarr into the test's folder; both runs use the tiny checkpoint and 600 bp windows.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from storecmp import assert_same_bytes

from ntscale.config import EmbedConfig, build_config
from ntscale.errors import StoreError
from ntscale.runner.embed_job import EmbedJob
from ntscale.runner.local import run_local
from ntscale.store import open as open_store

b2z = pytest.importorskip("bio2zarr.vcf")

REGION = "20\t1100000\t1106000\n"  # ten 600 bp windows x 32 haplotypes


@pytest.fixture(scope="module")
def cohort(repo_root: Path, tmp_path_factory) -> dict[str, Path]:
    vcf = repo_root / "tests" / "data" / "cohort" / "sim16.vcf.gz"
    vcz = tmp_path_factory.mktemp("vcz") / "sim16.vcz"
    b2z.convert([str(vcf)], str(vcz), worker_processes=0, variants_chunk_size=64)
    return {"vcf": vcf, "vcz": vcz}


def config(example, vcf: Path, out: Path, **overrides) -> EmbedConfig:
    bed = out.parent / "region.bed"
    bed.write_text(REGION)
    values = {
        "fasta": str(example["fasta"]),
        "model": str(example["model"]),
        "vcf": str(vcf),
        "out": str(out),
        "regions": str(bed),
        "window_bp": 600,
        "layers": [2],
        "unit_windows": 64,
        "batch_size": 32,
        "dtype": "fp32",
        "progress": False,
    }
    values.update(overrides)
    return build_config(EmbedConfig, values)


def test_vcz_run_equals_vcf_run(example, cohort, tmp_path):
    by_vcf = config(example, cohort["vcf"], tmp_path / "vcf.zarr")
    by_vcz = config(example, cohort["vcz"], tmp_path / "vcz.zarr")
    job_vcf, job_vcz = EmbedJob.plan_from_config(by_vcf), EmbedJob.plan_from_config(by_vcz)
    assert job_vcz.samples == job_vcf.samples and len(job_vcz.samples) == 16
    assert job_vcz.plan.n_windows == job_vcf.plan.n_windows == 10  # genomic windows
    assert len(job_vcz.haplotype_names) == len(job_vcf.haplotype_names) == 32
    run_vcf = run_local(job_vcf)["run"]
    run_vcz = run_local(job_vcz)["run"]
    assert run_vcz["forward_windows"] == run_vcf["forward_windows"] > 10
    assert_same_bytes(Path(by_vcf.out), Path(by_vcz.out))  # every chunk but the root attrs
    a, b = open_store(by_vcf.out), open_store(by_vcz.out)
    # (a cohort store's sequence axis has reserved, unwritten NaN rows: NaN == NaN here)
    np.testing.assert_array_equal(a["embedding_mean"].values, b["embedding_mean"].values)
    assert np.isfinite(b["embedding_mean"].values).any()
    inputs = b.attrs["fingerprint"]["inputs"]
    assert inputs["vcf"]["format"] == "vcz" and inputs["vcf"]["file"] == "sim16.vcz"
    assert a.attrs["fingerprint"]["inputs"]["vcf"]["file"] == "sim16.vcf.gz"


def test_vcz_sample_subset_equals_vcf_subset(example, cohort, tmp_path):
    chosen = ["SIM00007", "SIM00002"]
    runs = {}
    for name in ("vcf", "vcz"):
        cfg = config(example, cohort[name], tmp_path / f"{name}.zarr", samples=chosen)
        runs[name] = run_local(EmbedJob.plan_from_config(cfg))["run"]
    assert runs["vcf"]["forward_windows"] == runs["vcz"]["forward_windows"]
    assert_same_bytes(tmp_path / "vcf.zarr", tmp_path / "vcz.zarr")
    ds = open_store(str(tmp_path / "vcz.zarr"))
    assert sorted(ds.attrs["fingerprint"]["inputs"]) == ["fasta", "regions", "vcf"]
    assert ds.attrs["haplotype_names"] == ["SIM00007:0", "SIM00007:1", "SIM00002:0", "SIM00002:1"]


def test_resume_with_the_same_vcz_and_refusal_after_it_changed(example, cohort, tmp_path):
    import shutil

    vcz = tmp_path / "own.vcz"
    shutil.copytree(cohort["vcz"], vcz)
    cfg = config(example, vcz, tmp_path / "out.zarr")
    first = run_local(EmbedJob.plan_from_config(cfg))["run"]
    again = run_local(EmbedJob.plan_from_config(cfg))["run"]
    assert first["forward_windows"] > 0
    assert again["forward_windows"] == 0  # every unit was done
    chunk = next(
        p
        for p in sorted((vcz / "call_genotype").rglob("*"))
        if p.is_file() and not p.name.startswith(".")
    )
    chunk.write_bytes(chunk.read_bytes())  # rewritten: new mtime
    import os

    st = chunk.stat()
    os.utime(chunk, ns=(st.st_atime_ns, st.st_mtime_ns + 2_000_000_000))
    with pytest.raises(StoreError, match="vcf"):
        run_local(EmbedJob.plan_from_config(cfg))
