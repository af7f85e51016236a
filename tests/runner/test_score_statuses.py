"""One spelling of score statuses and an honest `ok` (issue 23, point 6).

With --collapse-n an SNV whose 6-mer holds an N (one N token, no 6-mer to read) gets
`no_llr_n_in_kmer` (distances, NaN LLRs), not `ok`;
the dry run, the store, the summary and unwritten rows (`pending`) all use the lower-case
names of `ScoreStatus`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import ntscale.store as nstore
from ntscale.config import ScoreConfig, build_config
from ntscale.runner.local import run_local
from ntscale.runner.plan_report import describe_score_plan, format_score_plan
from ntscale.runner.score_job import ScoreJob
from ntscale.runner.score_worker import mark_n_in_kmer
from ntscale.types import ScoreStatus

N_AT = 302  # 0-based: the only N of the contig


def _dna(n: int, seed: int) -> str:
    rng = np.random.default_rng(seed)
    return "".join(rng.choice(list("ACGT"), size=n))


@pytest.fixture(scope="module")
def job(tmp_path_factory: pytest.TempPathFactory, repo_root: Path) -> ScoreJob:
    d = tmp_path_factory.mktemp("n_kmer")
    seq = list(_dna(600, seed=4))
    seq[N_AT] = "N"
    seq = "".join(seq)
    (d / "g.fa").write_text(">c1\n" + seq + "\n")
    import pysam

    pysam.faidx(str(d / "g.fa"))
    other = {b: "A" if b != "A" else "C" for b in "ACGT"}
    # 0-based 300: its centred 6-mer [297, 303) holds the N; 0-based 100: plain
    recs = [(101, "ok", seq[100]), (301, "n6", seq[300])]
    lines = ["##fileformat=VCFv4.2", "##contig=<ID=c1,length=600>",
             "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO"]  # fmt: skip
    lines += [f"c1\t{p}\t{i}\t{r}\t{other[r]}\t.\t.\t." for p, i, r in recs]
    (d / "v.vcf").write_text("\n".join(lines) + "\n")
    values = {
        "fasta": str(d / "g.fa"),
        "vcf": str(d / "v.vcf"),
        "model": str(repo_root / "examples" / "checkpoints" / "nt-v2-tiny"),
        "out": str(d / "s.zarr"),
        "scores": ["llr", "l2"],
        "window_bp": 120,
        "collapse_n": True,  # fixed 6-mer frame: the N's 6-mer is one N token (TraitGym)
        "dtype": "fp32",
        "progress": False,
    }
    return ScoreJob.plan_from_config(build_config(ScoreConfig, values))


def test_dry_run_names_statuses_in_lower_case(job: ScoreJob) -> None:
    plan = describe_score_plan(job)
    assert plan["status_before_scoring"] == {"ok": 2}
    assert "ok 2" in format_score_plan(plan) and "OK" not in format_score_plan(plan)


def test_an_snv_with_an_n_in_its_6mer_is_not_ok(job: ScoreJob) -> None:
    summary = run_local(job)
    ds = nstore.open(job.store_url)
    status = ds["variant_status"].values.astype(str).tolist()
    assert status == ["ok", "no_llr_n_in_kmer"]
    assert summary["run"]["by_status"] == {"ok": 1, "no_llr_n_in_kmer": 1}
    llr = ds["score_llr_masked"].values
    assert np.isfinite(llr[0]) and np.isnan(llr[1])
    assert np.isfinite(ds["score_l2_mean_layer_2"].values).all()  # distances kept
    assert ScoreStatus.NO_LLR_N_IN_KMER.scored  # a scored row (code < 10)


def test_mark_n_in_kmer_touches_only_snvs_without_any_llr() -> None:
    S = ScoreStatus
    status = np.array([S.OK, S.OK, S.NO_LLR_NOT_SNV, S.TILED_OFF_CENTRE, S.OK], np.uint8)
    nan = np.nan
    scores = {
        "llr_masked": np.array([1.0, nan, nan, nan, nan]),
        "llr_wt": np.array([1.0, nan, nan, nan, 2.0]),  # row 4: one LLR left: still ok
        "l2": np.ones(5),
    }
    mark_n_in_kmer(status, scores)
    assert status.tolist() == [S.OK, S.NO_LLR_N_IN_KMER, S.NO_LLR_NOT_SNV,
                               S.NO_LLR_N_IN_KMER, S.OK]  # fmt: skip
    plain = np.array([S.OK], np.uint8)
    mark_n_in_kmer(plain, {"l2": np.array([nan])})  # no LLR asked for: nothing to say
    assert plain.tolist() == [S.OK]
