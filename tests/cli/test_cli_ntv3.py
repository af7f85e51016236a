"""`ntscale score` / `ntscale embed` with an NTv3 model (the tiny HF-layout fixture in
tests/data/ntv3_reference) on the bundled chr20 slice."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pysam
import pytest
import xarray as xr
from cli_helpers import FASTA, VCF_TEXT, invoke

from ntscale.cli.ntv3_dispatch import is_ntv3_model
from ntscale.runner.ntv3_score import score_values
from ntscale.store import open as open_store

NTV3 = Path(__file__).resolve().parents[1] / "data" / "ntv3_reference"
TINY = Path(__file__).resolve().parents[2] / "examples" / "checkpoints" / "nt-v2-tiny"


def _vcf(tmp_path: Path) -> Path:
    path = tmp_path / "v.vcf"
    path.write_text(VCF_TEXT)
    return path


def test_ntv3_models_are_recognised(tmp_path):
    assert is_ntv3_model("NTv3_650M_post") and is_ntv3_model(str(NTV3 / "pre"))
    assert not is_ntv3_model(str(TINY)) and not is_ntv3_model("50M_multi_species_v2")
    assert not is_ntv3_model(None) and not is_ntv3_model(str(tmp_path))
    (tmp_path / "config.json").write_text("{broken")
    assert not is_ntv3_model(str(tmp_path))


def test_score_with_ntv3_writes_llr_and_track_deltas(tmp_path):
    out = tmp_path / "s.zarr"
    vcf_out, table = tmp_path / "ann.vcf.gz", tmp_path / "t.tsv"
    r = invoke(
        "score", "--fasta", FASTA, "--vcf", _vcf(tmp_path), "--model", NTV3 / "post",
        "--out", out, "--scores", "llr_masked,track_delta", "--window-bp", "128",
        "--species", "mouse", "--batch-size", "2", "--unit-variants", "2", "--no-progress",
        "--vcf-out", vcf_out, "--table-out", table,
    )  # fmt: skip
    assert r.code == 0, r.err
    assert f"variant scores written to {out}" in r.out
    ds = open_store(str(out))
    status = dict(zip(ds["variant_id"].values, ds["variant_status"].values, strict=False))
    assert status["s1"] == "ok" and status["m1"] == "ref_mismatch"
    assert status["d1"] == "no_llr_not_snv"  # a deletion: track deltas, no LLR
    ok = ds["variant_status"].values == "ok"
    assert ok.sum() == 3  # s1 and both ALTs of s2
    assert np.isfinite(ds["score_llr_masked"].values[ok]).all()
    d_sum, d_max = score_values(ds, "sum"), score_values(ds, "max")
    assert d_sum.shape == (5, 2) and ds.attrs["ntv3"]["species"] == "mouse"
    scored = ok | (ds["variant_status"].values == "no_llr_not_snv")
    assert np.isfinite(d_sum.values[scored]).all() and np.isnan(d_sum.values[~scored]).all()
    assert (d_max.values[scored] <= d_sum.values[scored]).all()
    # the exports carry the NTv3 scores and the lower-case statuses
    rows = [line.split("\t") for line in table.read_text().splitlines() if not line.startswith("#")]
    header, body = rows[0], rows[1:]
    assert len(body) == 5
    col = {name: i for i, name in enumerate(header)}
    assert "llr_masked" in col and "track_delta_sum.m_atac" in col
    assert {r_[col["status"]] for r_ in body} == {"ok", "ref_mismatch", "no_llr_not_snv"}
    with pysam.VariantFile(str(vcf_out)) as f:
        assert "NTS_track_delta_max.m_h3k27ac" in "".join(str(h) for h in f.header.records)
        recs = list(f)
    assert len(recs) == 4
    s1 = next(x for x in recs if x.id == "s1")
    assert s1.info["NTS_llr_masked"][0] == pytest.approx(
        float(ds["score_llr_masked"].values[list(ds["variant_id"].values).index("s1")]), 1e-5
    )
    info = invoke("info", out)
    assert info.code == 0 and "job: ntv3_score" in info.out
    v = invoke("verify", out)
    assert v.code == 0, v.out


def test_score_ntv3_option_errors(tmp_path):
    vcf = _vcf(tmp_path)
    base = ["score", "--fasta", FASTA, "--vcf", vcf, "--out", tmp_path / "x.zarr"]
    r = invoke(*base, "--model", NTV3 / "post", "--window-bp", "128", "--strands", "both",
               "--species", "human")  # fmt: skip
    assert r.code == 2 and "strands do not apply" in r.error_line()
    r = invoke(*base, "--model", TINY, "--species", "human")
    assert r.code == 2 and "species apply to NTv3 models only" in r.error_line()
    r = invoke(*base, "--model", NTV3 / "post", "--window-bp", "128", "--species", "cat")
    assert r.code == 2 and "unknown species 'cat'" in r.error_line()
    r = invoke(*base, "--model", TINY, "--scores", "track_delta")
    assert r.code == 2 and "unknown score 'track_delta'" in r.error_line()
    assert not (tmp_path / "x.zarr").exists()


def test_ntv3_dry_runs_write_nothing(tmp_path):
    vcf = _vcf(tmp_path)
    out = tmp_path / "x.zarr"
    r = invoke("score", "--fasta", FASTA, "--vcf", vcf, "--out", out, "--model", NTV3 / "post",
               "--window-bp", "128", "--species", "human", "--scores", "llr_masked,track_delta",
               "--dry-run")  # fmt: skip
    assert r.code == 0, r.err
    assert "plan (dry run, nothing written)" in r.out and "(NTv3)" in r.out
    assert "variants: 5 (4 SNVs, 1 indels/MNVs; kept with a status: none)" in r.out
    r = invoke("embed", "--fasta", FASTA, "--out", out, "--model", NTV3 / "pre",
               "--window-bp", "65536", "--include-contigs", "20", "--dry-run",
               "--json")  # fmt: skip
    assert r.code == 0, r.err
    plan = json.loads(r.out)
    assert plan["window_bp"] == 65536 and plan["windows"] == plan["embedded"] + plan["too_short"]
    assert 0 < plan["bases"] <= 2_000_000 and plan["forward_passes"] == plan["embedded"]
    assert not out.exists()


def test_embed_with_ntv3(tmp_path):
    fasta = tmp_path / "g.fa"
    rng = np.random.default_rng(2)
    fasta.write_text(">a\n" + "".join(rng.choice(list("ACGT"), size=300)) + "NNNN" + "ACG\n")
    out = tmp_path / "e.zarr"
    r = invoke("embed", "--fasta", fasta, "--model", NTV3 / "pre", "--out", out,
               "--window-bp", "128", "--per-token", "--batch-size", "2",
               "--no-progress")  # fmt: skip
    assert r.code == 0, r.err
    ds = open_store(str(out))
    assert ds["embedding_tokens"].shape == (1, 4, 128, 16)
    assert list(ds["end"].values - ds["start"].values) == [128, 128, 128, 3]
    assert list(ds["status"].values) == ["OK", "OK", "OK", "TOO_SHORT"]
    assert invoke("verify", out).code == 0
    r = invoke("embed", "--fasta", fasta, "--model", NTV3 / "pre", "--out", tmp_path / "b",
               "--window-bp", "128", "--strands", "both")  # fmt: skip
    assert r.code == 2 and "strands do not apply" in r.error_line()
    r = invoke("embed", "--fasta", fasta, "--model", TINY, "--out", tmp_path / "c",
               "--species", "human")  # fmt: skip
    assert r.code == 2 and "NTv3 models only" in r.error_line()


def test_segment_with_ntv3_tracks(tmp_path):
    bed = tmp_path / "r.bed"
    bed.write_text("20\t1000000\t1000600\n")
    out = tmp_path / "t.zarr"
    r = invoke("segment", "--fasta", FASTA, "--model", NTV3 / "post", "--out", out,
               "--regions", bed, "--window-bp", "256", "--species", "human",
               "--track-names", "h_ctcf,bed.promoter", "--bigwig", tmp_path / "trk",
               "--no-progress")  # fmt: skip
    assert r.code == 0, r.err
    assert "600 of 600 real bases valued" in r.out
    assert (tmp_path / "trk.h_ctcf.bw").exists() and (tmp_path / "trk.bed.promoter.bw").exists()
    ds = xr.open_zarr(out)
    assert list(ds.track.values) == ["h_ctcf", "bed.promoter"]
    r = invoke("segment", "--fasta", FASTA, "--model", NTV3 / "post", "--out", tmp_path / "u",
               "--regions", bed, "--window-bp", "256", "--species", "cat")  # fmt: skip
    assert r.code == 2 and "unknown species 'cat'" in r.error_line()
