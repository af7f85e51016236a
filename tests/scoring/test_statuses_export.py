"""Every status on hand-made and real records; the exported VCF and tables; CLI and config."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pysam
import pysam.bcftools
import pytest
from scoring_helpers import random_dna, write_fasta, write_vcf

import ntscale.store as nstore
from ntscale.config import ScoreConfig, build_config
from ntscale.errors import ConfigError, StoreError
from ntscale.genome.variant_table import ScoreStatus
from ntscale.runner.local import run_local
from ntscale.runner.score_job import ScoreJob
from ntscale.store.export import export_table, export_vcf, scored_status_names, variant_frame

S = ScoreStatus


@pytest.fixture(scope="module")
def small_model_dir(tmp_path_factory) -> Path:
    """A random v2-shaped model that accepts only 32 tokens (default window 186 bp)."""
    from ntscale.model import get_preset, init_model

    cfg = get_preset("50M_multi_species_v2").replace(
        name="tiny-32",
        num_layers=1,
        embed_dim=32,
        num_heads=2,
        key_size=16,
        ffn_dim=64,
        max_tokens=32,
    )
    d = tmp_path_factory.mktemp("model") / "tiny-32"
    init_model(cfg, seed=3).save(d)
    return d


@pytest.fixture(scope="module")
def status_run(tmp_path_factory, small_model_dir):
    d = tmp_path_factory.mktemp("status")
    seq = random_dna(600, seed=2)
    seq = seq[:300] + "N" * 40 + seq[340:]  # an N run: windows over it need > 32 tokens
    fasta = write_fasta(d / "g.fa", {"c1": seq})
    alt = {b: "A" if b != "A" else "C" for b in "ACGT"}
    recs = [
        ("c1", 101, "ok", seq[100], (alt[seq[100]],)),
        ("c1", 151, "indel", seq[150:153], (seq[150],)),
        ("c1", 6, "edge", seq[5], (alt[seq[5]],)),
        ("c1", 11, "edge_indel", seq[10], (seq[10] + "GG",)),
        ("c1", 589, "short", seq[588:595], (seq[588],)),  # 6 bp shorter: still 30 tokens
        ("c1", 201, "sym", seq[200], ("<DEL>",)),
        ("c1", 202, "noalt", seq[201], ()),
        ("c1", 203, "iupac", seq[202], ("Y",)),
        ("chrZ", 5, "nocontig", "A", ("C",)),
        ("c1", 101, "dup", seq[100], (alt[seq[100]],)),
        ("c1", 599, "outside", seq[598:600] + "A", ("A",)),
        ("c1", 221, "mismatch", alt[seq[220]], (seq[220],)),
        ("c1", 231, "huge", seq[230], (seq[230] + "T" * 120,)),
        ("c1", 281, "near_n", seq[280], (alt[seq[280]],)),
        ("c1", 121, "mnv", seq[120:122], (alt[seq[120]] + alt[seq[121]],)),  # bases 3-4
    ]
    vcf = write_vcf(d / "bad.vcf", {"c1": 600, "chrZ": 100}, recs)
    values = {
        "fasta": str(fasta),
        "vcf": str(vcf),
        "model": str(small_model_dir),
        "out": str(d / "s.zarr"),
        "unit_variants": 5,
        "dtype": "fp32",
        "progress": False,
    }
    job = ScoreJob.plan_from_config(build_config(ScoreConfig, values))
    summary = run_local(job)
    return {"dir": d, "job": job, "summary": summary, "ds": nstore.open(values["out"])}


def test_every_status_on_hand_made_records(status_run):
    ds = status_run["ds"]
    got = dict(
        zip(ds["variant_id"].values.tolist(), ds["variant_status"].values.tolist(), strict=True)
    )
    got = {k: S[v.upper()] for k, v in got.items()}  # the store keeps the names
    assert got == {
        "ok": S.OK,
        "indel": S.NO_LLR_NOT_SNV,
        "edge": S.OFF_CENTRE,
        "edge_indel": S.OFF_CENTRE_NOT_SNV,
        "short": S.ALT_WINDOW_SHORT,
        "sym": S.SYMBOLIC_ALLELE,
        "noalt": S.MISSING_ALT,
        "iupac": S.ALLELE_NOT_ACGT,
        "nocontig": S.CONTIG_NOT_IN_FASTA,
        "dup": S.DUPLICATE_RECORD,
        "outside": S.OUTSIDE_CONTIG,
        "mismatch": S.REF_MISMATCH,
        "huge": S.ALLELE_EXCEEDS_WINDOW,
        "near_n": S.OVER_TOKEN_LIMIT,
        "mnv": S.MNV_ONE_KMER,
    }
    # tiled_off_centre: tests/scoring/test_variant_classes.py (tiled mode only)
    # no_llr_n_in_kmer: tests/runner/test_score_statuses.py (with --collapse-n)
    assert set(got.values()) == set(S) - {S.PENDING, S.TILED_OFF_CENTRE, S.NO_LLR_N_IN_KMER}
    llr = ds["score_llr_masked"].values
    l2 = ds["score_l2_mean_layer_1"].values
    status = np.array([S[v.upper()] for v in ds["variant_status"].values.tolist()])
    scored = status < 10
    assert np.isfinite(l2[scored]).all() and np.isnan(l2[~scored]).all()
    snv = np.isin(status, [S.OK, S.OFF_CENTRE, S.MNV_ONE_KMER])
    assert np.isfinite(llr[snv]).all() and np.isnan(llr[~snv]).all()
    wt = ds["score_llr_wt"].values
    assert np.isnan(wt[status == S.MNV_ONE_KMER]).all()
    assert ds["variant_contig"].values.tolist()[8] == "chrZ"
    assert ds.attrs["contigs"] == [["c1", 600], ["chrZ", 0]]
    assert ds.attrs["variant_status_names"]["18"] == "over_token_limit"


def test_real_chr20_records_score_ok(chr20_fasta, chr20_subset, tiny_model_dir, tmp_path):
    values = {
        "fasta": str(chr20_fasta),
        "vcf": str(chr20_subset),
        "model": str(tiny_model_dir),
        "out": str(tmp_path / "c.zarr"),
        "window_bp": 300,
        "unit_variants": 32,
        "batch_size": 16,
        "dtype": "fp32",
        "scores": ["llr_wt", "cosine"],
        "progress": False,
    }
    summary = run_local(ScoreJob.plan_from_config(build_config(ScoreConfig, values)))
    assert summary["store"]["variants"]["by_status"] == {
        "ok": 61,
        "no_llr_not_snv": 2,
        "duplicate_record": 1,
        "ref_mismatch": 1,
    }
    frame = variant_frame(values["out"])
    assert len(frame) == 65 and frame["pos1"].iloc[0] == 1_000_226
    assert frame["llr_wt"].notna().sum() == 61


def test_exported_vcf_opens_with_pysam_and_bcftools(status_run, tmp_path):
    url = status_run["job"].store_url
    path = export_vcf(url, tmp_path / "scores.vcf")
    # the input is not sorted (chrZ between c1 records): written in its order, not indexed
    assert path.name == "scores.vcf.gz" and not Path(str(path) + ".tbi").exists()
    names = status_run["job"].names
    with pysam.VariantFile(str(path)) as vf:
        for name in names:
            assert vf.header.info[f"NTS_{name}"].type == "Float"
            assert vf.header.info[f"NTS_{name}"].number == "A"
        assert vf.header.info["NTS_STATUS"].type == "String"
        recs = list(vf)
        assert len(recs) == 15  # one per input record, in input order
        assert [r.id for r in recs] == [
            "ok", "indel", "edge", "edge_indel", "short", "sym", "noalt", "iupac", "nocontig",
            "dup", "outside", "mismatch", "huge", "near_n", "mnv",
        ]  # fmt: skip
        by_id = {r.id: r for r in recs}
        assert by_id["ok"].info["NTS_STATUS"] == ("ok",)
        assert by_id["ok"].info["NTS_llr_masked"][0] == pytest.approx(
            float(status_run["ds"]["score_llr_masked"].values[0]), rel=1e-6
        )
        assert "NTS_llr_masked" not in by_id["indel"].info  # NaN -> missing
        assert "NTS_l2_mean_layer_1" not in by_id["sym"].info
        assert "NTS_STATUS" not in by_id["noalt"].info  # no ALT: nothing per ALT to say
    out = pysam.bcftools.query("-f", "%ID\t%INFO/NTS_STATUS\n", str(path))
    assert "mismatch\tref_mismatch" in out


def test_exported_tables_have_one_row_per_alt(status_run, tmp_path):
    url = status_run["job"].store_url
    tsv = pd.read_csv(export_table(url, tmp_path / "s.tsv"), sep="\t", comment="#")
    csv = pd.read_csv(export_table(url, tmp_path / "s.csv"), comment="#")
    pq = pd.read_parquet(export_table(url, tmp_path / "s.parquet"))
    for frame in (tsv, csv, pq):
        assert len(frame) == 15
        assert list(frame.columns[:6]) == ["chrom", "pos", "id", "ref", "alt", "status"]
        assert frame.loc[frame["id"] == "near_n", "status"].item() == "over_token_limit"
    np.testing.assert_allclose(tsv["llr_wt"], pq["llr_wt"], rtol=1e-6)
    np.testing.assert_allclose(csv["llr_wt"], pq["llr_wt"], rtol=1e-6)
    with pytest.raises(StoreError, match=r"must end in \.tsv, \.csv or \.parquet"):
        export_table(url, tmp_path / "s.txt")
    # --scored-only: rows whose status carries scores (codes < 10), in the same order
    only = pd.read_parquet(export_table(url, tmp_path / "o.parquet", scored_only=True))
    keep = pq["status"].isin(scored_status_names())
    assert 0 < len(only) == int(keep.sum()) < len(pq)
    assert only["id"].tolist() == pq.loc[keep, "id"].tolist()
    assert {"ok", "tiled_off_centre", "no_llr_not_snv"} <= set(scored_status_names())


def test_export_refuses_an_incomplete_store(status_run, tmp_path):
    job = status_run["job"]
    import dataclasses

    other = dataclasses.replace(
        job, config=dataclasses.replace(job.config, out=str(tmp_path / "p.zarr"))
    )
    other.prepare()
    with pytest.raises(StoreError, match=r"incomplete: \d+ of \d+ variant units are not done"):
        export_vcf(other.store_url, tmp_path / "x.vcf.gz")


def test_export_refuses_rows_written_but_not_marked_done(status_run, tmp_path):
    """A unit killed between its data and its done mark has rows but no mark: not exported."""
    import shutil

    import zarr

    store = tmp_path / "unmarked.zarr"
    shutil.copytree(status_run["job"].store_url, store)
    done = zarr.open_group(str(store), mode="r+")["completion/variant_units"]
    assert bool(done[0])
    done[0] = False
    with pytest.raises(StoreError, match=r"incomplete: 1 of \d+ variant units are not done"):
        export_vcf(str(store), tmp_path / "x.vcf.gz")


def test_config_errors_name_the_setting():
    base = {"fasta": "g.fa", "vcf": "v.vcf", "model": "m", "out": "o"}
    cases = [
        ({"strands": "up"}, "strands must be one of forward, reverse, both; got 'up'"),
        ({"window_mode": "sliding"}, "window_mode must be one of centred, tiled"),
        ({"window_bp": 3}, "window_bp must be at least 6 bp, got 3"),
        ({"unit_variants": 0}, "unit_variants must be positive"),
        ({"scores": ["kl"]}, "unknown score 'kl'"),
        ({"table_out": "x.txt"}, "table_out must end in .tsv, .csv or .parquet"),
        ({"contig_map": "chr1"}, "contig_map must be 'auto' or a mapping"),
        ({"bogus": 1}, "unknown setting(s) bogus"),
    ]
    for extra, message in cases:
        with pytest.raises(ConfigError, match=__import__("re").escape(message)):
            build_config(ScoreConfig, {**base, **extra})


def test_layers_beyond_the_model_are_refused(status_run, small_model_dir):
    cfg = build_config(
        ScoreConfig, {**status_run["job"].config.__dict__, "layers": [3], "execution": {}}
    )
    with pytest.raises(ConfigError, match=r"layers \[3\] do not exist .* it has layers 1\.\.1"):
        ScoreJob.plan_from_config(cfg)


def test_cli_scores_and_exports(tmp_path, small_model_dir, chr20_fasta, chr20_subset):
    cfg = tmp_path / "score.yaml"
    cfg.write_text(
        f"fasta: {chr20_fasta}\nvcf: {chr20_subset}\nmodel: {small_model_dir}\n"
        "dtype: fp32\nscores: [llr_wt, l2]\nunit_variants: 64\n"
    )
    out = tmp_path / "cli.zarr"
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "ntscale",
            "score",
            "--config",
            str(cfg),
            "--out",
            str(out),
            "--vcf-out",
            str(tmp_path / "cli.vcf.gz"),
            "--table-out",
            str(tmp_path / "cli.tsv"),
            "--no-progress",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    assert "variant scores written to" in r.stdout
    assert len(pd.read_csv(tmp_path / "cli.tsv", sep="\t", comment="#")) == 65
    assert (tmp_path / "cli.vcf.gz.tbi").is_file()
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "ntscale",
            "score",
            "--config",
            str(cfg),
            "--out",
            str(out),
            "--strands",
            "sideways",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 2 and "strands must be one of" in r.stderr
    assert "Traceback" not in r.stderr
