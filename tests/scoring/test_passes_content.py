"""Scoring passes are shared by token content (the key `ntscale embed` dedups with)."""

from __future__ import annotations

import numpy as np
from scoring_helpers import random_dna, write_fasta, write_vcf

import ntscale.store as nstore
from ntscale.config import ScoreConfig, build_config
from ntscale.runner.score_job import ScoreJob
from ntscale.scoring.passes import PassPlan


def test_pass_plan_shares_equal_tokens_under_different_keys():
    a, b = np.array([3, 10, 11, 12], np.int32), np.array([3, 10, 11, 13], np.int32)
    plan = PassPlan()
    assert plan.add(("ref", "c1", 0), a) == plan.add(("ref", "c2", 0), a.copy()) == 0
    assert plan.add(("alt", "c1", 0), b) == 1
    # a masked pass: same ids, other table tokens -> its own pass; same table -> shared
    assert plan.add(("masked", 1), b, table_tokens=a) == plan.add(("m", 2), b, table_tokens=a)
    assert plan.add(("masked", 3), b, table_tokens=b) == 3
    assert len(plan) == 4
    keyed = PassPlan(by_content=False)
    assert [keyed.add(k, a) for k in ("x", "y", "x")] == [0, 1, 0]


def test_repeated_windows_on_two_contigs_run_once_and_score_the_same(tmp_path, tiny_model_dir):
    """Two identical contigs with the same SNV: one unit runs each distinct window once."""
    seq = random_dna(400, seed=5)
    fasta = write_fasta(tmp_path / "dup.fa", {"c1": seq, "c2": seq})
    alt = "G" if seq[150] != "G" else "T"
    records = [(c, 151, f"{c}_snv", seq[150], (alt,)) for c in ("c1", "c2")]
    vcf = write_vcf(tmp_path / "dup.vcf.gz", {"c1": 400, "c2": 400}, records)
    passes, scores = [], []
    for share in (True, False):
        values = {
            "fasta": str(fasta),
            "vcf": str(vcf),
            "model": str(tiny_model_dir),
            "out": str(tmp_path / f"s{share}.zarr"),
            "window_bp": 120,
            "layers": [2],
            "scores": ["llr_wt", "llr_masked", "l2"],
            "unit_variants": 8,
            "dtype": "fp32",
            "share_windows": share,
        }
        job = ScoreJob.plan_from_config(build_config(ScoreConfig, values))
        job.prepare()
        worker = job.open_worker()
        worker(0)
        passes.append(worker.passes_run)
        ds = nstore.open(values["out"])
        scores.append({str(v): ds[v].values for v in ds.data_vars if str(v).startswith("score_")})
    # ref + alt + masked window once for both contigs; one set per variant without sharing
    assert passes == [3, 6]
    for name, got in scores[0].items():
        assert np.isfinite(got).all(), name
        assert got[0] == got[1], name  # the two variants read the same passes
        np.testing.assert_allclose(got, scores[1][name], rtol=1e-5, atol=1e-6, err_msg=name)
