"""A cohort run's driver plan does not grow with rows: windows + haplotype names only.

Planned on the real 300-sample chr20 slice with 3, 30 and 300 samples: the window plan is
the same object whatever the samples (no per-haplotype row), the pickled job (what the
driver keeps and ships to each worker) grows by the sample names alone, and the
driver reads no genotype (the indel bounds come from the ALT alleles).
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pysam
import pytest

from ntscale.config import EmbedConfig, build_config
from ntscale.runner.embed_job import EmbedJob

SLICE = "20\t1100000\t1130000\n"


@pytest.fixture(scope="module")
def vcf_300(repo_root: Path) -> Path:
    return repo_root / "tests" / "data" / "dedup" / "chr20_300.vcf.gz"


def plan(example, vcf: Path, tmp_path: Path, samples: list[str], **extra) -> EmbedJob:
    bed = tmp_path / "slice.bed"
    bed.write_text(SLICE)
    values = {
        "fasta": str(example["fasta"]),
        "model": str(example["model"]),
        "vcf": str(vcf),
        "out": str(tmp_path / "never.zarr"),
        "regions": str(bed),
        "window_bp": 600,
        "samples": samples,
        "dtype": "fp32",
        "progress": False,
        **extra,
    }
    return EmbedJob.plan_from_config(build_config(EmbedConfig, values))


def test_plan_size_does_not_grow_with_samples(example, vcf_300, tmp_path):
    with pysam.VariantFile(str(vcf_300)) as v:
        everyone = list(v.header.samples)
    jobs = {n: plan(example, vcf_300, tmp_path, everyone[:n]) for n in (3, 30, 300)}
    sizes = {n: len(pickle.dumps(job)) for n, job in jobs.items()}
    plans = {n: len(pickle.dumps(job.plan)) for n, job in jobs.items()}
    windows = jobs[3].plan.n_windows
    assert windows == 50  # 30 kb in 600 bp windows, one row each (no haplotype rows)
    assert all(job.plan.n_windows == windows for job in jobs.values())
    assert all(job.plan.haplotype_names == () for job in jobs.values())
    assert len(set(plans.values())) == 1, plans  # the plan itself: same bytes
    # the job grows by the sample names only (twice: config samples and job samples),
    # never by rows: 297 more samples x 50 windows x 2 haplotypes would be 29,700 rows
    per_sample = (sizes[300] - sizes[30]) / 270
    assert per_sample < 40, sizes
    assert sizes[300] - sizes[3] < 297 * 40
    job = jobs[300]
    assert job.n_rows == windows and job.n_units() == 1
    assert len(job.haplotype_names) == 600 and job.layout().n_haplotypes == 600
    np.testing.assert_array_equal(job.plan.haplotype, np.full(windows, -1))


def test_units_hold_whole_genomic_windows_with_both_strands(example, vcf_300, tmp_path):
    job = plan(example, vcf_300, tmp_path, [], strands="both", unit_windows=7)
    assert job.n_rows == 100 and job.unit_size == 14  # 7 windows x 2 strands per unit
    a, b = job.unit_range(1)
    assert (a, b) == (14, 28)
    # a unit never splits a window's strands
    starts = job.plan.start
    for k in range(job.n_units()):
        a, b = job.unit_range(k)
        assert starts[a] != (starts[a - 1] if a else -1)
        assert job.plan.strand[a] == 0 and job.plan.strand[b - 1] == 1
    assert job.layout().unit_windows == 14 and job.layout().n_haplotypes == 600


def test_driver_reads_no_genotype_when_planning(example, vcf_300, tmp_path, monkeypatch):
    from ntscale.genome import hap_budget

    seen: list[bool] = []
    real = hap_budget.insertion_sites

    def spy(*args, **kwargs):
        seen.append(kwargs.get("genotypes", True))
        return real(*args, **kwargs)

    monkeypatch.setattr(hap_budget, "insertion_sites", spy)
    plan(example, vcf_300, tmp_path, [])
    assert seen == [False]


def test_dry_run_report_counts_haplotype_rows_as_upper_bounds(example, vcf_300, tmp_path):
    from ntscale.runner.plan_report import describe_embed_plan, format_embed_plan

    job = plan(example, vcf_300, tmp_path, [], strands="both")
    p = describe_embed_plan(job)
    assert p["window_rows"] == 100 and p["haplotypes"] == 600
    assert p["windows"] == 100 * 600 and p["tracks"] == 2 * 600
    assert p["upper_bounds"] is True
    assert p["store_bytes_per_layer_uncompressed"]["mean (float32)"] == 60_000 * 4 * 64
    text = format_embed_plan(p)
    assert "(100 window rows x 600 haplotypes; sizes and times below are upper bounds" in text


def test_progress_counts_haplotype_rows_as_the_workers_do(example, vcf_300, tmp_path):
    from ntscale.runner.local import run_local

    job = plan(example, vcf_300, tmp_path, ["HG00096", "HG00097"], unit_windows=20)
    assert job.n_units() == 3 and job.unit_rows(2) == 10 * 4  # 10 windows x 4 haplotypes
    assert job.unit_bp(0) == 20 * 600 * 4
    summary = run_local(job)
    assert summary["progress"]["rows_done"] == 50 * 4 == summary["run"]["windows_run"]
    assert summary["progress"]["bp_done"] == summary["run"]["bp_run"] == 50 * 600 * 4
