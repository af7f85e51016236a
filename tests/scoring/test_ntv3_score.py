"""NTv3 variant scores: the pure functions, and a scoring run whose masked LLRs and track
deltas are recomputed here from the model's own forward passes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scoring_helpers import random_dna, write_fasta, write_vcf

from ntscale.config import ExecutionConfig, ScoreConfig
from ntscale.errors import ConfigError
from ntscale.model.ntv3 import load_ntv3
from ntscale.runner.local import run_local
from ntscale.runner.ntv3_job import default_window_bp
from ntscale.runner.ntv3_score import NTv3ScoreJob, score_values
from ntscale.scoring.ntv3_scores import (
    align_indel,
    indel_windows,
    log_softmax,
    masked_llr,
    parse_ntv3_scores,
    track_deltas,
    variant_window,
)
from ntscale.store import open as open_store
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


# -- indel windows and their alignment ------------------------------------------------


def test_indel_windows_share_the_left_flank():
    seq = random_dna(200, seed=3)
    ins = indel_windows("c", 100, seq[100], seq[100] + "GG", 200, 64, 4)
    assert ins.ref_key == ("c", 68, 132) and (ins.alt_start, ins.alt_end) == (68, 130)
    alt = ins.alt_sequence(seq[68:130])
    assert len(alt) == 64 and alt[:33] == seq[68:101] and alt[33:35] == "GG"
    assert alt[35:] == seq[101:130]
    dele = indel_windows("c", 100, seq[100:104], seq[100], 200, 64, 4)
    alt = dele.alt_sequence(seq[68:135])
    assert len(alt) == 64 and alt == seq[68:101] + seq[104:135]
    q = np.arange(64)
    # insertion: bases right of the anchor move 2 to the right; deletion: 3 to the left
    np.testing.assert_array_equal(ins.alt_index(q)[:33], q[:33])
    np.testing.assert_array_equal(ins.alt_index(q)[33:], q[33:] + 2)
    m = dele.alt_index(q)
    assert (m[33:36] == -1).all() and (m[36:] == q[36:] - 3).all()
    assert not ins.off_centre and indel_windows("c", 2, "AC", "A", 200, 64, 4).off_centre
    with pytest.raises(ValueError, match="runs past"):
        indel_windows("c", 100, "A" * 40, "A", 200, 64, 4)


def test_align_indel_keeps_bases_with_a_counterpart():
    plan = indel_windows("c", 32, "A", "AGG", 100, 64, 4)  # window [0, 64), offset 32
    ref = np.arange(24, dtype=float)[:, None] + 20  # crop (20, 44): row o = base 20 + o
    alt = np.arange(24, dtype=float)[:, None] + 20
    r, a = align_indel(ref, alt, plan, (20, 44))
    # REF bases 20..32 keep their index; 33..41 map to 35..43; 42, 43 fall off the crop
    np.testing.assert_array_equal(r[:, 0], list(range(20, 42)))
    np.testing.assert_array_equal(a[:, 0], list(range(20, 33)) + list(range(35, 44)))


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
        ("chr1", 121, "deletion", SEQ[120:124], [SEQ[120]]),
        ("chr1", 131, "mnv", SEQ[130:132], [_alt(SEQ[130]) + _alt(SEQ[131])]),
        ("chr1", 111, "n_alt", SEQ[110], ["N"]),
        ("chr2", 51, "chr2", SEQ[50], [_alt(SEQ[50])]),
        ("chr9", 5, "nowhere", "A", ["C"]),
    ]
    vcf = write_vcf(tmp_path / "v.vcf", {"chr1": 300, "chr2": 100, "chr9": 50}, records)
    return fasta, vcf


def _config(tmp_path, model_dir="post", batch_size=None, **kw) -> ScoreConfig:
    fasta, vcf = _inputs(tmp_path)
    out = tmp_path / kw.pop("name", "s.zarr")
    ex = ExecutionConfig(batch_size=batch_size, progress=False)
    return ScoreConfig(fasta=str(fasta), vcf=str(vcf), model=str(DATA / model_dir),
                       out=str(out), execution=ex, **kw)  # fmt: skip


def _run(tmp_path, **kw):
    cfg = _config(tmp_path, **kw)
    summary = run_local(NTv3ScoreJob.plan_from_config(cfg), progress=False)
    return open_store(cfg.out), summary


def _tracks(model, tokens, species):
    return model.apply(tokens[None], species=species, outputs=("bigwig",))["bigwig"][0]


def test_scores_recomputed_from_the_model(tmp_path, post_model):
    ds, summary = _run(tmp_path, scores=("llr_masked", "track_delta"), window_bp=64,
                       species="human", batch_size=3, unit_variants=4)  # fmt: skip
    status = dict(zip(ds["variant_id"].values, ds["variant_status"].values, strict=False))
    assert status["centre"] == "ok" and status["chr2"] == "ok"
    assert status["start"] == "off_centre" and status["end"] == "off_centre"
    assert status["mismatch"] == "ref_mismatch"
    assert status["indel"] == status["deletion"] == status["mnv"] == "no_llr_not_snv"
    assert status["n_alt"] == "allele_not_acgt" and status["nowhere"] == "contig_not_in_fasta"
    assert ds.sizes["variant"] == 12
    tracks = list(post_model.config.tracks_of("human"))
    d_sum, d_max = score_values(ds, "sum"), score_values(ds, "max")
    assert list(d_sum["track"].values) == tracks and d_sum.shape == (12, 3)
    seqs = {"chr1": SEQ, "chr2": SEQ[:100]}
    checked = indels = 0
    for i in range(ds.sizes["variant"]):
        st_ = str(ds["variant_status"].values[i])
        llr = float(ds["score_llr_masked"].values[i])
        assert np.isnan(llr) != (st_ in ("ok", "off_centre"))
        scored = st_ in ("ok", "off_centre", "no_llr_not_snv")
        assert np.isnan(d_sum.values[i]).all() != scored
        if not scored:
            continue
        contig, pos = str(ds["variant_contig"].values[i]), int(ds["variant_pos"].values[i])
        ref_a, alt_a = str(ds["variant_ref"].values[i]), str(ds["variant_alt"].values[i])
        seq = seqs[contig]
        a, b = variant_window(pos, len(seq), 64, 4)
        ref = tokenize_bases(seq[a:b])
        r = _tracks(post_model, ref, "human")
        if st_ == "no_llr_not_snv":  # recomputed by hand: ALT window, REF flank first
            alt_seq = (seq[a:pos] + alt_a + seq[pos + len(ref_a) :])[:64]
            x = _tracks(post_model, tokenize_bases(alt_seq), "human")
            lo = post_model.config.crop_bounds(64)[0]
            shift = len(alt_a) - len(ref_a)
            prefix = 0  # bases REF and ALT share at their start (the anchor; none for MNVs)
            while prefix < min(len(ref_a), len(alt_a)) and ref_a[prefix] == alt_a[prefix]:
                prefix += 1
            keep = []  # (REF crop row, ALT crop row) of bases with a counterpart
            for o in range(r.shape[0]):
                q = lo + o
                if q < pos - a + prefix:
                    m = q
                elif q >= pos - a + len(ref_a):
                    m = q + shift
                else:
                    continue
                if lo <= m < lo + r.shape[0]:
                    keep.append((o, m - lo))
            diff = np.abs(x[[k[1] for k in keep]] - r[[k[0] for k in keep]])
            np.testing.assert_allclose(d_sum.values[i], diff.sum(0), rtol=1e-4)
            np.testing.assert_allclose(d_max.values[i], diff.max(0), rtol=1e-4)
            indels += 1
            continue
        masked = ref.copy()
        masked[pos - a] = NTV3_MASK
        logits = post_model.apply(masked[None], species="human", outputs=("logits",))["logits"]
        logp = np.log(np.exp(logits[0, pos - a]) / np.exp(logits[0, pos - a]).sum())
        assert llr == pytest.approx(logp[BASE_IDS[alt_a]] - logp[BASE_IDS[ref_a]], abs=1e-4)
        alt = ref.copy()
        alt[pos - a] = BASE_IDS[alt_a]
        x = _tracks(post_model, alt, "human")
        np.testing.assert_allclose(d_sum.values[i], np.abs(x - r).sum(0), rtol=1e-4)
        np.testing.assert_allclose(d_max.values[i], np.abs(x - r).max(0), rtol=1e-4)
        checked += 1
    assert checked == 6 and indels == 3
    assert summary["run"]["variants_run"] == 12 and summary["run"]["by_status"]["ok"] == 4
    assert ds.attrs["ntv3"]["species"] == "human" and ds.attrs["ntv3"]["window_bp"] == 64
    assert ds.attrs["job"] == "ntv3_score"


def test_batch_and_unit_size_do_not_change_scores(tmp_path):
    kw = dict(scores=("llr_masked", "track_delta"), window_bp=64, species="mouse")
    one, _ = _run(tmp_path, batch_size=1, unit_variants=1, name="a.zarr", **kw)
    four, _ = _run(tmp_path, batch_size=4, unit_variants=100, name="b.zarr", **kw)
    for var in one.data_vars:
        np.testing.assert_allclose(one[var].values, four[var].values, atol=1e-5, equal_nan=True)
    assert score_values(one, "sum").shape == (12, 2)


def test_track_subset_by_name(tmp_path, post_model):
    names = post_model.config.tracks_of("human")
    ds, _ = _run(tmp_path, scores=("track_delta",), window_bp=64, species="human",
                 track_names=(names[1],))  # fmt: skip
    assert list(score_values(ds, "sum")["track"].values) == [names[1]]
    assert "score_llr_masked" not in ds


def test_pre_trained_llr_only(tmp_path):
    ds, _ = _run(tmp_path, model_dir="pre", scores=("llr_masked",), window_bp=64)
    assert not [v for v in ds.data_vars if "track_delta" in str(v)]
    ok = ds["variant_status"].values == "ok"
    assert np.isfinite(ds["score_llr_masked"].values[ok]).all()
    with pytest.raises(ConfigError, match="track_delta needs a post-trained"):
        _run(tmp_path, model_dir="pre", scores=("track_delta",), window_bp=64, name="t.zarr")


def test_settings_checked(tmp_path):
    with pytest.raises(ConfigError, match="give --species"):
        _run(tmp_path, scores=("llr_masked",), window_bp=64)
    with pytest.raises(ConfigError, match="unknown track"):
        _run(tmp_path, scores=("track_delta",), window_bp=64, species="human",
             track_names=("nope",))  # fmt: skip
    with pytest.raises(ConfigError, match="bigWig tracks, not"):
        _run(tmp_path, scores=("track_delta",), window_bp=64, species="human",
             track_names=("bed.exon",))  # fmt: skip
    with pytest.raises(ConfigError, match="has no bigWig tracks"):
        _run(tmp_path, scores=("track_delta",), window_bp=64, species="fly")
    with pytest.raises(ConfigError, match="give --window-bp"):
        _run(tmp_path, scores=("llr_masked",), species="human")
    with pytest.raises(ConfigError, match="NTv3 scores must be"):
        _run(tmp_path, scores=("l2",), window_bp=64, species="human")
    with pytest.raises(ConfigError, match="does not take strands"):
        _run(tmp_path, scores=("llr_masked",), window_bp=64, species="human", strands="both")
    assert not (tmp_path / "s.zarr").exists()
