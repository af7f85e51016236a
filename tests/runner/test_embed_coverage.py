"""End to end: a gap-aware embed run records 100% coverage in the store, the summary says so,
and over-long windows are refused before anything runs (tiny checkpoint, fp32, CLI)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

import ntscale.store as st
from ntscale.cli.main import main
from ntscale.config import EmbedConfig, build_config
from ntscale.types import WindowStatus


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ntscale", *args], capture_output=True, text=True, timeout=300
    )


def test_embed_across_the_leading_n_run_covers_every_real_base(example, tmp_path, capsys):
    bed = tmp_path / "r.bed"
    # 59,400-61,200 crosses the end of chr20's leading N run (real bases from 60,000).
    bed.write_text("20\t59400\t61200\n")
    out = tmp_path / "cov.zarr"
    main(
        [
            "embed", "--fasta", str(example["fasta"]), "--model", str(example["model"]),
            "--out", str(out), "--regions", str(bed), "--window", "600", "--strands", "both",
            "--layers", "1", "--unit-windows", "4", "--batch-size", "4", "--dtype", "fp32",
            "--no-progress",
        ]
    )  # fmt: skip
    printed = capsys.readouterr().out
    assert "coverage: 100.000% of real bases in an embedded window (2,400 of 2,400 bp" in printed
    ds = st.open(str(out))
    cov = ds.attrs["coverage"]
    assert cov["bases_requested"] == 1_800 and cov["n_bases_requested"] == 600
    assert cov["real_bases_covered"] == cov["real_bases_total"] == 2 * 1_200
    assert cov["uncovered"] == [] and cov["gap_aware"] is True
    # No window was planned over the N run; every row was embedded.
    assert (ds["status"].values == WindowStatus.OK.name).all()
    assert ds["start"].values.min() == 60_000 and (ds["frac_n"].values == 0).all()
    assert not np.isnan(ds["embedding_mean"].values).any()


def test_haplotype_run_covers_every_real_base(example, tmp_path):
    bed = tmp_path / "r.bed"
    bed.write_text("20\t1018000\t1020000\n")
    out = tmp_path / "hap.zarr"
    main(
        [
            "embed", "--fasta", str(example["fasta"]), "--model", str(example["model"]),
            "--out", str(out), "--regions", str(bed), "--window", "600", "--layers", "1",
            "--vcf", str(example["vcf"]), "--samples", "HG00096", "--unphased", "ref",
            "--unit-windows", "8", "--batch-size", "8", "--dtype", "fp32", "--no-progress",
        ]
    )  # fmt: skip
    cov = st.open(str(out)).attrs["coverage"]
    assert cov["tracks"] == 2
    assert cov["real_bases_covered"] == cov["real_bases_total"] == 2 * 2_000


@pytest.mark.parametrize("command", ["embed", "score"])
def test_window_above_the_model_maximum_is_refused(example, tmp_path, command):
    args = [
        command, "--fasta", str(example["fasta"]), "--model", str(example["model"]),
        "--out", str(tmp_path / "x.zarr"), "--window", "20000",
    ]  # fmt: skip
    if command == "score":
        args += ["--vcf", str(example["vcf"])]
    r = run_cli(*args)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr
    assert "at most 2,048 tokens" in lines[0] and "at most 12,282 bp" in lines[0]
    assert not (tmp_path / "x.zarr").exists()


def test_window_max_is_the_default(small_config):
    from ntscale.runner.embed_job import EmbedJob

    job = EmbedJob.plan_from_config(small_config(window_bp="max"))
    assert job.window_bp == 12_282


def test_dry_run_plans_with_the_same_code_and_writes_nothing(example, tmp_path, capsys):
    from ntscale.runner.embed_job import EmbedJob

    out = tmp_path / "never.zarr"
    args = [
        "embed", "--fasta", str(example["fasta"]), "--model", str(example["model"]),
        "--out", str(out), "--strands", "both", "--layers", "1,2", "--cls",
    ]  # fmt: skip
    main([*args, "--dry-run", "--json"])
    plan = json.loads(capsys.readouterr().out)
    assert not out.exists()
    job = EmbedJob.plan_from_config(
        build_config(
            EmbedConfig,
            {"fasta": str(example["fasta"]), "model": str(example["model"]), "out": str(out),
             "strands": "both", "layers": [1, 2], "cls": True},
        )
    )  # fmt: skip
    assert plan["windows"] == job.plan.n_windows == 2 * 158
    assert plan["units"] == job.n_units() and plan["tracks"] == 2
    assert (plan["bases_requested"], plan["n_bases"], plan["real_bases"]) == (
        2_000_000, 60_000, 1_940_000,
    )  # fmt: skip
    # 158 windows of 12,282 bp per strand tile the 1,940,000 real bp (the last one shifted)
    assert plan["bases_in_windows"] == 2 * 158 * 12_282
    assert plan["store_bytes_per_layer_uncompressed"] == {
        "mean (float32)": 316 * 64 * 4,
        "cls (float32)": 316 * 64 * 4,
    }
    assert plan["device_time_estimates"]["cpu"]["windows_per_second"] == 3.4
    main([*args, "--dry-run"])
    text = capsys.readouterr().out
    assert "windows: 316 over 2 track(s)" in text and "N 60,000" in text
    assert "estimated device time on one cpu" in text and not out.exists()


def test_score_dry_run(example, tmp_path, capsys):
    out = tmp_path / "never.zarr"
    args = [
        "score", "--fasta", str(example["fasta"]), "--vcf", str(example["vcf"]),
        "--model", str(example["model"]), "--out", str(out), "--window", "600", "--dry-run",
    ]  # fmt: skip
    main([*args, "--json"])
    plan = json.loads(capsys.readouterr().out)
    assert not out.exists()
    # The bundled VCF: 7,568 ALT rows, 316 indels (PROVENANCE.md), none refused up front.
    assert plan["variants"] == plan["variants_to_score"] == 7_568
    assert plan["snvs_to_score"] == 7_568 - 316
    assert sum(plan["status_before_scoring"].values()) == 7_568
    assert plan["status_before_scoring"]["no_llr_not_snv"] == 316
    assert plan["units"] == 8  # 1,024 variants per unit
    assert 0 < plan["distinct_reference_windows"] <= 7_568
    # reference windows + one alt pass per row + one masked pass per SNV (llr is the default)
    assert plan["forward_passes_approx"] == plan["distinct_reference_windows"] + 7_568 + 7_252
    main(args)
    assert "variants: 7,568 (7,568 to score, 7,252 SNVs)" in capsys.readouterr().out
