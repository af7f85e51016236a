"""Variant classes at the edges of the window rules: contig-end deletions of every length,
MNVs inside one 6-mer (masked 6-mer LLR, recomputed from NTModel.apply), tiled-mode SNVs
with their distance from the tile centre and base inside the 6-mer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scoring_helpers import random_dna, write_fasta, write_vcf

import ntscale.store as nstore
from ntscale.config import ScoreConfig, build_config
from ntscale.genome.variant_table import ScoreStatus as S
from ntscale.runner.local import run_local
from ntscale.runner.score_job import ScoreJob
from ntscale.tokenizer import reverse_complement


def _status(ds) -> list:
    """The stored status names (schema 2) as ScoreStatus members."""
    return [S[str(name).upper()] for name in ds["variant_status"].values]


def _run(tmp_path: Path, fasta: Path, vcf: Path, model: Path, name: str, **kw):
    values = {
        "fasta": str(fasta),
        "vcf": str(vcf),
        "model": str(model),
        "out": str(tmp_path / f"{name}.zarr"),
        "unit_variants": 16,
        "batch_size": 4,
        "dtype": "fp32",
        "progress": False,
    } | kw
    job = ScoreJob.plan_from_config(build_config(ScoreConfig, values))
    run_local(job)
    return nstore.open(values["out"])


@pytest.fixture(scope="module")
def model_32(tmp_path_factory) -> Path:
    """A random v2-shaped model that accepts only 32 tokens (its maximum window: 186 bp)."""
    from ntscale.model import get_preset, init_model

    cfg = get_preset("50M_multi_species_v2").replace(
        name="tiny-32", num_layers=1, embed_dim=32, num_heads=2, key_size=16, ffn_dim=64,
        max_tokens=32,
    )  # fmt: skip
    d = tmp_path_factory.mktemp("model") / "tiny-32"
    init_model(cfg, seed=3).save(d)
    return d


def test_contig_end_deletions_are_alt_window_short_whatever_their_length(tmp_path, model_32):
    # at the model maximum (186 bp = 31 six-mers + CLS = 32 tokens) an alt window a few bp
    # short used to leave single-letter tokens and exceed the token budget
    seq = random_dna(400, seed=21)
    fasta = write_fasta(tmp_path / "g.fa", {"c": seq})
    end = len(seq)
    recs = []
    for d in range(1, 13):
        p = end - d - 3  # REF ends 2 bp before the contig end: nothing left to extend
        recs.append(("c", p + 1, f"del{d}", seq[p : p + d + 1], (seq[p],)))
    recs.append(("c", end - 1, "last", seq[end - 2 : end], (seq[end - 2],)))  # ALT at the end
    vcf = write_vcf(tmp_path / "d.vcf", {"c": end}, recs)
    ds = _run(tmp_path, fasta, vcf, model_32, "del", scores=["l2"], strands="both")
    status = _status(ds)
    assert status == [S.ALT_WINDOW_SHORT] * len(recs), status
    assert np.isfinite(ds["score_l2_mean_layer_1"].values).all()


def test_mnv_inside_one_kmer_gets_the_masked_kmer_llr(tmp_path, tiny_model, tiny_model_dir):
    w = 126  # 21 six-mers: the variant's first base sits at offset 63 = base 3 of token 10
    seq = random_dna(600, seed=4)
    fasta = write_fasta(tmp_path / "m.fa", {"c": seq})
    flip = {"A": "C", "C": "G", "G": "T", "T": "A"}
    p = 300
    recs = [
        ("c", p + 1, "mnv2", seq[p : p + 2], (flip[seq[p]] + flip[seq[p + 1]],)),
        ("c", p + 1, "mnv3", seq[p : p + 3], ("".join(flip[b] for b in seq[p : p + 3]),)),
        ("c", p + 1, "mnv4", seq[p : p + 4], ("".join(flip[b] for b in seq[p : p + 4]),)),
    ]
    vcf = write_vcf(tmp_path / "m.vcf", {"c": len(seq)}, recs)
    ds = _run(
        tmp_path,
        fasta,
        vcf,
        tiny_model_dir,
        "mnv",
        window_bp=w,
        scores=["llr"],
        strands="both",
    )
    status = _status(ds)
    # bases 3-4 and 3-5 of the central 6-mer: one 6-mer; 3-6 spans two
    assert status == [S.MNV_ONE_KMER, S.MNV_ONE_KMER, S.NO_LLR_NOT_SNV]
    tok = tiny_model.tokenizer
    start = p - 63
    for i, (_, _, _, ref, alts) in enumerate(recs[:2]):
        ref_win = seq[start : start + w]
        alt_win = ref_win[:63] + alts[0] + ref_win[63 + len(ref) :]
        values = []
        for r, a, centre in (
            (ref_win, alt_win, 10),
            (reverse_complement(ref_win), reverse_complement(alt_win), 10),
        ):
            ids = tok.encode(r)
            ids[1 + centre] = tok.mask_id
            logits = tiny_model.apply(ids[None], logits=True)["logits"][0, 1 + centre]
            logp = logits - np.log(np.exp(logits - logits.max()).sum()) - logits.max()
            ref_k, alt_k = r[6 * centre : 6 * centre + 6], a[6 * centre : 6 * centre + 6]
            assert ref_k != alt_k
            values.append(logp[tok.token_to_id(alt_k)] - logp[tok.token_to_id(ref_k)])
        got = ds["score_llr_masked"].values[i]
        np.testing.assert_allclose(got, np.mean(values), rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(ds["score_llr_masked_fwd"].values[i], values[0], rtol=1e-4)
        assert np.isnan(ds["score_llr_wt"].values[i])
    assert np.isnan(ds["score_llr_masked"].values[2])


def test_tiled_snvs_record_their_place_in_the_tile(tmp_path, tiny_model_dir):
    w = 126  # tiles at 0, 60, 120, ... (stride 63 rounded down to 60); centre position 63
    seq = random_dna(400, seed=9)
    fasta = write_fasta(tmp_path / "t.fa", {"c": seq})
    flip = {"A": "C", "C": "G", "G": "T", "T": "A"}
    positions = [63, 70, 95, 123 + 4]  # 0-based
    recs = [("c", q + 1, f"s{q}", seq[q], (flip[seq[q]],)) for q in positions]
    vcf = write_vcf(tmp_path / "t.vcf", {"c": len(seq)}, recs)
    ds = _run(
        tmp_path, fasta, vcf, tiny_model_dir, "tiled", window_bp=w, window_mode="tiled",
        scores=["llr_wt"],
    )  # fmt: skip
    status = _status(ds)
    offset = ds["score_centre_offset_bp"].values
    base = ds["score_base_in_kmer"].values
    tiles = [0, 0, 60, 60]  # nearest tile centre (63, 123, ...) to each variant
    expected = [q - (t + 63) for q, t in zip(positions, tiles, strict=True)]
    np.testing.assert_array_equal(offset, expected)
    np.testing.assert_array_equal(
        base, [(q - t) % 6 for q, t in zip(positions, tiles, strict=True)]
    )
    assert status == [S.OK if e == 0 else S.TILED_OFF_CENTRE for e in expected]
    assert np.isfinite(ds["score_llr_wt"].values).all()


def _coords(n: int, rev: bool) -> list[int]:
    return list(range(n))[::-1] if rev else list(range(n))


def test_aligned_distance_pairs_tokens_holding_the_same_reference_bases(
    tmp_path, tiny_model, tiny_model_dir
):
    w = 126
    seq = random_dna(600, seed=13)
    fasta = write_fasta(tmp_path / "a.fa", {"c": seq})
    p = 300
    dels = (1, 2, 5, 6, 7)
    recs = [("c", p + 1, f"d{d}", seq[p : p + d + 1], (seq[p],)) for d in dels]
    recs.append(("c", p + 1, "ins3", seq[p], (seq[p] + "GAT",)))
    vcf = write_vcf(tmp_path / "a.vcf", {"c": len(seq)}, recs)
    ds = _run(
        tmp_path, fasta, vcf, tiny_model_dir, "aligned", window_bp=w, scores=["aligned"],
        strands="both", layers=[2],
    )  # fmt: skip
    assert _status(ds) == [S.NO_LLR_NOT_SNV] * ds.sizes["variant"]
    start = p - 63
    got = ds["score_l2_aligned_layer_2"].values
    tok = tiny_model.tokenizer
    for i, (_, _, _, ref, alts) in enumerate(recs):
        alt = alts[0]
        # genome coordinate of every base of both windows (ALT's own bases: None)
        ref_pos = list(range(start, start + w))
        stretch = list(range(start, start + w + len(ref)))
        alt_pos = stretch[: p - start] + [None] * len(alt) + stretch[p - start + len(ref) :]
        alt_pos = alt_pos[:w]
        ref_seq = seq[start : start + w]
        alt_seq = (seq[start:p] + alt + seq[p + len(ref) : start + w + len(ref)])[:w]
        values = []
        for rev in (False, True):
            rs, as_ = ref_seq, alt_seq
            rp, ap = ref_pos, alt_pos
            if rev:
                rs, as_ = reverse_complement(rs), reverse_complement(as_)
                rp, ap = rp[::-1], ap[::-1]
            emb = tiny_model.apply(tok.encode_batch([rs, as_]), layers=(2,))["embeddings"][2]
            # 6-mer tokens (no N here): token k + 1 holds bases [6k, 6k + 6)
            alt_tokens = {tuple(ap[6 * k : 6 * k + 6]): k + 1 for k in range(len(as_) // 6)}
            sq = []
            for k in range(len(rs) // 6):
                key = tuple(rp[6 * k : 6 * k + 6])
                j = alt_tokens.get(key)
                if j is not None and None not in key:
                    sq.append(np.sum((emb[0, k + 1] - emb[1, j]).astype(np.float64) ** 2))
            values.append(np.sqrt(np.mean(sq)))
        np.testing.assert_allclose(got[i], np.mean(values), rtol=1e-4, err_msg=recs[i][2])
