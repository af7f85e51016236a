"""NTv3 variant scores: the pure functions, and a scoring run whose masked LLRs and track
deltas are recomputed here from the model's own forward passes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from hypothesis import given
from hypothesis import strategies as st
from scoring_helpers import random_dna, write_fasta, write_vcf

from ntscale.errors import ConfigError
from ntscale.model.ntv3 import load_ntv3
from ntscale.runner.ntv3_score import NTv3ScoreConfig, default_window_bp, score_ntv3
from ntscale.scoring.ntv3_scores import (
    log_softmax,
    masked_llr,
    parse_ntv3_scores,
    track_deltas,
    variant_window,
)
from ntscale.tokenizer.ntv3 import BASE_IDS, NTV3_MASK, tokenize_bases

DATA = Path(__file__).resolve().parents[1] / "data" / "ntv3_reference"
SEQ = random_dna(300, seed=11)


# -- pure functions --------------------------------------------------------------------


def test_masked_llr_is_a_log_probability_difference():
    logits = np.array([0.0, 1.0, 2.0, -1.0])
    p = np.exp(logits) / np.exp(logits).sum()
    assert masked_llr(logits, 1, 2) == pytest.approx(np.log(p[2]) - np.log(p[1]))
    assert masked_llr(logits, 2, 2) == 0.0
    assert masked_llr(logits, 3, 0) == pytest.approx(-masked_llr(logits, 0, 3))
    np.testing.assert_allclose(np.exp(log_softmax(logits)).sum(), 1.0)


def test_track_deltas_sum_and_max_per_track():
    ref = np.array([[0.0, 1.0], [2.0, 1.0], [1.0, 1.0]])
    alt = np.array([[1.0, 1.0], [0.5, 3.0], [1.0, 0.0]])
    s, m = track_deltas(ref, alt)
    np.testing.assert_allclose(s, [2.5, 3.0])
    np.testing.assert_allclose(m, [1.5, 2.0])
    s2, m2 = track_deltas(alt, ref)  # symmetric
    np.testing.assert_array_equal(s, s2)
    np.testing.assert_array_equal(m, m2)
    assert not track_deltas(ref, ref)[0].any()


@given(
    contig=st.integers(8, 5000),
    window=st.integers(1, 6000),
    block=st.sampled_from([4, 8, 32, 128]),
    frac=st.floats(0, 0.9999),
)
def test_variant_window_properties(contig, window, block, frac):
    pos = int(frac * contig)
    if contig < block:
        with pytest.raises(ValueError, match="shorter than one block"):
            variant_window(pos, contig, window, block)
        return
    if window < block:
        with pytest.raises(ValueError):
            variant_window(pos, contig, window, block)
        return
    a, b = variant_window(pos, contig, window, block)
    assert 0 <= a <= pos < b <= contig
    assert (b - a) % block == 0 and b - a == min(window, contig) // block * block
    if a > 0 and b < contig:  # not shifted: the variant is the centre base
        assert pos - a == (b - a) // 2


def test_variant_window_outside():
    with pytest.raises(ValueError, match="outside"):
        variant_window(100, 100, 64, 8)


def test_parse_scores():
    assert parse_ntv3_scores("track_delta, llr_masked") == ("llr_masked", "track_delta")
    for bad in ("l2", "", ["llr"]):
        with pytest.raises(ValueError, match="llr_masked, track_delta"):
            parse_ntv3_scores(bad)


def test_default_window_is_the_trained_context():
    assert default_window_bp("NTv3_100M_post_131kb") == 131072
    assert default_window_bp("some_folder") is None


# -- a scoring run ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def post_model():
    return load_ntv3(DATA / "post")


@pytest.fixture(scope="module")
def pre_model():
    return load_ntv3(DATA / "pre")


def _alt(base: str) -> str:
    return {"A": "G", "C": "T", "G": "A", "T": "C"}[base]


def _inputs(tmp_path: Path) -> tuple[Path, Path]:
    fasta = write_fasta(tmp_path / "g.fa", {"chr1": SEQ, "chr2": SEQ[:100]})
    records = [
        ("chr1", 151, "centre", SEQ[150], [_alt(SEQ[150])]),
        ("chr1", 152, "shared", SEQ[151], [_alt(SEQ[151]), _alt(_alt(SEQ[151]))]),
        ("chr1", 3, "start", SEQ[2], [_alt(SEQ[2])]),  # window shifted: off-centre
        ("chr1", 299, "end", SEQ[298], [_alt(SEQ[298])]),
        ("chr1", 201, "mismatch", _alt(SEQ[200]), [SEQ[200]]),
        ("chr1", 101, "indel", SEQ[100], [SEQ[100] + "A"]),
        ("chr1", 111, "n_alt", SEQ[110], ["N"]),
        ("chr2", 51, "chr2", SEQ[50], [_alt(SEQ[50])]),
        ("chr9", 5, "nowhere", "A", ["C"]),
    ]
    vcf = write_vcf(tmp_path / "v.vcf", {"chr1": 300, "chr2": 100, "chr9": 50}, records)
    return fasta, vcf


def _run(tmp_path, model, **kw):
    fasta, vcf = _inputs(tmp_path)
    out = tmp_path / kw.pop("name", "s.zarr")
    cfg = NTv3ScoreConfig(fasta=str(fasta), vcf=str(vcf), model="x", out=str(out), **kw)
    summary = score_ntv3(cfg, model=model)
    return xr.open_zarr(out), summary


def test_scores_recomputed_from_the_model(tmp_path, post_model):
    ds, summary = _run(
        tmp_path,
        post_model,
        scores=("llr_masked", "track_delta"),
        window_bp=64,
        species="human",
        batch_size=3,
    )
    status = dict(zip(ds["id"].values, ds["status"].values, strict=False))
    assert status["centre"] == "OK" and status["chr2"] == "OK"
    assert status["start"] == "OFF_CENTRE" and status["end"] == "OFF_CENTRE"
    assert status["mismatch"] == "REF_MISMATCH"
    assert status["indel"] == "NO_LLR_NOT_SNV" and status["n_alt"] == "ALLELE_NOT_ACGT"
    assert status["nowhere"] == "CONTIG_NOT_IN_FASTA"
    assert ds.sizes == {"variant": 10, "track": 3}
    assert list(ds["track"].values) == list(post_model.config.tracks_of("human"))
    seqs = {"chr1": SEQ, "chr2": SEQ[:100]}
    checked = 0
    for i in range(ds.sizes["variant"]):
        row = ds.isel(variant=i)
        scored = str(row["status"].values) in ("OK", "OFF_CENTRE")
        assert np.isnan(row["llr_masked"].values) != scored
        assert np.isnan(row["track_delta_sum"].values).all() != scored
        if not scored:
            continue
        a, b = int(row["window_start"]), int(row["window_end"])
        pos = int(row["pos"])
        assert b - a == 64 and a <= pos < b
        ref = tokenize_bases(seqs[str(row["contig"].values)][a:b])[None]
        masked = ref.copy()
        masked[0, pos - a] = NTV3_MASK
        logits = post_model.apply(masked, species="human", outputs=("logits",))["logits"]
        logp = np.log(np.exp(logits[0, pos - a]) / np.exp(logits[0, pos - a]).sum())
        want = logp[BASE_IDS[str(row["alt"].values)]] - logp[BASE_IDS[str(row["ref"].values)]]
        assert float(row["llr_masked"]) == pytest.approx(want, abs=1e-4)
        alt = ref.copy()
        alt[0, pos - a] = BASE_IDS[str(row["alt"].values)]
        r = post_model.apply(ref, species="human", outputs=("bigwig",))["bigwig"][0]
        x = post_model.apply(alt, species="human", outputs=("bigwig",))["bigwig"][0]
        np.testing.assert_allclose(row["track_delta_sum"], np.abs(x - r).sum(0), rtol=1e-4)
        np.testing.assert_allclose(row["track_delta_max"], np.abs(x - r).max(0), rtol=1e-4)
        checked += 1
    assert checked == 6
    assert summary["rows"] == 10 and summary["status_counts"]["ok"] == 4
    assert ds.attrs["species"] == "human" and ds.attrs["window_bp"] == 64


def test_batch_size_does_not_change_scores(tmp_path, post_model):
    kw = dict(scores=("llr_masked", "track_delta"), window_bp=64, species="mouse")
    one, _ = _run(tmp_path, post_model, batch_size=1, name="a.zarr", **kw)
    four, _ = _run(tmp_path, post_model, batch_size=4, name="b.zarr", **kw)
    for var in ("llr_masked", "track_delta_sum", "track_delta_max"):
        np.testing.assert_allclose(one[var].values, four[var].values, atol=1e-5, equal_nan=True)
    assert one.sizes["track"] == 2


def test_track_subset_by_name(tmp_path, post_model):
    names = post_model.config.tracks_of("human")
    ds, _ = _run(tmp_path, post_model, scores=("track_delta",), window_bp=64, species="human",
                 track_names=(names[1],))  # fmt: skip
    assert list(ds["track"].values) == [names[1]] and "llr_masked" not in ds


def test_pre_trained_llr_only(tmp_path, pre_model):
    ds, _ = _run(tmp_path, pre_model, window_bp=64)
    assert "track_delta_sum" not in ds
    assert np.isfinite(ds["llr_masked"].values[ds["status"].values == "OK"]).all()
    with pytest.raises(ConfigError, match="track_delta needs a post-trained"):
        _run(tmp_path, pre_model, scores=("track_delta",), window_bp=64, name="t.zarr")


def test_settings_checked(tmp_path, post_model):
    with pytest.raises(ConfigError, match="give --species"):
        _run(tmp_path, post_model, window_bp=64)
    with pytest.raises(ConfigError, match="not predicted for 'human'"):
        _run(tmp_path, post_model, scores=("track_delta",), window_bp=64, species="human",
             track_names=("nope",))  # fmt: skip
    with pytest.raises(ConfigError, match="has no bigWig tracks"):
        _run(tmp_path, post_model, scores=("track_delta",), window_bp=64, species="fly")
    with pytest.raises(ConfigError, match="give --window-bp"):
        _run(tmp_path, post_model, species="human")
    with pytest.raises(ConfigError, match="NTv3 scores must be"):
        NTv3ScoreConfig(fasta="f", vcf="v", model="m", out="o", scores=("l2",))
    with pytest.raises(ConfigError, match="batch_size"):
        NTv3ScoreConfig(fasta="f", vcf="v", model="m", out="o", batch_size=0)
