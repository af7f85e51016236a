"""`ntscale score` / `ntscale embed` with an NTv3 model (the tiny HF-layout fixture in
tests/data/ntv3_reference) on the bundled chr20 slice."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr
from cli_helpers import FASTA, VCF_TEXT, invoke

from ntscale.cli.ntv3_dispatch import is_ntv3_model

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
    r = invoke(
        "score", "--fasta", FASTA, "--vcf", _vcf(tmp_path), "--model", NTV3 / "post",
        "--out", out, "--scores", "llr_masked,track_delta", "--window-bp", "128",
        "--species", "mouse", "--batch-size", "2",
    )  # fmt: skip
    assert r.code == 0, r.err
    assert r.out.startswith("5 variants (ok 3, ") and r.out.strip().endswith(str(out))
    ds = xr.open_zarr(out)
    status = dict(zip(ds["id"].values, ds["status"].values, strict=False))
    assert status["s1"] == "OK" and status["m1"] == "REF_MISMATCH"
    assert status["d1"] == "NO_LLR_NOT_SNV"
    ok = ds["status"].values == "OK"
    assert ok.sum() == 3  # s1 and both ALTs of s2
    assert np.isfinite(ds["llr_masked"].values[ok]).all()
    assert ds["track_delta_sum"].shape == (5, 2) and ds.attrs["species"] == "mouse"
    assert (ds["track_delta_max"].values[ok] <= ds["track_delta_sum"].values[ok]).all()


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
    r = invoke(*base, "--model", NTV3 / "pre", "--window-bp", "128", "--dry-run")
    assert r.code == 2 and "dry-run" in r.error_line()
    assert not (tmp_path / "x.zarr").exists()


def test_embed_with_ntv3(tmp_path):
    fasta = tmp_path / "g.fa"
    rng = np.random.default_rng(2)
    fasta.write_text(">a\n" + "".join(rng.choice(list("ACGT"), size=300)) + "NNNN" + "ACG\n")
    out = tmp_path / "e.zarr"
    r = invoke("embed", "--fasta", fasta, "--model", NTV3 / "pre", "--out", out,
               "--window-bp", "128", "--per-token", "--batch-size", "2")  # fmt: skip
    assert r.code == 0, r.err
    assert r.out.startswith("4 windows (3 embedded, 1 too short), 300 bases")
    ds = xr.open_zarr(out)
    assert ds["embedding_base"].shape == (4, 128, 16)
    assert list(ds["end"].values - ds["start"].values) == [128, 128, 128, 3]
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
